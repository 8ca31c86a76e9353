"""The audit log as one JSON Lines file (``cxg-audit-export/1``), and its offline verification.

An export lets anyone holding the gateway's verifier key check the whole log without the
gateway: every leaf, rebuilt into the RFC 9162 tree, must give the root the gateway signed at
each checkpoint size. Layout, one JSON object per line::

    {"format": "cxg-audit-export/1", "origin", "verifier_key", "witness_keys": {id: vkey},
     "size", "checkpoints"}                          the header
    {"index", "data"}                                one per leaf, index 0..size-1 in order
    {"size", "root", "note"}                         one per checkpoint, increasing size

Bytes are standard base64; a checkpoint's ``note`` carries the gateway's signature and the
witnesses' co-signature lines. ``checkpoints`` (their count) is beyond what the signatures
cover: it is there so that a file cut at a line boundary is refused rather than read as a
shorter log.

Verification runs in constant memory: two cursors read the one file, the leaves into a
compact range (the O(log n) perfect subtree hashes ``merkle.root_nodes`` names) and the
checkpoints alongside, so a root is compared as soon as the leaves reach its size. What it
proves is that each leaf up to the last checkpoint is exactly what the key holder signed;
the header is not signed, so its key is trusted only when the caller says so.

Malformed input raises ``InvalidArgument``, a root that the leaves do not rebuild raises
``ProofError``, a signature that does not verify raises ``Unauthenticated``; each names the
line at fault.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, NoReturn

from gateway._json import read_json
from gateway.audit import merkle, note
from gateway.errors import GatewayError, InvalidArgument, ProofError, Unauthenticated

FORMAT = "cxg-audit-export/1"
_MAX_SIZE = 2**64
_HEADER_KEYS = frozenset(
    {"format", "origin", "verifier_key", "witness_keys", "size", "checkpoints"}
)
_LEAF_KEYS = frozenset({"index", "data"})
_CHECKPOINT_KEYS = frozenset({"size", "root", "note"})


@dataclass(frozen=True, slots=True)
class ExportHeader:
    origin: str
    verifier_key: str
    witness_keys: dict[str, str]
    size: int
    checkpoints: int


@dataclass(frozen=True, slots=True)
class ExportCheckpoint:
    size: int
    root: bytes
    note: str  # the signed note with every co-signature line appended


@dataclass(frozen=True, slots=True)
class LogReport:
    """What ``verify_export`` established."""

    leaves: int
    checkpoints: int
    cosignatures: int
    verifier_key: str
    key_from_header: bool  # True when no key was given and the header's was trusted
    unsigned_leaves: int  # leaves after the last checkpoint: no signature covers them
    witnesses: tuple[str, ...] = field(default=())


# --- writing ---------------------------------------------------------------------------------


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":")) + "\n"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def write_export(
    out: IO[str],
    header: ExportHeader,
    leaves: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[ExportCheckpoint],
) -> None:
    """Write an export line by line; ``leaves`` and ``checkpoints`` may be generators, so a log
    of any size streams through in the memory of one page.

    The counts are checked as they go: a writer that announces ``size`` leaves and writes
    another number would produce a file every verifier refuses.
    """
    for name, value in (("origin", header.origin), ("verifier_key", header.verifier_key)):
        if not value:
            raise InvalidArgument("must not be empty", field=name)
    out.write(
        _line(
            {
                "format": FORMAT,
                "origin": header.origin,
                "verifier_key": header.verifier_key,
                "witness_keys": dict(sorted(header.witness_keys.items())),
                "size": header.size,
                "checkpoints": header.checkpoints,
            }
        )
    )
    written = 0
    for index, data in leaves:
        if index != written:
            raise InvalidArgument(f"leaf {index} comes where leaf {written} should", field="index")
        out.write(_line({"index": index, "data": _b64(data)}))
        written += 1
    if written != header.size:
        raise InvalidArgument(f"{written} leaves written, header says {header.size}", field="size")
    count = 0
    for checkpoint in checkpoints:
        out.write(
            _line({"size": checkpoint.size, "root": _b64(checkpoint.root), "note": checkpoint.note})
        )
        count += 1
    if count != header.checkpoints:
        raise InvalidArgument(
            f"{count} checkpoints written, header says {header.checkpoints}", field="checkpoints"
        )


# --- reading ---------------------------------------------------------------------------------


class _Lines:
    """Numbered lines of one open export; a line without its newline is a cut file."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.number = 0

    def next(self, what: str) -> tuple[int, dict[str, Any]] | None:
        raw = self._file.readline()
        if not raw:
            return None
        self.number += 1
        if not raw.endswith(b"\n"):
            _fail(self.number, f"the file ends inside {what} (no newline): it is truncated")
        try:
            # Bounded, and a key given twice refused: two readers must not see two logs.
            document = read_json(raw)
        except ValueError as exc:  # JsonError and JSONDecodeError are ValueErrors
            _fail(self.number, f"{what} is not JSON: {exc}")
        if not isinstance(document, dict):
            _fail(self.number, f"{what} must be a JSON object")
        return self.number, document

    def skip(self, count: int) -> int:
        """Skip ``count`` lines unread; how many there were."""
        for skipped in range(count):
            if not self._file.readline():
                return skipped
            self.number += 1
        return count


