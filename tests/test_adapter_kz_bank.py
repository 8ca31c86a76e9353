"""The Kazakhstan bank adapter (adapters/kz_bank): its samples and XSD, a lossless round trip for
every profile the format carries (property test), each kind of bad record refused with the
partner path named, and a bulk file read record by record."""

from __future__ import annotations

import datetime
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.kz_bank import adapter
from gateway.identifiers._schemes import kz_bin_check_digit
from gateway.mapping import AdapterError
from gateway.mapping._translit import TRANSLITERATIONS
from gateway.schema.cxg.v1 import profile_pb2 as p

FOLDER = Path(__file__).parents[1] / "adapters" / "kz_bank"
SAMPLES = FOLDER / "samples"
XSD = FOLDER / "kz-bank-company-1.xsd"
NS = "urn:kz:bank:company:1"
translit = TRANSLITERATIONS["translit-kk"]

AKZHOL_KZ = "«Ақжол Логистик» жауапкершілігі шектеулі серіктестігі"
AKZHOL_RU = "Товарищество с ограниченной ответственностью «Акжол Логистик»"
OSKEMEN_KZ = "«Өскемен Металл Өңдеу» акционерлік қоғамы"
OSKEMEN_RU = "Акционерное общество «Оскемен Металл Ондеу»"
NUR_KZ = "«Нұр Құрылыс Сервис» жауапкершілігі шектеулі серіктестігі"

EXPECTED: dict[str, dict[str, Any]] = {
    "akzhol-logistik.xml": {
        "subject": {
            "ids": [{"scheme": "KZ_BIN", "value": "110340001239"}],
            "legalName": {
                "en": "Tovarishchestvo s ogranichennoi otvetstvennostiu «Akzhol Logistik»",
                "ru": AKZHOL_RU,
                "local": AKZHOL_KZ,
                "localLang": "kk",
            },
            "country": "KZ",
            "address": {
                "country": "KZ",
                "region": "г. Алматы",
                "locality": "Алматы",
                "street": "пр. Абая, д. 150/230, офис 12",
                "postalCode": "050046",
            },
            "legalForm": "ТОО",
            "status": "ENTITY_STATUS_ACTIVE",
            "registrationDate": "2011-03-14",
        },
        "ratings": [
            {
                "scheme": "KZ_BANK_INTERNAL",
                "grade": "B+",
                "asOfDate": "2026-01-20",
                "validUntilDate": "2027-01-20",
            },
            {
                "scheme": "KZ_BANK_INTERNAL",
                "grade": "B",
                "asOfDate": "2025-01-18",
                "validUntilDate": "2026-01-18",
            },
        ],
        "provenance": {"sourceRecordId": "CL-0048213"},
    },
    "oskemen-metall.xml": {
        "subject": {
            "ids": [{"scheme": "KZ_BIN", "value": "030640004574"}],
            "legalName": {
                "en": "Aktsionernoe obshchestvo «Oskemen Metall Ondeu»",
                "ru": OSKEMEN_RU,
                "local": OSKEMEN_KZ,
                "localLang": "kk",
            },
            "country": "KZ",
            "address": {
                "country": "KZ",
                "region": "Восточно-Казахстанская область",
                "locality": "Усть-Каменогорск",
                "street": "ул. Казахстан, 68",
                "postalCode": "070004",
            },
            "legalForm": "АО",
            "status": "ENTITY_STATUS_LIQUIDATING",
            "registrationDate": "2003-06-05",
        },
        "ratings": [{"scheme": "KZ_BANK_INTERNAL", "grade": "C-", "asOfDate": "2025-10-02"}],
        "provenance": {"sourceRecordId": "CL-0002917"},
    },
    # No Russian name: the English name comes from the Kazakh one.
    "nur-qurylys-servis.xml": {
        "subject": {
            "ids": [{"scheme": "KZ_BIN", "value": "150940007811"}],
            "legalName": {
                "en": "«Nur Qurylys Servis» zhauapkershiligi shekteuli seriktestigi",
                "local": NUR_KZ,
                "localLang": "kk",
            },
            "country": "KZ",
            "address": {
                "country": "KZ",
                "region": "г. Астана",
                "locality": "Астана",
                "street": "ул. Кенесары, 40",
                "postalCode": "010000",
            },
            "legalForm": "ТОО",
            "status": "ENTITY_STATUS_DISSOLVED",
            "registrationDate": "2015-09-22",
        },
        "ratings": [{"scheme": "KZ_BANK_INTERNAL", "grade": "D", "asOfDate": "2024-04-11"}],
        "provenance": {"sourceRecordId": "CL-0131775"},
    },
}
SINGLE = sorted(EXPECTED)


