"""The gRPC load generator for bench_auth.py, run in its own process, and the partner side of
authentication it needs (tokens over mutual TLS, DPoP proofs), which bench_auth.py shares.

    python bench/_auth_load.py open|mtls|dpop 127.0.0.1:PORT --pki DIR --partner ID \\
        --partner-key PEM --token-url URL --request-hex HEX --expect-size N [options]

Every call goes over one grpc.aio channel with mutual TLS (the partner's client certificate), so
the three modes pay the same TLS cost and differ only in what authenticates the call:

- ``open``: no credentials at all (the server admits everyone: bench/_open_gateway.py);
- ``mtls``: ``authorization: Bearer <token>``, the token bound to the client certificate
  (``cnf.x5t#S256``); the same metadata on every call;
- ``dpop``: ``authorization: DPoP <token>`` and a fresh ``dpop`` proof per call. Proofs are signed
  before the load starts (--proofs of them, each with its own ``jti``), so signing does not slow
  the client; should they run out, the measured window closes early, as with --max-requests.

The token is fetched from --token-url just before the load, over the same mutual TLS. Otherwise
it behaves and reports exactly as bench/_load.py grpc does (``measure-start``, ``measure-end``,
one JSON line), whose pieces it reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from _load import Window, drive
from cryptography.hazmat.primitives import serialization

from gateway.client import DpopKey
from gateway.signing import SigningKey

# _load is bench/_load.py (this script runs from bench/). Its private helpers are imported rather
# than copied, so that both load generators count, time and report calls the same way.

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVICE_METHOD = "/cxg.v1.ProfileService/GetProfile"
# The gateway refuses a proof whose iat is more than 60 s old (gateway/trust/dpop.py). Proofs
# are signed before the run, so signing plus warm-up plus the run must stay well inside that.
PROOF_MAX_AGE = 60
PROOF_AGE_MARGIN = 10


class AuthError(Exception):
    """A token could not be obtained."""


@dataclass(frozen=True)
class PartnerTls:
    """The files a partner connects with, as ``gateway.trust.pki`` lays them out."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, pki: Path, partner_id: str) -> PartnerTls:
        partners = pki / "partners"
        return cls(
            pki / "ca.pem", partners / f"{partner_id}.pem", partners / f"{partner_id}-key.pem"
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(self.cert, self.key)
        return context

    def grpc_credentials(self) -> Any:
        import grpc

        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(), self.key.read_bytes(), self.cert.read_bytes()
        )


def load_partner_key(path: Path) -> SigningKey:
    private = serialization.load_pem_private_key(path.read_bytes(), None)
    return SigningKey.from_private_key(private)  # type: ignore[arg-type]


def fetch_token(
    token_url: str,
    tls: PartnerTls,
    partner_id: str,
    partner_key: SigningKey,
    gateway_id: str,
    dpop: DpopKey | None = None,
) -> tuple[str, str]:
    """(token_type, access_token) from the token endpoint, over mutual TLS: a DPoP-bound token
    when ``dpop`` is given, else a Bearer token bound to the client certificate."""
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": partner_id,
            "sub": partner_id,
            "aud": gateway_id,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        partner_key.private_key,
        algorithm=partner_key.alg,
        headers={"kid": partner_key.kid},
    )
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if dpop is not None:
        headers["DPoP"] = dpop.proof("POST", token_url)
    request = urllib.request.Request(token_url, data=form, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls.ssl_context()) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AuthError(f"token endpoint: HTTP {exc.code}: {exc.read()[:300]!r}") from exc
    except urllib.error.URLError as exc:
        raise AuthError(f"token endpoint unreachable: {exc.reason}") from exc
    expected = "DPoP" if dpop else "Bearer"
    if answer.get("token_type") != expected:
        raise AuthError(f"expected a {expected} token, got {answer.get('token_type')!r}")
    return expected, str(answer["access_token"])


def grpc_url(gateway_id: str, method: str = SERVICE_METHOD) -> str:
    """The htu of a DPoP proof for a gRPC call (gateway/transport/grpc_server.py)."""
    return f"https://{gateway_id}{method}"


