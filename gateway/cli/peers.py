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
def federation_on(settings: Settings, db: Any) -> Iterator[Any]:
    """The federation use cases as a gateway process has them (its keys and its log's key)."""
    from gateway.service.audit import AuditLog
    from gateway.service.federation import Federation
    from gateway.service.sco import ScoService
    from gateway.signing import KeyRing

    keyring = KeyRing.from_settings(settings)
    audit = AuditLog.from_settings(settings, db)
    sco = ScoService.from_settings(settings, db, keyring)
    federation = Federation(settings, db, keyring, audit, sco.own_issuer_keys)
    try:
        yield federation
    finally:
        federation.stop()
        audit.close()


def _run(action: Callable[[Any], T]) -> T:
    def run(settings: Settings, db: Any) -> T:
        with federation_on(settings, db) as federation:
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
    local_id: Annotated[
        str,
        typer.Option(
            help="The partner id the peer registered this gateway under: co-signatures of its"
            " checkpoints are handed to it."
        ),
    ] = "",
) -> None:
    """Register a peer gateway (and its partner record, role `gateway`), pinning its keys."""
    from google.protobuf.struct_pb2 import Struct

    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    pinned = []
    for key in _read_jwks(jwks):  # before the database: a bad file changes nothing
        pinned.append(Struct())
        pinned[-1].update(key)
    request = pb.RegisterPeerRequest(
        peer_id=peer_id,
        gateway=gateway,
        url=url,
        display_name=name,
        country=country,
        jwks=pinned,
        local_id=local_id,
    )
    peer = _run(lambda federation: federation.register_peer(request))
    typer.echo(f"registered peer {peer.id} ({peer.gateway}) at {peer.url}")


@peers_app.command("list")
def peers_list() -> None:
    """Every peer: its URL, last accepted document, last checkpoint witnessed, any problem."""
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    listed = _run(lambda federation: federation.list_peers(pb.ListPeersRequest())).peers
    if not listed:
        typer.echo("no peers")
    for peer in listed:
        issued = (
            peer.document_issue_time.ToDatetime().isoformat()
            if peer.HasField("document_issue_time")
            else "none yet"
        )
        typer.echo(f"{peer.id}  {peer.gateway}  {peer.url}")
        typer.echo(
            f"    document issued {issued}; checkpoint witnessed: size"
            f" {peer.witnessed_tree_size or 'none yet'}"
        )
        if peer.problem:
            typer.echo(f"    problem: {peer.problem}")


@peers_app.command("refresh")
def peers_refresh(
    peer_id: Annotated[
        str | None, typer.Argument(help="Only this peer; default: every active one.")
    ] = None,
) -> None:
    """Fetch each peer's document and checkpoint now (as the gateway does on its schedule);
    exit status 1 if any failed."""
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    def refresh(federation: Any) -> list[Any]:
        if peer_id:
            return [federation.refresh_peer(pb.RefreshPeerRequest(peer=peer_id))]
        return list(federation.refresh_all())

    failed = False
    for result in _run(refresh):
        if result.problem:
            failed = True
            typer.echo(f"{result.peer}: FAILED: {result.problem}")
        else:
            typer.echo(
                f"{result.peer}: document {result.document}, checkpoint"
                f" {result.witnessed_tree_size} witnessed"
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
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    request = pb.ListPeerAlarmsRequest(peer=peer_id or "")
    alarms = _run(lambda federation: federation.list_alarms(request)).alarms
    if not alarms:
        typer.echo("no alarms")
    for alarm in alarms:
        detected = alarm.detect_time.ToDatetime().isoformat()
        typer.echo(f"{detected}  {alarm.peer}  {alarm.kind}: {alarm.message}")
        if evidence:
            typer.echo(f"--- seen ---\n{alarm.seen}\n--- offered ---\n{alarm.offered}")


@peers_app.command("route")
def peers_route(
    scheme: Annotated[str, typer.Argument(help="An identifier scheme, e.g. KZ_BIN.")],
    peer_id: Annotated[
        str, typer.Argument(help="The peer that answers lookups of it; '-' removes the route.")
    ],
    country: Annotated[
        str, typer.Option(help="Only values of this country (AEO numbers' prefix).")
    ] = "",
) -> None:
    """Route GetProfile lookups of a scheme to a peer gateway (an audited change)."""
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    request = pb.SetPeerRouteRequest(
        scheme=scheme, country=country, peer="" if peer_id == "-" else peer_id
    )
    route = _run(lambda federation: federation.set_route(request))
    where = f"{route.scheme} ({route.country or 'any country'})"
    typer.echo(f"{where} -> {route.peer}" if route.peer else f"{where}: route removed")


@peers_app.command("routes")
def peers_routes() -> None:
    """The routing table."""
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb

    routes = _run(lambda federation: federation.list_routes(pb.ListPeerRoutesRequest())).routes
    if not routes:
        typer.echo("no routes: every lookup is answered here")
    for route in routes:
        typer.echo(f"{route.scheme}  {route.country or '*'}  -> {route.peer}")
