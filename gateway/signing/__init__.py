"""The gateway's signing keys and JWS production (RFC 7515, kid per RFC 7638). A key is a
``Signer``: a file's ``SigningKey``, or a PKCS#11 token's (``gateway.signing.pkcs11``)."""

from gateway.signing._jwk import (
    SUPPORTED_ALGORITHMS,
    PrivateKey,
    PublicKey,
    algorithm_of,
    public_jwk,
    thumbprint,
)
from gateway.signing._signer import Signer
from gateway.signing.keyring import KeyRing, SigningKey

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "KeyRing",
    "PrivateKey",
    "PublicKey",
    "Signer",
    "SigningKey",
    "algorithm_of",
    "public_jwk",
    "thumbprint",
]
