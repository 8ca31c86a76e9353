"""QR images of a code's text. Error correction M, never boosted: the level a scanner relies on
is fixed, and the version (size) follows from the text alone."""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno


@dataclass(frozen=True)
class QrImage:
    data: bytes
    version: int
    error: str  # "M"


def qr_png(text: str, *, scale: int = 4) -> QrImage:
    return _render(text, "png", scale)


def qr_svg(text: str, *, scale: int = 4) -> QrImage:
    return _render(text, "svg", scale)


def qr_version(text: str) -> int:
    """The version (size) of the text's QR code, without drawing it."""
    return int(_make(text).version)


def _make(text: str) -> segno.QRCode:
    return segno.make_qr(text, error="m", boost_error=False)


def _render(text: str, kind: str, scale: int) -> QrImage:
    qr = _make(text)
    out = io.BytesIO()
    qr.save(out, kind=kind, scale=scale, border=4)
    return QrImage(data=out.getvalue(), version=int(qr.version), error=str(qr.error))
