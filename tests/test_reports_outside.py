"""Credit reports from outside: a real ``cxg serve`` process with nothing configured for reports
(the development PKI issues its certificate on first use, in its keys folder), called over HTTP;
its report checked by poppler's pdfsig against that certificate's CA; hostile uploads to the
verification page (too large, too many files, not a PDF) refused by name while the page keeps
answering; and the report's state surviving a SIGKILL of the process."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx

from tests.audit_load import gateway_env, gateways, seed
from tests.clients import RestClient
from tests.support import USCC, TestPartner, profile

RECORDS = {"provenance": {"retrievedAt": "2026-01-10T00:00:00Z"}}


def test_a_served_gateway_issues_checks_and_keeps_reports(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    env = gateway_env(database_url, tmp_path / "keys", checkpoint_seconds=60)
    settings = seed(env, partners)
    with gateways(tmp_path) as running:
        served = running.start("gateway", env)
        bureau = RestClient(served, partners, caller="ru-bureau")  # type: ignore[arg-type]
        assert bureau.publish(partners["ru-bureau"].sign(profile(**RECORDS))).status == 200
        portal = RestClient(served, partners, caller="sme-portal")  # type: ignore[arg-type]
        answer = portal.request(
            "POST", "/v1/reports", json={"subject": {"scheme": "CN_USCC", "value": USCC}}
        )
        assert answer.status_code == 201, answer.text + served.output()[-2000:]
        pdf, report_id = answer.content, answer.headers["location"].rsplit("/", 1)[1]
        # The development certificate the process made, and the CA pdfsig is told to trust.
        pki = settings.dev_pki_dir
        assert (pki / "report-signer.pem").exists() and (pki / "ca.pem").exists()
        nss = tmp_path / "nss"
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{nss}", "-n", "cxg-dev-ca", "-t", "C,C,C",
             "-i", str(pki / "ca.pem")],
            check=True,
        )  # fmt: skip
        copy = tmp_path / "report.pdf"
        copy.write_bytes(pdf)
        checked = subprocess.run(
            ["pdfsig", "-nssdir", f"sql:{nss}", str(copy)], capture_output=True, text=True
        )
        assert "Signature is Valid." in checked.stdout, checked.stdout + checked.stderr
        assert "Certificate is Trusted." in checked.stdout, checked.stdout

        page = f"{served.base}/r/{report_id}"
        with httpx.Client(timeout=30) as http:
            too_large = http.post(
                page,
                files={"pdf": ("big.pdf", b"%PDF-" + b"0" * (2 * 1024 * 1024), "application/pdf")},
            )
            assert too_large.status_code == 413, too_large.text
            many = http.post(
                page,
                files=[("pdf", (f"{n}.pdf", b"%PDF-", "application/pdf")) for n in range(3)],
            )
            assert many.status_code == 400 and "files" in many.text.lower(), many.text
            empty = http.post(page, data={"sha256": ""})
            assert empty.status_code == 400 and empty.json()["field"] == "sha256"
            not_pdf = http.post(page, files={"pdf": ("x.pdf", b"GIF89a", "image/gif")})
            assert 'data-matches="false"' in not_pdf.text
            digest = hashlib.sha256(pdf).hexdigest()
            assert 'data-state="VALID"' in http.get(page).text
        # Killed and started again: the report, its digest and its state are still there.
        served.crash()
        again = running.start("again", env)
        with httpx.Client(timeout=30) as http:
            verified = http.post(
                f"{again.base}/v1/reports:verify",
                content=pdf,
                headers={"content-type": "application/pdf"},
            ).json()
        assert verified["matches"] is True and verified["sha256"] == digest
        assert verified["state"] == "REPORT_STATE_VALID"
        bureau.close()
        portal.close()
