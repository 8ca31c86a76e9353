"""The adapter base: one partner format = a mapping spec (data) + the codec of its format.

``decode`` (one partner record -> validated ``CreditProfile``), ``encode`` (profile -> partner
bytes) and ``read`` (a bulk file, record by record, in constant memory) guarantee that only
``AdapterError`` escapes, with the partner-side path. A format that needs more than its spec can
say overrides the private hooks ``_inbound`` / ``_outbound``, which see the canonical document
as a dict (proto3 JSON names), and keep the public methods' guarantee.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

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
MEDIA_TYPES = {"json": "application/json", "xml": "application/xml", "csv": "text/csv"}

AcceptLegacy = Callable[[str, str], bool]


@dataclass(frozen=True)
class Record:
    """One record of a bulk file: its number (from 1), where it is, and its profile or error."""

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
        """A canonical profile -> one record in the partner's format."""
        fmt = self.spec.format
        if fmt == "json":
            json_writer = JsonWriter()
            self._from_profile(profile, json_writer)
            return json.dumps(json_writer.node, ensure_ascii=False, indent=1).encode()
        if fmt == "xml":
            root = ElementTree.Element(_qualify(self.spec.record, self.spec.namespaces))
            self._from_profile(profile, XmlWriter(root, self.spec.namespaces))
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
        """Every record of a bulk file, in order. A bad record is reported in its Record and
        reading goes on; a file that cannot be read further (malformed XML) ends with a Record
        carrying that error."""
        number = 0
        try:
            for number, location, reader in self._records(stream):
                if isinstance(reader, AdapterError):
                    yield Record(number, location, error=reader)
                    continue
                try:
                    profile = self._to_profile(reader, accept_legacy)
                except AdapterError as exc:
                    yield Record(number, location, error=exc)
                else:
                    yield Record(number, location, profile=profile)
        except AdapterError as exc:
            yield Record(number + 1, exc.field or "", error=exc)

    # private hooks --------------------------------------------------------------------------

    def _inbound(self, document: dict[str, Any], reader: Reader) -> None:
        """Adjust the canonical document read from ``reader`` before it is validated."""

    def _outbound(self, document: dict[str, Any]) -> None:
        """Adjust a copy of the canonical document before it is written out."""

    # internals ------------------------------------------------------------------------------

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

    def _reader(self, data: bytes) -> Reader:
        fmt = self.spec.format
        if fmt == "json":
            return JsonReader(self._json(data, "/"), "")
        if fmt == "xml":
            try:
                root = _xml.parse(data, max_bytes=self._max)
            except _xml.XmlRefused as exc:
                where = f"line {exc.line}" if exc.line else "/"
                raise self._refused(where, "xml", str(exc)) from exc
            expected = _qualify(self.spec.record, self.spec.namespaces)
            if root.tag != expected:
                raise self._refused(
                    f"/{root.tag}", "xml", f"the record element is {self.spec.record}"
                )
            return XmlReader(root, self.spec.namespaces, f"/{self.spec.record}")
        rows = [reader for _, _, reader in self._rows(io.BytesIO(data))]
        if len(rows) != 1:
            raise self._refused("", "csv", f"expected a header and one row, found {len(rows)} rows")
        assert not isinstance(rows[0], AdapterError)  # CSV rows are never pre-failed
        return rows[0]

    def _records(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        fmt = self.spec.format
        if fmt == "json":  # NDJSON: one record per line
            for number, line in enumerate(stream, 1):
                if len(line) > self._max:
                    raise self._refused(f"line {number}", "size", f"line over {self._max} bytes")
                if line.strip():
                    where = f"line {number}"
                    try:
                        yield number, where, JsonReader(self._json(line, where), f"{where}: ")
                    except AdapterError as exc:
                        yield number, where, exc
        elif fmt == "xml":
            tag = _qualify(self.spec.record, self.spec.namespaces)
            try:
                for number, element in enumerate(_xml.records(stream, tag), 1):
                    where = f"/{self.spec.record}[{number}]"
                    yield number, where, XmlReader(element, self.spec.namespaces, where)
            except _xml.XmlRefused as exc:
                raise self._refused(f"line {exc.line}", "xml", str(exc)) from exc
        else:
            yield from self._rows(stream)

    def _rows(self, stream: IO[bytes]) -> Iterator[tuple[int, str, Reader | AdapterError]]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            reader = csv.DictReader(text)
            missing = set(self.spec.columns) - set(reader.fieldnames or ())
            if missing:
                raise self._refused(
                    "line 1", "csv", f"missing columns: {', '.join(sorted(missing))}"
                )
            for row in reader:
                where = f"line {reader.line_num}"
                yield reader.line_num - 1, where, RowReader(row, where)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._refused("", "csv", f"not a UTF-8 CSV file: {exc}") from exc
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
