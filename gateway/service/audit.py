"""The audit log as the gateway uses it: one leaf per exchange or refusal, group-committed and
acknowledged only once durable; signed checkpoints that never contradict an earlier one;
proofs; witness co-signatures.

What a leaf says is defined in ``gateway.audit.entries`` (salted canonical JSON, version 2).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.message import Message

from gateway.audit import merkle, note
from gateway.audit.entries import Exchange, summary_leaf
from gateway.audit.witness import Seen, witness
from gateway.config import Settings
from gateway.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from gateway.observe import metrics
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.schema.cxg.v1.profile_service_pb2 import PublishReceipt
from gateway.schema.cxg.v1.rules_service_pb2 import SignedDecision
from gateway.service.relays import relay_subjects
from gateway.storage import Database
from gateway.storage._group import AUDIT_LEAVES, GroupCommitter
from gateway.storage.audit import AuditStore, Disclosure, StoredCheckpoint
from gateway.storage.partners import PartnerStore
from gateway.storage.peers import PeerStore
from gateway.trust import Partner, PartnerKey

NOTE_KEY_FILE = "checkpoint-ed25519.pem"  # under the gateway's key folder
MAX_ENTRIES = 1000
_log = logging.getLogger("cxg.audit")


def origin_of(settings: Settings) -> str:
    """The log's name: the origin line of its checkpoints and its note key's name."""
    return f"{settings.gateway_id}/audit"


# A leaf's data, the partner whose call it records, and the profile version it answered.
_Item = tuple[bytes, str | None, Disclosure | None]
# Operations whose answer discloses a profile version to the caller (who received what).
_DISCLOSING = frozenset({"GetProfile", "CreateReport"})
# A version this gateway holds, or one a peer gateway answered that this one relayed.
_SERVED_VERSION = re.compile(
    r"(?:peers/([a-z0-9-]{1,64})/)?profiles/([0-9a-f]{32})/versions/([0-9]+)"
)


def _disclosure(exchange: Exchange, at: datetime) -> Disclosure | None:
    if exchange.operation not in _DISCLOSING or exchange.decision != "ok" or not exchange.partner:
        return None
    for subject in exchange.subject:
        if served := _SERVED_VERSION.fullmatch(subject):
            peer, profile_id, version = served[1] or "", served[2], int(served[3])
            return Disclosure(profile_id, version, exchange.partner, exchange.purpose, at, peer)
    return None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AuditLog:
    def __init__(
        self,
        store: AuditStore,
        note_key: note.NoteSigner,
        keys_of: Callable[[str], list[PartnerKey]],
        *,
        origin: str,
        peer_log_key: Callable[[str], str | None] = lambda peer_id: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``peer_log_key`` is a peer gateway's checkpoint key (from its accepted federation
        document), with which its co-signatures verify."""
        self._store = store
        self._key = note_key
        self._keys_of = keys_of
        self._peer_log_key = peer_log_key
        self.origin = origin
        self.verifier_key = note.verifier_key(origin, note.note_public_key(note_key))
        self._clock = clock
        # A request waits for its leaf as long as for any database work, then is answered 503.
        self._group: GroupCommitter[_Item, int] = GroupCommitter(
            self._commit,
            deadline=store.db.deadline,
            timed_out=store.db.health.outage,
            metrics=AUDIT_LEAVES,
        )
        self._signing = threading.Lock()
        self._scheduler: threading.Thread | None = None
        self._stop = threading.Event()
        self._report_stored()

    def _report_stored(self) -> None:
        """The gauges from the log as stored: a restarted gateway reports its log's state at
        once, not 0 until its first checkpoint (which the staleness alerts would page on)."""
        try:
            metrics.audit_tree_size.set(self._store.size())
            if latest := self._store.latest_checkpoint():
                metrics.checkpoint_timestamp.set(latest.signed_at.timestamp())
            if cosigned_at := self._store.latest_cosigned_at():
                metrics.cosigned_timestamp.set(cosigned_at.timestamp())
        except DatabaseUnavailable:
            pass  # logged once by the database's health; set again by the next commit

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> AuditLog:
        """The log a gateway with ``settings`` keeps (the caller closes it)."""
        return cls(
            AuditStore(db),
            note_signer(settings),
            PartnerStore(db).keys_of,
            origin=origin_of(settings),
            peer_log_key=PeerStore(db).checkpoint_key,
        )

    # -- appending ---------------------------------------------------------------------------

    def record(self, exchange: Exchange) -> int:
        """Append the exchange's leaf; returns its index once it is durable."""
        return self._group.run(self._entry(exchange))

    async def record_async(self, exchange: Exchange) -> int:
        """``record`` from an event loop: the loop's leaves of one pass commit together."""
        return await self._group.submit(self._entry(exchange))

    async def record_summary_async(
        self, counts: list[dict[str, object]], since: datetime, until: datetime
    ) -> int:
        """Append a summary leaf standing for refusals that got no leaf of their own."""
        return await self._group.submit(
            (summary_leaf(counts, since, until, self._clock()), None, None)
        )

    def record_summary(
        self, counts: list[dict[str, object]], since: datetime, until: datetime
    ) -> int:
        return self._group.run((summary_leaf(counts, since, until, self._clock()), None, None))

    def _entry(self, exchange: Exchange) -> _Item:
        at = self._clock()
        return exchange.leaf(at), exchange.partner or None, _disclosure(exchange, at)

    def _commit(self, items: list[_Item]) -> list[int]:
        first = self._store.append(
            [(data, partner) for data, partner, _ in items],
            [(i, shown) for i, (_, _, shown) in enumerate(items) if shown is not None],
        )
        return list(range(first, first + len(items)))

    # -- checkpoints -------------------------------------------------------------------------

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Sign a checkpoint of the log as it is now, unless the latest already covers it.
        Refuses (and raises the alarm) if the log no longer agrees with the latest checkpoint
        signed: a checkpoint is never issued that contradicts an earlier one."""
        with self._signing:
            latest = self._store.latest_checkpoint()
            size = self._store.size()
            metrics.audit_tree_size.set(size)  # also counts leaves of changes (ChangeLog)
            if latest is not None and latest.size >= size:
                metrics.checkpoint_timestamp.set(latest.signed_at.timestamp())
                return latest
            root = self.root(size)
            if latest is not None and self.root(latest.size) != latest.root:
                _log.critical(
                    "SPLIT VIEW: the stored log no longer has the root signed at size %d",
                    latest.size,
                )
                raise Conflict(
                    f"the log no longer matches the checkpoint signed at size {latest.size}; "
                    "refusing to sign"
                )
            body = note.Checkpoint(self.origin, size, root).body()
            signed = note.sign_note(body, self.origin, self._key)
            stored = self._store.add_checkpoint(size, root, signed)
        metrics.checkpoint_timestamp.set(stored.signed_at.timestamp())
        _log.info("checkpoint signed", extra={"fields": {"treeSize": stored.size}})
        return stored

    def checkpoint(self, size: int = 0) -> pb.Checkpoint:
        stored = self._store.checkpoint(size) if size else self._store.latest_checkpoint()
        if stored is None:
            if size:
                raise NotFound(f"no checkpoint was signed at size {size}")
            stored = self.sign_checkpoint()
        return self._checkpoint_message(stored)

    def add_cosignature(self, caller: Partner, request: pb.AddCosignatureRequest) -> pb.Checkpoint:
        """Keep a witness's co-signature of a checkpoint this gateway signed."""
        stored = self._store.checkpoint(request.tree_size)
        if stored is None:
            raise NotFound(f"no checkpoint was signed at size {request.tree_size}")
        key = witness_key(self._keys_of, caller, self._peer_log_key)
        body = note.parse_note(stored.note)[0]
        cosigned = body.decode() + "\n" + request.signature.strip() + "\n"
        try:
            note.verify_note(cosigned, [key])
        except Unauthenticated as exc:
            raise PermissionDenied(
                f"the signature does not verify with witness {caller.id!r}'s registered key",
                field="signature",
            ) from exc
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"not a signature line: {exc.message}", field="signature"
            ) from exc
        self._store.add_cosignature(stored.size, caller.id, request.signature.strip())
        # The newest co-signed checkpoint, which a co-signature of an older one leaves as it is.
        if cosigned_at := self._store.latest_cosigned_at():
            metrics.cosigned_timestamp.set(cosigned_at.timestamp())
        return self.checkpoint(stored.size)

    def witness(
        self,
        offered_note: str,
        *,
        log_key: str,
        origin: str,
        last: Seen | None,
        consistency: Callable[[int, int], Sequence[bytes]],
    ) -> tuple[Seen, str]:
        """Witness another log's checkpoint (``gateway.audit.witness``) with this log's key,
        under this log's name: the co-signature verifies with this gateway's checkpoint key."""
        return witness(
            offered_note,
            log_key=log_key,
            origin=origin,
            last=last,
            consistency=consistency,
            name=self.origin,
            key=self._key,
        )

    def _checkpoint_message(self, stored: StoredCheckpoint) -> pb.Checkpoint:
        text = stored.note + "".join(line + "\n" for _, line in stored.cosignatures)
        return pb.Checkpoint(
            note=text,
            origin=self.origin,
            tree_size=stored.size,
            root_hash=stored.root,
            verifier_key=self.verifier_key,
            cosigners=[witness for witness, _ in stored.cosignatures],
        )

    def start_schedule(self, every: float) -> None:
        """Sign a checkpoint every ``every`` seconds while the log grows."""
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(every):
                try:
                    if self._store.size():  # an empty log's checkpoint proves nothing
                        self.sign_checkpoint()
                except DatabaseUnavailable:
                    pass  # logged once by the database's health; signed once it is back
                except Exception:
                    _log.exception("scheduled checkpoint failed")

        self._scheduler = threading.Thread(target=run, name="cxg-checkpoints", daemon=True)
        self._scheduler.start()

    def writer_problem(self, stuck_after: float) -> str | None:
        """Why the group commit cannot take leaves now ("closed", "stuck"), or None when it
        can: stuck when work handed to its commit thread has waited ``stuck_after`` seconds."""
        if self._group.closed:
            return "closed"
        stalled = self._group.stalled_for()
        if stalled >= stuck_after:
            return f"stuck: no commit for {stalled:.0f} s"
        return None

    def close(self, *, final_checkpoint: bool = False) -> None:
        """Stop the schedule and wait for the leaves handed over so far to be committed. With
        ``final_checkpoint`` (a gateway's shutdown), then sign a checkpoint that covers every
        leaf, so that each leaf this process acknowledged is under a signed root."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join()
            self._scheduler = None
        self._group.close()
        if not final_checkpoint:
            return
        try:
            if self._store.size():
                self.sign_checkpoint()  # logged there, as every checkpoint signed
        except DatabaseUnavailable:
            _log.error("no final checkpoint: the database is unavailable")
        except Exception:
            _log.exception("final checkpoint failed")

    # -- reading and proofs ------------------------------------------------------------------

    def root(self, size: int) -> bytes:
        return merkle.root(size, self._nodes(merkle.root_nodes(size)))

    def entries(
        self, request: pb.ListEntriesRequest, caller: Partner | None
    ) -> pb.ListEntriesResponse:
        start, end = request.start, request.end
        size = self._store.size()
        if start < 0:
            raise InvalidArgument("start must not be negative", field="start")
        if end <= start or end > size:
            raise InvalidArgument(f"end must be in ({start}, {size}]", field="end")
        if end - start > MAX_ENTRIES:
            raise InvalidArgument(f"at most {MAX_ENTRIES} entries per call", field="end")
        sees_all = caller is not None and "operator" in caller.roles
        response = pb.ListEntriesResponse()
        for leaf in self._store.leaves(start, end):
            entry = response.entries.add(leaf_index=leaf.index, leaf_hash=leaf.leaf_hash)
            if sees_all or (caller is not None and leaf.partner_id == caller.id):
                entry.data = leaf.data
        return response

    def inclusion(self, request: pb.GetInclusionProofRequest) -> pb.InclusionProof:
        index, size = request.leaf_index, request.tree_size
        self._check_size(size, "tree_size")
        if not 0 <= index < size:
            raise InvalidArgument(f"leaf_index must be in [0, {size})", field="leaf_index")
        nodes = self._nodes(
            [*merkle.inclusion_nodes(index, size), *merkle.root_nodes(size), (0, index)]
        )
        return pb.InclusionProof(
            leaf_index=index,
            tree_size=size,
            leaf_hash=nodes[(0, index)],
            root_hash=merkle.root(size, nodes),
            hashes=merkle.inclusion_proof(index, size, nodes),
        )

    def consistency(self, request: pb.GetConsistencyProofRequest) -> pb.ConsistencyProof:
        first, second = request.first, request.second
        self._check_size(second, "second")
        if not 0 < first <= second:
            raise InvalidArgument(f"first must be in [1, {second}]", field="first")
        nodes = self._nodes(
            [
                *merkle.consistency_nodes(first, second),
                *merkle.root_nodes(first),
                *merkle.root_nodes(second),
            ]
        )
        return pb.ConsistencyProof(
            first=first,
            second=second,
            first_root_hash=merkle.root(first, nodes),
            second_root_hash=merkle.root(second, nodes),
            hashes=merkle.consistency_proof(first, second, nodes),
        )

    def _check_size(self, size: int, field: str) -> None:
        current = self._store.size()
        if not 0 < size <= current:
            raise InvalidArgument(f"{field} must be in [1, {current}]", field=field)

    def _nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = set(wanted)
        found = self._store.nodes(wanted)
        if len(found) != len(wanted):
            raise Unavailable("the audit log is missing stored hashes; run cxg audit verify-log")
        return found


def witness_key(
    keys_of: Callable[[str], list[PartnerKey]],
    caller: Partner,
    peer_log_key: Callable[[str], str | None],
) -> str:
    """The caller's registered Ed25519 key, as a note verifier key named after it; a peer
    gateway's checkpoint key, named after its log (it co-signs as its log does)."""
    if "gateway" in caller.roles and (log_key := peer_log_key(caller.id)):
        return log_key
    for key in keys_of(caller.id):
        if key.alg == "EdDSA" and key.status == "active":
            public = jwt.PyJWK(dict(key.jwk), algorithm="EdDSA").key
            return str(note.verifier_key(caller.id, public))
    raise PermissionDenied(f"witness {caller.id!r} has no active Ed25519 key registered")


