"""The ``cxg`` command: run the gateway, manage its keys and database, validate identifiers,
and call a gateway as a partner would. The larger command groups live beside this module:
``rules`` (rules.py) and ``sco`` (sco.py); what they all share is in _common.py."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gateway._private_files import open_private
from gateway.audit.entries import Actor, acting_as
from gateway.cli import _common
from gateway.cli._common import (
    CliError,
    CxgGroup,
    T,
    _fail,
    _run,
    _with_database,
    check_output,
    load_settings,
    on_database,
    open_database,
    read_public_jwk,
    start_session,
    usage,
    verdict,
)
from gateway.cli.client import As, Key, Rest, _partner_client, client_app
from gateway.cli.db import db_backup, db_restore
from gateway.cli.disputes import disputes_app
from gateway.cli.events import events_app
from gateway.cli.hsm import hsm_app
from gateway.cli.peers import peers_app
from gateway.cli.report import report_app
from gateway.cli.rules import activate_shipped_packs, rules_app
from gateway.cli.sco import issue_demo_code, sco_app
from gateway.config import DEVELOPMENT_KEY_MARK, Settings, settings_help
from gateway.errors import GatewayError, InvalidIdentifier
from gateway.identifiers import CHECK_DIGIT_MISMATCH, validate

if TYPE_CHECKING:
    from gateway.service import PartnerAdmin
    from gateway.trust import Quota
    from gateway.trust.pki import IssuedCertificate

app = typer.Typer(
    cls=CxgGroup,  # one line and an exit status for every error (gateway/cli/_common.py)
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # a traceback only with --debug, and then a plain one
    help="The Credit Exchange Gateway: run it, manage its keys, partners, rules and SCO codes,"
    " and call it as a partner would. Errors exit 2 for a bad argument, option or file, 1 when"
    " refused or the database is unavailable. Shell completion: cxg --install-completion.",
)
keys_app = typer.Typer(no_args_is_help=True, help="The gateway's signing keys.")
id_app = typer.Typer(no_args_is_help=True, help="Company identifiers.")
db_app = typer.Typer(no_args_is_help=True, help="The database: schema, backup, restore.")
partners_app = typer.Typer(no_args_is_help=True, help="Registered partner institutions.")
pki_app = typer.Typer(no_args_is_help=True, help="Development CA and certificates for mutual TLS.")
formats_app = typer.Typer(no_args_is_help=True, help="Partner formats (adapters/README.md).")
audit_app = typer.Typer(
    no_args_is_help=True, help="The audit log: checkpoints, exports, offline verification."
)
for sub, name in (
    (keys_app, "keys"),
    (id_app, "id"),
    (db_app, "db"),
    (partners_app, "partners"),
    (client_app, "client"),
    (pki_app, "pki"),
    (audit_app, "audit"),
    (formats_app, "formats"),
    (rules_app, "rules"),
    (sco_app, "sco"),
    (report_app, "report"),
    (events_app, "events"),
    (disputes_app, "disputes"),
    (peers_app, "peers"),
    (hsm_app, "hsm"),
):
    app.add_typer(sub, name=name)

Alg = Annotated[str, typer.Option(help="EdDSA (Ed25519, default) or ES256 (P-256).")]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="CXG_CONFIG",
        dir_okay=False,
        help="A TOML file of settings (database_url = ...); CXG_* variables override it.",
    ),
]


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="CXG_DEBUG", help="Show the traceback of an error."),
    ] = False,
    config: ConfigFile = None,
) -> None:
    """The Credit Exchange Gateway."""
    start_session(debug=debug, config=config)
    app.pretty_exceptions_enable = debug


@app.command(epilog=settings_help().replace("[", "\\["))  # [: not Rich markup
def serve(
    config: ConfigFile = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Gateway processes sharing both ports under one supervisor (default"
            " CXG_WORKERS, 1: a single process).",
        ),
    ] = None,
    worker: Annotated[bool, typer.Option("--worker", hidden=True)] = False,
) -> None:
    """Serve gRPC and REST. Settings (below): the defaults, overridden by the --config file,
    overridden by CXG_* variables. Unsafe ones are warned about at start-up. SIGTERM: not ready
    at once, calls in flight finish (CXG_SHUTDOWN_GRACE_SECONDS), a final checkpoint, exit 0."""
    from gateway.transport.serve import Gateway, listening

    if config is not None:
        start_session(debug=_common.session.debug, config=config)
    settings = load_settings()
    observe(settings)
    count = settings.workers if workers is None else workers
    if count < 1:
        raise usage(f"CXG_WORKERS={count}: at least 1 worker", hint="1 serves in this process")
    open_database(settings).dispose()  # refuses a missing or empty database, naming it
    if count > 1 and not worker:
        from gateway.transport.workers import Supervisor

        supervisor = Supervisor(
            settings, count, config=_common.session.config, debug=_common.session.debug
        )
        raise typer.Exit(supervisor.run())
    if worker:
        from gateway.transport.workers import become_worker

        become_worker()
    try:
        gateway = Gateway(settings, reuse_port=worker)
    except (GatewayError, OSError) as exc:  # OSError: a port taken
        raise _fail(f"cannot start: {exc}") from exc
    typer.echo(listening(gateway))
    gateway.run()


def observe(settings: Settings) -> None:
    """A serving process's log lines (CXG_LOG_FORMAT, CXG_LOG_LEVEL) and, when the OTEL_*
    variables name an exporter, its traces."""
    from gateway.observe import logs, traces

    logs.configure(settings.log_format, settings.log_level)
    traces.configure_from_env()


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")
    ] = True,
) -> None:
    """Set up a development gateway (SQLite, generated keys, demo partners and companies) and serve it."""
    from gateway import demo as demo_data
    from gateway.transport.serve import Gateway

    settings = load_settings()
    partner_keys = demo_data.ensure_partners(settings)
    first_ids, packs, code = _with_database(_seed_demo, create=True)
    typer.echo(
        f"cxg demo: {len(first_ids)} companies from {len(partner_keys)} partners ({', '.join(partner_keys)})\n"
        f"  database: {_common.shown_database(settings.database_url)}"
        f"    keys: {settings.keys_dir}/{packs}\n"
        f"  SCO code of {first_ids[0]}: {code.url}"
    )
    if not serve_after:
        return
    observe(settings)
    gateway = Gateway(settings)
    rest = f"http://{settings.host}:{gateway.rest_port}"
    grpc_target = f"{settings.host}:{gateway.grpc_port}"
    scheme, value = first_ids[0].split()
    typer.echo(
        f"""
