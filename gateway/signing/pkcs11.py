"""Gateway keys in a PKCS#11 token (an HSM; SoftHSM2 in development and tests).

The private keys are generated in the token, sensitive and not extractable: the gateway only asks
the token to sign. A ``Pkcs11Key`` is a ``Signer`` like a key file's ``SigningKey``, so JWS, COSE
and signed notes are made the same way from either. Mechanisms: ``CKM_EDDSA`` (Ed25519) and
``CKM_ECDSA`` over a SHA-256 digest (ES256; the token returns r || s, as JWS and COSE carry it).

A process logs in to a token once (PKCS#11 login state belongs to the application, not to a
session): every key of the token shares one session, used under one lock. Every failure to open
the token or find a key is ``Unavailable`` with ``field`` naming the setting to fix; the PIN is
read from ``CXG_PKCS11_PIN_FILE`` and never appears in a message.
"""

from __future__ import annotations

import hashlib
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config import Settings
from gateway.errors import Conflict, InvalidArgument, Unavailable
from gateway.observe import traces
from gateway.signing._jwk import SUPPORTED_ALGORITHMS, PublicKey, public_jwk, thumbprint
from gateway.signing._signer import Signer

if TYPE_CHECKING:
    from gateway.signing.keyring import KeyRing

MODULE = "CXG_PKCS11_MODULE"
TOKEN_LABEL = "CXG_PKCS11_TOKEN_LABEL"
KEY_LABEL = "CXG_PKCS11_KEY_LABEL"
CHECKPOINT_KEY_LABEL = "CXG_PKCS11_CHECKPOINT_KEY_LABEL"
PIN_FILE = "CXG_PKCS11_PIN_FILE"

# DER of the curves' EC_PARAMS: OID 1.3.101.112 (Ed25519) and prime256v1 (P-256); some tokens
# name Ed25519 by the PrintableString "edwards25519" instead.
_CURVES = {
    bytes.fromhex("06032b6570"): "EdDSA",
    b"\x13\x0cedwards25519": "EdDSA",
    bytes.fromhex("06082a8648ce3d030107"): "ES256",
}
_EC_PARAMS = {"EdDSA": bytes.fromhex("06032b6570"), "ES256": bytes.fromhex("06082a8648ce3d030107")}
_POINT_LENGTH = {"EdDSA": 32, "ES256": 65}

_open_lock = threading.Lock()
_tokens: dict[
    tuple[str, str], tuple[bytes, Pkcs11Token]
] = {}  # (module, label) -> (PIN digest, token)


@dataclass(frozen=True, eq=False)
class Pkcs11Key(Signer):
    """A key pair in a token: the public half read once, the private half used by handle."""

    kid: str
    alg: str
    label: str
    _public: PublicKey = field(repr=False)
    _private: Any = field(repr=False)  # pkcs11.PrivateKey (the library ships no usable stubs)
    _token: Pkcs11Token = field(repr=False)

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism, PKCS11Error

        if self.alg == "EdDSA":
            message, mechanism = data, Mechanism.EDDSA
        else:
            message, mechanism = hashlib.sha256(data).digest(), Mechanism.ECDSA
        try:
            traced = traces.span("signing", **{"cxg.alg": self.alg, "cxg.key": "pkcs11"})
            with traced, self._token.lock:
                return bytes(self._private.sign(message, mechanism=mechanism))
        except PKCS11Error as exc:
            raise Unavailable(
                f"token {self._token.label!r} did not sign with key {self.label!r}:"
                f" {type(exc).__name__}"
            ) from exc

    def derive_secret(self, info: bytes) -> bytes:
        """Ed25519 signatures are deterministic (RFC 8032), so one over ``info`` is a secret
        only the key's holder can make. ECDSA's are not: for P-256 the token computes ECDH of
        the key with its own public point (d·d·G, unknown to anyone without d)."""
        if self.alg == "EdDSA":
            material = self.sign(b"cxg derived secret\x00" + info)
        else:
            material = self._ecdh_with_own_point()
        return HKDF(hashes.SHA256(), length=32, salt=None, info=info).derive(material)

    def _ecdh_with_own_point(self) -> bytes:
        from pkcs11 import KDF, Attribute, KeyType, PKCS11Error

        assert isinstance(self._public, ec.EllipticCurvePublicKey)
        point = self._public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        try:
            with self._token.lock:
                shared = self._private.derive_key(
                    KeyType.GENERIC_SECRET,
                    256,
                    mechanism_param=(KDF.NULL, None, point),
                    template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                )
                try:
                    return bytes(shared[Attribute.VALUE])
                finally:
                    shared.destroy()
        except PKCS11Error as exc:
            raise Unavailable(
                f"token {self._token.label!r} derived no secret from key {self.label!r}"
                f" (it needs CKA_DERIVE, as cxg hsm generates keys): {type(exc).__name__}"
            ) from exc


