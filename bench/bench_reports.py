"""Credit reports: render (reportlab, made PDF/A-3b with pikepdf) and sign (pyHanko, PAdES B-B,
ES256 with a key file) N reports of a typical company in one process, on one core.

    .venv/bin/python bench/bench_reports.py                   # 200 reports (~15 s)
    .venv/bin/python bench/bench_reports.py --quick           # 50 reports
    .venv/bin/python bench/bench_reports.py --languages zh+en --reports 500
    .venv/bin/python bench/bench_reports.py --service         # the whole use case, below

Single thread, pinned to one CPU when the OS allows: rendering and signing are pure Python
around C libraries (zlib, qpdf, OpenSSL), so a gateway issues about this many reports per second
per core. The font is loaded and the development PKI made once, before the clock starts; a few
reports are made first to warm caches. Prints p50/p90 of render, sign and both, reports per
second (wall clock) and CPU seconds per report (time.process_time). The target: render + sign
<= 60 ms for a two-page report. Measures; never asserts.

``--service`` measures the whole use case instead, as CreateReport runs it behind either
transport: ``ReportService.create`` on a SQLite file (durable commits) as an SME portal asking
for its own report of a published company: the lookup and access check, the rule packs'
recognitions, render, sign, and the insert with its audit leaf. The issue's goal: >= 10 reports
per second per core, p50 <= 150 ms.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pikepdf
from _rate import pin_to_one_core
from google.protobuf import json_format

from gateway.reports import (
    DocumentSigner,
    Recognition,
    ReportFacts,
    ReportFonts,
    render_report,
    sign_report,
)
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.trust import pki

TARGET_MS = 60.0
WARM_UP = 5


def typical_profile() -> CreditProfile:
    """A company with three identifiers, an AEO authorisation, a grade, two penalties in the
    period (one disputed) and one before it: two pages in zh or en."""
    record = {"authorityType": "AUTHORITY_TYPE_CUSTOMS", "kind": "PUBLIC_RECORD_KIND_PENALTY"}
    return json_format.ParseDict(
        {
            "name": "profiles/01J8ZK4QBENCH",
            "version": 3,
            "subject": {
                "ids": [
                    {"scheme": "CN_USCC", "value": "91350100M000100Y43"},
                    {"scheme": "LEI", "value": "300300C5RZ2QH1KX1M86"},
                    {"scheme": "AEO", "value": "CN3502960017"},
                ],
                "legalName": {
                    "zh": "福州海通国际贸易有限公司",
                    "en": "Fuzhou Haitong International Trade Co., Ltd.",
                },
                "country": "CN",
                "address": {"country": "CN", "locality": "福州市", "street": "鼓楼区五四路 88 号"},
                "legalForm": "有限责任公司",
                "status": "ENTITY_STATUS_ACTIVE",
                "registrationDate": "2012-05-04",
            },
            "ratings": [{"scheme": "CN_TAX", "grade": "A", "asOfDate": "2025-04-30"}],
            "commonGrade": {
                "bucket": "UPPER_MEDIUM",
                "ordinal": 8,
                "sourceScheme": "CN_TAX",
                "rulePack": "credit-grade@2025-01#ab12cd34",
            },
            "aeo": [
                {
                    "programCountry": "CN",
                    "authorisationNumber": "CN3502960017",
                    "type": "CN_ADVANCED",
                    "status": "AEO_STATE_AUTHORISED",
                    "authorisedDate": "2021-03-01",
                }
            ],
            "publicRecords": [
                record
                | {
                    "decisionNumber": "榕关缉违字〔2025〕17号",
                    "decisionDate": "2025-06-03",
                    "authority": {"zh": "福州海关", "en": "Fuzhou Customs"},
                    "summary": {"zh": "迟报进口货物", "en": "Late declaration of imported goods"},
                    "disputeState": "DISPUTE_STATE_DISPUTED",
                },
                record
                | {
                    "authorityType": "AUTHORITY_TYPE_TAX",
                    "decisionNumber": "榕税稽罚〔2025〕88号",
                    "decisionDate": "2025-09-10",
                    "authority": {"zh": "国家税务总局福州市税务局", "en": "Fuzhou Tax Bureau"},
                    "summary": {"zh": "逾期申报增值税", "en": "Late filing of a VAT return"},
                },
                record | {"decisionNumber": "榕关缉违字〔2023〕3号", "decisionDate": "2023-02-01"},
            ],
            "provenance": {
                "sourceInstitution": "cn-customs",
                "retrievedAt": "2026-01-10T06:00:00Z",
            },
            "disputes": [
                {
                    "dispute": "disputes/D7Q2",
                    "fields": ["/publicRecords/0/summary"],
                    "filedDate": "2026-01-05",
                    "dueDate": "2026-02-04",
                }
            ],
        },
        CreditProfile(),
    )


def facts(profile: CreditProfile, languages: tuple[str, ...], number: int) -> ReportFacts:
    report_id = f"B{number:011d}"
    issued = datetime.now(UTC).replace(microsecond=0)
    return ReportFacts(
        report_id=report_id,
        verify_url=f"https://cxg.qingdao.dev/r/{report_id}",
        issuer="cxg.qingdao.dev",
        profile=profile,
        profile_version=profile.version,
        profile_jws="eyJhbGciOiJFUzI1NiJ9." + "eyJ2ZXJzaW9uIjozfQ" * 40 + ".c2lnbmF0dXJl",
        purpose="credit_reporting",
        languages=languages,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31),
        issued_at=issued,
        expires_at=issued + timedelta(days=90),
        recognitions=(
            Recognition(
                aeo_number="CN3502960017",
                importing_country="BY",
                outcome="recognized",
                rule="aeo-mra-cn-by/advanced",
                rule_pack="aeo-mra-cn-by 2019-07-24 (sha256 ab12cd34ef56)",
                reason=(
                    "中白 AEO 互认安排",
                    "China-Belarus AEO mutual recognition arrangement",
                    "Соглашение о взаимном признании УЭО между КНР и Беларусью",
                ),
            ),
        ),
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def service_latencies(reports: int, language: str) -> tuple[list[float], float, float]:
    """Milliseconds per ``ReportService.create``, wall and CPU seconds of the measured run."""
    from gateway.audit.entries import Actor, acting_as
    from gateway.config import Settings
    from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
    from gateway.schema.cxg.v1 import report_service_pb2 as report_pb
    from gateway.service import PartnerAdmin, ProfileExchange
    from gateway.service.reports import ReportService
    from gateway.service.rules import RuleService
    from gateway.signing import KeyRing, SigningKey
    from gateway.storage import Database
    from gateway.storage.partners import PartnerStore
    from gateway.trust import parse_partner_file

    with tempfile.TemporaryDirectory() as directory, acting_as(Actor("bench", "bench")):
        root = Path(directory)
        KeyRing.init(root / "keys" / "gateway")
        settings = Settings(database_url=f"sqlite:///{root / 'cxg.db'}", keys_dir=root / "keys")
        db = Database.from_url(settings.database_url)
        db.upgrade()
        publisher_key = SigningKey.generate("EdDSA")
        records = [
            {"id": id_, "name": id_, "country": "CN", "roles": [role], "status": "active",
             "jwks": {"keys": [key.public_jwk()]}}
            for id_, role, key in (("cn-customs", "customs", publisher_key),
                                   ("bench-portal", "sme_portal", SigningKey.generate("EdDSA")))
        ]  # fmt: skip
        admin = PartnerAdmin(db)
        partners = [parse_partner_file(record)[0] for record in records]
        for partner, record in zip(partners, records, strict=True):
            admin.register(partner, record["jwks"]["keys"])
        rules = RuleService.from_settings(settings, db)
        exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db), rules=rules)
        published = typical_profile()
        for set_by_the_gateway in ("disputes", "name", "version", "common_grade"):
            published.ClearField(set_by_the_gateway)
        document = json_format.MessageToJson(published).encode()
        jws = publisher_key.sign_jws(document, {"typ": "cxg-publish+jws"})
        exchange.publish_profile(profile_pb.PublishProfileRequest(jws=jws), partners[0])
        service = ReportService(db, exchange, rules, settings=settings)
        subject = typical_profile().subject.ids[0]
        asked = report_pb.CreateReportRequest(subject=subject, language=language)
        for _ in range(WARM_UP):
            service.create(asked, partners[1])
        latencies: list[float] = []
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        for _ in range(reports):
            t0 = time.perf_counter()
            service.create(asked, partners[1])
            latencies.append((time.perf_counter() - t0) * 1000)
        wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
        db.dispose()
    return latencies, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="50 reports")
    parser.add_argument(
        "--languages", default="zh", help="zh, en, ru, or two of them joined by + (zh+en)"
    )
    parser.add_argument("--service", action="store_true", help="the whole use case (above)")
    args = parser.parse_args()
    if args.quick:
        args.reports = 50
    languages = tuple(args.languages.split("+"))
    pin_to_one_core()
    if args.service:
        latencies, wall, cpu = service_latencies(args.reports, args.languages)
        print(
            f"ReportService.create, {args.languages}, SQLite, one core, {args.reports} reports:"
            f" p50 {percentile(latencies, 0.5):.1f} ms, p90 {percentile(latencies, 0.9):.1f} ms;"
            f" {args.reports / wall:,.1f} reports/s, CPU {cpu / args.reports * 1000:.1f} ms per"
            " report (goal: >= 10 per second per core, p50 <= 150 ms)"
        )
        return

    started = time.perf_counter()
    fonts = ReportFonts.find()
    font_seconds = time.perf_counter() - started
    profile = typical_profile()
    with tempfile.TemporaryDirectory() as directory:
        keys = Path(directory)
        pki.init_ca(keys)
        pki.issue_document_signer(keys)
        signer = DocumentSigner.from_pem_files(
            keys / "report-signer.pem", keys / "report-signer-key.pem"
        )

    for number in range(WARM_UP):
        signed = sign_report(render_report(facts(profile, languages, number), fonts), signer)
    render_ms: list[float] = []
    sign_ms: list[float] = []
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for number in range(args.reports):
        made = facts(profile, languages, number)
        t0 = time.perf_counter()
        pdf = render_report(made, fonts)
        t1 = time.perf_counter()
        signed = sign_report(pdf, signer)
        t2 = time.perf_counter()
        render_ms.append((t1 - t0) * 1000)
        sign_ms.append((t2 - t1) * 1000)
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    total_ms = [r + s for r, s in zip(render_ms, sign_ms, strict=True)]

    with pikepdf.open(io.BytesIO(signed)) as document:
        pages = len(document.pages)
    print(
        f"credit reports, {'+'.join(languages)}: {pages} pages, {len(signed):,} bytes"
        f" signed (PDF/A-3b, PAdES B-B, ES256); font loaded once in {font_seconds:.2f} s"
    )
    print(f"one core, {args.reports} reports after {WARM_UP} to warm up")
    print(f"{'stage':<16}{'p50 ms':>9}{'p90 ms':>9}{'mean ms':>9}")
    for label, values in (("render", render_ms), ("sign", sign_ms), ("render + sign", total_ms)):
        print(
            f"{label:<16}{percentile(values, 0.5):>9.1f}{percentile(values, 0.9):>9.1f}"
            f"{statistics.fmean(values):>9.1f}"
        )
    print(
        f"throughput {args.reports / wall:,.1f} reports/s (wall), CPU {cpu / args.reports * 1000:.1f} ms"
        f" per report; target render + sign <= {TARGET_MS:.0f} ms:"
        f" p50 {'met' if percentile(total_ms, 0.5) <= TARGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
