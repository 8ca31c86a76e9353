"""The canonical credit profile: strict parsing, validation, and the exact bytes that are signed.

Field paths in errors are JSON pointers into the profile's proto3 JSON (lowerCamelCase names),
e.g. ``/subject/ids/0/value``: the same document on both transports, since a published profile
always travels as the JSON payload of a JWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway._json import JsonError, read_json
from gateway.errors import InvalidArgument, InvalidIdentifier
from gateway.identifiers import CHECK_DIGIT_MISMATCH, is_country, validate
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile, LocalizedText

__all__ = [
    "CreditProfile",
    "canonical_json",
    "legal_names",
    "parse_json_message",
    "parse_profile_json",
    "refuse_nul",
    "validate_profile",
]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Decides whether an identifier that fails only its check digit is an accepted legacy code.
AcceptLegacy = Callable[[str, str], bool]


def parse_profile_json(payload: bytes, *, field: str = "jws.payload") -> CreditProfile:
    """Parse a CreditProfile from proto3 JSON strictly (see ``parse_json_message``)."""
    profile = CreditProfile()
    parse_json_message(payload, profile, field=field)
    return profile


def parse_json_message(payload: bytes, message: Message, *, field: str) -> None:
    """Fill ``message`` from proto3 JSON: one JSON object within the size and depth bounds of
    ``gateway._json``, no duplicate keys, no unknown fields."""
    try:
        document = read_json(payload)
    except JsonError as exc:
        raise InvalidArgument(str(exc), field=field) from exc
    if not isinstance(document, dict):
        raise InvalidArgument("must be a JSON object", field=field)
    _check_json_types(message.DESCRIPTOR, document, "")  # type: ignore[arg-type]  # upb or pure
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise InvalidArgument(
            f"does not match {message.DESCRIPTOR.full_name}: {exc}", field=field
        ) from exc


# proto3 JSON parsers are lenient where our OpenAPI schemas are not: they read null as the
# default, booleans as numbers, numbers in strings, enum numbers. The API accepts only what its
# schemas say, so each field's JSON type is checked before protobuf reads the document.
_NUMBERS = {
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_INT64S = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_NUL = "NUL characters are not allowed in text"


def _check_json_types(descriptor: Descriptor, node: dict[str, Any], pointer: str) -> None:
    fields = {f.json_name: f for f in descriptor.fields} | {f.name: f for f in descriptor.fields}
    for key, value in node.items():
        field = fields.get(key)
        if field is None:
            continue  # protobuf refuses unknown members itself
        path = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:  # a JSON object of values
            if not isinstance(value, dict):
                raise InvalidArgument("must be a JSON object", field=path)
            for name, item in value.items():
                member = f"{path}/{name.replace('~', '~0').replace('/', '~1')}"
                _check_json_value(entry.fields_by_name["value"], item, member)
        elif field.is_repeated:
            if not isinstance(value, list):
                raise InvalidArgument("must be a JSON array", field=path)
            for index, item in enumerate(value):
                _check_json_value(field, item, f"{path}/{index}")
        else:
            _check_json_value(field, value, path)


def _integral(value: int | float | str) -> bool:
    """JSON Schema's "integer" is any number without a fraction (26735.0 is one)."""
    return not isinstance(value, float) or value.is_integer()


def _check_json_value(field: FieldDescriptor, value: Any, path: str) -> None:
    kind = field.type
    if value is None:
        raise InvalidArgument("null is not a value here; omit the member instead", field=path)
    if isinstance(value, str) and "\x00" in value:
        raise InvalidArgument(_NUL, field=path)
    message = field.message_type
    if message is not None:
        if message.full_name.startswith("google.protobuf."):
            return  # well-known types have JSON forms of their own, which protobuf checks
        if not isinstance(value, dict):
            raise InvalidArgument("must be a JSON object", field=path)
        _check_json_types(message, value, path)
        return
    expected = (
        "a number"
        if kind in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float))
        else "an integer or a decimal string"
        if kind in _INT64S
        and (
            isinstance(value, bool)
            or not isinstance(value, int | float | str)
            or not _integral(value)
        )
        else "true or false"
        if kind == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool)
        else "one of the enum's names"
        if kind == FieldDescriptor.TYPE_ENUM and not isinstance(value, str)
        else None
    )
    if expected:
        raise InvalidArgument(f"must be {expected}", field=path)


