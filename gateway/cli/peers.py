"""``cxg peers``: other countries' gateways this one pins, follows and witnesses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gateway.cli._common import _with_database, read_input, usage, verdict
from gateway.config import Settings

peers_app = typer.Typer(
    no_args_is_help=True,
    help="Federation peers: register, refresh (follow keys, witness logs), alarms.",
)
T = TypeVar("T")


@contextmanager
def _federation(settings: Settings, db: Any) -> Iterator[Any]:
    """The federation use cases as a gateway process has them (its keys and its log's key)."""
    from gateway.service.audit import AuditLog
    from gateway.service.federation import Federation
    from gateway.service.sco import ScoService
    from gateway.signing import KeyRing

    keyring = KeyRing.from_settings(settings)
    audit = AuditLog.from_settings(settings, db)
    try:
        sco = ScoService.from_settings(settings, db, keyring)
        yield Federation(settings, db, keyring, audit, sco.own_issuer_keys)
    finally:
        audit.close()


def _run(action: Callable[[Any], T]) -> T:
    def run(settings: Settings, db: Any) -> T:
        with _federation(settings, db) as federation:
            return action(federation)

    return _with_database(run)


def _read_jwks(path: Path) -> list[dict[str, Any]]:
    """The peer's public keys: a JWK Set (``cxg keys jwks`` at the peer) or one JWK."""
    data = read_input(path, "--jwks")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise usage(f"--jwks {path}: not JSON") from exc
    keys = document.get("keys", [document]) if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise usage(f"--jwks {path}: must hold a JWK Set (or one JWK)")
    if any("d" in key for key in keys):
        raise usage(f"--jwks {path}: holds a private key: pin the peer's public keys only")
    return keys


@peers_app.command("add")
def peers_add(
    peer_id: Annotated[str, typer.Argument(help="Its partner id here: lower-case, digits, '-'.")],
    gateway: Annotated[str, typer.Option(help="Its gateway id (CXG_GATEWAY_ID there).")],
    url: Annotated[str, typer.Option(help="Its REST base URL (HTTPS).")],
    name: Annotated[str, typer.Option(help="Who operates it.")],
    country: Annotated[str, typer.Option(help="Its country (ISO 3166-1 alpha-2).")],
    jwks: Annotated[
        Path,
        typer.Option(
            help="Its public keys, obtained from its operator (`cxg keys jwks` there): its"
            " first federation document must be signed by one of them."
        ),
    ],
) -> None:
    """Register a peer gateway (and its partner record, role `gateway`), pinning its keys."""
    pinned = _read_jwks(jwks)  # before the database: a bad file changes nothing
    row = _run(
        lambda federation: federation.register(
            peer_id, gateway=gateway, url=url, name=name, country=country, pinned=pinned
        )
    )
    typer.echo(f"registered peer {row.id} ({row.gateway}) at {row.url}")


@peers_app.command("list")
def peers_list() -> None:
    """Every peer: its URL, last accepted document, last checkpoint witnessed, any problem."""
    listed = _run(lambda federation: federation.peers())
    if not listed:
        typer.echo("no peers")
    for peer in listed:
        issued = peer.issued_at.isoformat() if peer.issued_at else "none yet"
        seen = peer.seen_size if peer.seen_size is not None else "none yet"
        typer.echo(f"{peer.id}  {peer.gateway}  {peer.url}")
        typer.echo(f"    document issued {issued}; checkpoint witnessed: size {seen}")
        if peer.problem:
            typer.echo(f"    problem: {peer.problem}")


@peers_app.command("refresh")
def peers_refresh(
    peer_id: Annotated[
        str | None, typer.Argument(help="Only this peer; default: every one.")
    ] = None,
) -> None:
    """Fetch each peer's document and checkpoint now (as the gateway does on its schedule);
    exit status 1 if any failed."""
    results = _run(
        lambda federation: [federation.refresh(peer_id)] if peer_id else federation.refresh_all()
    )
    failed = False
    for result in results:
        if result.problem:
            failed = True
            typer.echo(f"{result.peer}: FAILED: {result.problem}")
        else:
            typer.echo(
                f"{result.peer}: document {result.document}, checkpoint {result.witnessed}"
                " witnessed"
            )
    if failed:
        raise verdict("some peers could not be refreshed")


@peers_app.command("alarms")
def peers_alarms(
    peer_id: Annotated[str | None, typer.Argument(help="Only this peer.")] = None,
    evidence: Annotated[
        bool, typer.Option("--evidence", help="Print both signed texts of each alarm.")
    ] = False,
) -> None:
    """Alarms raised about peers, newest first: split views of their logs, rolled-back
    documents; with the evidence (both signed texts) on request."""
    alarms = _run(lambda federation: federation.alarms(peer_id))
    if not alarms:
        typer.echo("no alarms")
    for alarm in alarms:
        typer.echo(f"{alarm.detected_at.isoformat()}  {alarm.peer}  {alarm.kind}: {alarm.message}")
        if evidence:
            typer.echo(f"--- seen ---\n{alarm.seen}\n--- offered ---\n{alarm.offered}")
