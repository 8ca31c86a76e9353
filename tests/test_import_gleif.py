"""A GLEIF LEI-CDF 3.1 file imported and served again, from outside (issue 14): what a lender
needs of an LEI record reaches the canonical profile (the registration status, the English
legal name), an LEI its LOU withdrew is refused by record, and the record served back with
``?format=gleif-lei-cdf`` is valid against the published LEI-CDF 3.1 XSD."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import xmlschema
from stdnum.iso7064 import mod_97_10
from typer.testing import CliRunner

from gateway.cli import app
from gateway.transport.serve import Gateway
from tests.clients import RestClient
from tests.support import TestPartner

GLEIF = Path(__file__).parents[1] / "adapters" / "gleif_lei"
XSD = GLEIF / "2021-03-04_lei-cdf-v3-1.xsd"
NS = "http://www.gleif.org/data/schema/leidata/2016"
SAMPLE = (GLEIF / "samples" / "ru_romashka.xml").read_text(encoding="utf-8").split("?>", 1)[1]
SAMPLE_LEI = "253400RUB9T2KXQM4Z70"
runner = CliRunner()


def lei(n: int) -> str:
    base = f"253400TEST{n:08d}"
    return base + mod_97_10.calc_check_digits(base)


def variant(n: int, status: str, *, english: bool = False) -> str:
    text = SAMPLE.replace(SAMPLE_LEI, lei(n)).replace(
        "<lei:RegistrationStatus>ISSUED<", f"<lei:RegistrationStatus>{status}<"
    )
    if english:
        text = text.replace('xml:lang="ru">ОБЩЕСТВО', 'xml:lang="en">ROMASHKA LLC ОБЩЕСТВО')
    return text.replace(f' xmlns:lei="{NS}"', "")


RECORDS = [
    ("ISSUED", False),
    ("LAPSED", False),
    ("RETIRED", False),
    ("MERGED", False),
    ("ANNULLED", False),
    ("DUPLICATE", False),
    ("ISSUED", True),
]


def test_the_registration_status_decides_what_is_stored_and_what_goes_out_is_valid(
    gateway: Gateway,
    partners: dict[str, TestPartner],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    body = "".join(variant(n, status, english=en) for n, (status, en) in enumerate(RECORDS, 1))
    file = tmp_path / "lei.xml"
    file.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><lei:LEIData xmlns:lei="{NS}"><lei:LEIHeader>'
        "<lei:ContentDate>2026-11-27T08:00:00Z</lei:ContentDate>"
        "<lei:FileContent>QUERY_RESPONSE</lei:FileContent><lei:RecordCount>7</lei:RecordCount>"
        f"</lei:LEIHeader><lei:LEIRecords>{body}</lei:LEIRecords></lei:LEIData>",
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["import", str(file), "--adapter", "gleif-lei-cdf", "--as", "ru-bureau"]
    )
    # ANNULLED and DUPLICATE LEIs are no identifiers of the entity: refused by record
    assert "7 records: 5 imported, 0 unchanged, 2 refused" in result.output, result.output
    for n in (5, 6):
        where = f"/lei:LEIRecord[{n}]/lei:Registration/lei:RegistrationStatus"
        assert f"record {n} (/lei:LEIRecord[{n}])" in result.output
        assert where in result.output
    assert "the LEI was annulled" in result.output and "a duplicate registration" in result.output

    rest = RestClient(gateway, partners)
    schema = xmlschema.XMLSchema(str(XSD), base_url=str(GLEIF), allow="sandbox")
    try:
        stored = {n: rest.get(scheme="LEI", value=lei(n)).body["profile"] for n in (1, 2, 3, 4, 7)}
        written = {
            n: rest.get(scheme="LEI", value=lei(n), format="gleif-lei-cdf").body["jws"]
            for n in (1, 2, 3, 4, 7)
        }
    finally:
        rest.close()
    grades = {n: profile["ratings"][0]["grade"] for n, profile in stored.items()}
    assert grades == {1: "ISSUED", 2: "LAPSED", 3: "RETIRED", 4: "MERGED", 7: "ISSUED"}
    statuses = {n: profile["subject"]["status"] for n, profile in stored.items()}
    assert statuses[1] == statuses[2] == "ENTITY_STATUS_ACTIVE"
    assert statuses[3] == statuses[4] == "ENTITY_STATUS_DISSOLVED"  # the entity is gone
    assert stored[7]["subject"]["legalName"] == {
        "en": 'ROMASHKA LLC ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ "РОМАШКА"'
    }

    for n, jws in written.items():
        payload = base64.urlsafe_b64decode(jws.split(".")[1] + "==")
        record = payload.split(b"?>", 1)[1].replace(f' xmlns:lei="{NS}"'.encode(), b"", 1)
        document = (
            (
                f'<lei:LEIData xmlns:lei="{NS}"><lei:LEIHeader>'
                "<lei:ContentDate>2026-11-27T08:00:00Z</lei:ContentDate>"
                "<lei:FileContent>QUERY_RESPONSE</lei:FileContent>"
                "<lei:RecordCount>1</lei:RecordCount></lei:LEIHeader><lei:LEIRecords>"
            ).encode()
            + record
            + b"</lei:LEIRecords></lei:LEIData>"
        )
        errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(io.BytesIO(document))]
        assert errors == [], (n, json.dumps(errors, ensure_ascii=False))
        assert b"<lei:HeadquartersAddress>" in record and b"<lei:ManagingLOU>" in record
