"""Regenerate the protobuf/gRPC stubs the SDK ships (src/cxg_client/_schema/) from ../../proto/.

    python clients/python/generate_stubs.py            # write src/cxg_client/_schema/
    python clients/python/generate_stubs.py --out DIR  # write elsewhere (the staleness test compares)

The copy is committed so that the distribution builds from this folder alone; protoc's absolute
imports (``from cxg.v1 import ...``) are rewritten to live under ``cxg_client._schema``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "proto"
DEFAULT_OUT = HERE / "src" / "cxg_client" / "_schema"
PACKAGE = "cxg_client._schema"

_IMPORT = re.compile(r"^from cxg\.(\S+) import", re.MULTILINE)


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # a build-time tool, not a dependency of the SDK

    sources = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *sources,
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    written = sorted(p for p in out.rglob("*.py*") if p.suffix in {".py", ".pyi"})
    for path in written:
        path.write_text(_IMPORT.sub(rf"from {PACKAGE}.cxg.\1 import", path.read_text()))
    for package in {p.parent for p in written} | {out}:
        (package / "__init__.py").touch()
        for parent in package.relative_to(out).parents:
            (out / parent / "__init__.py").touch()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))


if __name__ == "__main__":
    main(sys.argv[1:])
