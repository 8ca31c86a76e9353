"""Mutual TLS on both transports of a real gateway, with certificates from `cxg pki`: a partner
certificate from the gateway's CA gets through; no certificate, or one from another CA, does not."""

from __future__ import annotations

import base64
import dataclasses
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import Settings
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as pb_grpc
from gateway.service import PartnerAdmin
from gateway.transport.serve import Gateway
from gateway.trust.pki import certificate_thumbprint
from tests.partner_client import assertion
from tests.support import TestPartner


def cxg(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def pki_dirs(tmp_path: Path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "pki", tmp_path / "other-pki"
    cxg("pki", "init", "--dir", str(ours))
    cxg("pki", "issue-partner", "kz-bank", "--dir", str(ours))
    cxg("pki", "init", "--dir", str(theirs))
    cxg("pki", "issue-partner", "kz-bank", "--dir", str(theirs))
    return ours, theirs


@pytest.fixture
def mtls_gateway(settings: Settings, pki_dirs: tuple[Path, Path]) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, tls_dir=pki_dirs[0]))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    # Only our CA's certificate is registered: the other CA's never gets past the handshake.
    running.partners.add_certificate(
        "kz-bank", (pki_dirs[0] / "partners" / "kz-bank.pem").read_bytes()
    )
    running.start()
    yield running
    running.stop()


def _tls_context(ca: Path, cert_dir: Path, partner_id: str = "kz-bank") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    partner_certs = cert_dir / "partners"
    ctx.load_cert_chain(
        partner_certs / f"{partner_id}.pem", partner_certs / f"{partner_id}-key.pem"
    )
    return ctx


def _token_over_mtls(gateway: Gateway, ctx: ssl.SSLContext, partner: TestPartner) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(partner),
    }
    return httpx.post(f"https://127.0.0.1:{gateway.rest_port}/oauth2/token", data=form, verify=ctx)


def _grpc_get(
    gateway: Gateway, ca: Path, cert_dir: Path | None, token: str = ""
) -> grpc.StatusCode:
    client = (
        (
            (cert_dir / "partners" / "kz-bank-key.pem").read_bytes(),
            (cert_dir / "partners" / "kz-bank.pem").read_bytes(),
        )
        if cert_dir
        else (None, None)
    )
    credentials = grpc.ssl_channel_credentials(ca.read_bytes(), *client)
    with grpc.secure_channel(f"127.0.0.1:{gateway.grpc_port}", credentials) as channel:
        try:
            pb_grpc.ProfileServiceStub(channel).GetProfile(
                pb.GetProfileRequest(name="profiles/" + "a" * 32, purpose="trade_due_diligence"),
                timeout=10,
                metadata=(("authorization", f"Bearer {token}"),) if token else None,
            )
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_grpc_requires_a_client_certificate_from_our_ca(
    mtls_gateway: Gateway, pki_dirs: tuple[Path, Path], partners: dict[str, TestPartner]
) -> None:
    ours, theirs = pki_dirs
    issued = _token_over_mtls(
        mtls_gateway, _tls_context(ours / "ca.pem", ours), partners["kz-bank"]
    )
    token = issued.json()["access_token"]
    assert (
        _grpc_get(mtls_gateway, ours / "ca.pem", ours, token) == grpc.StatusCode.NOT_FOUND
    )  # reached the service
    # Past the handshake, but without a token: refused by the gatekeeper, not by TLS.
    assert _grpc_get(mtls_gateway, ours / "ca.pem", ours) == grpc.StatusCode.UNAUTHENTICATED
    assert _grpc_get(mtls_gateway, ours / "ca.pem", None, token) == grpc.StatusCode.UNAVAILABLE
    assert _grpc_get(mtls_gateway, ours / "ca.pem", theirs, token) == grpc.StatusCode.UNAVAILABLE


def test_rest_requires_a_client_certificate_from_our_ca(
    mtls_gateway: Gateway, pki_dirs: tuple[Path, Path]
) -> None:
    ours, theirs = pki_dirs
    url = f"https://127.0.0.1:{mtls_gateway.rest_port}/healthz"

    def context(cert_dir: Path | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ours / "ca.pem"))
        if cert_dir:
            ctx.load_cert_chain(
                cert_dir / "partners" / "kz-bank.pem", cert_dir / "partners" / "kz-bank-key.pem"
            )
        return ctx

    assert httpx.get(url, verify=context(ours)).json()["status"] == "ok"
    for refused in (None, theirs):
        with pytest.raises(httpx.TransportError):  # the TLS handshake fails
            httpx.get(url, verify=context(refused))
    with pytest.raises(httpx.TransportError):  # and plaintext is not served at all
        httpx.get(url.replace("https", "http"), timeout=5)


def test_missing_tls_files_stop_the_gateway_at_start(settings: Settings, tmp_path: Path) -> None:
    from gateway.errors import Unavailable

    with pytest.raises(Unavailable, match="cxg pki init"):
        Gateway(dataclasses.replace(settings, tls_dir=tmp_path / "empty"))


def test_token_over_mtls_is_bound_to_the_client_certificate(
    mtls_gateway: Gateway, pki_dirs: tuple[Path, Path], partners: dict[str, TestPartner]
) -> None:
    ours, _ = pki_dirs
    response = _token_over_mtls(
        mtls_gateway, _tls_context(ours / "ca.pem", ours), partners["kz-bank"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    expected = certificate_thumbprint((ours / "partners" / "kz-bank.pem").read_bytes())
    assert claims["cnf"] == {"x5t#S256": expected}
    caller = mtls_gateway.tokens.authenticate(
        authorization=f"Bearer {body['access_token']}",
        method="GET",
        url="https://x/",
        client_cert_thumbprint=expected,
    )
    assert caller.partner.id == "kz-bank"


def test_a_connection_certificate_must_be_registered_for_the_caller(
    mtls_gateway: Gateway, pki_dirs: tuple[Path, Path], partners: dict[str, TestPartner]
) -> None:
    """Our CA vouches for a certificate; only its registration says which partner it is."""
    ours, _ = pki_dirs
    cxg("pki", "issue-partner", "cn-customs", "--dir", str(ours))
    customs_tls = _tls_context(ours / "ca.pem", ours, "cn-customs")
    # Issued by our CA but registered to nobody: no token.
    unregistered = _token_over_mtls(mtls_gateway, customs_tls, partners["cn-customs"])
    assert unregistered.status_code == 401, unregistered.text
    assert unregistered.json()["field"] == "client_certificate"
    # Registered to cn-customs: kz-bank cannot authenticate over it, cn-customs can.
    mtls_gateway.partners.add_certificate(
        "cn-customs", (ours / "partners" / "cn-customs.pem").read_bytes()
    )
    borrowed = _token_over_mtls(mtls_gateway, customs_tls, partners["kz-bank"])
    assert borrowed.status_code == 401, borrowed.text
    assert borrowed.json()["field"] == "client_certificate"
    own = _token_over_mtls(mtls_gateway, customs_tls, partners["cn-customs"])
    assert own.status_code == 200, own.text
    # kz-bank's token, presented over cn-customs' connection, is refused as well.
    bank_token = _token_over_mtls(
        mtls_gateway, _tls_context(ours / "ca.pem", ours), partners["kz-bank"]
    ).json()["access_token"]
    response = httpx.get(
        f"https://127.0.0.1:{mtls_gateway.rest_port}/v1/profiles/{'a' * 32}",
        params={"purpose": "trade_due_diligence"},
        headers={"Authorization": f"Bearer {bank_token}"},
        verify=customs_tls,
    )
    assert response.status_code == 401, response.text
