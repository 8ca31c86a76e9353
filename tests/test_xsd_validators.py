"""The two validators of a partner's XSD (``gateway.mapping._xsd``): libxml2 decides and
xmlschema words the refusal, so they must accept and refuse the same records."""

from __future__ import annotations

import io
from pathlib import Path
from xml.etree import ElementTree

import pytest

from adapters.customs_aeo import adapter as aeo
from adapters.gleif_lei import adapter as gleif
from gateway.mapping import Adapter
from tests.test_import_parallel import full_list

GLEIF_FILE = (
    b'<lei:LEIData xmlns:lei="http://www.gleif.org/data/schema/leidata/2016"><lei:LEIRecords>'
    b"%s</lei:LEIRecords></lei:LEIData>"
)
EDITS = [  # (find, replace, valid) in one record: the record stays well-formed XML
    (b"", b"", True),
    (b"<aeo:Name>", b"<aeo:Nickname>x</aeo:Nickname><aeo:Name>", False),
    (b"CN37", b"cn37", False),
    (b"2022-06-15", b"2022-13-45", False),
    (b"<aeo:City>Qingdao</aeo:City>", b"", True),  # optional
    (b"<aeo:AuthorisedDate>2022-06-15</aeo:AuthorisedDate>", b"", False),
    (b"<aeo:Country>CN</aeo:Country>", b"<aeo:Country>China</aeo:Country>", False),
    (b"<aeo:Operator>", b'<aeo:Operator change="later">', False),
    (b"<aeo:Operator>", b'<aeo:Operator change="new">', True),
    (b"<aeo:Operator>", b'<aeo:Operator unknown="1">', False),
]


def checked(adapter: Adapter, element: ElementTree.Element) -> tuple[bool, bool]:
    schema = adapter._schema
    assert schema is not None and schema._fast is not None
    by_libxml2 = bool(schema._fast.validate(_lxml(element)))
    by_xmlschema = next(schema._declaration.iter_errors(element), None) is None
    return by_libxml2, by_xmlschema


def _lxml(element: ElementTree.Element) -> object:
    from lxml import etree

    return etree.fromstring(ElementTree.tostring(element))


@pytest.mark.parametrize(("find", "replace", "valid"), EDITS)
def test_libxml2_and_xmlschema_agree_on_aeo_records(
    find: bytes, replace: bytes, valid: bool
) -> None:
    data = full_list(1).replace(find, replace, 1)
    ((_, _, reader),) = list(aeo._positions(io.BytesIO(data)))
    by_libxml2, by_xmlschema = checked(aeo, reader.element)  # type: ignore[union-attr]
    assert by_libxml2 == by_xmlschema == valid


def test_libxml2_and_xmlschema_agree_on_a_gleif_record_declared_locally() -> None:
    sample = Path(__file__).parents[1] / "adapters/gleif_lei/samples/ru_romashka.xml"
    record = sample.read_bytes().split(b"?>", 1)[1].strip()
    for data, valid in [(record, True), (record.replace(b"<lei:LEI>", b"<lei:Nope/><lei:LEI>"), False)]:  # fmt: skip
        ((_, _, reader),) = list(gleif._positions(io.BytesIO(GLEIF_FILE % data)))
        assert checked(gleif, reader.element) == (valid, valid)  # type: ignore[union-attr]
