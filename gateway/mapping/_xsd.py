"""A partner's published XSD, checked against every record element we read in its format.

The schema is loaded once from the adapter's folder (never from the network) and each record is
checked against the schema's declaration of the record element (the global one, or else the
first local one, as LEI-CDF declares ``LEIRecord`` inside ``LEIRecords``), so a bulk file is
checked record by record, as it streams. Records written out are checked the same way. The
record was parsed safely before (``_xml``): the validators never parse partner bytes as they
came, only the record as our reader rebuilt it (no DTD, no entities).

Two validators of the same schema: libxml2's (lxml) decides, at a tenth of the cost of
xmlschema's (measured: ~0.15 ms against ~1.5 ms a GLEIF record, serialising included); a record
it refuses is checked again with xmlschema, whose message names the path and the reason the way
a partner reads them. Should xmlschema find nothing wrong, the record is still refused with
libxml2's reason (fail closed). A schema whose record declaration libxml2 cannot take alone (a
local declaration of an anonymous type) is checked with xmlschema only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

import xmlschema
from lxml import etree
from xmlschema.validators import XsdElement

_QUALIFIED = re.compile(r"\{([^}]*)\}")
_XS = "http://www.w3.org/2001/XMLSchema"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XML_XSD_URL = "http://www.w3.org/2001/xml.xsd"


def _safe_parser() -> etree.XMLParser:
    """lxml's parser with entities, DTDs, the network and huge trees off."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class _Bundled(etree.Resolver):  # type: ignore[misc]
    """The XML namespace's schema from the file xmlschema loaded for it, never from w3.org
    (xmlschema's copy has changed name across its versions: ask it, never guess the path)."""

    def __init__(self, xml_xsd: str | None) -> None:
        super().__init__()
        self._xml_xsd = xml_xsd

    def resolve(self, url: str, pubid: str, context: object) -> object:
        if url == _XML_XSD_URL and self._xml_xsd:
            return self.resolve_filename(self._xml_xsd, context)
        return None


class RecordSchema:
    def __init__(self, path: Path, record_tag: str, namespaces: Mapping[str, str]) -> None:
        self.name = path.name
        # "sandbox": the schema may include only files from its own folder, never a URL. The
        # libxml2 copy below is loaded only from what this accepted.
        schema = xmlschema.XMLSchema(str(path), base_url=str(path.parent), allow="sandbox")
        declaration = schema.maps.elements.get(record_tag) or next(
            (e for e in schema.iter_components(XsdElement) if e.name == record_tag), None
        )
        if declaration is None:
            raise ValueError(f"{path.name} declares no element {record_tag}")
        assert isinstance(declaration, XsdElement)
        self._declaration = declaration
        self._prefixes = {uri: prefix for prefix, uri in namespaces.items()}
        is_global = record_tag in schema.maps.elements
        xml_schemas = schema.maps.namespaces.get(_XML_NS) or []
        xml_xsd = next((s.url for s in xml_schemas if s.url), None)
        self._fast = _libxml2_schema(path, record_tag, declaration, xml_xsd, global_=is_global)
        self._parsers = threading.local()  # lxml parsers are not shared between threads

    def violation(self, element: ElementTree.Element) -> tuple[str, str] | None:
        """The first way ``element`` breaks the schema, as (path below the record, reason)."""
        if self._fast is not None:
            parser = getattr(self._parsers, "parser", None) or _safe_parser()
            self._parsers.parser = parser
            if self._fast.validate(etree.fromstring(ElementTree.tostring(element), parser)):
                return None
            error = self._fast.error_log.last_error
        for found in self._declaration.iter_errors(element):
            path = _QUALIFIED.sub(self._prefix, found.path or "")
            below = path.split("/", 2)[2] if path.count("/") > 1 else ""  # "/rec/a/b" -> "a/b"
            reason = _QUALIFIED.sub(self._prefix, found.reason or "does not match the schema")
            return below, reason
        if self._fast is None:
            return None
        # libxml2 refused what xmlschema accepts: refused all the same, with libxml2's reason.
        path = _QUALIFIED.sub(self._prefix, error.path or "")
        below = path.split("/", 2)[2] if path.count("/") > 1 else ""
        return below, _QUALIFIED.sub(self._prefix, error.message or "does not match the schema")

    def _prefix(self, match: re.Match[str]) -> str:
        prefix = self._prefixes.get(match.group(1))
        return f"{prefix}:" if prefix else match.group(0)


def _libxml2_schema(
    path: Path, record_tag: str, declaration: XsdElement, xml_xsd: str | None, *, global_: bool
) -> etree.XMLSchema | None:
    """The schema for libxml2 with the record element declared globally, so that a record
    alone is a valid document: the schema as it is, or one that includes it and declares the
    record element with its local declaration's named type (None: the type has no name)."""
    parser = _safe_parser()
    parser.resolvers.add(_Bundled(xml_xsd))
    if global_:
        return etree.XMLSchema(etree.parse(str(path), parser))
    type_name = declaration.type.name
    if not type_name or not type_name.startswith("{"):
        return None
    namespace, local = type_name[1:].split("}", 1)
    record_ns, record_local = ("", record_tag)
    if record_tag.startswith("{"):
        record_ns, record_local = record_tag[1:].split("}", 1)
    if namespace != record_ns:
        return None
    wrapper = etree.Element(
        f"{{{_XS}}}schema", nsmap={"xs": _XS, "t": namespace}, targetNamespace=namespace
    )
    etree.SubElement(wrapper, f"{{{_XS}}}include", schemaLocation=path.name)
    etree.SubElement(wrapper, f"{{{_XS}}}element", name=record_local, type=f"t:{local}")
    # Beside the schema (its include is then found there), under a name of its own.
    here = str(path.with_name(f"{path.stem}.record.xsd"))
    document = etree.fromstring(etree.tostring(wrapper), parser, base_url=here)
    return etree.XMLSchema(document.getroottree())
