"""The signed credit report as a document (gateway/reports), checked with independent tools:
pyHanko's validator and poppler's pdfsig for the PAdES signature, pikepdf and poppler for what
PDF/A-3b needs, pdftotext for what the report states, pdftoppm and zxing-cpp for the QR code on
every page, as a phone reads it. Rendered pages are kept in test-artifacts/reports/ to look at.

veraPDF, the reference PDF/A validator, cannot be installed from any package registry this
project reaches (PyPI, Debian, npm), so the PDF/A checks here are the ones its rules come down to
that the tools at hand can make: identification, output intent, embedded fonts, metadata matching
the Info dictionary, the associated file, no encryption, actions or hidden annotations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import zxingcpp
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import json_format
from PIL import Image

import gateway.reports
from gateway.errors import Conflict, InvalidArgument, Unavailable
from gateway.identifiers import validate
from gateway.reports import (
    DocumentSigner,
    Recognition,
    ReportFacts,
    ReportFonts,
    render_report,
    sign_report,
)
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.signing import SigningKey
from gateway.trust import pki
from gateway.trust.policy import CUSTOMS, SUMMARY
from tests.support import LEI, missing_tool

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA classes, deprecated on access (as gateway/reports/_sign.py).
    warnings.filterwarnings("ignore", "DSA is deprecated", CryptographyDeprecationWarning)
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.timestamps import DummyTimeStamper
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "reports"

USCC_PENALISED = "91350100M000100Y43"
USCC_CLEAN = "91370200MA3C5QH2X4"
AEO_NUMBER = "CN3502960017"
PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
SOURCE = "cn-customs"
RETRIEVED = "2026-01-10T06:00:00Z"
CUSTOMS_PENALTY = "榕关缉违字〔2025〕17号"
TAX_PENALTY = "榕税稽罚〔2025〕88号"
OLD_PENALTY = "榕关缉违字〔2023〕3号"  # decided before the period: never listed
DISPUTE = "disputes/D7Q2"
AUTHORITIES_EN = (
    "customs authorities",
    "tax authorities",
    "market regulation authorities",
    "courts",
    "other authorities",
)
HOSTILE_NAME = "<b>&amp;</b> Hostile Trading Ltd"


# -- test data ---------------------------------------------------------------------------------


def _record(kind: str, authority_type: str, number: str, day: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": f"PUBLIC_RECORD_KIND_{kind}",
        "authorityType": f"AUTHORITY_TYPE_{authority_type}",
        "decisionNumber": number,
        "decisionDate": day,
        **extra,
    }


def company(
    uscc: str = USCC_PENALISED,
    *,
    records: list[dict[str, Any]] | None = None,
    retrieved: str | None = RETRIEVED,
    **changes: Any,
) -> CreditProfile:
    """A profile as a purpose with the full view sees it; ``records`` its public records."""
    document: dict[str, Any] = {
        "name": "profiles/01J8ZK4Q",
        "version": 4,
        "subject": {
            "ids": [
                {"scheme": "CN_USCC", "value": uscc},
                {"scheme": "LEI", "value": LEI},
                {"scheme": "AEO", "value": AEO_NUMBER},
            ],
            "legalName": {
                "zh": "福州海通国际贸易有限公司",
                "en": "Fuzhou Haitong International Trade Co., Ltd.",
                "ru": "Фучжоу Хайтун Интернэшнл Трейд",
            },
            "country": "CN",
            "address": {
                "country": "CN",
                "region": "福建省",
                "locality": "福州市",
                "street": "鼓楼区五四路 88 号",
            },
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
                "authorisationNumber": AEO_NUMBER,
                "type": "CN_ADVANCED",
                "status": "AEO_STATE_AUTHORISED",
                "authorisedDate": "2021-03-01",
            }
        ],
        "publicRecords": records or [],
    }
    if retrieved is not None:
        document["provenance"] = {"sourceInstitution": SOURCE, "retrievedAt": retrieved}
    document.update(changes)
    for entity in document["subject"]["ids"]:
        validate(entity["scheme"], entity["value"])  # the test data stays valid
    return json_format.ParseDict(document, CreditProfile())


def penalised() -> CreditProfile:
    """A customs and a tax penalty in the period (the customs one disputed), a customs penalty
    before it, and an open dispute."""
    return company(
        records=[
            _record(
                "PENALTY",
                "CUSTOMS",
                CUSTOMS_PENALTY,
                "2025-06-03",
                authority={"zh": "福州海关", "en": "Fuzhou Customs"},
                summary={"zh": "迟报进口货物", "en": "Late declaration of imported goods"},
                disputeState="DISPUTE_STATE_DISPUTED",
            ),
            _record(
                "PENALTY",
                "TAX",
                TAX_PENALTY,
                "2025-09-10",
                authority={"zh": "国家税务总局福州市税务局", "en": "Fuzhou Tax Bureau"},
                summary={"en": "Late filing of a VAT return"},
            ),
            _record(
                "PENALTY",
                "CUSTOMS",
                OLD_PENALTY,
                "2023-02-01",
                authority={"en": "Fuzhou Customs"},
                summary={"en": "Outside the period"},
            ),
        ],
        disputes=[
            {
                "dispute": DISPUTE,
                "fields": ["/publicRecords/0/summary"],
                "filedDate": "2026-01-05",
                "dueDate": "2026-02-04",
            }
        ],
    )


def clean() -> CreditProfile:
    return company(USCC_CLEAN)


def facts(
    profile: CreditProfile,
    languages: tuple[str, ...] = ("en",),
    *,
    report_id: str = "R7K2M9QXD4MP",
    **changes: Any,
) -> ReportFacts:
    issued = datetime.now(UTC).replace(microsecond=0)
    made = ReportFacts(
        report_id=report_id,
        verify_url=f"https://gw.example/r/{report_id}",
        issuer="cxg.qingdao.dev",
        profile=profile,
        profile_version=profile.version,
        profile_jws="eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJ2ZXJzaW9uIjo0fQ.c2lnbmF0dXJl",
        purpose="credit_reporting",
        languages=languages,
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        issued_at=issued,
        expires_at=issued + timedelta(days=90),
        recognitions=(
            Recognition(
                aeo_number=AEO_NUMBER,
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
    return dataclasses.replace(made, **changes) if changes else made


# -- tools ---------------------------------------------------------------------------------------


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing_tool(f"{name} is not installed", "Debian's poppler-utils")
    return found


def run(*command: str) -> str:
    done = subprocess.run(
        [tool(command[0]), *command[1:]], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def pdf_file(tmp: Path, data: bytes, name: str = "report.pdf") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def text_of(path: Path, *pages: int) -> str:
    """What pdftotext reads, all pages or one, on one line."""
    selection = ["-f", str(pages[0]), "-l", str(pages[0])] if pages else []
    return re.sub(r"\s+", " ", run("pdftotext", *selection, "-enc", "UTF-8", str(path), "-"))


def dense(text: str) -> str:
    """Without any white space: Chinese text broken across lines reads as written."""
    return re.sub(r"\s+", "", text)


def page_images(path: Path, keep_as: str | None = None) -> list[Path]:
    """pdftoppm's pages at 100 dpi; kept under test-artifacts/reports/ when named."""
    out = path.parent / f"{path.stem}-pages"
    out.mkdir(exist_ok=True)
    run("pdftoppm", "-r", "100", "-png", str(path), str(out / "page"))
    pages = sorted(out.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    assert pages, f"pdftoppm made no pages of {path}"
    if keep_as:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for stale in ARTIFACTS.glob(f"{keep_as}-page-*.png"):
            stale.unlink()
        for number, page in enumerate(pages, start=1):
            shutil.copyfile(page, ARTIFACTS / f"{keep_as}-page-{number}.png")
    return pages


def qr_texts(page: Path) -> list[str]:
    with Image.open(page) as image:
        return [code.text for code in zxingcpp.read_barcodes(image)]


def page_count(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as document:
        return len(document.pages)


def validation(data: bytes, ca: x509.Certificate) -> Any:
    reader = PdfFileReader(io.BytesIO(data))
    assert len(reader.embedded_signatures) == 1
    context = ValidationContext(trust_roots=[_asn1(ca)], allow_fetching=False)
    return validate_pdf_signature(reader.embedded_signatures[0], context)


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fonts() -> ReportFonts:
    return ReportFonts.find()


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_ca(directory)
    pki.issue_document_signer(directory)
    return directory


@pytest.fixture(scope="module")
def ca(pki_dir: Path) -> x509.Certificate:
    return pki.load_ca(pki_dir)[0]


@pytest.fixture(scope="module")
def signer(pki_dir: Path) -> DocumentSigner:
    return DocumentSigner.from_pem_files(
        pki_dir / "report-signer.pem", pki_dir / "report-signer-key.pem"
    )


@pytest.fixture(scope="module")
def signed_en(fonts: ReportFonts, signer: DocumentSigner) -> bytes:
    return sign_report(render_report(facts(penalised()), fonts), signer)


# -- 1, 2: the signature as two independent verifiers see it -------------------------------------


def test_pyhanko_finds_the_signature_intact_valid_trusted_over_the_whole_file(
    signed_en: bytes, ca: x509.Certificate
) -> None:
    status = validation(signed_en, ca)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    reader = PdfFileReader(io.BytesIO(signed_en))
    signature = reader.embedded_signatures[0]
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert signature.sig_object["/Name"] == "cxg report signing"
    assert signature.sig_object["/Reason"] and signature.sig_object["/Location"]
    # The chain is embedded: the signer's certificate and the CA's.
    embedded = {c.chosen.subject.human_friendly for c in signature.signed_data["certificates"]}
    assert embedded == {"Common Name: cxg report signing", "Common Name: cxg development CA"}


def test_pdfsig_says_the_one_signature_is_valid(signed_en: bytes, tmp_path: Path) -> None:
    report = run("pdfsig", str(pdf_file(tmp_path, signed_en)))
    assert report.count("Signature #") == 1, report
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report, report
    assert "ETSI.CAdES.detached" in report, report


# -- 3: a changed byte is found ------------------------------------------------------------------


def _byte_range(data: bytes) -> tuple[int, int, int, int]:
    found = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    assert found is not None
    start, length, second, second_length = (int(v) for v in found.groups())
    return start, length, second, second_length


@pytest.mark.parametrize("where", ["report id", "middle"])
def test_a_changed_byte_fails_both_verifiers(
    where: str, signed_en: bytes, ca: x509.Certificate, tmp_path: Path
) -> None:
    start, length, second, second_length = _byte_range(signed_en)
    assert start == 0 and second + second_length == len(signed_en)
    tampered = bytearray(signed_en)
    if where == "report id":  # in the Info dictionary and XMP, which are not compressed
        at = signed_en.index(b"R7K2M9QXD4MP") + 3
        tampered[at : at + 1] = b"3"  # R7K2 -> R7K3
    else:
        at = length // 2
        tampered[at] ^= 0x01
    assert at < length  # inside the first signed range
    status = validation(bytes(tampered), ca)
    assert not status.intact
    report = run("pdfsig", str(pdf_file(tmp_path, bytes(tampered))))
    assert "Signature is Valid" not in report, report
    assert re.search(r"Signature Validation: (Signature is Invalid|Digest Mismatch)", report), (
        report
    )


# -- 4: PDF/A-3b, as far as the tools at hand can tell (veraPDF cannot be installed here) ----------


def test_pdfa3b_identification_output_intent_fonts_and_metadata(
    signed_en: bytes, tmp_path: Path
) -> None:
    assert re.match(rb"%PDF-1\.7\r?\n%[\x80-\xff]{4}", signed_en)  # ISO 19005-3, 6.1.2
    assert re.search(rb"%%EOF\r?\n?\Z", signed_en)  # nothing after the last end-of-file marker
    with pikepdf.open(io.BytesIO(signed_en)) as document:
        xmp = document.open_metadata()
        assert xmp["pdfaid:part"] == "3"
        assert xmp["pdfaid:conformance"] == "B"
        packet = document.Root.Metadata.read_bytes()
        assert "/Filter" not in document.Root.Metadata.stream_dict
        header = packet[: packet.index(b"?>")]
        assert b"bytes=" not in header and b"encoding=" not in header  # 6.6.2.1
        # The Info dictionary says what XMP says (pyHanko updated both when signing).
        info = document.docinfo
        assert str(info.Title) == xmp["dc:title"] == "Company credit report R7K2M9QXD4MP"
        assert [str(info.Author)] == xmp["dc:creator"] == ["cxg.qingdao.dev"]
        assert str(info.Creator) == xmp["xmp:CreatorTool"]
        assert str(info.Producer) == xmp["pdf:Producer"]
        assert "/ModDate" not in info and xmp["xmp:ModifyDate"]
        assert _instant(str(info.CreationDate)) == datetime.fromisoformat(xmp["xmp:CreateDate"])

        [intent] = document.Root.OutputIntents
        assert intent.S == pikepdf.Name.GTS_PDFA1
        profile = intent.DestOutputProfile
        assert profile.N == 3
        icc = profile.read_bytes()
        assert icc[12:20] == b"mntrRGB " and icc[8] < 5  # a monitor RGB profile, ICC v2 or v4
        assert document.Root.Lang == "en"
        # PDF/A-3 is a PDF 1.7 profile: PAdES declared by the ESIC extension, not as PDF 2.0.
        assert document.Root.get("/Version", "/1.7") == "/1.7"
        assert set(document.Root.Extensions.keys()) == {"/ESIC"}
        assert len(document.trailer.ID) == 2 and document.trailer.ID[0]
        assert "/Encrypt" not in document.trailer

        # The signed profile attached (associated file, relationship Source).
        names = document.Root.Names.EmbeddedFiles.Names
        assert str(names[0]) == "profile.jws"
        spec = names[1]
        assert spec.objgen == document.Root.AF[0].objgen
        assert spec.AFRelationship == pikepdf.Name.Source
        assert str(spec.F) == str(spec.UF) == "profile.jws"
        embedded = spec.EF.F
        assert embedded.Subtype == pikepdf.Name("/application/jose")
        assert embedded.Params.ModDate and embedded.Params.Size == len(embedded.read_bytes())
        assert embedded.read_bytes().decode() == facts(penalised()).profile_jws

        # No actions, no scripts; the signature's widget is the only annotation, printed,
        # zero-sized, neither hidden nor invisible (6.3.2, 6.3.3).
        for key in ("/OpenAction", "/AA", "/JavaScript"):
            assert key not in document.Root
        annotations = [a for page in document.pages for a in page.get("/Annots", [])]
        assert len(annotations) == 1 and annotations[0].Subtype == pikepdf.Name.Widget
        flags = int(annotations[0].F)
        assert flags & 4 and not flags & (1 | 2 | 32)
        assert [float(v) for v in annotations[0].Rect] == [0, 0, 0, 0]
        assert not document.Root.AcroForm.get("/NeedAppearances", False)
        for page in document.pages:
            assert "/Group" not in page  # no transparency group
            for state in page.Resources.get("/ExtGState", {}).values():
                assert "/SMask" not in state and float(state.get("/CA", 1)) == 1

    path = pdf_file(tmp_path, signed_en)
    fonts = run("pdffonts", str(path)).splitlines()[2:]
    assert fonts, "no fonts listed"
    for line in fonts:
        assert re.search(r"\byes\s+yes\s+yes\s+\d+\s+\d+$", line), (
            line
        )  # embedded, subset, ToUnicode
        assert "Helvetica" not in line
    info = run("pdfinfo", str(path))
    assert re.search(r"^Encrypted:\s+no$", info, re.M), info
    assert re.search(r"^JavaScript:\s+no$", info, re.M), info
    assert re.search(r"^PDF version:\s+1\.7$", info, re.M), info


def _instant(pdf_date: str) -> datetime:
    return datetime.strptime(pdf_date, "D:%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


# -- 5: pages as pictures, and the QR code a phone reads -----------------------------------------


@pytest.mark.parametrize("languages", [("zh",), ("en",), ("ru",), ("zh", "ru")])
def test_every_page_is_drawn_and_its_qr_code_holds_the_verification_url(
    languages: tuple[str, ...], fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    made = facts(penalised(), languages)
    signed = sign_report(render_report(made, fonts), signer)
    name = "+".join(languages)
    pages = page_images(pdf_file(tmp_path, signed, f"{name}.pdf"), keep_as=name)
    assert len(pages) == page_count(signed)
    assert qr_texts(pages[0]) == [made.verify_url]
    assert qr_texts(pages[-1]) == [made.verify_url]


# -- 6: what the report states -------------------------------------------------------------------


def test_the_english_report_lists_in_period_penalties_and_states_the_rest_absent(
    signed_en: bytes, tmp_path: Path
) -> None:
    text = text_of(pdf_file(tmp_path, signed_en))
    assert CUSTOMS_PENALTY in text and TAX_PENALTY in text
    assert OLD_PENALTY not in text
    assert "Late declaration of imported goods" in text and "Disputed" in text
    assert "Open disputes" in text and DISPUTE in text and "answer due 2026-02-04" in text
    assert "No open dispute" not in text
    covered = "between 2025-01-01 and 2025-12-31 (source: cn-customs; data as of 2026-01-10)."
    for authority in AUTHORITIES_EN:
        assert f"No administrative licence by {authority} is recorded {covered}" in text
        assert f"No entry on a dishonesty list by {authority} is recorded {covered}" in text
    for authority in ("market regulation authorities", "courts", "other authorities"):
        assert f"No administrative penalty by {authority} is recorded {covered}" in text
    for authority in ("customs authorities", "tax authorities"):  # they have penalties
        assert f"No administrative penalty by {authority}" not in text
    assert "Customs authorities (source: cn-customs; data as of 2026-01-10)" in text
    # Identity, AEO with what Belarus recognises, grade.
    assert USCC_PENALISED in text and "National Enterprise Credit Information Publicity" in text
    assert "Global Legal Entity Identifier Foundation (GLEIF)" in text
    assert "Belarus (BY)" in text and "Recognised" in text
    assert "China-Belarus AEO mutual recognition arrangement" in text
    assert "Upper medium grade (8/10)" in text
    assert "This report replaces certificates of no violation of laws and regulations" in text


def test_the_chinese_report_states_the_same(
    fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    signed = sign_report(render_report(facts(penalised(), ("zh",)), fonts), signer)
    text = dense(text_of(pdf_file(tmp_path, signed)))
    assert dense(CUSTOMS_PENALTY) in text and dense(TAX_PENALTY) in text
    assert dense(OLD_PENALTY) not in text
    assert "企业信用报告" in text and "异议处理中" in text and "未决异议" in text
    for authority in ("市场监管部门", "法院", "其他机关"):
        assert (
            f"2025-01-01至2025-12-31期间，未发现{authority}作出的行政处罚记录"
            "（信息来源：cn-customs；数据截至2026-01-10）。"
        ) in text
    for authority in ("海关", "税务机关"):
        assert f"未发现{authority}作出的行政处罚记录" not in text
    assert "未发现海关作出的行政许可记录" in text
    assert "本报告可替代无违法违规证明" in text


def test_the_russian_report_states_an_absence_in_russian(
    fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    signed = sign_report(render_report(facts(penalised(), ("ru",)), fonts), signer)
    text = text_of(pdf_file(tmp_path, signed))
    assert (
        "Административные наказания судов за период с 2025-01-01 по 2025-12-31 не"
        " зарегистрированы (источник: cn-customs; данные на 2026-01-10)."
    ) in text
    assert "Кредитный отчёт о компании" in text and CUSTOMS_PENALTY in text


def test_a_clean_company_is_stated_free_of_penalties_by_every_authority(
    fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    signed = sign_report(render_report(facts(clean(), ("zh", "en")), fonts), signer)
    text = text_of(pdf_file(tmp_path, signed))
    for authority in AUTHORITIES_EN:
        assert (
            f"No administrative penalty by {authority} is recorded between 2025-01-01 and"
            " 2025-12-31 (source: cn-customs; data as of 2026-01-10)."
        ) in text
    chinese = dense(text)
    for authority in ("海关", "税务机关", "市场监管部门", "法院", "其他机关"):
        assert (
            f"未发现{authority}作出的行政处罚记录（信息来源：cn-customs；数据截至2026-01-10）"
            in chinese
        )
    assert "No open dispute." in text and "无未决异议。" in chinese


def test_a_period_past_the_sources_data_is_stated_only_up_to_their_date(
    fonts: ReportFonts, tmp_path: Path
) -> None:
    made = facts(company(USCC_CLEAN, retrieved="2025-09-30T12:00:00Z"), ("zh", "en"))
    text = text_of(pdf_file(tmp_path, render_report(made, fonts)))
    assert (
        "No administrative penalty by customs authorities is recorded between 2025-01-01 and"
        " 2025-09-30 (source: cn-customs; data as of 2025-09-30: the source covers the period"
        " only up to that date, not to 2025-12-31)."
    ) in text
    assert "and 2025-12-31 (source" not in text  # never claimed to the period's end
    assert "数据截至2025-09-30，该来源仅覆盖至该日，未覆盖至2025-12-31" in dense(text)


def test_no_absence_is_claimed_where_the_data_are_undated_or_predate_the_period(
    fonts: ReportFonts, tmp_path: Path
) -> None:
    undated = text_of(pdf_file(tmp_path, render_report(facts(company(retrieved=None)), fonts)))
    assert "No administrative" not in undated and "No entry on" not in undated
    assert "the source does not state when its data were retrieved" in undated
    early = facts(company(retrieved="2024-06-30T00:00:00Z"))
    before = text_of(pdf_file(tmp_path, render_report(early, fonts), "early.pdf"))
    assert "No administrative" not in before
    assert "the data of cn-customs are as of 2024-06-30, before the period" in before


def test_authorities_a_purpose_leaves_out_get_no_claim(fonts: ReportFonts, tmp_path: Path) -> None:
    customs_only = facts(
        penalised(),
        purpose="customs_clearance",
        view=CUSTOMS,
    )
    text = text_of(pdf_file(tmp_path, render_report(customs_only, fonts)))
    assert "No administrative licence by customs authorities is recorded" in text
    for authority in AUTHORITIES_EN[1:]:
        assert f"by {authority} is recorded" not in text
    assert (
        "Records of tax authorities, market regulation authorities, courts, other authorities"
        " are not included for the purpose customs clearance"
    ) in text
    # The summary view shows no records at all.
    summary = facts(penalised(), purpose="trade_due_diligence", view=SUMMARY)
    assert summary.authorities_shown == frozenset()
    text = text_of(pdf_file(tmp_path, render_report(summary, fonts), "summary.pdf"))
    assert "is recorded between" not in text


def test_a_record_of_no_stated_kind_or_authority_is_listed_not_dropped(
    fonts: ReportFonts, tmp_path: Path
) -> None:
    odd = company(
        records=[
            _record("UNSPECIFIED", "TAX", "ODD-KIND-1", "2025-03-01"),
            _record("PENALTY", "UNSPECIFIED", "ODD-AUTH-2", "2025-04-01"),
        ]
    )
    text = text_of(pdf_file(tmp_path, render_report(facts(odd), fonts)))
    assert "ODD-KIND-1" in text and "Other public records (kind not stated)" in text
    assert "ODD-AUTH-2" in text and "Authorities of unstated type" in text


# -- 7: what a company calls itself is text, however hostile --------------------------------------


def test_hostile_names_and_long_summaries_are_drawn_as_text_on_more_pages(
    fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    normal = render_report(facts(penalised()), fonts)
    summary = ("X" * 300 + " 违反海关监管规定" * 100 + " Нарушение таможенных правил" * 40)[:2000]
    assert len(summary) == 2000
    hostile = company(
        records=[
            _record(
                "PENALTY",
                "CUSTOMS",
                "LONG-1",
                "2025-05-05",
                summary={"zh": summary, "en": summary},
                authority={"en": "<i>Customs</i> & <script>alert(1)</script>"},
            )
        ]
    )
    hostile.subject.legal_name.en = HOSTILE_NAME
    hostile.subject.legal_name.zh = "<b>&amp;</b>恶意贸易公司\u202e\u200b"
    made = facts(hostile, report_id="HOSTILE7X2Q9")
    signed = sign_report(render_report(made, fonts), signer)
    assert page_count(signed) > page_count(normal)
    path = pdf_file(tmp_path, signed)
    text = text_of(path)
    assert HOSTILE_NAME in text and "<script>alert(1)</script>" in text
    assert dense("违反海关监管规定" * 3) in dense(text) and "XXXXXXXXXX" in text
    pages = page_images(path, keep_as="hostile")
    for number, page in enumerate(pages, start=1):
        assert qr_texts(page) == [made.verify_url], f"page {number}"
        assert "HOSTILE7X2Q9" in text_of(path, number), f"page {number}"


# -- 8: the signing key and its certificate --------------------------------------------------------


def _self_signed(key: Any, name: str = "test") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, algorithm)
    )


def test_an_ed25519_key_is_refused_with_the_reason(tmp_path: Path) -> None:
    key = SigningKey.generate("EdDSA")
    certificate = _self_signed(key.private_key)
    with pytest.raises(Unavailable, match=r"Ed25519 key.*P-256.*pdfsig"):
        DocumentSigner.from_signer(key, [certificate])
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_pem())
    with pytest.raises(Unavailable, match=r"Ed25519 key.*P-256") as refused:
        DocumentSigner.from_pem_files(tmp_path / "cert.pem", tmp_path / "key.pem")
    assert refused.value.field == "CXG_REPORT_KEY"


def test_a_certificate_of_another_key_is_refused(pki_dir: Path, tmp_path: Path) -> None:
    chain = x509.load_pem_x509_certificates((pki_dir / "report-signer.pem").read_bytes())
    with pytest.raises(Unavailable, match="is not the report signing key's"):
        DocumentSigner.from_signer(SigningKey.generate("ES256"), chain)
    other = tmp_path / "other"
    pki.init_ca(other)
    pki.issue_document_signer(other)
    with pytest.raises(Unavailable, match="is not the report signing key's"):
        DocumentSigner.from_pem_files(
            pki_dir / "report-signer.pem", other / "report-signer-key.pem"
        )
    with pytest.raises(Unavailable, match="out of order or broken"):  # the other CA's chain
        DocumentSigner.from_signer(
            SigningKey.from_private_key(
                serialization.load_pem_private_key(  # type: ignore[arg-type]
                    (pki_dir / "report-signer-key.pem").read_bytes(), None
                )
            ),
            [chain[0], pki.load_ca(other)[0]],
        )


def test_unreadable_files_name_the_setting(tmp_path: Path, pki_dir: Path) -> None:
    with pytest.raises(Unavailable, match="cannot read the report certificate") as refused:
        DocumentSigner.from_pem_files(tmp_path / "missing.pem", tmp_path / "missing-key.pem")
    assert refused.value.field == "CXG_REPORT_CERT"
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(Unavailable) as refused:
        DocumentSigner.from_pem_files(pki_dir / "report-signer.pem", tmp_path / "junk.pem")
    assert refused.value.field == "CXG_REPORT_KEY"


def test_the_development_signer_certificate(pki_dir: Path) -> None:
    chain = x509.load_pem_x509_certificates((pki_dir / "report-signer.pem").read_bytes())
    signer_cert, ca_cert = chain
    assert ca_cert == pki.load_ca(pki_dir)[0]
    signer_cert.verify_directly_issued_by(ca_cert)
    usage = signer_cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    extended = signer_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # Document signing (RFC 9336), and email protection, without which NSS (pdfsig) refuses it.
    assert list(extended) == [
        x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ]
    lifetime = signer_cert.not_valid_after_utc - signer_cert.not_valid_before_utc
    assert timedelta(days=729) < lifetime < timedelta(days=731)
    key = serialization.load_pem_private_key((pki_dir / "report-signer-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert (pki_dir / "report-signer-key.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(Conflict):
        pki.issue_document_signer(pki_dir)


# -- B-T, and failures mapped ---------------------------------------------------------------------


@pytest.fixture
def tsa(pki_dir: Path) -> Iterator[str]:
    """An RFC 3161 time-stamping authority on 127.0.0.1 (pyHanko's test TSA, RSA), its
    certificate issued by the development CA."""
    ca_cert, ca_key = pki.load_ca(pki_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test TSA")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    stamper = DummyTimeStamper(
        tsa_cert=_asn1(certificate),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        certs_to_embed=[_asn1(ca_cert)],
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            answer = asyncio.run(stamper.async_request_tsa_response(request)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_with_a_timestamp_the_signature_is_b_t(
    fonts: ReportFonts, signer: DocumentSigner, ca: x509.Certificate, tsa: str, tmp_path: Path
) -> None:
    signed = sign_report(render_report(facts(clean()), fonts), signer, timestamp_url=tsa)
    status = validation(signed, ca)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    assert abs(stamp.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    assert "Signature is Valid." in run("pdfsig", str(pdf_file(tmp_path, signed)))


def test_failures_are_gateway_errors(
    fonts: ReportFonts, signer: DocumentSigner, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        sign_report(b"%PDF-1.7\nthis is no PDF", signer)
    assert refused.value.field == "pdf"
    pdf = render_report(facts(clean()), fonts)
    with pytest.raises(Unavailable, match="time-stamping authority") as refused:
        sign_report(pdf, signer, timestamp_url="http://127.0.0.1:9/tsa")  # discard: closed
    assert refused.value.field == "CXG_REPORT_TSA_URL"
    with pytest.raises(InvalidArgument, match="signed already"):
        sign_report(sign_report(pdf, signer), signer)
    with pytest.raises(Unavailable, match="fonts-wqy-microhei") as refused:
        ReportFonts.find(tmp_path / "missing.ttf")
    assert refused.value.field == "CXG_REPORT_FONT"
    (tmp_path / "text.ttf").write_text("not a font")
    with pytest.raises(Unavailable, match="is unusable") as refused:
        ReportFonts.find(tmp_path / "text.ttf")
    assert refused.value.field == "CXG_REPORT_FONT"
    with pytest.raises(ValueError, match="not among"):
        facts(clean(), ("de",))
    with pytest.raises(ValueError, match="AEO numbers the profile does not show"):
        facts(company(aeo=[]))


# -- the package ---------------------------------------------------------------------------------


def test_concurrent_renders_share_the_font_and_make_the_same_document(fonts: ReportFonts) -> None:
    made = facts(penalised(), ("zh", "en"))
    expected = render_report(made, fonts)
    results: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: results.extend(render_report(made, fonts) for _ in range(3))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 12 and all(result == expected for result in results)


def test_public_surface_and_layering() -> None:
    assert gateway.reports.__all__ == sorted(gateway.reports.__all__)
    assert set(gateway.reports.__all__) == {
        "DocumentSigner",
        "Recognition",
        "ReportFacts",
        "ReportFonts",
        "render_report",
        "sign_report",
    }
    probe = (
        "import sys, gateway.reports; print(sorted(m for m in sys.modules if m.startswith("
        "('gateway.storage', 'gateway.service', 'gateway.transport'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
