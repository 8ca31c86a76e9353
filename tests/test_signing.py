"""What the gateway signs verifies with independent JOSE libraries (jwcrypto, joserfc) using
only the published JWKS; key ids are RFC 7638 thumbprints; rotation keeps old signatures valid."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from gateway.signing import KeyRing, SigningKey
from gateway.transport.serve import Gateway
from tests.clients import RestClient
from tests.support import USCC, TestPartner, joserfc_registry, jws_payload, profile, publish

# RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; PyJWT signs only "EdDSA" so far.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")


def _fetch(gateway: Gateway, partners: dict[str, TestPartner]) -> tuple[str, str, bytes]:
    publish(gateway.exchange, partners["cn-customs"], profile())
    jwks = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/.well-known/jwks.json").text
    client = RestClient(gateway, partners)
    query = {"scheme": "CN_USCC", "value": USCC, "purpose": "credit_reporting"}
    signed = client.request("GET", "/v1/profiles:lookup", params=query)
    bare = client.request(
        "GET", "/v1/profiles:lookup", params=query, headers={"Accept": "application/jose"}
    )
    client.close()
    assert bare.headers["content-type"] == "application/jose"
    assert bare.text == signed.json()["jws"]
    return jwks, bare.text, signed.content


def test_jwcrypto_verifies_a_served_profile_with_the_jwks_only(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    jwks, compact, _ = _fetch(gateway, partners)
    keyset = jc_jwk.JWKSet.from_json(jwks)
    token = jc_jws.JWS()
    token.deserialize(compact)
    key = keyset.get_key(token.jose_header["kid"])
    assert key is not None
    token.allowed_algs = [key.get("alg")]  # the key decides the algorithm, not the token
    token.verify(key)
    document = json.loads(token.payload)
    assert document["subject"]["ids"][0] == {"scheme": "CN_USCC", "value": USCC}
    assert token.jose_header["typ"] == "cxg-profile+jws"
    assert token.jose_header["iss"] == gateway.settings.gateway_id
    assert isinstance(token.jose_header["iat"], int)
    assert token.jose_header["kid"] == key.thumbprint()  # RFC 7638, computed by jwcrypto


def test_joserfc_verifies_a_served_profile_and_the_payload_is_the_profile_json(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    from joserfc import jws
    from joserfc.jwk import KeySet

    from gateway.profiles import parse_profile_json

    jwks, compact, body = _fetch(gateway, partners)
    keys = KeySet.import_key_set(json.loads(jwks))
    verified = jws.deserialize_compact(compact, keys, registry=joserfc_registry(["EdDSA", "ES256"]))
    assert verified.payload == jws_payload(compact)
    parsed = parse_profile_json(
        verified.payload
    )  # strict proto3 JSON parse as cxg.v1.CreditProfile
    assert parsed.subject.ids[0].value == USCC and parsed.version == 1
    # The REST body embeds the very bytes that were signed.
    assert verified.payload in body


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_signing_key_thumbprint_matches_jwcrypto(alg: str) -> None:
    key = SigningKey.generate(alg)
    public = key.public_jwk()
    assert public["kid"] == jc_jwk.JWK(**public).thumbprint()
    compact = key.sign_jws(b'{"a":1}', {"typ": "x"})
    token = jc_jws.JWS()
    token.deserialize(compact)
    token.allowed_algs = [alg]
    token.verify(jc_jwk.JWK(**public))
    assert token.payload == b'{"a":1}'


def test_rotation_keeps_old_signatures_verifiable(tmp_path: Path) -> None:
    first = KeyRing.init(tmp_path)
    again = KeyRing.init(tmp_path)
    assert again.active.kid == first.active.kid  # init is idempotent
    old_token = first.active.sign_jws(b"{}", {})
    rotated = KeyRing.rotate(tmp_path, "ES256")
    assert rotated.active.kid != first.active.kid and rotated.active.alg == "ES256"
    published = {k["kid"]: k for k in rotated.jwks()["keys"]}
    assert set(published) == {first.active.kid, rotated.active.kid}
    token = jc_jws.JWS()
    token.deserialize(old_token)
    token.allowed_algs = ["EdDSA"]
    token.verify(jc_jwk.JWK(**published[first.active.kid]))
    assert (tmp_path / f"{rotated.active.kid}.pem").stat().st_mode & 0o777 == 0o600


def test_a_tampered_keyring_is_refused(tmp_path: Path) -> None:
    from gateway.errors import Unavailable

    ring = KeyRing.init(tmp_path)
    other = SigningKey.generate()
    (tmp_path / f"{ring.active.kid}.pem").write_bytes(other.private_pem())
    with pytest.raises(Unavailable, match="does not match"):
        KeyRing.from_dir(tmp_path)
    with pytest.raises(Unavailable, match="cxg keys init"):
        KeyRing.from_dir(tmp_path / "missing")
