"""Test doubles for the audit log's durability tests: ``cxg serve`` as a child process (killed
with SIGKILL, restarted), threads of authenticated audited calls that remember every
acknowledged leaf, and an independent auditor that checks the log through the gateway's public
API and, offline, through the database.

An acknowledgement is a 200 response naming its leaf in the ``cxg-audit-leaf`` header: the
gateway promises the leaf was durable before it answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format

from gateway.audit import merkle, note
from gateway.config import Settings
from gateway.schema.cxg.v1 import audit_service_pb2 as apb
from gateway.service import PartnerAdmin
from gateway.service.audit import NOTE_KEY_FILE, AuditLog, load_note_key, origin_of
from gateway.signing import KeyRing
from gateway.storage import Database
from gateway.storage.audit import AuditStore, StoredCheckpoint
from gateway.transport.errors import AUDIT_LEAF
from tests.clients import RestClient, Session
from tests.support import USCC, TestPartner, write_partners

START_TIMEOUT = 30.0
_LISTENING = re.compile(rb"gRPC on 127\.0\.0\.1:(\d+), REST on http://127\.0\.0\.1:(\d+)")
# Each child runs through this launcher, which asks Linux to SIGKILL it should the test process
# die without stopping it (PR_SET_PDEATHSIG survives exec), then execs `cxg serve`: the child's
# pid is the gateway's, so a SIGKILL sent to it kills the gateway itself.
_LAUNCHER = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("parent exited before the gateway started")
os.execv(sys.argv[2], sys.argv[2:])
"""


# -- the gateway as a child process --------------------------------------------------------------


def gateway_env(database_url: str, keys_dir: Path, *, checkpoint_seconds: float) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXG_")}
    env.update(
        CXG_DATABASE_URL=database_url,
        CXG_KEYS_DIR=str(keys_dir),
        CXG_HOST="127.0.0.1",
        CXG_GRPC_PORT="0",
        CXG_REST_PORT="0",
        CXG_CHECKPOINT_SECONDS=str(checkpoint_seconds),
    )
    return env


def seed(env: dict[str, str], partners: dict[str, TestPartner]) -> Settings:
    """Keys, schema and partners for a gateway configured by ``env``; its settings."""
    settings = Settings.from_env(env)
    KeyRing.init(settings.gateway_keys_dir)
    write_partners(settings.partners_dir, partners)
    db = Database.from_url(settings.database_url)
    try:
        db.upgrade()
        PartnerAdmin(db).import_files(settings.partners_dir)
    finally:
        db.dispose()
    return settings


