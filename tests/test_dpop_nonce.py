"""Server-provided DPoP nonces (RFC 9449 sections 8 and 9): issued with every token answer to a
DPoP request, checked by any replica holding the same gateway keys with no shared state, refused
(use_dpop_nonce, with a fresh nonce) when stale, forged or from another gateway's keys."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.errors import Unauthenticated
from gateway.service import PartnerAdmin
from gateway.signing import KeyRing, SigningKey
from gateway.storage.tables import seen_jtis
from gateway.transport.serve import Gateway
from gateway.trust.dpop import NONCE_FIELD, NONCE_WINDOW, DpopNonces
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOW = 1_750_000_000.0


def nonces_of(*keys: SigningKey, gateway_id: str = "cxg.qingdao.dev") -> DpopNonces:
    return DpopNonces.from_keys(
        keys[0].private_key, [k.private_key for k in keys[1:]], gateway_id=gateway_id
    )


# -- the nonces themselves ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_a_nonce_is_valid_for_one_to_two_windows(alg: str) -> None:
    nonces = nonces_of(SigningKey.generate(alg))
    nonce = nonces.issue(NOW)
    slot_start = NOW // NONCE_WINDOW * NONCE_WINDOW
    assert nonces.expires_at(nonce, NOW) == slot_start + 2 * NONCE_WINDOW
    assert nonces.expires_at(nonce, slot_start + 2 * NONCE_WINDOW - 1)
    with pytest.raises(Unauthenticated, match="expired") as refused:
        nonces.expires_at(nonce, slot_start + 2 * NONCE_WINDOW)
    assert refused.value.field == NONCE_FIELD
    # A replica whose clock is a few seconds behind still takes it; far behind, not.
    assert nonces.expires_at(nonce, slot_start - 5)
    with pytest.raises(Unauthenticated, match="expired"):
        nonces.expires_at(nonce, slot_start - 60)


def test_replicas_with_the_same_keys_issue_the_same_nonces() -> None:
    key = SigningKey.generate()
    assert nonces_of(key).issue(NOW) == nonces_of(key).issue(NOW + 1)
    assert nonces_of(key).issue(NOW) != nonces_of(key).issue(NOW + NONCE_WINDOW)


@pytest.mark.parametrize(
    "nonce",
    ["", "x", "A" * 32, "!" * 32, "A" * 500, 42, None, ["a"]],
    ids=["empty", "short", "zeros", "not-base64url", "long", "number", "null", "list"],
)
def test_a_nonce_this_gateway_did_not_issue_is_refused(nonce: object) -> None:
    with pytest.raises(Unauthenticated, match="not a nonce this gateway issued") as refused:
        nonces_of(SigningKey.generate()).expires_at(nonce, NOW)
    assert refused.value.field == NONCE_FIELD


def test_a_tampered_nonce_is_refused() -> None:
    nonces = nonces_of(SigningKey.generate())
    nonce = nonces.issue(NOW)
    tampered = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BA")
    with pytest.raises(Unauthenticated, match="not a nonce this gateway issued"):
        nonces.expires_at(tampered, NOW)


def test_another_gateways_keys_or_id_make_other_nonces() -> None:
    key = SigningKey.generate()
    nonce = nonces_of(key).issue(NOW)
    for other in (nonces_of(SigningKey.generate()), nonces_of(key, gateway_id="cxg.other")):
        with pytest.raises(Unauthenticated, match="not a nonce this gateway issued"):
            other.expires_at(nonce, NOW)


def test_nonces_of_a_rotated_key_stay_valid() -> None:
    old, new = SigningKey.generate(), SigningKey.generate("ES256")
    nonce = nonces_of(old).issue(NOW)
    rotated = nonces_of(new, old)
    assert rotated.expires_at(nonce, NOW)
    assert rotated.issue(NOW) != nonce  # the new active key issues


# -- over real HTTP -------------------------------------------------------------------------------


def token_endpoint(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.rest_port}/oauth2/token"


def token_request(
    gateway: Gateway, client_assertion: str, dpop: DpopClient, nonce: object = None
) -> httpx.Response:
    url = token_endpoint(gateway)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    proof = dpop.proof("POST", url, nonce=nonce) if nonce else dpop.proof("POST", url)
    return httpx.post(url, data=form, headers={"DPoP": proof})


def api_call(
    gateway: Gateway, token: str, dpop: DpopClient, nonce: object = None
) -> httpx.Response:
    url = f"http://127.0.0.1:{gateway.rest_port}/v1/profiles:search"
    extra = {"nonce": nonce} if nonce else {}
    headers = {"Authorization": f"DPoP {token}", "DPoP": dpop.proof("GET", url, token, **extra)}
    return httpx.get(url, params={"name_prefix": "Qingdao"}, headers=headers)


def assert_use_dpop_nonce(response: httpx.Response, refused_nonce: object = None) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["error"], body["field"]) == ("use_dpop_nonce", NONCE_FIELD)
    assert "access_token" not in body
    fresh = response.headers["DPoP-Nonce"]
    assert fresh and fresh != refused_nonce
    return fresh


def test_every_token_answer_to_a_dpop_request_carries_a_nonce_that_then_works(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    dpop = DpopClient()
    first = token_request(gateway, assertion(partners["kz-bank"]), dpop)
    assert first.status_code == 200, first.text
    nonce = first.headers["DPoP-Nonce"]
    second = token_request(gateway, assertion(partners["kz-bank"]), dpop, nonce)
    assert second.status_code == 200, second.text
    assert api_call(gateway, second.json()["access_token"], dpop, nonce).status_code == 200
    # A refusal of a DPoP request carries one too.
    refused = token_request(gateway, assertion(partners["kz-bank"], aud="x"), dpop)
    assert refused.status_code == 401 and refused.headers["DPoP-Nonce"] == nonce


@pytest.mark.parametrize("case", ["stale", "forged", "other-gateway-key"])
def test_a_bad_nonce_is_answered_use_dpop_nonce_and_the_assertion_can_be_sent_again(
    gateway: Gateway, partners: dict[str, TestPartner], case: str
) -> None:
    keyring = gateway.exchange.keyring
    if case == "stale":
        bad = nonces_of(keyring.active).issue(time.time() - 3 * NONCE_WINDOW)
    elif case == "forged":
        bad = "A" * 32
    else:
        bad = nonces_of(SigningKey.generate()).issue(time.time())
    dpop, client_assertion = DpopClient(), assertion(partners["ru-bureau"])
    fresh = assert_use_dpop_nonce(token_request(gateway, client_assertion, dpop, bad), bad)
    # The refusal used nothing up: the same assertion, with a proof bearing the fresh nonce.
    retried = token_request(gateway, client_assertion, dpop, fresh)
    assert retried.status_code == 200, retried.text


def test_a_bad_nonce_on_an_api_call_is_answered_use_dpop_nonce_with_a_fresh_one(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    """RFC 9449 section 9: 401 with error="use_dpop_nonce" and a DPoP-Nonce header; the call
    made again with that nonce is served, and its answer offers a nonce too."""
    dpop = DpopClient()
    issued = token_request(gateway, assertion(partners["kz-bank"]), dpop)
    token = issued.json()["access_token"]
    stale = nonces_of(gateway.exchange.keyring.active).issue(time.time() - 3 * NONCE_WINDOW)
    refused = api_call(gateway, token, dpop, stale)
    assert refused.status_code == 401, refused.text
    assert refused.json()["field"] == NONCE_FIELD
    assert refused.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    fresh = refused.headers["DPoP-Nonce"]
    assert fresh and fresh != stale
    served = api_call(gateway, token, dpop, fresh)
    assert served.status_code == 200, served.text
    assert served.headers["DPoP-Nonce"] == fresh  # the same window: the same nonce
    # A request without a proof is offered none.
    assert "DPoP-Nonce" not in httpx.get(f"http://127.0.0.1:{gateway.rest_port}/healthz").headers


@pytest.fixture
def replica(settings: Settings) -> Iterator[Gateway]:
    """A second gateway process on the same database and keys directory."""
    running = Gateway(settings)
    running.start()
    yield running
    running.stop()


def test_replicas_sharing_the_keys_accept_each_others_nonces(
    gateway: Gateway, replica: Gateway, partners: dict[str, TestPartner]
) -> None:
    dpop = DpopClient()
    from_a = token_request(gateway, assertion(partners["kz-bank"]), dpop).headers["DPoP-Nonce"]
    at_b = token_request(replica, assertion(partners["kz-bank"]), dpop, from_a)
    assert at_b.status_code == 200, at_b.text
    assert api_call(gateway, at_b.json()["access_token"], dpop, from_a).status_code == 200


@pytest.fixture
def other_gateway(settings: Settings, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway with keys of its own (same id, same partners, another database)."""
    keys_dir = tmp_path / "other-keys"
    KeyRing.init(keys_dir / "gateway")
    (keys_dir / "partners").symlink_to(settings.partners_dir)
    running = Gateway(
        dataclasses.replace(
            settings, keys_dir=keys_dir, database_url=f"sqlite:///{tmp_path / 'other.db'}"
        )
    )
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_a_gateway_with_other_keys_refuses_the_nonces(
    gateway: Gateway, other_gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    dpop = DpopClient()
    ours = token_request(gateway, assertion(partners["kz-bank"]), dpop).headers["DPoP-Nonce"]
    assert_use_dpop_nonce(token_request(other_gateway, assertion(partners["kz-bank"]), dpop, ours))


@pytest.fixture
def required_gateway(settings: Settings) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, dpop_nonce="required"))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_when_required_a_proof_without_nonce_is_refused(
    required_gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    gateway, dpop = required_gateway, DpopClient()
    client_assertion = assertion(partners["kz-bank"])
    fresh = assert_use_dpop_nonce(token_request(gateway, client_assertion, dpop))
    issued = token_request(gateway, client_assertion, dpop, fresh)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    refused = api_call(gateway, token, dpop)
    assert refused.status_code == 401 and refused.json()["field"] == NONCE_FIELD
    assert api_call(gateway, token, dpop, fresh).status_code == 200


@pytest.fixture
def local_replay_gateway(settings: Settings) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, dpop_nonce_replay="local"))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_local_replay_keeps_nonce_bound_jtis_out_of_the_database(
    local_replay_gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    gateway, dpop = local_replay_gateway, DpopClient()
    issued = token_request(gateway, assertion(partners["kz-bank"]), dpop)
    token, nonce = issued.json()["access_token"], issued.headers["DPoP-Nonce"]

    def stored() -> int:
        with gateway.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(seen_jtis)).scalar_one())

    before = stored()
    url = f"http://127.0.0.1:{gateway.rest_port}/v1/profiles:search"
    proof = dpop.proof("GET", url, token, nonce=nonce)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert httpx.get(url, headers=headers).status_code == 200
    assert stored() == before  # no database write for a nonce-bound proof
    replayed = httpx.get(url, headers=headers)  # still refused on this replica
    assert replayed.status_code == 401 and replayed.json()["field"] == "DPoP.claims.jti"
    # A proof without a nonce still goes to the shared store.
    assert api_call(gateway, token, dpop).status_code == 200
    assert stored() == before + 1
