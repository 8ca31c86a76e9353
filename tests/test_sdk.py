"""The partner SDK (clients/python, ``cxg_client``) against a running gateway: every profile
operation and a sample of the others on both transports, the verification of signed answers
(a rotated gateway key included), idempotent publishes, typed errors, retries, DPoP nonces, and
the SDK's own packaging (its stubs current, its public surface, ``python -m build``)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cxg_client
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cxg_client import (
    Client,
    Conflict,
    DpopKey,
    InvalidIdentifier,
    JwksCache,
    NotFound,
    PartnerKey,
    PermissionDenied,
    QuotaExceeded,
    RetryPolicy,
    Unavailable,
    VerificationError,
)

from gateway.config import Settings
from gateway.service import PartnerAdmin
from gateway.signing import KeyRing
from gateway.transport.serve import Gateway
from tests.support import USCC, TestPartner, profile

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "clients" / "python"
Partners = dict[str, TestPartner]


def sdk_client(
    gateway: Gateway, settings: Settings, partner: TestPartner, transport: str = "rest", **kw: Any
) -> Client:
    return Client(
        PartnerKey(partner.id, partner.key.private_key),  # type: ignore[arg-type]
        gateway_id=settings.gateway_id,
        rest_url=f"http://127.0.0.1:{gateway.rest_port}",
        grpc_target=f"127.0.0.1:{gateway.grpc_port}",
        transport=transport,  # type: ignore[arg-type]
        **kw,
    )


@pytest.fixture(params=["rest", "grpc"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def as_partner(
    gateway: Gateway, settings: Settings, partners: Partners, transport: str
) -> Iterator[Any]:
    made: list[Client] = []

    def make(partner_id: str, **kw: Any) -> Client:
        made.append(sdk_client(gateway, settings, partners[partner_id], transport, **kw))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_every_profile_operation(as_partner: Any, transport: str) -> None:
    customs, bureau = as_partner("cn-customs"), as_partner("ru-bureau")
    receipt = customs.publish_profile(profile())
    assert (receipt.version, receipt.publisher) == (1, "cn-customs")
    by_id = bureau.get_profile(scheme="CN_USCC", value=USCC, purpose="credit_reporting")
    assert by_id.header["typ"] == "cxg-profile+jws" and by_id.header["kid"]
    assert by_id.profile["name"] == receipt.profile_name
    assert json.loads(by_id.payload)["subject"] == by_id.profile["subject"]
    by_name = bureau.get_profile(receipt.profile_name, purpose="credit_reporting", version=1)
    assert by_name.payload == by_id.payload
    second = customs.publish_profile(profile(ratings=[{"scheme": "CN_TAX", "grade": "B"}]))
    versions = bureau.list_profile_versions(receipt.profile_name, page_size=1)
    assert [v["version"] for v in versions["versions"]] == [str(second.version)]
    assert versions["nextPageToken"]
    found = bureau.search_profiles(name_prefix="Qingdao", country="CN")
    assert [r["name"] for r in found["results"]] == [receipt.profile_name]
    bulk = (ROOT / "adapters" / "ru_bureau" / "samples" / "bulk.ndjson").read_bytes()
    summary = bureau.import_profiles(bulk, format="ru-bureau")
    counts = [int(summary.get(k, 0)) for k in ("records", "imported", "unchanged", "refused")]
    assert counts[1] >= 1 and counts[0] == sum(counts[1:])


def test_other_services(as_partner: Any) -> None:
    """The operation table reaches every service: audit, rules, SCO, consents, admin."""
    bank, operator = as_partner("kz-bank"), as_partner("cxg-operator")
    bank.publish_profile(profile())
    assert bank.call("GetCheckpoint")["note"]
    assert "packs" in bank.call("ListRulePacks") or bank.call("ListRulePacks") == {}
    assert bank.call("GetTrustList")["jws"]
    assert as_partner("sme-portal").call("ListConsents") in ({}, {"consents": []})
    partners = operator.call("ListPartners")["partners"]
    assert "kz-bank" in {p["id"] for p in partners}
    shown = operator.call("GetPartner", {"partner_id": "kz-bank"})
    assert shown["id"] == "kz-bank"
    quota = {"partner_id": "kz-bank", "quota": {"requests_per_second": 500, "burst": 900}}
    assert operator.call("SetPartnerQuota", quota)["id"] == "kz-bank"
    with pytest.raises(PermissionDenied):
        bank.call("ListPartners")


def test_credit_reports(as_partner: Any) -> None:
    """ReportService through the operation table: the same Report, PDF included, over either
    transport (REST asked for JSON, as the SDK always does)."""
    as_partner("kz-bank").publish_profile(profile())
    portal = as_partner("sme-portal")
    subject = {"scheme": "CN_USCC", "value": USCC}
    made = portal.call("CreateReport", {"subject": subject, "language": "en"})
    pdf = base64.b64decode(made["pdf"])
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == made["sha256"]
    assert made["state"] == "REPORT_STATE_VALID"
    assert portal.call("GetReport", {"name": made["name"]})["sha256"] == made["sha256"]
    listed = portal.call("ListReports", {"subject": subject, "page_size": 10})["reports"]
    assert [r["name"] for r in listed] == [made["name"]]
    checked = portal.call("VerifyReport", {"sha256": made["sha256"]})
    assert checked["matches"] is True and checked["report"]["name"] == made["name"]
    revoked = as_partner("cxg-operator").call(
        "RevokeReport", {"name": made["name"], "reason": "test"}
    )
    assert revoked["state"] == "REPORT_STATE_REVOKED"


def test_a_replayed_publish_returns_the_first_receipt(as_partner: Any, gateway: Gateway) -> None:
    """A client that lost the answer to a publish sends the same JWS again and gets the
    receipt of the version it made (no new version, no 409)."""
    bank = as_partner("kz-bank")
    jws = bank.sign_publication(profile())
    first, again = bank.publish_jws(jws), bank.publish_jws(jws)
    assert (again.profile_name, again.version, again.payload_sha256) == (
        first.profile_name,
        first.version,
        first.payload_sha256,
    )
    assert jwt.api_jws.get_unverified_header(again.receipt_jws)["typ"] == "cxg-receipt+jws"
    listed = bank.list_profile_versions(first.profile_name)
    assert len(listed["versions"]) == 1


def test_typed_errors(as_partner: Any, transport: str) -> None:
    bank, bureau = as_partner("kz-bank"), as_partner("ru-bureau")
    with pytest.raises(NotFound) as missing:
        bank.get_profile(scheme="CN_USCC", value=USCC, purpose="trade_due_diligence")
    assert missing.value.detail
    bad_uscc = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier) as invalid:
        bank.get_profile(scheme="CN_USCC", value=bad_uscc, purpose="trade_due_diligence")
    assert invalid.value.field
    with pytest.raises(PermissionDenied):
        bank.get_profile(scheme="CN_USCC", value=USCC, purpose="credit_reporting")
    uscc, lei = profile()["subject"]["ids"]
    bureau.publish_profile({**profile(aeo=[]), "subject": {**profile()["subject"], "ids": [uscc]}})
    bureau.publish_profile({**profile(aeo=[]), "subject": {**profile()["subject"], "ids": [lei]}})
    with pytest.raises(Conflict) as clash:
        bureau.publish_profile(profile(aeo=[]))
    assert clash.value.field == "/subject/ids"
    expected_status = 409 if transport == "rest" else "ALREADY_EXISTS"
    assert clash.value.status == expected_status


def test_quota_is_retried_after_the_wait_the_gateway_names(as_partner: Any, transport: str) -> None:
    operator = as_partner("cxg-operator")
    operator.call(
        "SetPartnerQuota",
        {"partner_id": "kz-bank", "quota": {"requests_per_second": 2, "burst": 1}},
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    bank = as_partner("kz-bank", sleep=sleep, retry=RetryPolicy(attempts=6, base=0.01, cap=0.02))
    for _ in range(3):
        bank.search_profiles()
    assert waits and max(waits) >= 0.1  # Retry-After / RetryInfo, not the 20 ms backoff cap
    impatient = as_partner("kz-bank", retry=RetryPolicy.none())
    with pytest.raises(QuotaExceeded) as refused:
        for _ in range(5):
            impatient.search_profiles()
    assert refused.value.retry_after


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_rotated_gateway_key_is_fetched_once(
    settings: Settings, partners: Partners, transport: str
) -> None:
    """The JWKS is cached; an answer signed by a key it does not hold (the gateway rotated)
    fetches it again, and only as often as the client allows."""
    fixed = dataclasses.replace(settings, rest_port=_free_port(), grpc_port=_free_port())
    first = Gateway(fixed)
    PartnerAdmin(first.db).import_files(fixed.partners_dir)
    first.start()
    client = sdk_client(first, fixed, partners["kz-bank"], transport, jwks_min_refetch_seconds=0)
    wary = sdk_client(first, fixed, partners["kz-bank"], transport)  # refetches every 10 s at most
    try:
        client.publish_profile(profile())
        wary.publish_profile(profile(ratings=[]))
        assert client.jwks.fetches == wary.jwks.fetches == 1
        client.publish_profile(profile(ratings=[{"scheme": "CN_TAX", "grade": "B"}]))
        assert client.jwks.fetches == 1  # cached
        first.stop()
        KeyRing.rotate(fixed.gateway_keys_dir)
        second = Gateway(fixed).start()
        try:
            receipt = client.publish_profile(profile(ratings=[{"scheme": "CN_TAX", "grade": "C"}]))
            assert receipt.version == 4 and client.jwks.fetches == 2
            with pytest.raises(VerificationError, match="no key"):
                wary.publish_profile(profile(ratings=[{"scheme": "CN_TAX", "grade": "D"}]))
        finally:
            second.stop()
    finally:
        client.close()
        wary.close()
        first.stop()


def test_a_forged_answer_is_refused(
    gateway: Gateway, settings: Settings, partners: Partners
) -> None:
    """A JWS signed by a key outside the JWKS, or whose alg is not its key's, never passes."""
    with sdk_client(gateway, settings, partners["kz-bank"]) as client:
        client.publish_profile(profile())
        real = client.jwks.key(next(iter(client.jwks._keys)))
        forged = jwt.api_jws.encode(b"{}", DpopKey().private_key, "ES256", {"kid": real["kid"]})
        with pytest.raises(VerificationError, match="alg"):
            client.jwks.verify(forged)
        other = Ed25519PrivateKey.generate()
        forged = jwt.api_jws.encode(b"{}", other, real["alg"], {"kid": real["kid"]})
        with pytest.raises(VerificationError, match="does not verify"):
            client.jwks.verify(forged)
        with pytest.raises(VerificationError, match="no kid"):
            client.jwks.verify(jwt.api_jws.encode(b"{}", other, "EdDSA"))


