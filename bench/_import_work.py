"""The measurements of bench_import.py, one per process (so ru_maxrss is the run's own):

python bench/_import_work.py generate FORMAT COUNT FILE
python bench/_import_work.py gateway|minimum|bare FORMAT FILE DATABASE

``minimum`` is the least a record of the file must go through to be stored signed, in one
process: lxml's ``iterparse`` (entities, network and huge trees off), the fields the adapter maps
that identify and describe the record (identifier, legal name, country, status, and for GLEIF the
registration status; for AEO the programme type), one Ed25519 signature (cryptography) over those
fields' canonical JSON, and one row per record into a table like ``profile_versions`` with
SQLAlchemy Core executemany, one commit per 500 rows on the gateway's SQLite settings.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text, insert
from stdnum.iso7064 import mod_97_10

from gateway._heap import settle
from gateway.audit.entries import Actor, acting_as
from gateway.config import Settings
from gateway.mapping import adapter
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner

PARTNER = "bench-source"
BATCH = 500


def lei(n: int) -> str:
    base = f"2549{n:014d}"
    return base + mod_97_10.calc_check_digits(base)


def generate(fmt: str, count: int, file: Path) -> None:
    with file.open("w", encoding="utf-8") as out:
        if fmt == "gleif-lei-cdf":
            out.write(
                '<?xml version="1.0" encoding="UTF-8"?>\n<lei:LEIData xmlns:lei="http://www.gleif.org/data/schema/leidata/2016">\n'
                "<lei:LEIHeader><lei:ContentDate>2026-11-27T08:00:00Z</lei:ContentDate>"
                "<lei:FileContent>QUERY_RESPONSE</lei:FileContent>"
                f"<lei:RecordCount>{count}</lei:RecordCount></lei:LEIHeader>\n<lei:LEIRecords>\n"
            )  # fmt: skip
            address = ("<lei:FirstAddressLine>88 Xiangjiang Road</lei:FirstAddressLine><lei:City>Qingdao</lei:City>"
                       "<lei:Country>CN</lei:Country><lei:PostalCode>266555</lei:PostalCode>")  # fmt: skip
            for n in range(count):
                out.write(
                    f"<lei:LEIRecord><lei:LEI>{lei(n)}</lei:LEI><lei:Entity>"
                    f'<lei:LegalName xml:lang="en">Qingdao Trading Company No. {n} Co., Ltd.</lei:LegalName>'
                    f"<lei:LegalAddress>{address}</lei:LegalAddress>"
                    f"<lei:HeadquartersAddress>{address}</lei:HeadquartersAddress>"
                    "<lei:LegalJurisdiction>CN</lei:LegalJurisdiction>"
                    "<lei:LegalForm><lei:EntityLegalFormCode>ECAK</lei:EntityLegalFormCode></lei:LegalForm>"
                    "<lei:EntityStatus>ACTIVE</lei:EntityStatus>"
                    "<lei:EntityCreationDate>2016-03-18T00:00:00+08:00</lei:EntityCreationDate>"
                    "</lei:Entity><lei:Registration>"
                    "<lei:InitialRegistrationDate>2016-04-01T09:00:00Z</lei:InitialRegistrationDate>"
                    "<lei:LastUpdateDate>2026-04-01T09:00:00Z</lei:LastUpdateDate>"
                    "<lei:RegistrationStatus>ISSUED</lei:RegistrationStatus>"
                    "<lei:NextRenewalDate>2027-04-01T09:00:00Z</lei:NextRenewalDate>"
                    "<lei:ManagingLOU>300300GLOUCN00000009</lei:ManagingLOU>"
                    "</lei:Registration></lei:LEIRecord>\n"
                )  # fmt: skip
            out.write("</lei:LEIRecords>\n</lei:LEIData>\n")
        else:
            out.write(
                '<?xml version="1.0" encoding="UTF-8"?>\n<aeo:FullList xmlns:aeo="urn:cxg:aeo-exchange:1" sender="CN" listDate="2026-11-27">\n'
            )
            for n in range(count):
                out.write(
                    f"<aeo:Operator><aeo:AuthorisationNumber>CN37{n:08d}</aeo:AuthorisationNumber>"
                    f"<aeo:Name>Qingdao Export Company No. {n} Co., Ltd.</aeo:Name>"
                    "<aeo:Address><aeo:Street>No. 88 Xiangjiang Road</aeo:Street><aeo:City>Qingdao</aeo:City>"
                    "<aeo:PostalCode>266555</aeo:PostalCode><aeo:Country>CN</aeo:Country></aeo:Address>"
                    "<aeo:Authorisation><aeo:ProgrammeCountry>CN</aeo:ProgrammeCountry><aeo:Type>CN_ADVANCED</aeo:Type>"
                    "<aeo:Status>authorised</aeo:Status><aeo:AuthorisedDate>2022-06-15</aeo:AuthorisedDate>"
                    "</aeo:Authorisation></aeo:Operator>\n"
                )  # fmt: skip
            out.write("</aeo:FullList>\n")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_gateway(fmt: str, file: Path, database: Path) -> dict[str, object]:
    keys = Path(tempfile.mkdtemp(prefix="cxg-bench-keys-"))
    KeyRing.init(keys / "gateway")
    settings = Settings(database_url=f"sqlite:///{database}", keys_dir=keys)
    db = Database.from_url(settings.database_url)
    db.upgrade()
    PartnerAdmin(db).register(
        Partner(id=PARTNER, name="Bench source", country="CN", roles=frozenset({"customs"})),
        [SigningKey.generate("EdDSA").public_jwk()],
    )
    directory = PartnerStore(db)
    exchange = ProfileExchange.from_settings(settings, db, directory)
    partner = directory.get(PARTNER)
    assert partner is not None
    settle()  # as `cxg import` does once set up
    started = time.perf_counter()
    with file.open("rb") as stream:
        summary = exchange.import_records(adapter(fmt), stream, partner, batch=BATCH)
    elapsed = time.perf_counter() - started
    db.dispose()
    return {"records": summary.records, "stored": summary.imported, "seconds": elapsed,
            "refused": summary.refused}  # fmt: skip


def run_bare(fmt: str, file: Path, database: Path) -> dict[str, object]:
    from google.protobuf import json_format

    with file.open("rb") as stream:  # parsed beforehand: only the insert is timed
        rows = [
            {"identifier": r.profile.subject.ids[0].value, "name": r.profile.subject.legal_name.en or r.profile.subject.legal_name.local,
             "document": json.dumps(json_format.MessageToDict(r.profile), ensure_ascii=False)}
            for r in adapter(fmt).read(stream) if r.profile is not None
        ]  # fmt: skip
    db = Database.from_url(f"sqlite:///{database}")
    table = Table(
        "bare_rows", MetaData(),
        Column("id", Integer, primary_key=True), Column("identifier", String(64), unique=True),
        Column("name", Text), Column("document", Text),
    )  # fmt: skip
    table.metadata.create_all(db.engine)
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with db.write() as conn:
            conn.execute(insert(table), rows[start : start + BATCH])
    elapsed = time.perf_counter() - started
    db.dispose()
    return {"records": len(rows), "stored": len(rows), "seconds": elapsed, "refused": 0}


# format -> (record element, {field: path below the record}), Clark notation for lxml.
_LEI = "{http://www.gleif.org/data/schema/leidata/2016}"
_AEO = "{urn:cxg:aeo-exchange:1}"
MINIMUM_FIELDS = {
    "gleif-lei-cdf": (f"{_LEI}LEIRecord", {
        "identifier": f"{_LEI}LEI", "name": f"{_LEI}Entity/{_LEI}LegalName",
        "country": f"{_LEI}Entity/{_LEI}LegalJurisdiction", "status": f"{_LEI}Entity/{_LEI}EntityStatus",
        "registration": f"{_LEI}Registration/{_LEI}RegistrationStatus",
    }),
    "customs-aeo-list": (f"{_AEO}Operator", {
        "identifier": f"{_AEO}AuthorisationNumber", "name": f"{_AEO}Name",
        "country": f"{_AEO}Address/{_AEO}Country", "status": f"{_AEO}Authorisation/{_AEO}Status",
        "type": f"{_AEO}Authorisation/{_AEO}Type",
    }),
}  # fmt: skip


def run_minimum(fmt: str, file: Path, database: Path) -> dict[str, object]:
    """The minimum pipeline (module docstring), timed from opening the file to the last commit."""
    record_tag, fields = MINIMUM_FIELDS[fmt]
    key = Ed25519PrivateKey.generate()
    db = Database.from_url(f"sqlite:///{database}")
    table = Table(
        "minimum_rows", MetaData(),
        Column("id", Integer, primary_key=True), Column("identifier", String(64), unique=True),
        Column("name", Text), Column("country", String(2)), Column("status", String(32)),
        Column("payload", LargeBinary), Column("signature", LargeBinary),
    )  # fmt: skip
    table.metadata.create_all(db.engine)
    records = 0
    rows: list[dict[str, object]] = []

    def flush() -> None:
        with db.write() as conn:
            conn.execute(insert(table), rows)
        rows.clear()

    started = time.perf_counter()
    with file.open("rb") as stream:
        events = etree.iterparse(
            stream, events=("end",), tag=record_tag,
            resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
        )  # fmt: skip
        for _, element in events:
            values = {name: element.findtext(path) or "" for name, path in fields.items()}
            payload = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
            rows.append(values | {"payload": payload, "signature": key.sign(payload)})
            records += 1
            element.clear()  # constant memory: drop the record and the siblings before it
            while element.getprevious() is not None:
                del element.getparent()[0]
            if len(rows) >= BATCH:
                flush()
    if rows:
        flush()
    elapsed = time.perf_counter() - started
    db.dispose()
    return {"records": records, "stored": records, "seconds": elapsed, "refused": 0}


def main() -> None:
    command, fmt = sys.argv[1], sys.argv[2]
    if command == "generate":
        generate(fmt, int(sys.argv[3]), Path(sys.argv[4]))
        return
    file, database = Path(sys.argv[3]), Path(sys.argv[4])
    with acting_as(Actor("bench:import", "bench")):  # whom the gateway's change leaves name
        run = {"gateway": run_gateway, "minimum": run_minimum, "bare": run_bare}[command]
        result = run(fmt, file, database)
    seconds = float(result["seconds"])  # type: ignore[arg-type]
    result |= {"mode": command, "format": fmt, "per_second": float(result["records"]) / seconds,  # type: ignore[arg-type]
               "peak_mib": peak_mib()}  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
