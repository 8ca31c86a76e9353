"""The gateway's own compact-JWS signature check (gateway/signing/_verify.py), which partner
publications, client assertions and DPoP proofs go through: what another library signs verifies,
and whatever is not exactly one canonical, correctly signed JWS is refused."""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwk, jws

from gateway.signing._jwk import b64url
from gateway.signing._verify import JwsRefused, public_key_of, verify_compact_jws

PAYLOAD = b'{"subject":"\xe9\x9d\x92\xe5\xb2\x9b"}'


def signed_elsewhere(kty: str, crv: str, alg: str) -> tuple[str, dict[str, str]]:
    """A compact JWS made by jwcrypto, and its public JWK."""
    key = jwk.JWK.generate(kty=kty, crv=crv)
    token = jws.JWS(PAYLOAD)
    token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg}))
    return token.serialize(compact=True), json.loads(key.export_public())


@pytest.mark.parametrize(
    ("kty", "crv", "alg"), [("OKP", "Ed25519", "EdDSA"), ("EC", "P-256", "ES256")]
)
def test_what_jwcrypto_signs_verifies_and_any_change_is_refused(
    kty: str, crv: str, alg: str
) -> None:
    token, public = signed_elsewhere(kty, crv, alg)
    key = public_key_of(public["kty"], public["crv"], public["x"], public.get("y", ""))
    assert verify_compact_jws(token, key, alg) == PAYLOAD

    header, payload, signature = token.split(".")
    tampered = f"{header}.{b64url(PAYLOAD.replace(b'subject', b'subjecT'))}.{signature}"
    with pytest.raises(JwsRefused, match="does not verify") as refused:
        verify_compact_jws(tampered, key, alg)
    assert refused.value.bad_signature

    malformed = {
        "padded payload": f"{header}.{payload}=.{signature}",
        "junk in the signature": f"{header}.{payload}.{signature[:-2]}!{signature[-1]}",
        "short signature": f"{header}.{payload}.{b64url(b'x' * 63)}",
        "four parts": f"{token}.{payload}",
        "non-canonical last character": f"{header}.{payload}.{signature[:-1]}"
        + ("B" if signature[-1] == "A" else "A"),
    }
    for name, text in malformed.items():
        with pytest.raises(JwsRefused) as caught:
            verify_compact_jws(text, key, alg)
        assert not caught.value.bad_signature or name == "non-canonical last character", name


def test_a_key_verifies_only_its_own_algorithm() -> None:
    token, public = signed_elsewhere("OKP", "Ed25519", "EdDSA")
    key = public_key_of(public["kty"], public["crv"], public["x"])
    with pytest.raises(ValueError, match="does not verify ES256"):
        verify_compact_jws(token, key, "ES256")


def test_public_keys_off_the_curve_or_of_other_types_are_refused() -> None:
    _, public = signed_elsewhere("EC", "P-256", "ES256")
    with pytest.raises(ValueError):
        public_key_of("EC", "P-256", public["x"], b64url(b"\x01" * 32))  # not on the curve
    with pytest.raises(ValueError, match="unsupported"):
        public_key_of("EC", "P-384", public["x"], public["y"])
    with pytest.raises(ValueError):
        public_key_of("OKP", "Ed25519", b64url(b"\x00" * 31))
