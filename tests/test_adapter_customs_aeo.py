"""The customs AEO exchange-list adapter (adapters/customs_aeo): its samples (single operators, a
full list, a delta), their validity against the format's XSD, a lossless round trip for every
profile the format carries (property test), and each kind of bad record refused with the partner
path and the rule named."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.customs_aeo import adapter
from gateway.identifiers import COUNTRIES
from gateway.mapping import AdapterError
from gateway.schema.cxg.v1 import profile_pb2 as p

FOLDER = Path(__file__).parents[1] / "adapters" / "customs_aeo"
SAMPLES = FOLDER / "samples"
XSD = FOLDER / "aeo-exchange-1.xsd"
CN = (SAMPLES / "cn-operator.xml").read_text(encoding="utf-8")
ROOT = "/aeo:Operator"
AUTH = f"{ROOT}/aeo:Authorisation[1]"


def record(old: str, new: str) -> bytes:
    """The Chinese sample with one piece of text replaced."""
    assert old in CN
    return CN.replace(old, new, 1).encode()


# -- samples ------------------------------------------------------------------------------------


def test_a_chinese_aeo_maps_to_the_canonical_profile() -> None:
    profile = adapter.decode((SAMPLES / "cn-operator.xml").read_bytes())
    subject = profile.subject
    assert [(i.scheme, i.value) for i in subject.ids] == [("AEO", "CN3702960517")]
    assert subject.legal_name.en == "Qingdao Haiyun International Logistics Co., Ltd."
    assert subject.legal_name.zh == ""
    assert subject.country == "CN"
    assert (subject.address.street, subject.address.locality) == (
        "No. 88 Xiangjiang Road, Huangdao District",
        "Qingdao",
    )
    assert (subject.address.region, subject.address.postal_code, subject.address.country) == (
        "Shandong",
        "266555",
        "CN",
    )
    (aeo,) = profile.aeo
    assert aeo.program_country == "CN"
    assert aeo.authorisation_number == "CN3702960517"
    assert aeo.type == "CN_ADVANCED"  # 高级认证企业 as written by China Customs
    assert aeo.status == p.AEO_STATE_AUTHORISED
    assert aeo.authorised_date == "2022-06-15"
    assert aeo.valid_until_date == ""
    assert not profile.ratings and not profile.public_records
    written = adapter.encode(profile).decode()
    assert "<aeo:Type>CN_ADVANCED</aeo:Type>" in written  # the first code listed goes out
    assert adapter.decode(adapter.encode(profile)) == profile


def test_an_eu_aeo_maps_to_the_canonical_profile() -> None:
    profile = adapter.decode((SAMPLES / "de-operator.xml").read_bytes())
    assert [(i.scheme, i.value) for i in profile.subject.ids] == [("AEO", "DE4930718")]
    assert profile.subject.legal_name.en == "Rheinhafen Spedition GmbH"
    assert profile.subject.country == "DE"
    assert profile.subject.address.street == "Hafenstraße 12"
    (aeo,) = profile.aeo
    assert (aeo.program_country, aeo.authorisation_number, aeo.type, aeo.status) == (
        "DE",
        "DE4930718",
        "AEOF",
        p.AEO_STATE_AUTHORISED,
    )
    assert aeo.authorised_date == "2019-03-01"
    assert adapter.decode(adapter.encode(profile)) == profile


def test_a_suspended_belarus_aeo_maps_to_the_canonical_profile() -> None:
    profile = adapter.decode((SAMPLES / "by-operator.xml").read_bytes())
    assert profile.subject.ids[0].value == "BY190543218"
    assert profile.subject.country == "BY"
    assert profile.subject.address.region == ""
    (aeo,) = profile.aeo
    assert (aeo.program_country, aeo.type, aeo.status) == (
        "BY",
        "BY_THIRD_CATEGORY",
        p.AEO_STATE_SUSPENDED,
    )
    assert (aeo.authorised_date, aeo.valid_until_date) == ("2020-11-02", "2026-12-31")
    assert adapter.decode(adapter.encode(profile)) == profile


def test_a_record_is_the_same_whether_alone_or_in_a_delta() -> None:
    alone = adapter.decode((SAMPLES / "cn-operator.xml").read_bytes())
    assert adapter.decode(record("<aeo:Operator ", '<aeo:Operator change="modified" ')) == alone
    assert adapter.decode(record("<aeo:Operator ", '<aeo:Operator change="new" ')) == alone


def test_a_record_that_breaks_the_xsd_is_refused_at_its_path() -> None:
    # The mapping alone would normalise a lower-case number; the published schema forbids it.
    with pytest.raises(AdapterError) as caught:
        adapter.decode(record("CN3702960517", "cn3702960517"))
    assert caught.value.details["rule"] == "xsd"
    assert caught.value.field == "/aeo:Operator/aeo:AuthorisationNumber"
    assert "aeo-exchange-1.xsd" in caught.value.message


def test_an_element_the_xsd_does_not_declare_is_refused() -> None:
    data = record("<aeo:Name>", "<aeo:Nickname>x</aeo:Nickname><aeo:Name>")
    with pytest.raises(AdapterError) as caught:
        adapter.decode(data)
    assert caught.value.details["rule"] == "xsd"
    assert caught.value.field == "/aeo:Operator"


# -- XSD ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> object:
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(XSD))


@pytest.mark.parametrize("name", sorted(path.name for path in SAMPLES.glob("*.xml")))
def test_every_sample_is_valid_against_the_xsd(schema: object, name: str) -> None:
    schema.validate(str(SAMPLES / name))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["cn-operator.xml", "de-operator.xml", "by-operator.xml"])
def test_an_encoded_profile_is_valid_against_the_xsd(schema: object, name: str) -> None:
    written = adapter.encode(adapter.decode((SAMPLES / name).read_bytes()))
    schema.validate(io.BytesIO(written))  # type: ignore[attr-defined]


def test_the_xsd_refuses_what_the_adapter_refuses(schema: object) -> None:
    assert not schema.is_valid(io.BytesIO(record("authorised", "withdrawn")))  # type: ignore[attr-defined]
    assert not schema.is_valid(io.BytesIO(record("2022-06-15", "15.06.2022")))  # type: ignore[attr-defined]
    delta_without_change = (SAMPLES / "delta.xml").read_bytes().replace(b' change="new"', b"")
    assert not schema.is_valid(io.BytesIO(delta_without_change))  # type: ignore[attr-defined]


# -- property: every profile the format carries survives the round trip ------------------------

# Text as partners send it: no control characters, no surrounding space (the engine trims).
words = (
    st.text(
        st.characters(categories=("L", "N", "Zs", "P"), exclude_characters="\u2028\u2029"),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
latin = (
    st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzäöüé0123456789 .,&-()")
    )
    .map(str.strip)
    .filter(bool)
)
dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2999, 12, 31)).map(date.isoformat)
optional = st.one_of(st.just(""), words)
TYPES = ["AEOC", "AEOS", "AEOF", "CN_ADVANCED", "CN_CERTIFIED", "BY_THIRD_CATEGORY"]
STATES = ["AEO_STATE_AUTHORISED", "AEO_STATE_SUSPENDED", "AEO_STATE_REVOKED", "AEO_STATE_ANNULLED"]


@st.composite
def aeo_numbers(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(COUNTRIES)))
    if country == "CN":
        return country + draw(st.from_regex(r"\A[0-9]{10}\Z"))
    return country + draw(st.from_regex(r"\A[0-9A-Z]{1,15}\Z"))


@st.composite
def aeo_profiles(draw: st.DrawFn) -> p.CreditProfile:
    number = draw(aeo_numbers())
    profile = p.CreditProfile(
        subject=p.Subject(
            ids=[p.EntityId(scheme="AEO", value=number)],
            legal_name=p.LocalizedText(en=draw(latin)),
            country=number[:2],
            address=p.Address(
                street=draw(optional),
                locality=draw(optional),
                region=draw(optional),
                postal_code=draw(optional),
                country=draw(st.one_of(st.just(""), st.sampled_from(sorted(COUNTRIES)))),
            ),
        ),
        aeo=[
            p.AeoStatus(
                program_country=number[:2],
                authorisation_number=number,
                type=draw(st.sampled_from(TYPES)),
                status=draw(st.sampled_from(STATES)),
                authorised_date=draw(dates),
                valid_until_date=draw(st.one_of(st.just(""), dates)),
            )
        ],
    )
    if profile.subject.address == p.Address():  # an empty address is no address in any format
        profile.subject.ClearField("address")
    return profile


@settings(max_examples=50, deadline=None)
@given(aeo_profiles())
def test_every_profile_the_format_carries_survives_the_round_trip(profile: p.CreditProfile) -> None:
    assert adapter.decode(adapter.encode(profile)) == profile


@settings(max_examples=50, deadline=None)
@given(aeo_profiles())
def test_every_encoded_profile_is_valid_against_the_xsd(profile: p.CreditProfile) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(XSD)).validate(io.BytesIO(adapter.encode(profile)))


# -- refusals -----------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<aeo:Operator xmlns:aeo="urn:cxg:aeo-exchange:1"><aeo:Name>&lol3;</aeo:Name></aeo:Operator>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE aeo:Operator [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<aeo:Operator xmlns:aeo="urn:cxg:aeo-exchange:1"><aeo:Name>&xxe;</aeo:Name></aeo:Operator>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE aeo:Operator SYSTEM "http://example.invalid/aeo.dtd">
<aeo:Operator xmlns:aeo="urn:cxg:aeo-exchange:1"/>"""
TWO = "</aeo:Authorisation>"
SECOND = (
    "</aeo:Authorisation><aeo:Authorisation><aeo:ProgrammeCountry>CN</aeo:ProgrammeCountry>"
    "<aeo:Type>AEOS</aeo:Type><aeo:Status>authorised</aeo:Status>"
    "<aeo:AuthorisedDate>2020-01-01</aeo:AuthorisedDate></aeo:Authorisation>"
)
NONE = CN[CN.index("<aeo:Authorisation>") : CN.index(TWO) + len(TWO)]


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        (b"<aeo:Operator xmlns:aeo='urn:cxg:aeo-exchange:1'><aeo:Name>", "line 1", "xml"),
        (record("Qingdao Haiyun", "Q" * (1024 * 1024)), "", "size"),
        (BILLION_LAUGHS, "/", "xml"),
        (EXTERNAL_ENTITY, "/", "xml"),
        (EXTERNAL_DTD, "/", "xml"),
        ((SAMPLES / "full-list.xml").read_bytes(), "/{urn:cxg:aeo-exchange:1}FullList", "xml"),
        (record("authorised", "withdrawn"), f"{AUTH}/aeo:Status", "code"),
        (record("<aeo:Type>高级认证企业", "<aeo:Type>AEO-X"), f"{AUTH}/aeo:Type", "code"),
        (record("<aeo:ProgrammeCountry>CN", "<aeo:ProgrammeCountry>DE"), f"{ROOT}/aeo:AuthorisationNumber", "country"),
        (record("<aeo:ProgrammeCountry>CN", "<aeo:ProgrammeCountry>C1"), f"{AUTH}/aeo:ProgrammeCountry", "canonical"),
        (record("CN3702960517", "CN370296051"), f"{ROOT}/aeo:AuthorisationNumber", "length"),
        (record("CN3702960517", "CN37029605AB"), f"{ROOT}/aeo:AuthorisationNumber", "alphabet"),
        (record("CN3702960517", "QQ3702960517"), f"{ROOT}/aeo:AuthorisationNumber", "country"),
        (record("CN3702960517", ""), f"{ROOT}/aeo:AuthorisationNumber", "required"),
        (record("2022-06-15", "15.06.2022"), f"{AUTH}/aeo:AuthorisedDate", "date"),
        (record("2022-06-15", "2022-02-30"), f"{AUTH}/aeo:AuthorisedDate", "date"),
        (record("2022-06-15", ""), f"{AUTH}/aeo:AuthorisedDate", "required"),
        (record("<aeo:Operator ", '<aeo:Operator change="deleted" '), f"{ROOT}/@change", "code"),
        (record(TWO, SECOND), f"{ROOT}/aeo:Authorisation", "cardinality"),
        (record(NONE, ""), f"{ROOT}/aeo:Authorisation", "required"),
        (record("Qingdao Haiyun International Logistics Co., Ltd.", ""), f"{ROOT}/aeo:Name", "required"),
        (record("<aeo:Country>CN", "<aeo:Country>XX"), f"{ROOT}/aeo:Address/aeo:Country", "canonical"),
    ],
    ids=[
        "malformed", "oversize", "billion-laughs", "external-entity", "external-dtd",
        "wrong-root", "unknown-status", "unknown-type", "number-not-from-programme-country",
        "programme-not-a-country", "number-too-short", "number-letters", "number-no-country",
        "missing-number", "date-format", "date-impossible", "missing-date", "unknown-change",
        "two-authorisations", "no-authorisation", "missing-name", "address-country",
    ],
)  # fmt: skip
def test_a_bad_record_is_refused_naming_the_partner_path(
    data: bytes, field: str, rule: str
) -> None:
    with pytest.raises(AdapterError) as refused:
        adapter.decode(data)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert "customs-aeo-list 1.0.0" in refused.value.message


