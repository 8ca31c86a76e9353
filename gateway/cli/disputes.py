"""``cxg disputes``: the disputes publishers must answer, and those past their due date."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gateway.cli._common import _with_database
from gateway.config import Settings

disputes_app = typer.Typer(
    no_args_is_help=True, help="Disputes (异议): open, answered, and overdue ones."
)


@disputes_app.command("list")
def disputes_list(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only open disputes past due.")
    ] = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only open disputes.")] = False,
    profile: Annotated[str, typer.Option(help="Only this profile: profiles/{id}.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 100,
) -> None:
    """List disputes, newest first: who filed which, the publisher's answer or its due date."""
    from gateway.schema.cxg.v1 import correction_service_pb2 as pb
    from gateway.service.corrections import CorrectionService
    from gateway.service.profiles import ProfileExchange
    from gateway.storage.partners import PartnerStore

    def run(settings: Settings, db: Any) -> Any:
        exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db))
        service = CorrectionService.from_settings(settings, db, exchange)
        request = pb.ListDisputesRequest(
            profile=profile, overdue_only=overdue, open_only=open_only, page_size=limit
        )
        return service.overview(request)

    listed = _with_database(run)
    if not listed.disputes:
        typer.echo("no disputes" + (" past due" if overdue else ""))
    for dispute in listed.disputes:
        state = pb.DisputeStatus.Name(dispute.status).removeprefix("DISPUTE_STATUS_")
        typer.echo(
            f"{dispute.name}  {dispute.profile}/versions/{dispute.version}  {state}"
            f"{'  OVERDUE' if dispute.overdue else ''}  due {dispute.due_date}"
            f"  filed by {dispute.filed_by}\n    fields: {', '.join(dispute.fields)}"
        )
