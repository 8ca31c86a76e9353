"""The Russian credit bureau adapter (adapters/ru_bureau): its samples, a lossless round trip
for every profile the format carries (property test), and each kind of bad record refused with
the partner path named and nothing half-mapped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import stdnum.ru.inn
import stdnum.ru.ogrn
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ru_bureau import adapter
from gateway.mapping import AdapterError
from gateway.mapping._translit import TRANSLITERATIONS
from gateway.schema.cxg.v1 import profile_pb2 as p

SAMPLES = Path(__file__).parents[1] / "adapters" / "ru_bureau" / "samples"
SAMPLE = json.loads((SAMPLES / "romashka.json").read_text(encoding="utf-8"))


def record(**changes: object) -> bytes:
    document = {**SAMPLE, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_the_sample_maps_to_the_canonical_profile_and_back() -> None:
    profile = adapter.decode((SAMPLES / "romashka.json").read_bytes())
    assert [(i.scheme, i.value) for i in profile.subject.ids] == [
        ("RU_INN", "7708123450"),
        ("RU_OGRN", "1027700132195"),
    ]
    assert profile.subject.country == "RU"
    assert profile.subject.status == p.ENTITY_STATUS_ACTIVE
    assert profile.subject.registration_date == "2004-03-12"
    assert (
        profile.subject.legal_name.en == "Obshchestvo s ogranichennoi otvetstvennostiu «Romashka»"
    )
    assert profile.subject.address.postal_code == "125009"
    assert profile.provenance.source_record_id == "NB-2026-000417"
    (rating,) = profile.ratings
    assert (rating.scheme, rating.grade, rating.as_of_date) == (
        "RU_BUREAU_CLASS",
        "3",
        "2026-01-15",
    )
    assert adapter.decode(adapter.encode(profile)) == profile
    written = json.loads(adapter.encode(profile))
    assert written["ДатаРегистрации"] == "12.03.2004"
    assert written["Статус"] == "Действует"
    assert "en" not in json.dumps(written)  # a derived name is never written out


def _complete(prefix: str, check: object) -> str:
    return next(prefix + d for d in "0123456789" if check(prefix + d))  # type: ignore[operator]


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
dates = st.dates(min_value=__import__("datetime").date(1900, 1, 1)).map(lambda d: d.isoformat())
optional = st.one_of(st.just(""), words)


@st.composite
def bureau_profiles(draw: st.DrawFn) -> p.CreditProfile:
    inn = _complete(draw(st.from_regex(r"\A[1-9][0-9]{8}\Z")), stdnum.ru.inn.is_valid)
    ids = [p.EntityId(scheme="RU_INN", value=inn)]
    if draw(st.booleans()):
        ogrn = _complete(draw(st.from_regex(r"\A[15][0-9]{11}\Z")), stdnum.ru.ogrn.is_valid)
        ids.append(p.EntityId(scheme="RU_OGRN", value=ogrn))
    name = draw(
        st.text(
            st.sampled_from("АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя «»-"),
            min_size=1,
            max_size=40,
        )
        .map(str.strip)
        .filter(bool)
    )
    profile = p.CreditProfile(
        subject=p.Subject(
            ids=ids,
            legal_name=p.LocalizedText(ru=name, en=TRANSLITERATIONS["translit-ru"](name)),
            country="RU",
            legal_form=draw(optional),
            status=draw(st.sampled_from(list(p.EntityStatus.values())[1:])),
            registration_date=draw(st.one_of(st.just(""), dates)),
            address=p.Address(
                country="RU", region=draw(optional), locality=draw(optional), street=draw(optional)
            ),
        ),
    )
    if record_id := draw(optional):  # an empty provenance is no provenance in any format
        profile.provenance.source_record_id = record_id
    for _ in range(draw(st.integers(0, 3))):
        profile.ratings.add(
            scheme="RU_BUREAU_CLASS",
            grade=str(draw(st.integers(1, 10))),
            as_of_date=draw(st.one_of(st.just(""), dates)),
            valid_until_date=draw(st.one_of(st.just(""), dates)),
            issuer=draw(optional),
        )
    return profile


@settings(max_examples=60, deadline=None)
@given(bureau_profiles())
def test_every_profile_the_format_carries_survives_the_round_trip(profile: p.CreditProfile) -> None:
    assert adapter.decode(adapter.encode(profile)) == profile


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        (b"{not json", "/", "json"),
        (b'{"\\u0418\\u041d\\u041d": "1", "\\u0418\\u041d\\u041d": "2"}', "/", "json"),
        (b"[]", "/", "json"),
        (record(ИНН=None), "/ИНН", "required"),
        (record(ИНН={"значение": "7708123450"}), "/ИНН", "type"),
        (record(ИНН="7708123451"), "/ИНН", "check_digit"),
        (record(Статус="Приостановлено"), "/Статус", "code"),
        (record(ДатаРегистрации="2004-03-12"), "/ДатаРегистрации", "date"),
        (record(Рейтинги=[{"Класс": "11"}]), "/Рейтинги/0/Класс", "code"),
        (record(Рейтинги=[{"ДатаПрисвоения": "15.01.2026"}]), "/Рейтинги/0/Класс", "required"),
        (record(Рейтинги={"Класс": "3"}), "/Рейтинги", "type"),
        (record(Наименование="x" * (1024 * 1024)), "", "size"),
    ],
    ids=[
        "malformed", "duplicate-key", "not-an-object", "missing-inn", "object-for-text",
        "inn-check-digit", "unknown-status", "date-format", "class-off-scale",
        "rating-without-class", "array-expected", "oversize",
    ],
)  # fmt: skip
def test_a_bad_record_is_refused_naming_the_partner_path(
    data: bytes, field: str, rule: str
) -> None:
    with pytest.raises(AdapterError) as refused:
        adapter.decode(data)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert "ru-bureau 1.1.0" in refused.value.message


def test_a_profile_the_format_cannot_carry_is_refused_going_out() -> None:
    profile = adapter.decode((SAMPLES / "romashka.json").read_bytes())
    profile.subject.country = "KZ"
    with pytest.raises(AdapterError) as refused:
        adapter.encode(profile)
    assert (refused.value.canonical, refused.value.rule) == ("subject.country", "constant")


def test_a_bulk_file_reports_each_bad_line_and_reads_on() -> None:
    good = record().replace(b"\n", b"")
    lines = [good, b"{broken", b"", record(Статус="?"), good]
    results = list(adapter.read(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert [(r.number, r.profile is not None) for r in results] == [
        (1, True), (2, False), (4, False), (5, True),
    ]  # fmt: skip
    assert results[1].error is not None and results[1].error.field == "line 2"
    assert results[2].error is not None and results[2].error.field == "line 4: /Статус"


def test_the_written_schema_describes_what_the_adapter_reads_and_writes() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = json.loads((SAMPLES.parent / "schema.json").read_text(encoding="utf-8"))
    validator = jsonschema_rs.validator_for(schema)
    sample = (SAMPLES / "romashka.json").read_bytes()
    assert validator.is_valid(json.loads(sample))
    assert validator.is_valid(json.loads(adapter.encode(adapter.decode(sample))))
    assert not validator.is_valid({**SAMPLE, "Статус": "Приостановлена"})  # as the adapter refuses
