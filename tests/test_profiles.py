"""The canonical profile: the signed JSON bytes parse back to the same message (property test),
and the strict parser refuses what proto3 JSON parsers disagree on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidArgument
from gateway.profiles import canonical_json, parse_profile_json, validate_profile
from gateway.schema.cxg.v1 import profile_pb2 as p
from tests.support import USCC, profile

# Any text the API accepts: no lone surrogates, no NUL (refused by field, see below).
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
dates = st.dates().map(lambda d: d.isoformat())
localized = st.builds(
    p.LocalizedText,
    zh=text,
    en=text,
    ru=text,
    local=text,
    local_lang=st.sampled_from(["", "kk", "uz-Latn"]),
)
entity_ids = st.builds(p.EntityId, scheme=st.sampled_from(["CN_USCC", "LEI", "KZ_BIN"]), value=text)
ratings = st.builds(p.Rating, scheme=text, grade=text, as_of_date=dates, issuer=text)
aeo = st.builds(
    p.AeoStatus,
    program_country=st.sampled_from(["CN", "BY", "MN"]),
    authorisation_number=text,
    type=st.sampled_from(["AEOC", "AEOS", "CN_ADVANCED"]),
    status=st.sampled_from(list(p.AeoState.values())),
)
records = st.builds(
    p.PublicRecord,
    kind=st.sampled_from(list(p.PublicRecordKind.values())),
    authority=localized,
    decision_number=text,
    decision_date=dates,
    dispute_state=st.sampled_from(list(p.DisputeState.values())),
    repair_state=st.sampled_from(list(p.RepairState.values())),
)
profiles = st.builds(
    p.CreditProfile,
    name=text,
    version=st.integers(min_value=0, max_value=2**62),
    subject=st.builds(
        p.Subject,
        ids=st.lists(entity_ids, max_size=3),
        legal_name=localized,
        country=st.sampled_from(["CN", "RU", "KZ"]),
        status=st.sampled_from(list(p.EntityStatus.values())),
    ),
    ratings=st.lists(ratings, max_size=3),
    aeo=st.lists(aeo, max_size=2),
    public_records=st.lists(records, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(profiles)
def test_canonical_json_round_trips(message: p.CreditProfile) -> None:
    encoded = canonical_json(message)
    assert parse_profile_json(encoded) == message
    assert (
        canonical_json(parse_profile_json(encoded)) == encoded
    )  # signing the same message gives the same bytes


def test_canonical_json_is_compact_utf8_with_proto_json_names() -> None:
    message = p.CreditProfile(version=3, subject=p.Subject(legal_name=p.LocalizedText(zh="青岛")))
    assert (
        canonical_json(message) == '{"version":"3","subject":{"legalName":{"zh":"青岛"}}}'.encode()
    )


def test_validation_normalizes_identifiers_in_place() -> None:
    message = parse_profile_json(json.dumps(profile()).encode())
    message.subject.ids[0].scheme, message.subject.ids[0].value = (
        "cn_uscc",
        f"{USCC[:9].lower()} {USCC[9:]}",
    )
    validate_profile(message)
    assert (message.subject.ids[0].scheme, message.subject.ids[0].value) == ("CN_USCC", USCC)


@pytest.mark.parametrize(
    "payload",
    [b'{"version": 1, "version": 2}', b'{"subject": {"ids": [], "ids": []}}', b"null", b'"text"'],
    ids=["duplicate-top", "duplicate-nested", "null", "string"],
)
def test_ambiguous_or_non_object_json_is_refused(payload: bytes) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_profile_json(payload)
    assert refused.value.field == "jws.payload"


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"subject": None}, "/subject"),
        ({"subject": {"ids": [{"scheme": "CN_USCC", "value": None}]}}, "/subject/ids/0/value"),
        ({"version": None, "ratings": []}, "/version"),
    ],
)
def test_null_is_refused_with_its_pointer(document: dict[str, object], pointer: str) -> None:
    # proto3 JSON would silently read null as the default; the API says "omit it" instead.
    with pytest.raises(InvalidArgument, match="omit the member") as refused:
        parse_profile_json(json.dumps(document).encode())
    assert refused.value.field == pointer


def test_deeply_nested_json_is_a_clear_refusal() -> None:
    with pytest.raises(InvalidArgument, match="nested too deeply") as refused:
        parse_profile_json(b'{"subject":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert refused.value.field == "jws.payload"


@pytest.mark.parametrize(
    ("document", "pointer", "expected"),
    [
        ({"version": True}, "/version", "integer or a decimal string"),
        ({"commonGrade": {"ordinal": "3"}}, "/commonGrade/ordinal", "a number"),
        ({"commonGrade": {"ordinal": False}}, "/commonGrade/ordinal", "a number"),
        ({"subject": {"status": 1}}, "/subject/status", "enum's names"),
        ({"ratings": {"scheme": "CN_TAX"}}, "/ratings", "JSON array"),
    ],
)
def test_json_types_are_what_the_schema_says(
    document: dict[str, object], pointer: str, expected: str
) -> None:
    # Lenient proto3 JSON readings (bool as number, numbers in strings, enum numbers) are refused.
    with pytest.raises(InvalidArgument, match=expected) as refused:
        parse_profile_json(json.dumps(document).encode())
    assert refused.value.field == pointer
