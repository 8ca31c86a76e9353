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
    assert "record 2 (line 2): line 2: /Статус: 'Приостановлена' is not a code" in result.output
    assert "record 4 (line 4): line 4: not valid JSON" in result.output
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
