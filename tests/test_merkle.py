"""RFC 9162 Merkle trees: transparency-dev/merkle vectors, their corruptions, and a naive model.

The model (``mth``, ``path``, ``subproof``) is the RFC's recursive definition written
plainly; the code under test computes the same values from O(log n) stored nodes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import gateway.audit
from gateway.audit import (
    ConsistencyProof,
    InclusionProof,
    ProofError,
    completed_nodes,
    completed_nodes_batch,
    completion_nodes,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    load_consistency_json,
    load_inclusion_json,
    node_hash,
    root,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)
from gateway.errors import InvalidArgument

ASSETS = Path(__file__).parent / "assets" / "merkle"
VECTORS = sorted(ASSETS.glob("*/**/*.json"))
EMPTY = hashlib.sha256(b"").digest()
# The two fixed hashes cmd/proofgen/main.go corrupts proofs with.
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
U64 = 2**64

Nodes = dict[tuple[int, int], bytes]


# --- the RFC written plainly ---------------------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return EMPTY
    if len(d) == 1:
        return leaf_hash(d[0])
    k = _split(len(d))
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _split(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


# --- helpers ---------------------------------------------------------------------------------


class Recording(Mapping[tuple[int, int], bytes]):
    """A node store that remembers which nodes were read."""

    def __init__(self, nodes: Mapping[tuple[int, int], bytes]) -> None:
        self.nodes = nodes
        self.read: set[tuple[int, int]] = set()

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        self.read.add(key)
        return self.nodes[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


class UniformTree(dict[tuple[int, int], bytes]):
    """Every leaf the same: node (L, i) hashes the same for every i, so any size is cheap (each
    node is made when first read)."""

    def __init__(self) -> None:
        super().__init__()
        self.levels = [leaf_hash(b"x")]
        for _ in range(64):
            self.levels.append(node_hash(self.levels[-1], self.levels[-1]))

    def __missing__(self, key: tuple[int, int]) -> bytes:
        return self.levels[key[0]]


def build(leaves: list[bytes]) -> Nodes:
    nodes: Nodes = {}
    for i, data in enumerate(leaves):
        nodes[(0, i)] = leaf_hash(data)
        nodes.update(((lvl, j), h) for lvl, j, h in completed_nodes(i, nodes[(0, i)], nodes))
    return nodes


def only(nodes: Nodes, wanted: list[tuple[int, int]]) -> Nodes:
    """What one storage query for ``wanted`` returns."""
    return {n: nodes[n] for n in wanted}


def refused(check: Callable[[], object]) -> bool:
    try:
        check()
    except ProofError:
        return True
    return False


# --- public surface ------------------------------------------------------------------------


def test_public_surface_is_deliberate() -> None:
    assert gateway.audit.__all__ == sorted(gateway.audit.__all__)
    assert set(gateway.audit.__all__) == {
        name
        for name, value in vars(gateway.audit).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)  # submodules
    }
    assert issubclass(ProofError, InvalidArgument)


# --- transparency-dev/merkle vectors ----------------------------------------------------------


def _load(path: Path) -> InclusionProof | ConsistencyProof:
    text = path.read_text()
    if path.relative_to(ASSETS).parts[0] == "inclusion":
        return load_inclusion_json(text)
    return load_consistency_json(text)


def test_all_vectors_are_present() -> None:
    assert len(VECTORS) == 196


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: str(p.relative_to(ASSETS)))
def test_vector(path: Path) -> None:
    want_error = json.loads(path.read_text())["wantErr"]
    assert refused(_load(path).verify) is want_error


def test_reference_tree_roots_and_happy_vectors() -> None:
    ref = json.loads((ASSETS / "reference_tree.json").read_text())
    leaves = [bytes.fromhex(x) for x in ref["leaves"]]
    nodes = build(leaves)
    assert [root(n, nodes).hex() for n in range(9)] == ref["roots"]
    for path in VECTORS:
        doc = json.loads(path.read_text())
        if doc["desc"] != "happy path":
            continue
        vector = _load(path)
        if isinstance(vector, InclusionProof):
            got = inclusion_proof(vector.leaf_index, vector.tree_size, nodes)
        else:
            got = consistency_proof(vector.size1, vector.size2, nodes)
        assert tuple(got) == vector.proof, path


# --- the corruptions of cmd/proofgen/main.go, applied to our own proofs ----------------------


def inclusion_corruptions(
    index: int, size: int, proof: list[bytes], root_: bytes, leaf: bytes
) -> Iterator[tuple[str, tuple[int, int, bytes, list[bytes], bytes]]]:
    yield "leafIdx sub 1", ((index - 1) % U64, size, leaf, proof, root_)
    yield "leafIdx plus 1", (index + 1, size, leaf, proof, root_)
    yield "leafIdx XOR 2", (index ^ 2, size, leaf, proof, root_)
    yield "treeSize mul 2", (index, size * 2, leaf, proof, root_)
    yield "treeSize div 2", (index, size // 2, leaf, proof, root_)
    yield "wrong leaf", (index, size, b"WrongLeaf", proof, root_)
    yield "empty root", (index, size, leaf, proof, EMPTY)
    yield "random root", (index, size, leaf, proof, SOME_HASH)
    yield "trailing garbage", (index, size, leaf, [*proof, b""], root_)
    yield "trailing root", (index, size, leaf, [*proof, root_], root_)
    yield "preceding garbage", (index, size, leaf, [b"", *proof], root_)
    yield "preceding root", (index, size, leaf, [root_, *proof], root_)
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        yield f"modified proof[{i}] bit 3", (index, size, leaf, flipped, root_)
    if proof:
        yield "removed component", (index, size, leaf, proof[:-1], root_)
    if len(proof) > 1:
        yield "inserted component", (index, size, leaf, [SOME_HASH, proof[0], *proof[1:]], root_)


def consistency_corruptions(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    yield "size1 sub 1", ((size1 - 1) % U64, size2, root1, root2, proof)
    yield "size1 plus 1", (size1 + 1, size2, root1, root2, proof)
    yield "size1 XOR 2", (size1 ^ 2, size2, root1, root2, proof)
    yield "size2 mul 2", (size1, size2 * 2, root1, root2, proof)
    yield "size2 div 2", (size1, size2 // 2, root1, root2, proof)
    yield "wrong root1", (size1, size2, b"WrongRoot", root2, proof)
    yield "wrong root2", (size1, size2, root1, b"WrongRoot", proof)
    yield "swapped roots", (size1, size2, root2, root1, proof)
    yield "empty proof", (size1, size2, root1, root2, [])
    yield "trailing garbage", (size1, size2, root1, root2, [*proof, b""])
    yield "trailing root1", (size1, size2, root1, root2, [*proof, root1])
    yield "trailing root2", (size1, size2, root1, root2, [*proof, root2])
    yield "preceding garbage", (size1, size2, root1, root2, [b"", *proof])
    yield "preceding root1", (size1, size2, root1, root2, [root1, *proof])
    yield "preceding root2", (size1, size2, root1, root2, [root2, *proof])
    yield "preceding proof 0", (size1, size2, root1, root2, [proof[0], *proof])
    yield "truncated proof", (size1, size2, root1, root2, proof[:-1])
    for i in range(len(proof)):
        flipped = [*proof]
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        yield f"modified proof@{i} bit 4", (size1, size2, root1, root2, flipped)


LEAVES = [i.to_bytes(2, "big") for i in range(40)]
TREE = build(LEAVES)


@pytest.mark.parametrize("size", range(1, 41))
def test_every_inclusion_corruption_is_refused(size: int) -> None:
    root_ = root(size, TREE)
    for index in range(size):
        proof = inclusion_proof(index, size, TREE)
        leaf = TREE[(0, index)]
        verify_inclusion(index, size, leaf, proof, root_)
        for desc, args in inclusion_corruptions(index, size, proof, root_, leaf):
            assert refused(lambda a=args: verify_inclusion(*a)), (index, size, desc)  # type: ignore[misc]


@pytest.mark.parametrize("size2", range(1, 41))
def test_every_consistency_corruption_is_refused(size2: int) -> None:
    root2 = root(size2, TREE)
    for size1 in range(1, size2 + 1):
        proof = consistency_proof(size1, size2, TREE)
        root1 = root(size1, TREE)
        verify_consistency(size1, size2, root1, root2, proof)
        if not proof:  # proofgen corrupts only non-trivial proofs (size1 < size2)
            continue
        for desc, args in consistency_corruptions(size1, size2, root1, root2, proof):
            assert refused(lambda a=args: verify_consistency(*a)), (size1, size2, desc)  # type: ignore[misc]


# --- edge cases and messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 0, EMPTY, [], EMPTY), "leaf_index"),
        ((3, 3, EMPTY, [], EMPTY), "leaf_index"),
        ((-1, 3, EMPTY, [], EMPTY), "leaf_index"),
        ((0, -1, EMPTY, [], EMPTY), "tree_size"),
        ((0, 1, b"short", [], EMPTY), "leaf_hash"),
        ((0, 1, EMPTY, [], b"short"), "root"),
        ((0, 1, EMPTY, [EMPTY], EMPTY), "proof"),
        ((0, 2, EMPTY, [b"short"], EMPTY), "proof[0]"),
        ((0, 1, EMPTY, [], SOME_HASH), "root"),
    ],
)
def test_inclusion_refusals_name_the_field(args: Any, field: str) -> None:
    with pytest.raises(ProofError) as caught:
        verify_inclusion(*args)
    assert caught.value.field == field
    assert caught.value.message


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((2, 1, EMPTY, EMPTY, []), "size1"),
        ((0, 0, EMPTY, EMPTY, []), "size1"),
        ((0, 5, EMPTY, EMPTY, []), "size1"),
        ((-1, 5, EMPTY, EMPTY, []), "size1"),
        ((3, 3, EMPTY, SOME_HASH, []), "root2"),
        ((3, 3, EMPTY, EMPTY, [EMPTY]), "proof"),
        ((1, 2, EMPTY, EMPTY, []), "proof"),
        ((1, 2, EMPTY, EMPTY, [EMPTY, EMPTY]), "proof"),
        ((1, 2, b"x", EMPTY, [EMPTY]), "root1"),
    ],
)
def test_consistency_refusals_name_the_field(args: Any, field: str) -> None:
    with pytest.raises(ProofError) as caught:
        verify_consistency(*args)
    assert caught.value.field == field


def test_equal_sizes_are_consistent_with_an_empty_proof() -> None:
    verify_consistency(7, 7, TREE[(0, 0)], TREE[(0, 0)], [])


def test_producers_refuse_impossible_requests() -> None:
    for call in (
        lambda: inclusion_nodes(5, 5),
        lambda: inclusion_proof(0, 0, TREE),
        lambda: consistency_nodes(6, 5),
        lambda: consistency_proof(-1, 5, TREE),
        lambda: root_nodes(-1),
        lambda: completion_nodes(3, 0),
    ):
        assert refused(call)
    assert consistency_proof(0, 9, TREE) == [] == consistency_nodes(0, 9)
    assert consistency_proof(9, 9, TREE) == [] == consistency_nodes(9, 9)
    assert root(0, {}) == EMPTY


# --- O(log n) nodes, exactly the nodes named, and speed -----------------------------------------


def _sizes() -> Iterator[int]:
    for bits in range(1, 41):
        yield from {2**bits - 1, 2**bits, 2**bits + 1, (2**bits * 3) // 4 + 5}


def test_node_counts_are_logarithmic_up_to_2_to_the_40() -> None:
    tree = UniformTree()
    for size in _sizes():
        depth = size.bit_length()
        assert len(root_nodes(size)) <= depth
        for index in {0, 1, size // 3, size // 2, size - 2, size - 1} - {-1}:
            if not 0 <= index < size:
                continue
            ids = inclusion_nodes(index, size)
            assert len(ids) <= 2 * depth, (index, size)
            proof = inclusion_proof(index, size, only_mapping(tree, ids))
            verify_inclusion(index, size, tree[(0, index)], proof, root(size, tree))
        for first in {1, 2, 3, size // 3, size // 2, size - 1, size}:
            if not 0 < first <= size:
                continue
            ids = consistency_nodes(first, size)
            assert len(ids) <= 2 * depth + 1, (first, size)
            proof = consistency_proof(first, size, only_mapping(tree, ids))
            verify_consistency(first, size, root(first, tree), root(size, tree), proof)


def only_mapping(tree: Mapping[tuple[int, int], bytes], ids: list[tuple[int, int]]) -> Nodes:
    return {n: tree[n] for n in ids}


@given(st.data())
def test_producers_read_exactly_the_nodes_they_name(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 40))
    index = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(1, size))
    cases: list[tuple[list[tuple[int, int]], Callable[[Recording], object]]] = [
        (root_nodes(size), lambda n: root(size, n)),
        (inclusion_nodes(index, size), lambda n: inclusion_proof(index, size, n)),
        (consistency_nodes(first, size), lambda n: consistency_proof(first, size, n)),
    ]
    for ids, produce in cases:
        recording = Recording(TREE)
        produce(recording)
        assert recording.read == set(ids)
        assert len(ids) == len(set(ids))


@given(st.integers(0, 39), st.integers(1, 40))
def test_batch_append_reads_its_completion_nodes_and_yields_the_new_root(
    size: int, count: int
) -> None:
    count = min(count, 40 - size)
    if count < 1:
        return
    before = Recording({n: h for n, h in TREE.items() if (n[1] + 1) << n[0] <= size})
    leaves = [TREE[(0, i)] for i in range(size, size + count)]
    new = completed_nodes_batch(size, leaves, before)
    assert before.read == set(completion_nodes(size, count))
    assert set(completion_nodes(size, count)) <= set(root_nodes(size))
    assert all(TREE[(lvl, i)] == h for lvl, i, h in new)
    fresh = {(lvl, i): h for lvl, i, h in new} | {(0, size + k): h for k, h in enumerate(leaves)}
    old = only(TREE, root_nodes(size))
    assert root(size + count, ChainMap(fresh, old)) == mth(LEAVES[: size + count])


def test_proofs_for_a_million_leaves_take_microseconds() -> None:
    tree = UniformTree()
    size = 1_000_003
    started = time.perf_counter()
    for index in range(0, size, size // 200):
        ids = inclusion_nodes(index, size)
        inclusion_proof(index, size, only_mapping(tree, ids))
        consistency_proof(index + 1, size, only_mapping(tree, consistency_nodes(index + 1, size)))
        root(size, tree)
    per_call = (time.perf_counter() - started) / 201 / 3
    assert per_call < 0.001, per_call  # measured ~20 µs; generous for slow CI


# --- JSON layout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "/"),
        ("[]", "/"),
        ('{"treeSize": 1, "root": "", "leafHash": "", "proof": []}', "/leafIdx"),
        ('{"leafIdx": true, "treeSize": 1, "root": "", "leafHash": "", "proof": []}', "/leafIdx"),
        ('{"leafIdx": -1, "treeSize": 1, "root": "", "leafHash": "", "proof": []}', "/leafIdx"),
        ('{"leafIdx": 0, "treeSize": 1.5, "root": "", "leafHash": "", "proof": []}', "/treeSize"),
        (
            f'{{"leafIdx": 0, "treeSize": {U64}, "root": "", "leafHash": "", "proof": []}}',
            "/treeSize",
        ),
        ('{"leafIdx": 0, "treeSize": 1, "root": 7, "leafHash": "", "proof": []}', "/root"),
        ('{"leafIdx": 0, "treeSize": 1, "root": "", "leafHash": "a!==", "proof": []}', "/leafHash"),
        ('{"leafIdx": 0, "treeSize": 1, "root": "", "leafHash": "", "proof": "AA=="}', "/proof"),
        ('{"leafIdx": 0, "treeSize": 1, "root": "", "leafHash": "", "proof": ["A"]}', "/proof/0"),
    ],
)
def test_malformed_inclusion_json_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ProofError) as caught:
        load_inclusion_json(text)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"size1": 1, "size2": 2, "root1": "", "root2": ""}', "/proof"),
        ('{"size1": "1", "size2": 2, "root1": "", "root2": "", "proof": []}', "/size1"),
        ('{"size1": 1, "size2": 2, "root1": "", "root2": null, "proof": []}', "/root2"),
        ('{"size1": 1, "size2": 2, "root1": "", "root2": "", "proof": [null]}', "/proof/0"),
    ],
)
def test_malformed_consistency_json_names_the_field(text: str, field: str) -> None:
    with pytest.raises(ProofError) as caught:
        load_consistency_json(text)
    assert caught.value.field == field


@given(st.integers(1, 40), st.data())
def test_json_round_trip(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(1, size))
    inclusion = InclusionProof(
        index, size, root(size, TREE), TREE[(0, index)], tuple(inclusion_proof(index, size, TREE))
    )
    consistency = ConsistencyProof(
        first,
        size,
        root(first, TREE),
        root(size, TREE),
        tuple(consistency_proof(first, size, TREE)),
    )
    assert load_inclusion_json(inclusion.to_json()) == inclusion
    assert load_consistency_json(consistency.to_json()) == consistency
    inclusion.verify()
    consistency.verify()


# --- the log as a state machine ----------------------------------------------------------------


class AuditLog(RuleBasedStateMachine):
    """Append leaves (one or a batch at a time, reading only what the API names), take
    checkpoints, prove inclusion and consistency; compare everything with the naive RFC."""

    def __init__(self) -> None:
        super().__init__()
        self.leaves: list[bytes] = []
        self.nodes: Nodes = {}
        self.checkpoints: list[tuple[int, bytes]] = []

    def _append(self, batch: list[bytes]) -> None:
        size = len(self.leaves)
        hashes = [leaf_hash(d) for d in batch]
        read = only(self.nodes, completion_nodes(size, len(batch)))
        if len(batch) == 1:
            new = completed_nodes(size, hashes[0], read)
        else:
            new = completed_nodes_batch(size, hashes, read)
        self.nodes.update(((0, size + k), h) for k, h in enumerate(hashes))
        self.nodes.update(((lvl, i), h) for lvl, i, h in new)
        self.leaves.extend(batch)

    @rule(data=st.binary(max_size=8))
    def append(self, data: bytes) -> None:
        self._append([data])

    @rule(batch=st.lists(st.binary(max_size=4), min_size=1, max_size=20))
    def append_batch(self, batch: list[bytes]) -> None:
        self._append(batch)

    @rule()
    def checkpoint(self) -> None:
        size = len(self.leaves)
        got = root(size, only(self.nodes, root_nodes(size)))
        assert got == mth(self.leaves)
        self.checkpoints.append((size, got))

    @precondition(lambda self: self.checkpoints and self.checkpoints[-1][0] > 0)
    @rule(data=st.data())
    def prove_inclusion(self, data: st.DataObject) -> None:
        size, root_ = data.draw(st.sampled_from([c for c in self.checkpoints if c[0] > 0]))
        index = data.draw(st.integers(0, size - 1))
        proof = inclusion_proof(index, size, only(self.nodes, inclusion_nodes(index, size)))
        assert proof == path(index, self.leaves[:size])
        verify_inclusion(index, size, leaf_hash(self.leaves[index]), proof, root_)
        if proof:
            bad = [*proof[:-1], bytes(32)]
            assert refused(
                lambda: verify_inclusion(index, size, self.nodes[(0, index)], bad, root_)
            )

    @precondition(lambda self: len(self.checkpoints) >= 2)
    @rule(data=st.data())
    def prove_consistency(self, data: st.DataObject) -> None:
        a, b = sorted(
            data.draw(st.lists(st.sampled_from(self.checkpoints), min_size=2, max_size=2))
        )
        (size1, root1), (size2, root2) = a, b
        proof = consistency_proof(size1, size2, only(self.nodes, consistency_nodes(size1, size2)))
        if 0 < size1 < size2:
            assert proof == subproof(size1, self.leaves[:size2], True)
        else:
            assert proof == []
        if size1 > 0:
            verify_consistency(size1, size2, root1, root2, proof)
        if size1 > 0 and size1 != size2:
            assert refused(lambda: verify_consistency(size1, size2, root2, root1, proof))

    @invariant()
    def stored_nodes_are_the_subtree_hashes(self) -> None:
        for (lvl, i), h in self.nodes.items():
            if lvl > 0 and i == (len(self.leaves) >> lvl) - 1:  # check the newest per level
                assert h == mth(self.leaves[i << lvl : (i + 1) << lvl])
        assert len(self.nodes) == sum(len(self.leaves) >> lvl for lvl in range(64))


AuditLog.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestAuditLog = AuditLog.TestCase
