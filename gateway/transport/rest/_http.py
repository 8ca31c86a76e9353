"""The REST port's HTTP/1.1 connections: uvicorn's httptools protocol, bounded in what a client
can make it hold before any credential is checked, and answering in RFC 9457 problem+json
wherever it answers on its own instead of the app.

Bounds: the request head's size (431; 414 for the request target alone) and number of header
fields (431), the time to send a head (408), the idle time within a body (408), and the number of
open connections (503). uvicorn's own answers (400 for a malformed request, 500 when the app
fails before responding) become problems too.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from gateway.config import Settings
from gateway.observe.requests import REQUEST_ID_HEADER, UNMATCHED, Served
from gateway.transport.errors import PROBLEM_JSON
from gateway.transport.rest._tls import TlsHttpToolsProtocol

_PROBLEM_BASE = "urn:cxg:problem:"
SHUTDOWN_LINGER = 1.0  # seconds a kept-alive connection idle at shutdown stays open


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int  # request line and header fields, with their line ends
    max_url_bytes: int  # the request target (path and query) alone
    max_header_count: int
    header_timeout: float  # from the connection (or a request's first byte) to the end of its head
    body_idle_timeout: float  # the longest wait for the next bytes of a body
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_url_bytes=settings.max_url_bytes,
            max_header_count=settings.max_header_count,
            header_timeout=settings.header_timeout_seconds,
            body_idle_timeout=settings.body_idle_timeout_seconds,
            max_connections=settings.max_connections,
        )


def bounded_protocol(limits: HttpLimits) -> type[BoundedHttpProtocol]:
    """The protocol class for uvicorn's ``http`` option: uvicorn makes each connection's
    protocol from a class and its own config, so the limits travel on the class."""
    return type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"limits": limits})


@dataclass(frozen=True)
class _Problem:
    status: int
    slug: str
    title: str
    detail: str

    def body(self) -> bytes:
        document = {
            "type": _PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        return json.dumps(document).encode()


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; feed_data raises HttpParserCallbackError
    with this as its context."""

    def __init__(self, problem: _Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class BoundedHttpProtocol(TlsHttpToolsProtocol):
    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.limit_concurrency is not None:
            # uvicorn answers it with a plain-text 503; max_connections is the bound here.
            raise ValueError("limit_concurrency is not supported; use max_connections")
        # Between requests or inside a request head: what arrives counts toward the head.
        self._in_head = True
        self._head_bytes = 0
        # Between the end of a head and the end of its body.
        self._in_body = False
        self._body_read_at = 0.0
        self._draining = False  # the answer went out before the body was read
        self._deadline: asyncio.TimerHandle | None = None  # of the head or of the body
        self._closing = False  # the server shuts down: this connection's last answer

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            detail = f"more than {self.limits.max_connections} open connections; retry later"
            self._answer_and_close(
                _Problem(503, "unavailable", "Service unavailable", detail),
                [(b"retry-after", b"1")],
            )
            return
        # Counted from the connection, not its first byte: an idle connection holds as much.
        self._set_deadline(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if not self._in_head:
            if not self._draining:
                self._body_read_at = self.loop.time()
            self._feed(data)
            return
        if self._deadline is None:  # the first byte of a request on a kept-alive connection
            self._set_deadline(self.limits.header_timeout)
        # httptools buffers a header field until its end, so the head is counted here, as it
        # arrives, and never fed past the limit. (A head that begins in the read that ends the
        # request before it is counted from the next read: over by at most one read.)
        room = self.limits.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        self._head_bytes += room
        self._feed(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            detail = (
                f"the request line and header fields are larger than"
                f" {self.limits.max_header_bytes} bytes"
            )
            self._answer_and_close(_too_large(detail))
            return
        self.data_received(data[room:])

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            self._answer_and_close(_malformed(exc))

    # Parser callbacks
    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            detail = f"the request target is longer than {self.limits.max_url_bytes} bytes"
            raise _Refused(_Problem(414, "uri-too-long", "URI too long", detail))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_header_count:
            detail = f"more than {self.limits.max_header_count} header fields"
            raise _Refused(_too_large(detail))

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body, self._head_bytes = False, True, 0
        self._body_read_at = self.loop.time()
        self._set_deadline(self.limits.body_idle_timeout)
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # its 500 answer is plain text
            self.cycle.__class__ = _ProblemCycle
        if self._closing:
            self.cycle.keep_alive = False  # answered with Connection: close, then closed

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._in_body, self._draining = True, False, False
        self._cancel_deadline()  # the next request's starts with its first byte

    def on_response_complete(self) -> None:
        if self._in_body and not self._draining:
            # Answered before its body was read (a refusal): the rest is read and dropped, for a
            # while, so that the client reads the answer rather than a reset; then closed.
            self._draining = True
            self._set_deadline(self.limits.body_idle_timeout)
        super().on_response_complete()

    def shutdown(self) -> None:
        """The server shuts down (gracefully). uvicorn would close a kept-alive connection that
        is idle at this moment at once, racing a request its client may be sending on it then
        (which the client would see reset, not answered). Instead the next request on it is
        answered, with Connection: close; a connection still idle after SHUTDOWN_LINGER
        seconds is closed (uvicorn waits for it within its grace period)."""
        self._closing = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(SHUTDOWN_LINGER, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._in_head and self._head_bytes == 0 and not self.transport.is_closing():
            self.transport.close()

    def handle_websocket_upgrade(self) -> None:
        self._cancel_deadline()  # the WebSocket protocol has timeouts of its own
        super().handle_websocket_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        # Served as plain HTTP; the parser reads nothing after an upgrade request, so the
        # connection ends with this answer. Not a warning: any client can send one.
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.logger.debug("upgrade request served as plain HTTP")

    def send_400_response(self, msg: str) -> None:
        self._answer_and_close(_Problem(400, "malformed-request", "Malformed request", msg))

    # Deadlines
    def _set_deadline(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._draining:
            self.transport.close()
            return
        if self._in_body:
            timeout = self.limits.body_idle_timeout
            if self.flow.read_paused or self.cycle.waiting_for_100_continue:
                # The app is behind (or has not asked for the body yet), not the client.
                self._body_read_at = self.loop.time()
            idle = self.loop.time() - self._body_read_at
            if idle < timeout:
                self._set_deadline(timeout - idle)
                return
            detail = f"no bytes of the request body for {timeout:g} seconds"
            self._answer_and_close(_timeout(detail))
            return
        if self._head_bytes == 0:  # nothing asked: nothing to answer
            self.transport.close()
            return
        detail = f"the request head was not complete within {self.limits.header_timeout:g} seconds"
        self._answer_and_close(_timeout(detail))

    def _answer_and_close(
        self, problem: _Problem, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Send ``problem`` and close, unless the answer would land inside a response already
        under way or answer an earlier (pipelined) request: then only close."""
        cycle: RequestResponseCycle | None = self.cycle
        in_app = cycle is not None and not cycle.response_complete
        if in_app:
            assert cycle is not None
            if cycle.response_started or not self._in_body:
                self.transport.close()
                return
            # This answers the request whose body did not come; the app's answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        # A request the app has is logged and counted there (_observe.py); one refused before
        # it got there, here, as a request that matched no route.
        served = None if in_app else Served("rest", None, None)
        body = problem.body()
        head = [STATUS_LINE[problem.status]]
        for name, value in [*self.server_state.default_headers, *(headers or [])]:
            head.append(name + b": " + value + b"\r\n")
        if served is not None:
            head.append(REQUEST_ID_HEADER.encode() + b": " + served.request_id.encode() + b"\r\n")
        head.append(b"content-type: " + PROBLEM_JSON.encode() + b"\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        if served is not None:
            status = str(problem.status)
            served.finish(
                operation=UNMATCHED, status=status, problem=problem.slug, bytes_out=len(body)
            )


class _ProblemCycle(RequestResponseCycle):
    async def send_500_response(self) -> None:
        body = _Problem(500, "internal", "Internal error", "internal error").body()
        await self.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


def _malformed(exc: httptools.HttpParserError) -> _Problem:
    cause = exc.__context__
    if isinstance(cause, _Refused):
        return cause.problem
    # llhttp's reasons are fixed texts that name the fault ("Invalid character in
    # Content-Length"), never the request's bytes; anything else raised in a callback is ours.
    reason = exc if cause is None else cause
    if isinstance(reason, httptools.HttpParserError):
        detail = f"malformed HTTP request: {reason}"
    else:
        detail = "malformed HTTP request"
    return _Problem(400, "malformed-request", "Malformed request", detail)


def _too_large(detail: str) -> _Problem:
    return _Problem(431, "header-fields-too-large", "Request header fields too large", detail)


def _timeout(detail: str) -> _Problem:
    return _Problem(408, "request-timeout", "Request timeout", detail)
