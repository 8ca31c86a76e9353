"""Bulk import (issue 14): peak memory of ``cxg import`` on hostile files, per format and file
size, to show that it does not grow with the file.

    .venv/bin/python bench/bench_import_memory.py               # files of 10 and 200 MiB (~2 min)
    .venv/bin/python bench/bench_import_memory.py --sizes 1,10  # quicker

For every installed format and each kind of hostile content, the file is generated in a temp
dir, ``cxg import FILE --adapter FORMAT --as bench-source`` runs in a child process on a fresh
SQLite database, and the child's peak RSS (``ru_maxrss``) is reported with its exit status, its
time and the first refusal it printed. ``baseline`` is the same command on a file of one good
record: what a figure adds to it is what reading the hostile file cost. CSV has no installed
format: its reader runs in a child process through the engine (``gateway.mapping.Adapter`` with
a two-column spec), without a database. Measures; never asserts.

Kinds of content:
- ``not-records``: the records' place filled with elements (XML) or lines (NDJSON, CSV) that are
  not records of the format;
- ``huge-field``: one record whose first text field is the whole file;
- ``huge-line`` (NDJSON, CSV): one line of the file's size;
- ``deep``: elements (XML) or arrays (NDJSON) nested the file's size deep;
- ``header`` (GLEIF): a file header whose extension holds the file in small elements, then one
  record (LEI-CDF lets a header carry any extension: it is read through and skipped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway.audit.entries import Actor, acting_as
from gateway.service import PartnerAdmin
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.trust import Partner

ADAPTERS = Path(__file__).parents[1] / "adapters"
MIB = 1024 * 1024
PARTNER = "bench-source"
LEI_NS = "http://www.gleif.org/data/schema/leidata/2016"
XML = {  # format -> (opening, closing, a good record)
    "kz-bank": (
        b'<kz:Companies xmlns:kz="urn:kz:bank:company:1">', b"</kz:Companies>",
        "kz_bank/samples/akzhol-logistik.xml",
    ),
    "customs-aeo-list": (
        b'<aeo:FullList xmlns:aeo="urn:cxg:aeo-exchange:1" sender="CN" listDate="2026-11-26">',
        b"</aeo:FullList>", "customs_aeo/samples/cn-operator.xml",
    ),
    "gleif-lei-cdf": (
        f'<lei:LEIData xmlns:lei="{LEI_NS}"><lei:LEIHeader>'
        "<lei:ContentDate>2026-11-27T08:00:00Z</lei:ContentDate>"
        "<lei:FileContent>QUERY_RESPONSE</lei:FileContent><lei:RecordCount>1</lei:RecordCount>"
        "</lei:LEIHeader><lei:LEIRecords>".encode(),
        b"</lei:LEIRecords></lei:LEIData>", "gleif_lei/samples/ru_romashka.xml",
    ),
}  # fmt: skip
NDJSON = {
    "ru-bureau": "ru_bureau/samples/romashka.json",
    "cn-public-credit": "cn_public_credit/samples/laoshan_tea.json",
}
CSV_READER = """
import sys
from gateway.errors import AdapterError
from gateway.mapping import Adapter, MappingSpec
spec = {"name": "csv-list", "version": "0", "format": "csv", "columns": ["bin", "name"],
        "constants": {"subject.country": "KZ"},
        "fields": [{"canonical": "subject.ids[scheme=KZ_BIN].value", "source": "bin"},
                   {"canonical": "subject.legalName.ru", "source": "name", "required": True}]}
try:
    for record in Adapter(MappingSpec.from_dict(spec)).read(open(sys.argv[1], "rb")):
        if record.error:
            print(f"record {record.number} ({record.location}): {record.error}")
except AdapterError as exc:
    print(exc)
    sys.exit(1)