# -- load ----------------------------------------------------------------------------------------


def metadata_source(
    args: argparse.Namespace, tls: PartnerTls, info: dict[str, Any]
) -> Iterator[tuple[tuple[str, str], ...]]:
    """The metadata of each call, in order; ends when there is nothing more to send (the DPoP
    proofs ran out). Fetches the token and signs the proofs on the first ``next``."""
    if args.mode == "open":
        while True:
            yield ()
    key = load_partner_key(args.partner_key)
    if args.mode == "mtls":
        scheme, token = fetch_token(args.token_url, tls, args.partner, key, args.gateway_id)
        constant = (("authorization", f"{scheme} {token}"),)
        while True:
            yield constant
    dpop = DpopKey()
    scheme, token = fetch_token(args.token_url, tls, args.partner, key, args.gateway_id, dpop)
    url, authorization = grpc_url(args.gateway_id), ("authorization", f"{scheme} {token}")
    signing = time.monotonic()
    proofs = [dpop.proof("POST", url, token) for _ in range(args.proofs)]
    signed_in = time.monotonic() - signing
    if signed_in + args.warmup + args.duration > PROOF_MAX_AGE - PROOF_AGE_MARGIN:
        raise SystemExit(
            f"{args.proofs} proofs took {signed_in:.1f} s to sign: with the warm-up and the run"
            f" the first would be older than the gateway accepts ({PROOF_MAX_AGE} s)"
        )
    info.update(proofs=len(proofs), proof_signing_s=signed_in)
    for proof in proofs:
        yield (authorization, ("dpop", proof))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import grpc

    tls = PartnerTls.in_dir(args.pki, args.partner)
    request = bytes.fromhex(args.request_hex)
    # Token fetch and proof signing happen here, before the channel and the clock start.
    info: dict[str, Any] = {}
    source = metadata_source(args, tls, info)
    pending = [next(source)]
    window = Window(args.max_requests)
    async with grpc.aio.secure_channel(args.target, tls.grpc_credentials()) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        method = channel.unary_unary(SERVICE_METHOD)  # bytes in and out, as bench/_load.py

        async def call() -> str | None:
            metadata = pending.pop() if pending else next(source, None)
            if metadata is None:
                # Out of proofs: close the measured window now, as --max-requests would, and
                # return only once it is closed, so that this non-call is never counted.
                window.full.set()
                while not window.stopping:
                    await asyncio.sleep(0.01)
                return None
            try:
                response = await method(request, timeout=args.timeout, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return "timeout"
                return f"{exc.code().name}: {exc.details()}"
            if len(response) != args.expect_size:
                return f"response is {len(response)} bytes, expected {args.expect_size}"
            return None

        result = await drive(lambda: call, args, window)
    result["out_of_proofs"] = next(source, None) is None
    return result | info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["open", "mtls", "dpop"])
    parser.add_argument("target", help="host:port of the gateway's gRPC port")
    parser.add_argument("--pki", type=Path, required=True, help="the PKI folder (cxg pki)")
    parser.add_argument("--partner", required=True, help="partner id (its certificate in --pki)")
    parser.add_argument("--partner-key", type=Path, help="the partner's private key (PEM)")
    parser.add_argument("--token-url", help="https://.../oauth2/token")
    parser.add_argument("--gateway-id", default="cxg.qingdao.dev")
    parser.add_argument("--request-hex", required=True, help="the serialized GetProfileRequest")
    parser.add_argument("--expect-size", type=int, required=True, help="response size in bytes")
    parser.add_argument("--proofs", type=int, default=20_000, help="dpop: proofs to pre-sign")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    args = parser.parse_args()
    if args.mode != "open" and not (args.partner_key and args.token_url):
        parser.error("mtls and dpop need --partner-key and --token-url")
    try:
        result = asyncio.run(run(args))  # grpc.aio wants the stock event loop
    except AuthError as exc:
        raise SystemExit(f"_auth_load: {exc}") from exc
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
