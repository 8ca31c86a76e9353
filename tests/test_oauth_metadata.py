"""OAuth 2.0 Authorization Server Metadata (RFC 8414) over real HTTP, and clients written against
it alone: one with joserfc, and authlib's httpx OAuth2Client with private_key_jwt and a small
DPoP hook. Neither uses the gateway's code, nor knows the audience, the algorithms or the limits
but from the metadata."""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Auth, OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwk, jwt
from joserfc.util import urlsafe_b64encode

from gateway.config import Settings
from gateway.service import PartnerAdmin
from gateway.service.tokens import TokenService
from gateway.signing import KeyRing
from gateway.transport.rest.metadata import METADATA_PATH, authorization_server_metadata
from gateway.transport.serve import Gateway
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner

# RFC 9864 deprecates the JWS algorithm name "EdDSA", which partner keys and the gateway still use.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
API_PATH = "/v1/profiles:search"


def base_of(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.rest_port}"


def fetch_metadata(base: str, **headers: str) -> dict[str, Any]:
    response = httpx.get(base + METADATA_PATH, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


# -- the document ---------------------------------------------------------------------------------


def test_the_metadata_states_what_a_client_needs(gateway: Gateway) -> None:
    base = base_of(gateway)
    document = fetch_metadata(base)
    assert document == {
        "issuer": "cxg.qingdao.dev",
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256"],
        "dpop_signing_alg_values_supported": ["EdDSA", "ES256"],
        "tls_client_certificate_bound_access_tokens": False,
        "cxg_client_assertion_audience": "cxg.qingdao.dev",
        "cxg_max_assertion_lifetime_seconds": 300,
        "cxg_max_clock_skew_seconds": 10,
        "cxg_access_token_lifetime_seconds": 300,
        "cxg_sender_constrained_access_tokens_required": True,
        "cxg_dpop_proof_max_age_seconds": 60,
        "cxg_dpop_nonce": "optional",
        "cxg_dpop_nonce_lifetime_seconds": 300,
    }
    # The issuer is every token's iss: one value, the one an assertion's aud must be.
    assert document["issuer"] == gateway.settings.gateway_id
    assert httpx.get(document["jwks_uri"]).json()["keys"]
    # What authlib checks of RFC 8414 and this document can meet (the issuer is a host name,
    # not an https URL, and this test gateway serves plain http).
    checked = AuthorizationServerMetadata(document)
    for member in (
        "token_endpoint",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
    ):
        getattr(checked, f"validate_{member}")()


@pytest.mark.parametrize(
    "spoofed",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"Forwarded": "host=evil.example;proto=https"},
    ],
    ids=["host", "x-forwarded", "forwarded"],
)
def test_the_metadata_urls_never_come_from_the_request(
    gateway: Gateway, spoofed: dict[str, str]
) -> None:
    document = fetch_metadata(base_of(gateway), **spoofed)
    assert document["token_endpoint"] == f"{base_of(gateway)}/oauth2/token"
    assert "evil" not in str(document)


@pytest.fixture
def public_gateway(settings: Settings) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, public_url="https://cxg.example.org/gateway/"))
    running.start()
    yield running
    running.stop()


def test_the_metadata_urls_are_under_the_public_url(public_gateway: Gateway) -> None:
    document = fetch_metadata(base_of(public_gateway), Host="127.0.0.1")
    assert document["token_endpoint"] == "https://cxg.example.org/gateway/oauth2/token"
    assert document["jwks_uri"] == "https://cxg.example.org/gateway/.well-known/jwks.json"
    assert document["issuer"] == "cxg.qingdao.dev"  # not a URL: the issuer does not move


def test_over_mutual_tls_tokens_may_be_certificate_bound(tmp_path: Path) -> None:
    keyring = KeyRing.init(tmp_path / "gateway")
    tokens = TokenService(
        keyring,
        directory=None,  # type: ignore[arg-type]  # the metadata reads no partner
        remember_jti=lambda key, until: True,
        gateway_id="cxg.example",
        origins=["https://cxg.example:8443"],
        dpop_nonce="required",
        mtls=True,
    )
    document = authorization_server_metadata(tokens)
    assert document["tls_client_certificate_bound_access_tokens"] is True
    # Still private_key_jwt: the certificate binds the token, it does not authenticate.
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["cxg_dpop_nonce"] == "required"
    assert document["token_endpoint"] == "https://cxg.example:8443/oauth2/token"


def test_the_metadata_is_documented_in_the_api_description(gateway: Gateway) -> None:
    described = httpx.get(f"{base_of(gateway)}/openapi.json").json()
    operation = described["paths"][METADATA_PATH]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    served = fetch_metadata(base_of(gateway))
    assert set(schema["required"]) == set(served)
    assert all(schema["properties"][name]["description"] for name in served)
    assert "security" not in operation  # public