Every call needs a partner's access token (DPoP-bound, from {rest}/oauth2/token); the demo
partners' private keys are in {settings.keys_dir}/private/. Our partner client does it all:
  .venv/bin/cxg client get {scheme} {value} --as demo-kz-bank --purpose trade_due_diligence
  .venv/bin/cxg client get {scheme} {value} --as demo-ru-credit-bureau --purpose credit_reporting
  .venv/bin/cxg client get {scheme} {value} --as demo-cn-qingdao-customs --purpose customs_clearance --grpc {grpc_target}
Over REST the profile's JWS is verified against {rest}/.well-known/jwks.json.
The company's own signed credit report (PDF/A, its QR code leads to {rest}/r/...):
  .venv/bin/cxg report create {scheme}:{value} --as demo-cn-sme-portal -o report.pdf
Other demo companies: {"; ".join(first_ids[1:])}
API documentation: {rest}/docs    Stop with Ctrl-C.
"""
    )
    gateway.run()


def _seed_demo(settings: Settings, db: Any) -> tuple[list[str], str, Any]:
    """Keys, demo partners, the shipped rule packs, demo companies and an SCO code of the
    first: the first demo company's identifier line, the packs, the code."""
    from gateway import demo as demo_data
    from gateway.service import PartnerAdmin, ProfileExchange
    from gateway.storage.partners import PartnerStore

    partner_keys = demo_data.ensure_partners(settings)
    audited_key_change(settings, db, _demo_keyring, "EdDSA")
    PartnerAdmin(db).import_files(settings.partners_dir)
    store = PartnerStore(db)
    publishers = {p.id: p for p in store.all()}
    # Packs first, so the demo companies' profiles carry the common grade they compute.
    packs = activate_shipped_packs(settings, db)
    exchange = ProfileExchange.from_settings(settings, db, store)
    first_ids = demo_data.seed(exchange, partner_keys, publishers)
    return first_ids, packs, issue_demo_code(settings, db, first_ids[0], publishers)


