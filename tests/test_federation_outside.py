"""Federation from outside: two real ``cxg serve`` processes, the operator's ``cxg peers``
commands, and the schedule that follows and witnesses a peer as shipped."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.audit import note
from tests.audit_load import gateway_env, gateways, seed
from tests.support import TestPartner


def cxg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "peers", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def node_env(
    tmp_path: Path, name: str, country: str, partners: dict[str, TestPartner]
) -> dict[str, str]:
    env = gateway_env(f"sqlite:///{tmp_path / name}.db", tmp_path / name, checkpoint_seconds=0.2)
    env |= {
        "CXG_GATEWAY_ID": f"cxg.{name}.dev",
        "CXG_COUNTRY": country,
        "CXG_FEDERATION_ALLOW_HTTP": "yes",
        "CXG_FEDERATION_REFRESH_SECONDS": "0.3",
        "CXG_FEDERATION_TIMEOUT_SECONDS": "2",
    }
    seed(env, partners)
    return env


def test_a_served_gateway_follows_and_witnesses_the_peer_an_operator_registered(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    cn_env = node_env(tmp_path, "qingdao", "CN", partners)
    kz_env = node_env(tmp_path, "astana", "KZ", partners)
    with gateways(tmp_path) as running:
        cn, kz = running.start("cn", cn_env), running.start("kz", kz_env)
        # Astana's operator hands its JWKS to Qingdao's, who pins it.
        jwks = tmp_path / "kz-jwks.json"
        jwks.write_text(httpx.get(f"{kz.base}/.well-known/jwks.json", timeout=10).text)
        leaked = tmp_path / "leaked.json"
        leaked.write_text(
            json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "", "d": ""}]})
        )
        options = [
            "--gateway",
            "cxg.astana.dev",
            "--url",
            kz.base,
            "--name",
            "KZ",
            "--country",
            "KZ",
        ]
        refused = cxg(cn_env, "add", "kz-gateway", *options, "--jwks", str(leaked))
        assert refused.returncode == 2 and "private key" in refused.stderr, refused.stderr
        added = cxg(cn_env, "add", "kz-gateway", *options, "--jwks", str(jwks))
        assert added.returncode == 0, added.stderr
        assert "registered peer kz-gateway (cxg.astana.dev)" in added.stdout

        # The running Qingdao gateway picks the peer up on its schedule: nothing to restart.
        deadline = time.monotonic() + 30
        while (
            answer := httpx.get(f"{cn.base}/v1/peers/kz-gateway/checkpoint", timeout=10)
        ).status_code != 200:
            assert time.monotonic() < deadline, cn.output()[-3000:]
            time.sleep(0.1)
        kz_document = httpx.get(f"{kz.base}/.well-known/cxg-federation", timeout=10)
        assert kz_document.headers["content-type"] == "application/jose+json"
        kz_key = json.loads(document_payload(kz_document.json()))["checkpointKey"]
        cn_key = json.loads(
            document_payload(httpx.get(f"{cn.base}/.well-known/cxg-federation").json())
        )["checkpointKey"]
        assert len(note.verify_note(answer.json()["note"], [kz_key, cn_key])) == 2
        listed = cxg(cn_env, "list")
        assert "kz-gateway  cxg.astana.dev" in listed.stdout and "size " in listed.stdout

        # Astana stops: a refresh from the command line fails, naming the peer, exit status 1.
        kz.stop()
        failed = cxg(cn_env, "refresh", "kz-gateway")
        assert failed.returncode == 1, failed.stdout
        assert (
            "kz-gateway: FAILED: document: peer 'kz-gateway' could not be reached" in failed.stdout
        )
        assert "no alarms" in cxg(cn_env, "alarms").stdout
        assert "could not be reached" in cxg(cn_env, "list").stdout


def document_payload(document: dict[str, str]) -> bytes:
    payload = document["payload"]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (the demo numbers its three
    gateways' ports from a base)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise AssertionError("no free consecutive ports")


def test_the_three_gateway_demo_verifies_each_countrys_code_in_qingdao(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXG_")}
    env |= {
        "CXG_REST_PORT": str(consecutive_free_ports(3)),
        "CXG_GRPC_PORT": str(consecutive_free_ports(3)),
        "CXG_METRICS_PORT": "0",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo-federation", "--no-serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    for gateway in ("qingdao", "astana", "moscow"):
        assert f"a code issued by cxg.{gateway}.dev, checked in Qingdao: VALID" in demo.stdout
        assert (tmp_path / "federation-demo" / gateway / "cxg.db").exists()
