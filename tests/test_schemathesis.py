"""The REST API against its own OpenAPI document, fuzzed by schemathesis (an independent tool).

Every check runs, positive_data_acceptance included: a request the document admits is not
refused as malformed. The document states what JSON Schema can (required fields, lengths,
patterns, ranges; gateway/transport/rest/_schemas.py); the operations in ``NOT_EXPRESSIBLE``
need more than that to be accepted, so that check alone is off for them, each for its reason.

Every route needs a sender-constrained token. A DPoP proof is good for one request, which a
fuzzer replaying a fixed header cannot give, so the gateway serves mutual TLS here and
schemathesis sends, over a client certificate registered for the partner, a Bearer token bound
to that certificate (RFC 8705). The partner holds every role, so no operation is refused for
its role and each one is exercised; the `ignored_auth` check then drops the header and expects
a refusal. Admin operations on itself that would lock it out are refused by the gateway (an
operator cannot suspend itself, remove its certificate, retire its last key or set its quota).
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings
from gateway.service import PartnerAdmin
from gateway.signing import SigningKey
from gateway.transport.serve import Gateway
from gateway.trust.pki import init_ca, issue_partner_certificate, issue_server_certificate
from tests.clients import ASSERTION_TYPE
from tests.partner_client import assertion
from tests.support import TestPartner, profile, publish, write_partners

# Operations whose acceptance needs what no JSON Schema states, and why.
NOT_EXPRESSIBLE = {
    "CreateToken": "the client assertion is a JWT signed with the partner's key",
    "PublishProfile": "the body is a JWS signed with the partner's key",
    "ImportProfiles": "the body is a file in the partner's format",
    "LookupProfile": "the identifier's check digit, by the scheme another parameter names",
    "GrantConsent": "the subject identifier's check digit; the grantee's registration",
    "IssueScoCode": "the subject identifier's check digit",
    "RegisterPartner": "public keys (JWK) and certificates (PEM) that must parse",
    "AddPartnerKey": "a public key (JWK) that must parse",
    "AddPartnerCertificate": "a certificate (PEM) that must parse",
    "RegisterPeer": "public keys (JWK) that must parse, each kid its RFC 7638 thumbprint",
    "SetPeerRoute": "an identifier scheme's name, and a peer that is registered",
    "AddCosignature": "a witness's signature line",
    "RecognizeAeo": "on_behalf_of: a claim a peer gateway signs, sent by gateways only",
    "CreateSubscription": "identifiers' check digits; an endpoint that resolves to a public address",
    "PollEvents": "ack and setErrs name jtis of SETs the gateway sent (32 hex digits)",
    "ReplayEvents": "jtis of dead letters (32 hex digits)",
    "FileDispute": "a profile version that exists, and JSON pointers to fields it holds",
    "AnswerDispute": "a version published after the disputed one, for CORRECTED",
    "RecordRepair": "a negative record that the profile's latest version holds",
    "CreateReport": "the subject identifier's check digit; a period ending by today",
    "VerifyReport": "a SHA-256 as 64 hexadecimal digits, or the PDF itself",
    "GetReport": "the id of a report that exists",
    "RevokeReport": "the id of a report that exists and is not revoked yet",
    "ReportPage": "the id of a report that exists",
    "ReportPageCheck": "the id of a report that exists; a digest or a PDF",
    "ListReports": "the subject identifier's check digit; an opaque page_token",
    # page_token: only a token the gateway issued for the same query is one.
    "SearchProfiles": "an opaque page_token",
    "ListProfileVersions": "an opaque page_token",
    "ListConsents": "an opaque page_token",
    "ListRefusals": "an opaque page_token",
    "ListDeadEvents": "an opaque page_token",
    "ListDisputes": "an opaque page_token",
    # Sizes at most the log's current size, in order (start < end, leaf_index < tree_size).
    "ListEntries": "bounds set by the audit log's size",
    "GetInclusionProof": "bounds set by the audit log's size",
    "GetConsistencyProof": "bounds set by the audit log's size",
}

FUZZER = TestPartner(
    "cxg-fuzzer",
    "CN",
    ("credit_bureau", "bank", "customs", "sme_portal", "operator"),
    SigningKey.generate("EdDSA"),
)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    init_ca(directory)
    issue_server_certificate(directory)
    return directory


@pytest.fixture
def mtls_gateway(settings: Settings, pki: Path) -> Iterator[Gateway]:
    write_partners(settings.partners_dir, {FUZZER.id: FUZZER})
    # A poll that finds no event answers at once rather than after the long poll's wait.
    running = Gateway(dataclasses.replace(settings, tls_dir=pki, events_poll_wait_seconds=0.0))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_rest_api_passes_schemathesis(
    mtls_gateway: Gateway, partners: dict[str, TestPartner], pki: Path, tmp_path: Path
) -> None:
    gateway = mtls_gateway
    publish(gateway.exchange, partners["cn-customs"], profile())
    client_cert = issue_partner_certificate(pki, FUZZER.id)
    gateway.partners.add_certificate(FUZZER.id, client_cert.cert_path.read_bytes())
    tls = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    tls.load_cert_chain(client_cert.cert_path, client_cert.key_path)
    base = f"https://127.0.0.1:{gateway.rest_port}"
    issued = httpx.post(
        f"{base}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(FUZZER),
        },
        verify=tls,
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "Bearer"
    document = httpx.get(f"{base}/openapi.json", verify=tls)
    schema = tmp_path / "openapi.json"
    schema.write_bytes(document.content)

    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(NOT_EXPRESSIBLE))

    schemathesis = Path(sys.executable).with_name("schemathesis")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        [
            str(schemathesis),
            "--config-file",
            str(config),
            "run",
            str(schema),
            "--url",
            base,
            "--tls-verify",
            str(pki / "ca.pem"),
            "--request-cert",
            str(client_cert.cert_path),
            "--request-cert-key",
            str(client_cert.key_path),
            "--header",
            f"Authorization: Bearer {issued.json()['access_token']}",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--seed",
            "20261127",
        ],
        capture_output=True,
        text=True,
        timeout=280,  # within the token's lifetime (300 s)
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    # Every operation excluded above exists (a renamed one would silently be checked in full).
    operation_ids = {
        op["operationId"] for path in document.json()["paths"].values() for op in path.values()
    }
    assert NOT_EXPRESSIBLE.keys() <= operation_ids
    assert "Unresolvable references" not in result.stdout, result.stdout[-3000:]
    operations = sum(len(path) for path in document.json()["paths"].values())
    assert f"Tested: {operations}" in result.stdout, result.stdout[
        -3000:
    ]  # every operation was exercised


def _config(excluded: dict[str, str]) -> str:
    """schemathesis.toml running every check, positive_data_acceptance off for ``excluded``
    alone (checks named on the command line would override the per-operation settings)."""
    return "[checks]\nenabled = true\n\n" + "".join(
        f'[[operations]]\ninclude-operation-id = "{operation}"\n'
        "checks.positive_data_acceptance.enabled = false\n\n"
        for operation in sorted(excluded)
    )
