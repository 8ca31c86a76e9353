"""Storage on SQLite and PostgreSQL: migrations match the tables, versions are append-only and
contiguous under concurrent publishers, lookups by any identifier, search that treats input as data."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from gateway.audit.entries import Actor, acting_as
from gateway.config import Settings
from gateway.errors import DatabaseUnavailable, InvalidArgument, NotFound
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import ProfileExchange
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.storage.tables import audit_leaves, metadata, profile_versions
from tests.support import (
    KZ_BIN,
    TestPartner,
    acting_pool,
    make_kz_bins,
    profile,
    publish,
    read,
    with_subject,
)

Partners = dict[str, TestPartner]


@pytest.fixture
def exchange(settings: Settings, db: Database) -> ProfileExchange:
    return ProfileExchange.from_settings(settings, db, PartnerStore(db))


def kz_company(bin_: str, name: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return profile(
        subject={
            "ids": [{"scheme": "KZ_BIN", "value": bin_}],
            "legalName": {"en": name},
            "country": "KZ",
        },
        aeo=[],
        **extra,
    )


def test_migrations_create_exactly_the_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()  # a second run of every migration must be a no-op
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(profile_versions)).scalar_one() == 0


def test_concurrent_publishes_of_one_company_get_contiguous_versions(
    exchange: ProfileExchange, partners: Partners
) -> None:
    bank = partners["kz-bank"]
    documents = [
        kz_company(KZ_BIN, "Stepnoy Karavan", ratings=[{"scheme": "SP_LT", "grade": g}])
        for g in ("BB", "BB+", "BBB-", "BBB", "BBB+", "A-", "A", "A+")
    ]
    with acting_pool(8) as pool:
        receipts = list(pool.map(lambda d: publish(exchange, bank, d), documents))
    assert (
        len({r.profile_name for r in receipts}) == 1
    )  # the first-publication race found one profile
    assert sorted(r.version for r in receipts) == list(range(1, 9))
    request = pb.GetProfileRequest(id={"scheme": "KZ_BIN", "value": KZ_BIN})
    latest = read(exchange, partners["ru-bureau"], request)
    assert latest.version == 8


def test_replay_under_concurrency_stores_once(
    exchange: ProfileExchange, partners: Partners
) -> None:
    bank = partners["kz-bank"].as_partner()
    jws = partners["kz-bank"].sign(kz_company(KZ_BIN, "Stepnoy Karavan"))

    def attempt(_: int) -> tuple[str, int]:
        receipt = exchange.publish_profile(pb.PublishProfileRequest(jws=jws), bank)
        return receipt.profile_name, receipt.version

    # A byte-identical replay is answered with the original receipt: one version, six answers.
    with acting_pool(6) as pool:
        outcomes = set(pool.map(attempt, range(6)))
    assert len(outcomes) == 1 and next(iter(outcomes))[1] == 1
    (name, _) = outcomes.pop()
    versions = exchange.list_versions(pb.ListProfileVersionsRequest(name=name)).versions
    assert [v.version for v in versions] == [1]


def test_publishes_committed_together_are_each_their_own_actors_change(
    exchange: ProfileExchange, partners: Partners, db: Database
) -> None:
    # Concurrent single publishes share commits (group commit); each version must still be
    # recorded in the audit log as the change of whoever published it, never of a neighbour.
    bank = partners["kz-bank"]
    bins = make_kz_bins(24)
    start = threading.Barrier(8)

    def publish_as(caller: int) -> list[str]:
        actor = Actor("partners/kz-bank", f"test caller {caller}", "kz-bank")
        with acting_as(actor):
            start.wait()
            return [
                publish(exchange, bank, kz_company(bin_, f"Company {bin_}")).profile_name
                for bin_ in bins[caller::8]
            ]

    with ThreadPoolExecutor(8) as pool:
        published = dict(enumerate(pool.map(publish_as, range(8))))
    recorded: dict[str, str] = {}  # version subject -> via of its leaf
    for (data,) in db.read(select(audit_leaves.c.data)):
        leaf = json.loads(data)
        if leaf.get("change") == "profile.versions":
            for line in leaf["detail"]["versions"]:
                recorded[line.split(" ")[0].rsplit("/versions/", 1)[0]] = leaf["via"]
    assert recorded == {
        name: f"test caller {caller}" for caller, names in published.items() for name in names
    }


def test_get_a_missing_version_or_profile(exchange: ProfileExchange, partners: Partners) -> None:
    receipt = publish(exchange, partners["kz-bank"], kz_company(KZ_BIN, "Stepnoy Karavan"))
    bureau = partners["ru-bureau"]
    with pytest.raises(NotFound):
        read(exchange, bureau, pb.GetProfileRequest(name=receipt.profile_name, version=2))
    with pytest.raises(NotFound):
        read(exchange, bureau, pb.GetProfileRequest(name="profiles/" + "0" * 32))
    with pytest.raises(InvalidArgument) as bad:
        read(exchange, bureau, pb.GetProfileRequest(name="profiles/../../etc"))
    assert bad.value.field == "name"
    with pytest.raises(NotFound):
        exchange.list_versions(pb.ListProfileVersionsRequest(name="profiles/" + "0" * 32))


def test_versions_page_through_history(exchange: ProfileExchange, partners: Partners) -> None:
    bank = partners["kz-bank"]
    for grade in ("B", "BB", "BBB", "A", "AA"):
        receipt = publish(
            exchange,
            bank,
            kz_company(KZ_BIN, "Stepnoy Karavan", ratings=[{"scheme": "SP_LT", "grade": grade}]),
        )
    seen, token = [], ""
    while True:
        page = exchange.list_versions(
            pb.ListProfileVersionsRequest(name=receipt.profile_name, page_size=2, page_token=token)
        )
        seen += [v.version for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [5, 4, 3, 2, 1]
    with pytest.raises(InvalidArgument) as bad:
        exchange.list_versions(
            pb.ListProfileVersionsRequest(name=receipt.profile_name, page_token="forged")
        )
    assert bad.value.field == "page_token"


def test_search_by_prefix_country_and_pages(exchange: ProfileExchange, partners: Partners) -> None:
    bank = partners["kz-bank"]
    reader = bank.as_partner()
    bins = make_kz_bins(5)
    for i, bin_ in enumerate(bins):
        publish(exchange, bank, kz_company(bin_, f"Altyn Trade {i}"))
    publish(exchange, partners["cn-customs"], profile())
    names, token = [], ""
    while True:
        page = exchange.search_profiles(
            pb.SearchProfilesRequest(
                name_prefix="altyn", country="KZ", page_size=2, page_token=token
            ),
            reader,
        )
        names += [r.legal_name.en for r in page.results]
        token = page.next_page_token
        if not token:
            break
    assert sorted(names) == [f"Altyn Trade {i}" for i in range(5)]
    chinese = exchange.search_profiles(pb.SearchProfilesRequest(name_prefix="青岛海通"), reader)
    assert [r.country for r in chinese.results] == ["CN"]
    assert (
        len(exchange.search_profiles(pb.SearchProfilesRequest(country="KZ"), reader).results) == 5
    )


@pytest.mark.parametrize("prefix", ["%", "_", "Altyn%", "' OR '1'='1", "\\", "altyn_"])
def test_search_input_is_data_not_a_pattern(
    exchange: ProfileExchange, partners: Partners, prefix: str
) -> None:
    publish(exchange, partners["kz-bank"], kz_company(KZ_BIN, "Altyn Trade"))
    reader = partners["kz-bank"].as_partner()
    found = exchange.search_profiles(pb.SearchProfilesRequest(name_prefix=prefix), reader)
    assert list(found.results) == []


def test_search_without_criteria_lists_every_profile(
    exchange: ProfileExchange, partners: Partners
) -> None:
    publish(exchange, partners["kz-bank"], kz_company(KZ_BIN, "Altyn Trade"))
    publish(exchange, partners["cn-customs"], profile())
    reader = partners["kz-bank"].as_partner()
    listed = exchange.search_profiles(pb.SearchProfilesRequest(), reader).results
    assert sorted(r.country for r in listed) == ["CN", "KZ"]
    assert listed[0].name < listed[1].name


def test_accepted_legacy_identifier(settings: Settings, db: Database, partners: Partners) -> None:
    import dataclasses

    legacy = "91350100M0001TGQXM"  # pilot-era code whose check character fails (DOMAIN.md)
    document = with_subject(ids=[{"scheme": "CN_USCC", "value": legacy}])
    strict = ProfileExchange.from_settings(settings, db, PartnerStore(db))
    with pytest.raises(InvalidArgument) as refused:
        publish(strict, partners["cn-customs"], document)
    assert refused.value.field == "/subject/ids/0/value"
    lenient = ProfileExchange.from_settings(
        dataclasses.replace(settings, accepted_legacy_ids=frozenset({f"CN_USCC:{legacy}"})),
        db,
        PartnerStore(db),
    )
    assert publish(lenient, partners["cn-customs"], document).version == 1


def test_reads_survive_a_dropped_connection(
    exchange: ProfileExchange, db: Database, partners: Partners
) -> None:
    from sqlalchemy import text

    publish(exchange, partners["kz-bank"], kz_company(KZ_BIN, "Altyn Trade"))
    request = pb.GetProfileRequest(id={"scheme": "KZ_BIN", "value": KZ_BIN})
    bureau = partners["ru-bureau"]
    assert read(exchange, bureau, request).version == 1  # this thread now holds a reader
    if db.is_sqlite:
        db._reader().connection.driver_connection.close()  # type: ignore[union-attr]
    else:
        with db.engine.connect() as admin:  # the server ends every other session
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    assert read(exchange, bureau, request).version == 1  # the dead reader was replaced once


@pytest.mark.parametrize("statement", ["SELEC 1", "SELECT * FROM no_such_table"])
def test_a_statement_error_is_the_statements_not_a_database_outage(
    db: Database, statement: str
) -> None:
    """A bad statement (SQLite reports it as an OperationalError, as it does a locked file)
    is raised as it is: the database is not marked down and no request is answered 503."""
    with pytest.raises(DBAPIError) as raised:
        db.read(text(statement))
    assert not isinstance(raised.value, DatabaseUnavailable)
    assert db.health.available
    assert db.read(text("SELECT 1")) == [(1,)]


def test_a_connection_checked_out_during_dispose_is_closed_by_the_next(settings: Settings) -> None:
    """Another thread's connection (a health ping, a background write) that is in use while
    the pool is disposed goes back to the old pool afterwards; the next dispose closes it, so
    it is never left open to the garbage collector (psycopg warns then, and CI failed)."""
    db = Database.from_url(settings.database_url)
    in_use = db.engine.connect()
    in_use.execute(text("SELECT 1"))
    driver = in_use.connection.dbapi_connection
    assert driver is not None
    db.dispose()
    in_use.close()  # returned to the pool dispose() replaced
    db.dispose()
    if db.is_sqlite:
        with pytest.raises(Exception, match="closed"):
            driver.cursor()
    else:
        assert driver.closed
