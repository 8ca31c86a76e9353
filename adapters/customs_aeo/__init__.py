"""AEO mutual-recognition exchange lists (XML, ``urn:cxg:aeo-exchange:1``): see README.md.

The spec maps the fields one to one; this subclass adds what a spec cannot say: the operator's
authorisation number is both its subject identifier and its ``aeo`` entry's number, its first two
letters are the programme country and the subject's country, a record carries exactly one
authorisation, and a delta record's ``@change`` is ``new`` or ``modified``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.errors import InvalidIdentifier
from gateway.identifiers import is_country, validate
from gateway.mapping import Adapter, AdapterError, Reader

NUMBER = "aeo:AuthorisationNumber"
AUTHORISATION = "aeo:Authorisation"
CHANGES = ("new", "modified")


class AeoListAdapter(Adapter):
    def _inbound(self, document: dict[str, Any], reader: Reader) -> None:
        change = reader.get("@change")
        if change is not None and change not in CHANGES:
            raise self._broken(
                reader.where("@change"), "", "code", f"change {change!r} is not one of {CHANGES}"
            )
        entries = document.get("aeo", [])
        if len(entries) != 1:
            raise self._broken(
                reader.where(AUTHORISATION),
                "/aeo",
                "required" if not entries else "cardinality",
                f"an operator record carries exactly one {AUTHORISATION}, found {len(entries)}",
            )
        (entry,) = entries
        ids = document["subject"]["ids"]
        index, number = next(
            (i, item["value"]) for i, item in enumerate(ids) if item.get("scheme") == "AEO"
        )
        try:
            number = validate("AEO", number).value
        except InvalidIdentifier as exc:
            raise self._broken(
                reader.where(NUMBER), f"/subject/ids/{index}/value", exc.rule, exc.message
            ) from exc
        programme = entry.get("programCountry", "")
        if is_country(programme) and not number.startswith(programme):
            # (a programme that is no country code is refused by validation, naming its path)
            raise self._broken(
                reader.where(NUMBER),
                "/aeo/0/authorisationNumber",
                "country",
                f"authorisation number {number} is not from programme country {programme}",
            )
        ids[index]["value"] = number
        entry["authorisationNumber"] = number
        document["subject"]["country"] = number[:2]

    def _outbound(self, document: dict[str, Any]) -> None:
        entries = document.get("aeo", [])
        if len(entries) != 1:
            raise self._broken(
                AUTHORISATION,
                "/aeo",
                "cardinality",
                f"format {self.name} carries exactly one AEO authorisation, found {len(entries)}",
            )
        number = entries[0].get("authorisationNumber", "")
        subject = document.get("subject", {})
        ids = [item.get("value") for item in subject.get("ids", []) if item.get("scheme") == "AEO"]
        if ids != [number]:
            raise self._broken(
                NUMBER,
                "/aeo/0/authorisationNumber",
                "constant",
                f"format {self.name} carries one number, the subject's AEO id and its "
                f"authorisation's: {ids} vs {number!r}",
            )
        if subject.get("country") != number[:2]:
            raise self._broken(
                NUMBER,
                "/subject/country",
                "constant",
                f"format {self.name} carries the subject's country as the first two letters of "
                f"its authorisation number {number!r}, not {subject.get('country')!r}",
            )

    def _broken(self, where: str, canonical: str, rule: str, message: str) -> AdapterError:
        return AdapterError(
            f"{message} (canonical {canonical or 'record'}, rule {rule}, "
            f"spec {self.spec.name} {self.spec.version})",
            field=where,
            canonical=canonical,
            rule=rule,
        )


adapter = AeoListAdapter.from_folder(Path(__file__).parent)
