"""JSON Schemas of the proto3 JSON mapping, derived from proto/ itself.

The REST API documents exactly the messages the gRPC API uses: each message of cxg.v1 becomes a
component schema, with the field comments of the .proto files as descriptions (read from the
descriptor set that proto/generate.py writes with source info).

proto3 has no required fields and no bounds, so ``BOUNDS`` adds what the services refuse a
request for that JSON Schema can say: the fields a request needs, lengths, patterns, ranges and
enumerations. A body these schemas admit is not refused as malformed (400) for a rule the table
could have stated; tests/test_openapi.py and the schemathesis run (positive_data_acceptance)
hold the two to that. Rules that no schema can state (check digits, signatures, cross-field or
stored-state conditions) stay in the services alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway import mapping
from gateway.identifiers import COUNTRIES
from gateway.schema.cxg.v1 import profile_service_pb2
from gateway.trust import ROLES
from gateway.trust.pki import PARTNER_ID_PATTERN
from gateway.trust.policy import PURPOSES

_DESCRIPTOR_SET = Path(profile_service_pb2.__file__).parents[2] / "cxg.binpb"
_COMPONENTS = "#/components/schemas/"
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}
_INT32 = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
}
# Every text field and parameter refuses NUL (PostgreSQL text cannot hold one).
TEXT = r"^[^\x00]*$"
# Text with at least one character that is not white space (the services strip it).
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"
JWS = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$"
# An ISO 8601 date as date.fromisoformat reads it, or empty for the service's default (today).
_DATE_OR_EMPTY = {
    "anyOf": [{"type": "string", "maxLength": 0}, {"type": "string", "format": "date"}]
}


def ref(message: type[Message] | Descriptor) -> dict[str, str]:
    descriptor = message if isinstance(message, Descriptor) else message.DESCRIPTOR
    return {"$ref": f"{_COMPONENTS}{descriptor.full_name}"}


def referenced(document: Any) -> set[str]:
    """The component names every ``$ref`` in ``document`` points at."""
    found: set[str] = set()
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith(_COMPONENTS):
                found.add(target.removeprefix(_COMPONENTS))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


# Well-known types with their own proto3 JSON form.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Struct": {"type": "object"},
}


@dataclass(frozen=True)
class Bounds:
    """What a message needs beyond its field types: ``required`` and, per field, JSON Schema
    keywords merged into the field's schema (both by proto field name). A message is shared by
    requests and responses, so a bound holds for both: the answers the gateway writes meet it."""

    required: tuple[str, ...] = ()
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


@cache
def bounds() -> dict[str, Bounds]:
    """The table, by message full name. Read at document build time: adapters are plugins."""
    countries = "|".join(sorted(COUNTRIES - {"CN"}))
    date_or_empty = MappingProxyType(_DATE_OR_EMPTY)
    partner_id = {"pattern": f"^{PARTNER_ID_PATTERN.pattern}$"}
    return {
        "cxg.v1.PublishProfileRequest": Bounds(
            required=("jws",),
            fields={
                "jws": {"minLength": 5, "pattern": JWS},
                "format": {"enum": ["", *mapping.adapters()]},
            },
        ),
        "cxg.v1.EntityId": Bounds(
            required=("scheme", "value"),
            fields={
                "scheme": {"minLength": 1, "maxLength": 16},
                "value": {"minLength": 1, "maxLength": 64},
            },
        ),
        "cxg.v1.IssueScoCodeRequest": Bounds(
            required=("subject",),
            fields={
                "valid_days": {"minimum": 0, "maximum": 1096},
                "languages": {"items": {"type": "string", "enum": ["zh", "en", "ru"]}},
            },
        ),
        "cxg.v1.SetScoCodeStatusRequest": Bounds(
            required=("state",),
            fields={
                "state": {
                    "enum": [
                        "CODE_STATE_VALID",
                        "CODE_STATE_REVOKED",
                        "CODE_STATE_SUSPENDED",
                        "CODE_STATE_UNDER_REVIEW",
                    ]
                }
            },
        ),
        "cxg.v1.GrantConsentRequest": Bounds(
            required=("subject", "grantee", "purpose", "expire_time"),
            fields={
                "grantee": partner_id,
                "purpose": {"enum": sorted(p.name for p in PURPOSES.values() if p.needs_consent)},
            },
        ),
        "cxg.v1.RecognizeAeoRequest": Bounds(
            required=("aeo_number",),
            fields={
                # Country code and customs code (gateway.identifiers, scheme AEO): China's is
                # the 10-digit customs enterprise code, other countries' 1-15 letters or digits.
                "aeo_number": {"pattern": f"^(CN[0-9]{{10}}|({countries})[0-9A-Z]{{1,15}})$"},
                "as_of_date": date_or_empty,
                "importing_country": {"pattern": "^([A-Za-z]{2})?$"},
            },
        ),
        "cxg.v1.EquivalentGradeRequest": Bounds(
            required=("scheme", "grade"),
            fields={
                "scheme": {"pattern": NOT_BLANK},
                "grade": {"pattern": NOT_BLANK},
                "rating_date": date_or_empty,
                "as_of_date": date_or_empty,
            },
        ),
        "cxg.v1.RegisterPartnerRequest": Bounds(required=("partner",)),
        "cxg.v1.Partner": Bounds(
            required=("id", "display_name", "country", "roles"),
            fields={
                "id": partner_id,
                "display_name": {"pattern": NOT_BLANK},
                "country": {"enum": sorted(COUNTRIES)},
                "roles": {"minItems": 1, "items": {"type": "string", "enum": sorted(ROLES)}},
            },
        ),
        "cxg.v1.AddPartnerKeyRequest": Bounds(required=("jwk",)),
        "cxg.v1.AddPartnerCertificateRequest": Bounds(
            required=("certificate_pem",), fields={"certificate_pem": {"minLength": 1}}
        ),
        # 0 means the gateway's default; a limit is positive.
        "cxg.v1.Quota": Bounds(
            fields={
                "requests_per_second": {"minimum": 0},
                "burst": {"minimum": 0},
                "daily_requests": {
                    "anyOf": [
                        {"type": "string", "pattern": "^[0-9]+$"},
                        {"type": "integer", "minimum": 0},
                    ]
                },
            }
        ),
        "cxg.v1.AddCosignatureRequest": Bounds(
            required=("signature",), fields={"signature": {"pattern": NOT_BLANK}}
        ),
    }


def component_schemas(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Schemas for the named messages (full names) and every message they contain."""
    pool = descriptor_pool.Default()
    schemas: dict[str, dict[str, Any]] = {}
    pending: list[Any] = [pool.FindMessageTypeByName(name) for name in names]
    while pending:
        message = pending.pop()
        if message.full_name in schemas:
            continue
        rules = bounds().get(message.full_name, Bounds())
        properties = {}
        for field_ in message.fields:
            schema = {**_field_schema(field_), **rules.fields.get(field_.name, {})}
            if doc := _comments().get(f"{message.full_name}.{field_.name}"):
                schema = {**schema, "description": doc}
            properties[field_.json_name] = schema
            entry = _map_entry(field_)
            inner: Any = entry.fields_by_name["value"] if entry else field_
            if inner.message_type is not None and inner.message_type.full_name not in _WELL_KNOWN:
                pending.append(inner.message_type)
        schemas[message.full_name] = {
            "type": "object",
            "description": _comments().get(message.full_name, ""),
            **(
                {"required": [_json_name(message, n) for n in rules.required]}
                if rules.required
                else {}
            ),
            "properties": properties,
            "additionalProperties": False,
        }
    return schemas


