"""A partner's published XSD, checked against every record element we read in its format.

The schema is loaded once from the adapter's folder (never from the network) and each record is
checked against the schema's declaration of the record element (the global one, or else the
first local one, as LEI-CDF declares ``LEIRecord`` inside ``LEIRecords``), so a bulk file is
checked record by record, as it streams. Records written out are checked the same way. The record was parsed safely before (``_xml``): the
XSD validator never parses partner bytes itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

import xmlschema
from xmlschema.validators import XsdElement

_QUALIFIED = re.compile(r"\{([^}]*)\}")


class RecordSchema:
    def __init__(self, path: Path, record_tag: str, namespaces: Mapping[str, str]) -> None:
        self.name = path.name
        # "sandbox": the schema may include only files from its own folder, never a URL.
        schema = xmlschema.XMLSchema(str(path), base_url=str(path.parent), allow="sandbox")
        declaration = schema.maps.elements.get(record_tag) or next(
            (e for e in schema.iter_components(XsdElement) if e.name == record_tag), None
        )
        if declaration is None:
            raise ValueError(f"{path.name} declares no element {record_tag}")
        assert isinstance(declaration, XsdElement)
        self._declaration = declaration
        self._prefixes = {uri: prefix for prefix, uri in namespaces.items()}

    def violation(self, element: ElementTree.Element) -> tuple[str, str] | None:
        """The first way ``element`` breaks the schema, as (path below the record, reason)."""
        for error in self._declaration.iter_errors(element):
            path = _QUALIFIED.sub(self._prefix, error.path or "")
            below = path.split("/", 2)[2] if path.count("/") > 1 else ""  # "/rec/a/b" -> "a/b"
            reason = _QUALIFIED.sub(self._prefix, error.reason or "does not match the schema")
            return below, reason
        return None

    def _prefix(self, match: re.Match[str]) -> str:
        prefix = self._prefixes.get(match.group(1))
        return f"{prefix}:" if prefix else match.group(0)
