"""OpenTelemetry traces, exported only when an exporter is configured.

Off (the default, no ``OTEL_EXPORTER_OTLP_ENDPOINT``/``..._TRACES_ENDPOINT``): there is no
tracer, ``span()`` hands back one shared do-nothing context, and a request's W3C trace ids are
made by ``gateway.observe.requests`` itself. On: spans go through a batch processor to the
OTLP/HTTP exporter, which reads the standard ``OTEL_*`` variables (endpoint, headers,
timeout, service name, resource attributes); ``OTEL_SDK_DISABLED=true`` turns them off.

The gateway keeps its own tracer provider rather than the process-global one, so that a test
(or an embedding program) can trace into an in-memory exporter with ``use()``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway import __version__

_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
_propagator = TraceContextTextMapPropagator()
_OFF = contextlib.nullcontext()


def enabled() -> bool:
    return _tracer is not None


def configure_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """Export spans over OTLP/HTTP when the standard variables name an endpoint; True if so."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    use(BatchSpanProcessor(OTLPSpanExporter()))
    return True


def use(processor: SpanProcessor) -> None:
    """Trace into ``processor`` from now on (``None`` of ``stop()`` turns tracing off)."""
    global _provider, _tracer
    stop()
    # Resource.create adds OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES to these.
    resource = Resource.create({"service.name": "cxg", "service.version": __version__})
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer("cxg", __version__)
    atexit.register(stop)  # the spans still batched are exported before the process ends


def stop() -> None:
    """Export what is pending and turn tracing off."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider = _tracer = None


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one around a step (admission, lookup, signing, audit commit);
    nothing at all when tracing is off or the request's span is not recorded (not sampled):
    its children would be dropped with it, and making them costs as much as recording."""
    if _tracer is None or not _recording():
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes or None)


class ServerSpan:
    """A request's span, parented by the caller's ``traceparent`` and current until ``end``."""

    def __init__(self, name: str, traceparent: str | None, attributes: dict[str, Any]) -> None:
        assert _tracer is not None
        parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
        self._span = _tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        context = self._span.get_span_context()
        self.trace_id = f"{context.trace_id:032x}"
        self.span_id = f"{context.span_id:016x}"
        self.sampled = bool(context.trace_flags.sampled)

    def end(self, name: str, attributes: dict[str, Any], failed: bool) -> None:
        """End the span under its final ``name`` (a REST request's operation is known only
        once it has been routed)."""
        self._span.update_name(name)
        self._span.set_attributes(attributes)
        if failed:
            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()
        otel_context.detach(self._token)


def server_span(name: str, traceparent: str | None, **attributes: Any) -> ServerSpan | None:
    return ServerSpan(name, traceparent, attributes) if _tracer is not None else None


def instrument(engine: Engine) -> None:
    """A client span for every statement ``engine`` runs, with the statement's text (its
    parameters are placeholders there, never values); nothing when tracing is off."""
    if _tracer is None:
        return
    system = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _begin(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if _tracer is not None and context is not None and _recording():
            context._cxg_span = _tracer.start_span(
                f"db {statement.split(None, 1)[0].upper() if statement else 'statement'}",
                kind=SpanKind.CLIENT,
                attributes={"db.system": system, "db.statement": statement[:2000]},
            )

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        _finish(context, failed=False)

    @event.listens_for(engine, "handle_error")
    def _error(exception_context: Any) -> None:
        _finish(exception_context.execution_context, failed=True)


def _recording() -> bool:
    return trace.get_current_span().is_recording()


def _finish(context: Any, *, failed: bool) -> None:
    db_span = getattr(context, "_cxg_span", None)
    if db_span is not None:
        if failed:
            db_span.set_status(Status(StatusCode.ERROR))
        db_span.end()
        context._cxg_span = None
