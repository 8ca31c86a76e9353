"""SCO codes (上合码): offline verifications per second on one core, against bare Ed25519
verification (cryptography) of the same signed bytes in the same run.

    .venv/bin/python bench/bench_sco.py                # 5 rounds of 3 x 0.3 s (~5 s)
    .venv/bin/python bench/bench_sco.py --rounds 9 --seconds 0.5

Single thread, pinned to one CPU when the OS allows. Each round measures, back to back:
- ``bare Ed25519``: ``public_key.verify(signature, Sig_structure)`` of the typical code, the
  floor of any verification;
- ``verify()``: the whole offline check of the typical code's text (Base45, zlib, COSE parse,
  trust list lookup, signature, claims, time) with a fresh trust list and no status list;
- ``verify() + status``: the same with a verified 2-bit status list of 100,000 codes.
Ratios are taken per round (so a noisy neighbour hits both sides) and the median reported.
The issue's target: verify() / bare >= 0.6. Also prints the typical code's length and QR
version (error correction M), and its scan URL's. Measures; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime, timedelta

from _rate import pin_to_one_core, rate
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.sco import (
    Names,
    Result,
    ScoClaims,
    StatusList,
    TrustedKey,
    TrustList,
    issue,
    qr_png,
    verify,
)
from gateway.sco._cose import parse_sign1
from gateway.sco._token import text_to_cose
from gateway.service.sco import url_form
from gateway.signing import SigningKey

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PUBLIC_URL = "https://cxg.qingdao.dev"
STATUS_URI = f"{PUBLIC_URL}/v1/sco/statusList"


def typical_claims() -> ScoClaims:
    """The issue's typical code: USCC, LEI and AEO ids; names of ~12, ~40 and ~40 characters."""
    return ScoClaims.new(
        subject_ids=[
            ("CN_USCC", "91370200MA3C5QH2X4"),
            ("LEI", "300300C5RZ2QH1KX1M86"),
            ("AEO", "CN3702960123"),
        ],
        names=Names(
            zh="青岛海通国际贸易有限公司",
            en="Qingdao Haitong International Trade Co., Ltd.",
            ru="Циндао Хайтун Интернэшнл Трейд Ко., Лтд.",
        ),
        country="CN",
        issuer="CN",
        status_index=12_345,
        valid_for=timedelta(days=365),
        grade_bucket="A",
        aeo_type="CN_ADVANCED",
        status_uri=STATUS_URI,
        now=NOW - timedelta(days=1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.3, help="per measurement")
    parser.add_argument("--quick", action="store_true", help="1 round of 0.2 s each")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 0.2
    pin_to_one_core()

    gateway, issuer = SigningKey.generate(), SigningKey.generate("EdDSA")
    anchors = {"keys": [gateway.public_jwk()]}
    trust_list = TrustList.verify(
        TrustList(
            version=1,
            issued_at=NOW,
            next_update=NOW + timedelta(days=1),
            keys=(TrustedKey.from_signing_key(issuer, issuer="CN", country="CN"),),
        ).sign(gateway),
        anchors,
        NOW,
    )
    status_list = StatusList.verify(
        StatusList(100_000, issuer="CN", subject=STATUS_URI).sign(gateway, now=NOW), anchors, NOW
    )
    text = issue(typical_claims(), issuer)
    sign1 = parse_sign1(text_to_cose(text))
    signature, signed_bytes = sign1.signature, sign1.to_be_signed()
    public_key = trust_list.keys[0].public_key
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    assert verify(text, trust_list, now=NOW).result is Result.VALID
    assert verify(text, trust_list, status_list, now=NOW).result is Result.VALID
    qr = qr_png(text)
    url = f"{PUBLIC_URL.upper()}/S/{url_form(text)}"

    rows: dict[str, list[float]] = {"bare": [], "verify": [], "status": []}
    for _ in range(args.rounds):
        rows["bare"].append(rate(lambda: public_key.verify(signature, signed_bytes), args.seconds))
        rows["verify"].append(rate(lambda: verify(text, trust_list, now=NOW), args.seconds))
        rows["status"].append(
            rate(lambda: verify(text, trust_list, status_list, now=NOW), args.seconds)
        )

    print(
        f"typical code: {len(text)} characters, QR version {qr.version}-{qr.error} (alphanumeric);"
        f" its scan URL {len(url)} characters, QR version {qr_png(url).version}-M"
    )
    print(f"one core, {args.rounds} rounds x 3 x {args.seconds:g} s; target verify()/bare >= 0.6")
    labels = {
        "bare": "bare Ed25519 verify",
        "verify": "verify() no status list",
        "status": "verify() + status list",
    }
    for key, label in labels.items():
        per_second = statistics.median(rows[key])
        ratios = [v / b for v, b in zip(rows[key], rows["bare"], strict=True)]
        print(
            f"{label:26} {per_second:>9,.0f} /s  {1e6 / per_second:>7.1f} µs"
            f"  ratio {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