class Pkcs11Token:
    """A logged-in session on one token; ``open`` returns the process's one per token."""

    def __init__(self, session: Any, label: str) -> None:
        self._session = session
        self.label = label
        self.lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11Token:
        if settings.pkcs11_module is None:
            raise Unavailable("is unset: the gateway's keys are files", field=MODULE)
        if not settings.pkcs11_token_label:
            raise Unavailable("is unset: name the token holding the keys", field=TOKEN_LABEL)
        if settings.pkcs11_pin_file is None:
            raise Unavailable("is unset: name the file holding the user PIN", field=PIN_FILE)
        return cls.open(
            settings.pkcs11_module, settings.pkcs11_token_label, _read_pin(settings.pkcs11_pin_file)
        )

    @classmethod
    def open(cls, module: Path, token_label: str, pin: str) -> Pkcs11Token:
        """Log in to the token labelled ``token_label`` with the user ``pin``."""
        import pkcs11
        from pkcs11.exceptions import (
            NoSuchToken,
            PinIncorrect,
            PinInvalid,
            PinLenRange,
            PinLocked,
            PKCS11Error,
        )

        digest = hashlib.sha256(pin.encode("utf-8")).digest()
        with _open_lock:
            opened = _tokens.get((str(module), token_label))
            if opened is not None:
                if opened[0] != digest:  # the token has one user PIN, and it is the other one
                    raise Unavailable(f"token {token_label!r} refused the PIN", field=PIN_FILE)
                return opened[1]
            try:
                lib = pkcs11.lib(str(module))
            except PKCS11Error as exc:
                raise Unavailable(f"cannot load {module}: {exc}", field=MODULE) from exc
            try:
                token = lib.get_token(token_label=token_label)
            except NoSuchToken as exc:
                raise Unavailable(
                    f"no token labelled {token_label!r} in {module}", field=TOKEN_LABEL
                ) from exc
            try:
                session = token.open(user_pin=pin, rw=True)
            except (PinIncorrect, PinInvalid, PinLenRange) as exc:
                raise Unavailable(f"token {token_label!r} refused the PIN", field=PIN_FILE) from exc
            except PinLocked as exc:
                raise Unavailable(
                    f"token {token_label!r} has locked its PIN", field=PIN_FILE
                ) from exc
            except PKCS11Error as exc:
                raise Unavailable(
                    f"cannot log in to token {token_label!r}: {type(exc).__name__}",
                    field=TOKEN_LABEL,
                ) from exc
            opened_token = cls(session, token_label)
            _tokens[(str(module), token_label)] = (digest, opened_token)
            return opened_token

    def keyring(self, labels: tuple[str, ...]) -> KeyRing:
        """The keys ``labels`` name, the first one active (``CXG_PKCS11_KEY_LABEL``)."""
        from gateway.signing.keyring import KeyRing

        if not labels:
            raise Unavailable(
                f"is unset: name the signing key in token {self.label!r}", field=KEY_LABEL
            )
        keys = tuple(self.key(label) for label in labels)
        if len({k.kid for k in keys}) != len(keys):
            raise Unavailable("names one key twice", field=KEY_LABEL)
        return KeyRing(active=keys[0], keys=keys)

    def key(self, label: str, setting: str = KEY_LABEL) -> Pkcs11Key:
        """The key pair labelled ``label``; ``setting`` is what named it, for the error."""
        from pkcs11 import Attribute, ObjectClass
        from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error

        try:
            with self.lock:
                private = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
                public_key = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
                params, point = public_key[Attribute.EC_PARAMS], public_key[Attribute.EC_POINT]
        except NoSuchKey as exc:
            raise Unavailable(
                f"no key pair labelled {label!r} in token {self.label!r}"
                f" (hint: cxg hsm init --label {label})",
                field=setting,
            ) from exc
        except MultipleObjectsReturned as exc:
            raise Unavailable(
                f"more than one key labelled {label!r} in token {self.label!r}", field=setting
            ) from exc
        except PKCS11Error as exc:
            raise Unavailable(
                f"key {label!r} in token {self.label!r} is unusable: {type(exc).__name__}",
                field=setting,
            ) from exc
        alg = _CURVES.get(bytes(params))
        if alg is None:
            raise Unavailable(f"key {label!r} is not Ed25519 or P-256", field=setting)
        public = _public_key(alg, bytes(point))
        kid = thumbprint(public_jwk(public))
        return Pkcs11Key(
            kid=kid, alg=alg, label=label, _public=public, _private=private, _token=self
        )

    def generate(self, label: str, alg: str = "EdDSA") -> Pkcs11Key:
        """A new key pair labelled ``label``, generated in the token: its private key is
        sensitive and never extractable. Refuses a label already used."""
        from pkcs11 import Attribute, KeyType, MechanismFlag

        if alg not in SUPPORTED_ALGORITHMS:
            raise InvalidArgument(f"unsupported algorithm {alg!r}", field="alg")
        if not label or any(True for _ in self._session.get_objects({Attribute.LABEL: label})):
            raise Conflict(f"token {self.label!r} already has an object labelled {label!r}")
        key_type = KeyType.EC_EDWARDS if alg == "EdDSA" else KeyType.EC
        capabilities = MechanismFlag.SIGN | MechanismFlag.VERIFY
        if alg == "ES256":
            capabilities |= MechanismFlag.DERIVE  # for derive_secret (ECDH), never exported
        key_id = hashlib.sha256(label.encode("utf-8")).digest()[:16]
        with self.lock:
            parameters = self._session.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: _EC_PARAMS[alg]}, local=True
            )
            parameters.generate_keypair(
                store=True,
                label=label,
                id=key_id,
                capabilities=capabilities,
                private_template={
                    Attribute.EXTRACTABLE: False,
                    Attribute.SENSITIVE: True,
                    Attribute.PRIVATE: True,
                },
            )
        return self.key(label)


def _read_pin(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        pin = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise Unavailable(f"cannot read {path}: {reason}", field=PIN_FILE) from exc
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise Unavailable(
            f"{path} is readable or writable by every user (chmod 600)", field=PIN_FILE
        )
    if not pin:
        raise Unavailable(f"{path} is empty", field=PIN_FILE)
    return pin


def _public_key(alg: str, point: bytes) -> PublicKey:
    """The public key in a CKA_EC_POINT: the point itself, or (as PKCS#11 says, and SoftHSM
    does) wrapped in a DER OCTET STRING."""
    length = _POINT_LENGTH[alg]
    if len(point) == length + 2 and point[:2] == bytes((0x04, length)):
        point = point[2:]
    if alg == "EdDSA":
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
