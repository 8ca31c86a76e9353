"""Credit reports as documents: a company's credit profile, as a purpose may see it, set as a
PDF/A-3b document in zh, en or ru (or two of them), a QR code to its verification page on every
page, signed PAdES by the gateway's report key.

    fonts = ReportFonts.find()                       # once per process
    signer = DocumentSigner.from_pem_files(cert, key)
    pdf = sign_report(render_report(facts, fonts), signer)

The domain layer only: storing, serving and verifying reports is ``gateway.service.reports``.
"""

from gateway.reports._facts import Recognition, ReportFacts
from gateway.reports._fonts import ReportFonts
from gateway.reports._render import render_report
from gateway.reports._sign import DocumentSigner, sign_report

__all__ = [
    "DocumentSigner",
    "Recognition",
    "ReportFacts",
    "ReportFonts",
    "render_report",
    "sign_report",
]
