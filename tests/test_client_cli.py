"""``cxg client`` against a running gateway: it finds the gateway through the same CXG_* settings
as the server, publishes the shipped sample, and its ``token`` and ``dpop`` make the README's
curl one-liner work, and a gRPC call by an independent client that knows the API only through
server reflection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from gateway.config import Settings
from gateway.transport.serve import Gateway
from tests.support import TestPartner

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "clients" / "python" / "examples" / "profile.json"
Partners = dict[str, TestPartner]


@pytest.fixture
def env(
    gateway: Gateway, settings: Settings, partners: Partners, tmp_path: Path
) -> Iterator[dict[str, str]]:
    private = settings.keys_dir / "private"
    private.mkdir(parents=True, exist_ok=True)
    for partner in partners.values():
        (private / f"{partner.id}.pem").write_bytes(partner.key.private_pem())
    yield {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CXG_KEYS_DIR": str(settings.keys_dir),
        "CXG_REST_PORT": str(gateway.rest_port),
        "CXG_GRPC_PORT": str(gateway.grpc_port),
        "CXG_CLIENT_DIR": str(tmp_path / "client-state"),
        "CXG_PARTNER": "kz-bank",
    }


def cxg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "client", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_finds_the_gateway_through_the_servers_settings(env: dict[str, str]) -> None:
    """No --rest, no --grpc: CXG_REST_PORT and CXG_GRPC_PORT say where the gateway is."""
    published = cxg(env, "publish", str(SAMPLE))
    assert published.returncode == 0, published.stderr
    receipt = json.loads(published.stdout)
    assert receipt["publisher"] == "kz-bank" and receipt["version"] == "1"
    fetched = cxg(env, "get", "KZ_BIN", "180440001235", "--purpose", "trade_due_diligence")
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["name"] == receipt["profileName"]
    grpc_target = f"127.0.0.1:{env['CXG_GRPC_PORT']}"
    over_grpc = cxg(
        env,
        "get",
        "KZ_BIN",
        "180440001235",
        "--purpose",
        "trade_due_diligence",
        "--grpc",
        grpc_target,
    )
    assert over_grpc.returncode == 0 and json.loads(over_grpc.stdout) == json.loads(fetched.stdout)
    elsewhere = cxg(
        {**env, "CXG_REST_PORT": "9"}, "get", "KZ_BIN", "180440001235", "--purpose", "x"
    )
    assert elsewhere.returncode == 1 and "127.0.0.1:9" in elsewhere.stderr
    refused = cxg(env, "get", "KZ_BIN", "180440001235", "--purpose", "credit_reporting")
    assert refused.returncode == 1 and "permission-denied" in refused.stderr


def test_token_and_dpop_make_curl_a_one_liner(env: dict[str, str]) -> None:
    assert cxg(env, "publish", str(SAMPLE)).returncode == 0
    url = (
        f"http://127.0.0.1:{env['CXG_REST_PORT']}/v1/profiles:lookup"
        "?scheme=KZ_BIN&value=180440001235&purpose=trade_due_diligence"
    )
    one_liner = (
        'curl -sS --fail-with-body -H "Authorization: DPoP $(cxg client token)"'
        ' -H "DPoP: $(cxg client dpop GET "$URL")" "$URL"'
    )
    for _ in range(2):  # the second time with the kept token, and a new proof
        answer = subprocess.run(
            ["bash", "-c", one_liner],
            env={**env, "URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert json.loads(answer.stdout)["profile"]["subject"]["ids"][0]["value"] == "180440001235"
    state = Path(env["CXG_CLIENT_DIR"])
    assert {p.name: p.stat().st_mode & 0o777 for p in state.iterdir()} == {
        "kz-bank.json": 0o600,
        "kz-bank-dpop.pem": 0o600,
    }
    replayed = subprocess.run(  # a proof is good for one request
        [
            "bash",
            "-c",
            'P="$(cxg client dpop GET "$URL")"; T="$(cxg client token)";'
            ' for i in 1 2; do curl -s -o /dev/null -w "%{http_code} "'
            ' -H "Authorization: DPoP $T" -H "DPoP: $P" "$URL"; done',
        ],
        env={**env, "URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.stdout.split() == ["200", "401"], replayed.stdout + replayed.stderr


def test_token_and_dpop_for_a_grpc_call_through_reflection(env: dict[str, str]) -> None:
    """What grpcurl does with the README's one-liner: the API from server reflection only (no
    generated code), the token and proof from the CLI, the proof's htu naming the RPC."""
    assert cxg(env, "publish", str(SAMPLE)).returncode == 0
    token = cxg(env, "token")
    proof = cxg(env, "dpop", "POST", "cxg.v1.ProfileService/SearchProfiles")
    assert token.returncode == proof.returncode == 0, token.stderr + proof.stderr
    with grpc.insecure_channel(f"127.0.0.1:{env['CXG_GRPC_PORT']}") as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        service = pool.FindServiceByName("cxg.v1.ProfileService")  # asks the server
        method = service.methods_by_name["SearchProfiles"]
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            "/cxg.v1.ProfileService/SearchProfiles",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        request = json_format.Parse('{"country": "KZ"}', request_type())
        answer = call(
            request,
            timeout=30,
            metadata=(
                ("authorization", f"DPoP {token.stdout.strip()}"),
                ("dpop", proof.stdout.strip()),
            ),
        )
    found = json_format.MessageToDict(answer)
    assert [r["ids"][0]["value"] for r in found["results"]] == ["180440001235"]


def test_dpop_without_a_kept_token_says_what_to_do(env: dict[str, str]) -> None:
    refused = cxg(env, "dpop", "GET", "http://127.0.0.1/v1/profiles:search")
    assert refused.returncode == 1 and "cxg client token" in refused.stderr