def refuse_nul(message: Message, prefix: str = "") -> None:
    """Refuse a message with a NUL character in any text field (PostgreSQL text cannot hold
    one, and no identifier or name has one), naming the field by its proto path."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, str) and "\x00" in item:
                raise InvalidArgument(_NUL, field=path)
            if isinstance(item, Message):
                refuse_nul(item, f"{path}.")


def canonical_json(message: Message) -> bytes:
    """The proto3 JSON bytes the gateway signs and serves: compact, UTF-8, field-number order."""
    document = json_format.MessageToDict(message)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def validate_profile(
    profile: CreditProfile, *, accept_legacy: AcceptLegacy = lambda s, v: False
) -> None:
    """Check required fields and every identifier, code and date; normalize identifiers in place.

    Raises InvalidArgument (or InvalidIdentifier) naming the first field that breaks a rule.
    """
    if not profile.HasField("subject"):
        raise InvalidArgument("subject is required", field="/subject")
    if profile.disputes:
        raise InvalidArgument(
            "dispute marks are set by the gateway when it serves a version, never published",
            field="/disputes",
        )
    subject = profile.subject
    if not subject.ids:
        raise InvalidArgument("at least one identifier is required", field="/subject/ids")
    seen: set[tuple[str, str]] = set()
    for i, entity_id in enumerate(subject.ids):
        scheme, value = _identifier(
            entity_id.scheme, entity_id.value, f"/subject/ids/{i}", accept_legacy
        )
        if (scheme, value) in seen:
            raise InvalidArgument(
                f"identifier {scheme}:{value} is listed twice", field=f"/subject/ids/{i}"
            )
        seen.add((scheme, value))
        entity_id.scheme, entity_id.value = scheme, value
    if not any(legal_names(subject.legal_name)):
        raise InvalidArgument(
            "a legal name in at least one language is required", field="/subject/legalName"
        )
    _country(subject.country, "/subject/country", required=True)
    _country(subject.address.country, "/subject/address/country")
    _date(subject.registration_date, "/subject/registrationDate")
    for i, rating in enumerate(profile.ratings):
        at = f"/ratings/{i}"
        if not rating.scheme.strip():
            raise InvalidArgument("rating scheme is required", field=f"{at}/scheme")
        if not rating.grade.strip():
            raise InvalidArgument("rating grade is required", field=f"{at}/grade")
        _date(rating.as_of_date, f"{at}/asOfDate")
        _date(rating.valid_from_date, f"{at}/validFromDate")
        _date(rating.valid_until_date, f"{at}/validUntilDate")
    if profile.HasField("common_grade"):
        raise InvalidArgument(
            "commonGrade is computed by the gateway and must be empty", field="/commonGrade"
        )
    for i, aeo in enumerate(profile.aeo):
        at = f"/aeo/{i}"
        _country(aeo.program_country, f"{at}/programCountry", required=True)
        _, number = _identifier(
            "AEO", aeo.authorisation_number, f"{at}/authorisationNumber", accept_legacy
        )
        if not number.startswith(aeo.program_country):
            raise InvalidArgument(
                f"authorisation number {number} is not from programme country {aeo.program_country}",
                field=f"{at}/authorisationNumber",
            )
        aeo.authorisation_number = number
        _date(aeo.authorised_date, f"{at}/authorisedDate")
        _date(aeo.valid_until_date, f"{at}/validUntilDate")
    for i, record in enumerate(profile.public_records):
        at = f"/publicRecords/{i}"
        if record.kind == 0:
            raise InvalidArgument("public record kind is required", field=f"{at}/kind")
        _date(record.decision_date, f"{at}/decisionDate", required=True)
        _date(record.disclosure_until_date, f"{at}/disclosureUntilDate")


def legal_names(text: LocalizedText) -> Iterator[str]:
    """The non-empty names of a LocalizedText, in any language."""
    return (name for name in (text.zh, text.en, text.ru, text.local) if name.strip())


def _identifier(scheme: str, value: str, at: str, accept_legacy: AcceptLegacy) -> tuple[str, str]:
    try:
        result = validate(scheme, value, field=f"{at}/value")
    except InvalidIdentifier as exc:
        if exc.rule == "unknown_scheme":
            raise InvalidIdentifier(
                exc.message, scheme=exc.scheme, rule=exc.rule, field=f"{at}/scheme"
            ) from exc
        if exc.rule != "check_digit":
            raise
        # A code legally issued with a failing check character is accepted only when the
        # operator has listed it (DOMAIN.md: early USCC pilot codes).
        result = validate(
            scheme, value, accept=frozenset({CHECK_DIGIT_MISMATCH}), field=f"{at}/value"
        )
        if not accept_legacy(result.scheme, result.value):
            raise
    return result.scheme, result.value


def _country(code: str, at: str, *, required: bool = False) -> None:
    if not code:
        if required:
            raise InvalidArgument("an ISO 3166-1 alpha-2 country code is required", field=at)
        return
    if not is_country(code):
        raise InvalidArgument(f"{code!r} is not an ISO 3166-1 alpha-2 country code", field=at)


def _date(text: str, at: str, *, required: bool = False) -> None:
    if not text:
        if required:
            raise InvalidArgument("an ISO 8601 date (YYYY-MM-DD) is required", field=at)
        return
    try:
        if not _DATE.match(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)", field=at) from None