"""

Write = Callable[[Callable[[bytes], object], int], None]  # (write, size in bytes)


def record(path: str) -> bytes:
    return (ADAPTERS / path).read_bytes().split(b"?>", 1)[1].strip()


def repeat(write: Callable[[bytes], object], piece: bytes, size: int) -> None:
    block = piece * max(1, MIB // len(piece))
    for _ in range(max(1, size // len(block))):
        write(block)


def xml_cases(fmt: str) -> Iterator[tuple[str, Write]]:
    opening, closing, sample = XML[fmt]
    good = record(sample)
    text_at = good.index(b">", good.index(b"<", good.index(b">") + 1) + 1) + 1

    def wrapped(middle: Write) -> Write:
        return lambda write, size: (write(opening), middle(write, size), write(closing))

    yield "baseline", lambda write, size: write(opening + good + closing)
    yield "not-records", wrapped(lambda write, size: repeat(write, b"<j/>", size))
    yield (
        "huge-field",
        wrapped(
            lambda write, size: (
                write(good[:text_at]),
                repeat(write, b"z", size),
                write(good[text_at:]),
            )
        ),
    )
    yield "deep", wrapped(lambda write, size: repeat(write, b"<a>", size))
    if fmt == "gleif-lei-cdf":
        head, tail = opening.split(b"</lei:LEIHeader>")
        yield (
            "header",
            lambda write, size: (
                write(head + b'<lei:Extension xmlns:x="urn:x">'),
                repeat(write, b"<x:j>" + b"z" * 100 + b"</x:j>", size),
                write(b"</lei:Extension></lei:LEIHeader>" + tail + good + closing),
            ),
        )


def ndjson_cases(fmt: str) -> Iterator[tuple[str, Write]]:
    good = b" ".join((ADAPTERS / NDJSON[fmt]).read_bytes().split())
    yield "baseline", lambda write, size: write(good + b"\n")
    yield "not-records", lambda write, size: repeat(write, b"[]\n", size)
    yield (
        "huge-line",
        lambda write, size: (
            write(good[:-1] + b', "x": "'),
            repeat(write, b"z", size),
            write(b'"}\n' + good + b"\n"),
        ),
    )
    yield "deep", lambda write, size: (repeat(write, b"[", size), write(b"\n" + good + b"\n"))


def csv_cases() -> Iterator[tuple[str, Write]]:
    good = "bin,name\n180440001235,ТОО «Қазақ Өнім»\n".encode()
    yield "baseline", lambda write, size: write(good)
    yield "not-records", lambda write, size: (write(good), repeat(write, b"1,2,3\n", size))
    yield "huge-line", lambda write, size: (write(good), repeat(write, b",", size))
    yield (
        "huge-field",
        lambda write, size: (
            write(good + b'180440001235,"'),
            repeat(write, b"z\n", size),
            write(b'"\n'),
        ),
    )


def run(command: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Exit status, first line of output worth showing, peak RSS (MiB), seconds."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    with child.stdout:
        output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    shown = next((line for line in lines if line.startswith(("record", "Error", "line"))), "")
    shown = shown or next(
        (line for line in lines if "records:" in line), lines[-1] if lines else ""
    )
    return os.waitstatus_to_exitcode(status), shown, usage.ru_maxrss / 1024, seconds


def database(tmp: Path) -> dict[str, str]:
    keys = tmp / "keys"
    KeyRing.init(keys / "gateway")
    url = f"sqlite:///{tmp / 'bench.db'}"
    db = Database.from_url(url)
    db.upgrade()
    with acting_as(Actor("bench:import-memory", "bench")):
        PartnerAdmin(db).register(
            Partner(id=PARTNER, name="Bench source", country="CN", roles=frozenset({"customs"})),
            [SigningKey.generate("EdDSA").public_jwk()],
        )
    db.dispose()
    return os.environ | {"CXG_DATABASE_URL": url, "CXG_KEYS_DIR": str(keys)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,200", help="file sizes in MiB (default 10,200)")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="cxg-bench-memory-") as name:
        tmp = Path(name)
        env = database(tmp)
        plans: list[tuple[str, str, Write]] = [
            *((fmt, kind, w) for fmt in XML for kind, w in xml_cases(fmt)),
            *((fmt, kind, w) for fmt in NDJSON for kind, w in ndjson_cases(fmt)),
            *(("csv (reader)", kind, w) for kind, w in csv_cases()),
        ]
        print(
            f"{'format':18} {'content':12} {'file':>8} {'peak RSS':>9} {'exit':>4} {'time':>7}  first refusal"
        )
        for fmt, kind, write_file in plans:
            for size in [0] if kind == "baseline" else sizes:
                file = tmp / "hostile"
                with file.open("wb") as out:
                    write_file(out.write, size * MIB)
                if fmt.startswith("csv"):
                    command = [sys.executable, "-c", CSV_READER, str(file)]
                else:
                    command = [sys.executable, "-m", "gateway.cli", "import", str(file),
                               "--adapter", fmt, "--as", PARTNER]  # fmt: skip
                megabytes = file.stat().st_size / MIB
                status, shown, peak, seconds = run(command, env)
                file.unlink()
                print(f"{fmt:18} {kind:12} {megabytes:>5.1f} MiB {peak:>5.0f} MiB {status:>4} "
                      f"{seconds:>6.1f}s  {shown[:110]}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
