"""The development PKI: certificates verify with independent verifiers (cryptography's X.509
verifier, ``openssl verify``), carry the RFC 8705 thumbprint, and work for real mutual TLS with
Python's ``ssl`` and with gRPC; bad partner ids, overwrites and half a CA are refused."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
import shutil
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, Subject, VerificationError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.errors import Conflict, Unavailable
from gateway.trust.pki import (
    IssuedCertificate,
    certificate_thumbprint,
    init_ca,
    issue_partner_certificate,
    issue_server_certificate,
    load_ca,
)
from tests.support import missing_tool

TIMEOUT = 5.0
PARTNER = "ru-credit-bureau"


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: IssuedCertificate
    server: IssuedCertificate
    partner: IssuedCertificate


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = init_ca(directory)
    return Pki(
        directory,
        ca,
        issue_server_certificate(directory),
        issue_partner_certificate(directory, PARTNER),
    )


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA that issues a certificate for the same partner id: the name alone is no trust."""
    directory = tmp_path_factory.mktemp("foreign-pki")
    ca = init_ca(directory, name="someone else's CA")
    return Pki(
        directory,
        ca,
        issue_server_certificate(directory),
        issue_partner_certificate(directory, PARTNER),
    )


def _cert(issued: IssuedCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert_path.read_bytes())


# --- certificate profiles ---------------------------------------------------------------------


def test_ca_is_a_p256_ca_limited_to_issuing_end_entities(pki: Pki) -> None:
    ca = _cert(pki.ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cxg development CA"
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)


def test_server_certificate_names_its_hosts_as_ip_and_dns_sans(pki: Pki) -> None:
    cert = _cert(pki.server)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    )
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    _assert_issued_by(cert, _cert(pki.ca))


def test_partner_certificate_names_the_partner(pki: Pki) -> None:
    cert = _cert(pki.partner)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == PARTNER
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "cxg partner"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:cxg:partner:{PARTNER}"]
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    )
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pki.partner.cert_path == pki.directory / "partners" / f"{PARTNER}.pem"
    assert pki.partner.key_path == pki.directory / "partners" / f"{PARTNER}-key.pem"
    _assert_issued_by(cert, _cert(pki.ca))


def _assert_issued_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    cert.verify_directly_issued_by(ca)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    # Valid from five minutes ago, for peers whose clocks run a little behind.
    skew = datetime.datetime.now(datetime.UTC) - cert.not_valid_before_utc
    assert datetime.timedelta(minutes=4) < skew < datetime.timedelta(minutes=6)
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc


def test_a_leaf_never_outlives_its_ca(tmp_path: Path) -> None:
    ca = init_ca(tmp_path, days=10)
    server = issue_server_certificate(tmp_path, days=825)
    assert _cert(server).not_valid_after_utc == _cert(ca).not_valid_after_utc


# --- independent chain verification --------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("localhost"),
    ],
    ids=["127.0.0.1", "::1", "localhost"],
)
def test_cryptography_verifies_the_server_chain(pki: Pki, subject: Subject) -> None:
    verifier = PolicyBuilder().store(Store([_cert(pki.ca)])).build_server_verifier(subject)
    chain = verifier.verify(_cert(pki.server), [])
    assert chain == [_cert(pki.server), _cert(pki.ca)]


def test_cryptography_refuses_the_server_certificate_for_another_host(pki: Pki) -> None:
    verifier = (
        PolicyBuilder()
        .store(Store([_cert(pki.ca)]))
        .build_server_verifier(x509.DNSName("example.com"))
    )
    with pytest.raises(VerificationError):
        verifier.verify(_cert(pki.server), [])


def test_cryptography_verifies_the_partner_chain_as_a_client(pki: Pki) -> None:
    verifier = PolicyBuilder().store(Store([_cert(pki.ca)])).build_client_verifier()
    verified = verifier.verify(_cert(pki.partner), [])
    assert verified.chain == [_cert(pki.partner), _cert(pki.ca)]
    assert verified.subjects == [x509.UniformResourceIdentifier(f"urn:cxg:partner:{PARTNER}")]


def test_cryptography_refuses_a_server_certificate_as_a_client(pki: Pki) -> None:
    verifier = PolicyBuilder().store(Store([_cert(pki.ca)])).build_client_verifier()
    with pytest.raises(VerificationError):  # EKU serverAuth only
        verifier.verify(_cert(pki.server), [])


