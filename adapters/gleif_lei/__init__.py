"""GLEIF LEI-CDF 3.1 LEI records (XML): see README.md.

The spec (spec.toml) maps the fields; what LEI-CDF says that a spec cannot is finished here:
- ``LegalJurisdiction`` is an ISO 3166-1 *or* 3166-2 code of which the canonical country keeps
  the country part;
- the date-times (``EntityCreationDate`` and the ``Registration`` dates) are ``xs:dateTime`` in
  the LEIDateTimeProfile (``YYYY-MM-DDThh:mm:ss[.sss]TZ``) of which the canonical date keeps the
  calendar date as written (in the record's own offset, not converted to UTC);
- the legal name goes to the canonical language its ``xml:lang`` names (en, ru, zh), and
  alternative-language legal names (``OtherEntityName``) to the languages still empty;
- ``8888`` (no ELF code for this legal form) comes with the form in ``OtherLegalForm``;
- the LEI's ``RegistrationStatus``: a registration that makes the LEI unusable (annulled, a
  duplicate, never issued) refuses the record, and one retired with its entity (merged, retired)
  makes the entity dissolved.
Going out, the same in reverse, and what LEI-CDF requires that the canonical profile has no field
for (``HeadquartersAddress``) is written from what it has (the legal address).
"""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from gateway.mapping import Adapter, AdapterError, Reader

NS = "http://www.gleif.org/data/schema/leidata/2016"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JURISDICTION = "lei:Entity/lei:LegalJurisdiction"
REGISTRATION_STATUS = "lei:Registration/lei:RegistrationStatus"
OTHER_NAMES = "lei:Entity/lei:OtherEntityNames/lei:OtherEntityName"
OTHER_LEGAL_FORM = "lei:Entity/lei:LegalForm/lei:OtherLegalForm"
ALTERNATIVE_NAME = "ALTERNATIVE_LANGUAGE_LEGAL_NAME"
REGISTRATION = "LEI_REGISTRATION"  # the rating scheme carrying the LEI's registration (README)

# (canonical path in the document, partner path) of the LEIDateTimeProfile values
DATE_TIMES = (
    (("subject", "registrationDate"), "lei:Entity/lei:EntityCreationDate"),
    (("registration", "validFromDate"), "lei:Registration/lei:InitialRegistrationDate"),
    (("registration", "asOfDate"), "lei:Registration/lei:LastUpdateDate"),
    (("registration", "validUntilDate"), "lei:Registration/lei:NextRenewalDate"),
)
# RegistrationStatusEnum values whose LEI is not an identifier of the entity: the record is
# refused (the gateway does not store a profile found by an LEI its LOU has withdrawn).
UNUSABLE = {
    "ANNULLED": "the LEI was annulled (found erroneous or invalid after it was issued)",
    "DUPLICATE": "the LEI is a duplicate registration of an entity that has another LEI",
    "CANCELLED": "the LEI registration was abandoned before an LEI was issued",
    "PENDING_VALIDATION": "the LEI is not issued yet (pending validation)",
}
# ... and those whose entity is gone: the canonical status says so whatever EntityStatus says.
ENDED = ("MERGED", "RETIRED")
# LegalFormEnum: an ISO 20275 ELF code (four letters or digits, not all digits)
_ELF = re.compile(r"^(?=.*[A-Z])[A-Z0-9]{4}$")
# CountryCodeType | RegionCodeType of the LEI-CDF 3.1 schema
_JURISDICTION = re.compile(r"^([A-Z]{2})(?:-[A-Z0-9]{1,3})?$")
# LEIDateTimeProfile as its documentation states it: seconds required, 1-3 decimals, zone required
_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,3})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)
LANGUAGES = ("zh", "ru", "en")  # canonical name slots, in the order one becomes the LegalName


def language_slot(tag: str) -> str | None:
    """The canonical name of a BCP 47 tag's language (en, ru, zh: simplified Chinese), or None
    when the name belongs in ``local``."""
    primary, *rest = tag.lower().split("-")
    if primary == "zh":
        return None if {"hant", "tw", "hk", "mo"} & set(rest) else "zh"
    return primary if primary in ("en", "ru") else None