# -- the audience: the issuer identifier, one string -----------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [
        "TOKEN_ENDPOINT",
        ["cxg.qingdao.dev"],
        ["cxg.qingdao.dev", "https://attacker.example/token"],
        "https://cxg.qingdao.dev",
    ],
    ids=["token-endpoint-url", "list-of-issuer", "list-with-issuer", "issuer-as-url"],
)
def test_an_assertion_aud_other_than_the_issuer_is_refused_naming_it(
    gateway: Gateway, partners: dict[str, TestPartner], aud: object
) -> None:
    base = base_of(gateway)
    token_endpoint = fetch_metadata(base)["token_endpoint"]
    if aud == "TOKEN_ENDPOINT":
        aud = token_endpoint
    dpop = DpopClient()
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(partners["kz-bank"], aud=aud),
    }
    response = httpx.post(
        token_endpoint, data=form, headers={"DPoP": dpop.proof("POST", token_endpoint)}
    )
    assert response.status_code == 401, response.text
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_client", "client_assertion.aud")
    assert "'cxg.qingdao.dev'" in body["error_description"]
    assert "access_token" not in body


# -- a client that knows only the metadata: joserfc --------------------------------------------------


def _joserfc_key(partner: TestPartner) -> jwk.Key:
    return jwk.import_key(partner.key.private_pem(), "OKP" if partner.key.alg == "EdDSA" else "EC")


def _jws_alg(key: jwk.Key, supported: list[str]) -> str:
    """The algorithm for ``key`` among those the metadata lists."""
    wanted = {"OKP": ("EdDSA", "Ed25519"), "EC": ("ES256",)}[key.key_type]
    return next(alg for alg in supported if alg in wanted)


class JoserfcClient:
    """A partner client from the metadata alone: aud, algorithms and assertion lifetime as it
    states them; a DPoP key of its own; the server's nonce used once the server sends one."""

    def __init__(self, base: str, key: jwk.Key, client_id: str) -> None:
        self.meta = fetch_metadata(base)
        self.base, self.key, self.client_id = base, key, client_id
        self.dpop_alg = "ES256"
        assert self.dpop_alg in self.meta["dpop_signing_alg_values_supported"]
        self.dpop_key = jwk.ECKey.generate_key("P-256")
        self.nonce: str | None = None

    def assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.meta["issuer"],
            "iat": now,
            "exp": now + self.meta["cxg_max_assertion_lifetime_seconds"] - 30,
            "jti": uuid.uuid4().hex,
        }
        alg = _jws_alg(self.key, self.meta["token_endpoint_auth_signing_alg_values_supported"])
        header = {"alg": alg, "kid": self.key.thumbprint()}
        return jwt.encode(header, claims, self.key, algorithms=[alg])

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token:
            claims["ath"] = urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode()
        if self.nonce:
            claims["nonce"] = self.nonce
        header = {
            "typ": "dpop+jwt",
            "alg": self.dpop_alg,
            "jwk": self.dpop_key.as_dict(private=False),
        }
        return jwt.encode(header, claims, self.dpop_key, algorithms=[self.dpop_alg])

    def token(self) -> dict[str, Any]:
        url = self.meta["token_endpoint"]
        form = {
            "grant_type": self.meta["grant_types_supported"][0],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        response = httpx.post(url, data=form, headers={"DPoP": self.proof("POST", url)})
        self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def get(self, path: str, token: str, **params: str) -> httpx.Response:
        url = self.base + path
        headers = {"Authorization": f"DPoP {token}", "DPoP": self.proof("GET", url, token)}
        return httpx.get(url, params=params, headers=headers)


@pytest.mark.parametrize("partner_id", ["kz-bank", "ru-bureau"])  # ES256, EdDSA
def test_a_joserfc_client_gets_a_token_from_the_metadata_alone_and_calls_the_api(
    gateway: Gateway, partners: dict[str, TestPartner], partner_id: str
) -> None:
    partner = partners[partner_id]
    client = JoserfcClient(base_of(gateway), _joserfc_key(partner), partner.id)
    issued = client.token()
    assert issued["token_type"] == "DPoP"
    assert issued["expires_in"] == client.meta["cxg_access_token_lifetime_seconds"]
    # The access token verifies with the published keys, and names the issuer.
    keys = jwk.KeySet.import_key_set(httpx.get(client.meta["jwks_uri"]).json())
    claims = jwt.decode(issued["access_token"], keys, algorithms=["EdDSA", "ES256"]).claims
    assert claims["iss"] == claims["aud"] == client.meta["issuer"]
    assert claims["cnf"] == {"jkt": client.dpop_key.thumbprint()}
    # The first token answer sent a nonce; the client now puts it in its proofs.
    assert client.nonce
    answer = client.get(API_PATH, issued["access_token"], name_prefix="Qingdao")
    assert answer.status_code == 200, answer.text
    assert client.token()["token_type"] == "DPoP"  # a nonce-bound proof at the token endpoint


# -- a widely used OAuth client: authlib, with a small DPoP hook --------------------------------------


def _add_dpop_token(
    token: str, uri: str, headers: dict[str, str], body: Any, placement: str = "header"
) -> tuple[str, dict[str, str], Any]:
    headers["Authorization"] = f"DPoP {token}"
    return uri, headers, body


class DpopTokenAuth(OAuth2Auth):  # type: ignore[misc]
    """authlib knows token_type Bearer only: DPoP tokens go as 'Authorization: DPoP'."""

    SIGN_METHODS: ClassVar[dict[str, Any]] = {**OAuth2Auth.SIGN_METHODS, "dpop": _add_dpop_token}


class DpopAdapter(requests.adapters.HTTPAdapter):
    """The DPoP hook: a fresh proof on every request (ath when it carries a DPoP token), the
    server's latest DPoP-Nonce in it, and one retry when the server asks for a nonce."""

    def __init__(self) -> None:
        super().__init__()
        self.key = jwk.ECKey.generate_key("P-256")
        self.nonce: str | None = None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        for attempt in range(2):
            request.headers["DPoP"] = self._proof(request)
            response = super().send(request, **kwargs)
            self.nonce = response.headers.get("DPoP-Nonce", self.nonce)
            if attempt or not self._asks_for_nonce(response):
                break
        return response

    def _proof(self, request: requests.PreparedRequest) -> str:
        url = urlsplit(str(request.url))
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": request.method,
            "htu": urlunsplit((url.scheme, url.netloc, url.path, "", "")),
            "iat": int(time.time()),
        }
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme == "DPoP":
            claims["ath"] = urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode()
        if self.nonce:
            claims["nonce"] = self.nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"])

    @staticmethod
    def _asks_for_nonce(response: requests.Response) -> bool:
        if "use_dpop_nonce" in response.headers.get("WWW-Authenticate", ""):
            return True
        return response.status_code == 400 and b'"use_dpop_nonce"' in response.content


class IssuerAudienceJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's private_key_jwt, with aud and exp as the metadata states them (authlib's
    defaults are the token endpoint's URL and an hour)."""

    def __init__(self, metadata: dict[str, Any], alg: str, kid: str) -> None:
        super().__init__(token_endpoint=metadata["issuer"], alg=alg, headers={"kid": kid})
        self.lifetime = metadata["cxg_max_assertion_lifetime_seconds"] - 30

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,  # the issuer: see __init__
                alg=self.alg,
                header=dict(self.headers),
                expires_in=self.lifetime,
            )
        )


def authlib_session(
    meta: dict[str, Any], partner: TestPartner
) -> tuple[OAuth2Session, DpopAdapter]:
    """An authlib session for ``partner``, configured from the metadata only."""
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    key = _joserfc_key(partner)
    alg = _jws_alg(key, meta["token_endpoint_auth_signing_alg_values_supported"])
    session = OAuth2Session(
        client_id=partner.id,
        client_secret=key,
        token_endpoint_auth_method=IssuerAudienceJWT(meta, alg, key.thumbprint()),
    )
    session.token_auth = DpopTokenAuth(None, client=session)
    dpop = DpopAdapter()
    session.mount("http://", dpop)
    session.mount("https://", dpop)
    return session, dpop


def test_authlib_gets_a_token_with_private_key_jwt_and_calls_the_api(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    meta = fetch_metadata(base_of(gateway))
    session, dpop = authlib_session(meta, partners["kz-bank"])
    with session:
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "DPoP"
        assert dpop.nonce  # sent with the token
        answer = session.get(f"{base_of(gateway)}{API_PATH}", params={"name_prefix": "Qingdao"})
        assert answer.status_code == 200, answer.text
        # A token request whose assertion authlib signs afresh, with a nonce-bound proof.
        again = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert again["access_token"] != token["access_token"]


@pytest.fixture
def nonce_required_gateway(settings: Settings) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, dpop_nonce="required"))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_authlib_with_the_hook_follows_use_dpop_nonce(
    nonce_required_gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    gateway = nonce_required_gateway
    meta = fetch_metadata(base_of(gateway))
    assert meta["cxg_dpop_nonce"] == "required"
    session, dpop = authlib_session(meta, partners["ru-bureau"])
    with session:
        # The first proof has no nonce: 400 use_dpop_nonce, and the hook sends the same
        # request (the same assertion) again with the nonce.
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "DPoP"
        assert dpop.nonce  # learnt from the use_dpop_nonce answer
        answer = session.get(f"{base_of(gateway)}{API_PATH}", params={"name_prefix": "Qingdao"})
        assert answer.status_code == 200, answer.text
