"""Client assertions (RFC 7523) and sender-constrained access tokens (RFC 9449 DPoP, RFC 8705
mTLS), driven by a partner client written with jwcrypto, an independent JOSE library."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from gateway.config import Settings
from gateway.errors import InvalidArgument, PermissionDenied, Unauthenticated
from gateway.service import PartnerAdmin
from gateway.service.tokens import TokenService
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.storage.replay import ReplayStore
from gateway.trust import PartnerCertificate
from gateway.trust.assertions import CLIENT_ASSERTION_TYPE
from gateway.trust.policy import authorize
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner, b64url

Partners = dict[str, TestPartner]
TOKEN_URL = "http://127.0.0.1:8080/oauth2/token"
API_URL = "http://127.0.0.1:8080/v1/profiles:lookup"


@pytest.fixture
def tokens(settings: Settings, db: Database) -> TokenService:
    return TokenService(
        KeyRing.from_dir(settings.gateway_keys_dir),
        PartnerStore(db),
        ReplayStore(db).remember,
        gateway_id=settings.gateway_id,
    )


def issue(
    tokens: TokenService,
    client_assertion: str,
    dpop: DpopClient | None = None,
    thumbprint: str | None = None,
) -> Any:
    return tokens.issue(
        grant_type="client_credentials",
        client_assertion_type=CLIENT_ASSERTION_TYPE,
        client_assertion=client_assertion,
        method="POST",
        url=TOKEN_URL,
        dpop_proof=dpop.proof("POST", TOKEN_URL) if dpop else None,
        client_cert_thumbprint=thumbprint,
    )


@pytest.mark.parametrize("partner_id", ["ru-bureau", "kz-bank"], ids=["EdDSA", "ES256"])
def test_dpop_bound_token_authenticates_each_request(
    tokens: TokenService, partners: Partners, partner_id: str
) -> None:
    dpop = DpopClient()
    issued = issue(tokens, assertion(partners[partner_id]), dpop)
    assert issued.token_type == "DPoP" and issued.expires_in == 300
    caller = tokens.authenticate(
        authorization=f"DPoP {issued.access_token}",
        method="GET",
        url=API_URL,
        dpop_proof=dpop.proof("GET", API_URL, issued.access_token),
    )
    assert caller.partner.id == partner_id
    claims = jc_jwt.JWT(
        jwt=issued.access_token,
        key=jc_jwk.JWKSet.from_json(json.dumps(tokens._keyring.jwks())),
        expected_type="JWS",
    ).claims
    assert json.loads(claims)["cnf"]["jkt"] == dpop.key.thumbprint()


def _register_certificate(db: Database, partner_id: str, thumbprint: str) -> None:
    """A registered client certificate, known to the gateway by its thumbprint only."""
    PartnerStore(db).add_certificate(
        PartnerCertificate(
            thumbprint=thumbprint,
            partner_id=partner_id,
            subject=f"CN={partner_id}",
            not_after=datetime.now(UTC) + timedelta(days=1),
        )
    )


def test_mtls_bound_token(tokens: TokenService, db: Database, partners: Partners) -> None:
    with pytest.raises(Unauthenticated, match="not registered for partner 'cn-customs'"):
        issue(tokens, assertion(partners["cn-customs"]), thumbprint="cert-A")
    _register_certificate(db, "cn-customs", "cert-A")
    _register_certificate(db, "kz-bank", "cert-B")
    issued = issue(tokens, assertion(partners["cn-customs"]), thumbprint="cert-A")
    assert issued.token_type == "Bearer"
    assert (
        tokens.authenticate(
            authorization=f"Bearer {issued.access_token}",
            method="GET",
            url=API_URL,
            client_cert_thumbprint="cert-A",
        ).partner.id
        == "cn-customs"
    )
    for other in ("cert-B", "cert-C"):  # kz-bank's certificate, and one registered to nobody
        with pytest.raises(Unauthenticated, match="another client certificate"):
            tokens.authenticate(
                authorization=f"Bearer {issued.access_token}",
                method="GET",
                url=API_URL,
                client_cert_thumbprint=other,
            )
    with pytest.raises(Unauthenticated, match="not registered for partner 'cn-customs'"):
        issue(tokens, assertion(partners["cn-customs"]), thumbprint="cert-B")
    with pytest.raises(Unauthenticated, match="another client certificate"):
        tokens.authenticate(
            authorization=f"Bearer {issued.access_token}", method="GET", url=API_URL
        )


def _hs256(partner: TestPartner) -> str:
    header = b64url(json.dumps({"alg": "HS256", "kid": partner.key.kid}).encode())
    now = int(time.time())
    body = b64url(
        json.dumps(
            {
                "iss": partner.id,
                "sub": partner.id,
                "aud": "cxg.qingdao.dev",
                "exp": now + 60,
                "jti": "x",
            }
        ).encode()
    )
    secret = json.dumps(partner.key.public_jwk()).encode()
    return f"{header}.{body}.{b64url(hmac.new(secret, f'{header}.{body}'.encode(), hashlib.sha256).digest())}"


BAD_ASSERTIONS = [
    ("forged", lambda p: assertion(p["ru-bureau"], key=SigningKey.generate()), "client_assertion"),
    (
        "another-partners-key",
        lambda p: assertion(p["ru-bureau"], key=p["cn-customs"].key),
        "client_assertion",
    ),
    (
        "expired",
        lambda p: assertion(p["ru-bureau"], exp=int(time.time()) - 1),
        "client_assertion.exp",
    ),
    (
        "exp-too-far",
        lambda p: assertion(p["ru-bureau"], exp=int(time.time()) + 600),
        "client_assertion.exp",
    ),
    (
        "iat-61s-ahead",
        lambda p: assertion(p["ru-bureau"], iat=int(time.time()) + 61),
        "client_assertion.iat",
    ),
    (
        "aud-other-gateway",
        lambda p: assertion(p["ru-bureau"], aud="cxg.almaty.example"),
        "client_assertion.aud",
    ),
    ("iss-not-sub", lambda p: assertion(p["ru-bureau"], sub="kz-bank"), "client_assertion.sub"),
    ("no-jti", lambda p: assertion(p["ru-bureau"], jti=None), "client_assertion.jti"),
    (
        "alg-none",
        lambda p: (
            f"{b64url(json.dumps({'alg': 'none', 'kid': p['ru-bureau'].key.kid}).encode())}.{b64url(b'{}')}."
        ),
        "client_assertion.header.alg",
    ),
    ("hs256-with-public-key", lambda p: _hs256(p["ru-bureau"]), "client_assertion.header.alg"),
    (
        "unknown-partner-kid",
        lambda p: assertion(TestPartner("nobody", "CN", ("bank",), SigningKey.generate())),
        "client_assertion.header.kid",
    ),
    (
        "kid-path-traversal",
        lambda p: (
            f"{b64url(json.dumps({'alg': 'EdDSA', 'kid': '../../etc/passwd'}).encode())}.e30.AA"
        ),
        "client_assertion.header.kid",
    ),
]


@pytest.mark.parametrize(
    ("make", "field"), [c[1:] for c in BAD_ASSERTIONS], ids=[c[0] for c in BAD_ASSERTIONS]
)
def test_bad_client_assertions_get_no_token(
    tokens: TokenService, partners: Partners, make: Any, field: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        issue(tokens, make(partners), DpopClient())
    assert refused.value.field == field, refused.value


def test_replayed_assertion_is_refused(tokens: TokenService, partners: Partners) -> None:
    once = assertion(partners["ru-bureau"])
    issue(tokens, once, DpopClient())
    with pytest.raises(Unauthenticated, match="replayed"):
        issue(tokens, once, DpopClient())


def test_token_requires_a_binding_and_the_right_grant(
    tokens: TokenService, partners: Partners
) -> None:
    with pytest.raises(Unauthenticated, match="sender-constrained"):
        issue(tokens, assertion(partners["ru-bureau"]))
    with pytest.raises(InvalidArgument) as wrong:
        tokens.issue(
            grant_type="password",
            client_assertion_type=CLIENT_ASSERTION_TYPE,
            client_assertion="x",
            method="POST",
            url=TOKEN_URL,
        )
    assert wrong.value.field == "grant_type"


def test_dpop_misuse_is_refused(tokens: TokenService, partners: Partners) -> None:
    dpop = DpopClient()
    token = issue(tokens, assertion(partners["ru-bureau"]), dpop).access_token

    def call(**kwargs: Any) -> Any:
        return tokens.authenticate(
            **{"authorization": f"DPoP {token}", "method": "GET", "url": API_URL} | kwargs
        )

    with pytest.raises(Unauthenticated, match="needs a DPoP proof"):
        call()
    with pytest.raises(Unauthenticated, match="htm"):
        call(dpop_proof=dpop.proof("POST", API_URL, token))
    with pytest.raises(Unauthenticated, match="htu"):
        call(dpop_proof=dpop.proof("GET", "http://127.0.0.1:8080/v1/profiles:search", token))
    with pytest.raises(Unauthenticated):
        call(dpop_proof=DpopClient().proof("GET", API_URL, token))  # another key than the token's
    proof = dpop.proof("GET", API_URL, token)
    call(dpop_proof=proof)
    with pytest.raises(Unauthenticated, match="replay"):
        call(dpop_proof=proof)
    with pytest.raises(Unauthenticated, match="DPoP scheme"):
        call(authorization=f"Bearer {token}", dpop_proof=dpop.proof("GET", API_URL, token))
    with pytest.raises(Unauthenticated, match="Authorization"):
        call(authorization=None)


def test_expired_token(settings: Settings, db: Database, partners: Partners) -> None:
    past = TokenService(
        KeyRing.from_dir(settings.gateway_keys_dir),
        PartnerStore(db),
        ReplayStore(db).remember,
        gateway_id=settings.gateway_id,
        clock=lambda: time.time() - 400,
    )
    dpop = DpopClient()
    then = int(time.time()) - 400
    token = past.issue(
        grant_type="client_credentials",
        client_assertion_type=CLIENT_ASSERTION_TYPE,
        client_assertion=assertion(partners["ru-bureau"], iat=then, exp=then + 100),
        method="POST",
        url=TOKEN_URL,
        dpop_proof=dpop.proof("POST", TOKEN_URL, iat=then),
    ).access_token
    now = TokenService(
        KeyRing.from_dir(settings.gateway_keys_dir),
        PartnerStore(db),
        ReplayStore(db).remember,
        gateway_id=settings.gateway_id,
    )
    with pytest.raises(Unauthenticated, match="expired"):
        now.authenticate(
            authorization=f"DPoP {token}",
            method="GET",
            url=API_URL,
            dpop_proof=dpop.proof("GET", API_URL, token),
        )


def test_suspension_and_retirement_end_live_tokens(
    tokens: TokenService, db: Database, partners: Partners
) -> None:
    admin = PartnerAdmin(db)
    dpop = DpopClient()
    bank = partners["kz-bank"]
    token = issue(tokens, assertion(bank), dpop).access_token

    def call() -> Any:
        # As the gatekeeper admits a request: the token names the caller, then the policy
        # decides on its standing, read fresh on every request.
        caller = tokens.authenticate(
            authorization=f"DPoP {token}",
            method="GET",
            url=API_URL,
            dpop_proof=dpop.proof("GET", API_URL, token),
        )
        authorize(caller.partner, "GetProfile")
        return caller

    assert call().partner.id == bank.id
    admin.suspend(bank.id)
    with pytest.raises(PermissionDenied, match="suspended"):
        call()
    admin.reinstate(bank.id)
    assert call().partner.id == bank.id
    admin.retire_key(bank.key.kid)
    with pytest.raises(Unauthenticated, match="retired"):
        call()


def test_replay_store_is_shared_and_expires(db: Database) -> None:
    first, second = ReplayStore(db), ReplayStore(db)  # two replicas on one database
    assert first.remember("k", time.time() + 60) is True
    assert second.remember("k", time.time() + 60) is False
    assert first.remember("old", time.time() - 1) is True
    assert second.remember("old", time.time() + 60) is True  # an expired entry no longer blocks
    assert first.purge() == 0


def test_the_rest_origins_are_the_gateways_own() -> None:
    """What a DPoP proof's htu may name: the configured public URL or the port actually bound,
    then the operator's further origins; never anything a request says."""
    env = {"CXG_ALLOWED_ORIGINS": "https://cxg.example.org/, https://proxy.example:8443/cxg"}
    settings = Settings.from_env(env)
    assert settings.rest_origins(41234) == (
        "http://127.0.0.1:41234",
        "http://localhost:41234",
        "https://cxg.example.org",
        "https://proxy.example:8443/cxg",
    )
    public = Settings.from_env({"CXG_PUBLIC_URL": "https://cxg.qingdao.example/"})
    assert public.rest_origins(41234) == ("https://cxg.qingdao.example",)
    everywhere = dataclasses.replace(Settings(), host="::", tls_dir=Path("pki"))
    assert everywhere.rest_origins(8443) == ("https://[::1]:8443", "https://localhost:8443")


@pytest.mark.parametrize(
    "origin", ["ftp://cxg.example", "/v1", "https://cxg.example?x=1", "https://u@cxg.example"]
)
def test_an_allowed_origin_must_be_an_http_base_url(origin: str) -> None:
    with pytest.raises(ValueError, match="CXG_ALLOWED_ORIGINS"):
        Settings.from_env({"CXG_ALLOWED_ORIGINS": origin})