def _json_name(message: Descriptor, name: str) -> str:
    return str(message.fields_by_name[name].json_name)


def _field_schema(field_: Any) -> dict[str, Any]:
    if entry := _map_entry(field_):  # proto3 JSON writes a map as an object
        return {
            "type": "object",
            "additionalProperties": _scalar_schema(entry.fields_by_name["value"]),
        }
    schema = _scalar_schema(field_)
    return {"type": "array", "items": schema} if field_.is_repeated else schema


def _map_entry(field_: Any) -> Descriptor | None:
    entry = field_.message_type
    return entry if entry is not None and entry.GetOptions().map_entry else None


def _scalar_schema(field_: Any) -> dict[str, Any]:
    kind = field_.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _WELL_KNOWN.get(field_.message_type.full_name) or ref(field_.message_type)
    if kind == FieldDescriptor.TYPE_ENUM:
        return {"type": "string", "enum": [v.name for v in field_.enum_type.values]}
    if kind == FieldDescriptor.TYPE_STRING:
        return {"type": "string", "pattern": TEXT}
    if kind == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if kind in _INT32:
        return {"type": "integer", "format": "int32"}
    if kind in _INT64:
        # proto3 JSON writes 64-bit integers as decimal strings and reads either form.
        return {"anyOf": [{"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}]}
    return {"type": "number"}


@cache
def _comments() -> dict[str, str]:
    """Leading comments by full name ("cxg.v1.Subject", "cxg.v1.Subject.ids")."""
    files = descriptor_pb2.FileDescriptorSet.FromString(_DESCRIPTOR_SET.read_bytes())
    found: dict[str, str] = {}
    for file in files.file:
        for location in file.source_code_info.location:
            path = list(location.path)
            # 4 = FileDescriptorProto.message_type, 2 = DescriptorProto.field
            if len(path) not in (2, 4) or path[0] != 4 or (len(path) == 4 and path[2] != 2):
                continue
            message = file.message_type[path[1]]
            name = f"{file.package}.{message.name}"
            if len(path) == 4:
                name += "." + message.field[path[3]].name
            if location.leading_comments.strip():
                found[name] = " ".join(location.leading_comments.split())
    return found
