"""One import path: the same bulk file imported through the REST API (POST /v1/profiles:import)
and through the real ``cxg import`` stores the same versions, common grade included, refuses
the same records, and leaves the same change leaves in the audit log.

The two imports go to two databases with the same gateway keys, partners and rule packs: in one
database the second import would only find its records unchanged. The CLI's database is a
SQLite file whichever database the gateway runs on (there is one PostgreSQL test database).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from sqlalchemy import select

from gateway.config import Settings
from gateway.profiles import canonical_json
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.service import PartnerAdmin
from gateway.service.rules import RuleService
from gateway.storage import Database
from gateway.storage.audit import AuditStore
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from tests.clients import RestClient
from tests.support import TestPartner, jws_payload

ROOT = Path(__file__).resolve().parents[1]

# What legitimately differs between two stores of one record, and why:
# - the profile's ``name``: each database gives its new profiles their own random id;
# - ``valid_from``: the time of publication when the record states none.
# Of the stored row besides: its profile id (as ``name``), ``published_at``, ``payload_sha256``
# (a digest over the name and valid_from) and the gateway's ``jws`` (over those, with its own
# ``iat`` and signature). Everything else must be equal, common grade first.
DIFFERENT_FIELDS = frozenset({"name", "valid_from"})
SAME_COLUMNS = ("version", "publisher", "request_sha256", "source_jws")

# A grade pack for the Kazakh bank's internal scale (no shipped pack covers it), so that the
# records of both files that carry a rating get a common grade.
KZ_GRADES = """
id = "test-grades-kz-bank"
version = "1.0.0"
type = "grade-equivalence"
engine = "cel/1"
valid_from = 2000-01-01
max_age_days = 36500
schemes = ["KZ_BANK_INTERNAL"]
[description]
zh = "测试"
en = "test"
ru = "test"
[[grades]]
scheme = "KZ_BANK_INTERNAL"
grade = "A-"
ordinal = 7
bucket = "LOWER_MEDIUM"
[[tests]]
name = "A-"
date = 2026-06-01
facts = { rating = { scheme = "KZ_BANK_INTERNAL", grade = "A-", as_of_date = 2026-04-30 } }
expect = "RECOGNIZED"
""".encode()
PACKS = ((ROOT / "rules" / "grades-ru-bureau.toml").read_bytes(), KZ_GRADES)


def ru_bureau_file() -> bytes:
    """The ru-bureau sample with its ratings dated a month ago, valid for most of a year: the
    shipped pack grades no expired rating, and the sample's own dates will pass."""
    today = datetime.now(UTC).date()
    sample = (ROOT / "adapters" / "ru_bureau" / "samples" / "bulk.ndjson").read_bytes()
    assigned, until = today - timedelta(days=30), today + timedelta(days=300)
    return sample.replace(b"15.01.2026", assigned.strftime("%d.%m.%Y").encode()).replace(
        b"15.01.2027", until.strftime("%d.%m.%Y").encode()
    )


FILES = {  # format: (partner, media type, file contents, records, refused)
    "ru-bureau": ("ru-bureau", "application/x-ndjson", ru_bureau_file, 5, 2),
    "kz-bank": (
        "kz-bank",
        "application/xml",
        lambda: (ROOT / "adapters" / "kz_bank" / "samples" / "bulk.xml").read_bytes(),
        4,
        1,
    ),
}


@pytest.fixture
def cli_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The CLI's database: the gateway's keys and partners, the same rule packs active."""
    cli = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    db = Database.from_url(cli.database_url)
    db.upgrade()
    PartnerAdmin(db).import_files(cli.partners_dir)
    activate(RuleService.from_settings(cli, db))
    db.dispose()
    yield cli


def activate(rules: RuleService) -> None:
    for pack in PACKS:
        rules.activate(rules.sign(pack))


def stored(db: Database) -> dict[str, Any]:
    """Every stored version by the digest of the record it came from (the same both ways)."""
    rows = db.read(select(profile_versions))
    return {row.request_sha256: row for row in rows}


def leaves_since(db: Database, start: int) -> list[dict[str, Any]]:
    store = AuditStore(db)
    return [json.loads(leaf.data) for leaf in store.leaves(start, store.size())]


def changes(leaves: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each change leaf's kind and the records it names by the digests they came from."""
    return [
        (leaf["change"], sorted(v.split(" request:")[1].split()[0] for v in leaf["detail"]["versions"]))
        for leaf in leaves
        if leaf["kind"] == "change"
    ]  # fmt: skip


