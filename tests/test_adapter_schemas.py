"""Every record written in a partner format is valid against that format's published schema
(the XSD named in its spec, or the JSON Schema in its folder), and what the schema refuses the
adapter refuses too, both ways (issue 14)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import xmlschema

from gateway.mapping import Adapter, AdapterError, adapters

ADAPTERS = Path(__file__).parents[1] / "adapters"
NS = "http://www.gleif.org/data/schema/leidata/2016"


def folder(adapter: Adapter) -> Path:
    return ADAPTERS / adapter.name.split("-")[0].replace("gleif", "gleif_lei").replace(
        "ru", "ru_bureau"
    ).replace("kz", "kz_bank").replace("customs", "customs_aeo").replace("cn", "cn_public_credit")


def schema_errors(adapter: Adapter, written: bytes) -> list[str]:
    if adapter.spec.format == "xml":
        xsd = Path(adapter.spec.xsd)
        schema = xmlschema.XMLSchema(str(xsd), base_url=str(xsd.parent), allow="sandbox")
        if adapter.name == "gleif-lei-cdf":  # LEIRecord is no global element: wrap it in a file
            body = written.split(b"?>", 1)[1].replace(f' xmlns:lei="{NS}"'.encode(), b"", 1)
            written = (
                (
                    f'<lei:LEIData xmlns:lei="{NS}"><lei:LEIHeader>'
                    "<lei:ContentDate>2026-01-01T00:00:00Z</lei:ContentDate>"
                    "<lei:FileContent>QUERY_RESPONSE</lei:FileContent>"
                    "<lei:RecordCount>1</lei:RecordCount></lei:LEIHeader><lei:LEIRecords>"
                ).encode()
                + body
                + b"</lei:LEIRecords></lei:LEIData>"
            )
        return [f"{e.path}: {e.reason}" for e in schema.iter_errors(io.BytesIO(written))]
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = json.loads((folder(adapter) / "schema.json").read_text(encoding="utf-8"))
    return [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(json.loads(written))]


SINGLE = [
    (name, path)
    for name, adapter in adapters().items()
    for path in sorted((folder(adapter) / "samples").iterdir())
    if path.name not in ("bulk.xml", "bulk.ndjson", "full-list.xml", "delta.xml")  # lists
]


@pytest.mark.parametrize(("name", "path"), SINGLE, ids=[p.name for _, p in SINGLE])
def test_every_sample_encodes_to_a_record_valid_against_its_schema(name: str, path: Path) -> None:
    adapter = adapters()[name]
    assert schema_errors(adapter, path.read_bytes()) == []  # the sample itself
    written = adapter.encode(adapter.decode(path.read_bytes()))
    assert schema_errors(adapter, written) == []


def test_a_value_the_schema_refuses_is_refused_both_ways() -> None:
    """ru-bureau's schema: a postal code is six digits; dates are dd.mm.yyyy, four-digit year."""
    ru = adapters()["ru-bureau"]
    sample = ADAPTERS / "ru_bureau" / "samples" / "romashka.json"
    record = json.loads(sample.read_text(encoding="utf-8"))
    record["Адрес"]["Индекс"] = "12345"
    with pytest.raises(AdapterError) as refused:
        ru.decode(json.dumps(record, ensure_ascii=False).encode())
    assert (refused.value.rule, refused.value.field) == ("pattern", "/Адрес/Индекс")
    profile = ru.decode(sample.read_bytes())
    profile.subject.address.postal_code = "12345"
    with pytest.raises(AdapterError) as refused:
        ru.encode(profile)
    assert (refused.value.rule, refused.value.field) == ("pattern", "/Адрес/Индекс")
    profile = ru.decode(sample.read_bytes())
    profile.subject.registration_date = "0999-01-01"  # strftime writes "01.01.999"
    with pytest.raises(AdapterError) as refused:
        ru.encode(profile)
    assert refused.value.rule == "date"


def test_a_kz_bank_date_before_year_1000_is_refused_not_written_off_the_schema() -> None:
    kz = adapters()["kz-bank"]
    profile = kz.decode((ADAPTERS / "kz_bank" / "samples" / "akzhol-logistik.xml").read_bytes())
    profile.subject.registration_date = "0999-01-01"
    with pytest.raises(AdapterError) as refused:
        kz.encode(profile)
    assert (refused.value.rule, refused.value.field) == ("date", "kz:RegistrationDate")
