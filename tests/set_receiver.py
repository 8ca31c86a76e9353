"""A partner's Security Event Token receiver (RFC 8417 SETs delivered by push, RFC 8935) for
end-to-end tests: a real HTTP(S) server on 127.0.0.1 that verifies each SET with jwcrypto, an
independent JOSE library (the gateway signs with pyjwt), and misbehaves on demand.

    with SetReceiver(jwks, issuer=ISSUER, audience="partner-1") as receiver:
        ...  # point the gateway at receiver.url
        sets = receiver.wait_for(2)

``mode`` may be changed at any time:

- ``"accept"``: verify the SET; 202 (empty body) or 400 ``{"err", "description"}`` (RFC 8935 §2.3)
- ``"fail"``: 500, nothing verified
- ``"reject"``: 400 ``invalid_request``, nothing verified
- ``"slow"``: wait ``slow_seconds`` (30 by default, for the client to time out), then answer as
  ``"accept"`` does; ``stop()`` ends the wait at once and drops the connection unanswered
- ``"refuse"``: the listening socket is closed and open connections are dropped, so connecting
  is refused; any other mode listens again on the same port
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from jwcrypto import jwk as jc_jwk  # type: ignore[import-untyped]
from jwcrypto import jws as jc_jws

MODES: Final = frozenset({"accept", "fail", "slow", "reject", "refuse"})
CONTENT_TYPE: Final = "application/secevent+jwt"
MAX_BODY: Final = 64 * 1024
_DRAIN_LIMIT = (
    1024 * 1024
)  # an oversized body is read (and dropped) up to this, then the connection closed
_IDLE_TIMEOUT = 10.0  # a connection's socket timeout: an idle keep-alive connection ends after it
_STOP_JOIN = 1.5  # how long stop() waits for the connection threads, in all

# The algorithm a key's type allows (RFC 8037 and RFC 7518 §3.4); nothing else is accepted.
_ALG_BY_KEY: Final = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TYP = frozenset({"secevent+jwt", "application/secevent+jwt"})  # RFC 7515 §4.1.9: prefix optional


@dataclass(frozen=True)
class ReceivedSet:
    jti: str
    header: dict[str, Any]
    claims: dict[str, Any]
    raw: str  # the compact JWS as received
    received_at: float  # time.monotonic()


class _Rejected(Exception):
    def __init__(self, err: str, description: str) -> None:
        super().__init__(f"{err}: {description}")
        self.err = err
        self.description = description


def _b64url_json(segment: str, what: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded), object_pairs_hook=_no_duplicates)
    except (binascii.Error, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise _Rejected("invalid_request", f"{what} is not base64url-encoded JSON: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            raise ValueError(f"duplicate member {name!r}")
        obj[name] = value
    return obj


class SetReceiver:
    def __init__(
        self,
        jwks: dict[str, Any],
        *,
        issuer: str,
        audience: str,
        path: str = "/events",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.path = path
        self.ssl_context = ssl_context
        self._keys = self._load_keys(jwks)
        self.slow_seconds: float = 30.0
        self.received: list[ReceivedSet] = []
        self.invalid: list[tuple[str, str]] = []
        self.attempts = 0
        # Exceptions the receiver's own code raised while handling a request (answered 500): a
        # bug in this harness, not in the client.
        self.errors: list[str] = []
        self._mode = "accept"
        self._lock = threading.Lock()  # the records, connections and threads
        self._arrived = threading.Condition(self._lock)
        self._mode_lock = threading.Lock()  # listening and closing
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._port: int | None = None

    @staticmethod
    def _load_keys(jwks: dict[str, Any]) -> dict[str, tuple[jc_jwk.JWK, str]]:
        keys: dict[str, tuple[jc_jwk.JWK, str]] = {}
        for member in jwks.get("keys", []):
            key = jc_jwk.JWK(**member)
            if key.has_private:
                raise ValueError(f"the JWKS holds a private key (kid {member.get('kid')!r})")
            kid = member.get("kid") or key.thumbprint()
            if kid in keys:
                raise ValueError(f"two keys in the JWKS have kid {kid!r}")
            alg = _ALG_BY_KEY.get((member.get("kty"), member.get("crv")))
            if alg is None:
                raise ValueError(f"key {kid!r}: neither an Ed25519 nor a P-256 key")
            keys[kid] = (key, alg)
        return keys

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the SET receiver is not started")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}{self.path}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the SET receiver is not started")
        return self._port

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, not {value!r}")
        with self._mode_lock:
            old, self._mode = self._mode, value
            if (
                self._port is None
                or self._stopping.is_set()
                or (old == "refuse") == (value == "refuse")
            ):
                return
            if value == "refuse":
                self._close_listener()
                self._drop_connections()
            else:
                self._listen(self._port)

    def start(self) -> SetReceiver:
        with self._mode_lock:
            if self._port is not None:
                raise RuntimeError("the SET receiver is already started")
            self._stopping.clear()
            self._listen(0)
            if self._mode == "refuse":
                self._close_listener()
        return self

    def stop(self) -> None:
        """Closes the listening socket and every connection; returns promptly in any mode."""
        self._stopping.set()
        with self._mode_lock:
            self._close_listener()
            self._drop_connections()
            deadline = time.monotonic() + _STOP_JOIN
            with self._lock:
                threads = list(self._threads)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            self._port = None

    def __enter__(self) -> SetReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _listen(self, port: int) -> None:
        server = _Server(self, ("127.0.0.1", port))
        self._port = server.server_address[1]
        self._server = server
        self._serve_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"set-receiver-{self._port}",
            daemon=True,
        )
        self._serve_thread.start()

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._serve_thread is not None:
            self._serve_thread.join()
            self._serve_thread = None

    def _drop_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                # The socket's own shutdown, also under TLS: the handler's read ends at once.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def _spawn(self, sock: socket.socket, address: Any, server: _Server) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(sock, address, server), daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, sock: socket.socket, address: Any, server: _Server) -> None:
        conn = sock
        try:
            with self._lock:
                if self._stopping.is_set():
                    return
                if self.ssl_context is not None:
                    conn = self.ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                self._connections.add(conn)
            conn.settimeout(_IDLE_TIMEOUT)
            if isinstance(conn, ssl.SSLSocket):
                conn.do_handshake()
            _Handler(conn, address, server)
        except OSError:  # the client went away, a TLS handshake failed, stop() or "refuse"
            pass
        finally:
            with self._lock:
                self._connections.discard(conn)
                self._threads.discard(threading.current_thread())
            for s in {conn, sock}:
                with contextlib.suppress(OSError):
                    s.close()

    # -- records ---------------------------------------------------------------------------

    def accepted_jtis(self) -> list[str]:
        """The jtis of the accepted SETs, each once, in the order they first arrived."""
        with self._lock:
            return list(dict.fromkeys(s.jti for s in self.received))

    def duplicates(self) -> dict[str, int]:
        """jti -> times accepted, for the jtis accepted more than once."""
        counts: dict[str, int] = {}
        with self._lock:
            for s in self.received:
                counts[s.jti] = counts.get(s.jti, 0) + 1
        return {jti: n for jti, n in counts.items() if n > 1}

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedSet]:
        """Waits until ``count`` distinct jtis were accepted; returns the first arrival of each
        distinct jti (at least ``count`` of them), in arrival order."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                first: dict[str, ReceivedSet] = {}
                for s in self.received:
                    first.setdefault(s.jti, s)
                if len(first) >= count:
                    return list(first.values())
                left = deadline - time.monotonic()
                if left <= 0:
                    reasons = [reason for _, reason in self.invalid]
                    raise AssertionError(
                        f"SET receiver {self._port and self.url}: expected {count} distinct SETs "
                        f"within {timeout} s, {len(first)} arrived: jtis {list(first)}; "
                        f"{len(self.received)} accepted in all, {self.attempts} POSTs, "
                        f"mode {self._mode!r}, rejected as invalid: {reasons}"
                    )
                self._arrived.wait(left)

    # -- requests --------------------------------------------------------------------------

    def _on_post(self, handler: _Handler) -> None:
        with self._lock:
            self.attempts += 1
        mode, slow_seconds = self._mode, self.slow_seconds
        if mode == "refuse":  # a connection that outlived the listener: dropped unanswered
            handler.close_connection = True
            return
        body = handler.read_body()
        if mode == "fail":
            handler.respond(500, b"simulated failure\n", "text/plain; charset=utf-8")
            return
        if mode == "reject":
            handler.respond_error("invalid_request", "the receiver rejects every SET (mode reject)")
            return
        if mode == "slow" and self._stopping.wait(slow_seconds):
            handler.close_connection = True  # stop(): no answer
            return
        if urlsplit(handler.path).path != self.path:
            handler.respond(404, b"not found\n", "text/plain; charset=utf-8")
            return
        raw = "" if body is None else body.decode("utf-8", errors="replace")
        try:
            accepted = self._verify(handler, body)
        except _Rejected as rejected:
            with self._lock:
                self.invalid.append((raw, f"{rejected.err}: {rejected.description}"))
            handler.respond_error(rejected.err, rejected.description)
            return
        except Exception as exc:  # a bug here, not the client's
            with self._lock:
                self.errors.append(repr(exc))
            handler.respond(500, b"receiver error\n", "text/plain; charset=utf-8")
            return
        with self._arrived:
            self.received.append(accepted)
            self._arrived.notify_all()
        handler.respond(202, b"", None)

    def _verify(self, handler: _Handler, body: bytes | None) -> ReceivedSet:
        content_type = handler.headers.get("Content-Type")
        if content_type is None or handler.headers.get_content_type() != CONTENT_TYPE:
            raise _Rejected("invalid_request", f"Content-Type {content_type!r}, not {CONTENT_TYPE}")
        if body is None:
            length = handler.headers.get("Content-Length")
            raise _Rejected(
                "invalid_request",
                f"Content-Length {length!r}: a body of at most {MAX_BODY} bytes is required",
            )
        try:
            raw = body.decode("ascii")
        except UnicodeDecodeError:
            raise _Rejected("invalid_request", "the body is not ASCII") from None
        parts = raw.split(".")
        if len(parts) != 3 or not all(_B64URL.fullmatch(p) for p in parts) or not all(parts[:2]):
            raise _Rejected("invalid_request", "the body is not a JWS compact serialization")
        header = _b64url_json(parts[0], "the JWS header")
        if not isinstance(header, dict):
            raise _Rejected("invalid_request", "the JWS header is not a JSON object")

        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise _Rejected("authentication_failed", f"alg {alg!r} refused")
        if "crit" in header or "b64" in header:
            raise _Rejected("invalid_request", "crit and b64 header parameters are not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise _Rejected("invalid_key", f"kid {kid!r} is not in the issuer's JWKS")
        key, key_alg = self._keys[kid]
        if alg != key_alg:
            raise _Rejected("authentication_failed", f"alg {alg!r} for a key that signs {key_alg}")
        token = jc_jws.JWS()
        token.allowed_algs = [key_alg]
        try:
            token.deserialize(raw)
            token.verify(key, alg=key_alg)
        except Exception as exc:  # jwcrypto's InvalidJWSSignature, InvalidJWSObject, ...
            raise _Rejected("authentication_failed", f"signature not verified: {exc}") from None

        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYP:
            raise _Rejected("invalid_request", f"typ {typ!r}, not secevent+jwt")
        claims = _b64url_json(parts[1], "the JWS payload")
        if not isinstance(claims, dict):
            raise _Rejected("invalid_request", "the SET is not a JSON object")
        if claims.get("iss") != self.issuer or not isinstance(claims.get("iss"), str):
            raise _Rejected("invalid_issuer", f"iss {claims.get('iss')!r}, not {self.issuer!r}")
        aud = claims.get("aud")
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise _Rejected("invalid_audience", f"aud {aud!r} does not name {self.audience!r}")
        jti, iat, events = claims.get("jti"), claims.get("iat"), claims.get("events")
        if not isinstance(jti, str) or not jti:
            raise _Rejected("invalid_request", f"jti {jti!r}: a non-empty string is required")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise _Rejected("invalid_request", f"iat {iat!r}: an integer is required")
        if not isinstance(events, dict) or not events:
            raise _Rejected("invalid_request", "events: a non-empty JSON object is required")
        for uri, payload in events.items():
            if not isinstance(payload, dict):
                raise _Rejected("invalid_request", f"event {uri!r}: its payload is not an object")
        return ReceivedSet(jti, header, claims, raw, time.monotonic())


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # SO_REUSEADDR: "refuse" then back listens on the same port
    daemon_threads = True
    block_on_close = False  # the receiver tracks and ends the connection threads itself

    def __init__(self, receiver: SetReceiver, address: tuple[str, int]) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # HTTPServer's would resolve the host name (getfqdn)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.receiver._spawn(request, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # only reached outside a connection's thread; nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a pooled client uses it
    server_version = "SetReceiver/1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; and no SET ends in a log line

    def do_POST(self) -> None:
        self.server.receiver._on_post(self)

    def _not_post(self) -> None:
        if urlsplit(self.path).path != self.server.receiver.path:
            self.respond(404, b"not found\n", "text/plain; charset=utf-8", close=True)
        else:
            self.respond(405, b"POST only\n", "text/plain; charset=utf-8", close=True, allow=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_post

    def do_HEAD(self) -> None:
        self._not_post()

    def read_body(self) -> bytes | None:
        """The body, or None when it has no Content-Length or is over MAX_BODY (then the
        connection is closed after the answer)."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return None
        if length > MAX_BODY:
            self.close_connection = True
            left = min(length, _DRAIN_LIMIT)
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            return None
        return self.rfile.read(length)

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        *,
        close: bool = False,
        allow: bool = False,
    ) -> None:
        if close:
            self.close_connection = True
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if allow:
            self.send_header("Allow", "POST")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def respond_error(self, err: str, description: str) -> None:
        body = json.dumps({"err": err, "description": description}).encode()
        self.respond(400, body, "application/json")
