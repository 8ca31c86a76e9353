"""The adapter base: one partner format = a mapping spec (data) + the codec of its format.

``decode`` (one partner record -> validated ``CreditProfile``), ``encode`` (profile -> partner
bytes) and ``read`` (a bulk file, record by record, in constant memory) guarantee that only
``AdapterError`` escapes, with the partner-side path. A format that needs more than its spec can
say overrides the private hooks ``_inbound`` / ``_outbound``, which see the canonical document
as a dict (proto3 JSON names), and ``_written``, which finishes the record written out; the
public methods keep their guarantee.

What ``read`` holds in memory is bounded whatever the file's length (see ``_xml`` for XML):
- NDJSON: one line at a time, read ``max_record_bytes + 1`` bytes at most; a longer line is
  refused (rule ``size``) and the rest of it read and dropped in ``_xml.CHUNK`` pieces;
- CSV: one record at a time, at most ``max_record_bytes`` characters, ``MAX_COLUMNS`` columns
  and fields of ``csv.field_size_limit()`` (128 KiB unless changed) characters;
- XML: one record (``max_record_bytes``, ``_xml.MAX_RECORD_ELEMENTS`` elements) plus bounded
  parser state.
So with the default 1 MiB records, reading takes some tens of MiB at most, whatever the file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from google.protobuf import json_format

from gateway.errors import AdapterError
from gateway.mapping import _xml
from gateway.mapping._documents import (
    JsonReader,
    JsonWriter,
    Reader,
    RowReader,
    RowWriter,
    XmlReader,
    XmlWriter,
    _qualify,
)
from gateway.mapping._spec import Mapper, MappingSpec
from gateway.mapping._xsd import RecordSchema
from gateway.profiles import CreditProfile

MAX_RECORD_BYTES = 1024 * 1024  # one record, as for a single publish (CXG_MAX_REQUEST_BYTES)
MAX_COLUMNS = 256  # of a CSV header
# the rules of a position that holds no record at all: an XML element of another kind, a line
# that is no JSON object, a row that does not fit the header
NOT_RECORDS = frozenset({"xml", "json", "csv"})
MEDIA_TYPES = {"json": "application/json", "xml": "application/xml", "csv": "text/csv"}

AcceptLegacy = Callable[[str, str], bool]


@dataclass(frozen=True)
class Record:
    """One record of a bulk file: its number, where it is, and its profile or error. The number
    is its position in the file: the Nth record element of an XML file (an element in a record
    position that is no record counts too), the line of an NDJSON record, the Nth CSV row."""

    number: int
    location: str
    profile: CreditProfile | None = None
    error: AdapterError | None = None


class Adapter:
    def __init__(self, spec: MappingSpec, *, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self.spec = spec
        self._mapper = Mapper(spec)
        self._max = max_record_bytes
        self._schema = (
            RecordSchema(Path(spec.xsd), _qualify(spec.record, spec.namespaces), spec.namespaces)
            if spec.xsd
            else None
        )
        self._layout = _xml.Layout(
            record=_qualify(spec.record, spec.namespaces),
            containers=frozenset(_xml_path(path, spec.namespaces) for path in spec.containers),
            ignored=frozenset(_xml_path(path, spec.namespaces) for path in spec.ignored),
            prefixes={uri: prefix for prefix, uri in spec.namespaces.items()},
        )
        for prefix, uri in spec.namespaces.items():
            ElementTree.register_namespace(prefix, uri)  # written documents keep their prefixes

    @classmethod
    def from_folder(cls, folder: Path) -> Adapter:
        """The adapter whose spec is ``folder/spec.toml``."""
        return cls(MappingSpec.from_file(folder / "spec.toml"))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.spec.format]

    # public: only AdapterError escapes ------------------------------------------------------

    def decode(self, data: bytes, *, accept_legacy: AcceptLegacy | None = None) -> CreditProfile:
        """One partner record -> a validated canonical profile."""
        if len(data) > self._max:
            raise self._refused("", "size", f"record is {len(data)} bytes, over {self._max}")
        return self._to_profile(self._reader(data), accept_legacy)

    def encode(self, profile: CreditProfile) -> bytes:
        """A canonical profile -> one record in the partner's format. An XML record is checked
        against the format's XSD: a profile whose record would break it is refused (rule
        ``xsd``), so no invalid record goes out."""
        fmt = self.spec.format
        if fmt == "json":
            json_writer = JsonWriter()
            self._from_profile(profile, json_writer)
            return json.dumps(json_writer.node, ensure_ascii=False, indent=1).encode()
        if fmt == "xml":
            root = ElementTree.Element(_qualify(self.spec.record, self.spec.namespaces))
            self._from_profile(profile, XmlWriter(root, self.spec.namespaces))
            if self._schema is not None:
                violation = self._schema.violation(root)
                if violation is not None:
                    below, reason = violation
                    raise self._refused(
                        below or self.spec.record,
                        "xsd",
                        f"the record would not match {self._schema.name}: {reason}",
                    )
            ElementTree.indent(root)
            return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
        row_writer = RowWriter()
        self._from_profile(profile, row_writer)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(self.spec.columns), lineterminator="\n")
        writer.writeheader()
        writer.writerow(row_writer.row)
        return out.getvalue().encode()

    def read(
        self, stream: IO[bytes], *, accept_legacy: AcceptLegacy | None = None
    ) -> Iterator[Record]:
        """Every record of a bulk file, in order (see ``Record`` for its number). A bad record
        is reported in its Record and reading goes on; a file that cannot be read further
        (malformed XML, ``_xml.MAX_RUN`` positions in a row that hold no record) ends with a
        Record carrying that error. A file that holds no record of the format (empty, of
        another format, broken before its first record, only elements or lines that are no
        records) is refused whole: the AdapterError is raised."""
        for number, location, item in self._positions(stream):
            yield self._record(number, location, item, accept_legacy)

    # private hooks --------------------------------------------------------------------------

    def _inbound(self, document: dict[str, Any], reader: Reader) -> None:
        """Adjust the canonical document read from ``reader`` before it is validated."""

    def _outbound(self, document: dict[str, Any]) -> None:
        """Adjust a copy of the canonical document before it is written out."""

    def _written(self, record: Any, document: dict[str, Any]) -> None:
        """Finish the record written (an XML element, a JSON object, a CSV row as a dict) where
        the spec cannot say it; ``document`` is the canonical profile as it is (not as
        ``_outbound`` adjusted it)."""

    # internals ------------------------------------------------------------------------------

    def _positions(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        """``read``'s record positions, in order, before mapping: a record's reader, or why the
        position holds none; raises as ``read`` does for a file refused whole."""
        number = 0
        held = False  # whether a position held a record (not an element or line of another kind)
        run = 0  # positions in a row that held none
        try:
            for number, location, reader in self._records(stream):
                if isinstance(reader, AdapterError):
                    run = run + 1 if reader.rule in NOT_RECORDS else 0
                    held = held or not run
                    yield number, location, reader
                    if run >= _xml.MAX_RUN:
                        raise self._refused(
                            location,
                            reader.rule,
                            f"{run} positions in a row hold no {self._what()} record: "
                            "not a file of this format",
                        )
                    continue
                held, run = True, 0
                yield number, location, reader
        except AdapterError as exc:
            if not held:
                raise
            yield number + 1, exc.field or "", exc
            return
        if not held:
            raise self._refused("", "empty", f"the file holds no {self._what()} record")

    def _record(
        self,
        number: int,
        location: str,
        item: Reader | AdapterError,
        accept_legacy: AcceptLegacy | None,
    ) -> Record:
        """The record at a position ``_positions`` gave: mapped, validated and checked."""
        if isinstance(item, AdapterError):
            return Record(number, location, error=item)
        try:
            profile = self._to_profile(item, accept_legacy)
        except AdapterError as exc:
            return Record(number, location, error=exc)
        return Record(number, location, profile=profile)

    def _to_profile(self, reader: Reader, accept_legacy: AcceptLegacy | None) -> CreditProfile:
        profile = self._mapper.to_profile(
            reader, hook=self._inbound, accept_legacy=accept_legacy or (lambda s, v: False)
        )
        # A record that maps must also match the partner's XSD. The mapping goes first: its
        # errors also name the canonical field.
        if self._schema is not None and isinstance(reader, XmlReader):
            violation = self._schema.violation(reader.element)
            if violation is not None:
                below, reason = violation
                where = f"{reader.location}/{below}" if below else reader.location
                raise self._refused(where, "xsd", f"does not match {self._schema.name}: {reason}")
        return profile

    def _from_profile(self, profile: CreditProfile, writer: Any) -> None:
        self._mapper.from_profile(profile, writer, hook=self._outbound)
        record = getattr(writer, "element", None)
        if record is None:
            record = writer.node if isinstance(writer, JsonWriter) else writer.row
        self._written(record, json_format.MessageToDict(profile))

    def _reader(self, data: bytes) -> Reader:
        fmt = self.spec.format
        if fmt == "json":
            return JsonReader(self._json(data, "/"), "")
        if fmt == "xml":
            try:
                root = _xml.parse(data, max_bytes=self._max)
            except _xml.XmlRefused as exc:
                raise self._refused(_at(exc), "xml", str(exc)) from exc
            expected = _qualify(self.spec.record, self.spec.namespaces)
            if root.tag != expected:
                raise self._refused(
                    f"/{root.tag}", "xml", f"the record element is {self.spec.record}"
                )
            return XmlReader(root, self.spec.namespaces, f"/{self.spec.record}")
        rows = [reader for _, _, reader in self._rows(io.BytesIO(data))]
        if len(rows) != 1:
            raise self._refused("", "csv", f"expected a header and one row, found {len(rows)} rows")
        if isinstance(rows[0], AdapterError):
            raise rows[0]
        return rows[0]

    def _records(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        fmt = self.spec.format
        if fmt == "json":
            yield from self._lines(stream)
        elif fmt == "xml":
            layout = self._layout
            try:
                for found in _xml.records(stream, layout, max_record_bytes=self._max):
                    where = f"/{layout.show(found.tag)}[{found.position}]"
                    if found.element is None:
                        problem = f"line {found.line}: {found.problem}"
                        yield found.position, where, self._refused(where, found.rule, problem)
                    else:
                        reader = XmlReader(found.element, self.spec.namespaces, where)
                        yield found.position, where, reader
            except _xml.XmlRefused as exc:
                raise self._refused(_at(exc), "xml", str(exc)) from exc
        else:
            yield from self._rows(stream)

    def _lines(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        """NDJSON: one record a line, numbered by line; blank lines are no records (ignored)."""
        number = 0
        while line := stream.readline(self._max + 1):
            number += 1
            where = f"line {number}"
            if len(line) > self._max and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of it, read and dropped
                    line = stream.readline(_xml.CHUNK)
                yield number, where, self._refused(where, "size", f"line over {self._max} bytes")
                continue
            if not line.strip():
                continue
            try:
                reader: Reader | AdapterError = JsonReader(self._json(line, where), f"{where}: ")
            except AdapterError as exc:
                reader = exc
            yield number, where, reader

    def _rows(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        """CSV: rows under a header, numbered from 1, located by the line they start on; blank
        lines are no rows (ignored)."""
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        lines = _Lines(text, self._max)
        rows = csv.reader(lines)
        try:
            header = next(rows, None)
            if header is None:
                raise self._refused("line 1", "csv", "no header line")
            if len(header) > MAX_COLUMNS:
                raise self._refused("line 1", "csv", f"over {MAX_COLUMNS} columns")
            twice = sorted({name for name in header if header.count(name) > 1})
            if twice:
                raise self._refused("line 1", "csv", f"columns named twice: {', '.join(twice)}")
            missing = set(self.spec.columns) - set(header)
            if missing:
                raise self._refused(
                    "line 1", "csv", f"missing columns: {', '.join(sorted(missing))}"
                )
            number = 0
            while True:
                start = rows.line_num + 1
                lines.used = 0
                row = next(rows, None)
                if row is None:
                    return
                if not row:
                    continue
                number += 1
                where = f"line {start}"
                if len(row) != len(header):
                    problem = f"{len(row)} fields where the header has {len(header)}"
                    yield number, where, self._refused(where, "csv", problem)
                else:
                    yield number, where, RowReader(dict(zip(header, row, strict=True)), where)
        except _LineTooLong as exc:
            where = f"line {rows.line_num + 1}"
            raise self._refused(where, "size", f"a CSV record over {exc} characters") from exc
        except UnicodeDecodeError as exc:
            where = f"line {rows.line_num + 1}"
            raise self._refused(where, "csv", f"not UTF-8: {exc}") from exc
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (128 KiB)
            where = f"line {rows.line_num + 1}"
            raise self._refused(where, "csv", f"not a CSV record: {exc}") from exc
        finally:
            text.detach()

    def _json(self, data: bytes, where: str) -> Any:
        try:
            document = json.loads(data, object_pairs_hook=_unique_keys)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise self._refused(where, "json", f"not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise self._refused(where, "json", "a record is a JSON object")
        return document

    def _what(self) -> str:
        """What a record of this format is, for messages."""
        if self.spec.format == "xml":
            return f"{self.spec.name} ({self.spec.record})"
        return f"{self.spec.name} ({'NDJSON line' if self.spec.format == 'json' else 'CSV row'})"

    def _refused(self, where: str, rule: str, message: str) -> AdapterError:
        return AdapterError(
            f"{message} (adapter {self.spec.name} {self.spec.version})",
            field=where,
            canonical="",
            rule=rule,
        )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object with a key twice is ambiguous (which value counts?): refused."""
    document = dict(pairs)
    if len(document) != len(pairs):
        keys = [key for key, _ in pairs]
        raise ValueError(f"key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return document


class _LineTooLong(ValueError):
    """A CSV record is longer than the limit (the limit is the message)."""


class _Lines:
    """The lines of a CSV text for the csv module, bounded: the record being read (which may
    span lines inside quotes) is at most ``limit`` characters, and no read is longer. The reader
    sets ``used`` to 0 before each record."""

    def __init__(self, text: IO[str], limit: int) -> None:
        self._text = text
        self._limit = limit
        self.used = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._text.readline(self._limit + 1 - self.used)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > self._limit:
            raise _LineTooLong(str(self._limit))
        return line


def _xml_path(path: str, namespaces: Mapping[str, str]) -> tuple[str, ...]:
    """``lei:LEIData/lei:LEIRecords`` -> the qualified names from the document element down."""
    return tuple(_qualify(step, namespaces) for step in path.split("/"))


def _at(exc: _xml.XmlRefused) -> str:
    """Where the XML reader stopped: ``line N`` and the element it was in ("/": the document,
    as for a DTD, refused before any element)."""
    if not exc.line:
        return "/"
    return f"line {exc.line}: {exc.path}" if exc.path else f"line {exc.line}"
