"""One request from arrival to answer, on either transport: its id, its span, and at the end its
log line and metrics.

What a request's line may say is decided here, by the fields ``finish`` takes: the operation,
the calling partner's id, the purpose (one of the policy's names, never free text), the status,
the problem type, the latency, the audit leaf's index and byte counts. Never a path, a query, a
header value, a token, a proof, a consent id or profile content: the transports pass none.

The request id is the caller's W3C ``traceparent`` trace id when it sends one, else its
``X-Request-Id`` when that is a short plain token, else a fresh random one; the answer carries
it back (``X-Request-Id`` header, ``x-request-id`` trailer) so a partner can quote it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from typing import Any

from gateway.observe import metrics, traces

_log = logging.getLogger("cxg.request")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID_HEADER = "x-request-id"
UNMATCHED = "unmatched"  # the operation of a request that reached no route


def valid_traceparent(value: str | None) -> str | None:
    """``value`` if it is a W3C traceparent with a non-zero trace id, else None."""
    if value is None:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None or match.group(1) == "0" * 32 or value.startswith("ff"):
        return None
    return value.strip()


class Served:
    """A request being served. ``finish`` exactly once, when its answer is known."""

    __slots__ = ("_finished", "_span", "_started", "request_id", "transport")

    def __init__(self, transport: str, traceparent: str | None, request_id: str | None) -> None:
        self.transport = transport
        self._started = time.perf_counter()
        self._finished = False
        parent = valid_traceparent(traceparent)
        self._span = traces.server_span(f"{transport} request", parent, **{"rpc.system": transport})
        if self._span is not None:
            self.request_id = self._span.trace_id
        elif parent is not None:
            self.request_id = parent[3:35]
        elif request_id is not None and _REQUEST_ID.fullmatch(request_id):
            self.request_id = request_id
        else:
            self.request_id = os.urandom(16).hex()

    @property
    def traceparent(self) -> str | None:
        """This request's own span as a traceparent, for the answer (None when not tracing)."""
        if self._span is None:
            return None
        flags = "01" if self._span.sampled else "00"
        return f"00-{self._span.trace_id}-{self._span.span_id}-{flags}"

    def finish(
        self,
        *,
        operation: str,
        status: str,
        problem: str | None = None,
        partner: str | None = None,
        purpose: str | None = None,
        leaf: int | None = None,
        bytes_in: int | None = None,
        bytes_out: int | None = None,
    ) -> None:
        if self._finished:
            return
        self._finished = True
        seconds = time.perf_counter() - self._started
        count, latency = _series(self.transport, operation, status)
        count.inc()
        latency.observe(seconds)
        if problem is not None:
            metrics.refusals.labels(self.transport, problem).inc()
        logged = _log.isEnabledFor(logging.INFO)
        if self._span is None and not logged:
            return
        fields: dict[str, Any] = {
            "requestId": self.request_id,
            "transport": self.transport,
            "operation": operation,
            "status": status,
            "latencyMs": round(seconds * 1000, 3),
        }
        optional = {
            "partner": partner,
            "purpose": purpose,
            "problem": problem,
            "auditLeaf": leaf,
            "bytesIn": bytes_in,
            "bytesOut": bytes_out,
        }
        fields.update((key, value) for key, value in optional.items() if value is not None)
        if self._span is not None:
            attributes = {
                "cxg." + key: value for key, value in fields.items() if key != "requestId"
            }
            self._span.end(f"{self.transport} {operation}", attributes, failed=problem is not None)
        if logged:
            # As _log.info would, without looking up its caller's frame: the line names none.
            record = logging.LogRecord(_log.name, logging.INFO, __file__, 0, "request", None, None)
            record.fields = fields
            _log.handle(record)


@functools.cache
def _series(transport: str, operation: str, status: str) -> tuple[Any, Any]:
    """A request's count and latency metrics, looked up once per label set (a bounded set: the
    operations, the statuses)."""
    return (
        metrics.requests.labels(transport, operation, status),
        metrics.request_seconds.labels(transport, operation),
    )
