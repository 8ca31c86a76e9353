"""Mapping specs: how one partner format's fields become canonical profile fields and back.

A spec is data (a TOML file in the adapter's folder)::

    name = "ru-bureau"            # the adapter's name
    version = "1.0.0"             # of the spec; a changed mapping is a new version
    format = "json"               # json | xml | csv
    xsd = "partner.xsd"           # XML: the partner's published schema, beside the spec; every
                                  # record is checked against its record element's declaration
    record = "kz:Company"         # XML: the record element
    containers = ["kz:Companies"] # XML bulk files: the elements (paths from the document
                                  # element) whose children are the records; each child is a
                                  # record position, and one that is no record is refused
    ignored = []                  # XML bulk files: elements the format's specification puts
                                  # beside the records (a file header), skipped whole; any
                                  # other element outside the records ends the reading
    [namespaces]                  # XML prefixes used in source paths
    [constants]                   # canonical fields the format implies, e.g. "subject.country" = "RU"
    [codes.status]                # code tables: partner code = canonical value; the first partner
    "Действует" = "ENTITY_STATUS_ACTIVE"   # code listed for a value is the one written out
    [[fields]]                    # one partner value <-> one canonical field
    canonical = "subject.ids[scheme=RU_INN].value"
    source = "/ИНН"
    required = true               # also: codes = "status", date = "%d.%m.%Y", default = "...",
                                  # pattern = "[0-9]{6}" (the partner value, both ways)
    [[fields]]                    # derived, read-only: filled when the record leaves it empty
    canonical = "subject.legalName.en"
    derive = "translit-ru"        # from = "subject.legalName.ru"
    from = "subject.legalName.ru"
    [[groups]]                    # a repeated partner element <-> a repeated canonical field
    canonical = "ratings"
    source = "/Рейтинги"
    constants = { scheme = "RU_BUREAU_SCALE" }
    fields = [ { canonical = "grade", source = "/Класс", required = true } ]

Inbound a record either maps whole or is refused whole, with an ``AdapterError`` naming the
partner path, the canonical field and the rule broken; outbound refuses a profile the format
cannot carry (a constant it contradicts, a value with no partner code) the same way.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from gateway.errors import AdapterError, InvalidArgument
from gateway.mapping._canonical import CanonicalPath
from gateway.mapping._documents import Reader, Writer, WrongType
from gateway.mapping._translit import TRANSLITERATIONS
from gateway.profiles import CreditProfile, validate_profile

FORMATS = ("json", "xml", "csv")


class SpecError(ValueError):
    """A mapping spec is malformed: an operator's mistake, found when the adapter loads."""