def _sample() -> p.CreditProfile:
    return adapter.decode((SAMPLES / "cn-operator.xml").read_bytes())


def test_a_profile_the_format_cannot_carry_is_refused_going_out() -> None:
    other_country = _sample()
    other_country.subject.country = "HK"
    two = _sample()
    two.aeo.add(program_country="CN", authorisation_number="CN3702960517", type="AEOS")
    none = _sample()
    del none.aeo[:]
    other_number = _sample()
    other_number.subject.ids[0].value = "CN1111111111"
    unspecified = _sample()
    unspecified.aeo[0].status = p.AEO_STATE_UNSPECIFIED
    custom_type = _sample()
    custom_type.aeo[0].type = "SG_STP_PLUS"
    cases = [
        (other_country, "aeo:AuthorisationNumber", "constant"),
        (two, "aeo:Authorisation", "cardinality"),
        (none, "aeo:Authorisation", "cardinality"),
        (other_number, "aeo:AuthorisationNumber", "constant"),
        (unspecified, "aeo:Status", "required"),
        (custom_type, "aeo:Type", "code"),
    ]
    for profile, field, rule in cases:
        with pytest.raises(AdapterError) as refused:
            adapter.encode(profile)
        assert (refused.value.field, refused.value.rule) == (field, rule)