def sample(name: str = "akzhol-logistik.xml") -> bytes:
    return (SAMPLES / name).read_bytes()


def changed(old: str, new: str, name: str = "akzhol-logistik.xml") -> bytes:
    data = sample(name)
    assert old.encode() in data, old
    return data.replace(old.encode(), new.encode(), 1)


# -- samples ----------------------------------------------------------------------------------


def test_every_single_record_sample_is_covered() -> None:
    assert sorted(f.name for f in SAMPLES.glob("*.xml") if f.name != "bulk.xml") == SINGLE


@pytest.mark.parametrize("name", SINGLE)
def test_a_sample_decodes_to_its_canonical_profile_and_round_trips(name: str) -> None:
    profile = adapter.decode(sample(name))
    assert json_format.MessageToDict(profile) == EXPECTED[name]
    assert profile.subject.ids[0].scheme == "KZ_BIN"
    assert profile.subject.legal_name.local_lang == "kk"
    assert adapter.decode(adapter.encode(profile)) == profile
    written = adapter.encode(profile).decode()
    assert profile.subject.legal_name.en not in written  # a derived name is never written out
    assert "<kz:BIN>" + profile.subject.ids[0].value + "</kz:BIN>" in written


def test_the_bank_codes_and_dates_are_written_back_in_the_banks_form() -> None:
    written = adapter.encode(adapter.decode(sample("oskemen-metall.xml"))).decode()
    assert "<kz:Status>В стадии ликвидации</kz:Status>" in written
    assert "<kz:RegistrationDate>05.06.2003</kz:RegistrationDate>" in written
    assert "<kz:Grade>C-</kz:Grade>" in written
    assert 'clientId="CL-0002917"' in written


def test_a_second_code_for_a_status_reads_but_the_first_is_written() -> None:
    profile = adapter.decode(changed("Действующее", "Приостановлено"))
    assert profile.subject.status == p.ENTITY_STATUS_INACTIVE
    assert b"<kz:Status>\xd0\x91" in adapter.encode(profile)  # "Бездействующее"


# -- XSD --------------------------------------------------------------------------------------


def test_samples_and_encoded_profiles_validate_against_the_xsd() -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    for path in sorted(SAMPLES.glob("*.xml")):
        schema.validate(str(path))
    for name in SINGLE:
        schema.validate(adapter.encode(adapter.decode(sample(name))).decode())


# -- property: every profile the format carries survives the round trip -----------------------

_SCHEMA: Any = None
if importlib.util.find_spec("xmlschema") is not None:
    import xmlschema as _xmlschema

    _SCHEMA = _xmlschema.XMLSchema(str(XSD))

