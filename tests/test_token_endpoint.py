"""POST /oauth2/token over real HTTP: a partner client (jwcrypto) obtains a DPoP-bound access
token; refusals answer in the RFC 6749 error format and issue nothing."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from gateway.transport.serve import Gateway
from tests.clients import RestClient
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner

FORM = "application/x-www-form-urlencoded"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_request(
    gateway: Gateway, client_assertion: str, dpop: DpopClient | None, **overrides: str
) -> httpx.Response:
    url = f"http://127.0.0.1:{gateway.rest_port}/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    form.update(overrides)
    headers = {"DPoP": dpop.proof("POST", url)} if dpop else {}
    return httpx.post(url, data=form, headers=headers)


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:jwcrypto"
)  # jwcrypto flags EdDSA per RFC 9864
def test_partner_client_obtains_a_dpop_bound_token(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    dpop = DpopClient()
    response = token_request(gateway, assertion(partners["kz-bank"]), dpop)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("DPoP", 300)
    jwks = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/.well-known/jwks.json").text
    token = jc_jwt.JWT(
        jwt=body["access_token"], key=jc_jwk.JWKSet.from_json(jwks), expected_type="JWS"
    )
    claims = json.loads(token.claims)
    assert claims["sub"] == "kz-bank" and claims["aud"] == gateway.settings.gateway_id
    assert claims["cnf"] == {"jkt": dpop.key.thumbprint()}
    assert json.loads(token.header)["typ"] == "at+jwt"


@pytest.mark.parametrize(
    ("case", "status", "error", "field"),
    [
        ("no-dpop-proof", 401, "invalid_client", "DPoP"),
        ("forged-assertion", 401, "invalid_client", "client_assertion"),
        ("wrong-grant", 400, "invalid_request", "grant_type"),
        ("wrong-assertion-type", 400, "invalid_request", "client_assertion_type"),
        ("suspended-partner", 400, "unauthorized_client", None),
        ("json-body", 400, "invalid_request", "content-type"),
    ],
)
def test_token_refusals_use_oauth_errors(
    gateway: Gateway,
    partners: dict[str, TestPartner],
    case: str,
    status: int,
    error: str,
    field: str | None,
) -> None:
    good = assertion(partners["ru-bureau"])
    if case == "no-dpop-proof":
        response = token_request(gateway, good, None)
    elif case == "forged-assertion":
        response = token_request(gateway, good[:-4] + "AAAA", DpopClient())
    elif case == "wrong-grant":
        response = token_request(gateway, good, DpopClient(), grant_type="password")
    elif case == "wrong-assertion-type":
        response = token_request(gateway, good, DpopClient(), client_assertion_type="urn:x")
    elif case == "suspended-partner":
        response = token_request(gateway, assertion(partners["suspended-bank"]), DpopClient())
    else:
        response = httpx.post(
            f"http://127.0.0.1:{gateway.rest_port}/oauth2/token",
            json={"grant_type": "client_credentials"},
        )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["error_description"]
    assert body.get("field") == field
    assert "access_token" not in body


def test_a_token_exchange_is_audited_under_the_partner_it_authenticated(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    response = token_request(gateway, assertion(partners["kz-bank"]), DpopClient())
    assert response.status_code == 200, response.text
    leaf = int(response.headers["cxg-audit-leaf"])
    operator = RestClient(gateway, partners, caller="cxg-operator")
    try:
        listed = operator.request(
            "GET", "/v1/audit/entries", params={"start": leaf, "end": leaf + 1}
        )
    finally:
        operator.close()
    assert listed.status_code == 200, listed.text
    data = json.loads(base64.b64decode(listed.json()["entries"][0]["data"]))
    assert (data["operation"], data["partner"]) == ("CreateToken", "kz-bank")
