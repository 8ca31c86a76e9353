"""The authenticated load generator of bench_auth.py and bench_real.py, run in its own process,
and the partner side of authentication it needs (tokens over mutual TLS, DPoP proofs).

    python bench/_auth_load.py open|mtls|dpop 127.0.0.1:PORT --pki DIR --partner ID \\
        --partner-key PEM --token-url URL --request-hex HEX --expect-size N [options]
    python bench/_auth_load.py mtls|dpop https://127.0.0.1:PORT --transport rest \\
        --rest-path '/v1/profiles:lookup?...' ... [options]
    ... --operation publish --publications FILE   (PublishProfile, one signed JWS per call)

Every call goes with mutual TLS (the partner's client certificate): gRPC over one grpc.aio
channel, REST over one keep-alive HTTP/1.1 connection per call in flight (bench/_load.py's
client, with TLS). The three modes pay the same TLS cost and differ only in what authenticates
the call:

- ``open``: no credentials at all (the server admits everyone: bench/_open_gateway.py);
- ``mtls``: ``authorization: Bearer <token>``, the token bound to the client certificate
  (``cnf.x5t#S256``); the same metadata on every call;
- ``dpop``: ``authorization: DPoP <token>`` and a fresh ``dpop`` proof per call. Proofs are signed
  before the load starts (--proofs of them, each with its own ``jti``), so signing does not slow
  the client; should they run out, the measured window closes early, as with --max-requests.

``--operation publish`` sends PublishProfile instead of GetProfile: each call publishes the next
signed JWS of --publications (one per line), so that every call stores a new version; the run
ends early, as when proofs run out, should they run out. Its answers differ in size, so only
their status is checked.

The token is fetched from --token-url just before the load, over the same mutual TLS. Otherwise
it behaves and reports exactly as bench/_load.py does (``measure-start``, ``measure-end``,
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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from _load import Window, drive, rest_caller
from cryptography.hazmat.primitives import serialization

from gateway.client import DpopKey
from gateway.signing import SigningKey

# _load is bench/_load.py (this script runs from bench/). Its private helpers are imported rather
# than copied, so that both load generators count, time and report calls the same way.

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVICE = "/cxg.v1.ProfileService/"
SERVICE_METHOD = SERVICE + "GetProfile"
PUBLISH_PATH = "/v1/profiles:publish"
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


def credential_source(
    args: argparse.Namespace, tls: PartnerTls, info: dict[str, Any]
) -> Iterator[dict[str, str]]:
    """The credential headers of each call, in order; ends when there is nothing more to send
    (the DPoP proofs ran out). Fetches the token and signs the proofs on the first ``next``."""
    if args.mode == "open":
        while True:
            yield {}
    key = load_partner_key(args.partner_key)
    if args.mode == "mtls":
        scheme, token = fetch_token(args.token_url, tls, args.partner, key, args.gateway_id)
        constant = {"authorization": f"{scheme} {token}"}
        while True:
            yield constant
    dpop = DpopKey()
    scheme, token = fetch_token(args.token_url, tls, args.partner, key, args.gateway_id, dpop)
    method, url = proof_target(args)
    authorization = f"{scheme} {token}"
    signing = time.monotonic()
    proofs = [dpop.proof(method, url, token) for _ in range(args.proofs)]
    signed_in = time.monotonic() - signing
    if signed_in + args.warmup + args.duration > PROOF_MAX_AGE - PROOF_AGE_MARGIN:
        raise SystemExit(
            f"{args.proofs} proofs took {signed_in:.1f} s to sign: with the warm-up and the run"
            f" the first would be older than the gateway accepts ({PROOF_MAX_AGE} s)"
        )
    info.update(proofs=len(proofs), proof_signing_s=signed_in)
    for proof in proofs:
        yield {"authorization": authorization, "dpop": proof}


def proof_target(args: argparse.Namespace) -> tuple[str, str]:
    """The htm and htu of this load's DPoP proofs."""
    if args.transport == "grpc":
        return "POST", grpc_url(args.gateway_id, SERVICE + OPERATIONS[args.operation])
    if args.operation == "publish":
        return "POST", args.target + PUBLISH_PATH
    return "GET", args.target + args.rest_path.partition("?")[0]


OPERATIONS = {"get": "GetProfile", "publish": "PublishProfile"}


def request_source(args: argparse.Namespace) -> Iterator[bytes]:
    """The body of each call: the same GetProfileRequest every time, or the next publication
    (as a serialized PublishProfileRequest for gRPC, JSON for REST)."""
    if args.operation == "get":
        request = bytes.fromhex(args.request_hex)
        while True:
            yield request
    from gateway.schema.cxg.v1 import profile_service_pb2 as pb

    with args.publications.open() as lines:
        for line in lines:
            jws = line.strip()
            if args.transport == "grpc":
                yield pb.PublishProfileRequest(jws=jws).SerializeToString()
            else:
                yield json.dumps({"jws": jws}).encode()


# The next call's credential headers and body (None: nothing left to send), and what a call
# does instead when there is nothing left.
Take = Callable[[], "tuple[dict[str, str], bytes] | None"]
OutOfCalls = Callable[[], Awaitable[None]]