def _fail(line: int, message: str) -> NoReturn:
    raise InvalidArgument(message, field=f"line {line}")


def _keys(line: int, document: dict[str, Any], want: frozenset[str], what: str) -> None:
    if set(document) != want:
        missing, extra = sorted(want - set(document)), sorted(set(document) - want)
        _fail(line, f"{what} must have exactly {sorted(want)}; missing {missing}, extra {extra}")


def _size(line: int, document: dict[str, Any], name: str) -> int:
    value = document[name]
    if type(value) is not int or not 0 <= value < _MAX_SIZE:  # JSON true is no size
        _fail(line, f"/{name} must be an integer from 0 to 2^64-1")
    return value


def _string(line: int, document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str) or not value:
        _fail(line, f"/{name} must be a non-empty string")
    return value


def _bytes(line: int, document: dict[str, Any], name: str) -> bytes:
    value = document[name]
    if not isinstance(value, str):  # an empty string is an empty leaf
        _fail(line, f"/{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        _fail(line, f"/{name} is not standard base64: {exc}")


def _vkey(line: int, value: Any, pointer: str) -> note.Verifier:
    if not isinstance(value, str):
        _fail(line, f"{pointer} must be a verifier key string")
    try:
        return note.Verifier.from_vkey(value)
    except InvalidArgument as exc:
        _fail(line, f"{pointer} is not a verifier key: {exc.message}")


def _header(
    read: tuple[int, dict[str, Any]] | None,
) -> tuple[ExportHeader, dict[str, note.Verifier]]:
    if read is None:
        _fail(1, "the file is empty: no header")
    line, doc = read
    if doc.get("format") != FORMAT:
        _fail(line, f"/format must be {FORMAT!r}, got {doc.get('format')!r}")
    _keys(line, doc, _HEADER_KEYS, "the header")
    witnesses = doc["witness_keys"]
    if not isinstance(witnesses, dict):
        _fail(line, "/witness_keys must be an object of partner id to verifier key")
    verifiers: dict[str, note.Verifier] = {}
    for witness, vkey in witnesses.items():
        verifier = _vkey(line, vkey, f"/witness_keys/{witness}")
        if verifier.name != witness:  # a witness's note key is named by its partner id
            _fail(line, f"/witness_keys/{witness} is a key named {verifier.name!r}")
        verifiers[witness] = verifier
    header = ExportHeader(
        origin=_string(line, doc, "origin"),
        verifier_key=_vkey(line, doc["verifier_key"], "/verifier_key").vkey,
        witness_keys={w: v.vkey for w, v in verifiers.items()},
        size=_size(line, doc, "size"),
        checkpoints=_size(line, doc, "checkpoints"),
    )
    return header, verifiers


# --- the tree, rebuilt in constant memory ------------------------------------------------------


class _CompactRange:
    """The leaves seen so far, kept as the hashes of ``merkle.root_nodes(size)``: at most one
    perfect subtree per bit of the size, so O(log n) memory for a log of any length."""

    def __init__(self) -> None:
        self.size = 0
        self._nodes: dict[merkle.Node, bytes] = {}

    def append(self, data: bytes) -> None:
        index, digest = self.size, merkle.leaf_hash(data)
        known = {**self._nodes, (0, index): digest}
        # completed_nodes needs completion_nodes(index), a subset of root_nodes(index).
        known.update(
            ((lv, i), h) for lv, i, h in merkle.completed_nodes(index, digest, self._nodes)
        )
        self.size += 1
        self._nodes = {n: known[n] for n in merkle.root_nodes(self.size)}

    def root(self) -> bytes:
        return merkle.root(self.size, self._nodes)


# --- verification ------------------------------------------------------------------------------


def verify_export(path: Path, *, key: str | None = None) -> LogReport:
    """Verify an export against ``key`` (a vkey), or, without one, against the key its own
    header names (``LogReport.key_from_header`` says so). Raises naming the first problem."""
    with path.open("rb") as leaf_file, path.open("rb") as checkpoint_file:
        leaf_lines, checkpoint_lines = _Lines(leaf_file), _Lines(checkpoint_file)
        header, witnesses = _header(leaf_lines.next("the header"))
        gateway = _trusted_key(header, key)
        checkpoint_lines.skip(1)
        if (found := checkpoint_lines.skip(header.size)) != header.size:
            raise InvalidArgument(
                f"the header announces {header.size} leaves, the file holds at most {found}:"
                " it is truncated",
                field=f"line {found + 1}",
            )
        if header.checkpoints == 0:
            # Nothing would be authenticated; refuse rather than report an empty success.
            raise Unauthenticated("the export holds no checkpoint: nothing in it is signed")
        tree = _CompactRange()
        previous: ExportCheckpoint | None = None
        cosignatures, cosigners = 0, set[str]()
        for _ in range(header.checkpoints):
            read = checkpoint_lines.next("a checkpoint")
            if read is None:
                raise InvalidArgument(
                    f"the header announces {header.checkpoints} checkpoints, the file ends after"
                    f" {checkpoint_lines.number - 1 - header.size}: it is truncated",
                    field=f"line {checkpoint_lines.number + 1}",
                )
            line, checkpoint = _checkpoint(read)
            if previous is not None and checkpoint.size <= previous.size:
                _fail(line, f"checkpoint {checkpoint.size} comes after checkpoint {previous.size}")
            if checkpoint.size > header.size:
                _fail(
                    line, f"checkpoint {checkpoint.size} is beyond the log's {header.size} leaves"
                )
            while tree.size < checkpoint.size:
                _read_leaf(leaf_lines, tree)
            names = _verify_checkpoint(
                line, checkpoint, tree.root(), previous, header, gateway, witnesses
            )
            cosignatures += len(names)
            cosigners.update(names)
            previous = checkpoint
        if checkpoint_lines.next("the end of the file") is not None:
            _fail(
                checkpoint_lines.number,
                f"lines after the {header.checkpoints} checkpoints the header announces",
            )
        while tree.size < header.size:  # still well-formed, though no signature covers them
            _read_leaf(leaf_lines, tree)
    assert previous is not None
    return LogReport(
        leaves=header.size,
        checkpoints=header.checkpoints,
        cosignatures=cosignatures,
        verifier_key=gateway.vkey,
        key_from_header=key is None,
        unsigned_leaves=header.size - previous.size,
        witnesses=tuple(sorted(cosigners)),
    )


def _trusted_key(header: ExportHeader, key: str | None) -> note.Verifier:
    if key is None:
        return note.Verifier.from_vkey(header.verifier_key)
    try:
        given = note.Verifier.from_vkey(key)
    except InvalidArgument as exc:
        raise InvalidArgument(exc.message, field="--key") from exc
    if given.vkey != header.verifier_key:
        raise Unauthenticated(
            f"the export is by {header.verifier_key}, not by the key given ({given.vkey})",
            field="--key",
        )
    return given


def _checkpoint(read: tuple[int, dict[str, Any]]) -> tuple[int, ExportCheckpoint]:
    line, doc = read
    _keys(line, doc, _CHECKPOINT_KEYS, "a checkpoint")
    return line, ExportCheckpoint(
        size=_size(line, doc, "size"),
        root=_bytes(line, doc, "root"),
        note=_string(line, doc, "note"),
    )


def _read_leaf(lines: _Lines, tree: _CompactRange) -> None:
    read = lines.next(f"leaf {tree.size}")
    if read is None:  # the checkpoint cursor already counted the lines; this is a race
        _fail(lines.number + 1, f"the file ends before leaf {tree.size}: it is truncated")
    line, doc = read
    _keys(line, doc, _LEAF_KEYS, f"leaf {tree.size}")
    if (index := _size(line, doc, "index")) != tree.size:
        _fail(line, f"leaf {index} comes where leaf {tree.size} should")
    tree.append(_bytes(line, doc, "data"))


def _verify_checkpoint(
    line: int,
    checkpoint: ExportCheckpoint,
    rebuilt: bytes,
    previous: ExportCheckpoint | None,
    header: ExportHeader,
    gateway: note.Verifier,
    witnesses: dict[str, note.Verifier],
) -> list[str]:
    """Check one checkpoint line; the witnesses whose co-signatures verified."""
    where = f"checkpoint {checkpoint.size}"
    try:
        signed = note.Checkpoint.from_note(checkpoint.note, [gateway], origin=header.origin)
    except GatewayError as exc:
        raise _at(line, f"{where}: the gateway's signed note", exc) from exc
    if signed.size != checkpoint.size:
        _fail(line, f"{where}: the signed note is of size {signed.size}")
    if not hmac.compare_digest(signed.root, checkpoint.root):
        _fail(line, f"{where}: the signed note's root is not the line's /root")
    if not hmac.compare_digest(rebuilt, signed.root):
        since = (
            f"one of leaves {previous.size}..{checkpoint.size - 1} differs from what was signed"
            f" (checkpoint {previous.size} still matched)"
            if previous is not None
            else f"one of leaves 0..{checkpoint.size - 1} differs from what was signed"
        )
        raise ProofError(
            f"{where}: the root rebuilt from leaves 0..{checkpoint.size - 1} does not match the"
            f" signed root; {since}",
            field=f"line {line}",
        )
    return _verify_cosignatures(line, where, checkpoint.note, gateway, witnesses)


def _verify_cosignatures(
    line: int, where: str, text: str, gateway: note.Verifier, witnesses: dict[str, note.Verifier]
) -> list[str]:
    body, signatures = note.parse_note(text)
    verified = []
    for signature in signatures:
        if (signature.name, signature.key_id) == (gateway.name, gateway.key_id):
            continue  # from_note verified it
        witness = witnesses.get(signature.name)
        if witness is None:  # fail closed: every line in the export must verify
            raise Unauthenticated(
                f"{where}: a co-signature by {signature.name!r}, which has no key in"
                " /witness_keys of the header",
                field=f"line {line}",
            )
        if not witness.verifies(body, signature):
            raise Unauthenticated(
                f"{where}: the co-signature by witness {signature.name!r} does not verify with"
                f" {witness.vkey}",
                field=f"line {line}",
            )
        verified.append(signature.name)
    return verified


def _at(line: int, context: str, exc: GatewayError) -> GatewayError:
    """``exc`` again, with the line and what was being checked; its class is kept."""
    kind = Unauthenticated if isinstance(exc, Unauthenticated) else InvalidArgument
    return kind(f"{context}: {exc}", field=f"line {line}")


__all__ = [
    "FORMAT",
    "ExportCheckpoint",
    "ExportHeader",
    "LogReport",
    "verify_export",
    "write_export",
]