# -- the SDK alone, against test doubles ---------------------------------------------------------


def _mock_client(handler: Any, **kw: Any) -> Client:
    key = PartnerKey("kz-bank", DpopKey().private_key)
    return Client(
        key,
        gateway_id="gw.test",
        rest_url="http://gw.test",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        **({"sleep": lambda seconds: None} | kw),
    )


def _token_answer() -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": "t0k3n", "token_type": "DPoP", "expires_in": 300}
    )


def test_dpop_nonces_are_answered_once_on_both_endpoints() -> None:
    """RFC 9449 8 and 9: the token endpoint's 400 use_dpop_nonce and a resource's 401 challenge
    are each retried once with the nonce the server named in the proof."""
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        nonce = jwt.decode(request.headers["DPoP"], options={"verify_signature": False}).get(
            "nonce"
        )
        seen.append((request.url.path, nonce))
        if request.url.path == "/oauth2/token":
            if nonce != "n1":
                return httpx.Response(
                    400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": "n1"}
                )
            return _token_answer()
        if nonce != "n2":
            challenge = 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge, "DPoP-Nonce": "n2"})
        return httpx.Response(200, json={"results": []})

    with _mock_client(handler) as client:
        assert client.search_profiles() == {}
    assert seen == [
        ("/oauth2/token", None),
        ("/oauth2/token", "n1"),
        ("/v1/profiles:search", "n1"),
        ("/v1/profiles:search", "n2"),
    ]


