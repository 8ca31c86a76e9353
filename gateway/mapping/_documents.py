"""One partner record as the mapping engine reads and writes it, whatever its format.

A spec's ``source`` paths are the format's own: a JSON pointer in a JSON record (``/ИНН``), an
ElementTree path with the spec's namespace prefixes in an XML record (``lei:Entity/lei:LegalName``,
``@xml:lang`` for an attribute, ``.`` for the element's own text), a column name in a CSV row.
Values are text; each reader also says where a path points, for errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol
from xml.etree import ElementTree

XML_NS = "http://www.w3.org/XML/1998/namespace"


class Reader(Protocol):
    def get(self, path: str) -> str | None: ...
    def each(self, path: str) -> list[Reader]: ...
    def where(self, path: str) -> str: ...


class Writer(Protocol):
    def put(self, path: str, value: str) -> None: ...
    def add(self, path: str) -> Writer: ...


class WrongType(ValueError):
    """A partner value is not text (e.g. a JSON object where a string belongs)."""


# -- JSON -------------------------------------------------------------------------------------


def _pointer_steps(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON source path is a JSON pointer starting with '/': {pointer!r}")
    return [step.replace("~1", "/").replace("~0", "~") for step in pointer[1:].split("/")]


class JsonReader:
    def __init__(self, node: Any, location: str = "") -> None:
        self._node = node
        self._location = location

    def _find(self, path: str) -> Any:
        node = self._node
        for step in _pointer_steps(path):
            if isinstance(node, dict):
                node = node.get(step)
            elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            else:
                return None
        return node

    def get(self, path: str) -> str | None:
        value = self._find(path)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        found = {dict: "object", list: "array", bool: "boolean"}.get(type(value), "number")
        raise WrongType(f"expected text (a JSON string), found a JSON {found}")

    def each(self, path: str) -> list[Reader]:
        value = self._find(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise WrongType(f"expected a JSON array, found {type(value).__name__}")
        if not all(isinstance(item, dict) for item in value):
            raise WrongType("expected a JSON array of objects")
        return [JsonReader(item, f"{self.where(path)}/{i}") for i, item in enumerate(value)]

    def where(self, path: str) -> str:
        return self._location + ("" if path == "/" else path)


class JsonWriter:
    def __init__(self, node: dict[str, Any] | None = None) -> None:
        self.node: dict[str, Any] = {} if node is None else node

    def _parent(self, path: str) -> tuple[dict[str, Any], str]:
        steps = _pointer_steps(path)
        node = self.node
        for step in steps[:-1]:
            node = node.setdefault(step, {})
        return node, steps[-1]

    def put(self, path: str, value: str) -> None:
        parent, key = self._parent(path)
        parent[key] = value

    def add(self, path: str) -> Writer:
        parent, key = self._parent(path)
        child: dict[str, Any] = {}
        parent.setdefault(key, []).append(child)
        return JsonWriter(child)


# -- XML --------------------------------------------------------------------------------------

_PREDICATE = re.compile(r"^(?P<tag>[^\[]+)\[@(?P<attr>[^=]+)=['\"](?P<value>[^'\"]*)['\"]\]$")


class XmlReader:
    def __init__(
        self, element: ElementTree.Element, namespaces: Mapping[str, str], location: str
    ) -> None:
        self.element = element
        self._ns = {"xml": XML_NS, **namespaces}
        self.location = location

    def get(self, path: str) -> str | None:
        element_path, attribute = _split_attribute(path)
        element = self.element if element_path == "." else self.element.find(element_path, self._ns)
        if element is None:
            return None
        if attribute is not None:
            return element.get(_qualify(attribute, self._ns))
        if len(element):
            raise WrongType(f"expected text, found element <{element.tag}> with children")
        return element.text

    def each(self, path: str) -> list[Reader]:
        return [
            XmlReader(child, self._ns, f"{self.location}/{path}[{i + 1}]")
            for i, child in enumerate(self.element.findall(path, self._ns))
        ]

    def where(self, path: str) -> str:
        return self.location if path == "." else f"{self.location}/{path}"


class XmlWriter:
    def __init__(self, element: ElementTree.Element, namespaces: Mapping[str, str]) -> None:
        self.element = element
        self._ns = {"xml": XML_NS, **namespaces}

    def _walk(self, steps: list[str]) -> ElementTree.Element:
        element = self.element
        for step in steps:
            found = element.find(step, self._ns)
            element = found if found is not None else self._create(element, step)
        return element

    def _create(self, parent: ElementTree.Element, step: str) -> ElementTree.Element:
        match = _PREDICATE.match(step)
        tag = match["tag"] if match else step
        child = ElementTree.SubElement(parent, _qualify(tag, self._ns))
        if match:
            child.set(_qualify(match["attr"], self._ns), match["value"])
        return child

    def put(self, path: str, value: str) -> None:
        element_path, attribute = _split_attribute(path)
        steps = [] if element_path == "." else element_path.split("/")
        element = self._walk(steps)
        if attribute is not None:
            element.set(_qualify(attribute, self._ns), value)
        else:
            element.text = value

    def add(self, path: str) -> Writer:
        steps = path.split("/")
        parent = self._walk(steps[:-1])
        return XmlWriter(self._create(parent, steps[-1]), self._ns)


def _split_attribute(path: str) -> tuple[str, str | None]:
    if path.startswith("@"):
        return ".", path[1:]
    if "/@" in path:
        element_path, attribute = path.rsplit("/@", 1)
        return element_path, attribute
    return path, None


def _qualify(name: str, namespaces: Mapping[str, str]) -> str:
    """``lei:Entity`` -> ``{uri}Entity`` (ElementTree's form)."""
    if ":" not in name:
        return name
    prefix, local = name.split(":", 1)
    return f"{{{namespaces[prefix]}}}{local}"


# -- CSV --------------------------------------------------------------------------------------


class RowReader:
    """A CSV row by column name; a CSV record has no repeated groups."""

    def __init__(self, row: Mapping[str, str | None], location: str) -> None:
        self._row = row
        self._location = location

    def get(self, path: str) -> str | None:
        value = self._row.get(path)
        return value if value != "" else None

    def each(self, path: str) -> list[Reader]:
        raise WrongType("a CSV row has no repeated groups")

    def where(self, path: str) -> str:
        return f"{self._location}, column {path}"


class RowWriter:
    def __init__(self) -> None:
        self.row: dict[str, str] = {}

    def put(self, path: str, value: str) -> None:
        self.row[path] = value

    def add(self, path: str) -> Writer:
        raise WrongType("a CSV row has no repeated groups")
