"""Bulk import (issue 5): records per second and peak memory for a GLEIF LEI-CDF file and an
AEO full list, against a bare SQLAlchemy bulk insert of the same rows in the same run.

    .venv/bin/python bench/bench_import.py                 # 100,000 records per format (~minutes)
    .venv/bin/python bench/bench_import.py --records 5000  # smaller

Each measurement runs in a process of its own (``_import_work.py``), on a fresh SQLite file
(WAL, synchronous=FULL, as the gateway configures it), so its peak memory (ru_maxrss) is its own:
- ``gateway``: ``ProfileExchange.import_records`` with the format's adapter, as ``cxg import``
  runs it (streaming parse, mapping, validation, a gateway signature per version, batches of 500);
- ``bare``: the same file's records, parsed beforehand (not timed), inserted with SQLAlchemy Core
  ``insert()`` executemany in batches of 500, one commit per batch: the floor for storing rows.
The file is generated at ``--records`` and at a quarter of it, so that peak memory can be seen
to stay flat as the file grows (streaming). The ratio gateway/bare of records per second is the
figure the issue asks for (target at least 0.3). Measures; never asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    work = HERE / "_import_work.py"
    with tempfile.TemporaryDirectory(prefix="cxg-bench-import-") as tmp:
        rows = []
        for fmt in ("gleif-lei-cdf", "customs-aeo-list"):
            for count in (args.records // 4, args.records):
                file = Path(tmp) / f"{fmt}-{count}.xml"
                subprocess.run(
                    [sys.executable, work, "generate", fmt, str(count), file], check=True
                )
                for mode in ("bare", "gateway"):
                    out = subprocess.run(
                        [sys.executable, work, mode, fmt, file, Path(tmp) / f"{mode}-{fmt}-{count}.db"],
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    rows.append(json.loads(out.stdout.splitlines()[-1]))
                    r = rows[-1]
                    print(
                        f"{fmt:18} {count:>8,} records  {mode:8} {r['per_second']:>9,.0f} rec/s"
                        f"  peak {r['peak_mib']:>6.0f} MiB  imported {r['stored']:,}",
                        flush=True,
                    )
        print("\nratio gateway/bare (records per second, same file, same run; target >= 0.3):")
        for fmt in ("gleif-lei-cdf", "customs-aeo-list"):
            for count in (args.records // 4, args.records):
                bare, gw = (next(r for r in rows if r["format"] == fmt and r["records"] == count and r["mode"] == m) for m in ("bare", "gateway"))  # fmt: skip
                print(f"  {fmt:18} {count:>8,}: {gw['per_second'] / bare['per_second']:.3f}")


if __name__ == "__main__":
    main()