def test_unavailable_is_retried_with_backoff_for_idempotent_calls_only() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return _token_answer()
        calls.append(request.url.path)
        if len(calls) % 3:
            problem = {"type": "urn:cxg:problem:database-unavailable", "detail": "down"}
            return httpx.Response(503, json=problem, headers={"Retry-After": "1"})
        return httpx.Response(200, json={})

    waits: list[float] = []
    with _mock_client(handler, sleep=waits.append) as client:
        client.search_profiles()
        assert len(calls) == 3 and waits == [1.0, 1.0]
        calls.clear()
        with pytest.raises(Unavailable) as down:
            client.call("GrantConsent", {"purpose": "credit_assessment"})
        assert len(calls) == 1 and down.value.retry_after == 1.0
        assert type(down.value).__name__ == "DatabaseUnavailable"


def test_backoff_is_full_jitter_and_bounded() -> None:
    policy = RetryPolicy(attempts=5, base=0.5, cap=2.0, max_wait=10.0)
    for retry in range(6):
        for _ in range(50):
            assert 0 <= policy.delay(retry) <= min(2.0, 0.5 * 2**retry)
    assert policy.delay(0, retry_after=7) == 7 and policy.delay(0, retry_after=60) == 10.0


def test_jwks_refetch_is_rate_limited() -> None:
    clock = [0.0]
    fetched: list[int] = []

    def fetch() -> dict[str, Any]:
        fetched.append(1)
        return {"keys": [{"kid": "a", "kty": "OKP"}]}

    cache = JwksCache(fetch, ttl_seconds=300, min_refetch_seconds=10, clock=lambda: clock[0])
    cache.key("a")
    for _ in range(3):
        with pytest.raises(VerificationError):
            cache.key("b")
    assert len(fetched) == 1
    clock[0] = 11
    with pytest.raises(VerificationError):
        cache.key("b")
    assert len(fetched) == 2
    clock[0] = 400
    cache.key("a")
    assert len(fetched) == 3  # expired