def test_cryptography_refuses_a_partner_certificate_from_another_ca(pki: Pki, foreign: Pki) -> None:
    verifier = PolicyBuilder().store(Store([_cert(pki.ca)])).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(_cert(foreign.partner), [])


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        _unavailable("openssl is not on PATH")
    return found


def _unavailable(message: str) -> NoReturn:
    missing_tool(message, "OpenSSL (Debian: apt-get install openssl)")


@pytest.mark.parametrize(("which", "purpose"), [("server", "sslserver"), ("partner", "sslclient")])
def test_openssl_verifies_the_chain(pki: Pki, which: str, purpose: str) -> None:
    issued: IssuedCertificate = getattr(pki, which)
    done = subprocess.run(
        [
            _openssl(),
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            str(pki.ca.cert_path),
            str(issued.cert_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"{issued.cert_path}: OK"


def test_openssl_refuses_a_partner_certificate_from_another_ca(pki: Pki, foreign: Pki) -> None:
    done = subprocess.run(
        [_openssl(), "verify", "-CAfile", str(pki.ca.cert_path), str(foreign.partner.cert_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0


# --- RFC 8705 thumbprint ---------------------------------------------------------------------------


def test_thumbprint_is_base64url_sha256_of_the_der_certificate(pki: Pki) -> None:
    cert = _cert(pki.partner)
    der = cert.public_bytes(serialization.Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert len(expected) == 43
    assert pki.partner.thumbprint == expected
    assert certificate_thumbprint(cert) == expected
    assert certificate_thumbprint(der) == expected
    assert certificate_thumbprint(pki.partner.cert_path.read_bytes()) == expected
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", expected)


def test_thumbprint_refuses_ambiguous_or_foreign_input(pki: Pki) -> None:
    two = pki.partner.cert_path.read_bytes() + pki.ca.cert_path.read_bytes()
    with pytest.raises(ValueError, match="one PEM certificate"):
        certificate_thumbprint(two)
    with pytest.raises(ValueError):
        certificate_thumbprint(b"not a certificate")
    with pytest.raises(ValueError):
        certificate_thumbprint(pki.partner.key_path.read_bytes())


# --- mutual TLS with Python's ssl ------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSide:
    peer_der: bytes | None
    error: OSError | None


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert_path, pki.server.key_path)
    context.load_verify_locations(cafile=pki.ca.cert_path)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _client_context(ca: Path, client: IssuedCertificate | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server and its name
    context.load_verify_locations(cafile=ca)
    if client is not None:
        context.load_cert_chain(client.cert_path, client.key_path)
    return context


def _accept_once(listener: socket.socket, context: ssl.SSLContext) -> ServerSide:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(TIMEOUT)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert(binary_form=True)
                tls.sendall(b"ok")
                return ServerSide(peer, None)
        except OSError as exc:  # ssl.SSLError included
            return ServerSide(None, exc)


def _mtls(pki: Pki, client: IssuedCertificate | None) -> tuple[ServerSide, bytes | OSError]:
    """One handshake over 127.0.0.1; the client's result is what it read, or its error."""
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        futures.ThreadPoolExecutor(max_workers=1) as pool,
    ):
        listener.settimeout(TIMEOUT)
        server = pool.submit(_accept_once, listener, _server_context(pki))
        client_result: bytes | OSError
        try:
            with socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT) as raw:
                context = _client_context(pki.ca.cert_path, client)
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    # TLS 1.3: a refused client learns it at its first read, not in the handshake.
                    client_result = tls.recv(2)
        except OSError as exc:
            client_result = exc
        return server.result(timeout=TIMEOUT), client_result


def test_mtls_server_sees_the_partner_certificate_and_its_thumbprint(pki: Pki) -> None:
    server, client = _mtls(pki, pki.partner)
    assert server.error is None
    assert client == b"ok"
    assert server.peer_der is not None
    assert certificate_thumbprint(server.peer_der) == certificate_thumbprint(
        pki.partner.cert_path.read_bytes()
    )


def test_mtls_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    server, client = _mtls(pki, None)
    assert isinstance(server.error, ssl.SSLError)
    assert server.error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert client != b"ok"


def test_mtls_refuses_a_client_certificate_from_another_ca(pki: Pki, foreign: Pki) -> None:
    server, client = _mtls(pki, foreign.partner)
    assert isinstance(server.error, ssl.SSLCertVerificationError)
    assert server.error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert client != b"ok"


# --- mutual TLS with gRPC --------------------------------------------------------------------------

PEER_METHOD = "/cxg.test.Peer/Certificate"


@dataclass(frozen=True)
class GrpcServer:
    port: int
    auth_contexts: list[dict[str, list[bytes]]]


@pytest.fixture
def grpc_mtls(pki: Pki) -> Iterator[GrpcServer]:
    seen: list[dict[str, list[bytes]]] = []

    def peer_certificate(request: bytes, context: grpc.ServicerContext) -> bytes:
        auth: dict[str, list[bytes]] = context.auth_context()
        seen.append(auth)
        pem: bytes = auth["x509_pem_cert"][0]  # the peer's leaf certificate, PEM
        return pem

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "cxg.test.Peer",
                {"Certificate": grpc.unary_unary_rpc_method_handler(peer_certificate)},
            )
        ]
    )
    credentials = grpc.ssl_server_credentials(
        [(pki.server.key_path.read_bytes(), pki.server.cert_path.read_bytes())],
        root_certificates=pki.ca.cert_path.read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield GrpcServer(port, seen)
    finally:
        server.stop(None).wait(TIMEOUT)


def _channel(port: int, ca: Path, client: IssuedCertificate | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        ca.read_bytes(),
        client.key_path.read_bytes() if client else None,
        client.cert_path.read_bytes() if client else None,
    )
    # No ssl_target_name_override: the server certificate has the IP SAN 127.0.0.1.
    return grpc.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.enable_http_proxy", 0)]
    )


def test_grpc_mtls_health_check_and_the_server_sees_the_client_certificate(
    pki: Pki, grpc_mtls: GrpcServer
) -> None:
    with _channel(grpc_mtls.port, pki.ca.cert_path, pki.partner) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=TIMEOUT
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        pem = channel.unary_unary(PEER_METHOD)(b"", timeout=TIMEOUT)
    assert certificate_thumbprint(pem) == pki.partner.thumbprint
    (auth,) = grpc_mtls.auth_contexts
    assert auth["transport_security_type"] == [b"ssl"]
    assert auth["x509_common_name"] == [PARTNER.encode()]
    # gRPC makes the SAN the peer identity: context.peer_identities() gives the partner URN.
    assert auth["x509_subject_alternative_name"] == [f"urn:cxg:partner:{PARTNER}".encode()]


@pytest.mark.parametrize("client", ["none", "foreign"])
def test_grpc_mtls_refuses_a_client_without_a_certificate_from_our_ca(
    pki: Pki, foreign: Pki, grpc_mtls: GrpcServer, client: str
) -> None:
    presented = foreign.partner if client == "foreign" else None
    with (
        _channel(grpc_mtls.port, pki.ca.cert_path, presented) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert grpc_mtls.auth_contexts == []


# --- refusals and file handling --------------------------------------------------------------------


@pytest.mark.parametrize(
    "partner_id",
    ["../x", "A B", "", "a" * 64, "a", "-ab", "ab\n", "a/b", "ab.pem", "Acme", "acme-key"],
    ids=repr,
)
def test_bad_partner_ids_are_refused_before_any_file_is_written(
    tmp_path: Path, partner_id: str
) -> None:
    init_ca(tmp_path)
    with pytest.raises(ValueError, match=re.escape(repr(partner_id))):
        issue_partner_certificate(tmp_path, partner_id)
    assert not (tmp_path / "partners").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca-key.pem", "ca.pem"]


@pytest.mark.parametrize("partner_id", ["ab", "0x", "a" * 63, "kz-bank-2"])
def test_partner_ids_at_the_edges_of_the_pattern_are_accepted(
    tmp_path: Path, partner_id: str
) -> None:
    init_ca(tmp_path)
    issued = issue_partner_certificate(tmp_path, partner_id)
    assert issued.cert_path == tmp_path / "partners" / f"{partner_id}.pem"


def test_an_existing_partner_certificate_is_kept_unless_replace(tmp_path: Path) -> None:
    init_ca(tmp_path)
    first = issue_partner_certificate(tmp_path, PARTNER)
    cert, key = first.cert_path.read_bytes(), first.key_path.read_bytes()
    with pytest.raises(Conflict, match="replace=True"):
        issue_partner_certificate(tmp_path, PARTNER)
    assert first.cert_path.read_bytes() == cert
    assert first.key_path.read_bytes() == key
    second = issue_partner_certificate(tmp_path, PARTNER, replace=True)
    assert second.thumbprint != first.thumbprint
    assert second.key_path.read_bytes() != key
    assert certificate_thumbprint(second.cert_path.read_bytes()) == second.thumbprint


def test_a_leftover_partner_key_blocks_issuing_without_replace(tmp_path: Path) -> None:
    init_ca(tmp_path)
    first = issue_partner_certificate(tmp_path, PARTNER)
    first.cert_path.unlink()
    with pytest.raises(Conflict):
        issue_partner_certificate(tmp_path, PARTNER)


def test_init_ca_is_idempotent(tmp_path: Path) -> None:
    first = init_ca(tmp_path)
    cert, key = first.cert_path.read_bytes(), first.key_path.read_bytes()
    second = init_ca(tmp_path, name="ignored for an existing CA")
    assert second == first
    assert second.cert_path.read_bytes() == cert
    assert second.key_path.read_bytes() == key


def test_half_a_ca_is_refused_not_replaced(tmp_path: Path) -> None:
    first = init_ca(tmp_path)
    cert = first.cert_path.read_bytes()
    first.key_path.unlink()
    with pytest.raises(Unavailable, match=re.escape("ca-key.pem")):
        init_ca(tmp_path)
    assert first.cert_path.read_bytes() == cert
    assert not first.key_path.exists()


def test_load_ca_refuses_a_key_that_is_not_the_cas(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    server = issue_server_certificate(tmp_path)
    ca.key_path.write_bytes(server.key_path.read_bytes())
    with pytest.raises(Unavailable, match="does not belong"):
        load_ca(tmp_path)


def test_load_ca_refuses_a_leaf_as_the_ca(tmp_path: Path) -> None:
    ca = init_ca(tmp_path)
    server = issue_server_certificate(tmp_path)
    ca.cert_path.write_bytes(server.cert_path.read_bytes())
    ca.key_path.write_bytes(server.key_path.read_bytes())
    with pytest.raises(Unavailable, match="not a CA"):
        load_ca(tmp_path)


def test_nothing_is_issued_without_a_ca(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="init_ca"):
        load_ca(tmp_path)
    with pytest.raises(Unavailable):
        issue_server_certificate(tmp_path)
    with pytest.raises(Unavailable):
        issue_partner_certificate(tmp_path, PARTNER)
    assert list(tmp_path.iterdir()) == []


def test_load_ca_returns_the_ca_and_its_key(pki: Pki) -> None:
    cert, key = load_ca(pki.directory)
    assert cert == _cert(pki.ca)
    assert key.public_key() == cert.public_key()


@pytest.mark.parametrize(
    ("hosts", "error"),
    [("localhost", TypeError), ((), ValueError), (("bad host",), ValueError), (("",), ValueError)],
)
def test_bad_server_hosts_are_refused(
    tmp_path: Path, hosts: object, error: type[Exception]
) -> None:
    init_ca(tmp_path)
    with pytest.raises(error):
        issue_server_certificate(tmp_path, hosts)  # type: ignore[arg-type]
    assert not (tmp_path / "server.pem").exists()


def test_the_server_certificate_is_reissued_in_place(tmp_path: Path) -> None:
    init_ca(tmp_path)
    first = issue_server_certificate(tmp_path)
    second = issue_server_certificate(tmp_path, ["gateway.example", "10.0.0.7"])
    assert second.cert_path == first.cert_path
    san = _cert(second).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gateway.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]


def test_private_keys_are_unencrypted_pkcs8_with_mode_0600_and_no_temp_files_remain(
    pki: Pki,
) -> None:
    for issued in (pki.ca, pki.server, pki.partner):
        assert stat.S_IMODE(issued.key_path.stat().st_mode) == 0o600, issued.key_path
        pem = issued.key_path.read_bytes()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, not "EC PRIVATE KEY"
        key = serialization.load_pem_private_key(pem, password=None)
        assert key.public_key() == _cert(issued).public_key()
    files = sorted(p.relative_to(pki.directory).as_posix() for p in pki.directory.rglob("*"))
    assert files == [
        "ca-key.pem",
        "ca.pem",
        "partners",
        f"partners/{PARTNER}-key.pem",
        f"partners/{PARTNER}.pem",
        "server-key.pem",
        "server.pem",
    ]
