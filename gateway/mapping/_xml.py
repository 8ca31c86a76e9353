"""Safe XML reading for partner formats: no DTD (so no entity expansion and no external
entities, whatever the document declares), and a bulk document read as a stream of parser
events in memory bounded whatever its length.

defusedxml refuses DTDs, entity declarations and external references before expat expands
anything; the limits here are ours. A bulk document must have the shape its format declares
(``Layout``): the document element is a record, or the records are the children of one of the
format's container elements; elements the format's specification puts beside the records (a
file header, extensions) are skipped whole. Every child of a container is a record position,
numbered from 1 in document order: a record, or an element that is not one, refused at its
position (a run of such elements is refused once, at the first one's position, naming how many
there are; ``MAX_RUN`` of them end the reading). Anything else (another element, text outside
the records) ends the reading.

Memory: the document is fed to expat ``CHUNK`` bytes at a time, and the reader keeps only the
record being read and the names of the elements above it. Whatever the document's length:
- expat's buffer holds the unparsed tail: one token at most, and no token (a tag with its
  attributes, a comment) may be over ``MAX_TOKEN_BYTES``;
- the record being read is at most ``max_record_bytes`` of the document, ``MAX_RECORD_ELEMENTS``
  elements and ``MAX_ATTRIBUTES`` attributes an element (a record over a limit is refused at
  its position, and the rest of it skipped);
- expat and the parser remember every distinct name (element, attribute, namespace) for the
  whole document: at most ``MAX_NAMES`` of them, ``MAX_NAME_CHARS`` each;
- elements nest at most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

CHUNK = 16 * 1024
MAX_DEPTH = 32  # a LEI-CDF record nests 6 deep; a partner document more than this is malformed
MAX_RECORD_ELEMENTS = 5_000  # elements in one record
MAX_ATTRIBUTES = 64  # on one element
MAX_NAMES = 2_000  # a format uses some dozens (LEI-CDF ~150)
MAX_NAME_CHARS = 512  # "{namespace}local"
MAX_TOKEN_BYTES = 1024 * 1024
MAX_RUN = 1_000  # elements in a row in record positions that are none: not a file of the format


class XmlRefused(ValueError):
    """The XML is unsafe, malformed or not of the format's shape; ``line`` is where the parser
    stopped (0 when unknown), ``path`` the element it was in (prefixed names, "" when none)."""

    def __init__(self, message: str, line: int = 0, path: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.path = path


@dataclass(frozen=True)
class Layout:
    """Where the records of a bulk document are. Element names are ``{uri}local``; paths are
    tuples of them from the document element down."""

    record: str
    containers: frozenset[tuple[str, ...]] = frozenset()  # elements whose children are records
    ignored: frozenset[tuple[str, ...]] = frozenset()  # elements skipped whole
    prefixes: Mapping[str, str] = field(default_factory=dict)  # uri -> prefix, for messages

    def show(self, tag: str) -> str:
        """``{uri}local`` as ``prefix:local`` when the format names the namespace."""
        if tag.startswith("{"):
            uri, local = tag[1:].split("}", 1)
            if uri in self.prefixes:
                return f"{self.prefixes[uri]}:{local}"
        return tag


@dataclass(frozen=True)
class Found:
    """One record position of a bulk document: its record element, or why it is refused
    (``rule`` ``xml``: not a record of the format, with ``count`` - 1 more such elements after
    it; ``size``: over a record limit)."""

    position: int
    line: int
    tag: str
    element: ElementTree.Element | None = None
    rule: str = ""
    problem: str = ""
    count: int = 1


def parse(data: bytes, *, max_bytes: int) -> ElementTree.Element:
    """One XML document (a single record) as an element tree."""
    if len(data) > max_bytes:
        raise XmlRefused(f"document is {len(data)} bytes, over the limit of {max_bytes}")
    target = _Target(None, max_bytes)
    parser = _parser(target)
    if data:
        _feed(parser, data)
    _feed(parser, b"")
    (only,) = target.found
    assert only.element is not None
    return only.element


def records(stream: IO[bytes], layout: Layout, *, max_record_bytes: int) -> Iterator[Found]:
    """Every record position of a bulk document, in order. Raises ``XmlRefused`` (after the
    positions read before) when the document cannot be read further."""
    target = _Target(layout, max_record_bytes)
    parser = _parser(target)
    fed = 0
    while True:
        chunk = stream.read(CHUNK)
        error = None
        try:
            if not chunk and not fed:
                raise XmlRefused("the document is empty", 1)
            _feed(parser, chunk)
        except XmlRefused as exc:
            error = exc
        if error is not None or not chunk:
            target.flush()
        found, target.found = target.found, []
        yield from found
        if error is not None:
            raise error
        if not chunk:
            return
        fed += len(chunk)
        if fed - target.last_event > MAX_TOKEN_BYTES:
            raise XmlRefused(
                f"no tag, text or comment ends within {MAX_TOKEN_BYTES} bytes",
                target.expat.CurrentLineNumber,
                target.where(),
            )


def _parser(target: _Target) -> DefusedXMLParser:
    parser = DefusedXMLParser(
        target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    target.expat = parser.parser
    return parser


def _feed(parser: DefusedXMLParser, chunk: bytes) -> None:
    """Feed ``chunk`` (b"": the end of the document), every failure as ``XmlRefused``."""
    try:
        if chunk:
            parser.feed(chunk)
        else:
            parser.close()
    except ElementTree.ParseError as exc:
        raise XmlRefused(f"not well-formed XML: {exc}", exc.position[0]) from exc
    except DefusedXmlException as exc:
        raise XmlRefused(f"refused: {exc} (DTDs and entities are not accepted)") from exc


class _Target:
    """The parser's target: keeps the record being read as a tree, checks everything else
    against the layout and drops it. ``layout`` None: the whole document is the record."""

    def __init__(self, layout: Layout | None, max_record_bytes: int) -> None:
        self.expat: Any = None  # expat's parser, for where events are
        self.found: list[Found] = []
        self.last_event = 0  # byte offset of the last event: expat buffers what follows
        self._layout = layout
        self._max = max_record_bytes
        self._path: list[str] = []
        self._names: set[str] = set()
        self._position = 0
        self._line = 0
        self._skipping = 0  # depth of the subtree being skipped (0: none)
        self._builder: ElementTree.TreeBuilder | None = None
        self._record_depth = 0
        self._record_start = 0
        self._elements = 0
        self._junk: Found | None = None  # a run of elements in record positions that are none

    def where(self) -> str:
        show = self._layout.show if self._layout is not None else str
        return "/" + "/".join(show(tag) for tag in self._path)

    # parser events ---------------------------------------------------------------------------

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._seen()
        self._name(tag)
        for name in attrib:
            self._name(name)
        self._path.append(tag)
        depth = len(self._path)
        if depth > MAX_DEPTH:
            raise self._refused(f"elements nested more than {MAX_DEPTH} deep")
        if self._builder is not None:
            self._elements += 1
            problem = self._over_limits(len(attrib))
            if problem:
                self._spoil(problem)
            else:
                self._builder.start(tag, attrib)
            return
        if self._skipping:
            return
        layout = self._layout
        if layout is None:
            self._begin(tag, attrib, depth)
            return
        path = tuple(self._path)
        if path in layout.ignored:
            self._skipping = depth
        elif path[:-1] in layout.containers or (depth == 1 and tag == layout.record):
            if tag == layout.record:
                self._begin(tag, attrib, depth)
            else:
                self._position += 1
                if self._junk is None:
                    line = self.expat.CurrentLineNumber
                    self._junk = Found(self._position, line, tag, rule="xml")
                else:
                    self._junk = replace(self._junk, count=self._junk.count + 1)
                    if self._junk.count >= MAX_RUN:
                        raise self._refused(
                            f"{MAX_RUN} elements in a row that are not "
                            f"{layout.show(layout.record)} records: not a file of this format"
                        )
                self._skipping = depth
        elif not any(container[:depth] == path for container in layout.containers):
            if depth == 1:
                roots = dict.fromkeys([layout.record, *(c[0] for c in sorted(layout.containers))])
                raise self._refused(
                    f"the document element is {layout.show(tag)}, not "
                    f"{' or '.join(layout.show(root) for root in roots)}: not a file of this format"
                )
            raise self._refused(f"element {layout.show(tag)} has no place here in this format")

    def end(self, tag: str) -> None:
        self._seen()
        depth = len(self._path)
        if self._builder is not None:
            self._builder.end(tag)
            problem = self._over_limits(0)
            if problem:
                self._spoil(problem)
            elif depth == self._record_depth:
                element = self._builder.close()
                self._builder = None
                self.found.append(Found(self._position, self._line, tag, element))
        if self._skipping == depth:
            self._skipping = 0
        elif self._layout is not None and tuple(self._path) in self._layout.containers:
            self.flush()
        self._path.pop()

    def data(self, text: str) -> None:
        self._seen()
        if self._builder is not None:
            self._builder.data(text)
            problem = self._over_limits(0)
            if problem:
                self._spoil(problem)
        elif not self._skipping and text.strip():
            raise self._refused("text outside any record")

    def comment(self, text: str) -> None:  # comments are no records' content: dropped
        self._seen()

    def pi(self, target: str, text: str) -> None:  # processing instructions too
        self._seen()

    def start_ns(self, prefix: str, uri: str) -> None:
        self._seen()
        self._name(f"xmlns:{prefix}")
        self._name(uri)

    def flush(self) -> None:
        """Report the run of elements that are no records, if one is pending."""
        junk, self._junk = self._junk, None
        if junk is None or self._layout is None:
            return
        show = self._layout.show
        problem = f"{show(junk.tag)} is not a {show(self._layout.record)} record"
        if junk.count > 1:
            last = junk.position + junk.count - 1
            problem += f", nor are the {junk.count - 1} elements after it (to position {last})"
        self.found.append(replace(junk, problem=problem))

    # internals --------------------------------------------------------------------------------

    def _seen(self) -> None:
        self.last_event = self.expat.CurrentByteIndex

    def _name(self, name: str) -> None:
        if name in self._names:
            return
        if len(name) > MAX_NAME_CHARS:
            raise self._refused(f"a name of {len(name)} characters (at most {MAX_NAME_CHARS})")
        if len(self._names) >= MAX_NAMES:
            raise self._refused(f"more than {MAX_NAMES} distinct names in one document")
        self._names.add(name)

    def _begin(self, tag: str, attrib: dict[str, str], depth: int) -> None:
        self.flush()
        self._position += 1
        self._line = self.expat.CurrentLineNumber
        self._record_depth = depth
        self._record_start = self.expat.CurrentByteIndex
        self._elements = 1
        self._builder = ElementTree.TreeBuilder()
        problem = self._over_limits(len(attrib))
        if problem:
            self._spoil(problem)
        else:
            self._builder.start(tag, attrib)

    def _over_limits(self, attributes: int) -> str:
        if attributes > MAX_ATTRIBUTES:
            return f"an element with {attributes} attributes (at most {MAX_ATTRIBUTES})"
        if self._elements > MAX_RECORD_ELEMENTS:
            return f"more than {MAX_RECORD_ELEMENTS} elements in one record"
        if self.expat.CurrentByteIndex - self._record_start > self._max:
            return f"a record over {self._max} bytes"
        return ""

    def _spoil(self, problem: str) -> None:
        """The record is over a limit: refused at its position, the rest of it skipped."""
        if self._layout is None:
            raise self._refused(problem)
        tag = self._path[self._record_depth - 1]
        self.found.append(Found(self._position, self._line, tag, rule="size", problem=problem))
        self._builder = None
        self._skipping = self._record_depth

    def _refused(self, message: str) -> XmlRefused:
        return XmlRefused(message, self.expat.CurrentLineNumber, self.where())