@app.command("demo-federation")
def demo_federation(
    folder: Annotated[
        Path, typer.Option(file_okay=False, help="Where the three gateways keep their files.")
    ] = Path("federation-demo"),
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep serving after the demonstration.")
    ] = True,
) -> None:
    """Three development gateways (Qingdao CN, Astana KZ, Moscow RU) on 127.0.0.1, each with
    its own SQLite file, keys and demo data, registered as each other's peers: each follows the
    others' federation documents, witnesses their logs and verifies their SCO codes."""
    from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
    from gateway.transport.serve import Gateway

    base = load_settings()
    nodes = [
        dataclasses.replace(
            base,
            gateway_id=f"cxg.{city}.dev",
            country=country,
            database_url=f"sqlite:///{(folder / city / 'cxg.db').resolve()}",
            keys_dir=folder / city / "keys",
            host="127.0.0.1",
            public_url="",
            rest_port=base.rest_port + i,
            grpc_port=base.grpc_port + i,
            metrics_port=base.metrics_port if i == 0 else 0,  # one process: one registry
            federation_allow_http="yes",
        )
        for i, (city, country) in enumerate((("qingdao", "CN"), ("astana", "KZ"), ("moscow", "RU")))
    ]
    codes = {}
    for node in nodes:
        (folder / node.gateway_id.split(".")[1]).mkdir(parents=True, exist_ok=True)
        codes[node.gateway_id] = on_database(node, _seed_demo, create=True)[2].code
    for node in nodes:
        for other in nodes:
            if other is not node:
                on_database(node, functools.partial(_pin_peer, other=other))
    observe(base)
    gateways = [Gateway(node).start() for node in nodes]
    try:
        with acting_as(Actor("gateway", "federation refresh")):
            for gateway in gateways:  # now that all three listen; then on their schedule
                gateway.services.federation.refresh_all()
        qingdao = gateways[0]
        typer.echo("cxg demo-federation: three gateways, each the others' peer")
        for gateway in gateways:
            rest = f"http://127.0.0.1:{gateway.rest_port}"
            typer.echo(f"  {gateway.settings.gateway_id} ({gateway.settings.country}): {rest}")
            typer.echo(f"    its federation document: {rest}/.well-known/cxg-federation")
        for gateway_id, code in codes.items():
            checked = qingdao.services.sco.verify_code(sco_pb.VerifyScoCodeRequest(code=code))
            typer.echo(f"  a code issued by {gateway_id}, checked in Qingdao: {checked.result}")
        kz = f"http://127.0.0.1:{qingdao.rest_port}/v1/peers/astana/checkpoint"
        typer.echo(f"  Astana's log as Qingdao witnessed it: {kz}")
        if serve_after:
            typer.echo("Stop with Ctrl-C.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    finally:
        for gateway in gateways:
            gateway.stop()


def _pin_peer(settings: Settings, db: Any, other: Settings) -> None:
    """Register ``other`` as a peer of ``settings``'s gateway, pinning its keys (which the
    demo reads from its folder: between countries they come from its operator)."""
    from google.protobuf.struct_pb2 import Struct

    from gateway.cli.peers import federation_on
    from gateway.schema.cxg.v1 import federation_service_pb2 as pb
    from gateway.signing import KeyRing

    keys = []
    for jwk in KeyRing.from_settings(other).jwks()["keys"]:
        keys.append(Struct())
        keys[-1].update(jwk)
    city = other.gateway_id.split(".")[1]
    request = pb.RegisterPeerRequest(
        peer_id=city,
        gateway=other.gateway_id,
        url=f"http://127.0.0.1:{other.rest_port}",
        display_name=f"Demo gateway of {other.country}",
        country=other.country,
        jwks=keys,
    )
    with federation_on(settings, db) as federation:
        if any(peer.id == city for peer in federation.peers()):
            return  # registered by an earlier run
        federation.register_peer(request)


# -- keys ------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(alg: Alg = "EdDSA") -> None:
    """Create the gateway's signing key if there is none; print its key id."""
    from gateway.signing import KeyRing

    ring = _with_database(lambda settings, db: audited_key_change(settings, db, KeyRing.init, alg))
    typer.echo(f"active signing key {ring.active.kid} ({ring.active.alg})")


@keys_app.command("rotate")
def keys_rotate(alg: Alg = "EdDSA") -> None:
    """Add a new signing key and make it active; older keys stay published in the JWKS."""
    from gateway.signing import KeyRing

    ring = _with_database(
        lambda settings, db: audited_key_change(settings, db, KeyRing.rotate, alg)
    )
    typer.echo(
        f"active signing key {ring.active.kid} ({ring.active.alg}); {len(ring.keys)} keys published"
    )


def audited_key_change(
    settings: Settings, db: Any, change: Callable[[Path, str], Any], alg: str
) -> Any:
    """Change the gateway's keyring inside a database transaction that records the change: a
    key file that cannot be written leaves no leaf, and a new active key gets one."""
    from gateway.storage.audit import ChangeLog

    with db.write() as conn:
        before = _active_kid(settings.gateway_keys_dir)
        ring = change(settings.gateway_keys_dir, alg)
        if ring.active.kid != before:
            ChangeLog(db).record(
                conn,
                "gateway.key.activate",
                [f"keys/{ring.active.kid}"],
                {"alg": ring.active.alg, "replaces": before, "published": len(ring.keys)},
            )
    return ring


def _demo_keyring(directory: Path, alg: str) -> Any:
    """The keyring, a new one marked as development keys: the gateway warns when it serves
    with such a key active (gateway.config.startup_warnings)."""
    from gateway.signing import KeyRing

    if _active_kid(directory) is not None:
        return KeyRing.init(directory, alg)
    ring = KeyRing.init(directory, alg)
    index_path = directory / "keyring.json"
    index = json.loads(index_path.read_text())
    for entry in index["keys"]:
        if entry["kid"] == ring.active.kid:
            entry[DEVELOPMENT_KEY_MARK] = True
    partial = index_path.with_suffix(".tmp")
    partial.write_text(json.dumps(index, indent=2) + "\n")
    partial.replace(index_path)
    return ring


def _active_kid(directory: Path) -> str | None:
    from gateway.signing import KeyRing

    try:
        return KeyRing.from_dir(directory).active.kid
    except GatewayError:
        return None


@keys_app.command("jwks")
def keys_jwks() -> None:
    """Print the public JWK Set served at /.well-known/jwks.json."""
    from gateway.signing import KeyRing

    ring = KeyRing.from_settings(load_settings())
    typer.echo(json.dumps(ring.jwks(), indent=2))


# -- identifiers -----------------------------------------------------------------------------


@id_app.command("validate")
def id_validate(
    scheme: str,
    value: str,
    accept_check_mismatch: Annotated[
        bool,
        typer.Option(help="Accept a value whose only fault is its check digit (legacy codes)."),
    ] = False,
) -> None:
    """Print the normalized identifier and exit 0 when valid; print the reason and exit 1 when not."""
    accept = frozenset({CHECK_DIGIT_MISMATCH}) if accept_check_mismatch else frozenset()
    try:
        result = validate(scheme, value, accept=accept)
    except InvalidIdentifier as exc:
        raise verdict(f"invalid {exc.scheme} ({exc.rule}): {exc.message}") from exc
    flags = f"  [flagged: {', '.join(sorted(result.flags))}]" if result.flags else ""
    typer.echo(f"{result.scheme} {result.value}{flags}")


# -- database --------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to CXG_DATABASE_URL."""
    from gateway.cli._common import shown_database

    settings = load_settings()
    open_database(settings, create=True).dispose()
    typer.echo(f"database at newest schema: {shown_database(settings.database_url)}")


db_app.command("backup")(db_backup)  # gateway/cli/db.py
db_app.command("restore")(db_restore)


# -- partner formats and bulk import ---------------------------------------------------------


@formats_app.command("list")
def formats_list() -> None:
    """The installed partner formats: name, spec version, encoding, description."""
    from gateway.mapping import adapters

    for adapter in adapters().values():
        spec = adapter.spec
        typer.echo(f"{spec.name}\t{spec.version}\t{spec.format}\t{spec.description}")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The bulk file.")],
    adapter_name: Annotated[str, typer.Option("--adapter", help="Its format (cxg formats list).")],
    partner_id: Annotated[str, typer.Option("--as", help="The partner whose records they are.")],
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Records per transaction.")] = 500,
) -> None:
    """Publish every record of a bulk file in a partner's format, with the validation of a
    single publish, streaming (constant memory), with a progress bar and a summary. Exit
    status 1 when any record was refused."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway._heap import settle
    from gateway.mapping import adapter as find_adapter
    from gateway.service import ProfileExchange
    from gateway.storage.partners import PartnerStore

    def run(settings: Settings, db: Any) -> Any:
        find_adapter(adapter_name, field="--adapter")  # refused before any work, naming the option
        directory = PartnerStore(db)
        partner = directory.get(partner_id)
        if partner is None or partner.status != "active":
            raise _fail(f"no active partner {partner_id!r}")
        # Built and called as the server builds and calls it, so that a record stores the same
        # version (common grade included) whether it comes in here or through the API.
        exchange = ProfileExchange.from_settings(settings, db, directory)
        settle()  # full collections during the import walk only what it makes (gateway._heap)
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[records]} records"), TimeRemainingColumn())  # fmt: skip
        with file.open("rb") as stream, Progress(*columns, transient=True) as progress:
            task = progress.add_task(file.name, total=file.stat().st_size, records=0)

            def advance(record: Any) -> None:
                progress.update(task, completed=stream.tell(), records=record.number)

            try:
                return exchange.import_file(
                    adapter_name, stream, partner, batch=batch, on_record=advance
                )
            except GatewayError as exc:  # refused whole: another format, empty, no publisher
                raise _fail(f"{file}: {exc}") from exc

    summary = _with_database(run)
    typer.echo(
        f"{file}: {summary.records} records: {summary.imported} imported, "
        f"{summary.unchanged} unchanged, {summary.refused} refused"
    )
    # One line per refusal, as compilers write them, so that an editor or grep finds the record.
    for number, location, error in summary.errors:
        typer.echo(f"{file}: record {number} ({location}): {error}", err=True)
    if summary.refused > len(summary.errors):
        typer.echo(f"{file}: ... and {summary.refused - len(summary.errors)} more", err=True)
    if summary.refused:
        raise typer.Exit(1)


# -- partners --------------------------------------------------------------------------------


def _registry(action: Callable[[PartnerAdmin], T]) -> T:
    """Run an operator action on the registry in CXG_DATABASE_URL (see ``_run`` for errors),
    closing the database after it."""
    from gateway.service import PartnerAdmin

    return _with_database(lambda settings, db: action(PartnerAdmin(db)))


@partners_app.command("keygen")
def partners_keygen(
    partner_id: Annotated[str, typer.Argument(help="Partner id: lower-case letters, digits, '-'.")],
    alg: Alg = "EdDSA",
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Folder for both files; default CXG_KEYS_DIR/private/."),
    ] = None,
    name: Annotated[str, typer.Option(help="Its legal name, for the command printed.")] = "NAME",
    country: Annotated[str, typer.Option(help="Its country, for the command printed.")] = "CC",
    role: Annotated[str, typer.Option(help="Its role, for the command printed.")] = "ROLE",
) -> None:
    """Make a partner key pair: ID.pem (private, mode 0600) and ID.jwk.json (public JWK); print
    the command that registers it. Nothing is registered: a partner sends its public JWK."""
    import shlex

    from gateway.signing import SigningKey
    from gateway.trust.pki import PARTNER_ID_PATTERN

    if not PARTNER_ID_PATTERN.fullmatch(partner_id):
        raise usage(f"partner id {partner_id!r}: lower-case letters, digits and '-', 2 to 63")
    if alg not in ("EdDSA", "ES256"):
        raise usage(f"--alg {alg}: not EdDSA or ES256")
    folder = out or load_settings().keys_dir / "private"
    private_path, public_path = folder / f"{partner_id}.pem", folder / f"{partner_id}.jwk.json"
    for path in (private_path, public_path):
        if path.exists():
            raise usage(f"{path}: exists", hint="choose another --out, or move it away first")
    folder.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate(alg)
    with open_private(private_path) as file:
        file.write(key.private_pem().decode("ascii"))
    public_path.write_text(json.dumps(key.public_jwk(), indent=2) + "\n")
    command = ["cxg", "partners", "add", partner_id, "--name", name, "--country", country]
    command += ["--role", role, "--jwk", str(public_path)]
    typer.echo(f"private key {private_path} (keep it secret: only the partner holds it)")
    typer.echo(f"public JWK {public_path} (kid {key.kid}, {key.alg})")
    typer.echo(f"register it with: {shlex.join(command)}")


@partners_app.command("list")
def partners_list() -> None:
    """List registered partners: id, country, roles, status."""
    for partner in _registry(lambda admin: admin.store.all()):
        typer.echo(
            f"{partner.id}\t{partner.country}\t{','.join(sorted(partner.roles))}\t{partner.status}"
        )


@partners_app.command("show")
def partners_show(partner_id: str) -> None:
    """Show a partner: its narrowing and quota, its keys and client certificates."""
    record = _registry(lambda admin: admin.show(partner_id))
    partner = record.partner
    typer.echo(
        f"{partner.id}  {partner.name}  {partner.country}  roles={','.join(sorted(partner.roles))}  {partner.status}"
    )
    typer.echo(f"  operations {','.join(sorted(partner.operations)) or '(all its roles allow)'}")
    typer.echo(f"  purposes {','.join(sorted(partner.purposes)) or '(all its roles allow)'}")
    typer.echo(f"  quota {_quota_text(partner.quota)}")
    for key in record.keys:
        window = f"{key.not_before.isoformat() if key.not_before else '-'} .. {key.not_after.isoformat() if key.not_after else '-'}"
        typer.echo(f"  key {key.kid}  {key.alg}  {key.status}  valid {window}")
    for cert in record.certificates:
        typer.echo(
            f"  cert {cert.thumbprint}  {cert.subject}  valid until {cert.not_after.isoformat()}"
        )


def _quota_text(quota: Quota) -> str:
    limits = zip(
        ("rps", "burst", "daily"),
        (quota.requests_per_second, quota.burst, quota.daily_requests),
        strict=True,
    )
    return "  ".join(f"{name}={'default' if v is None else f'{v:g}'}" for name, v in limits)


@partners_app.command("add")
def partners_add(
    partner_id: Annotated[str, typer.Argument(help="Partner id: lower-case letters, digits, '-'.")],
    name: Annotated[str, typer.Option(help="Legal name of the institution.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country.")],
    role: Annotated[list[str], typer.Option(help="A role; repeat for several.")],
    jwk: Annotated[
        Path,
        typer.Option(help="The partner's public key: a JWK or a JWK Set with one key, with alg."),
    ],
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            help="Allow only this purpose (repeat for several); default: all its roles allow."
        ),
    ] = None,
    operation: Annotated[
        list[str] | None,
        typer.Option(
            help="Allow only this operation (repeat for several); default: all its roles allow."
        ),
    ] = None,
) -> None:
    """Register a partner institution with its first key."""
    from gateway.trust import Partner

    try:
        partner = Partner(
            id=partner_id,
            name=name,
            country=country.upper(),
            roles=frozenset(role),
            purposes=frozenset(purpose or ()),
            operations=frozenset(operation or ()),
        )
    except ValueError as exc:
        raise usage(str(exc), hint="cxg partners add --help") from exc
    key = read_public_jwk(jwk)  # before the database: a bad file changes nothing
    _registry(lambda admin: admin.register(partner, [key]))
    typer.echo(f"registered {partner_id}")


@partners_app.command("add-key")
def partners_add_key(
    partner_id: str,
    jwk: Annotated[Path, typer.Option(help="The new public key (JWK with alg).")],
    not_before: Annotated[
        datetime | None, typer.Option(help="First instant the key is valid (UTC).")
    ] = None,
    not_after: Annotated[
        datetime | None, typer.Option(help="Instant the key stops being valid (UTC).")
    ] = None,
) -> None:
    """Add a key: the old and new keys overlap until the old one is retired (rotation without downtime)."""
    window = {"not_before": _as_utc(not_before), "not_after": _as_utc(not_after)}
    public = read_public_jwk(jwk)  # before the database: a bad file changes nothing
    key = _registry(lambda admin: admin.add_key(partner_id, public, **window))
    typer.echo(f"added key {key.kid} to {partner_id}")


@partners_app.command("retire-key")
def partners_retire_key(kid: str) -> None:
    """Retire a key: it stops verifying at once. A key id may start with '-': write it after
    --, as in ``cxg partners retire-key -- KID``."""
    _registry(lambda admin: admin.retire_key(kid))
    typer.echo(f"retired key {kid}")


@partners_app.command("suspend")
def partners_suspend(partner_id: str) -> None:
    """Suspend a partner: its signatures are refused at once."""
    _registry(lambda admin: admin.suspend(partner_id))
    typer.echo(f"suspended {partner_id}")


@partners_app.command("reinstate")
def partners_reinstate(partner_id: str) -> None:
    """Make a suspended partner active again."""
    _registry(lambda admin: admin.reinstate(partner_id))
    typer.echo(f"reinstated {partner_id}")


@partners_app.command("import")
def partners_import(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of partner files (the file form); default CXG_KEYS_DIR/partners."
        ),
    ] = None,
) -> None:
    """Register partners from their files (ID.json); adds what is missing, changes nothing else."""
    folder = directory or load_settings().partners_dir
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise usage(f"partner folder {folder}: {what}", hint="name the folder of partner files")
    if not any(folder.glob("*.json")):
        raise usage(
            f"partner folder {folder}: no partner files (*.json) in it",
            hint="a partner file is written by cxg demo or by hand (keys/README.md)",
        )
    report = _registry(lambda admin: admin.import_files(folder))
    typer.echo(
        f"imported {report.partners_added} partners, {report.keys_added} keys and"
        f" {report.certificates_added} certificates from {folder}"
    )


@partners_app.command("add-cert")
def partners_add_cert(
    partner_id: str,
    pem_file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="The partner's client certificate (PEM)."),
    ],
) -> None:
    """Register an mTLS client certificate for a partner; prints its x5t#S256 thumbprint."""
    cert = _registry(lambda admin: admin.add_certificate(partner_id, pem_file.read_bytes()))
    typer.echo(f"added certificate {cert.thumbprint} to {partner_id}")