class GleifLeiAdapter(Adapter):
    def _inbound(self, document: dict[str, Any], reader: Reader) -> None:
        subject = document.setdefault("subject", {})
        self._jurisdiction(subject, reader)
        registration = _registration(document)
        for (section, key), path in DATE_TIMES:
            node = subject if section == "subject" else registration
            if node is not None and node.get(key) is not None:
                canonical = (
                    f"subject.{key}" if node is subject else f"ratings[scheme={REGISTRATION}].{key}"
                )
                node[key] = self._date(node[key], reader.where(path), canonical)
        if registration is not None:
            status = registration.get("grade", "")
            if status in UNUSABLE:
                raise self._error(
                    reader.where(REGISTRATION_STATUS),
                    "subject.ids[scheme=LEI]",
                    "registration_status",
                    f"RegistrationStatus {status}: {UNUSABLE[status]}",
                )
            if status in ENDED:
                subject["status"] = "ENTITY_STATUS_DISSOLVED"
        self._names(subject, reader)
        if subject.get("legalForm") in ("8888", "9999"):
            other = (reader.get(OTHER_LEGAL_FORM) or "").strip()
            if other:
                subject["legalForm"] = other
            else:
                del subject["legalForm"]  # no ELF code and no form stated: not known

    def _outbound(self, document: dict[str, Any]) -> None:
        subject = document.get("subject")
        if subject is None:
            return  # the required LEI refuses it
        # EntityStatus is mandatory in LEI-CDF: an unstated status goes out as NULL; an entity
        # struck off is INACTIVE there (its RegistrationStatus says RETIRED or MERGED)
        status = subject.setdefault("status", "ENTITY_STATUS_UNSPECIFIED")
        if status == "ENTITY_STATUS_DISSOLVED":
            subject["status"] = "ENTITY_STATUS_INACTIVE"
        names = subject.get("legalName", {})
        name, lang = _legal_name(names)
        subject["legalName"] = {"local": name, **({"localLang": lang} if lang else {})}
        if subject.get("legalForm") and not _ELF.match(subject["legalForm"]):
            subject["legalForm"] = "8888"  # the form itself goes in OtherLegalForm (_written)
        for (section, key), _ in DATE_TIMES:
            node = subject if section == "subject" else _registration(document)
            if node is not None and node.get(key):
                node[key] = f"{node[key]}T00:00:00Z"

    def _written(self, record: Any, document: dict[str, Any]) -> None:
        entity = record.find("lei:Entity", {"lei": NS})
        if entity is None:
            return  # refused by the XSD check that follows
        subject = document.get("subject", {})
        names = subject.get("legalName", {})
        written = "" if names.get("local") else _legal_name(names)[1]
        others = [lang for lang in LANGUAGES if names.get(lang) and lang != written]
        if others:
            container = ElementTree.Element(f"{{{NS}}}OtherEntityNames")
            for lang in others:
                other = ElementTree.SubElement(
                    container,
                    f"{{{NS}}}OtherEntityName",
                    {XML_LANG: lang, "type": ALTERNATIVE_NAME},
                )
                other.text = names[lang]
            entity.insert(1, container)
        legal_address = entity.find("lei:LegalAddress", {"lei": NS})
        if legal_address is not None:
            # LEI-CDF requires a headquarters address; the canonical profile has one address, the
            # registered one, which goes out as both (see README).
            headquarters = copy.deepcopy(legal_address)
            headquarters.tag = f"{{{NS}}}HeadquartersAddress"
            entity.insert(list(entity).index(legal_address) + 1, headquarters)
        form = subject.get("legalForm", "")
        code = entity.find("lei:LegalForm/lei:EntityLegalFormCode", {"lei": NS})
        if code is not None and form and not _ELF.match(form):
            other = ElementTree.Element(f"{{{NS}}}OtherLegalForm")
            other.text = form
            legal_form = entity.find("lei:LegalForm", {"lei": NS})
            assert legal_form is not None
            legal_form.append(other)

    # -- inbound helpers ----------------------------------------------------------------------

    def _jurisdiction(self, subject: dict[str, Any], reader: Reader) -> None:
        jurisdiction = subject.get("country")
        if jurisdiction is not None:
            match = _JURISDICTION.match(jurisdiction)
            if match is None:
                raise self._error(
                    reader.where(JURISDICTION),
                    "subject.country",
                    "jurisdiction",
                    f"{jurisdiction!r} is not an ISO 3166-1 or ISO 3166-2 code",
                )
            subject["country"] = match[1]
        elif subject.get("address", {}).get("country"):
            # LegalJurisdiction is optional in LEI-CDF; the legal address is in the country of
            # registration, so its country stands in.
            subject["country"] = subject["address"]["country"]
        else:
            raise self._error(
                reader.where(JURISDICTION),
                "subject.country",
                "required",
                "no LegalJurisdiction and no legal address country: the country is required",
            )

    def _date(self, written: str, where: str, canonical: str) -> str:
        match = _DATE_TIME.match(written)
        try:
            if match is None:
                raise ValueError
            return date.fromisoformat(match[1]).isoformat()
        except ValueError:
            raise self._error(
                where,
                canonical,
                "date",
                f"{written!r} is not a LEI-CDF date-time (YYYY-MM-DDThh:mm:ss[.sss]TZ)",
            ) from None

    def _names(self, subject: dict[str, Any], reader: Reader) -> None:
        names = subject.setdefault("legalName", {})
        slot = language_slot(names.get("localLang", ""))
        if slot is not None and "local" in names:
            names[slot] = names.pop("local")
            del names["localLang"]
        for other in reader.each(OTHER_NAMES):
            lang = language_slot(other.get("@xml:lang") or "")
            text = (other.get(".") or "").strip()
            if other.get("@type") == ALTERNATIVE_NAME and lang and text and lang not in names:
                names[lang] = text

    def _error(self, where: str, canonical: str, rule: str, message: str) -> AdapterError:
        return AdapterError(
            f"{message} (canonical {canonical}, rule {rule}, "
            f"spec {self.spec.name} {self.spec.version})",
            field=where,
            canonical=canonical,
            rule=rule,
        )


def _registration(document: dict[str, Any]) -> dict[str, Any] | None:
    """The rating that carries the LEI's registration, if the document has one."""
    return next((r for r in document.get("ratings", []) if r.get("scheme") == REGISTRATION), None)


def _legal_name(names: dict[str, str]) -> tuple[str, str]:
    """The name that goes out as LegalName, and its language tag ("" when unknown): the name in
    the subject's own language, else the Chinese, Russian or English one."""
    if names.get("local"):
        return names["local"], names.get("localLang", "")
    lang = next((lang for lang in LANGUAGES if names.get(lang)), "")
    return names.get(lang, ""), lang


adapter = GleifLeiAdapter.from_folder(Path(__file__).parent)
