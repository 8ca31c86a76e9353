"""Gateway signatures per second: keys in a PKCS#11 token (SoftHSM2) against key files, in the
same run, for Ed25519 (EdDSA) and P-256 (ES256).

    .venv/bin/python bench/bench_hsm_signing.py              # 3 rounds of 4 x 0.5 s (~8 s)
    .venv/bin/python bench/bench_hsm_signing.py --rounds 5 --seconds 1

A fresh SoftHSM2 token is made in a temporary folder (softhsm2-util), its keys generated
inside it as the gateway's ``cxg hsm`` makes them. Each round measures, back to back, one
``Signer.sign`` of a 300-byte JWS signing input (what a profile signature costs, without the
JSON work around it) through the token and through a key file, for each algorithm. Single
thread, pinned to one CPU when the OS allows (SoftHSM2 runs in-process, so it is on that core
too). Medians of the rounds are reported, with the token/file ratio. Measures; never asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _rate import pin_to_one_core, rate

from gateway.signing import Signer, SigningKey

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "123456"
DATA = b"e" * 300


def token_keys(folder: Path) -> dict[str, Signer]:
    """Ed25519 and P-256 keys in a new token; SOFTHSM2_CONF must name it before the module
    loads, so this runs first."""
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            PIN,
            "--so-pin",
            PIN,
        ],
        check=True,
        capture_output=True,
    )
    from gateway.signing.pkcs11 import Pkcs11Token

    token = Pkcs11Token.open(SOFTHSM, "bench", PIN)
    return {alg: token.generate(f"bench-{alg}", alg) for alg in ("EdDSA", "ES256")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    parser.add_argument("--quick", action="store_true", help="1 round of 0.2 s each")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 0.2
    if not SOFTHSM.exists():
        sys.exit(f"{SOFTHSM} is absent: install softhsm2 (apt-get install softhsm2)")
    pin_to_one_core()

    with tempfile.TemporaryDirectory(prefix="cxg-bench-hsm-") as folder:
        in_token = token_keys(Path(folder))
        in_file = {alg: SigningKey.generate(alg) for alg in in_token}
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for alg in in_token:
                for where, key in (("token", in_token[alg]), ("file", in_file[alg])):
                    measured = rate(lambda k=key: k.sign(DATA), args.seconds, batch=50)
                    results.setdefault((alg, where), []).append(measured)

    print(f"one core, {args.rounds} rounds x 4 x {args.seconds:g} s; signatures/s (median)")
    for alg in in_token:
        token = statistics.median(results[(alg, "token")])
        file = statistics.median(results[(alg, "file")])
        print(
            f"  {alg:6} SoftHSM2 {token:9,.0f}/s   key file {file:9,.0f}/s"
            f"   token/file {token / file:.2f}"
        )


if __name__ == "__main__":
    main()
