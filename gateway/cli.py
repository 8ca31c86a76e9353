"""The ``cxg`` command: run the gateway, manage its keys and database, validate identifiers,
and call a gateway as a partner would."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from cryptography.hazmat.primitives import serialization

from gateway.config import Settings
from gateway.errors import GatewayError, InvalidIdentifier
from gateway.identifiers import CHECK_DIGIT_MISMATCH, validate

if TYPE_CHECKING:
    from gateway.service import PartnerAdmin

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
keys_app = typer.Typer(no_args_is_help=True, help="The gateway's signing keys.")
id_app = typer.Typer(no_args_is_help=True, help="Company identifiers.")
db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
partners_app = typer.Typer(no_args_is_help=True, help="Registered partner institutions.")
client_app = typer.Typer(no_args_is_help=True, help="Call a gateway as a partner would.")
pki_app = typer.Typer(no_args_is_help=True, help="Development CA and certificates for mutual TLS.")
for sub, name in (
    (keys_app, "keys"),
    (id_app, "id"),
    (db_app, "db"),
    (partners_app, "partners"),
    (client_app, "client"),
    (pki_app, "pki"),
):
    app.add_typer(sub, name=name)

T = TypeVar("T")
Alg = Annotated[str, typer.Option(help="EdDSA (Ed25519, default) or ES256 (P-256).")]


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@app.command()
def serve() -> None:
    """Serve gRPC and REST (settings from CXG_* environment variables)."""
    from gateway.transport.serve import Gateway

    settings = Settings.from_env()
    try:
        gateway = Gateway(settings)
    except GatewayError as exc:
        raise _fail(f"cannot start: {exc}") from exc
    typer.echo(
        f"cxg: gRPC on {settings.host}:{gateway.grpc_port}, REST on http://{settings.host}:{gateway.rest_port}"
    )
    gateway.run()


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")
    ] = True,
) -> None:
    """Set up a development gateway (SQLite, generated keys, demo partners and companies) and serve it."""
    from gateway import demo as demo_data
    from gateway.service import PartnerAdmin, ProfileExchange
    from gateway.signing import KeyRing
    from gateway.storage import Database
    from gateway.transport.serve import Gateway

    settings = Settings.from_env()
    KeyRing.init(settings.gateway_keys_dir)
    partner_keys = demo_data.ensure_partners(settings)
    db = Database.from_url(settings.database_url)
    db.upgrade()
    PartnerAdmin(db).import_files(settings.partners_dir)
    first_ids = demo_data.seed(ProfileExchange.from_settings(settings, db), partner_keys)
    db.dispose()
    typer.echo(
        f"cxg demo: {len(first_ids)} companies from {len(partner_keys)} partners ({', '.join(partner_keys)})\n"
        f"  database: {settings.database_url}    keys: {settings.keys_dir}/"
    )
    if not serve_after:
        return
    gateway = Gateway(settings)
    rest = f"http://{settings.host}:{gateway.rest_port}"
    grpc_target = f"{settings.host}:{gateway.grpc_port}"
    scheme, value = first_ids[0].split()
    typer.echo(
        f"""
Fetch a profile over REST (signed JWS + decoded profile), and the keys to verify it:
  curl -s '{rest}/v1/profiles:lookup?scheme={scheme}&value={value}'
  curl -s {rest}/.well-known/jwks.json
Over gRPC (our client; or grpcurl with server reflection):
  .venv/bin/cxg client get {scheme} {value} --grpc {grpc_target}
  grpcurl -plaintext -d '{{"id": {{"scheme": "{scheme}", "value": "{value}"}}}}' {grpc_target} cxg.v1.ProfileService/GetProfile
Fetch over REST and verify the signature against the published JWKS:
  .venv/bin/cxg client get {scheme} {value} --rest {rest}
Other demo companies: {"; ".join(first_ids[1:])}
API documentation: {rest}/docs    Stop with Ctrl-C.
"""
    )
    gateway.run()


# -- keys ------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(alg: Alg = "EdDSA") -> None:
    """Create the gateway's signing key if there is none; print its key id."""
    from gateway.signing import KeyRing

    ring = KeyRing.init(Settings.from_env().gateway_keys_dir, alg)
    typer.echo(f"active signing key {ring.active.kid} ({ring.active.alg})")


@keys_app.command("rotate")
def keys_rotate(alg: Alg = "EdDSA") -> None:
    """Add a new signing key and make it active; older keys stay published in the JWKS."""
    from gateway.signing import KeyRing

    ring = KeyRing.rotate(Settings.from_env().gateway_keys_dir, alg)
    typer.echo(
        f"active signing key {ring.active.kid} ({ring.active.alg}); {len(ring.keys)} keys published"
    )


@keys_app.command("jwks")
def keys_jwks() -> None:
    """Print the public JWK Set served at /.well-known/jwks.json."""
    from gateway.signing import KeyRing

    try:
        ring = KeyRing.from_dir(Settings.from_env().gateway_keys_dir)
    except GatewayError as exc:
        raise _fail(str(exc)) from exc
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
        raise _fail(f"invalid {exc.scheme} ({exc.rule}): {exc.message}") from exc
    flags = f"  [flagged: {', '.join(sorted(result.flags))}]" if result.flags else ""
    typer.echo(f"{result.scheme} {result.value}{flags}")


# -- database --------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to CXG_DATABASE_URL."""
    from gateway.storage import Database

    settings = Settings.from_env()
    db = Database.from_url(settings.database_url)
    db.upgrade()
    db.dispose()
    typer.echo(f"database at newest schema: {db.engine.url.render_as_string(hide_password=True)}")


