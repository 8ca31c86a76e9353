"""The operator's side of the audit log: sign a checkpoint on demand, and export the stored log
in the ``cxg-audit-export/1`` format that ``gateway.audit._export.verify_export`` checks offline.

The exporter is built from ``Settings`` as the serving gateway builds its ``AuditLog``, so the
origin and key are the ones partners already trust.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from gateway.audit import note
from gateway.audit._export import ExportCheckpoint, ExportHeader, write_export
from gateway.config import Settings
from gateway.errors import PermissionDenied, Unavailable
from gateway.service.audit import NOTE_KEY_FILE, note_signer, origin_of, witness_key
from gateway.storage import Database
from gateway.storage.audit import AuditStore, StoredCheckpoint
from gateway.storage.partners import PartnerStore
from gateway.storage.peers import PeerStore

PAGE = 10_000  # leaves read per query: memory stays one page, however long the log


@dataclass(frozen=True)
class ExportSummary:
    size: int
    checkpoints: int
    witnesses: int


class AuditExporter:
    def __init__(
        self, store: AuditStore, partners: PartnerStore, *, origin: str, verifier_key: str
    ) -> None:
        self._store = store
        self._partners = partners
        self._peer_log_key = PeerStore(store.db).checkpoint_key
        self._origin = origin
        self._verifier_key = verifier_key

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> AuditExporter:
        """Refuses when the checkpoint key is missing: an export under a freshly made key
        would name a key that signed none of its checkpoints."""
        path = settings.gateway_keys_dir / NOTE_KEY_FILE
        if settings.pkcs11_module is None and not path.exists():
            raise Unavailable(f"no checkpoint-signing key at {path}; is CXG_KEYS_DIR right?")
        origin = origin_of(settings)
        vkey = note.verifier_key(origin, note.note_public_key(note_signer(settings)))
        return cls(AuditStore(db), PartnerStore(db), origin=origin, verifier_key=vkey)

    def export(self, out: IO[str]) -> ExportSummary:
        """Write the log as it is now: its size is read first, so leaves appended meanwhile
        and checkpoints signed beyond that size are left for the next export."""
        size = self._store.size()
        checkpoints = [c for c in self._store.checkpoints() if c.size <= size]
        witness_keys = self._witness_keys(checkpoints)
        header = ExportHeader(
            origin=self._origin,
            verifier_key=self._verifier_key,
            witness_keys=witness_keys,
            size=size,
            checkpoints=len(checkpoints),
        )
        write_export(out, header, self._leaves(size), map(_exported, checkpoints))
        return ExportSummary(size, len(checkpoints), len(witness_keys))

    def _leaves(self, size: int) -> Iterator[tuple[int, bytes]]:
        for start in range(0, size, PAGE):
            for leaf in self._store.leaves(start, min(start + PAGE, size)):
                yield leaf.index, leaf.data

    def _witness_keys(self, checkpoints: list[StoredCheckpoint]) -> dict[str, str]:
        """The note key of every witness, and of every partner that co-signed one of
        ``checkpoints`` even if it is no longer a witness. One without an active Ed25519 key
        is left out, so that verification names its co-signature rather than pass it."""
        ids = {p.id for p in self._partners.all() if {"witness", "gateway"} & p.roles}
        ids.update(witness for c in checkpoints for witness, _ in c.cosignatures)
        keys = {}
        for partner_id in sorted(ids):
            partner = self._partners.get(partner_id)
            if partner is None:
                continue
            try:
                keys[partner_id] = witness_key(self._partners.keys_of, partner, self._peer_log_key)
            except PermissionDenied:
                continue
        return keys


def _exported(checkpoint: StoredCheckpoint) -> ExportCheckpoint:
    cosigned = checkpoint.note + "".join(line + "\n" for _, line in checkpoint.cosignatures)
    return ExportCheckpoint(checkpoint.size, checkpoint.root, cosigned)