@dataclass
class ServedGateway:
    """One ``cxg serve`` process. Has what the test clients read of a Gateway: ``rest_port``,
    ``grpc_port`` and ``settings``."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    settings: Settings
    grpc_port: int = 0
    rest_port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def crash(self) -> None:
        """SIGKILL: no shutdown code runs, whatever is in flight is cut off."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, the gateway's graceful shutdown; SIGKILL if it does not end in 15 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Gateways:
    """Every gateway process a test starts; ``close()`` ends whichever still run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._started: list[ServedGateway] = []

    def start(self, name: str, env: dict[str, str]) -> ServedGateway:
        cxg = Path(sys.executable).with_name("cxg")
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), str(cxg), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C of pytest reaches pytest, which stops it
            )
        served = ServedGateway(name, proc, log, Settings.from_env(env))
        self._started.append(served)
        offset = log.stat().st_size if log.exists() else 0
        deadline = time.monotonic() + START_TIMEOUT
        while (match := _LISTENING.search(log.read_bytes()[offset:])) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                served.stop()
                raise AssertionError(f"{name} did not start:\n{served.output()[-3000:]}")
            time.sleep(0.05)
        served.grpc_port, served.rest_port = int(match.group(1)), int(match.group(2))
        return served

    def close(self) -> None:
        for served in reversed(self._started):
            served.stop()
        self._started.clear()


@contextmanager
def gateways(workdir: Path) -> Iterator[Gateways]:
    running = Gateways(workdir)
    try:
        yield running
    finally:
        running.close()


# -- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """An acknowledged audited call: its leaf, and what that leaf must say."""

    leaf: int
    partner: str
    operation: str
    request_sha256: str
    response_sha256: str
    gateway: str


@dataclass(frozen=True)
class Call:
    """One audited REST call a partner makes: ``GET path?query``."""

    partner: str
    operation: str
    path: str
    query: dict[str, str]


# A credit bureau may read the whole profile (purpose credit_reporting) without consent; every
# reader may search. Each partner's quota (200 requests/s) is above what two threads reach.
READ_CALLS = (
    Call(
        "ru-bureau",
        "GetProfile",
        "/v1/profiles:lookup",
        {"scheme": "CN_USCC", "value": USCC, "purpose": "credit_reporting"},
    ),
    Call("ru-bureau", "SearchProfiles", "/v1/profiles:search", {"name_prefix": "Qingdao"}),
    Call("kz-bank", "SearchProfiles", "/v1/profiles:search", {"name_prefix": "Qingdao Hai"}),
    Call("cn-customs", "SearchProfiles", "/v1/profiles:search", {"country": "CN"}),
    Call("sme-portal", "SearchProfiles", "/v1/profiles:search", {"name_prefix": "Q"}),
)


def ack_of(response: httpx.Response, partner: str, operation: str, gateway: str) -> Ack:
    """The acknowledgement a 200 response carries, and the digests its leaf must hold (the
    request line as sent, and the body as received)."""
    assert response.status_code == 200, response.text
    sent = response.request
    received = f"{sent.method} {sent.url.raw_path.decode()}\n".encode() + sent.content
    return Ack(
        leaf=int(response.headers[AUDIT_LEAF]),
        partner=partner,
        operation=operation,
        request_sha256=hashlib.sha256(received).hexdigest(),
        response_sha256=hashlib.sha256(response.content).hexdigest(),
        gateway=gateway,
    )


@dataclass
class LoadResult:
    acks: list[Ack] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # anything but 200 or a cut connection


class Load:
    """``threads`` threads, each its own client and partner (round robin over ``calls``), call
    the gateways (thread i calls ``targets[i % len(targets)]``) until ``per_thread`` calls are
    made, ``seconds`` pass, ``stop()`` is called, or the gateway is gone (a connection error
    ends a thread: that is what a crash looks like to a client)."""

    def __init__(
        self,
        targets: Sequence[ServedGateway],
        partners: dict[str, TestPartner],
        *,
        threads: int,
        per_thread: int,
        seconds: float,
        calls: Sequence[Call] = READ_CALLS,
    ) -> None:
        self._targets = targets
        self._partners = partners
        self._calls = calls
        self._per_thread = per_thread
        self._deadline = time.monotonic() + seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._acknowledged: set[int] = set()  # threads with an acknowledged call
        self._all_acknowledged = threading.Event()
        self.result = LoadResult()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"audit-load-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait_running(self, timeout: float = 30.0) -> None:
        """Until every thread has had a call acknowledged (its token is fetched, its connection
        open): from then on, the load is at full strength."""
        if not self._all_acknowledged.wait(timeout):
            with self._lock:
                raise AssertionError(f"the load did not start: {self.result}")

    def join(self, timeout: float = 60.0) -> LoadResult:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "a load thread did not end"
        return self.result

    def _run(self, number: int) -> None:
        target = self._targets[number % len(self._targets)]
        call = self._calls[number % len(self._calls)]
        client = RestClient(target, self._partners, caller=call.partner)  # type: ignore[arg-type]
        try:
            for _ in range(self._per_thread):
                if self._stop.is_set() or time.monotonic() > self._deadline:
                    return
                try:
                    response = client.request("GET", call.path, params=call.query)
                except (httpx.TransportError, AssertionError) as exc:
                    # The gateway died under the call (an AssertionError: under its token
                    # request, which the test client checks).
                    self._count(f"cut: {type(exc).__name__}")
                    return
                self._count(response.status_code)
                if response.status_code == 200:
                    ack = ack_of(response, call.partner, call.operation, target.name)
                    with self._lock:
                        self.result.acks.append(ack)
                        self._acknowledged.add(number)
                        if len(self._acknowledged) == len(self._threads):
                            self._all_acknowledged.set()
                else:
                    with self._lock:
                        self.result.unexpected.append(
                            f"{response.status_code} {response.text[:300]}"
                        )
        finally:
            client.close()

    def _count(self, status: int | str) -> None:
        with self._lock:
            self.result.statuses[status] += 1


# -- the auditor ---------------------------------------------------------------------------------


def note_verifier(settings: Settings) -> str:
    """The gateway's checkpoint verifier key, from its key folder (what a monitor is given)."""
    key = load_note_key(settings.gateway_keys_dir / NOTE_KEY_FILE)
    return note.verifier_key(origin_of(settings), key.public_key())


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    text: str


def verified_checkpoint(text: str, verifier: str, origin: str) -> SignedCheckpoint:
    checkpoint = note.Checkpoint.from_note(text, [verifier], origin=origin)
    return SignedCheckpoint(checkpoint.size, checkpoint.root, text)


def check_leaf_data(data: bytes, ack: Ack) -> None:
    """The leaf records the acknowledged call: its partner, operation and exact digests."""
    document = json.loads(data)
    assert document["v"] == 2 and document["kind"] == "exchange", document
    assert document["decision"] == "ok", document
    assert document["transport"] == "rest", document
    assert (document["partner"], document["operation"]) == (ack.partner, ack.operation), (
        ack,
        document,
    )
    assert document["request_sha256"] == ack.request_sha256, (ack, document)
    assert document["response_sha256"] == ack.response_sha256, (ack, document)


