"""The mapping engine (gateway/mapping) apart from any one adapter: specs are checked when they
load, canonical paths select and create what they name, a CSV format reads and writes rows, and
the registry refuses a misregistered adapter."""

from __future__ import annotations

import io
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from gateway.errors import InvalidArgument
from gateway.mapping import Adapter, AdapterError, MappingSpec, SpecError, registry
from gateway.mapping._canonical import CanonicalPath
from gateway.schema.cxg.v1 import profile_pb2 as p

CSV_SPEC: dict[str, Any] = {
    "name": "csv-list",
    "version": "0.1.0",
    "format": "csv",
    "columns": ["bin", "name", "registered"],
    "constants": {"subject.country": "KZ"},
    "fields": [
        {"canonical": "subject.ids[scheme=KZ_BIN].value", "source": "bin", "required": True},
        {"canonical": "subject.legalName.ru", "source": "name", "required": True},
        {"canonical": "subject.legalName.en", "derive": "translit-kk", "from": "subject.legalName.ru"},
        {"canonical": "subject.registrationDate", "source": "registered", "date": "%d/%m/%Y"},
    ],
}  # fmt: skip
BIN = "180440001235"


def test_canonical_paths_select_by_key_and_create_what_is_missing() -> None:
    document: dict[str, Any] = {"subject": {"ids": [{"scheme": "LEI", "value": "X"}]}}
    path = CanonicalPath.parse("subject.ids[scheme=KZ_BIN].value")
    assert path.get(document) is None
    assert path.set(document, BIN) == "/subject/ids/1/value"
    assert path.get(document) == BIN
    assert CanonicalPath.parse("subject.ids[scheme=LEI].value").set(document, "Y") == (
        "/subject/ids/0/value"
    )
    with pytest.raises(ValueError, match="bad canonical path"):
        CanonicalPath.parse("subject..ids")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown spec keys: colour"),
        ({"format": "yaml"}, "format must be one of"),
        ({"fields": [{"canonical": "subject.status", "source": "s", "codes": "none"}]}, "no code table"),
        ({"fields": [{"canonical": "subject.legalName.en", "derive": "translit-xx", "from": "a.b"}]}, "derive needs"),
        ({"fields": [{"canonical": "subject.legalForm"}]}, "needs a source"),
        ({"fields": [{"canonical": "subject.legalForm", "source": "f", "colour": 1}]}, "unknown field keys"),
        ({"groups": [{"canonical": "ratings", "source": "r", "fields": []}]}, "no repeated groups"),
        ({"format": "xml"}, "names its record element"),
    ],
)  # fmt: skip
def test_a_malformed_spec_is_refused_when_it_loads(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        MappingSpec.from_dict(CSV_SPEC | change)


def test_a_csv_format_reads_and_writes_rows() -> None:
    adapter = Adapter(MappingSpec.from_dict(CSV_SPEC))
    profile = adapter.decode(f"bin,name,registered\n{BIN},ТОО «Қазақ Өнім»,05/04/2018\n".encode())
    assert profile.subject.ids[0].value == BIN
    assert profile.subject.legal_name.en == "TOO «Qazaq Onim»"
    assert profile.subject.registration_date == "2018-04-05"
    assert adapter.encode(profile).decode() == (
        f"bin,name,registered\n{BIN},ТОО «Қазақ Өнім»,05/04/2018\n"
    )
    bulk = f"bin,name,registered\n{BIN},A,\n180440001236,B,\n{BIN},,01/01/2001\n"
    results = list(adapter.read(io.BytesIO(bulk.encode())))
    assert [r.profile is not None for r in results] == [True, False, False]
    assert [r.error.field for r in results if r.error] == [
        "line 3, column bin",
        "line 4, column name",
    ]
    with pytest.raises(AdapterError, match="missing columns: registered") as refused:
        adapter.decode(b"bin,name\n1,2\n")
    assert refused.value.field == "line 1"


def test_an_outbound_value_without_a_partner_code_is_refused() -> None:
    spec = MappingSpec.from_dict(
        CSV_SPEC
        | {
            "columns": ["bin", "name", "status"],
            "codes": {"status": {"active": "ENTITY_STATUS_ACTIVE"}},
            "fields": [*CSV_SPEC["fields"][:2], {"canonical": "subject.status", "source": "status", "codes": "status"}],
        }
    )  # fmt: skip
    profile = p.CreditProfile(
        subject=p.Subject(
            ids=[p.EntityId(scheme="KZ_BIN", value=BIN)],
            legal_name=p.LocalizedText(ru="А"),
            country="KZ",
            status=p.ENTITY_STATUS_DISSOLVED,
        )
    )
    with pytest.raises(AdapterError) as refused:
        Adapter(spec).encode(profile)
    assert (refused.value.field, refused.value.canonical, refused.value.rule) == (
        "status",
        "subject.status",
        "code",
    )


def test_the_registry_finds_the_installed_adapters() -> None:
    found = registry.adapters()
    assert "ru-bureau" in found
    assert all(name == adapter.name for name, adapter in found.items())
    with pytest.raises(InvalidArgument, match=r"no partner format .nope.; known: .*ru-bureau") as e:
        registry.adapter("nope")
    assert e.value.field == "format"


NOT_AN_ADAPTER = object()
MISNAMED = Adapter(MappingSpec.from_dict(CSV_SPEC))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([("x", "tests.test_mapping:NOT_AN_ADAPTER")], "is not an Adapter"),
        ([("other-name", "tests.test_mapping:MISNAMED")], "loads adapter 'csv-list'"),
        (
            [("csv-list", "tests.test_mapping:MISNAMED")] * 2,
            "two adapters are registered as 'csv-list'",
        ),
    ],
)
def test_the_registry_refuses_a_misregistered_adapter(
    monkeypatch: pytest.MonkeyPatch, points: list[tuple[str, str]], message: str
) -> None:
    fake = [EntryPoint(name, value, registry.GROUP) for name, value in points]
    monkeypatch.setattr(registry, "entry_points", lambda group: fake)
    registry.adapters.cache_clear()
    try:
        with pytest.raises(TypeError, match=message):
            registry.adapters()
    finally:
        registry.adapters.cache_clear()
