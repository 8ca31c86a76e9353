"""DPoP proofs (RFC 9449) made by an independent JOSE library (jwcrypto) verify, and each rule
of RFC 9449 section 4.3 refuses the proof that breaks it, naming the part and the rule."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from gateway.errors import InvalidArgument, Unauthenticated
from gateway.trust.dpop import MAX_PROOF_LENGTH, DpopProof, dpop_ath, verify_dpop_proof

ALGS = ("EdDSA", "ES256")
# One key per algorithm for the whole module: key generation is the slow part, and hypothesis
# examples may not use function-scoped fixtures.
KEYS = {
    "EdDSA": jc_jwk.JWK.generate(kty="OKP", crv="Ed25519"),
    "ES256": jc_jwk.JWK.generate(kty="EC", crv="P-256"),
}
OTHER_ALG = {"EdDSA": "ES256", "ES256": "EdDSA"}
NOW = 1_750_000_000
METHOD = "POST"
URL = "https://api.example.com/v1/profiles:lookup"
TOKEN = "Kz~8qA-b0.Y_1/+="  # RFC 6750 b64token characters
MISSING = object()


class MemoryJtiStore:
    """In-memory ``remember_jti``: True the first time a key is seen, False afterwards."""

    def __init__(self) -> None:
        self.entries: dict[str, float] = {}

    def __call__(self, key: str, expires_at: float) -> bool:
        if key in self.entries:
            return False
        self.entries[key] = expires_at
        return True


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public(alg: str) -> dict[str, Any]:
    return dict(KEYS[alg].export_public(as_dict=True))


def sign(protected: dict[str, Any] | str, payload: bytes, key: jc_jwk.JWK, alg: str) -> str:
    token = jc_jws.JWS(payload)
    raw = protected if isinstance(protected, str) else json.dumps(protected)
    token.add_signature(key, alg, protected=raw)
    return str(token.serialize(compact=True))


def make_proof(
    alg: str = "EdDSA",
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    signer: jc_jwk.JWK | None = None,
    sign_alg: str | None = None,
) -> str:
    """A proof signed by jwcrypto; ``header``/``claims`` entries override the defaults and an
    entry whose value is MISSING removes the member."""
    protected: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": public(alg)}
    body: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": METHOD, "htu": URL, "iat": NOW}
    for base, overrides in ((protected, header or {}), (body, claims or {})):
        for name, value in overrides.items():
            if value is MISSING:
                del base[name]
            else:
                base[name] = value
    return sign(
        protected, json.dumps(body).encode(), signer or KEYS[alg], sign_alg or protected["alg"]
    )


def verify(proof: str, **overrides: Any) -> DpopProof:
    kwargs: dict[str, Any] = {
        "method": METHOD,
        "url": URL,
        "now": NOW,
        "remember_jti": MemoryJtiStore(),
    }
    kwargs.update(overrides)
    return verify_dpop_proof(proof, **kwargs)


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), signature]
    )


def hs256(alg: str) -> str:
    """The classic key-confusion attack: HMAC keyed with the (public) header jwk."""
    jwk = public(alg)
    secret = jc_jwk.JWK(kty="oct", k=b64url(json.dumps(jwk).encode()))
    return make_proof(alg, header={"alg": "HS256"}, signer=secret)


def alg_none(alg: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": public(alg)}
    claims = {"jti": "j", "htm": METHOD, "htu": URL, "iat": NOW}
    return unsigned(header, claims)


def payload_swapped(alg: str) -> str:
    signed, other = make_proof(alg), make_proof(alg, claims={"htm": "GET"})
    head, _, sig = signed.split(".")
    return f"{head}.{other.split('.')[1]}.{sig}"


def with_private_d(alg: str) -> str:
    return make_proof(alg, header={"jwk": dict(KEYS[alg].export_private(as_dict=True))})


def foreign_key_type(alg: str) -> str:
    # Signed correctly with this alg's key, but the header names a key of the other type.
    return make_proof(alg, header={"jwk": public(OTHER_ALG[alg])})


def signed_by_another_key(alg: str) -> str:
    kty, crv = ("OKP", "Ed25519") if alg == "EdDSA" else ("EC", "P-256")
    other = jc_jwk.JWK.generate(kty=kty, crv=crv)
    return make_proof(alg, signer=other)


def oversize(alg: str) -> str:
    proof = make_proof(alg, claims={"pad": "x" * MAX_PROOF_LENGTH})
    assert len(proof) > MAX_PROOF_LENGTH
    return proof


def duplicate_header_member(alg: str) -> str:
    # jwcrypto keeps a protected header string verbatim; the second typ would win in PyJWT.
    raw = f'{{"typ": "JWT", "typ": "dpop+jwt", "alg": "{alg}", "jwk": {json.dumps(public(alg))}}}'
    claims = {"jti": "j", "htm": METHOD, "htu": URL, "iat": NOW}
    return sign(raw, json.dumps(claims).encode(), KEYS[alg], alg)


def claims(**overrides: Any) -> Callable[[str], str]:
    return lambda alg: make_proof(alg, claims=overrides)


def header(**overrides: Any) -> Callable[[str], str]:
    return lambda alg: make_proof(alg, header=overrides)


# (build(alg) -> proof, verify_dpop_proof overrides, expected field, part of the message)
REFUSALS = [
    pytest.param(header(typ="JWT"), {}, "DPoP.header.typ", "typ must be 'dpop+jwt'", id="typ-jwt"),
    pytest.param(header(typ=MISSING), {}, "DPoP.header.typ", "got None", id="typ-missing"),
    pytest.param(alg_none, {}, "DPoP.header.alg", "alg 'none' is not allowed", id="alg-none"),
    pytest.param(hs256, {}, "DPoP.header.alg", "alg 'HS256' is not allowed", id="alg-hs256"),
    pytest.param(header(crit=["b64"], b64=True), {}, "DPoP.header.crit", "crit", id="crit"),
    pytest.param(header(jwk=MISSING), {}, "DPoP.header.jwk", "jwk is missing", id="jwk-missing"),
    pytest.param(header(jwk="key"), {}, "DPoP.header.jwk", "not an object", id="jwk-string"),
    pytest.param(
        with_private_d, {}, "DPoP.header.jwk", "private members ['d']", id="jwk-private-d"
    ),
    pytest.param(foreign_key_type, {}, "DPoP.header.jwk", "does not match alg", id="jwk-vs-alg"),
    pytest.param(
        lambda alg: make_proof(alg, header={"jwk": {**public(alg), "alg": OTHER_ALG[alg]}}),
        {},
        "DPoP.header.jwk",
        "header jwk is for alg",
        id="jwk-alg-member",
    ),
    pytest.param(
        lambda alg: make_proof(alg, header={"jwk": {**public(alg), "x": public(alg)["x"][:-2]}}),
        {},
        "DPoP.header.jwk",
        "member 'x' is not 32 base64url bytes",
        id="jwk-short-x",
    ),
    pytest.param(
        duplicate_header_member,
        {},
        "DPoP.header",
        "duplicate member name",
        id="header-duplicate-typ",
    ),
    pytest.param(payload_swapped, {}, "DPoP", "signature does not verify", id="payload-swapped"),
    pytest.param(
        signed_by_another_key, {}, "DPoP", "signature does not verify", id="signed-by-another-key"
    ),
    pytest.param(
        lambda alg: sign(
            {"typ": "dpop+jwt", "alg": alg, "jwk": public(alg)}, b"[1, 2]", KEYS[alg], alg
        ),
        {},
        "DPoP.claims",
        "payload is not a JSON object",
        id="payload-array",
    ),
    pytest.param(claims(jti=MISSING), {}, "DPoP.claims.jti", "claim jti must be", id="no-jti"),
    pytest.param(claims(jti=""), {}, "DPoP.claims.jti", "1 to 256 characters", id="jti-empty"),
    pytest.param(claims(jti="j" * 257), {}, "DPoP.claims.jti", "1 to 256", id="jti-257"),
    pytest.param(claims(jti=7), {}, "DPoP.claims.jti", "claim jti must be", id="jti-number"),
    pytest.param(claims(htm=MISSING), {}, "DPoP.claims.htm", "htm is missing", id="no-htm"),
    pytest.param(
        claims(htm="GET"), {}, "DPoP.claims.htm", "'GET' is not the request method", id="htm-get"
    ),
    pytest.param(
        claims(htm="post"), {}, "DPoP.claims.htm", "'post' is not the request", id="htm-case"
    ),
    pytest.param(claims(htu=MISSING), {}, "DPoP.claims.htu", "htu is missing", id="no-htu"),
    pytest.param(
        claims(htu="https://api.example.com/v1/profiles:publish"),
        {},
        "DPoP.claims.htu",
        "is not the request URI",
        id="htu-other-path",
    ),
    pytest.param(
        claims(htu="https://evil.example.com/v1/profiles:lookup"),
        {},
        "DPoP.claims.htu",
        "is not the request URI",
        id="htu-other-host",
    ),
    pytest.param(
        claims(htu="http://api.example.com/v1/profiles:lookup"),
        {},
        "DPoP.claims.htu",
        "is not the request URI",
        id="htu-http-not-https",
    ),
    pytest.param(
        claims(htu="https://api.example.com:8443/v1/profiles:lookup"),
        {},
        "DPoP.claims.htu",
        "is not the request URI",
        id="htu-other-port",
    ),
    pytest.param(
        claims(htu="https://api.example.com/v1/profiles:lookup/"),
        {},
        "DPoP.claims.htu",
        "is not the request URI",
        id="htu-trailing-slash",
    ),
    pytest.param(
        claims(htu="/v1/profiles:lookup"),
        {},
        "DPoP.claims.htu",
        "not an absolute http(s) URI",
        id="htu-relative",
    ),
    pytest.param(
        claims(htu="https://user@api.example.com/v1/profiles:lookup"),
        {},
        "DPoP.claims.htu",
        "userinfo is not allowed",
        id="htu-userinfo",
    ),
    pytest.param(claims(iat=MISSING), {}, "DPoP.claims.iat", "iat is missing", id="no-iat"),
    pytest.param(claims(iat=str(NOW)), {}, "DPoP.claims.iat", "not an integer", id="iat-string"),
    pytest.param(claims(iat=NOW + 0.5), {}, "DPoP.claims.iat", "not an integer", id="iat-float"),
    pytest.param(claims(iat=True), {}, "DPoP.claims.iat", "not an integer", id="iat-bool"),
    pytest.param(
        claims(iat=NOW + 11),
        {"max_future_skew": 10},
        "DPoP.claims.iat",
        "more than 10 s in the future",
        id="iat-11s-ahead",
    ),
    pytest.param(
        claims(iat=NOW - 61),
        {"max_age": 60},
        "DPoP.claims.iat",
        "more than 60 s in the past",
        id="iat-61s-old",
    ),
    pytest.param(
        claims(nbf=NOW + 11), {}, "DPoP.claims.nbf", "nbf is more than 10 s", id="nbf-11s-ahead"
    ),
    pytest.param(claims(nbf=str(NOW)), {}, "DPoP.claims.nbf", "not an integer", id="nbf-string"),
    pytest.param(claims(exp=NOW), {}, "DPoP.claims.exp", "the proof has expired", id="exp-now"),
    pytest.param(claims(exp=True), {}, "DPoP.claims.exp", "not an integer", id="exp-bool"),
    pytest.param(
        claims(htu="https://api.example.net/v1/profiles:lookup"),
        {"url": (URL, "http://127.0.0.1:8080/v1/profiles:lookup")},
        "DPoP.claims.htu",
        "or the same path under another of 1 origins",
        id="htu-none-of-the-origins",
    ),
    pytest.param(
        claims(ath=dpop_ath("another token")),
        {"access_token": TOKEN},
        "DPoP.claims.ath",
        "not the hash of the access token",
        id="ath-wrong",
    ),
    pytest.param(
        claims(ath=dpop_ath(TOKEN) + "="),
        {"access_token": TOKEN},
        "DPoP.claims.ath",
        "not the hash of the access token",
        id="ath-padded",
    ),
    pytest.param(
        claims(),
        {"access_token": TOKEN},
        "DPoP.claims.ath",
        "ath is missing but the request carries an access token",
        id="ath-missing",
    ),
    pytest.param(
        claims(),
        {"expected_jkt": b64url(b"\0" * 32)},
        "DPoP.header.jwk",
        "(cnf.jkt)",
        id="expected-jkt-other",
    ),
    pytest.param(oversize, {}, "DPoP", f"longer than {MAX_PROOF_LENGTH}", id="oversize"),
]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(("build", "overrides", "field", "message"), REFUSALS)
def test_refused(
    alg: str, build: Callable[[str], str], overrides: dict[str, Any], field: str, message: str
) -> None:
    store = MemoryJtiStore()
    with pytest.raises(Unauthenticated) as caught:
        verify(build(alg), remember_jti=store, **overrides)
    assert caught.value.field == field
    assert message in caught.value.message
    # Replay is checked last, so no refused proof takes room in the store.
    assert store.entries == {}


@pytest.mark.parametrize(
    "proof",
    [
        pytest.param("", id="empty"),
        pytest.param("e30.e30", id="two-parts"),
        pytest.param("e30.e30.e30.e30", id="four-parts"),
        pytest.param("e30..sig", id="empty-payload"),
        pytest.param("e30.e30.sig=", id="padded"),
        pytest.param("e30.e30.s+g", id="not-base64url"),
        pytest.param(" " + make_proof(), id="leading-space"),
        pytest.param(make_proof() + "," + make_proof(), id="two-proofs-comma-joined"),
        pytest.param(
            json.dumps({"protected": "e30", "payload": "e30", "signature": ""}), id="json"
        ),
    ],
)
def test_refused_unless_exactly_one_compact_jws(proof: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        verify(proof)
    assert caught.value.field == "DPoP"
    assert "not exactly one compact JWS (three base64url parts)" in caught.value.message


def test_refused_when_the_header_is_not_json() -> None:
    with pytest.raises(Unauthenticated) as caught:
        verify(f"{b64url(b'not json')}.e30.c2ln")
    assert caught.value.field == "DPoP.header"
    assert "not a base64url JSON object" in caught.value.message


@pytest.mark.parametrize("alg", ALGS)
def test_a_valid_proof_verifies_and_its_jkt_is_the_rfc7638_thumbprint(alg: str) -> None:
    store = MemoryJtiStore()
    proof = make_proof(alg, claims={"jti": "id-1"})
    verified = verify(proof, remember_jti=store)
    assert verified == DpopProof(
        jkt=KEYS[alg].thumbprint(), jti="id-1", htm=METHOD, htu=URL, iat=NOW
    )
    # The replay key is scoped by key thumbprint and kept as long as the proof is fresh.
    assert store.entries == {f"{KEYS[alg].thumbprint()}:id-1": NOW + 60}


@pytest.mark.parametrize("alg", ALGS)
def test_a_proof_with_ath_verifies_for_its_access_token_and_its_key(alg: str) -> None:
    proof = make_proof(alg, claims={"ath": dpop_ath(TOKEN)})
    verified = verify(proof, access_token=TOKEN, expected_jkt=KEYS[alg].thumbprint())
    assert verified.jkt == KEYS[alg].thumbprint()


def test_ath_is_not_required_without_an_access_token() -> None:
    # E.g. at the token endpoint, where no access token exists yet.
    assert verify(make_proof(claims={"ath": dpop_ath(TOKEN)})).htm == METHOD


def test_dpop_ath_is_the_unpadded_base64url_sha256_of_the_token() -> None:
    # RFC 9449 section 7.1 (the example access token and its ath).
    assert (
        dpop_ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
        == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_dpop_ath_refuses_a_non_ascii_token() -> None:
    with pytest.raises(InvalidArgument) as caught:
        dpop_ath("tökén")
    assert caught.value.field == "access_token"


@pytest.mark.parametrize(
    ("htu", "url"),
    [
        pytest.param(URL + "?scheme=CN_USCC&value=1", URL, id="query-in-htu"),
        pytest.param(URL, URL + "?scheme=CN_USCC#top", id="query-and-fragment-in-url"),
        pytest.param(URL + "#frag", URL, id="fragment-in-htu"),
        pytest.param("https://api.example.com:443/v1/profiles:lookup", URL, id="default-port"),
        pytest.param(URL, "https://api.example.com:443/v1/profiles:lookup", id="url-default-port"),
        pytest.param("HTTPS://API.Example.COM/v1/profiles:lookup", URL, id="scheme-host-case"),
        pytest.param("http://localhost:80", "http://LOCALHOST/", id="empty-path-is-slash"),
        pytest.param("https://api.example.com/v1/%70rofiles:lookup", URL, id="unreserved-pct"),
        pytest.param(
            "https://api.example.com/v1/a%2fb", "https://api.example.com/v1/a%2Fb", id="pct-case"
        ),
        pytest.param("https://api.example.com/v1/x/../profiles:lookup", URL, id="dot-segments"),
        pytest.param("https://[::1]:8443/a", "https://[::1]:8443/a", id="ipv6-host"),
    ],
)
def test_htu_matches_after_rfc3986_normalization(htu: str, url: str) -> None:
    assert verify(make_proof(claims={"htu": htu}), url=url).htu == htu


def test_htu_may_name_the_request_under_any_of_the_servers_origins() -> None:
    other = "http://127.0.0.1:8080/v1/profiles:lookup"
    for htu in (URL, other):
        assert verify(make_proof(claims={"htu": htu}), url=(URL, other)).htu == htu


def test_nbf_and_exp_within_their_bounds_are_accepted() -> None:
    assert verify(make_proof(claims={"nbf": NOW + 10, "exp": NOW + 1})).iat == NOW


@pytest.mark.parametrize(
    ("iat", "overrides"),
    [
        pytest.param(NOW + 9, {"max_future_skew": 10}, id="9s-ahead"),
        pytest.param(NOW + 10, {"max_future_skew": 10}, id="10s-ahead"),
        pytest.param(NOW - 60, {"max_age": 60}, id="60s-old"),
        pytest.param(NOW - 299, {"max_age": 300}, id="299s-old-max-age-300"),
    ],
)
def test_iat_within_the_window_is_accepted(iat: int, overrides: dict[str, Any]) -> None:
    assert verify(make_proof(claims={"iat": iat}), **overrides).iat == iat


def test_now_may_be_fractional() -> None:
    assert verify(make_proof(claims={"iat": NOW + 10}), now=NOW + 0.5).iat == NOW + 10
    with pytest.raises(Unauthenticated, match="in the past"):
        verify(make_proof(claims={"iat": NOW - 60}), now=NOW + 0.5)


@pytest.mark.parametrize("alg", ALGS)
def test_a_replayed_proof_is_refused(alg: str) -> None:
    store = MemoryJtiStore()
    proof = make_proof(alg)
    verify(proof, remember_jti=store)
    with pytest.raises(Unauthenticated) as caught:
        verify(proof, remember_jti=store)
    assert caught.value.field == "DPoP.claims.jti"
    assert "replayed proof" in caught.value.message


def test_the_same_jti_under_another_key_is_not_a_replay() -> None:
    store = MemoryJtiStore()
    for alg in ALGS:
        verify(make_proof(alg, claims={"jti": "shared"}), remember_jti=store)
    assert len(store.entries) == 2


def test_a_forged_proof_never_reaches_the_replay_store() -> None:
    def store(key: str, expires_at: float) -> bool:
        raise AssertionError("remember_jti called for a refused proof")

    for alg in ALGS:
        with pytest.raises(Unauthenticated, match="signature does not verify"):
            verify(payload_swapped(alg), remember_jti=store)


def test_an_unusable_request_url_is_the_callers_error_not_the_proofs() -> None:
    with pytest.raises(InvalidArgument) as caught:
        verify(make_proof(), url="https://api.example.com:99999/v1/profiles:lookup")
    assert caught.value.field == "url"


HTTP_METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
TOKEN_METHODS = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
PATHS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_~:@", min_size=1, max_size=12),
    max_size=5,
).map(lambda segments: "/" + "/".join(segments))


@settings(deadline=None, max_examples=60)
@given(
    alg=st.sampled_from(ALGS),
    method=HTTP_METHODS | TOKEN_METHODS,
    other=HTTP_METHODS | TOKEN_METHODS,
    path=PATHS,
)
def test_a_proof_verifies_for_its_method_and_uri_and_no_other(
    alg: str, method: str, other: str, path: str
) -> None:
    url = f"https://api.example.com{path}"
    proof = make_proof(alg, claims={"htm": method, "htu": url})
    verified = verify(proof, method=method, url=url)
    assert (verified.htm, verified.htu) == (method, url)
    if other != method:
        with pytest.raises(Unauthenticated) as caught:
            verify(proof, method=other, url=url)
        assert caught.value.field == "DPoP.claims.htm"
    with pytest.raises(Unauthenticated) as caught:
        verify(proof, method=method, url=f"{url}/x")
    assert caught.value.field == "DPoP.claims.htu"
