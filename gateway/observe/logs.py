"""The gateway's log: JSON lines for machines, readable text on a terminal.

Every line carries its time, level and logger; a request's line (``cxg.request``) and a state
change's line add their fields as attributes of the record (``extra={"fields": {...}}``), which
the JSON form writes as keys and the text form as ``key=value``. Nothing here decides what may be
logged: the callers pass only what ``gateway.observe.requests`` and the state changes name, never
a token, proof, key, consent id or profile content (tests/test_observe.py greps every line).

Lines are written by a thread of their own, in batches, from a bounded buffer: a slow or blocked
stderr never stalls the event loop, and memory stays bounded; a line that finds the buffer full is
counted and the count is logged with the next batch.
"""

from __future__ import annotations

import atexit
import collections
import copy
import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

_PENDING_LINES = 10_000
_BATCH_SECONDS = 0.2  # how long a line may wait to be written with others
_STOP_SECONDS = 5.0
_TRACEBACKS = logging.Formatter()
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


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
        return _json(line)


class Text(logging.Formatter):
    """``time level logger message key=value ...``, one physical line (newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), record.levelname.lower(), record.name, record.getMessage()]
        parts += [f"{key}={_text(value)}" for key, value in fields_of(record).items()]
        return _one_line(" ".join(parts))


_second: tuple[int, str] = (-1, "")


def _time(record: logging.LogRecord) -> str:
    """RFC 3339 in UTC to the millisecond; the text of a second is made once."""
    global _second
    whole, second = int(record.created), _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int((record.created - whole) * 1000):03d}Z"


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or " " in text or '"' in text else text


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class _Writer(logging.Handler):
    """The root logger's one handler. A caller only puts its record in a bounded buffer (a line
    that finds it full is counted, never waited for); a thread of its own formats what has
    gathered every few milliseconds and writes it to the stream in one call, so a request's
    line costs its caller a few microseconds and the stream one write per batch."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self._stream = stream
        self._pending: collections.deque[logging.LogRecord] = collections.deque()
        self._dropped = self._told = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cxg-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._pending) >= _PENDING_LINES:
            self._dropped += 1
        else:
            self._pending.append(_frozen(record))

    def stop(self) -> None:
        """Write what is pending, waiting at most a few seconds for a stalled stream: a process
        that exits is never held up by its log (the thread is a daemon)."""
        self._stopping.set()
        self._thread.join(_STOP_SECONDS)

    def _run(self) -> None:
        while not self._stopping.wait(_BATCH_SECONDS):
            self._write_pending()
        self._write_pending()

    def _write_pending(self) -> None:
        lines = []
        while self._pending:
            lines.append(self._line(self._pending.popleft()))
        if self._dropped != self._told:
            self._told = self._dropped
            lost = logging.LogRecord("cxg.log", logging.ERROR, "", 0, "", None, None)
            lost.msg = f"{self._told} log lines dropped so far: the log writer could not keep up"
            lines.append(self._line(lost))
        if lines:
            try:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: the lines are lost
                pass

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self.format(record)
        except Exception:  # a library's odd record must not stop the writer
            return json.dumps({"time": _time(record), "logger": record.name, "message": "?"})


def _frozen(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message made text now, on the caller's thread, when it depends on
    objects the caller may still change (format arguments, a live traceback): a copy, since the
    other handlers (a test's) see the original."""
    if not (record.args or record.exc_info or record.stack_info):
        return record  # the gateway's own lines: a fixed message and fields of their own
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + _TRACEBACKS.formatException(record.exc_info)
    if record.stack_info:
        text += "\n" + record.stack_info
    frozen = copy.copy(record)
    frozen.msg, frozen.args = text, None
    frozen.exc_info = frozen.exc_text = frozen.stack_info = None
    return frozen


_writer: _Writer | None = None
_lock = threading.Lock()


def configure(format: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log line (the gateway's and its libraries') to ``stream`` (stderr) in
    ``format``: ``json``, ``text``, or ``auto`` (text on a terminal, JSON otherwise)."""
    global _writer
    stream = stream or sys.stderr
    if format == "auto":
        format = "text" if stream.isatty() else "json"
    # No line shows a thread's or a process's name: records need not look them up.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    with _lock:
        stop()
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        _writer = _Writer(stream, JsonLines() if format == "json" else Text())
        root.addHandler(_writer)
        root.setLevel(logging.WARNING)  # libraries: warnings and worse
        logging.getLogger("cxg").setLevel(level.upper())
    atexit.register(stop)  # the lines still pending are written before the process ends


def stop() -> None:
    """Write what is pending, then stop the writer thread (at exit)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None