# -- bulk ---------------------------------------------------------------------------------------


def test_a_full_list_yields_one_record_per_operator() -> None:
    with (SAMPLES / "full-list.xml").open("rb") as stream:
        results = list(adapter.read(stream))
    assert [(r.number, r.location, r.error) for r in results] == [
        (1, "/aeo:Operator[1]", None),
        (2, "/aeo:Operator[2]", None),
        (3, "/aeo:Operator[3]", None),
    ]
    profiles = [r.profile for r in results]
    assert all(profile is not None for profile in profiles)
    assert [(x.aeo[0].authorisation_number, x.aeo[0].status) for x in profiles if x] == [
        ("CN3702960517", p.AEO_STATE_AUTHORISED),
        ("CN4403918826", p.AEO_STATE_AUTHORISED),
        ("CN3101937740", p.AEO_STATE_REVOKED),  # a withdrawal is a status, not a deletion
    ]
    assert profiles[2] is not None and profiles[2].aeo[0].valid_until_date == "2026-09-30"


def test_a_delta_yields_one_record_per_operator_and_names_the_bad_one() -> None:
    with (SAMPLES / "delta.xml").open("rb") as stream:
        results = list(adapter.read(stream))
    assert [(r.number, r.profile is not None) for r in results] == [
        (1, True),
        (2, True),
        (3, False),
    ]
    first, second, bad = results
    assert first.profile is not None and first.profile.subject.ids[0].value == "CN3205971142"
    assert second.profile is not None and second.profile.aeo[0].status == p.AEO_STATE_ANNULLED
    assert bad.location == "/aeo:Operator[3]"
    assert bad.error is not None
    assert (bad.error.field, bad.error.rule) == (
        "/aeo:Operator[3]/aeo:AuthorisationNumber",
        "country",
    )
    assert "DE4930718" in bad.error.message and "CN" in bad.error.message


