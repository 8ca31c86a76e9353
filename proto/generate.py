"""Regenerate the Python protobuf/gRPC code in gateway/schema/ from proto/.

    python proto/generate.py            # write gateway/schema/
    python proto/generate.py --out DIR  # write elsewhere (the staleness test compares the two)

protoc writes absolute imports (``from cxg.v1 import profile_pb2``); they are rewritten to
live under ``gateway.schema`` so the generated code needs no sys.path tricks.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
DEFAULT_OUT = ROOT / "gateway" / "schema"
PACKAGE = "gateway.schema"
DESCRIPTOR_SET = "cxg.binpb"

_IMPORT = re.compile(r"^from cxg\.(\S+) import", re.MULTILINE)
_SERVICER = re.compile(r"(class \w+Servicer\b|def add_\w+Servicer_to_server\b)")


def generate(out: Path) -> list[Path]:
    sources = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
    out.mkdir(parents=True, exist_ok=True)
    # google/protobuf/*.proto as shipped with grpcio-tools
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            # Kept with comments: the REST OpenAPI document takes its field descriptions from it.
            f"--descriptor_set_out={out / DESCRIPTOR_SET}",
            "--include_source_info",
            *sources,
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    written = sorted(p for p in out.rglob("*.py*") if p.suffix in {".py", ".pyi"})
    for path in written:
        text = _IMPORT.sub(rf"from {PACKAGE}.cxg.\1 import", path.read_text())
        if path.name.endswith("_pb2_grpc.py"):
            text = _without_servicers(text)
        path.write_text(text)
    for package in {p.parent for p in written} | {out}:
        (package / "__init__.py").touch()
        for parent in package.relative_to(out).parents:
            (out / parent / "__init__.py").touch()
    return written


def _without_servicers(text: str) -> str:
    """Drop protoc's servicer base classes and their ``add_*_to_server`` functions: every method
    of theirs raises NotImplementedError, and the gateway serves each RPC through its own generic
    handler (gateway/transport/grpc_server.py, where a test checks every RPC is served). The
    stubs that clients use stay."""
    blocks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if not blocks or (line.strip() and not line[0].isspace()):
            blocks.append([])
        blocks[-1].append(line)
    kept = [b for b in blocks if not _SERVICER.match(b[0])]
    return "".join(line for block in kept for line in block)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    print(DESCRIPTOR_SET)


if __name__ == "__main__":
    main(sys.argv[1:])