@dataclass(frozen=True)
class Field:
    canonical: CanonicalPath
    source: str | None = None
    required: bool = False
    codes: str | None = None
    date: str | None = None
    default: str | None = None
    derive: str | None = None
    derive_from: CanonicalPath | None = None
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Group:
    canonical: CanonicalPath
    source: str
    fields: tuple[Field, ...]
    constants: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MappingSpec:
    name: str
    version: str
    format: str
    description: str
    namespaces: Mapping[str, str]
    constants: Mapping[str, str]
    codes: Mapping[str, Mapping[str, str]]
    fields: tuple[Field, ...]
    groups: tuple[Group, ...]
    # XML: the record element ("lei:LEIRecord"); CSV: the columns, in order, for writing
    record: str = ""
    columns: tuple[str, ...] = ()
    xsd: str = ""  # XML: the schema file each record is checked against (from_file: its path)
    containers: tuple[str, ...] = ()  # XML bulk files: paths of the elements holding the records
    ignored: tuple[str, ...] = ()  # XML bulk files: paths of the elements skipped whole

    @classmethod
    def from_file(cls, path: Path) -> MappingSpec:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            if "xsd" in data:  # beside the spec, wherever the process runs
                data["xsd"] = str(path.parent / data["xsd"])
            return cls.from_dict(data)
        except (tomllib.TOMLDecodeError, SpecError, ValueError, KeyError, TypeError) as exc:
            raise SpecError(f"{path}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MappingSpec:
        _only(
            data,
            "spec",
            {
                "name",
                "version",
                "format",
                "description",
                "namespaces",
                "constants",
                "codes",
                "fields",
                "groups",
                "record",
                "columns",
                "xsd",
                "containers",
                "ignored",
            },
        )
        if data.get("format") not in FORMATS:
            raise SpecError(f"format must be one of {', '.join(FORMATS)}")
        codes = {name: dict(table) for name, table in data.get("codes", {}).items()}
        fields = tuple(_field(item, codes) for item in data.get("fields", []))
        groups = tuple(_group(item, codes) for item in data.get("groups", []))
        if data["format"] == "csv" and groups:
            raise SpecError("a CSV format has no repeated groups")
        if data["format"] == "xml" and not data.get("record"):
            raise SpecError("an XML format names its record element (record = ...)")
        if data.get("xsd") and data["format"] != "xml":
            raise SpecError("only an XML format has an XSD")
        if (data.get("containers") or data.get("ignored")) and data["format"] != "xml":
            raise SpecError("only an XML format has containers and ignored elements")
        constants = dict(data.get("constants", {}))
        for key in constants:
            CanonicalPath.parse(key)
        return cls(
            name=data["name"],
            version=data["version"],
            format=data["format"],
            description=data.get("description", ""),
            namespaces=dict(data.get("namespaces", {})),
            constants=constants,
            codes=codes,
            fields=fields,
            groups=groups,
            record=data.get("record", ""),
            columns=tuple(data.get("columns", ())),
            xsd=data.get("xsd", ""),
            containers=tuple(data.get("containers", ())),
            ignored=tuple(data.get("ignored", ())),
        )

    def carried(self) -> list[str]:
        """The canonical fields this format carries both ways (not derived, not constant)."""
        paths = [f.canonical.text for f in self.fields if f.source is not None]
        for group in self.groups:
            paths += [f"{group.canonical.text}[].{f.canonical.text}" for f in group.fields]
        return paths


def _only(data: Mapping[str, Any], what: str, allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise SpecError(f"unknown {what} keys: {', '.join(sorted(unknown))}")


def _field(data: dict[str, Any], codes: Mapping[str, Any]) -> Field:
    _only(
        data,
        "field",
        {
            "canonical",
            "source",
            "required",
            "codes",
            "date",
            "default",
            "derive",
            "from",
            "pattern",
        },
    )
    item = Field(
        canonical=CanonicalPath.parse(data["canonical"]),
        source=data.get("source"),
        required=bool(data.get("required", False)),
        codes=data.get("codes"),
        date=data.get("date"),
        default=data.get("default"),
        derive=data.get("derive"),
        derive_from=CanonicalPath.parse(data["from"]) if "from" in data else None,
        pattern=re.compile(data["pattern"]) if "pattern" in data else None,
    )
    if item.codes is not None and item.codes not in codes:
        raise SpecError(f"{item.canonical}: no code table {item.codes!r}")
    if item.derive is not None:
        if item.derive not in TRANSLITERATIONS or item.derive_from is None:
            raise SpecError(
                f"{item.canonical}: derive needs one of "
                f"{', '.join(TRANSLITERATIONS)} and a 'from' field"
            )
        if item.source is not None:
            raise SpecError(f"{item.canonical}: a derived field has no source")
    elif item.source is None:
        raise SpecError(f"{item.canonical}: a field needs a source (or derive)")
    if item.date is not None:
        datetime(2001, 2, 3).strftime(item.date)  # a bad directive fails here, not on a record
    return item


def _group(data: dict[str, Any], codes: Mapping[str, Any]) -> Group:
    _only(data, "group", {"canonical", "source", "fields", "constants"})
    return Group(
        canonical=CanonicalPath.parse(data["canonical"]),
        source=data["source"],
        fields=tuple(_field(item, codes) for item in data["fields"]),
        constants=dict(data.get("constants", {})),
    )


# -- the engine -------------------------------------------------------------------------------


class Mapper:
    """Runs one spec: partner record -> canonical profile, and back."""

    def __init__(self, spec: MappingSpec) -> None:
        self.spec = spec
        # partner code by canonical value: the first one listed goes out
        self._reverse = {
            name: {value: code for code, value in reversed(list(table.items()))}
            for name, table in spec.codes.items()
        }

    # inbound ---------------------------------------------------------------------------------

    def to_profile(
        self,
        reader: Reader,
        *,
        hook: Callable[[dict[str, Any], Reader], None] = lambda document, reader: None,
        accept_legacy: Callable[[str, str], bool] = lambda s, v: False,
    ) -> CreditProfile:
        document: dict[str, Any] = {}
        origins: dict[str, str] = {}  # canonical JSON pointer -> partner path
        for key, value in self.spec.constants.items():
            CanonicalPath.parse(key).set(document, value)
        self._read_fields(self.spec.fields, reader, document, document, origins, "")
        for group in self.spec.groups:
            # Several groups may feed one repeated field (e.g. licences and penalties, both
            # public records, each with its own kind constant).
            items: list[dict[str, Any]] = list(group.canonical.get(document) or [])
            pointer = "/" + "/".join(step.name for step in group.canonical.steps)
            try:
                members = reader.each(group.source)
            except WrongType as exc:
                raise self._error(
                    reader.where(group.source), group.canonical.text, "type", str(exc)
                ) from exc
            for member in members:
                item: dict[str, Any] = {}
                for key, value in group.constants.items():
                    CanonicalPath.parse(key).set(item, value)
                prefix = f"{pointer}/{len(items)}"
                self._read_fields(group.fields, member, item, document, origins, prefix)
                items.append(item)
            if items:
                group.canonical.set(document, items)
        hook(document, reader)
        profile = CreditProfile()
        try:
            json_format.ParseDict(document, profile)
            validate_profile(profile, accept_legacy=accept_legacy)
        except json_format.ParseError as exc:
            raise self._error(reader.where("."), "", "schema", str(exc)) from exc
        except InvalidArgument as exc:
            where = _origin(origins, exc.field or "")
            raise AdapterError(
                f"{exc.message} (canonical {exc.field}, spec {self.spec.name} {self.spec.version})",
                field=where or reader.where("."),
                canonical=exc.field or "",
                rule=str(exc.details.get("rule", "canonical")),
            ) from exc
        return profile

    def _read_fields(
        self,
        fields: Iterable[Field],
        reader: Reader,
        target: dict[str, Any],
        document: dict[str, Any],
        origins: dict[str, str],
        prefix: str,
    ) -> None:
        derived = []
        for item in fields:
            if item.derive is not None:
                derived.append(item)
                continue
            assert item.source is not None
            where = reader.where(item.source)
            try:
                text = reader.get(item.source)
            except WrongType as exc:
                raise self._error(where, item.canonical.text, "type", str(exc)) from exc
            value = text.strip() if text is not None else ""
            if not value:
                if item.default is not None:
                    item.canonical.set(target, item.default)
                elif item.required:
                    raise self._error(
                        where, item.canonical.text, "required", "a required value is missing"
                    )
                continue
            value = self._inbound_value(item, value, where)
            origins[prefix + item.canonical.set(target, value)] = where
        for item in derived:
            assert item.derive is not None and item.derive_from is not None
            source = item.derive_from.get(target)
            if isinstance(source, str) and source and not item.canonical.get(target):
                item.canonical.set(target, TRANSLITERATIONS[item.derive](source))

    def _inbound_value(self, item: Field, value: str, where: str) -> str:
        self._check_pattern(item, value, where)
        if item.codes is not None:
            table = self.spec.codes[item.codes]
            if value not in table:
                raise self._error(
                    where,
                    item.canonical.text,
                    "code",
                    f"{value!r} is not a code of table {item.codes!r}",
                )
            value = table[value]
        if item.date is not None:
            try:
                value = datetime.strptime(value, item.date).date().isoformat()
            except ValueError as exc:
                raise self._error(
                    where,
                    item.canonical.text,
                    "date",
                    f"{value!r} is not a date in the form {item.date}",
                ) from exc
        return value

    # outbound --------------------------------------------------------------------------------

    def from_profile(
        self,
        profile: CreditProfile,
        writer: Writer,
        *,
        hook: Callable[[dict[str, Any]], None] = lambda document: None,
    ) -> None:
        document = json_format.MessageToDict(profile)
        hook(document)
        for key, value in self.spec.constants.items():
            found = CanonicalPath.parse(key).get(document)
            if found is not None and found != value:
                raise self._error(
                    key,
                    key,
                    "constant",
                    f"format {self.spec.name} carries only {value!r}, not {found!r}",
                )
        self._write_fields(self.spec.fields, document, writer)
        written: set[tuple[str, int]] = set()
        for group in self.spec.groups:
            for index, item in enumerate(group.canonical.get(document) or []):
                if any(item.get(key) != value for key, value in group.constants.items()):
                    continue  # another group's element (or one the format cannot carry)
                written.add((group.canonical.text, index))
                self._write_fields(group.fields, item, writer.add(group.source))
        for group in self.spec.groups:
            for index, item in enumerate(group.canonical.get(document) or []):
                if (group.canonical.text, index) not in written:
                    shown = {key: item.get(key) for key in group.constants}
                    raise self._error(
                        group.canonical.text,
                        f"{group.canonical}[{index}]",
                        "constant",
                        f"format {self.spec.name} carries no {group.canonical} element "
                        f"with {shown}",
                    )

    def _write_fields(self, fields: Iterable[Field], node: dict[str, Any], writer: Writer) -> None:
        for item in fields:
            if item.source is None:
                continue
            value = item.canonical.get(node)
            if value in (None, ""):
                if item.required:
                    raise self._error(
                        item.source,
                        item.canonical.text,
                        "required",
                        "the format requires this field",
                    )
                continue
            writer.put(item.source, self._outbound_value(item, str(value)))

    def _outbound_value(self, item: Field, value: str) -> str:
        assert item.source is not None
        if item.date is not None:
            day = date.fromisoformat(value)
            value = day.strftime(item.date)
            if _parsed(value, item.date) != day:  # e.g. a year before 1000 in "%Y"
                raise self._error(
                    item.source,
                    item.canonical.text,
                    "date",
                    f"{day.isoformat()} cannot be written in the form {item.date}",
                )
        if item.codes is not None:
            reverse = self._reverse[item.codes]
            if value not in reverse:
                raise self._error(
                    item.source,
                    item.canonical.text,
                    "code",
                    f"{value!r} has no code in table {item.codes!r}",
                )
            value = reverse[value]
        self._check_pattern(item, value, item.source)
        return value

    def _check_pattern(self, item: Field, value: str, where: str) -> None:
        if item.pattern is not None and not item.pattern.fullmatch(value):
            raise self._error(
                where,
                item.canonical.text,
                "pattern",
                f"{value!r} does not match the format's pattern {item.pattern.pattern!r}",
            )

    def _error(self, where: str, canonical: str, rule: str, message: str) -> AdapterError:
        return AdapterError(
            f"{message} (canonical {canonical or 'record'}, rule {rule}, "
            f"spec {self.spec.name} {self.spec.version})",
            field=where,
            canonical=canonical,
            rule=rule,
        )


def _parsed(value: str, form: str) -> date | None:
    try:
        return datetime.strptime(value, form).date()
    except ValueError:
        return None


def _origin(origins: Mapping[str, str], pointer: str) -> str | None:
    """The partner path of a canonical pointer, or of its nearest mapped parent or child."""
    if pointer in origins:
        return origins[pointer]
    for canonical, where in origins.items():
        if canonical.startswith(pointer + "/") or pointer.startswith(canonical + "/"):
            return where
    return None