def note_signer(settings: Settings) -> note.NoteSigner:
    """The key that signs checkpoints: a file next to the JWS keys, or the token's key labelled
    ``CXG_PKCS11_CHECKPOINT_KEY_LABEL`` when the gateway's keys are in an HSM."""
    if settings.pkcs11_module is None:
        return load_note_key(settings.gateway_keys_dir / NOTE_KEY_FILE)
    from gateway.signing.pkcs11 import CHECKPOINT_KEY_LABEL, Pkcs11Token

    key = Pkcs11Token.from_settings(settings).key(
        settings.pkcs11_checkpoint_key_label, CHECKPOINT_KEY_LABEL
    )
    if key.alg != "EdDSA":
        raise Unavailable("must label an Ed25519 key (signed notes)", field=CHECKPOINT_KEY_LABEL)
    return key


def load_note_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The gateway's checkpoint-signing key (Ed25519, as signed notes require), made on first
    use and kept next to its JWS keys."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written whole under a temporary name, then linked into place: replicas starting
        # together never read a half-written key, and the first link wins.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise Unavailable(f"{path} is not an Ed25519 private key")
    return key


_RESOURCE_FIELDS = ("name", "profile_name", "profile", "partner_id")
_IDENTIFIER_FIELDS = ("id", "subject")
_AEO_NUMBER_FIELDS = ("aeo_number",)