@partners_app.command("remove-cert")
def partners_remove_cert(partner_id: str, thumbprint: str) -> None:
    """Remove a client certificate: connections presenting it no longer identify the partner.
    A thumbprint may start with '-': write it after --, as in ``remove-cert ID -- THUMBPRINT``."""
    _registry(lambda admin: admin.remove_certificate(partner_id, thumbprint))
    typer.echo(f"removed certificate {thumbprint} from {partner_id}")


@partners_app.command("set-quota")
def partners_set_quota(
    partner_id: str,
    rps: Annotated[
        float | None, typer.Option(help="Sustained requests per second; default if unset.")
    ] = None,
    burst: Annotated[
        int | None, typer.Option(help="Requests allowed at once above the rate; default if unset.")
    ] = None,
    daily: Annotated[
        int | None, typer.Option(help="Requests per UTC day; default if unset.")
    ] = None,
) -> None:
    """Replace a partner's quota; a limit not given falls back to the gateway's default."""
    from gateway.trust import Quota

    try:
        quota = Quota(requests_per_second=rps, burst=burst, daily_requests=daily)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    _registry(lambda admin: admin.set_quota(partner_id, quota))
    typer.echo(f"quota of {partner_id}: {_quota_text(quota)}")


def _as_utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


# -- pki -------------------------------------------------------------------------------------

