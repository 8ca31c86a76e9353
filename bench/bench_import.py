"""Bulk import (issues 5 and 20): records per second and peak memory of the gateway's import of a
GLEIF LEI-CDF file and an AEO full list, against the minimum pipeline of the same file in the
same run (and a bare SQLAlchemy bulk insert, the floor for storing rows).

    .venv/bin/python bench/bench_import.py                        # 100,000 records per format (~minutes)
    .venv/bin/python bench/bench_import.py --records 5000         # smaller
    .venv/bin/python bench/bench_import.py --records 5000 --json  # last line: the figures as JSON

Each measurement runs in a process of its own (``_import_work.py``), on a fresh SQLite file
(WAL, synchronous=FULL, as the gateway configures it), so its peak memory (ru_maxrss) is its own:
- ``gateway``: ``ProfileExchange.import_records`` with the format's adapter, as ``cxg import``
  runs it (streaming parse, mapping, validation, XSD check, a gateway signature per version,
  batches of 500);
- ``minimum``: the least a record must go through, in one process: lxml ``iterparse`` of the same
  file (entities, network, huge trees off), the record's identifying fields extracted, one
  Ed25519 signature per record over them, executemany of one row per record, a commit per 500;
- ``bare``: the same file's records, parsed beforehand (not timed), inserted with SQLAlchemy Core
  ``insert()`` executemany in batches of 500, one commit per batch: the floor for storing rows.
The file is generated at ``--records`` and at a quarter of it, so that peak memory can be seen
to stay flat as the file grows (streaming). The ratio gateway/minimum of records per second is
the figure issue 20 asks for (target at least 0.5). Measures; never asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
FORMATS = ("gleif-lei-cdf", "customs-aeo-list")
MODES = ("bare", "minimum", "gateway")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object, last line"
    )
    args = parser.parse_args()
    work = HERE / "_import_work.py"
    sizes = (args.records // 4, args.records)
    with tempfile.TemporaryDirectory(prefix="cxg-bench-import-") as tmp:
        rows = []
        for fmt in FORMATS:
            for count in sizes:
                file = Path(tmp) / f"{fmt}-{count}.xml"
                subprocess.run(
                    [sys.executable, work, "generate", fmt, str(count), file], check=True
                )
                for mode in MODES:
                    database = Path(tmp) / f"{mode}-{fmt}-{count}.db"
                    out = subprocess.run(
                        [sys.executable, work, mode, fmt, file, database],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    rows.append(json.loads(out.stdout.splitlines()[-1]))
                    r = rows[-1]
                    print(
                        f"{fmt:18} {count:>8,} records  {mode:8} {r['per_second']:>9,.0f} rec/s"
                        f"  peak {r['peak_mib']:>6.0f} MiB  imported {r['stored']:,}",
                        flush=True,
                    )

        def of(fmt: str, count: int, mode: str) -> dict[str, float]:
            wanted = (fmt, count, mode)
            return next(r for r in rows if (r["format"], r["records"], r["mode"]) == wanted)

        figures = []
        print(
            "\nratios of records per second (same file, same run; target gateway/minimum >= 0.5):"
        )
        for fmt in FORMATS:
            for count in sizes:
                gw, minimum = of(fmt, count, "gateway"), of(fmt, count, "minimum")
                bare = of(fmt, count, "bare")
                figure = {
                    "format": fmt,
                    "records": count,
                    "gateway_per_second": round(gw["per_second"]),
                    "minimum_per_second": round(minimum["per_second"]),
                    "bare_per_second": round(bare["per_second"]),
                    "ratio": round(gw["per_second"] / minimum["per_second"], 3),
                    "ratio_bare": round(gw["per_second"] / bare["per_second"], 4),
                    "gateway_peak_mib": round(gw["peak_mib"]),
                    "minimum_peak_mib": round(minimum["peak_mib"]),
                }
                figures.append(figure)
                print(
                    f"  {fmt:18} {count:>8,}: gateway/minimum {figure['ratio']:.3f}"
                    f"  gateway/bare {figure['ratio_bare']:.4f}"
                )
        if args.json:
            print(json.dumps({"bench": "import", "figures": figures}))


if __name__ == "__main__":
    main()