# -- partners --------------------------------------------------------------------------------


def _partner_admin() -> PartnerAdmin:
    from gateway.service import PartnerAdmin
    from gateway.storage import Database

    db = Database.from_url(Settings.from_env().database_url)
    db.upgrade()
    return PartnerAdmin(db)


def _read_jwk(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    keys = document.get("keys", [document])  # a JWK Set with one key, or a bare JWK
    if len(keys) != 1:
        raise _fail(f"{path} must hold exactly one public JWK")
    jwk: dict[str, Any] = keys[0]
    return jwk


def _run(action: Callable[[], T]) -> T:
    """Run an operator action; a GatewayError becomes its message on stderr and exit status 1."""
    try:
        return action()
    except GatewayError as exc:
        raise _fail(str(exc)) from exc


@partners_app.command("list")
def partners_list() -> None:
    """List registered partners: id, country, roles, status."""
    for partner in _partner_admin().store.all():
        typer.echo(
            f"{partner.id}\t{partner.country}\t{','.join(sorted(partner.roles))}\t{partner.status}"
        )


@partners_app.command("show")
def partners_show(partner_id: str) -> None:
    """Show a partner and its keys with their validity and status."""
    partner, keys = _run(lambda: _partner_admin().show(partner_id))
    typer.echo(
        f"{partner.id}  {partner.name}  {partner.country}  roles={','.join(sorted(partner.roles))}  {partner.status}"
    )
    for key in keys:
        window = f"{key.not_before.isoformat() if key.not_before else '-'} .. {key.not_after.isoformat() if key.not_after else '-'}"
        typer.echo(f"  key {key.kid}  {key.alg}  {key.status}  valid {window}")


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
) -> None:
    """Register a partner institution with its first key."""
    from gateway.trust import Partner

    try:
        partner = Partner(id=partner_id, name=name, country=country.upper(), roles=frozenset(role))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    _run(lambda: _partner_admin().register(partner, [_read_jwk(jwk)]))
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
    key = _run(lambda: _partner_admin().add_key(partner_id, _read_jwk(jwk), **window))
    typer.echo(f"added key {key.kid} to {partner_id}")


@partners_app.command("retire-key")
def partners_retire_key(kid: str) -> None:
    """Retire a key: it stops verifying at once."""
    _run(lambda: _partner_admin().retire_key(kid))
    typer.echo(f"retired key {kid}")


@partners_app.command("suspend")
def partners_suspend(partner_id: str) -> None:
    """Suspend a partner: its signatures are refused at once."""
    _run(lambda: _partner_admin().suspend(partner_id))
    typer.echo(f"suspended {partner_id}")


@partners_app.command("reinstate")
def partners_reinstate(partner_id: str) -> None:
    """Make a suspended partner active again."""
    _run(lambda: _partner_admin().reinstate(partner_id))
    typer.echo(f"reinstated {partner_id}")


@partners_app.command("import")
def partners_import(
    directory: Annotated[
        Path, typer.Argument(help="Folder of partner files (the file form).")
    ] = Path("keys/partners"),
) -> None:
    """Register partners from their files; adds what is missing, changes nothing else."""
    report = _run(lambda: _partner_admin().import_files(directory))
    typer.echo(
        f"imported {report.partners_added} partners and {report.keys_added} keys from {directory}"
    )


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
) -> None:
    """Issue a client certificate for a partner; prints its x5t#S256 thumbprint (RFC 8705)."""
    from gateway.trust import pki

    try:
        issued = _run(lambda: pki.issue_partner_certificate(directory, partner_id, replace=replace))
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{issued.cert_path}\t{issued.key_path}\tx5t#S256 {issued.thumbprint}")


# -- client ----------------------------------------------------------------------------------

Grpc = Annotated[str | None, typer.Option("--grpc", help="gRPC target host:port.")]
Rest = Annotated[
    str | None, typer.Option("--rest", help="REST base URL, e.g. http://127.0.0.1:8080.")
]


@client_app.command("get")
def client_get(scheme: str, value: str, grpc: Grpc = None, rest: Rest = None) -> None:
    """Fetch a profile by identifier and print it. Over REST the JWS is verified against the
    gateway's published JWKS first."""
    from gateway import client

    if (grpc is None) == (rest is None):
        raise _fail("give exactly one of --grpc or --rest")
    try:
        profile = (
            client.get_grpc(grpc, scheme, value)
            if grpc
            else client.get_verified_rest(str(rest), scheme, value)
        )
    except client.ClientError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(profile, ensure_ascii=False, indent=2))


@client_app.command("publish")
def client_publish(
    profile: Annotated[Path, typer.Argument(help="CreditProfile as proto3 JSON.")],
    key: Annotated[Path, typer.Option(help="The partner's private key (PEM).")],
    grpc: Grpc = None,
    rest: Rest = None,
) -> None:
    """Sign a profile with a partner key and publish it; print the gateway's receipt."""
    from gateway import client
    from gateway.signing import SigningKey

    if (grpc is None) == (rest is None):
        raise _fail("give exactly one of --grpc or --rest")
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    signer = SigningKey.from_private_key(private)  # type: ignore[arg-type]
    jws = signer.sign_jws(profile.read_bytes(), {"typ": "cxg-profile+jws"})
    try:
        receipt = client.publish_grpc(grpc, jws) if grpc else client.publish_rest(str(rest), jws)
    except client.ClientError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(receipt, indent=2))


if __name__ == "__main__":  # `python -m gateway.cli`, as the tests run it
    app(prog_name="cxg")
