"""``cxg client``: call a gateway as a partner would, through the partner SDK (``cxg_client``,
clients/python): get and publish profiles, and print an access token and DPoP proofs so that
``curl`` and ``grpcurl`` calls are one-liners.

Where the gateway is comes from the same CXG_* settings the server reads (CXG_PUBLIC_URL, else
CXG_HOST and CXG_REST_PORT; CXG_GRPC_PORT; CXG_TLS_DIR for mutual TLS; CXG_GATEWAY_ID), so the
commands ``cxg demo`` prints work whatever ports it runs on."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization

from gateway._private_files import open_private
from gateway.cli._common import _fail
from gateway.config import Settings

if TYPE_CHECKING:
    from cxg_client import Client

client_app = typer.Typer(no_args_is_help=True, help="Call a gateway as a partner would.")

Grpc = Annotated[
    str | None,
    typer.Option("--grpc", help="Call over gRPC at this host:port (else REST)."),
]
# `cxg audit witness` (gateway/cli/__init__.py) takes these three as well.
Rest = Annotated[
    str,
    typer.Option(
        "--rest", help="REST base URL; the access token always comes from its /oauth2/token."
    ),
]
As = Annotated[str, typer.Option("--as", help="Call as this partner id.")]
Key = Annotated[
    Path | None,
    typer.Option(help="The partner's private key (PEM); default keys/private/PARTNER.pem."),
]
RestUrl = Annotated[
    str | None,
    typer.Option(
        "--rest",
        help="REST base URL (default: CXG_PUBLIC_URL, else CXG_HOST and CXG_REST_PORT); the"
        " access token always comes from its /oauth2/token.",
    ),
]
Partner = Annotated[
    str,
    typer.Option("--as", "--partner", envvar="CXG_PARTNER", help="Call as this partner id."),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="CXG_CLIENT_DIR",
        help="Where `token` keeps the token and its DPoP key for `dpop` (default"
        " ~/.config/cxg/client; files mode 0600).",
    ),
]
Mtls = Annotated[
    bool,
    typer.Option(
        "--mtls",
        help="Bind the token to the partner's certificate (CXG_TLS_DIR/partners/) instead of"
        " a DPoP key: a Bearer token for `curl --cert`.",
    ),
]


def _partner_client(partner_id: str, key: Path | None, rest: str) -> Any:
    """The gateway's own client (gateway/client.py), which `cxg audit witness` uses."""
    from gateway import client
    from gateway.signing import SigningKey

    settings = Settings.from_env()
    path = key or settings.keys_dir / "private" / f"{partner_id}.pem"
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the private key {path}: {exc}") from exc
    signer = SigningKey.from_private_key(private)  # type: ignore[arg-type]
    return client.PartnerClient(partner_id, signer, gateway_id=settings.gateway_id, rest_url=rest)


# -- where the gateway is ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    settings: Settings
    rest_url: str
    grpc_target: str


def _target(rest: str | None) -> _Target:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.tls_dir else "http"
    default = settings.public_url or f"{scheme}://{host}:{settings.rest_port}"
    return _Target(settings, (rest or default).rstrip("/"), f"{host}:{settings.grpc_port}")


def _sdk_client(
    partner_id: str,
    key: Path | None,
    rest: str | None,
    grpc: str | None = None,
    *,
    mtls: bool | None = None,
    dpop_key: Any = None,
) -> Client:
    from cxg_client import Client, Mtls, PartnerKey

    target = _target(rest)
    settings = target.settings
    path = key or settings.keys_dir / "private" / f"{partner_id}.pem"
    try:
        partner_key = PartnerKey.from_file(partner_id, path)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the private key {path}: {exc}") from exc
    tls = None
    if settings.tls_dir is not None:
        tls = Mtls.from_dir(settings.tls_dir, partner_id)
        missing = [str(p) for p in (tls.cert, tls.key, tls.ca) if not p.is_file()]
        if missing:
            raise _fail(
                f"CXG_TLS_DIR is set but {', '.join(missing)} is missing"
                f" (cxg pki issue-partner {partner_id})"
            )
    elif mtls:
        raise _fail("--mtls needs CXG_TLS_DIR (the PKI folder of cxg pki init)")
    return Client(
        partner_key,
        gateway_id=settings.gateway_id,
        rest_url=target.rest_url,
        grpc_target=grpc or target.grpc_target,
        transport="grpc" if grpc else "rest",
        mtls=tls,
        use_dpop=not mtls,
        dpop_key=dpop_key,
    )


def _calling(client: Client, action: Any) -> Any:
    from cxg_client import CxgError

    try:
        with client:
            return action(client)
    except CxgError as exc:
        raise _fail(str(exc)) from exc


# -- get, publish ------------------------------------------------------------------------------