# -- the distribution ----------------------------------------------------------------------------


def test_public_surface_is_all() -> None:
    public = {name for name in dir(cxg_client) if not name.startswith("_")}
    assert public == set(cxg_client.__all__)
    assert cxg_client.__all__ == sorted(cxg_client.__all__, key=lambda n: (not n.isupper(), n))


def test_the_sdk_imports_nothing_of_the_gateway() -> None:
    code = (
        "import sys, cxg_client, cxg_client._client;"
        "assert not [m for m in sys.modules if m == 'gateway' or m.startswith('gateway.')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SDK, timeout=60)


def test_shipped_stubs_are_current(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate_stubs", SDK / "generate_stubs.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    generate.generate(tmp_path)
    shipped = SDK / "src" / "cxg_client" / "_schema"
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    current = {
        p.relative_to(shipped): p.read_bytes()
        for p in shipped.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    stale = sorted(str(n) for n in fresh.keys() | current.keys() if fresh.get(n) != current.get(n))
    assert not stale, f"run `python clients/python/generate_stubs.py` ({stale})"


def test_every_rpc_is_in_the_operation_table() -> None:
    from cxg_client._operations import _METHODS

    assert set(_METHODS) == set(cxg_client.OPERATIONS)


def test_the_distribution_builds(tmp_path: Path) -> None:
    pytest.importorskip("build")
    source = tmp_path / "src"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "dist")],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    built = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert built == ["cxg_client-0.1.0-py3-none-any.whl", "cxg_client-0.1.0.tar.gz"]
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(tmp_path / "dist" / built[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "cxg_client/_schema/cxg/v1/profile_service_pb2.py" in listing
    assert "cxg_client/py.typed" in listing
