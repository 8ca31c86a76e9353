"""RFC 9162 Merkle tree arithmetic over stored perfect subtrees, and proof verification.

The log keeps one hash per *perfect* subtree: node ``(level, index)`` covers leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Those
nodes never change once written, so they can be stored append-only. Every hash the RFC
needs (a root, a PATH or SUBPROOF element) is ``MTH(D[a:b])`` for a range whose perfect
decomposition has at most ``log2(n)`` nodes, and only one range per proof is not itself
perfect: a proof therefore needs at most about ``2 * log2(n)`` stored nodes.

Each computation comes in two halves so that storage makes exactly one read::

    ids = inclusion_nodes(index, size)               # which nodes to fetch
    hashes = repository.fetch(ids)                   # one query, O(log n) rows
    proof = inclusion_proof(index, size, hashes)     # pure CPU, no I/O

Appending works the same way: ``completion_nodes(size, k)`` names the stored nodes needed
to append ``k`` leaves, ``completed_nodes_batch`` returns the new nodes to write. Reading
``root_nodes(size)`` instead (a superset) also lets the new root be computed in the same
pass: ``root(size + k, ChainMap(new_nodes, old_nodes))``.

A missing node is a storage bug, not bad input: it surfaces as the mapping's ``KeyError``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence

from gateway.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Node",
    "ProofError",
    "completed_nodes",
    "completed_nodes_batch",
    "completion_nodes",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_nodes",
    "verify_consistency",
    "verify_inclusion",
]

Node = tuple[int, int]
"""A perfect subtree: ``(level, index)``."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the domain prefix keeps leaves and nodes apart."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- ranges -----------------------------------------------------------------------------
# A range (a, b) below is always one the RFC recursion produces: a is a multiple of a
# power of two >= b - a, so its perfect decomposition follows the bits of b - a.


