"""Safe XML reading for partner formats: no DTD (so no entity expansion and no external
entities, whatever the document declares), bounded size, depth and record size, and records
read one at a time so a bulk file of any length is parsed in constant memory.

defusedxml refuses DTDs, entity declarations and external references before expat expands
anything; the limits here are ours.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

MAX_DEPTH = 32  # a LEI-CDF record nests 6 deep; a partner record more than this is malformed
MAX_RECORD_ELEMENTS = 5_000  # elements in one record


class XmlRefused(ValueError):
    """The XML is unsafe or malformed; ``line`` is where the parser stopped (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def parse(data: bytes, *, max_bytes: int) -> ElementTree.Element:
    """One XML document (a single record) as an element tree."""
    if len(data) > max_bytes:
        raise XmlRefused(f"document is {len(data)} bytes, over the limit of {max_bytes}")
    root: ElementTree.Element | None = None
    for element in _elements(io.BytesIO(data), record_tag=None):
        root = element
    assert root is not None
    return root


def records(stream: IO[bytes], record_tag: str) -> Iterator[ElementTree.Element]:
    """Every element named ``record_tag`` (``{uri}local``), in order, each dropped from the tree
    once the caller has moved on."""
    return _elements(stream, record_tag=record_tag)


def _elements(stream: IO[bytes], record_tag: str | None) -> Iterator[ElementTree.Element]:
    stack: list[ElementTree.Element] = []
    in_record = 0
    try:
        for event, element in iterparse(
            stream, events=("start", "end"), forbid_dtd=True, forbid_entities=True
        ):
            if event == "start":
                stack.append(element)
                if len(stack) > MAX_DEPTH:
                    raise XmlRefused(f"elements nested more than {MAX_DEPTH} deep")
                if record_tag is not None and (in_record or element.tag == record_tag):
                    in_record += 1
                    if in_record > MAX_RECORD_ELEMENTS:
                        raise XmlRefused(f"a record has more than {MAX_RECORD_ELEMENTS} elements")
                continue
            stack.pop()
            if record_tag is None:
                if not stack:
                    yield element
            elif element.tag == record_tag:  # within a list, or a file of one record
                in_record = 0
                yield element
                if stack:
                    stack[-1].remove(element)  # constant memory: the record is done with
    except ElementTree.ParseError as exc:
        raise XmlRefused(f"not well-formed XML: {exc}", exc.position[0]) from exc
    except DefusedXmlException as exc:
        raise XmlRefused(f"refused: {exc} (DTDs and entities are not accepted)") from exc