PkiDir = Annotated[Path, typer.Option("--dir", help="PKI folder (serve it with CXG_TLS_DIR).")]


@pki_app.command("init")
def pki_init(directory: PkiDir = Path("keys/pki")) -> None:
    """Create the development CA (kept if present) and a server certificate for 127.0.0.1, ::1, localhost."""
    from gateway.trust import pki

    ca = _run(lambda: pki.init_ca(directory))
    server = _run(lambda: pki.issue_server_certificate(directory))
    typer.echo(f"CA {ca.cert_path} (x5t#S256 {ca.thumbprint})\nserver {server.cert_path}")
    typer.echo(f"serve mutual TLS with: CXG_TLS_DIR={directory} .venv/bin/cxg serve")


@pki_app.command("issue-partner")
def pki_issue_partner(
    partner_id: str,
    directory: PkiDir = Path("keys/pki"),
    replace: Annotated[bool, typer.Option(help="Replace an existing certificate.")] = False,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the certificate for the partner in CXG_DATABASE_URL.",
        ),
    ] = True,
) -> None:
    """Issue a client certificate for a partner; prints its x5t#S256 thumbprint (RFC 8705)."""
    from gateway.trust import pki

    try:
        issued = _run(lambda: pki.issue_partner_certificate(directory, partner_id, replace=replace))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{issued.cert_path}\t{issued.key_path}\tx5t#S256 {issued.thumbprint}")
    if register:
        try:
            _registry(lambda admin: _register_issued(admin, partner_id, issued, replaced=replace))
        except CliError as exc:  # no database here: the certificate is still issued
            typer.echo(
                f"note: the certificate is not registered: {exc.message}; once the database is"
                f" there: cxg partners add-cert {partner_id} {issued.cert_path}",
                err=True,
            )