def rule_pack_of(answer: object) -> str:
    """The SHA-256 of the rule pack that decided an answer ("" when no pack did)."""
    if isinstance(answer, SignedDecision):
        # A peer's decision names the peer's pack, not one of this gateway's (see subjects).
        return "" if answer.relay.peer else answer.decision.rule_pack_sha256
    return answer.rule_pack_sha256 if isinstance(answer, PublishReceipt) else ""


def served(profile_id: str, version: int) -> list[str]:
    """The subjects of an answer that serves a profile version: the profile, and the version
    (what records who received which version)."""
    found = [f"profiles/{profile_id}"]
    if version:
        found.append(f"profiles/{profile_id}/versions/{version}")
    return found


def subjects(*messages: object) -> tuple[str, ...]:
    """The resource names ("profiles/…", "consents/…", "partners/…") and identifiers
    ("SCHEME:VALUE") a request or an answer names, for the audit leaf."""
    found: list[str] = []
    for message in messages:
        if not isinstance(message, Message):
            found += getattr(message, "audit_subjects", ())  # a served profile version
            continue
        fields = message.DESCRIPTOR.fields_by_name
        for name in _RESOURCE_FIELDS:
            value = getattr(message, name, None) if name in fields else None
            if isinstance(value, str) and value:
                found.append(f"partners/{value}" if name == "partner_id" else value)
        if "profile_version" in fields and (version := getattr(message, "profile_version")):  # noqa: B009
            found.append(f"{getattr(message, 'profile')}/versions/{version}")  # noqa: B009
        for name in _AEO_NUMBER_FIELDS:
            if name in fields and (number := getattr(message, name)):
                found.append(f"AEO:{number}")
        for name in _IDENTIFIER_FIELDS:
            if name in fields and fields[name].message_type is not None and message.HasField(name):
                entity = getattr(message, name)
                if hasattr(entity, "scheme"):
                    found.append(f"{entity.scheme}:{entity.value}")
        if "relay" in fields and message.HasField("relay"):
            found += relay_subjects(getattr(message, "relay"))  # noqa: B009 (Message has none)
            if isinstance(message, SignedDecision) and message.relay.peer:
                pack = message.decision.rule_pack_sha256 or "none"
                found.append(f"peers/{message.relay.peer}/rulePacks/{pack}")
    return tuple(dict.fromkeys(found))