def import_over_rest(
    gateway: Gateway, partners: dict[str, TestPartner], file: Path, format_name: str
) -> dict[str, Any]:
    partner, media_type = FILES[format_name][:2]
    rest = RestClient(gateway, partners)
    try:
        response = rest.request(
            "POST", "/v1/profiles:import", session=rest.sessions.of(partner),
            params={"format": format_name}, content=file.read_bytes(),
            headers={"content-type": media_type},
        )  # fmt: skip
    finally:
        rest.close()
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def import_with_cxg(
    settings: Settings, file: Path, format_name: str
) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, configured only by its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXG_")}
    env |= {"CXG_DATABASE_URL": settings.database_url, "CXG_KEYS_DIR": str(settings.keys_dir)}
    command = ["import", str(file), "--adapter", format_name, "--as", FILES[format_name][0]]
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *command],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def assert_same_version(api_row: Any, cli_row: Any) -> None:
    for column in SAME_COLUMNS:
        assert getattr(cli_row, column) == getattr(api_row, column), column
    api_profile = CreditProfile.FromString(api_row.profile_pb)
    cli_profile = CreditProfile.FromString(cli_row.profile_pb)
    for row, profile in ((api_row, api_profile), (cli_row, cli_profile)):
        assert jws_payload(row.jws) == canonical_json(profile)  # what is signed is what is stored
        # Every record with a rating has its grade (one of the kz-bank records has a rating).
        assert profile.HasField("common_grade") == bool(profile.ratings)
    assert cli_profile.common_grade == api_profile.common_grade
    api_fields = json_format.MessageToDict(api_profile, preserving_proto_field_name=True)
    cli_fields = json_format.MessageToDict(cli_profile, preserving_proto_field_name=True)
    assert set(cli_fields) == set(api_fields)
    for name in sorted(set(api_fields) - DIFFERENT_FIELDS):
        assert cli_fields[name] == api_fields[name], name


@pytest.mark.parametrize("format_name", sorted(FILES))
def test_the_api_and_cxg_import_store_the_same_versions(
    gateway: Gateway,
    partners: dict[str, TestPartner],
    cli_settings: Settings,
    tmp_path: Path,
    format_name: str,
) -> None:
    partner, _, contents, records, refused = FILES[format_name]
    file = tmp_path / f"bulk-{format_name}"
    file.write_bytes(contents())
    activate(gateway.rules)
    cli_db = Database.from_url(cli_settings.database_url)
    api_start, cli_start = AuditStore(gateway.db).size(), AuditStore(cli_db).size()

    summary = import_over_rest(gateway, partners, file, format_name)
    assert (int(summary["records"]), int(summary.get("refused", 0))) == (records, refused)
    cli = import_with_cxg(cli_settings, file, format_name)
    assert cli.returncode == (1 if refused else 0), cli.stderr
    imported = records - refused
    counts = f"{records} records: {imported} imported, 0 unchanged, {refused} refused"
    assert f"{file}: {counts}" in cli.stdout
    # The CLI names each record the API refused by the file, its number and its place in it.
    for refusal in summary.get("refusals", []):
        assert f"{file}: record {refusal['record']} ({refusal['location']}): " in cli.stderr

    try:
        by_api, by_cli = stored(gateway.db), stored(cli_db)
        assert len(by_api) == imported and by_cli.keys() == by_api.keys()
        for digest, api_row in by_api.items():
            assert_same_version(api_row, by_cli[digest])

        # Each stored batch has its change leaf in both logs, naming the same records; the API
        # also logs the calls themselves (exchange leaves), which the command line makes none of.
        api_leaves = leaves_since(gateway.db, api_start)
        cli_leaves = leaves_since(cli_db, cli_start)
        assert changes(api_leaves) == changes(cli_leaves) == [("profile.versions", sorted(by_api))]
        calls = [leaf["operation"] for leaf in api_leaves if leaf["kind"] == "exchange"]
        assert sorted(calls) == ["CreateToken", "ImportProfiles"]
        assert {leaf["kind"] for leaf in cli_leaves} == {"change"}
        api_change = next(leaf for leaf in api_leaves if leaf["kind"] == "change")
        cli_change = next(leaf for leaf in cli_leaves if leaf["kind"] == "change")
        assert api_change["actor"] == f"partners/{partner}"
        assert api_change["via"] == "rest ImportProfiles"
        assert cli_change["actor"].startswith("cli:") and cli_change["via"] == f"cli import {file}"
    finally:
        cli_db.dispose()
