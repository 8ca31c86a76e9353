"""GLEIF LEI-CDF 3.1 LEI records (XML): see README.md.

The spec (spec.toml) maps the fields; two LEI-CDF value forms need more than a spec can say and
are finished here: ``LegalJurisdiction`` is an ISO 3166-1 *or* 3166-2 code of which the canonical
country keeps the country part, and ``EntityCreationDate`` is an ``xs:dateTime`` in the
LEIDateTimeProfile (``YYYY-MM-DDThh:mm:ss[.sss]TZ``) of which the canonical date keeps the
calendar date as written (in the record's own offset, not converted to UTC).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from gateway.mapping import Adapter, AdapterError, Reader

JURISDICTION = "lei:Entity/lei:LegalJurisdiction"
ADDRESS_COUNTRY = "lei:Entity/lei:LegalAddress/lei:Country"
CREATION_DATE = "lei:Entity/lei:EntityCreationDate"

# CountryCodeType | RegionCodeType of the LEI-CDF 3.1 schema
_JURISDICTION = re.compile(r"^([A-Z]{2})(?:-[A-Z0-9]{1,3})?$")
# LEIDateTimeProfile as its documentation states it: seconds required, 1-3 decimals, zone required
_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,3})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)


class GleifLeiAdapter(Adapter):
    def _inbound(self, document: dict[str, Any], reader: Reader) -> None:
        subject = document.setdefault("subject", {})
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
        created = subject.get("registrationDate")
        if created is not None:
            match = _DATE_TIME.match(created)
            try:
                if match is None:
                    raise ValueError
                day = date.fromisoformat(match[1])
            except ValueError:
                raise self._error(
                    reader.where(CREATION_DATE),
                    "subject.registrationDate",
                    "date",
                    f"{created!r} is not a LEI-CDF date-time (YYYY-MM-DDThh:mm:ss[.sss]TZ)",
                ) from None
            subject["registrationDate"] = day.isoformat()

    def _outbound(self, document: dict[str, Any]) -> None:
        subject = document.get("subject")
        if subject is None:
            return  # the required LEI refuses it
        # EntityStatus is mandatory in LEI-CDF: an unstated status goes out as NULL
        subject.setdefault("status", "ENTITY_STATUS_UNSPECIFIED")
        created = subject.get("registrationDate")
        if created:
            subject["registrationDate"] = f"{created}T00:00:00Z"

    def _error(self, where: str, canonical: str, rule: str, message: str) -> AdapterError:
        return AdapterError(
            f"{message} (canonical {canonical}, rule {rule}, "
            f"spec {self.spec.name} {self.spec.version})",
            field=where,
            canonical=canonical,
            rule=rule,
        )


adapter = GleifLeiAdapter.from_folder(Path(__file__).parent)