class Offline:
    """The log read straight from the database while no gateway runs (or beside one)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database.from_url(settings.database_url)
        self.store = AuditStore(self.db)
        self.log = AuditLog.from_settings(settings, self.db)

    def close(self) -> None:
        self.log.close()
        self.db.dispose()

    def check(self, acks: Sequence[Ack]) -> tuple[int, list[StoredCheckpoint]]:
        """Every acknowledged leaf is below the size and stored as acknowledged; every stored
        checkpoint verifies and its root recomputes from the stored hashes. Returns the size
        and the checkpoints."""
        size = self.store.size()
        assert all(ack.leaf < size for ack in acks), (max(a.leaf for a in acks), size)
        by_leaf = {ack.leaf: ack for ack in acks}
        assert len(by_leaf) == len(acks), "two acknowledgements name the same leaf"
        for start in range(0, size, 1000):
            for leaf in self.store.leaves(start, min(size, start + 1000)):
                assert leaf.leaf_hash == merkle.leaf_hash(leaf.data), leaf.index
                if (ack := by_leaf.pop(leaf.index, None)) is not None:
                    assert leaf.partner_id == ack.partner
                    check_leaf_data(leaf.data, ack)
        assert not by_leaf, f"acknowledged leaves missing from the store: {sorted(by_leaf)[:10]}"
        verifier = note_verifier(self.settings)
        checkpoints = self.store.checkpoints()
        for stored in checkpoints:
            signed = verified_checkpoint(stored.note, verifier, self.log.origin)
            assert (signed.size, signed.root) == (stored.size, stored.root)
            assert self.log.root(stored.size) == stored.root, f"root at {stored.size} changed"
        return size, checkpoints


class Auditor:
    """Checks a gateway's log through its public API, as a monitor and the partners would."""

    def __init__(self, gateway: ServedGateway, partners: dict[str, TestPartner]) -> None:
        self.gateway = gateway
        self.origin = origin_of(gateway.settings)
        self.verifier = note_verifier(gateway.settings)
        self.client = RestClient(gateway, partners)  # type: ignore[arg-type]
        self.http = self.client.http

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: Any) -> httpx.Response:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response

    def latest(self) -> SignedCheckpoint:
        text = self._get("/v1/audit/checkpoint", tree_size=0).json()["note"]
        return verified_checkpoint(text, self.verifier, self.origin)

    def wait_for_checkpoint(self, covering: int, timeout: float = 15.0) -> SignedCheckpoint:
        """The latest checkpoint once the scheduler has signed one of at least ``covering``."""
        deadline = time.monotonic() + timeout
        while (latest := self.latest()).size < covering:
            assert time.monotonic() < deadline, f"no checkpoint of size {covering} was signed"
            time.sleep(0.1)
        return latest

    def check_consistent(self, older: SignedCheckpoint, newer: SignedCheckpoint) -> None:
        """The gateway proves ``newer`` extends ``older``, and the proof verifies."""
        if older.size == newer.size:
            assert older.root == newer.root, f"two roots signed at size {older.size}"
            return
        body = self._get("/v1/audit/proofs/consistency", first=older.size, second=newer.size)
        proof = json_format.Parse(body.text, apb.ConsistencyProof())
        assert proof.first_root_hash == older.root and proof.second_root_hash == newer.root
        merkle.verify_consistency(older.size, newer.size, older.root, newer.root, proof.hashes)

    def check_included(self, leaf: int, leaf_hash: bytes, checkpoint: SignedCheckpoint) -> None:
        body = self._get(
            "/v1/audit/proofs/inclusion", leaf_index=leaf, tree_size=checkpoint.size
        ).text
        proof = json_format.Parse(body, apb.InclusionProof())
        assert proof.leaf_hash == leaf_hash, leaf
        merkle.verify_inclusion(leaf, checkpoint.size, leaf_hash, proof.hashes, checkpoint.root)

    def entries(self, acks: Sequence[Ack], size: int) -> dict[int, bytes]:
        """The acknowledged leaves' contents, each read as the partner whose call it records
        (whose contents that partner may see); checks each against its acknowledgement."""
        found: dict[int, bytes] = {}
        by_partner: dict[str, list[Ack]] = {}
        for ack in acks:
            by_partner.setdefault(ack.partner, []).append(ack)
        for partner, own in by_partner.items():
            session: Session = self.client.sessions.of(partner)
            wanted = {ack.leaf: ack for ack in own}
            start = min(wanted)
            while start <= max(wanted):
                end = min(size, start + 1000)
                response = self.client.request(
                    "GET", "/v1/audit/entries", session=session, params={"start": start, "end": end}
                )
                assert response.status_code == 200, response.text
                listing = json_format.Parse(response.text, apb.ListEntriesResponse())
                assert [e.leaf_index for e in listing.entries] == list(range(start, end))
                for entry in listing.entries:
                    if (ack := wanted.get(entry.leaf_index)) is not None:
                        assert entry.data, f"{partner} cannot see its own leaf {ack.leaf}"
                        assert entry.leaf_hash == merkle.leaf_hash(entry.data)
                        check_leaf_data(entry.data, ack)
                        found[ack.leaf] = entry.leaf_hash
                start = end
        assert set(found) == {ack.leaf for ack in acks}
        return found
