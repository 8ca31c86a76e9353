"""Bulk import (``cxg import`` and ``ProfileExchange.import_records``): every good record of a
partner file is published with the validation of a single publish, every bad one is reported by
number and location and stored not at all, and re-importing the same file changes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapters.ru_bureau import adapter as ru_bureau
from gateway.cli import app
from gateway.errors import PermissionDenied
from gateway.schema.cxg.v1.profile_service_pb2 import GetProfileRequest
from gateway.service.profiles import ImportSummary
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from tests.support import TestPartner

BULK = Path(__file__).parents[1] / "adapters" / "ru_bureau" / "samples" / "bulk.ndjson"
runner = CliRunner()


def versions(gateway: Gateway) -> int:
    return int(gateway.db.read(select(func.count()).select_from(profile_versions))[0][0])


def test_cxg_import_publishes_the_good_records_and_reports_the_bad(
    gateway: Gateway, partners: dict[str, TestPartner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    result = runner.invoke(
        app, ["import", str(BULK), "--adapter", "ru-bureau", "--as", "ru-bureau"]
    )
    assert result.exit_code == 1, result.output  # some records were refused
    assert f"{BULK}: 5 records: 3 imported, 0 unchanged, 2 refused" in result.output
    # Each refusal names the file and the record's number and place, as compilers do.
    assert f"{BULK}: record 2 (line 2): line 2: /Статус: 'Приостановлена' is not a code" in (
        result.output
    )
    assert f"{BULK}: record 4 (line 4): line 4: not valid JSON" in result.output
    assert versions(gateway) == 3
    first = json.loads(BULK.read_text(encoding="utf-8").splitlines()[0])
    request = GetProfileRequest(purpose="credit_reporting")
    request.id.scheme, request.id.value = "RU_INN", first["ИНН"]
    stored = gateway.exchange.get_profile(request, partners["ru-bureau"].as_partner())
    assert b"sourceInstitution" in stored.as_json and b"ru-bureau" in stored.as_json

    again = runner.invoke(app, ["import", str(BULK), "--adapter", "ru-bureau", "--as", "ru-bureau"])
    assert "5 records: 0 imported, 3 unchanged, 2 refused" in again.output
    assert versions(gateway) == 3  # nothing new


def test_cxg_import_refuses_an_unknown_format_or_partner(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    unknown = runner.invoke(app, ["import", str(BULK), "--adapter", "nope", "--as", "ru-bureau"])
    assert unknown.exit_code == 1 and "no partner format 'nope'" in unknown.output
    nobody = runner.invoke(app, ["import", str(BULK), "--adapter", "ru-bureau", "--as", "nobody"])
    assert nobody.exit_code == 1 and "no active partner 'nobody'" in nobody.output
    other = BULK.parents[2] / "kz_bank" / "samples" / "bulk.xml"
    refused = runner.invoke(
        app, ["import", str(other), "--adapter", "ru-bureau", "--as", "ru-bureau"]
    )
    assert refused.exit_code == 1  # a file refused whole is named too
    assert f"{other}: the file holds no ru-bureau (NDJSON line) record" in refused.output
    assert versions(gateway) == 0


def test_only_a_publisher_imports_and_another_publisher_s_profile_stays_theirs(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    def run(partner: str) -> ImportSummary:
        with BULK.open("rb") as stream:
            return gateway.exchange.import_records(
                ru_bureau, stream, partners[partner].as_partner()
            )

    with pytest.raises(PermissionDenied):  # an SME portal holds no publishing role
        run("sme-portal")
    assert run("ru-bureau").imported == 3
    summary = run("kz-bank")  # the same companies, as another partner: not theirs to change
    assert (summary.imported, summary.refused) == (0, 5)
    assert [type(error).__name__ for _, _, error in summary.errors].count("PermissionDenied") == 3


def test_a_large_import_is_batched_and_reports_each_refusal(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    import stdnum.ru.inn

    lines = []
    for n in range(1200):
        prefix = f"50{n:07d}"
        inn = next(prefix + d for d in "0123456789" if stdnum.ru.inn.is_valid(prefix + d))
        status = "?" if n % 400 == 7 else "Действует"
        lines.append(json.dumps({"ИНН": inn, "Наименование": f"ООО «Номер {n}»", "Статус": status}))
    summary = gateway.exchange.import_records(
        ru_bureau,
        io.BytesIO("\n".join(lines).encode()),
        partners["ru-bureau"].as_partner(),
        batch=250,
    )
    assert (summary.records, summary.imported, summary.refused) == (1200, 1197, 3)
    assert [number for number, _, _ in summary.errors] == [8, 408, 808]
    assert versions(gateway) == 1197


def test_one_batch_decides_its_records_in_order(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    """A batch is stored set-wise, yet as if its records were published one after another."""
    from gateway.schema.cxg.v1.profile_service_pb2 import SearchProfilesRequest

    def line(inn: str, name: str, ogrn: str = "") -> str:
        record = {"ИНН": inn, "Наименование": name, "Статус": "Действует"}
        return json.dumps(record | ({"ОГРН": ogrn} if ogrn else {}), ensure_ascii=False)

    first = line("7708123468", "ООО «Первое имя»")
    lines = [
        first,
        line("7708123468", "ООО «Второе имя»", "1027700132195"),  # version 2, one more id
        first,  # the same record again: unchanged
        line("7707083893", "ПАО «Другая»"),  # a second company
        line("7707083893", "ПАО «Другая»", "1027700132195"),  # ids of both companies: refused
    ]
    summary = gateway.exchange.import_records(
        ru_bureau, io.BytesIO("\n".join(lines).encode()), partners["ru-bureau"].as_partner()
    )
    assert (summary.imported, summary.unchanged, summary.refused) == (3, 1, 1)
    assert [number for number, _, _ in summary.errors] == [5]
    assert "belong to different profiles" in summary.errors[0][2].message

    request = GetProfileRequest(purpose="credit_reporting")
    request.id.scheme, request.id.value = "RU_OGRN", "1027700132195"
    latest = gateway.exchange.get_profile(request, partners["ru-bureau"].as_partner())
    assert latest.version == 2 and "Второе имя".encode() in latest.as_json
    # Search knows the latest name only.
    found = gateway.exchange.search_profiles(
        SearchProfilesRequest(name_prefix="ООО «П"), partners["ru-bureau"].as_partner()
    )
    assert not found.results
    found = gateway.exchange.search_profiles(
        SearchProfilesRequest(name_prefix="ооо «в"), partners["ru-bureau"].as_partner()
    )
    assert [r.name for r in found.results] == [f"profiles/{latest.profile_id}"]
    assert versions(gateway) == 3
