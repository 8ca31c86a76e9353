"""The SET receiver test double (tests/set_receiver.py) against real HTTP: SETs signed with
jwcrypto, posted with httpx, each verdict and each failure mode checked on the wire."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from tests.set_receiver import ReceivedSet, SetReceiver

ISSUER = "https://cxg.example.test"
AUDIENCE = "partner-kz-bank"
EVENT = "https://schemas.cxg.example/secevent/profile-updated"
SET_CT = "application/secevent+jwt"


def _key(kty: str, crv: str) -> jc_jwk.JWK:
    return jc_jwk.JWK.generate(kty=kty, crv=crv)


@pytest.fixture(scope="module")
def ed_key() -> jc_jwk.JWK:
    return _key("OKP", "Ed25519")


@pytest.fixture(scope="module")
def ec_key() -> jc_jwk.JWK:
    return _key("EC", "P-256")


@pytest.fixture(scope="module")
def jwks(ed_key: jc_jwk.JWK, ec_key: jc_jwk.JWK) -> dict[str, Any]:
    keys = []
    for key in (ed_key, ec_key):
        public = key.export_public(as_dict=True)
        public["kid"] = key.thumbprint()
        keys.append(public)
    return {"keys": keys}


@pytest.fixture
def receiver(jwks: dict[str, Any]) -> Iterator[SetReceiver]:
    with SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE) as r:
        yield r


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


_counter = iter(range(1_000_000))


def claims(**changes: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(time.time()),
        "jti": f"set-{next(_counter)}",
        "sub_id": {"format": "opaque", "id": "profiles/91370200MA3C5QH2X4"},
        "events": {EVENT: {"version": 3}},
    }
    for name, value in changes.items():
        if value is _DROP:
            del c[name]
        else:
            c[name] = value
    return c


_DROP = object()


def sign(
    key: jc_jwk.JWK,
    payload: dict[str, Any],
    *,
    kid: str | None = None,
    alg: str | None = None,
    typ: str = "secevent+jwt",
) -> str:
    if alg is None:
        alg = "EdDSA" if key["kty"] == "OKP" else "ES256"
    header = {"alg": alg, "kid": kid or key.thumbprint(), "typ": typ}
    token = jc_jws.JWS(json.dumps(payload).encode())
    token.add_signature(key, protected=json.dumps(header))
    compact: str = token.serialize(compact=True)
    return compact


def b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def post(
    client: httpx.Client, receiver: SetReceiver, body: str, content_type: str = SET_CT
) -> httpx.Response:
    return client.post(receiver.url, content=body, headers={"Content-Type": content_type})


# -- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["EdDSA", "ES256"])
def test_accepts_a_signed_set(
    receiver: SetReceiver,
    client: httpx.Client,
    ed_key: jc_jwk.JWK,
    ec_key: jc_jwk.JWK,
    which: str,
) -> None:
    key = ed_key if which == "EdDSA" else ec_key
    c = claims(txn="txn-1")
    token = sign(key, c)
    before = time.monotonic()
    response = post(client, receiver, token)
    assert response.status_code == 202
    assert response.content == b""
    [got] = receiver.received
    assert got == ReceivedSet(c["jti"], got.header, c, token, got.received_at)
    assert got.header == {"alg": which, "kid": key.thumbprint(), "typ": "secevent+jwt"}
    assert before <= got.received_at <= time.monotonic()
    assert receiver.accepted_jtis() == [c["jti"]]
    assert receiver.invalid == [] and receiver.duplicates() == {}
    assert receiver.attempts == 1
    assert receiver.url.startswith("http://127.0.0.1:") and receiver.url.endswith("/events")


def test_lenient_where_the_rfcs_are(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    """A media type parameter, typ in another case or with its application/ prefix, aud as a
    list that holds the partner: all accepted."""
    tokens = [
        sign(ed_key, claims(), typ="SecEvent+JWT"),
        sign(ed_key, claims(), typ="application/secevent+jwt"),
        sign(ed_key, claims(aud=["someone-else", AUDIENCE])),
    ]
    assert post(client, receiver, tokens[0], SET_CT + "; charset=us-ascii").status_code == 202
    for token in tokens[1:]:
        assert post(client, receiver, token).status_code == 202
    assert [s.raw for s in receiver.received] == tokens


def test_a_duplicate_jti_is_accepted_and_counted(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK, ec_key: jc_jwk.JWK
) -> None:
    first, other = claims(), claims()
    again = sign(ec_key, first)  # the same SET, signed again: a redelivery
    for token in (sign(ed_key, first), sign(ed_key, other), again, again):
        assert post(client, receiver, token).status_code == 202
    assert [s.jti for s in receiver.received] == [first["jti"], other["jti"]] + [first["jti"]] * 2
    assert receiver.accepted_jtis() == [first["jti"], other["jti"]]
    assert receiver.duplicates() == {first["jti"]: 3}


# -- rejected --------------------------------------------------------------------------------


def _alg_none(key: jc_jwk.JWK) -> str:
    return (
        f"{b64({'alg': 'none', 'kid': key.thumbprint(), 'typ': 'secevent+jwt'})}.{b64(claims())}."
    )


def _tampered(key: jc_jwk.JWK) -> str:
    header, _, signature = sign(key, claims()).split(".")
    return f"{header}.{b64(claims(aud=AUDIENCE, jti='forged'))}.{signature}"


REJECTIONS: dict[str, tuple[str, Any]] = {
    # name: (err, a function of the Ed25519 key and the EC key giving the body)
    "wrong issuer": ("invalid_issuer", lambda ed, ec: sign(ed, claims(iss=ISSUER + "/other"))),
    "no issuer": ("invalid_issuer", lambda ed, ec: sign(ed, claims(iss=_DROP))),
    "wrong audience": ("invalid_audience", lambda ed, ec: sign(ed, claims(aud="partner-ru"))),
    "audience list without us": (
        "invalid_audience",
        lambda ed, ec: sign(ed, claims(aud=["partner-ru"])),
    ),
    "typ JWT": ("invalid_request", lambda ed, ec: sign(ed, claims(), typ="JWT")),
    "signed by another key": (
        "authentication_failed",
        lambda ed, ec: sign(_key("OKP", "Ed25519"), claims(), kid=ed.thumbprint()),
    ),
    "payload tampered": ("authentication_failed", lambda ed, ec: _tampered(ec)),
    "unknown kid": ("invalid_key", lambda ed, ec: sign(_key("OKP", "Ed25519"), claims())),
    "alg none": ("authentication_failed", lambda ed, ec: _alg_none(ed)),
    "ES256 for an Ed25519 key": (
        "authentication_failed",
        lambda ed, ec: sign(ec, claims(), kid=ed.thumbprint()),
    ),
    "HS256 with the public key as secret": (
        "authentication_failed",
        lambda ed, ec: sign(
            jc_jwk.JWK(kty="oct", k=ed.export_public(as_dict=True)["x"]),
            claims(),
            kid=ed.thumbprint(),
            alg="HS256",
        ),
    ),
    "no jti": ("invalid_request", lambda ed, ec: sign(ed, claims(jti=_DROP))),
    "empty jti": ("invalid_request", lambda ed, ec: sign(ed, claims(jti=""))),
    "iat a string": ("invalid_request", lambda ed, ec: sign(ed, claims(iat="1700000000"))),
    "iat a bool": ("invalid_request", lambda ed, ec: sign(ed, claims(iat=True))),
    "no events": ("invalid_request", lambda ed, ec: sign(ed, claims(events=_DROP))),
    "empty events": ("invalid_request", lambda ed, ec: sign(ed, claims(events={}))),
    "event not an object": ("invalid_request", lambda ed, ec: sign(ed, claims(events={EVENT: 1}))),
    "not a JWS": ("invalid_request", lambda ed, ec: "not-a-jws"),
    "JWS JSON serialization": (
        "invalid_request",
        lambda ed, ec: json.dumps({"payload": b64(claims()), "signature": "AA"}),
    ),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejects_with_the_rfc_8935_error(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK, ec_key: jc_jwk.JWK, case: str
) -> None:
    err, make = REJECTIONS[case]
    body = make(ed_key, ec_key)
    response = post(client, receiver, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["err"] == err and answer["description"]
    assert receiver.received == []
    [(raw, reason)] = receiver.invalid
    assert raw == body and reason.startswith(err + ": ")
    assert receiver.attempts == 1


@pytest.mark.parametrize(
    "content_type", [None, "application/jwt", "application/json", "text/plain"]
)
def test_rejects_another_content_type(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK, content_type: str | None
) -> None:
    token = sign(ed_key, claims())
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post(receiver.url, content=token, headers=headers)
    assert response.status_code == 400
    assert response.json()["err"] == "invalid_request"
    assert receiver.invalid == [(token, receiver.invalid[0][1])]
    assert "Content-Type" in receiver.invalid[0][1]
    assert receiver.received == []


def test_rejects_a_body_over_64_kib(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    big = sign(ed_key, claims(events={EVENT: {"padding": "x" * 70_000}}))
    response = post(client, receiver, big)
    assert response.status_code == 400 and response.json()["err"] == "invalid_request"
    assert "65536" in receiver.invalid[0][1]
    # The connection was closed after the answer; the next SET goes on a new one.
    assert post(client, receiver, sign(ed_key, claims())).status_code == 202


def test_other_paths_and_methods(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    token = sign(ed_key, claims())
    other = receiver.url.replace("/events", "/other")
    assert client.post(other, content=token, headers={"Content-Type": SET_CT}).status_code == 404
    assert client.get(other).status_code == 404
    response = client.get(receiver.url)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert client.put(receiver.url, content=token).status_code == 405
    assert receiver.received == [] and receiver.invalid == []
    assert receiver.attempts == 1  # the POST to /other


def test_a_jwks_with_a_private_key_is_refused(ed_key: jc_jwk.JWK) -> None:
    with pytest.raises(ValueError, match="private"):
        SetReceiver({"keys": [ed_key.export(as_dict=True)]}, issuer=ISSUER, audience=AUDIENCE)


# -- modes -----------------------------------------------------------------------------------


def test_mode_fail_and_reject(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    token = sign(ed_key, claims())
    receiver.mode = "fail"
    assert post(client, receiver, token).status_code == 500
    receiver.mode = "reject"
    response = post(client, receiver, token)
    assert response.status_code == 400 and response.json()["err"] == "invalid_request"
    assert receiver.received == [] and receiver.invalid == []
    receiver.mode = "accept"
    assert post(client, receiver, token).status_code == 202
    assert receiver.attempts == 3
    assert receiver.accepted_jtis() == [
        json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    ]
    with pytest.raises(ValueError, match="mode"):
        receiver.mode = "crash"


def test_mode_slow_times_the_client_out_without_blocking_others_or_stop(
    jwks: dict[str, Any], ed_key: jc_jwk.JWK
) -> None:
    receiver = SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE).start()
    try:
        receiver.mode = "slow"
        assert receiver.slow_seconds == 30
        with httpx.Client(timeout=0.5) as slow_client:
            started = time.monotonic()
            with pytest.raises(httpx.TimeoutException):
                post(slow_client, receiver, sign(ed_key, claims()))
            assert 0.4 < time.monotonic() - started < 5
        # The slow request still waits in its thread; another is answered at once.
        receiver.mode = "accept"
        with httpx.Client(timeout=2.0) as client:
            assert post(client, receiver, sign(ed_key, claims())).status_code == 202
        assert receiver.attempts == 2 and len(receiver.received) == 1
    finally:
        started = time.monotonic()
        receiver.stop()
        assert time.monotonic() - started < 2
    assert len(receiver.received) == 1  # the slow SET was dropped, not accepted, at stop()


def test_mode_slow_answers_as_accept_after_the_delay(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    receiver.mode, receiver.slow_seconds = "slow", 0.3
    started = time.monotonic()
    assert post(client, receiver, sign(ed_key, claims())).status_code == 202
    assert time.monotonic() - started >= 0.3
    assert post(client, receiver, sign(ed_key, claims(iss="evil"))).json()["err"] == (
        "invalid_issuer"
    )
    assert len(receiver.received) == 1 and len(receiver.invalid) == 1


def test_stop_returns_promptly_while_a_slow_request_waits(
    jwks: dict[str, Any], ed_key: jc_jwk.JWK
) -> None:
    receiver = SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE).start()
    receiver.mode = "slow"
    outcome: list[BaseException | int] = []

    def deliver() -> None:
        with httpx.Client(timeout=10.0) as client:
            try:
                outcome.append(post(client, receiver, sign(ed_key, claims())).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=deliver)
    thread.start()
    deadline = time.monotonic() + 5
    while receiver.attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    receiver.stop()
    assert time.monotonic() - started < 2
    thread.join(5)
    [result] = outcome
    assert isinstance(result, httpx.RemoteProtocolError)  # dropped unanswered
    assert receiver.received == []


def test_mode_refuse_then_listen_again_on_the_same_port(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    url = receiver.url
    assert post(client, receiver, sign(ed_key, claims())).status_code == 202  # a pooled connection
    receiver.mode = "refuse"
    with pytest.raises(httpx.ConnectError):
        post(client, receiver, sign(ed_key, claims()))
    with httpx.Client(timeout=2.0) as fresh, pytest.raises(httpx.ConnectError):
        fresh.post(url, content=sign(ed_key, claims()), headers={"Content-Type": SET_CT})
    assert receiver.attempts == 1
    receiver.mode = "fail"  # any other mode listens again
    assert receiver.url == url
    assert post(client, receiver, sign(ed_key, claims())).status_code == 500
    receiver.mode = "accept"
    assert post(client, receiver, sign(ed_key, claims())).status_code == 202
    assert len(receiver.received) == 2 and receiver.attempts == 3


def test_stop_with_idle_keep_alive_connections(jwks: dict[str, Any], ed_key: jc_jwk.JWK) -> None:
    with httpx.Client(timeout=5.0) as client:
        receiver = SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE).start()
        url = receiver.url
        try:
            for _ in range(3):
                assert post(client, receiver, sign(ed_key, claims())).status_code == 202
        finally:
            started = time.monotonic()
            receiver.stop()
            assert time.monotonic() - started < 2
        with pytest.raises(RuntimeError, match="not started"):
            receiver.url  # noqa: B018
        with pytest.raises(httpx.ConnectError):
            client.post(url, content=b"", headers={"Content-Type": SET_CT})


def test_refuse_before_start(jwks: dict[str, Any], ed_key: jc_jwk.JWK) -> None:
    receiver = SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE)
    receiver.mode = "refuse"
    with receiver, httpx.Client(timeout=2.0) as client:
        with pytest.raises(httpx.ConnectError):
            post(client, receiver, sign(ed_key, claims()))
        receiver.mode = "accept"
        assert post(client, receiver, sign(ed_key, claims())).status_code == 202


# -- wait_for --------------------------------------------------------------------------------


def test_wait_for_distinct_sets(receiver: SetReceiver, ed_key: jc_jwk.JWK) -> None:
    first, second = claims(), claims()

    def deliver() -> None:
        with httpx.Client(timeout=5.0) as client:
            for c in (first, first, second):
                time.sleep(0.1)
                post(client, receiver, sign(ed_key, c))

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        got = receiver.wait_for(2, timeout=10)
    finally:
        thread.join(10)
    assert [s.jti for s in got] == [first["jti"], second["jti"]]
    assert receiver.duplicates() == {first["jti"]: 2}


def test_wait_for_times_out_naming_what_arrived(
    receiver: SetReceiver, client: httpx.Client, ed_key: jc_jwk.JWK
) -> None:
    c = claims()
    post(client, receiver, sign(ed_key, c))
    post(client, receiver, sign(ed_key, claims(aud="partner-ru")))
    started = time.monotonic()
    with pytest.raises(AssertionError) as caught:
        receiver.wait_for(2, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    message = str(caught.value)
    assert "expected 2" in message and "1 arrived" in message and c["jti"] in message
    assert "invalid_audience" in message and receiver.url in message


# -- TLS -------------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, cert_pem


def test_tls(tmp_path: Path, jwks: dict[str, Any], ed_key: jc_jwk.JWK) -> None:
    cert_file, key_file, cert_pem = _self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cadata=cert_pem.decode())
    with (
        SetReceiver(jwks, issuer=ISSUER, audience=AUDIENCE, ssl_context=server_context) as r,
        httpx.Client(verify=trusting, timeout=5.0) as client,
    ):
        assert r.url.startswith("https://127.0.0.1:")
        token = sign(ed_key, claims())
        assert post(client, r, token).status_code == 202
        assert post(client, r, sign(ed_key, claims(iss="x"))).json()["err"] == "invalid_issuer"
        assert [s.raw for s in r.received] == [token]
        # A client that does not trust the certificate gets no answer.
        with httpx.Client(timeout=5.0) as untrusting, pytest.raises(httpx.ConnectError):
            post(untrusting, r, token)
        # refuse and back, then stop with a TLS connection still open in the pool
        r.mode = "refuse"
        with pytest.raises(httpx.ConnectError):
            post(client, r, token)
        r.mode = "accept"
        assert post(client, r, token).status_code == 202
        assert r.duplicates() == {r.received[0].jti: 2}
