"""The gateway's own signing keys, kept as files under ``keys/gateway/`` (the development
default) or in a PKCS#11 token (``CXG_PKCS11_MODULE`` set: ``pkcs11.py``).

File layout::

    keys/gateway/keyring.json    {"active": KID, "keys": [{"kid", "alg", "created"}]}
    keys/gateway/KID.pem         PKCS#8 private key, mode 0600 (never committed)

In a token the keyring is ``CXG_PKCS11_KEY_LABEL``, a list of key labels, the active one first.

Every key ever used stays in the keyring and in the published JWKS, so profiles signed before
a rotation still verify. Only the active key signs. Either way a key is a ``Signer``
(``_signer.py``): what is built on its signatures does not know where the key lives.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.observe import traces
from gateway.signing._jwk import (
    SUPPORTED_ALGORITHMS,
    PrivateKey,
    PublicKey,
    algorithm_of,
    public_jwk,
    thumbprint,
)
from gateway.signing._signer import Signer

_log = logging.getLogger("cxg.keys")

_KEYRING = "keyring.json"


@dataclass(frozen=True)
class SigningKey(Signer):
    """A private key held in memory (a key file's, or a partner's): the file backend of
    ``Signer``."""

    kid: str
    alg: str
    private_key: PrivateKey

    @classmethod
    def generate(cls, alg: str = "EdDSA") -> SigningKey:
        if alg not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {alg!r}; choose one of {SUPPORTED_ALGORITHMS}")
        key: PrivateKey = (
            ed25519.Ed25519PrivateKey.generate()
            if alg == "EdDSA"
            else ec.generate_private_key(ec.SECP256R1())
        )
        return cls.from_private_key(key)

    @classmethod
    def from_private_key(cls, key: PrivateKey) -> SigningKey:
        return cls(
            kid=thumbprint(public_jwk(key.public_key())), alg=algorithm_of(key), private_key=key
        )

    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        with traces.span("signing", **{"cxg.alg": self.alg, "cxg.key": "file"}):
            if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
                return self.private_key.sign(data)
            r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def derive_secret(self, info: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            material = self.private_key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        else:
            material = self.private_key.private_numbers().private_value.to_bytes(32, "big")
        return HKDF(hashes.SHA256(), length=32, salt=None, info=info).derive(material)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class KeyRing:
    """The gateway's keys: one active signer, all of them published."""

    active: Signer
    keys: tuple[Signer, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The keyring ``settings`` name: the token's keys when ``CXG_PKCS11_MODULE`` is set,
        else the files under the keys folder."""
        if settings.pkcs11_module is None:
            return cls.from_dir(settings.gateway_keys_dir)
        from gateway.signing.pkcs11 import Pkcs11Token

        return Pkcs11Token.from_settings(settings).keyring(settings.pkcs11_key_label)

    @classmethod
    def from_dir(cls, directory: Path) -> KeyRing:
        index_path = directory / _KEYRING
        try:
            index = json.loads(index_path.read_text())
            keys = tuple(_load_key(directory, entry) for entry in index["keys"])
            active = next(k for k in keys if k.kid == index["active"])
        except FileNotFoundError as exc:
            raise Unavailable(
                f"no gateway signing key in {directory}; run `cxg keys init`"
            ) from exc
        except (KeyError, StopIteration, ValueError) as exc:
            raise Unavailable(f"gateway keyring {index_path} is unusable: {exc}") from exc
        return cls(active=active, keys=keys)

    @classmethod
    def init(cls, directory: Path, alg: str = "EdDSA") -> KeyRing:
        """Load the keyring, creating it with one new key if there is none."""
        if (directory / _KEYRING).exists():
            return cls.from_dir(directory)
        return cls.rotate(directory, alg)

    @classmethod
    def rotate(cls, directory: Path, alg: str = "EdDSA") -> KeyRing:
        """Add a new key and make it the active signer; older keys stay published."""
        directory.mkdir(parents=True, exist_ok=True)
        index_path = directory / _KEYRING
        index = json.loads(index_path.read_text()) if index_path.exists() else {"keys": []}
        key = SigningKey.generate(alg)
        pem_path = directory / f"{key.kid}.pem"
        fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as pem:
            pem.write(key.private_pem())
        index["keys"].append(
            {
                "kid": key.kid,
                "alg": key.alg,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        index["active"] = key.kid
        tmp = index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=2) + "\n")
        tmp.replace(index_path)  # atomic: a crash leaves the old or the new keyring, never half
        _log.info(
            "gateway key activated",
            extra={"fields": {"kid": key.kid, "alg": key.alg, "keys": len(index["keys"])}},
        )
        return cls.from_dir(directory)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk() for k in self.keys]}


def _load_key(directory: Path, entry: dict[str, str]) -> SigningKey:
    private = serialization.load_pem_private_key(
        (directory / f"{entry['kid']}.pem").read_bytes(), None
    )
    if not isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"key {entry['kid']} is not Ed25519 or P-256")
    key = SigningKey.from_private_key(private)
    if key.kid != entry["kid"] or key.alg != entry["alg"]:
        raise ValueError(f"key file {entry['kid']}.pem does not match its keyring entry")
    return key
