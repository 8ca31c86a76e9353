"""Interop: a client generated from proto/ by someone else's tooling fetches a profile over gRPC.

The client is tests/interop/node/get_profile.js: Node.js with the official @grpc/grpc-js and
@grpc/proto-loader, which parse proto/cxg/v1/*.proto at run time. Neither our generated Python
code nor protoc is involved, so these tests catch .proto files other toolchains cannot load and
wire encodings only our own stubs accept.

Node.js is required: without ``node`` on PATH the tests fail, saying what to install (.ci/run
installs it when missing). node_modules is installed once per session with ``npm ci`` from
the committed package-lock.json when it is missing or stale.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest

from gateway.transport.serve import Gateway
from tests.clients import DEFAULT_PURPOSE, Session
from tests.support import LEI, USCC, USCC_2, TestPartner, missing_tool, profile, publish

NODE_DIR = Path(__file__).parent / "interop" / "node"
CLIENT = NODE_DIR / "get_profile.js"
NPM_CI_TIMEOUT = 180
CLIENT_TIMEOUT = 30  # the client's own gRPC deadline is 10 s
COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


GET_PROFILE = "/cxg.v1.ProfileService/GetProfile"


@dataclass(frozen=True)
class NodeClient:
    node: str

    def get_profile(
        self, port: int, scheme: str, value: str, session: Session | None = None
    ) -> tuple[int, dict[str, Any], str]:
        """Run the client as ``session``'s partner (anonymously without one); returns (exit
        code, stdout parsed as JSON, stderr). The token and this call's DPoP proof are made in
        Python (with jwcrypto); the Node client sends them as gRPC metadata."""
        # A proxy in the environment would capture a loopback gRPC call in grpc-js.
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in {"grpc_proxy", "https_proxy", "http_proxy"}
            and not k.startswith("CXG_")
        }
        if session is not None:
            metadata = dict(session.grpc_metadata(GET_PROFILE))
            env |= {
                "CXG_AUTHORIZATION": metadata["authorization"],
                "CXG_DPOP": metadata["dpop"],
                "CXG_PURPOSE": DEFAULT_PURPOSE,
            }
        done = subprocess.run(
            [self.node, str(CLIENT), f"127.0.0.1:{port}", scheme, value],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
        try:
            output = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(
                f"node client exited {done.returncode} without JSON on stdout\n"
                f"stdout: {done.stdout!r}\nstderr: {done.stderr}",
                pytrace=False,
            )
        return done.returncode, output, done.stderr


def _unavailable(message: str) -> NoReturn:
    missing_tool(message, "Node.js >= 18 and npm (Debian: apt-get install nodejs npm)")


def _installed_matches_pins() -> bool:
    """True when node_modules holds exactly the versions package.json pins."""
    pins: dict[str, str] = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


@pytest.fixture(scope="session")
def node_client() -> NodeClient:
    node = shutil.which("node")
    if node is None:
        _unavailable("`node` is not on PATH")
    if not _installed_matches_pins():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable(f"`npm` is not on PATH and {NODE_DIR / 'node_modules'} is missing")
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`npm ci` in {NODE_DIR} took longer than {NPM_CI_TIMEOUT} s", pytrace=False
            )
        if done.returncode != 0 or not _installed_matches_pins():
            pytest.fail(
                f"`npm ci` in {NODE_DIR} failed (exit {done.returncode})\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
    return NodeClient(node)


@pytest.fixture
def published(gateway: Gateway, partners: dict[str, TestPartner]) -> str:
    """Publishes the sample profile; returns its resource name."""
    receipt = publish(gateway.exchange, partners["cn-customs"], profile())
    assert receipt.version == 1
    return receipt.profile_name


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _as_proto3_json(value: Any) -> Any:
    """proto-loader's keepCase output with field names turned into proto3 JSON (lowerCamelCase)."""
    if isinstance(value, dict):
        return {_camel(k): _as_proto3_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_proto3_json(v) for v in value]
    return value


def _timestamp(value: dict[str, Any]) -> datetime:
    """A google.protobuf.Timestamp as proto-loader gives it ({seconds: "…", nanos: n})."""
    whole = datetime.fromtimestamp(int(value.get("seconds", "0")), UTC)
    return whole + timedelta(microseconds=int(value.get("nanos", 0)) // 1000)


@pytest.fixture
def bureau(gateway: Gateway, partners: dict[str, TestPartner]) -> Session:
    return Session(gateway, partners["ru-bureau"])


def test_node_client_fetches_signed_profile(
    gateway: Gateway, node_client: NodeClient, published: str, bureau: Session
) -> None:
    code, response, stderr = node_client.get_profile(gateway.grpc_port, "CN_USCC", USCC, bureau)
    assert code == 0, f"node client failed: {response} {stderr}"

    jws = response["jws"]
    assert COMPACT_JWS.match(jws), jws
    header = json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))
    assert header["typ"] == "cxg-profile+jws"
    signed = json.loads(base64.urlsafe_b64decode(jws.split(".")[1] + "=="))

    got = response["profile"]
    assert got["name"] == published
    assert got["name"].startswith("profiles/")
    assert got["version"] == "1"  # int64 as a string (longs: String)
    ids = {(i["scheme"], i["value"]) for i in got["subject"]["ids"]}
    assert {("CN_USCC", USCC), ("LEI", LEI)} <= ids
    assert got["subject"]["status"] == "ENTITY_STATUS_ACTIVE"  # enums: String
    assert got["provenance"]["source_institution"] == "cn-customs"

    # The decoded profile and the signed payload are the same profile. keepCase gives the .proto
    # names (legal_name) where the payload has proto3 JSON names (legalName).
    assert got["name"] == signed["name"]
    assert got["version"] == signed["version"]
    assert got["subject"]["ids"] == signed["subject"]["ids"]
    assert got["subject"]["legal_name"] == signed["subject"]["legalName"]
    assert _as_proto3_json(got["subject"]) == signed["subject"]
    assert _as_proto3_json(got["ratings"]) == signed["ratings"]
    assert _as_proto3_json(got["aeo"]) == signed["aeo"]
    signed_from = datetime.fromisoformat(signed["validFrom"])  # RFC 3339; "Z" is fine on 3.11+
    assert _timestamp(got["valid_from"]) == signed_from


def test_node_client_unknown_identifier_is_not_found(
    gateway: Gateway, node_client: NodeClient, published: str, bureau: Session
) -> None:
    code, response, stderr = node_client.get_profile(gateway.grpc_port, "CN_USCC", USCC_2, bureau)
    assert code == 2, f"expected a gRPC error, got exit {code}: {response} {stderr}"
    assert response["code"] == 5, response  # NOT_FOUND


def test_node_client_bad_check_character_is_invalid_argument(
    gateway: Gateway, node_client: NodeClient, bureau: Session
) -> None:
    wrong = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
    code, response, stderr = node_client.get_profile(gateway.grpc_port, "CN_USCC", wrong, bureau)
    assert code == 2, f"expected a gRPC error, got exit {code}: {response} {stderr}"
    assert response["code"] == 3, response  # INVALID_ARGUMENT
    assert "check character" in response["details"], response


def test_node_client_without_a_token_is_unauthenticated(
    gateway: Gateway, node_client: NodeClient, published: str
) -> None:
    code, response, stderr = node_client.get_profile(gateway.grpc_port, "CN_USCC", USCC)
    assert code == 2, f"expected a gRPC error, got exit {code}: {response} {stderr}"
    assert response["code"] == 16, response  # UNAUTHENTICATED
