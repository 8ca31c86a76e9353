"""Shared fixtures: a database per test (SQLite file, or PostgreSQL when CXG_TEST_POSTGRES_URL
is set), generated keys and partners, and a real gateway serving gRPC and REST on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.audit.entries import acting_as
from gateway.config import Settings
from gateway.service import PartnerAdmin
from gateway.signing import KeyRing
from gateway.storage import Database, normalize_url
from gateway.transport.serve import Gateway
from tests.browser import Chromium, start_chromium
from tests.support import TEST_ACTOR, TestPartner, make_partners, write_partners

POSTGRES_URL = os.environ.get("CXG_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# What a log line must never hold: a JWS or JWT (tokens, DPoP proofs, client assertions, signed
# profiles), a PEM private key, a private JWK member.
_SECRET = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z ]*PRIVATE KEY-----|\"d\"\s*:\s*\""
)


class _SecretScan(logging.Handler):
    """Every log record of the run, request lines included, searched for secrets as written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record) + " " + json.dumps(getattr(record, "fields", {}), default=str)
        if _SECRET.search(text):
            self.leaks.append(text[:2000])


@pytest.fixture(scope="session", autouse=True)
def no_secret_is_logged() -> Iterator[None]:
    """A test run logs at INFO for the gateway (one line per request); the run fails at its end
    if any line held a token, proof or key."""
    scan = _SecretScan()
    root, gateway = logging.getLogger(), logging.getLogger("cxg")
    level = gateway.level
    root.addHandler(scan)
    gateway.setLevel(logging.INFO)
    yield
    root.removeHandler(scan)
    gateway.setLevel(level)
    assert not scan.leaks, "secrets in log lines:\n" + "\n".join(scan.leaks[:5])


@pytest.fixture(autouse=True)
def acting_test() -> Iterator[None]:
    """A test that changes state directly (not through the API or the CLI, which name their
    own actors) is the actor its audit leaves name."""
    with acting_as(TEST_ACTOR):
        yield


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(POSTGRES_URL is None, reason="CXG_TEST_POSTGRES_URL is not set"),
            ],
        ),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs once on a SQLite file and once on PostgreSQL (when available)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cxg.db'}"
    assert POSTGRES_URL is not None
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def partners() -> dict[str, TestPartner]:
    return make_partners()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, partners: dict[str, TestPartner]) -> Settings:
    keys_dir = tmp_path / "keys"
    KeyRing.init(keys_dir / "gateway")
    write_partners(keys_dir / "partners", partners)
    return dataclasses.replace(
        Settings(), database_url=database_url, keys_dir=keys_dir, grpc_port=0, rest_port=0
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_url(settings.database_url)
    database.upgrade()
    PartnerAdmin(database).import_files(settings.partners_dir)
    yield database
    database.dispose()


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    running = Gateway(settings)
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium for a whole module (each case gets its own context)."""
    driver = start_chromium()
    yield driver
    driver.close()