def _range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees tiling ``[start, end)``, left to right."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """``MTH(D[start:end])``: fold the decomposition from the right, as MTH splits."""
    hashes = [nodes[n] for n in _range_nodes(start, end)]
    result = hashes.pop()
    while hashes:
        result = node_hash(hashes.pop(), result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH form ``PATH(index, D[0:size])`` (RFC 9162 2.1.3.1), in order."""
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # largest power of two < hi - lo
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()  # the recursion appends on the way out: deepest first
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges whose MTH form ``PROOF(first, D[0:second])`` (RFC 9162 2.1.4.1), in order."""
    ranges = []
    lo, hi, complete = 0, second, True
    while first != hi:
        k = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        if first <= k:
            ranges.append((k, hi))
            hi = k
        else:
            ranges.append((lo, k))
            lo, complete = k, False
    if not complete:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _nodes_of(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    return list(dict.fromkeys(n for a, b in ranges for n in _range_nodes(a, b)))


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ProofError(f"must not be negative, got {value}", field=name)


# --- what storage fetches, and what it computes from them --------------------------------


def root_nodes(size: int) -> list[Node]:
    """The nodes ``root(size)`` needs: one per set bit of ``size``."""
    _check_size("size", size)
    return _range_nodes(0, size)


def root(size: int, nodes: Mapping[Node, bytes]) -> bytes:
    """``MTH(D[0:size])``; the empty tree's root is ``SHA-256("")``."""
    _check_size("size", size)
    return _range_hash(0, size, nodes) if size else EMPTY_ROOT


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """The nodes ``inclusion_proof(index, size)`` needs (at most about 2·log2(size))."""
    _check_index(index, size)
    return _nodes_of(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """RFC 9162 ``PATH(index, D[0:size])``."""
    _check_index(index, size)
    return [_range_hash(a, b, nodes) for a, b in _inclusion_ranges(index, size)]


def consistency_nodes(first: int, second: int) -> list[Node]:
    """The nodes ``consistency_proof(first, second)`` needs."""
    _check_sizes(first, second)
    return _nodes_of(_consistency_ranges(first, second)) if first > 0 else []


def consistency_proof(first: int, second: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """RFC 9162 ``PROOF(first, D[0:second])``; empty when ``first`` is 0 or ``second``."""
    _check_sizes(first, second)
    if first == 0:
        return []
    return [_range_hash(a, b, nodes) for a, b in _consistency_ranges(first, second)]


def _check_index(index: int, size: int) -> None:
    _check_size("index", index)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}", field="index")


def _check_sizes(first: int, second: int) -> None:
    _check_size("first", first)
    if first > second:
        raise ProofError(f"first size {first} is larger than second size {second}", field="first")


# --- appending ---------------------------------------------------------------------------


def _trailing_ones(index: int) -> int:
    return (index ^ (index + 1)).bit_length() - 1


def completion_nodes(index: int, count: int = 1) -> list[Node]:
    """The stored nodes needed to append ``count`` leaves at ``index`` (= the current size).

    They are the left siblings of the subtrees the new leaves complete; all belong to
    ``root_nodes(index)``.
    """
    _check_size("index", index)
    if count < 1:
        raise ProofError(f"must be at least 1, got {count}", field="count")
    end = index + count
    return [(level, i) for level, i in root_nodes(index) if (i + 2) << level <= end]


def completed_nodes(
    index: int, leaf_hash: bytes, nodes: Mapping[Node, bytes]
) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees (level >= 1) completed when ``leaf_hash`` is appended at ``index``.

    ``nodes`` must hold ``completion_nodes(index)``; the leaf itself (level 0) is the
    caller's to store.
    """
    _check_size("index", index)
    completed = []
    current = leaf_hash
    for level in range(_trailing_ones(index)):
        current = node_hash(nodes[(level, (index >> level) - 1)], current)
        completed.append((level + 1, index >> (level + 1), current))
    return completed


def completed_nodes_batch(
    index: int, leaf_hashes: Sequence[bytes], nodes: Mapping[Node, bytes]
) -> list[tuple[int, int, bytes]]:
    """``completed_nodes`` for ``leaf_hashes`` appended in order from ``index``.

    ``nodes`` must hold ``completion_nodes(index, len(leaf_hashes))``; nodes completed
    earlier in the batch are taken from the batch itself.
    """
    fresh: dict[Node, bytes] = {}
    known = ChainMap(fresh, nodes)  # type: ignore[arg-type]  # read-only use of nodes
    completed = []
    for offset, leaf in enumerate(leaf_hashes):
        fresh[(0, index + offset)] = leaf
        for level, i, value in completed_nodes(index + offset, leaf, known):
            fresh[(level, i)] = value
            completed.append((level, i, value))
    return completed


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"must be a {HASH_SIZE}-byte hash, got {len(value)} bytes", field=name)


def _check_proof(proof: Sequence[bytes], want: int, what: str) -> None:
    if len(proof) != want:
        raise ProofError(f"has {len(proof)} hashes; {what} has {want}", field="proof")
    for i, value in enumerate(proof):
        _check_hash(f"proof[{i}]", value)


def _mismatch(field: str) -> ProofError:
    return ProofError("does not match the hash the proof computes", field=field)


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree of ``tree_size`` with ``root``.

    Raises ``ProofError`` naming the field at fault; returns only when the proof holds.
    """
    _check_size("tree_size", tree_size)
    _check_size("leaf_index", leaf_index)
    if leaf_index >= tree_size:  # step 1
        raise ProofError(
            f"leaf index {leaf_index} is not below tree size {tree_size}", field="leaf_index"
        )
    _check_hash("leaf_hash", leaf_hash)
    _check_hash("root", root)
    _check_proof(
        proof,
        len(_inclusion_ranges(leaf_index, tree_size)),
        f"an inclusion proof for leaf {leaf_index} in a tree of size {tree_size}",
    )
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash  # steps 2-3
    for p in proof:  # step 4
        if sn == 0:
            raise ProofError("is longer than the tree is deep", field="proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 5
        raise ProofError("is shorter than the tree is deep", field="proof")
    if not hmac.compare_digest(r, root):
        raise _mismatch("root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``.

    Beyond RFC 9162's ``0 < size1 < size2``: equal sizes need an empty proof and equal
    roots; ``size1 == 0`` is refused, because no proof from the empty tree can bind
    anything (as in transparency-dev/merkle, whose vectors require it).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}", field="size1")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing", field="size1")
    if size1 == size2:  # nothing is computed, so the roots need only be equal
        _check_proof(proof, 0, "a proof between equal sizes")
        if not hmac.compare_digest(root1, root2):
            raise ProofError("differs from root1 for the same tree size", field="root2")
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    if not proof:  # step 1
        raise ProofError("is empty", field="proof")
    _check_proof(
        proof,
        len(_consistency_ranges(size1, size2)),
        f"a consistency proof from size {size1} to {size2}",
    )
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # step 2: first is a power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("is longer than the trees are deep", field="proof")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # step 7
        raise ProofError("is shorter than the trees are deep", field="proof")
    if not hmac.compare_digest(fr, root1):
        raise _mismatch("root1")
    if not hmac.compare_digest(sr, root2):
        raise _mismatch("root2")