# Text as the bank sends it: no control characters, no surrounding space (the engine trims).
words = (
    st.text(
        st.characters(
            categories=("L", "M", "N", "Zs", "P", "S"), exclude_characters="\u2028\u2029"
        ),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
kazakh_words = (
    st.text(st.sampled_from("АӘБВГҒДЕЁЖЗИЙКҚЛМНҢОӨПРСТУҰҮФХҺЦЧШЩЪЫІЬЭЮЯаәғқңөұүһі «»-.,0123"))
    .map(str.strip)
    .filter(bool)
)
optional = st.one_of(st.just(""), words)
iso_dates = st.dates(datetime.date(1991, 1, 1), datetime.date(2099, 12, 31)).map(
    datetime.date.isoformat
)
optional_date = st.one_of(st.just(""), iso_dates)
GRADES = ["A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D"]
STATUSES = [
    p.ENTITY_STATUS_UNSPECIFIED,
    p.ENTITY_STATUS_ACTIVE,
    p.ENTITY_STATUS_INACTIVE,
    p.ENTITY_STATUS_LIQUIDATING,
    p.ENTITY_STATUS_DISSOLVED,
]


def with_check_digit(first11: str) -> str | None:
    digit = kz_bin_check_digit(first11)
    return None if digit is None else first11 + digit


bins = (
    st.from_regex(r"\A[0-9]{2}(0[1-9]|1[0-2])[456][0-3][0-9]{5}\Z")
    .map(with_check_digit)
    .filter(lambda value: value is not None)
)


@st.composite
def bank_profiles(draw: st.DrawFn) -> p.CreditProfile:
    local = draw(st.one_of(kazakh_words, words))
    ru = draw(optional)
    en = (translit(ru) if ru else "") or translit(local)
    subject = p.Subject(
        ids=[p.EntityId(scheme="KZ_BIN", value=draw(bins))],
        legal_name=p.LocalizedText(en=en, ru=ru, local=local, local_lang="kk"),
        country="KZ",
        address=p.Address(
            country=draw(st.sampled_from(["", "KZ", "RU", "CN", "KG", "UZ"])),
            region=draw(optional),
            locality=draw(optional),
            street=draw(optional),
            postal_code=draw(optional),
        ),
        legal_form=draw(st.sampled_from(["", "ТОО", "АО", "ГУ", "РГП", "ПК"])),
        status=draw(st.sampled_from(STATUSES)),
        registration_date=draw(optional_date),
    )
    ratings = [
        p.Rating(
            scheme="KZ_BANK_INTERNAL",
            grade=draw(st.sampled_from(GRADES)),
            as_of_date=draw(optional_date),
            valid_until_date=draw(optional_date),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    profile = p.CreditProfile(subject=subject, ratings=ratings)
    if not any(
        (
            subject.address.country,
            subject.address.region,
            subject.address.locality,
            subject.address.street,
            subject.address.postal_code,
        )
    ):
        profile.subject.ClearField("address")
    record_id = draw(optional)
    if record_id:
        profile.provenance.source_record_id = record_id
    return profile


@settings(max_examples=50, deadline=None)
@given(bank_profiles())
def test_every_profile_the_format_carries_round_trips(profile: p.CreditProfile) -> None:
    data = adapter.encode(profile)
    assert adapter.decode(data) == profile
    if _SCHEMA is not None:
        _SCHEMA.validate(data.decode())


# -- refusals ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<kz:Company xmlns:kz="urn:kz:bank:company:1"><kz:NameKz>&lol4;</kz:NameKz></kz:Company>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE kz:Company [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<kz:Company xmlns:kz="urn:kz:bank:company:1"><kz:BIN>110340001239</kz:BIN>
<kz:NameKz>&xxe;</kz:NameKz></kz:Company>"""

MISSING_BIN = changed("<kz:BIN>110340001239</kz:BIN>", "")
OVERSIZE = sample().replace(b"<kz:BIN>", b"<!--" + b"x" * (1024 * 1024) + b"--><kz:BIN>", 1)
WRONG_ROOT = (SAMPLES / "bulk.xml").read_bytes()
RATING_GRADE = "/kz:Company/kz:InternalRatings/kz:Rating[1]/kz:Grade"


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        pytest.param(b"<kz:Company xmlns:kz='urn:kz:bank:company:1'><kz:BIN>1</kz:Company>",
                     "line 1", "xml", id="malformed"),
        pytest.param(b"", "line 1", "xml", id="empty"),
        pytest.param(OVERSIZE, "", "size", id="oversize"),
        pytest.param(BILLION_LAUGHS, "/", "xml", id="billion-laughs"),
        pytest.param(EXTERNAL_ENTITY, "/", "xml", id="external-entity"),
        pytest.param(WRONG_ROOT, f"/{{{NS}}}Companies", "xml", id="wrong-root"),
        pytest.param(changed("Действующее", "Действует"), "/kz:Company/kz:Status", "code",
                     id="unknown-status"),
        pytest.param(changed("<kz:Grade>B+", "<kz:Grade>AA"), RATING_GRADE, "code",
                     id="unknown-grade"),
        pytest.param(changed("110340001239", "110340001238"), "/kz:Company/kz:BIN", "check_digit",
                     id="bin-check-digit"),
        pytest.param(changed("110340001239", "11034000123"), "/kz:Company/kz:BIN", "length",
                     id="bin-length"),
        pytest.param(MISSING_BIN, "/kz:Company/kz:BIN", "required", id="missing-bin"),
        pytest.param(changed("<kz:NameKz>" + AKZHOL_KZ, "<kz:NameKz>"), "/kz:Company/kz:NameKz",
                     "required", id="missing-kazakh-name"),
        pytest.param(changed("14.03.2011", "2011-03-14"), "/kz:Company/kz:RegistrationDate",
                     "date", id="bad-date-format"),
        pytest.param(changed("14.03.2011", "31.02.2011"), "/kz:Company/kz:RegistrationDate",
                     "date", id="impossible-date"),
        pytest.param(changed("20.01.2026", "20/01/2026"),
                     "/kz:Company/kz:InternalRatings/kz:Rating[1]/kz:AssignedDate", "date",
                     id="bad-rating-date"),
        pytest.param(changed("<kz:Country>KZ", "<kz:Country>QQ"), "/kz:Company/kz:Address/kz:Country",
                     "canonical", id="bad-country"),
        pytest.param(changed("<kz:Street>пр. Абая, д. 150/230, офис 12</kz:Street>",
                             "<kz:Street><kz:Line>пр. Абая</kz:Line></kz:Street>"),
                     "/kz:Company/kz:Address/kz:Street", "type", id="element-for-text"),
    ],
)  # fmt: skip
def test_a_bad_record_is_refused_naming_the_partner_path(
    data: bytes, field: str, rule: str
) -> None:
    with pytest.raises(AdapterError) as caught:
        adapter.decode(data)
    assert caught.value.field == field
    assert caught.value.rule == rule


def test_the_bin_error_names_the_canonical_field_too() -> None:
    with pytest.raises(AdapterError) as caught:
        adapter.decode(changed("110340001239", "110340001238"))
    assert caught.value.canonical == "/subject/ids/0/value"


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"country": "RU"}, "subject.country", "constant"),
        ({"local_lang": "ru"}, "subject.legalName.localLang", "constant"),
        ({"rating_scheme": "RU_BUREAU_CLASS"}, "ratings", "constant"),
        ({"grade": "AAA"}, "kz:Grade", "code"),
        ({"no_bin": True}, "kz:BIN", "required"),
    ],
)
def test_a_profile_the_format_cannot_carry_is_refused(
    change: dict[str, Any], field: str, rule: str
) -> None:
    profile = adapter.decode(sample())
    if "country" in change:
        profile.subject.country = change["country"]
    if "local_lang" in change:
        profile.subject.legal_name.local_lang = change["local_lang"]
    if "rating_scheme" in change:
        profile.ratings[0].scheme = change["rating_scheme"]
    if "grade" in change:
        profile.ratings[0].grade = change["grade"]
    if "no_bin" in change:
        profile.subject.ClearField("ids")
        profile.subject.ids.add(scheme="LEI", value="300300C5RZ2QH1KX1M86")
    with pytest.raises(AdapterError) as caught:
        adapter.encode(profile)
    assert caught.value.field == field
    assert caught.value.rule == rule


# -- bulk -------------------------------------------------------------------------------------


def test_a_bulk_file_yields_every_record_and_the_bad_one_with_its_error() -> None:
    with open(SAMPLES / "bulk.xml", "rb") as stream:
        records = list(adapter.read(stream))
    assert [r.number for r in records] == [1, 2, 3, 4]
    assert [r.location for r in records] == [f"/kz:Company[{n}]" for n in (1, 2, 3, 4)]
    good = [r for r in records if r.error is None]
    assert [r.profile.subject.ids[0].value for r in good if r.profile] == [
        "081140003669",
        "110340001239",
        "030640004574",
    ]
    assert good[0].profile is not None
    assert good[0].profile.subject.legal_name.en == (
        "Tovarishchestvo s ogranichennoi otvetstvennostiu «Altyn Dan Kostanai»"
    )
    assert good[0].profile.ratings[0].grade == "A-"
    bad = records[2]
    assert bad.profile is None and bad.error is not None
    assert bad.error.field == "/kz:Company[3]/kz:BIN"
    assert bad.error.rule == "check_digit"


def test_a_bulk_file_that_breaks_off_ends_with_an_error_record() -> None:
    data = (SAMPLES / "bulk.xml").read_bytes()
    cut = data[: data.index(b'<kz:Company clientId="CL-0154002">') + 40]
    records = list(adapter.read(io.BytesIO(cut)))
    assert [r.profile is not None for r in records[:2]] == [True, True]
    last = records[-1]
    assert last.error is not None and last.error.rule == "xml"
    assert last.error.field.startswith("line ")