@client_app.command("get")
def client_get(
    scheme: str,
    value: str,
    partner: Partner,
    purpose: Annotated[str, typer.Option(help="Why you ask; decides the fields you get.")],
    consent: Annotated[str, typer.Option(help="consents/ID, when the purpose needs it.")] = "",
    version: Annotated[int, typer.Option(min=0, help="A given version (0: the latest).")] = 0,
    key: Key = None,
    rest: RestUrl = None,
    grpc: Grpc = None,
) -> None:
    """Fetch a profile by identifier as a partner and print it, once its JWS verified against
    the gateway's published JWKS (over either transport)."""
    signed = _calling(
        _sdk_client(partner, key, rest, grpc),
        lambda c: c.get_profile(
            scheme=scheme, value=value, purpose=purpose, consent=consent, version=version
        ),
    )
    typer.echo(json.dumps(signed.profile, ensure_ascii=False, indent=2))


@client_app.command("publish")
def client_publish(
    profile: Annotated[
        Path, typer.Argument(help="CreditProfile as proto3 JSON (e.g. clients/python/examples/).")
    ],
    partner: Partner,
    key: Key = None,
    rest: RestUrl = None,
    grpc: Grpc = None,
) -> None:
    """Sign a profile with the partner's key (the file's bytes exactly) and publish it; print
    the gateway's verified receipt. Publishing the same signed bytes again answers the same
    receipt, so a lost answer is safely retried."""
    try:
        payload = profile.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {profile}: {exc.strerror}") from exc
    receipt = _calling(_sdk_client(partner, key, rest, grpc), lambda c: c.publish_profile(payload))
    typer.echo(json.dumps(receipt.fields, indent=2))


# -- token, dpop -------------------------------------------------------------------------------


def _state_dir(state: Path | None) -> Path:
    if state is not None:
        return state
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cxg" / "client"


def _kept(state: Path, partner_id: str) -> dict[str, Any] | None:
    try:
        kept: dict[str, Any] = json.loads((state / f"{partner_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return kept


@client_app.command("token")
def client_token(
    partner: Partner,
    key: Key = None,
    rest: RestUrl = None,
    mtls: Mtls = False,
    state: StateDir = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Buy a new token even if the kept one is valid.")
    ] = False,
) -> None:
    """Print an access token for curl or grpcurl: DPoP-bound (the DPoP key is kept, mode 0600,
    for `cxg client dpop`), or with --mtls bound to the partner's certificate. A kept token is
    printed again while it has more than a minute left."""
    from cxg_client import DpopKey

    directory = _state_dir(state)
    target = _target(rest)
    kept = None if fresh else _kept(directory, partner)
    if (
        kept is not None
        and kept.get("rest_url") == target.rest_url
        and kept.get("mtls") == mtls
        and kept.get("expires_at", 0) > time.time() + 60
    ):
        typer.echo(kept["access_token"])
        return
    dpop_key = None if mtls else DpopKey()
    token = _calling(
        _sdk_client(partner, key, rest, mtls=mtls, dpop_key=dpop_key), lambda c: c.access_token()
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dpop_key is not None:
        with open_private(directory / f"{partner}-dpop.pem") as pem:
            pem.write(dpop_key.to_pem().decode("ascii"))
    record = {
        "access_token": token.value,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "rest_url": target.rest_url,
        "mtls": mtls,
    }
    with open_private(directory / f"{partner}.json") as file:
        json.dump(record, file)
    typer.echo(token.value)


@client_app.command("dpop")
def client_dpop(
    method: Annotated[str, typer.Argument(help="The request's method (gRPC: POST).")],
    url: Annotated[
        str,
        typer.Argument(
            help="The request's URL, or for gRPC the method's path"
            " (cxg.v1.ProfileService/SearchProfiles): htu is then https://GATEWAY_ID/PATH."
        ),
    ],
    partner: Partner,
    state: StateDir = None,
    nonce: Annotated[
        str | None, typer.Option(help="The server's DPoP-Nonce, when it asked for one.")
    ] = None,
) -> None:
    """Print a DPoP proof for one request with the token `cxg client token` printed last (it
    names the token's hash, ath). A proof is good for one request: make one per call."""
    from cxg_client import DpopKey

    directory = _state_dir(state)
    kept = _kept(directory, partner)
    if kept is None or kept.get("token_type") != "DPoP":
        raise _fail(f"no DPoP-bound token kept for {partner}: run cxg client token first")
    try:
        dpop_key = DpopKey.from_pem((directory / f"{partner}-dpop.pem").read_bytes())
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read the kept DPoP key: {exc}") from exc
    if "://" not in url:
        url = f"https://{Settings.from_env().gateway_id}/{url.lstrip('/')}"
    typer.echo(dpop_key.proof(method, url, access_token=kept["access_token"], nonce=nonce))
