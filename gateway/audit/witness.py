"""A witness: a partner gateway or monitor that co-signs a log's checkpoints only after checking
that each is consistent with the last one it saw, so the log cannot show different histories to
different parties (a split view) without someone holding proof of it.

A checkpoint that shrinks, or has the size of the last one with another root, is a split view
by itself; a larger one must come with a consistency proof that verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.audit import merkle, note


class SplitView(Exception):
    """The alarm: two checkpoints of one log that cannot both be true (both notes kept as
    evidence). Not an API error: it is what a witness reports about a log."""

    def __init__(self, message: str, *, seen: str, offered: str) -> None:
        super().__init__(message)
        self.seen = seen
        self.offered = offered


@dataclass(frozen=True)
class Seen:
    """The last checkpoint a witness accepted: its size, root and signed note."""

    size: int
    root: bytes
    note: str


def witness(
    offered_note: str,
    *,
    log_key: str,
    origin: str,
    last: Seen | None,
    consistency: Callable[[int, int], Sequence[bytes]],
    name: str,
    key: note.NoteSigner,
) -> tuple[Seen, str]:
    """Check ``offered_note`` against ``last`` and co-sign it: the new state and the witness's
    signature line. ``consistency(first, second)`` fetches a proof from the log.

    Raises ``SplitView`` (the alarm) for a shrinking checkpoint, a same-size one with another
    root, or one whose consistency proof does not verify; a note the log's key did not sign is
    an ``Unauthenticated`` error from ``note.verify_note``.
    """
    checkpoint = note.Checkpoint.from_note(offered_note, [log_key], origin=origin)
    if last is not None:
        if checkpoint.size < last.size:
            raise SplitView(
                f"the log shrank from {last.size} to {checkpoint.size} leaves",
                seen=last.note,
                offered=offered_note,
            )
        if checkpoint.size == last.size and checkpoint.root != last.root:
            raise SplitView(
                f"two different roots for tree size {last.size}",
                seen=last.note,
                offered=offered_note,
            )
        if checkpoint.size > last.size:
            try:
                merkle.verify_consistency(
                    last.size,
                    checkpoint.size,
                    last.root,
                    checkpoint.root,
                    consistency(last.size, checkpoint.size),
                )
            except merkle.ProofError as exc:
                raise SplitView(
                    f"tree size {checkpoint.size} is not consistent with {last.size}: {exc}",
                    seen=last.note,
                    offered=offered_note,
                ) from exc
    cosigned = note.add_signature(offered_note, name, key)
    line = next(s.line() for s in note.parse_note(cosigned)[1] if s.name == name)
    return Seen(checkpoint.size, checkpoint.root, offered_note), line.rstrip("\n")
