"""The gateway's log: JSON lines for machines, readable text on a terminal.

Every line carries its time, level and logger; a request's line (``cxg.request``) and a state
change's line add their fields as attributes of the record (``extra={"fields": {...}}``), which
the JSON form writes as keys and the text form as ``key=value``. Nothing here decides what may be
logged: the callers pass only what ``gateway.observe.requests`` and the state changes name, never
a token, proof, key, consent id or profile content (tests/test_observe.py greps every line).

Lines are written by a thread of their own, from a bounded queue: a slow or blocked stderr never
stalls the event loop, and memory stays bounded; a line that finds the queue full is counted and
the count is logged once the queue drains.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

_QUEUE_LINES = 10_000
_STOP_SECONDS = 5.0


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = getattr(record, "fields", None) or {}
    return fields


class JsonLines(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC, ms), level, logger, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields_of(record))
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


class Text(logging.Formatter):
    """``time level logger message key=value ...``, one physical line (newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), record.levelname.lower(), record.name, record.getMessage()]
        parts += [f"{key}={_text(value)}" for key, value in fields_of(record).items()]
        return _one_line(" ".join(parts))


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or '"' in text else text


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class _Bounded(logging.handlers.QueueHandler):
    """A QueueHandler that counts the lines a full queue refuses instead of printing a trace.
    Its ``prepare`` fixes each record's message on the caller's thread (a traceback appended),
    so the writer thread formats only text."""

    def __init__(self, lines: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(lines)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class _Writer(logging.handlers.QueueListener):
    def __init__(
        self, lines: queue.Queue[logging.LogRecord], sink: logging.Handler, front: _Bounded
    ) -> None:
        super().__init__(lines, sink, respect_handler_level=False)
        self._front = front
        self._lines = lines
        self._told = 0

    def stop(self) -> None:
        """Write what is queued, waiting at most a few seconds for a stalled stream: a process
        that exits is never held up by its log."""
        try:
            self._lines.put(self._sentinel, timeout=_STOP_SECONDS)  # type: ignore[attr-defined]
        except queue.Full:
            return  # the writer thread is a daemon: it ends with the process
        if self._thread is not None:
            self._thread.join(_STOP_SECONDS)
            self._thread = None
            self._tell_dropped()

    def handle(self, record: logging.LogRecord) -> None:
        super().handle(record)
        if self._lines.empty():
            self._tell_dropped()

    def _tell_dropped(self) -> None:
        dropped = self._front.dropped
        if dropped != self._told:
            self._told = dropped
            lost = logging.LogRecord("cxg.log", logging.ERROR, "", 0, "", None, None)
            lost.msg = f"{dropped} log lines dropped so far: the log writer could not keep up"
            super().handle(lost)


_writer: _Writer | None = None
_lock = threading.Lock()


def configure(format: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log line (the gateway's and its libraries') to ``stream`` (stderr) in
    ``format``: ``json``, ``text``, or ``auto`` (text on a terminal, JSON otherwise)."""
    global _writer
    stream = stream or sys.stderr
    if format == "auto":
        format = "text" if stream.isatty() else "json"
    sink = logging.StreamHandler(stream)
    sink.setFormatter(JsonLines() if format == "json" else Text())
    lines: queue.Queue[logging.LogRecord] = queue.Queue(_QUEUE_LINES)
    front = _Bounded(lines)
    with _lock:
        stop()
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(front)
        root.setLevel(logging.WARNING)  # libraries: warnings and worse
        logging.getLogger("cxg").setLevel(level.upper())
        _writer = _Writer(lines, sink, front)
        _writer.start()
    atexit.register(stop)  # the lines still queued are written before the process ends


def stop() -> None:
    """Write what is queued, then stop the writer thread (at exit)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None