class Exhausted(Exception):
    """No more proofs or publications: the measured window closes."""


def next_call(
    credentials: Iterator[dict[str, str]], bodies: Iterator[bytes]
) -> tuple[dict[str, str], bytes]:
    headers, body = next(credentials, None), next(bodies, None)
    if headers is None or body is None:
        raise Exhausted
    return headers, body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tls = PartnerTls.in_dir(args.pki, args.partner)
    # Token fetch and proof signing happen here, before any connection and the clock start.
    info: dict[str, Any] = {}
    credentials, bodies = credential_source(args, tls, info), request_source(args)
    pending = [next_call(credentials, bodies)]
    window = Window(args.max_requests)

    def take() -> tuple[dict[str, str], bytes] | None:
        try:
            return pending.pop() if pending else next_call(credentials, bodies)
        except Exhausted:
            return None

    async def out_of_calls() -> None:
        # Close the measured window now, as --max-requests would, and return only once it is
        # closed, so that this non-call is never counted.
        window.full.set()
        while not window.stopping:
            await asyncio.sleep(0.01)

    if args.transport == "grpc":
        result = await _run_grpc(args, tls, take, out_of_calls, window)
    else:
        result = await _run_rest(args, tls, take, out_of_calls, window)
    try:
        next_call(credentials, bodies)
        result["out_of_proofs"] = False
    except Exhausted:
        result["out_of_proofs"] = True
    return result | info


async def _run_grpc(
    args: argparse.Namespace, tls: PartnerTls, take: Take, out_of_calls: OutOfCalls, window: Window
) -> dict[str, Any]:
    import grpc

    async with grpc.aio.secure_channel(args.target, tls.grpc_credentials()) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        # bytes in and out, as bench/_load.py
        method = channel.unary_unary(SERVICE + OPERATIONS[args.operation])

        async def call() -> str | None:
            taken = take()
            if taken is None:
                await out_of_calls()
                return None
            headers, body = taken
            try:
                response = await method(body, timeout=args.timeout, metadata=tuple(headers.items()))
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return "timeout"
                return f"{exc.code().name}: {exc.details()}"
            if args.expect_size >= 0 and len(response) != args.expect_size:
                return f"response is {len(response)} bytes, expected {args.expect_size}"
            return None

        return await drive(lambda: call, args, window)


async def _run_rest(
    args: argparse.Namespace, tls: PartnerTls, take: Take, out_of_calls: OutOfCalls, window: Window
) -> dict[str, Any]:
    url = urllib.parse.urlsplit(args.target)
    publish = args.operation == "publish"
    path = PUBLISH_PATH if publish else args.rest_path
    line = f"{'POST' if publish else 'GET'} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"

    def request() -> bytes | None:
        taken = take()
        if taken is None:
            return None
        headers, body = taken
        head = line + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if not publish:
            return (head + "Accept: application/json\r\n\r\n").encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    context = tls.ssl_context()
    host, port = url.hostname or "", url.port or 443

    def new_call() -> Callable[[], Awaitable[str | None]]:
        send = rest_caller(host, port, args, context)

        async def call() -> str | None:
            data = request()
            if data is None:
                await out_of_calls()
                return None
            return await send(data)

        return call

    return await drive(new_call, args, window)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["open", "mtls", "dpop"])
    parser.add_argument("target", help="host:port of the gRPC port, or https://host:port (REST)")
    parser.add_argument("--transport", choices=["grpc", "rest"], default="grpc")
    parser.add_argument("--operation", choices=sorted(OPERATIONS), default="get")
    parser.add_argument("--rest-path", default="", help="rest get: the path and query to GET")
    parser.add_argument("--publications", type=Path, help="publish: signed JWS, one per line")
    parser.add_argument("--pki", type=Path, required=True, help="the PKI folder (cxg pki)")
    parser.add_argument("--partner", required=True, help="partner id (its certificate in --pki)")
    parser.add_argument("--partner-key", type=Path, help="the partner's private key (PEM)")
    parser.add_argument("--token-url", help="https://.../oauth2/token")
    parser.add_argument("--gateway-id", default="cxg.qingdao.dev")
    parser.add_argument("--request-hex", default="", help="grpc get: the GetProfileRequest")
    parser.add_argument(
        "--expect-size", type=int, required=True, help="response size in bytes; -1: any"
    )
    parser.add_argument("--proofs", type=int, default=20_000, help="dpop: proofs to pre-sign")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    args = parser.parse_args()
    if args.mode != "open" and not (args.partner_key and args.token_url):
        parser.error("mtls and dpop need --partner-key and --token-url")
    if args.operation == "publish" and args.publications is None:
        parser.error("publish needs --publications")
    if args.transport == "rest" and args.operation == "get" and not args.rest_path:
        parser.error("rest get needs --rest-path")
    try:
        if args.transport == "rest":
            import uvloop

            result = uvloop.run(run(args))
        else:
            result = asyncio.run(run(args))  # grpc.aio wants the stock event loop
    except AuthError as exc:
        raise SystemExit(f"_auth_load: {exc}") from exc
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
