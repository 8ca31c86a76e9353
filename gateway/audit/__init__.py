"""The tamper-evident audit log's pure domain: RFC 9162 Merkle trees and C2SP checkpoints.

Storage and transport live elsewhere; everything here is deterministic computation over
bytes and node hashes that the caller supplies (see ``gateway.audit.merkle`` for the
one-read pattern storage follows).
"""

from gateway.audit.merkle import (
    ProofError,
    completed_nodes,
    completed_nodes_batch,
    completion_nodes,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)
from gateway.audit.note import (
    Checkpoint,
    Signature,
    Verifier,
    add_signature,
    parse_note,
    sign_note,
    verifier_key,
    verify_note,
)
from gateway.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    load_consistency_json,
    load_inclusion_json,
)

__all__ = [
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "ProofError",
    "Signature",
    "Verifier",
    "add_signature",
    "completed_nodes",
    "completed_nodes_batch",
    "completion_nodes",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "load_consistency_json",
    "load_inclusion_json",
    "node_hash",
    "parse_note",
    "root",
    "root_nodes",
    "sign_note",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]