def _register_issued(
    admin: PartnerAdmin, partner_id: str, issued: IssuedCertificate, *, replaced: bool
) -> None:
    # Notes go to stderr: stdout stays the one tab-separated line scripts read.
    if admin.store.get(partner_id) is None:
        typer.echo(
            f"note: {partner_id} is not a registered partner, so neither is the certificate;"
            f" once it is: cxg partners add-cert {partner_id} {issued.cert_path}",
            err=True,
        )
        return
    admin.add_certificate(partner_id, issued.cert_path.read_bytes())
    typer.echo(f"registered the certificate for {partner_id}", err=True)
    if replaced:
        typer.echo(
            f"note: the certificate replaced stays registered; see cxg partners show {partner_id}"
            f" and cxg partners remove-cert {partner_id} -- THUMBPRINT",
            err=True,
        )


# -- audit ------------------------------------------------------------------------------------

ProofFile = Annotated[
    Path, typer.Argument(help="A proof in the transparency-dev/merkle JSON layout.")
]


def _verify_proof(path: Path, load: Callable[[bytes], Any]) -> None:
    """Offline: the file alone decides, so a partner can check a proof without the gateway."""
    from gateway.errors import ProofError

    try:
        load(path.read_bytes()).verify()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    except ProofError as exc:
        raise verdict(f"not verified: {exc}") from exc
    typer.echo("verified")


