"""``cxg hsm``: the gateway's keys in a PKCS#11 token (``CXG_PKCS11_*``; gateway/signing/pkcs11.py).

Keys are generated in the token, never extractable. A new signing key is recorded in the audit
log as ``cxg keys rotate`` records a file key (``gateway.key.activate``); it signs once the
gateway runs with it first in ``CXG_PKCS11_KEY_LABEL``, and the labels after it stay published.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from gateway.cli._common import _with_database, load_settings
from gateway.config import Settings
from gateway.errors import Conflict, Unavailable

hsm_app = typer.Typer(
    no_args_is_help=True,
    help="The gateway's signing and checkpoint keys in a PKCS#11 token (CXG_PKCS11_* settings).",
)

_log = logging.getLogger("cxg.keys")

Label = Annotated[str, typer.Option("--label", help="Label of the new signing key in the token.")]
Alg = Annotated[str, typer.Option(help="EdDSA (Ed25519, default) or ES256 (P-256).")]


@hsm_app.command("init")
def hsm_init(label: Label, alg: Alg = "EdDSA") -> None:
    """Generate the gateway's first signing key in the token, and its Ed25519 checkpoint key
    (CXG_PKCS11_CHECKPOINT_KEY_LABEL) unless there is one; a key already labelled LABEL is kept."""
    labels = _with_database(lambda settings, db: _change(settings, db, label, alg, rotate=False))
    _tell(labels)


@hsm_app.command("rotate")
def hsm_rotate(label: Label, alg: Alg = "EdDSA") -> None:
    """Generate a new signing key in the token, to sign instead of the CXG_PKCS11_KEY_LABEL keys,
    which stay published in the JWKS."""
    labels = _with_database(lambda settings, db: _change(settings, db, label, alg, rotate=True))
    _tell(labels)


def _change(settings: Settings, db: Any, label: str, alg: str, *, rotate: bool) -> list[str]:
    """Make the key (inside a transaction that records it: a key that cannot be made leaves no
    leaf) and return the labels CXG_PKCS11_KEY_LABEL must then hold."""
    from gateway.signing.pkcs11 import KEY_LABEL, Pkcs11Token
    from gateway.storage.audit import ChangeLog

    token = Pkcs11Token.from_settings(settings)
    old = token.keyring(settings.pkcs11_key_label) if rotate else None
    with db.write() as conn:
        if not rotate:
            _checkpoint_key(token, settings)
            try:
                return [token.key(label).label]
            except Unavailable:
                pass  # no key of that label yet: make it
        if old is not None and label in settings.pkcs11_key_label:
            raise Conflict(f"{label!r} is already in the keyring", field=KEY_LABEL)
        key = token.generate(label, alg)
        published = [] if old is None else [k.kid for k in old.keys]
        ChangeLog(db).record(
            conn,
            "gateway.key.activate",
            [f"keys/{key.kid}"],
            {
                "alg": key.alg,
                "replaces": None if old is None else old.active.kid,
                "published": len(published) + 1,
                "pkcs11_label": key.label,
            },
        )
    _log.info(
        "gateway key activated",
        extra={"fields": {"kid": key.kid, "alg": key.alg, "pkcs11Label": key.label}},
    )
    return [label, *(settings.pkcs11_key_label if rotate else ())]


def _checkpoint_key(token: Any, settings: Settings) -> None:
    from gateway.signing.pkcs11 import CHECKPOINT_KEY_LABEL

    try:
        key = token.key(settings.pkcs11_checkpoint_key_label, CHECKPOINT_KEY_LABEL)
    except Unavailable:
        key = token.generate(settings.pkcs11_checkpoint_key_label, "EdDSA")
        typer.echo(f"checkpoint key {key.label!r} generated (Ed25519)", err=True)
    if key.alg != "EdDSA":
        raise Unavailable("must label an Ed25519 key", field=CHECKPOINT_KEY_LABEL)


def _tell(labels: list[str]) -> None:
    ring = _keyring_of(labels)
    typer.echo(
        f"signing key {labels[0]!r}: {ring.active.kid} ({ring.active.alg}); {len(ring.keys)} keys"
        " published once the gateway runs with\n"
        f"CXG_PKCS11_KEY_LABEL={','.join(labels)}"
    )


def _keyring_of(labels: list[str]) -> Any:
    from gateway.signing.pkcs11 import Pkcs11Token

    return Pkcs11Token.from_settings(load_settings()).keyring(tuple(labels))