def test_a_truncated_list_ends_with_the_error_after_the_good_records() -> None:
    data = (SAMPLES / "full-list.xml").read_bytes()
    cut = data[: data.index(b"CN3101937740")]
    results = list(adapter.read(io.BytesIO(cut)))
    assert [r.profile is not None for r in results] == [True, True, False]
    assert results[-1].error is not None and results[-1].error.rule == "xml"
    assert (results[-1].error.field or "").startswith("line ")


def test_a_list_record_that_breaks_the_xsd_is_refused_and_reading_goes_on() -> None:
    data = (SAMPLES / "full-list.xml").read_bytes()
    at = data.index(b"<aeo:Name>", data.index(b"CN4403918826"))
    data = data[:at] + b"<aeo:Nickname>x</aeo:Nickname>" + data[at:]
    results = list(adapter.read(io.BytesIO(data)))
    assert [r.profile is not None for r in results] == [True, False, True]
    bad = results[1].error
    assert bad is not None and bad.rule == "xsd"
    assert bad.field == "/aeo:Operator[2]"  # the element whose children are wrong
    assert "Unexpected child with tag 'aeo:Nickname'" in bad.message


def test_a_file_of_one_record_is_read_as_one_record() -> None:
    with (SAMPLES / "cn-operator.xml").open("rb") as stream:
        results = list(adapter.read(stream))
    assert [(r.number, r.error) for r in results] == [(1, None)]
    assert results[0].profile is not None
    assert results[0].profile.aeo[0].authorisation_number == "CN3702960517"