@audit_app.command("verify-inclusion")
def audit_verify_inclusion(file: ProofFile) -> None:
    """Check an inclusion proof ({leafIdx, treeSize, root, leafHash, proof}); exit 0 when it holds."""
    from gateway.audit import load_inclusion_json

    _verify_proof(file, load_inclusion_json)


@audit_app.command("verify-consistency")
def audit_verify_consistency(file: ProofFile) -> None:
    """Check a consistency proof ({size1, size2, root1, root2, proof}); exit 0 when it holds."""
    from gateway.audit import load_consistency_json

    _verify_proof(file, load_consistency_json)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log now (unless the latest covers it) and print its note."""
    from gateway.service.audit import AuditLog

    def sign(settings: Settings, db: Any) -> str:
        log = AuditLog.from_settings(settings, db)
        try:
            return str(log.checkpoint(log.sign_checkpoint().size).note)
        finally:
            log.close()

    typer.echo(_with_database(sign), nl=False)


@audit_app.command("export")
def audit_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (else to standard output).")
    ] = None,
) -> None:
    """Write the whole log as JSON Lines: a header, every leaf, every checkpoint with its
    co-signatures. Check it anywhere with cxg audit verify-log."""
    import sys

    from gateway.service.audit_export import AuditExporter

    if out is None:
        _with_database(lambda s, db: AuditExporter.from_settings(s, db).export(sys.stdout))
        return
    check_output(out, "--out")
    partial = out.with_name(out.name + ".partial")  # never leave a cut file under the real name
    try:
        with open_private(partial) as file:  # the leaves hold who asked about whom
            summary = _with_database(lambda s, db: AuditExporter.from_settings(s, db).export(file))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    typer.echo(f"exported {summary.size} leaves and {summary.checkpoints} checkpoints to {out}")


@audit_app.command("verify-log")
def audit_verify_log(
    export: Annotated[Path, typer.Argument(help="A file written by cxg audit export.")],
    key: Annotated[
        str | None,
        typer.Option(
            help="The gateway's checkpoint verifier key (vkey) you trust; without it the"
            " export's own header is trusted."
        ),
    ] = None,
) -> None:
    """Rebuild the tree from the exported leaves and check every checkpoint: its root, the
    gateway's signature and each witness's co-signature. Offline; constant memory."""
    from gateway.audit._export import verify_export

    try:
        report = verify_export(export, key=key)
    except OSError as exc:
        raise _fail(f"cannot read {export}: {exc.strerror}") from exc
    except GatewayError as exc:
        raise verdict(f"not verified: {exc}") from exc
    if report.key_from_header:
        typer.echo(
            f"note: no --key given, so the export's own key {report.verifier_key} was trusted;"
            " pass --key with the key the gateway publishes to check who signed",
            err=True,
        )
    if report.unsigned_leaves:
        typer.echo(
            f"note: the last {report.unsigned_leaves} leaves come after the last checkpoint:"
            " well-formed, but no signature covers them",
            err=True,
        )
    typer.echo(
        f"{report.leaves} leaves, {report.checkpoints} checkpoints,"
        f" {report.cosignatures} co-signatures verified"
    )


@audit_app.command("witness")
def audit_witness(
    partner: As,
    log_key: Annotated[
        str, typer.Option(help="The gateway's checkpoint verifier key (vkey) you trust.")
    ],
    state: Annotated[
        Path, typer.Option(help="Where this witness keeps the last checkpoint it co-signed.")
    ] = Path("witness-state.json"),
    key: Key = None,
    rest: Rest = "http://127.0.0.1:8080",
) -> None:
    """As a witness partner: check the gateway's latest checkpoint against the last one seen
    (a consistency proof), co-sign it and hand the co-signature in. Exit 2 with both notes on a
    split view: a shrinking tree, two roots for one size, or an unreachable root."""
    from gateway.audit.witness import Seen, SplitView
    from gateway.client import ClientError

    last = None
    if state.exists():
        saved = json.loads(state.read_text())
        last = Seen(saved["size"], base64.b64decode(saved["root"]), saved["note"])
    caller = _partner_client(partner, key, rest)
    try:
        seen, checkpoint = caller.witness(log_key, last)
    except SplitView as alarm:
        typer.echo(
            f"SPLIT VIEW: {alarm}\n-- last seen --\n{alarm.seen}-- offered --\n{alarm.offered}",
            err=True,
        )
        raise typer.Exit(2) from alarm
    except (ClientError, GatewayError) as exc:
        raise _fail(str(exc)) from exc
    kept = {"size": seen.size, "root": base64.b64encode(seen.root).decode(), "note": seen.note}
    partial = state.with_name(state.name + ".partial")
    partial.write_text(json.dumps(kept))
    partial.replace(state)
    typer.echo(f"co-signed tree size {seen.size}; cosigners: {', '.join(checkpoint.cosigners)}")
