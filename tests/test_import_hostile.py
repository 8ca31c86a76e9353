"""Bulk import meets hostile and clumsy files, from outside (issue 14): ``cxg import`` in a child
process (its peak memory measured) or through typer's runner, and POST /v1/profiles:import to a
running gateway.

- Reading costs memory bounded whatever the file (elements that are not records, a huge line, a
  huge record or field, a bloated header): measured as the child's peak RSS over that of the
  same command on a small good file.
- Every element or line that is not a record is ignored because the format says so, or refused
  with its location; a file with no record is refused whole (exit 1, 400) with nothing stored;
  record numbers are positions in the file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import Settings
from gateway.errors import AdapterError
from gateway.mapping import Adapter, MappingSpec
from gateway.service import PartnerAdmin
from gateway.signing import KeyRing
from gateway.storage import Database
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from tests.clients import RestClient
from tests.support import TestPartner, write_partners

ADAPTERS = Path(__file__).parents[1] / "adapters"
LEI_NS = "http://www.gleif.org/data/schema/leidata/2016"
MIB = 1024 * 1024
# The CLI's own footprint differs run to run by a few MiB; reading must add no more than this.
READING_BUDGET_MIB = 40
runner = CliRunner()

# format -> (the opening of a bulk file, its closing, one good record)
XML = {
    "kz-bank": (
        b'<kz:Companies xmlns:kz="urn:kz:bank:company:1">',
        b"</kz:Companies>",
        "kz_bank/samples/akzhol-logistik.xml",
    ),
    "customs-aeo-list": (
        b'<aeo:FullList xmlns:aeo="urn:cxg:aeo-exchange:1" sender="CN" listDate="2026-11-26">',
        b"</aeo:FullList>",
        "customs_aeo/samples/cn-operator.xml",
    ),
    "gleif-lei-cdf": (
        f'<lei:LEIData xmlns:lei="{LEI_NS}"><lei:LEIHeader>'
        "<lei:ContentDate>2026-11-27T08:00:00Z</lei:ContentDate>"
        "<lei:FileContent>QUERY_RESPONSE</lei:FileContent><lei:RecordCount>1</lei:RecordCount>"
        "</lei:LEIHeader><lei:LEIRecords>".encode(),
        b"</lei:LEIRecords></lei:LEIData>",
        "gleif_lei/samples/ru_romashka.xml",
    ),
}


def record(path: str) -> bytes:
    """A sample record without its XML declaration, to go inside a bulk file."""
    return (ADAPTERS / path).read_bytes().split(b"?>", 1)[1].strip()


def versions(db: Database) -> int:
    return int(db.read(select(func.count()).select_from(profile_versions))[0][0])


# -- the command in a child process, its peak memory measured ---------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, partners: dict[str, TestPartner]) -> Iterator[dict[str, str]]:
    """The environment of a `cxg` child on its own SQLite database with the test partners."""
    keys_dir = tmp_path / "keys"
    KeyRing.init(keys_dir / "gateway")
    write_partners(keys_dir / "partners", partners)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    database = Database.from_url(url)
    database.upgrade()
    PartnerAdmin(database).import_files(keys_dir / "partners")
    database.dispose()
    yield os.environ | {"CXG_DATABASE_URL": url, "CXG_KEYS_DIR": str(keys_dir)}


def cxg_import(env: dict[str, str], file: Path, adapter: str) -> tuple[int, str, float]:
    """Exit status, output and peak RSS (MiB) of `cxg import FILE --adapter ADAPTER`."""
    command = [sys.executable, "-m", "gateway.cli", "import", str(file), "--adapter", adapter]
    child = subprocess.Popen(
        [*command, "--as", "ru-bureau"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    with child.stdout:
        output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, output, usage.ru_maxrss / 1024


def reading_cost(env: dict[str, str], tmp_path: Path, adapter: str, hostile: bytes) -> Any:
    """(exit status, output, MiB the hostile file cost over a small good one)."""
    opening, closing, sample = XML.get(adapter, (b"", b"", ""))
    good = tmp_path / "good"
    json_sample = {"ru-bureau": "ru_bureau/samples/romashka.json"}.get(
        adapter, "cn_public_credit/samples/laoshan_tea.json"
    )
    good.write_bytes(
        opening + record(sample) + closing
        if sample
        else json.dumps(json.loads((ADAPTERS / json_sample).read_bytes())).encode()
    )
    _, _, baseline = cxg_import(env, good, adapter)
    file = tmp_path / "hostile"
    file.write_bytes(hostile)
    status, output, peak = cxg_import(env, file, adapter)
    return status, output, peak - baseline


@pytest.mark.parametrize("adapter", sorted(XML))
def test_a_flood_of_elements_that_are_not_records_is_refused_in_bounded_memory(
    cli_env: dict[str, str], tmp_path: Path, adapter: str
) -> None:
    """64 MiB of <j/> in the records' container: refused where it starts, at once (it used to
    cost 22 times its size and import as "0 records")."""
    opening, closing, _ = XML[adapter]
    hostile = opening + b"<j/>" * (16 * MIB) + closing
    status, output, cost = reading_cost(cli_env, tmp_path, adapter, hostile)
    assert status == 1, output
    assert "elements in a row that are not" in output and "not a file of this format" in output
    assert cost < READING_BUDGET_MIB, (cost, output)


def test_a_header_bloated_with_extensions_is_skipped_in_bounded_memory(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """LEI-CDF lets a header carry any extension, which is skipped as it streams: 16 MiB of
    small elements (which used to be kept, at some 12 times their size) cost nothing to keep,
    and the record after it is read."""
    opening, closing, sample = XML["gleif-lei-cdf"]
    extension = (
        b'<lei:Extension xmlns:x="urn:x">' + b"<x:j/>" * (16 * MIB // 6) + b"</lei:Extension>"
    )
    hostile = opening.replace(b"</lei:LEIHeader>", extension + b"</lei:LEIHeader>")
    status, output, cost = reading_cost(
        cli_env, tmp_path, "gleif-lei-cdf", hostile + record(sample) + closing
    )
    assert status == 0, output
    assert "1 records: 0 imported, 1 unchanged" in output  # imported by the good file before
    assert cost < READING_BUDGET_MIB, (cost, output)


@pytest.mark.parametrize("adapter", sorted(XML))
def test_records_over_the_record_limit_are_refused_each_and_reading_goes_on(
    cli_env: dict[str, str], tmp_path: Path, adapter: str
) -> None:
    """32 records of 2 MiB (a huge text field each), then a good one: each big one is refused
    at its position, only its first MiB read into memory; the good one is imported."""
    opening, closing, sample = XML[adapter]
    good = record(sample)
    first_text = good.index(b">", good.index(b"<", good.index(b">") + 1) + 1) + 1
    big = good[:first_text] + b"z" * (2 * MIB) + good[first_text:]
    status, output, cost = reading_cost(
        cli_env, tmp_path, adapter, opening + big * 32 + good + closing
    )
    assert status == 1, output
    # (the good record was imported before, by the measure of a good file's cost)
    assert "33 records: 0 imported, 1 unchanged, 32 refused" in output
    assert "record 1 (" in output and "a record over 1048576 bytes" in output
    assert cost < READING_BUDGET_MIB, (cost, output)


@pytest.mark.parametrize("adapter", ["ru-bureau", "cn-public-credit"])
def test_one_huge_ndjson_line_is_refused_by_its_number_in_bounded_memory(
    cli_env: dict[str, str], tmp_path: Path, adapter: str
) -> None:
    """A 64 MiB line is read no further than the 1 MiB record limit (it used to be read whole,
    and end the import); the lines after it are read on."""
    sample = (ADAPTERS / adapter.replace("-", "_") / "samples/bulk.ndjson").read_bytes()
    line = sample.splitlines()[0]
    hostile = b'{"x": "' + b"z" * (64 * MIB) + b'"}\n\n' + line + b"\n"
    status, output, cost = reading_cost(cli_env, tmp_path, adapter, hostile)
    assert status == 1, output
    assert "2 records: 1 imported, 0 unchanged, 1 refused" in output
    assert "record 1 (line 1): line 1: line over 1048576 bytes" in output
    assert cost < READING_BUDGET_MIB, (cost, output)


# -- the reader's other bounds (CSV has no installed format: read through the engine) ---------

CSV_SPEC: dict[str, Any] = {
    "name": "csv-list",
    "version": "0.1.0",
    "format": "csv",
    "columns": ["bin", "name"],
    "constants": {"subject.country": "KZ"},
    "fields": [
        {"canonical": "subject.ids[scheme=KZ_BIN].value", "source": "bin", "required": True},
        {"canonical": "subject.legalName.ru", "source": "name", "required": True},
    ],
}
CSV = Adapter(MappingSpec.from_dict(CSV_SPEC))
BIN = "180440001235"


def peak_while_reading(adapter: Adapter, data: bytes) -> tuple[list[Any], float]:
    """The records read (or the error raised) and the peak MiB allocated while reading."""
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        results: list[Any] = list(adapter.read(stream))
    except AdapterError as exc:
        results = [exc]
    finally:
        peak = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    return results, peak


def test_a_huge_csv_line_or_field_is_refused_in_bounded_memory() -> None:
    for hostile in (
        f"bin,name\n{BIN},".encode() + b"z" * (32 * MIB) + b"\n",  # one huge field
        f"bin,name\n{BIN},A\n".encode() + b"," * (32 * MIB) + b"\n",  # a row of millions of fields
        f'bin,name\n{BIN},"'.encode() + b"z\n" * (16 * MIB) + b'"\n',  # a quoted field, many lines
    ):
        results, peak = peak_while_reading(CSV, hostile)
        assert peak < 16, peak
        last = results[-1]
        error = last if isinstance(last, AdapterError) else last.error
        assert error is not None and error.rule in ("size", "csv"), results
        assert (error.field or "").startswith("line "), error


def test_csv_rows_are_numbered_by_position_and_a_row_that_is_no_record_is_refused() -> None:
    data = f"bin,name\n\n{BIN},A\n{BIN}\n{BIN},B,extra\n{BIN},C\n".encode()
    results = list(CSV.read(io.BytesIO(data)))
    assert [(r.number, r.location, r.error and r.error.rule) for r in results] == [
        (1, "line 3", None),  # the blank line 2 is no row
        (2, "line 4", "csv"),
        (3, "line 5", "csv"),
        (4, "line 6", None),
    ]
    header = ",".join(f"c{n}" for n in range(300)) + "\n"
    with pytest.raises(AdapterError, match="over 256 columns"):
        list(CSV.read(io.BytesIO(header.encode())))


def test_an_xml_record_element_with_too_many_attributes_is_refused_at_its_position() -> None:
    from adapters.kz_bank import adapter

    opening, closing, sample = XML["kz-bank"]
    attributes = " ".join(f'a{n}="x"' for n in range(100))
    crowded = record(sample).replace(b"<kz:Company ", f"<kz:Company {attributes} ".encode(), 1)
    results = list(adapter.read(io.BytesIO(opening + crowded + record(sample) + closing)))
    assert [(r.number, r.error and r.error.rule) for r in results] == [(1, "size"), (2, None)]
    assert results[0].error is not None and "101 attributes" in results[0].error.message


def test_xml_names_tokens_and_depth_that_would_grow_the_parser_end_the_reading() -> None:
    """Each distinct name stays in expat's tables for the whole document, and an unfinished tag
    in its buffer: both are bounded, and so is nesting."""
    from adapters.kz_bank import adapter

    opening, closing, sample = XML["kz-bank"]
    good = record(sample)
    names = b"".join(f"<kz:Company><kz:N{n}/></kz:Company>".encode() for n in range(3000))
    token = b'<kz:Company clientId="' + b"z" * (2 * MIB) + b'"/>'
    deep = b"<kz:Company>" + b"<a>" * 40 + b"</a>" * 40 + b"</kz:Company>"
    for hostile, message in (
        (names, "more than 2000 distinct names"),
        (token, "ends within 1048576 bytes"),
        (deep, "nested more than 32 deep"),
    ):
        results, peak = peak_while_reading(adapter, opening + good + hostile + closing)
        last = results[-1].error
        assert last is not None and message in last.message, results[-1]
        assert results[0].profile is not None  # the record before is read
        assert peak < 16, peak


# -- files that hold no record, or not only records: from outside -----------------------------


@pytest.fixture
def cli(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    return gateway


def import_file(tmp_path: Path, data: bytes, adapter: str) -> Any:
    file = tmp_path / "bulk"
    file.write_bytes(data)
    return runner.invoke(app, ["import", str(file), "--adapter", adapter, "--as", "ru-bureau"])


GLEIF_BULK = (ADAPTERS / "gleif_lei/samples/bulk.xml").read_bytes()
OTHER_NS = "http://www.leiroc.org/data/schema/leidata/2014"

NO_RECORD = [
    ("gleif-lei-cdf", GLEIF_BULK.replace(LEI_NS.encode(), OTHER_NS.encode()),
     f"the document element is {{{OTHER_NS}}}LEIData, not lei:LEIRecord or lei:LEIData"),
    ("kz-bank", GLEIF_BULK,
     f"the document element is {{{LEI_NS}}}LEIData, not kz:Company or kz:Companies"),
    ("gleif-lei-cdf", XML["gleif-lei-cdf"][0] + XML["gleif-lei-cdf"][1],
     "the file holds no gleif-lei-cdf (lei:LEIRecord) record"),
    ("kz-bank", b"", "the document is empty"),
    ("customs-aeo-list", XML["customs-aeo-list"][0] + b"<!-- none today -->" + XML["customs-aeo-list"][1],
     "the file holds no customs-aeo-list (aeo:Operator) record"),
    ("gleif-lei-cdf", b"", "the document is empty"),
    ("ru-bureau", b"", "the file holds no ru-bureau (NDJSON line) record"),
    ("cn-public-credit", b"\n \n", "the file holds no cn-public-credit (NDJSON line) record"),
]  # fmt: skip


@pytest.mark.parametrize(("adapter", "data", "message"), NO_RECORD)
def test_a_file_with_no_record_is_refused_at_the_command_line(
    cli: Gateway, tmp_path: Path, adapter: str, data: bytes, message: str
) -> None:
    """It used to "succeed" as 0 records, exit 0."""
    result = import_file(tmp_path, data, adapter)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert versions(cli.db) == 0


@pytest.mark.parametrize(("adapter", "data", "message"), NO_RECORD)
def test_a_body_with_no_record_is_refused_over_rest(
    gateway: Gateway,
    partners: dict[str, TestPartner],
    adapter: str,
    data: bytes,
    message: str,
) -> None:
    """It used to answer 200 {}."""
    rest = RestClient(gateway, partners)
    try:
        response = rest.request(
            "POST", "/v1/profiles:import", params={"format": adapter}, content=data,
            session=rest.sessions.of("ru-bureau"),
        )  # fmt: skip
        outcome = rest._outcome(response)
    finally:
        rest.close()
    assert (outcome.status, outcome.problem) == (400, "invalid-record"), outcome
    assert message in outcome.detail
    assert versions(gateway.db) == 0


def test_a_record_in_another_namespace_is_refused_and_numbers_are_positions(
    cli: Gateway, tmp_path: Path
) -> None:
    """Of three records, the second in another namespace: it is refused at position 2 and the
    third keeps its number, so its error names it (it used to import 2, refuse none, and call
    the third record 2)."""
    opening, closing, sample = XML["gleif-lei-cdf"]
    good = record(sample)
    other = good.replace(LEI_NS.encode(), OTHER_NS.encode())
    bad_lei = good.replace(b"253400RUB9T2KXQM4Z70", b"253400RUB9T2KXQM4Z71")
    result = import_file(tmp_path, opening + good + other + bad_lei + closing, "gleif-lei-cdf")
    assert result.exit_code == 1, result.output
    assert "3 records: 1 imported, 0 unchanged, 2 refused" in result.output
    assert f"record 2 (/{{{OTHER_NS}}}LEIRecord[2]): /{{{OTHER_NS}}}LEIRecord[2]: line " in (
        result.output
    )
    assert f"{{{OTHER_NS}}}LEIRecord is not a lei:LEIRecord record" in result.output
    assert "record 3 (/lei:LEIRecord[3]): /lei:LEIRecord[3]/lei:LEI: LEI has check digits" in (
        result.output
    )
    assert versions(cli.db) == 1


def test_what_the_format_sets_beside_records_is_ignored_and_anything_else_refused(
    cli: Gateway, tmp_path: Path
) -> None:
    """kz-bank: comments and processing instructions are no content; a record wrapped in an
    element that is no record is refused with it (it used to be read wherever it was)."""
    opening, closing, sample = XML["kz-bank"]
    good = record(sample)
    wrapped = b"<kz:Group>" + good.replace(b"110340001239", b"081140003669") + b"</kz:Group>"
    data = opening + b"<!-- exported -->" + good + b"<?keep going?>" + wrapped + closing
    result = import_file(tmp_path, data, "kz-bank")
    assert result.exit_code == 1, result.output
    assert "2 records: 1 imported, 0 unchanged, 1 refused" in result.output
    assert "record 2 (/kz:Group[2])" in result.output
    assert versions(cli.db) == 1


def test_text_outside_the_records_ends_the_reading_where_it_is(
    cli: Gateway, tmp_path: Path
) -> None:
    opening, closing, sample = XML["customs-aeo-list"]
    data = opening + record(sample) + b"stray text" + closing
    result = import_file(tmp_path, data, "customs-aeo-list")
    assert result.exit_code == 1, result.output
    assert "2 records: 1 imported, 0 unchanged, 1 refused" in result.output
    assert "record 2 (line 19: /aeo:FullList): line 19: /aeo:FullList: text outside any" in (
        result.output
    )


def test_an_import_limit_of_one_request_is_still_the_bound_on_the_body(
    settings: Settings, partners: dict[str, TestPartner]
) -> None:
    """The hostile flood over REST, on a gateway with a small import limit: refused with 400 (a
    body that holds no record), never 200 {}."""
    small = Gateway(dataclasses.replace(settings, max_import_bytes=8 * MIB))
    PartnerAdmin(small.db).import_files(settings.partners_dir)
    small.start()
    rest = RestClient(small, partners)
    opening, closing, _ = XML["kz-bank"]
    try:
        response = rest.request(
            "POST", "/v1/profiles:import", params={"format": "kz-bank"},
            content=opening + b"<j/>" * (MIB) + closing, session=rest.sessions.of("ru-bureau"),
        )  # fmt: skip
        outcome = rest._outcome(response)
    finally:
        rest.close()
        small.stop()
    assert (outcome.status, outcome.problem) == (400, "invalid-record"), outcome
    assert "not a file of this format" in outcome.detail
