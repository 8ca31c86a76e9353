"""SCO codes (上合码): small signed company tokens for QR codes, verifiable offline.

Modelled on the EU Digital COVID Certificate: CWT claims in a COSE_Sign1, zlib, Base45 behind
the ``SC1:`` prefix; issuer keys come from a signed trust list, revocation from a signed
two-bit status list. Pure domain code: no database, no network.
"""

from gateway.sco._cose import cose_kid
from gateway.sco._qr import QrImage, qr_png, qr_svg, qr_version
from gateway.sco._status import CodeStatus, StatusList
from gateway.sco._token import Names, ScoClaims, issue
from gateway.sco._trust import Freshness, TrustedKey, TrustList
from gateway.sco._verify import Result, Verification, verify

__all__ = [
    "CodeStatus",
    "Freshness",
    "Names",
    "QrImage",
    "Result",
    "ScoClaims",
    "StatusList",
    "TrustList",
    "TrustedKey",
    "Verification",
    "cose_kid",
    "issue",
    "qr_png",
    "qr_svg",
    "qr_version",
    "verify",
]
