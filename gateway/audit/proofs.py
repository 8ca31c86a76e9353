"""Merkle proofs as JSON documents, in the layout of transparency-dev/merkle's test data.

Inclusion: ``{"leafIdx", "treeSize", "root", "leafHash", "proof"}``; consistency:
``{"size1", "size2", "root1", "root2", "proof"}``. Hashes are standard base64. Other keys
(the vectors carry ``desc`` and ``wantErr``) are ignored. ``"proof": null`` reads as an
empty proof, because that is how Go encodes one.

Loading checks syntax only and names the field at fault; ``verify()`` checks the proof.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from gateway.audit.merkle import ProofError, verify_consistency, verify_inclusion

__all__ = ["ConsistencyProof", "InclusionProof", "load_consistency_json", "load_inclusion_json"]

_MAX_SIZE = 2**64  # tree sizes and indices are uint64 in every CT-style log


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    root: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]

    def verify(self) -> None:
        """Raise ``ProofError`` unless the proof holds."""
        verify_inclusion(self.leaf_index, self.tree_size, self.leaf_hash, self.proof, self.root)

    def to_json(self) -> str:
        return json.dumps(
            {
                "leafIdx": self.leaf_index,
                "treeSize": self.tree_size,
                "root": _b64(self.root),
                "leafHash": _b64(self.leaf_hash),
                "proof": [_b64(h) for h in self.proof],
            }
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: tuple[bytes, ...]

    def verify(self) -> None:
        """Raise ``ProofError`` unless the proof holds."""
        verify_consistency(self.size1, self.size2, self.root1, self.root2, self.proof)

    def to_json(self) -> str:
        return json.dumps(
            {
                "size1": self.size1,
                "size2": self.size2,
                "root1": _b64(self.root1),
                "root2": _b64(self.root2),
                "proof": [_b64(h) for h in self.proof],
            }
        )


def load_inclusion_json(text: str | bytes) -> InclusionProof:
    doc = _object(text)
    return InclusionProof(
        leaf_index=_size(doc, "leafIdx"),
        tree_size=_size(doc, "treeSize"),
        root=_hash(doc, "root"),
        leaf_hash=_hash(doc, "leafHash"),
        proof=_proof(doc),
    )


def load_consistency_json(text: str | bytes) -> ConsistencyProof:
    doc = _object(text)
    return ConsistencyProof(
        size1=_size(doc, "size1"),
        size2=_size(doc, "size2"),
        root1=_hash(doc, "root1"),
        root2=_hash(doc, "root2"),
        proof=_proof(doc),
    )


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _object(text: str | bytes) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ProofError(f"not JSON: {exc}", field="/") from exc
    if not isinstance(doc, dict):
        raise ProofError("must be a JSON object", field="/")
    return doc


def _field(doc: dict[str, Any], name: str) -> Any:
    if name not in doc:
        raise ProofError("is missing", field=f"/{name}")
    return doc[name]


def _size(doc: dict[str, Any], name: str) -> int:
    value = _field(doc, name)
    # bool is an int in Python, and JSON true is no tree size.
    if type(value) is not int or not 0 <= value < _MAX_SIZE:
        raise ProofError("must be an integer from 0 to 2^64-1", field=f"/{name}")
    return value


def _decode(value: Any, pointer: str) -> bytes:
    if not isinstance(value, str):
        raise ProofError("must be a base64 string", field=pointer)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProofError(f"is not standard base64: {exc}", field=pointer) from exc


def _hash(doc: dict[str, Any], name: str) -> bytes:
    return _decode(_field(doc, name), f"/{name}")


def _proof(doc: dict[str, Any]) -> tuple[bytes, ...]:
    value = _field(doc, "proof")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProofError("must be an array of base64 strings", field="/proof")
    return tuple(_decode(item, f"/proof/{i}") for i, item in enumerate(value))
