"""``cxg events``: the push deliveries given up (dead letters), and delivering them again."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gateway.cli._common import _with_database
from gateway.config import Settings

events_app = typer.Typer(
    no_args_is_help=True, help="Security events: dead letters, and delivering them again."
)


def _service(settings: Settings, db: Any) -> Any:
    from gateway.service.events import EventService
    from gateway.signing import KeyRing

    return EventService.from_settings(settings, db, KeyRing.from_settings(settings))


@events_app.command("dead")
def events_dead(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
) -> None:
    """List push deliveries given up after the retry horizon, oldest first, with why."""
    from gateway.schema.cxg.v1 import event_service_pb2 as pb

    def run(settings: Settings, db: Any) -> Any:
        return _service(settings, db).list_dead(pb.ListDeadEventsRequest(page_size=limit))

    listed = _with_database(run)
    if not listed.events:
        typer.echo("no dead letters")
    for event in listed.events:
        typer.echo(
            f"{event.jti}  {event.subscription}  {event.profile}  attempts {event.attempts}"
            f"  {event.endpoint or 'poll'}\n    {event.last_error}"
        )


@events_app.command("replay")
def events_replay(
    jtis: Annotated[list[str], typer.Argument(help="jti of each dead letter to deliver again.")],
) -> None:
    """Deliver dead letters again, from now on, with a fresh horizon (an audited change)."""
    from gateway.schema.cxg.v1 import event_service_pb2 as pb

    def run(settings: Settings, db: Any) -> Any:
        return _service(settings, db).replay(pb.ReplayEventsRequest(jtis=jtis))

    replayed = _with_database(run).replayed
    for jti in replayed:
        typer.echo(f"replayed {jti}")
    skipped = sorted(set(jtis) - set(replayed))
    if skipped:
        typer.echo(
            f"not dead letters of live subscriptions, left as they are: {', '.join(skipped)}",
            err=True,
        )
        raise typer.Exit(1)
