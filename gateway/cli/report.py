"""``cxg report``: issue a credit report as a partner, show, check and revoke reports, on
CXG_DATABASE_URL, through the same use cases as the APIs (gateway/service/reports.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli import _common
from gateway.cli._common import T, _fail, _with_database, check_output, usage
from gateway.config import Settings

report_app = typer.Typer(
    no_args_is_help=True,
    help="Credit reports: issue (PDF/A-3b, PAdES), show, check a copy, revoke.",
)
ReportId = Annotated[str, typer.Argument(help="The report id (12 characters) or reports/{id}.")]


def _reports(partner_id: str | None, role: str | None, action: Callable[[Any, Any], T]) -> T:
    """Run ``action(reports, partner)`` on CXG_DATABASE_URL as an active registered partner:
    the one named, else the first with ``role``."""
    from gateway.service import ProfileExchange
    from gateway.service.reports import ReportService
    from gateway.service.rules import RuleService
    from gateway.storage.partners import PartnerStore

    def run(settings: Settings, db: Any) -> T:
        active = [p for p in PartnerStore(db).all() if p.status == "active"]
        chosen = [
            p for p in active if p.id == partner_id or (partner_id is None and role in p.roles)
        ]
        if not chosen:
            wanted = f"partner {partner_id!r}" if partner_id else f"{role} partner"
            raise _fail(
                f"database {_common.session.database}: no active {wanted} is registered",
                hint="cxg partners list; is CXG_DATABASE_URL the gateway's database?",
            )
        rules = RuleService.from_settings(settings, db)
        exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db), rules=rules)
        return action(ReportService(db, exchange, rules, settings=settings), chosen[0])

    return _with_database(run)


@report_app.command("create")
def report_create(
    subject: Annotated[str, typer.Argument(help="The company, as SCHEME:VALUE.")],
    partner_id: Annotated[
        str, typer.Option("--as", help="The partner asking (an SME portal: the company's own).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Write the PDF here.")],
    purpose: Annotated[str, typer.Option(help="Why, as for GetProfile; empty for a portal.")] = "",
    consent: Annotated[str, typer.Option(help="consents/{id}, when the purpose needs one.")] = "",
    language: Annotated[str, typer.Option(help="zh, en, ru, zh+en or zh+ru.")] = "zh+en",
    start: Annotated[str, typer.Option("--from", help="Records from (YYYY-MM-DD).")] = "",
    end: Annotated[str, typer.Option("--to", help="Records to (YYYY-MM-DD; default today).")] = "",
    days: Annotated[int, typer.Option(min=1, max=366, help="Days the report is valid.")] = 90,
) -> None:
    """Issue a signed credit report on a company, as a registered partner; write the PDF."""
    from gateway.schema.cxg.v1 import report_service_pb2 as pb
    from gateway.trust.policy import authorize

    scheme, sep, value = subject.partition(":")
    if not sep or not scheme or not value:
        raise usage(
            f"subject {subject!r}: not SCHEME:VALUE", hint="e.g. CN_USCC:91370200MA3C8Y9X6B"
        )
    check_output(output, "--output")  # before the report is issued and recorded
    request = pb.CreateReportRequest(
        subject={"scheme": scheme, "value": value},
        purpose=purpose,
        consent=consent,
        language=language,
        period_start=start,
        period_end=end,
        valid_days=days,
    )

    def create(reports: Any, partner: Any) -> Any:
        authorize(partner, "CreateReport")  # as admission does for the APIs
        return reports.create(request, partner)

    report = _reports(partner_id, None, create)
    output.write_bytes(report.pdf)
    typer.echo(f"reports/{report.id}\t{report.sha256}\t{output} ({report.size_bytes} bytes)")
    typer.echo(f"verify at {report_verify_url(report.id)}")


def report_verify_url(report_id: str) -> str:
    from gateway.cli._common import load_settings
    from gateway.service.reports import REPORT_PATH

    return f"{load_settings().scan_base_url}{REPORT_PATH}{report_id}"


@report_app.command("show")
def report_show(
    report_id: ReportId, operator_id: Annotated[str | None, typer.Option("--as")] = None
) -> None:
    """A report's state and what it covers (as an operator)."""
    from gateway.schema.cxg.v1 import report_service_pb2 as pb

    def show(reports: Any, operator: Any) -> Any:
        return reports.message(reports.get(pb.GetReportRequest(name=report_id), operator))

    message = _reports(operator_id, "operator", show)
    typer.echo(
        f"{message.name}\t{pb.ReportState.Name(message.state).removeprefix('REPORT_STATE_')}\t"
        f"{message.subject.scheme}:{message.subject.value}\t{message.purpose}\t"
        f"{message.period_start}..{message.period_end}\t{message.sha256}"
    )


@report_app.command("check")
def report_check(
    pdf: Annotated[
        Path, typer.Argument(help="A copy of a report (PDF).", exists=True, dir_okay=False)
    ],
) -> None:
    """Whether a PDF is, byte for byte, a report this gateway issued, and its state now; exits
    1 when it is not one."""
    from gateway.schema.cxg.v1 import report_service_pb2 as pb

    data = pdf.read_bytes()

    def check(reports: Any, _: Any) -> Any:
        return reports.verification(pb.VerifyReportRequest(pdf=data))

    found = _reports(None, "operator", check)
    if not found.matches:
        raise _common.verdict(f"{pdf}: not a report of this gateway (sha256 {found.sha256})")
    state = pb.ReportState.Name(found.state).removeprefix("REPORT_STATE_")
    typer.echo(f"{found.report.name}\t{state}\t{found.sha256}")


@report_app.command("revoke")
def report_revoke(
    report_id: ReportId,
    reason: Annotated[str, typer.Option(help="Why; shown on the verification page.")],
    operator_id: Annotated[
        str | None, typer.Option("--as", help="The operator partner acting.")
    ] = None,
) -> None:
    """Revoke a report at once: its verification page says REVOKED from then on."""
    from gateway.schema.cxg.v1 import report_service_pb2 as pb

    request = pb.RevokeReportRequest(name=report_id, reason=reason)
    report = _reports(operator_id, "operator", lambda reports, op: reports.revoke(request, op))
    typer.echo(f"reports/{report.id}: REVOKED")
