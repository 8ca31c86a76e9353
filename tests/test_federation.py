"""Federation: gateways of different countries pin each other's federation documents, follow
their key rotations, trust each other's SCO issuers, and witness each other's audit logs.

Real gateways (gRPC and HTTP servers on 127.0.0.1) play CN, KZ and RU; a hostile peer is a
small HTTP server serving documents and checkpoints the test signs itself."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.struct_pb2 import Struct
from jwcrypto import jwk as jw_jwk
from jwcrypto import jws as jw_jws
from prometheus_client import REGISTRY

from gateway.audit import note
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.federation import FederationDocument
from gateway.schema.cxg.v1 import event_service_pb2 as event_pb
from gateway.schema.cxg.v1 import federation_service_pb2 as fed_pb
from gateway.schema.cxg.v1 import federation_service_pb2_grpc as fed_grpc
from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.schema.cxg.v1 import rules_service_pb2 as rules_pb
from gateway.schema.cxg.v1 import rules_service_pb2_grpc as rules_grpc
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.sco import StatusList, TrustList, verify
from gateway.service import PartnerAdmin
from gateway.service.federation import Federation
from gateway.service.sco import ScoService
from gateway.signing import KeyRing, SigningKey
from gateway.storage.audit import AuditStore
from gateway.storage.partners import PartnerStore
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import (
    KZ_BIN,
    TEST_ACTOR,
    USCC,
    TestPartner,
    profile,
    publish,
    write_partners,
)

AEO = {"scheme": "AEO", "value": "CN3702960123"}
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


# -- the document ----------------------------------------------------------------------------------


def document(signers: list[SigningKey], **overrides: Any) -> FederationDocument:
    fields: dict[str, Any] = {
        "gateway": "cxg.astana.dev",
        "country": "KZ",
        "rest_url": "https://cxg.astana.dev",
        "origin": "cxg.astana.dev/audit",
        "checkpoint_key": "cxg.astana.dev/audit+01234567+AQ==",
        "keys": tuple(key.public_jwk() for key in signers),
        "sco_issuers": (),
        "issued_at": NOW,
        "next_update": NOW + timedelta(days=1),
    }
    return FederationDocument(**(fields | overrides))


def checked(text: str, pinned: list[SigningKey], **options: Any) -> FederationDocument:
    options = {"gateway": "cxg.astana.dev", "now": NOW + timedelta(minutes=1)} | options
    return FederationDocument.verify(text.encode(), [k.public_jwk() for k in pinned], **options)


def test_the_document_is_signed_by_every_key_and_jwcrypto_verifies_each_signature() -> None:
    old, new = SigningKey.generate("EdDSA"), SigningKey.generate("ES256")
    text = document([old, new]).sign([old, new])
    for key in (old, new):
        token = jw_jws.JWS()
        token.deserialize(text)
        token.verify(jw_jwk.JWK(**key.public_jwk()), alg=key.alg)  # raises if it does not
        assert [h["typ"] for h in token.jose_header] == ["cxg-federation+jws"] * 2
        payload = json.loads(token.payload)
        assert payload["gateway"] == "cxg.astana.dev"
        assert {k["kid"] for k in payload["keys"]} == {old.kid, new.kid}
    # A peer that pinned only the old key follows the rotation: the new key is listed.
    found = checked(text, [old])
    assert [k["kid"] for k in found.keys] == [old.kid, new.kid]


def test_a_document_no_pinned_key_signed_is_refused() -> None:
    mine, stranger = SigningKey.generate(), SigningKey.generate()
    with pytest.raises(Unauthenticated, match="no signature of a key pinned") as refused:
        checked(document([stranger]).sign([stranger]), [mine])
    assert refused.value.field == "document/signatures"


def test_a_forged_signature_beside_a_genuine_one_is_refused() -> None:
    """The forger signs a payload of its own under the pinned kid; its signature fails."""
    pinned, forger = SigningKey.generate(), SigningKey.generate()
    genuine = json.loads(document([pinned]).sign([pinned]))
    forged = forger.sign_jws(b'{"gateway":"cxg.astana.dev"}', {"typ": "x"}).split(".")
    header = {"alg": "EdDSA", "kid": pinned.kid, "typ": "cxg-federation+jws"}
    protected = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    genuine["signatures"].append({"protected": protected, "signature": forged[2]})
    with pytest.raises(Unauthenticated, match="does not verify"):
        checked(json.dumps(genuine), [pinned])


@pytest.mark.parametrize(
    ("tamper", "field"),
    [
        (lambda d: d | {"payload": d["payload"][:-4] + "AAAA"}, "document/signatures/0"),
        (lambda d: d | {"header": {}}, "document"),
        (lambda d: d | {"signatures": []}, "document/signatures"),
        (lambda d: {"payload": d["payload"]}, "document"),
    ],
)
def test_a_tampered_or_malformed_document_is_refused_naming_where(tamper: Any, field: str) -> None:
    key = SigningKey.generate()
    text = json.dumps(tamper(json.loads(document([key]).sign([key]))))
    with pytest.raises((InvalidArgument, Unauthenticated)) as refused:
        checked(text, [key])
    assert refused.value.field == field


def test_another_gateways_an_expired_and_an_older_document_are_refused() -> None:
    key = SigningKey.generate()
    text = document([key]).sign([key])
    with pytest.raises(Unauthenticated, match=r"not 'cxg\.moscow\.dev'"):
        checked(text, [key], gateway="cxg.moscow.dev")
    with pytest.raises(Unauthenticated, match="expired") as expired:
        checked(text, [key], now=NOW + timedelta(days=2))
    assert expired.value.field == "document/nextUpdate"
    with pytest.raises(Unauthenticated, match="a rollback") as rolled_back:
        checked(text, [key], not_before=NOW + timedelta(seconds=1))
    assert rolled_back.value.details["rule"] == "rollback"


def test_a_listed_key_must_be_named_by_its_thumbprint() -> None:
    key = SigningKey.generate()
    listed = {**key.public_jwk(), "kid": "chosen-by-the-peer"}
    text = document([], keys=(key.public_jwk(), listed)).sign([key])
    with pytest.raises(InvalidArgument, match="thumbprint") as refused:
        checked(text, [key])
    assert refused.value.field == "document/keys/1/kid"


def test_a_document_that_is_too_large_is_refused_before_it_is_parsed() -> None:
    key = SigningKey.generate()
    with pytest.raises(InvalidArgument, match="longer than"):
        FederationDocument.verify(
            b" " * 300_000, [key.public_jwk()], gateway="cxg.astana.dev", now=NOW
        )


# -- real gateways -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_settings(
    tmp_path: Path,
    name: str,
    country: str,
    partners: dict[str, TestPartner],
    database_url: str | None = None,
) -> Any:
    keys_dir = tmp_path / name / "keys"
    KeyRing.init(keys_dir / "gateway")
    write_partners(keys_dir / "partners", partners)
    from gateway.config import Settings

    return dataclasses.replace(
        Settings(),
        database_url=database_url or f"sqlite:///{tmp_path / name / 'cxg.db'}",
        keys_dir=keys_dir,
        grpc_port=0,
        rest_port=free_port(),  # fixed, so that a restarted gateway is where its peers expect
        gateway_id=f"cxg.{name}.dev",
        country=country,
        federation_allow_http="yes",
        federation_refresh_seconds=3600.0,  # the tests refresh and poll when they choose
        federation_events_seconds=3600.0,
        # Every relayed lookup goes to the peer (kept answers have a test of their own).
        federation_cache_seconds=0.0,
        federation_stale_seconds=0.0,
    )


@contextmanager
def running(settings: Any) -> Iterator[Gateway]:
    gateway = Gateway(settings)
    PartnerAdmin(gateway.db).import_files(settings.partners_dir)
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


def base(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.rest_port}"


def register(
    federation: Federation, peer_id: str, *, jwks: list[dict[str, Any]], **fields: str
) -> fed_pb.Peer:
    keys = []
    for jwk in jwks:
        keys.append(Struct())
        keys[-1].update(jwk)
    request = fed_pb.RegisterPeerRequest(peer_id=peer_id, jwks=keys, **fields)
    return federation.register_peer(request)


def pin(local: Gateway, remote: Gateway, peer_id: str, local_id: str = "") -> None:
    """The operators exchange keys out of band; the local one registers the remote gateway
    (and says under which id the remote one registered it, if it did)."""
    register(
        local.services.federation,
        peer_id,
        gateway=remote.settings.gateway_id,
        url=base(remote),
        display_name=f"Gateway of {remote.settings.country}",
        country=remote.settings.country,
        jwks=remote.services.exchange.jwks()["keys"],
        local_id=local_id,
    )


def issue_code(gateway: Gateway, partners: dict[str, TestPartner]) -> str:
    publish(gateway.exchange, partners["cn-customs"], profile())
    operator = partners["cxg-operator"].as_partner()
    issued = gateway.services.sco.issue_code(sco_pb.IssueScoCodeRequest(subject=AEO), operator)
    return issued.code


def verified_online(gateway: Gateway, code: str) -> str:
    answer = httpx.post(f"{base(gateway)}/v1/scoCodes:verify", json={"code": code}, timeout=10)
    assert answer.status_code == 200, answer.text
    result: str = answer.json()["result"]
    return result


def verified_offline(gateway: Gateway, code: str) -> str:
    """As a verifier with the gateway's JWKS and its published trust list only."""
    jwks = httpx.get(f"{base(gateway)}/.well-known/jwks.json", timeout=10).json()
    signed = httpx.get(f"{base(gateway)}/v1/sco/trustList", timeout=10).json()["jws"]
    trust = TrustList.verify(signed, jwks, now=datetime.now(UTC))
    return verify(code, trust, now=datetime.now(UTC)).result.value


def change_leaves(gateway: Gateway, change: str) -> list[dict[str, Any]]:
    store = AuditStore(gateway.db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(0, store.size())]
    return [leaf for leaf in leaves if leaf.get("change") == change]


def test_three_gateways_trust_each_others_sco_issuers_and_witness_each_others_logs(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    with (
        running(node_settings(tmp_path, "qingdao", "CN", partners, database_url)) as cn,
        running(node_settings(tmp_path, "astana", "KZ", partners)) as kz,
        running(node_settings(tmp_path, "moscow", "RU", partners)) as ru,
    ):
        kz_code, ru_code = issue_code(kz, partners), issue_code(ru, partners)
        assert verified_online(cn, kz_code) != "VALID"  # no peer yet: an unknown issuer
        pin(cn, kz, "kz-gateway", local_id="cn-gateway")  # Astana registered Qingdao too
        pin(cn, ru, "ru-gateway")
        pin(kz, cn, "cn-gateway")
        assert kz.services.federation.refresh("cn-gateway").problem == ""
        refreshed = cn.services.federation.refresh_all()
        assert [(r.peer, r.document, r.problem) for r in refreshed] == [
            ("kz-gateway", "accepted", ""),
            ("ru-gateway", "accepted", ""),
        ]
        assert all(r.witnessed_tree_size > 0 for r in refreshed)
        # A code issued in Kazakhstan verifies at Qingdao, online and offline; so does Russia's.
        assert verified_online(cn, kz_code) == "VALID"
        assert verified_offline(cn, kz_code) == "VALID"
        assert verified_offline(cn, ru_code) == "VALID"
        # Astana revokes its code: Qingdao says so once it has Astana's new status list.
        operator = partners["cxg-operator"].as_partner()
        kz_name = kz.services.sco.verify_code(sco_pb.VerifyScoCodeRequest(code=kz_code))
        revoke = sco_pb.SetScoCodeStatusRequest(
            name=f"scoCodes/{kz_name.claims.code_id}", state=sco_pb.CODE_STATE_REVOKED
        )
        kz.services.sco.set_status(revoke, operator)
        assert cn.services.federation.refresh("kz-gateway").problem == ""
        assert verified_online(cn, kz_code) == "REVOKED"
        # ... and the reverse: Astana follows Qingdao.
        cn_code = issue_code(cn, partners)
        assert verified_offline(kz, cn_code) == "VALID"
        # Russia does not follow Qingdao: its gateway has not pinned it.
        assert verified_offline(ru, cn_code) != "VALID"

        # Qingdao serves Astana's checkpoint as it witnessed it: Astana's signature and its own.
        answer = httpx.get(f"{base(cn)}/v1/peers/kz-gateway/checkpoint", timeout=10)
        assert answer.status_code == 200, answer.text
        cosigned = answer.json()["note"]
        names = note.verify_note(cosigned, [kz.audit.verifier_key, cn.audit.verifier_key])
        assert sorted(names) == sorted([kz.audit.origin, cn.audit.origin])
        # Qingdao handed its co-signature to Astana, whose own checkpoint now carries it.
        size = refreshed[0].witnessed_tree_size
        at_kz = httpx.get(f"{base(kz)}/v1/audit/checkpoint", params={"tree_size": size}).json()
        assert at_kz["cosigners"] == ["cn-gateway"]
        assert len(note.verify_note(at_kz["note"], [cn.audit.verifier_key])) == 1
        missing = httpx.get(f"{base(cn)}/v1/peers/nobody/checkpoint", timeout=10)
        assert missing.status_code == 404
        assert "peer" in missing.json()["detail"]

        # The peers' registrations are in Qingdao's audit log.
        registered = change_leaves(cn, "peer.register")
        assert {leaf["subject"][0] for leaf in registered} == {
            "peers/kz-gateway",
            "peers/ru-gateway",
        }


def test_a_peers_key_rotation_and_revocation_are_followed_and_its_suspension_obeyed(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    kz_settings = node_settings(tmp_path, "astana", "KZ", partners)
    with running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn:
        with running(kz_settings) as kz:
            old_code = issue_code(kz, partners)
            pin(cn, kz, "kz-gateway")
            assert cn.services.federation.refresh("kz-gateway").document == "accepted"
            old_kid = kz.exchange.keyring.active.kid
        # Astana rotates its key and restarts: its document lists (and is signed by) both.
        KeyRing.rotate(kz_settings.gateway_keys_dir)
        with running(kz_settings) as kz:
            new_code = issue_code(kz, partners)
            assert cn.services.federation.refresh("kz-gateway").document == "accepted"
            keys = {k.kid: k.status for k in PartnerAdmin(cn.db).show("kz-gateway").keys}
            assert keys == {old_kid: "active", kz.exchange.keyring.active.kid: "active"}
            assert verified_offline(cn, new_code) == "VALID"
            assert verified_offline(cn, old_code) == "VALID"
            new_kid = kz.exchange.keyring.active.kid
        # Astana drops the old key from its keyring (revocation): Qingdao retires it.
        index_path = kz_settings.gateway_keys_dir / "keyring.json"
        index = json.loads(index_path.read_text())
        index["keys"] = [k for k in index["keys"] if k["kid"] != old_kid]
        index_path.write_text(json.dumps(index))
        with running(kz_settings):
            assert cn.services.federation.refresh("kz-gateway").document == "accepted"
            keys = {k.kid: k.status for k in PartnerAdmin(cn.db).show("kz-gateway").keys}
            assert keys == {old_kid: "retired", new_kid: "active"}
            assert verified_offline(cn, old_code) != "VALID"
            assert verified_offline(cn, new_code) == "VALID"
            followed = change_leaves(cn, "peer.keys")
            assert [leaf["detail"]["pinned"] for leaf in followed] == [
                sorted([old_kid, new_kid]),
                [new_kid],
            ]
            assert all(leaf["actor"] == TEST_ACTOR.name for leaf in followed)
            # Suspended, the peer vouches for nothing (a new process's trust list: no cache).
            PartnerAdmin(cn.db).suspend("kz-gateway")
            fresh = ScoService.from_settings(cn.settings, cn.db, cn.exchange.keyring)
            issuers = {key.issuer for key in fresh.trust_list()[0].keys}
            assert "cxg.astana.dev" not in issuers and "cxg.qingdao.dev" in issuers
            assert cn.services.federation.refresh_all() == []  # nor is it refreshed


# -- a hostile peer ------------------------------------------------------------------------------


class HostilePeer:
    """A peer under the test's control: it serves whatever document and checkpoint it is told."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.note_key = ed25519.Ed25519PrivateKey.generate()
        self.origin = "cxg.astana.dev/audit"
        self.checkpoint_key = note.verifier_key(self.origin, self.note_key.public_key())
        self.routes: dict[str, bytes] = {}
        self.post_routes: dict[str, bytes] = {}
        self.posted: list[tuple[str, bytes]] = []  # (path, body) of each POST it received
        routes, post_routes, posted = self.routes, self.post_routes, self.posted

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = routes.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                posted.append(
                    (self.path, self.rfile.read(int(self.headers.get("Content-Length", 0))))
                )
                body = post_routes.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(
        self,
        *,
        issued_at: datetime,
        signer: SigningKey | None = None,
        also: tuple[dict[str, str], ...] = (),
    ) -> None:
        """Serve a document issued at ``issued_at`` listing its key (and ``also`` these)."""
        signed = document(
            [self.key],
            keys=(self.key.public_jwk(), *also),
            checkpoint_key=self.checkpoint_key,
            issued_at=issued_at,
            next_update=issued_at + timedelta(days=1),
        ).sign([signer or self.key])
        self.routes["/.well-known/cxg-federation"] = signed.encode()
        codes = StatusList(8, issuer="cxg.astana.dev", subject=f"{self.url}/v1/sco/statusList")
        status = codes.sign(self.key, now=datetime.now(UTC))
        self.routes["/v1/sco/statusList"] = json.dumps({"jws": status}).encode()

    def checkpoint(self, size: int, root: bytes) -> str:
        text = note.sign_note(
            note.Checkpoint(self.origin, size, root).body(), self.origin, self.note_key
        )
        self.routes["/v1/audit/checkpoint"] = json.dumps({"note": text}).encode()
        return text

    def register_at(self, federation: Federation, local_id: str = "") -> None:
        register(
            federation,
            "kz-gateway",
            gateway="cxg.astana.dev",
            url=self.url,
            display_name="Gateway of KZ",
            country="KZ",
            jwks=[self.key.public_jwk()],
            local_id=local_id,
        )

    def join(self, federation: Federation) -> None:
        """Registered at ``federation`` (which it registered too), followed and witnessed, and
        giving it tokens: what it answers next is up to the test."""
        self.register_at(federation, local_id="cn-gateway")
        self.publish(issued_at=datetime.now(UTC).replace(microsecond=0))
        self.checkpoint(1, hashlib.sha256(b"log").digest())
        self.post_routes["/oauth2/token"] = json.dumps(
            {"access_token": "t", "token_type": "DPoP", "expires_in": 300}
        ).encode()
        self.post_routes["/v1/audit/checkpoints/1:cosign"] = b"{}"
        assert federation.refresh("kz-gateway").problem == ""

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alarms_of(federation: Federation) -> list[fed_pb.PeerAlarm]:
    request = fed_pb.ListPeerAlarmsRequest(peer="kz-gateway")
    return list(federation.list_alarms(request).alarms)


def alarms_counted(kind: str) -> float:
    labels = {"peer": "kz-gateway", "kind": kind}
    return REGISTRY.get_sample_value("cxg_peer_alarms_total", labels) or 0.0


@pytest.fixture
def hostile() -> Iterator[HostilePeer]:
    peer = HostilePeer()
    yield peer
    peer.close()


def test_a_peer_that_forks_its_log_or_rolls_back_its_document_raises_alarms_with_evidence(
    tmp_path: Path, partners: dict[str, TestPartner], hostile: HostilePeer
) -> None:
    with running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn:
        federation = cn.services.federation
        hostile.register_at(federation)
        split_views = alarms_counted("split-view")
        now = datetime.now(UTC).replace(microsecond=0)
        hostile.publish(issued_at=now)
        first = hostile.checkpoint(3, hashlib.sha256(b"one history").digest())
        assert federation.refresh("kz-gateway").witnessed_tree_size == 3
        # Two signed checkpoints for one size: a split view.
        second = hostile.checkpoint(3, hashlib.sha256(b"another history").digest())
        failed = federation.refresh("kz-gateway")
        assert failed.witnessed_tree_size == 0 and "split view" in failed.problem
        [alarm] = alarms_of(federation)
        assert alarm.kind == "split-view" and "two different roots" in alarm.message
        assert (alarm.seen, alarm.offered) == (first, second)  # both signed texts, as evidence
        assert federation.peers()[0].seen_note == first  # the witness did not move past it
        [leaf] = change_leaves(cn, "peer.alarm")
        assert leaf["detail"]["seen_sha256"] == hashlib.sha256(first.encode()).hexdigest()
        assert alarms_counted("split-view") == split_views + 1

        # An older document (one that might still list a revoked key): a rollback.
        hostile.checkpoint(3, hashlib.sha256(b"one history").digest())
        hostile.publish(issued_at=now - timedelta(hours=1))
        refused = federation.refresh("kz-gateway")
        assert "rollback" in refused.problem
        assert alarms_of(federation)[0].kind == "rollback"

        # A document listing a key registered here to a partner is refused, naming why.
        bank_key = partners["kz-bank"].key.public_jwk()
        hostile.publish(issued_at=now + timedelta(seconds=30), also=(bank_key,))
        taken = federation.refresh("kz-gateway")
        assert "registered here to another partner" in taken.problem
        assert federation.peers()[0].issued_at == now
        # A document signed by a key nobody pinned changes nothing.
        hostile.publish(issued_at=now + timedelta(minutes=1), signer=SigningKey.generate())
        forged = federation.refresh("kz-gateway")
        assert "no signature of a key pinned" in forged.problem
        assert federation.peers()[0].issued_at == now

        # A flood instead of a document is cut off at the limit; a peer down is named.
        hostile.routes["/.well-known/cxg-federation"] = b"[" * 400_000
        assert "more than 262144 bytes" in federation.refresh("kz-gateway").problem
        hostile.close()
        down = federation.refresh("kz-gateway")
        assert "could not be reached" in down.problem
        assert federation.peers()[0].problem == down.problem


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"peer_id": "KZ!"}, "peer_id"),
        ({"gateway": ""}, "gateway"),
        ({"url": "ftp://cxg.astana.dev"}, "url"),
        ({"display_name": ""}, "display_name"),
        ({"country": "XX"}, "country"),
        ({"jwks": []}, "jwks"),
        ({"jwks": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "alg": "EdDSA"}]}, "jwks[0]"),
        ({"jwks": [{**SigningKey.generate().public_jwk(), "kid": "mine"}]}, "jwks[0].kid"),
    ],
)
def test_peer_registration_is_checked_before_anything_is_stored(
    tmp_path: Path, partners: dict[str, TestPartner], change: dict[str, Any], field: str
) -> None:
    with running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn:
        federation = cn.services.federation
        good: dict[str, Any] = {
            "peer_id": "kz-gateway",
            "gateway": "cxg.astana.dev",
            "url": "https://cxg.astana.dev",
            "display_name": "KZ",
            "country": "KZ",
            "jwks": [SigningKey.generate().public_jwk()],
        }
        fields = good | change
        with pytest.raises(InvalidArgument) as refused:
            register(federation, fields.pop("peer_id"), **fields)
        assert refused.value.field == field
        assert federation.peers() == [] and PartnerAdmin(cn.db).store.get("kz-gateway") is None


def test_operators_administer_peers_over_rest_and_grpc_and_others_are_refused(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    with (
        running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn,
        running(node_settings(tmp_path, "astana", "KZ", partners)) as kz,
    ):
        rest = RestClient(cn, partners, caller="cxg-operator")
        grpc_client = GrpcClient(cn, partners, caller="cxg-operator")
        stub = fed_grpc.FederationServiceStub(grpc_client.channel)
        try:
            body = {
                "peerId": "kz-gateway",
                "gateway": "cxg.astana.dev",
                "url": base(kz),
                "displayName": "Gateway of KZ",
                "country": "KZ",
                "jwks": kz.services.exchange.jwks()["keys"],
            }
            bank = rest.sessions.of("kz-bank")
            refused = rest.request("POST", "/v1/admin/peers", json=body, session=bank)
            assert refused.status_code == 403, refused.text
            added = rest.request("POST", "/v1/admin/peers", json=body)
            assert added.status_code == 200, added.text
            assert added.json()["pinnedKids"] == [kz.exchange.keyring.active.kid]
            again = rest.request("POST", "/v1/admin/peers", json=body)
            assert again.status_code == 409, again.text

            refreshed = grpc_client.call(
                stub.RefreshPeer, fed_pb.RefreshPeerRequest(peer="kz-gateway")
            )
            assert refreshed.status == "OK" and refreshed.body["document"] == "accepted"
            listed = rest.request("GET", "/v1/admin/peers").json()["peers"]
            assert listed[0]["witnessedTreeSize"] == refreshed.body["witnessedTreeSize"]
            assert "documentIssueTime" in listed[0] and "problem" not in listed[0]
            unknown = rest.request("POST", "/v1/admin/peers/nobody:refresh")
            assert unknown.status_code == 404 and unknown.json()["field"] == "peer"
            alarms = rest.request("GET", "/v1/admin/peerAlarms", params={"peer": "kz-gateway"})
            assert alarms.status_code == 200 and alarms.json() == {}

            # The public calls need no credentials, on either transport.
            document = fed_grpc.FederationServiceStub(grpc_client.channel).GetFederationDocument(
                fed_pb.GetFederationDocumentRequest(), timeout=10
            )
            served = httpx.get(f"{base(cn)}/.well-known/cxg-federation", timeout=10).text
            assert json.loads(document.jws_json)["payload"] == json.loads(served)["payload"]
            checkpoint = stub.GetPeerCheckpoint(
                fed_pb.GetPeerCheckpointRequest(peer="kz-gateway"), timeout=10
            )
            assert checkpoint.note.startswith(f"{kz.audit.origin}\n")

            # The operator's registration is in the log, naming the operator.
            [leaf] = change_leaves(cn, "peer.register")
            assert leaf["actor"] == "partners/cxg-operator" and leaf["via"].endswith("RegisterPeer")
        finally:
            rest.close()
            grpc_client.close()


# -- relaying ------------------------------------------------------------------------------------

KZ_COMPANY = {
    "ids": [{"scheme": "KZ_BIN", "value": KZ_BIN}],
    "legalName": {"en": "Astana Grain Export LLP", "ru": "ТОО «Астана Грэйн Экспорт»"},
    "country": "KZ",
    "status": "ENTITY_STATUS_ACTIVE",
}


@contextmanager
def federated(
    tmp_path: Path,
    partners: dict[str, TestPartner],
    database_url: str | None = None,
    **qingdao: Any,
) -> Iterator[tuple[Gateway, Gateway]]:
    """Qingdao and Astana as each other's peers; Qingdao routes KZ_BIN lookups to Astana,
    which holds a Kazakh company Qingdao does not. ``qingdao``: settings of Qingdao's."""
    cn_settings = node_settings(tmp_path, "qingdao", "CN", partners, database_url)
    with (
        running(dataclasses.replace(cn_settings, **qingdao)) as cn,
        running(node_settings(tmp_path, "astana", "KZ", partners)) as kz,
    ):
        publish(kz.exchange, partners["kz-bank"], profile(subject=KZ_COMPANY, aeo=[]))
        pin(cn, kz, "kz-gateway", local_id="cn-gateway")
        pin(kz, cn, "cn-gateway")
        assert kz.services.federation.refresh("cn-gateway").problem == ""
        assert cn.services.federation.refresh("kz-gateway").problem == ""
        route = fed_pb.SetPeerRouteRequest(scheme="KZ_BIN", peer="kz-gateway")
        cn.services.federation.set_route(route)
        yield cn, kz


def lookup(client: RestClient, value: str = KZ_BIN) -> httpx.Response:
    query = {"scheme": "KZ_BIN", "value": value, "purpose": "trade_due_diligence"}
    return client.request("GET", "/v1/profiles:lookup", params=query)


def leaves_of(gateway: Gateway, operation: str) -> list[dict[str, Any]]:
    store = AuditStore(gateway.db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(0, store.size())]
    return [leaf for leaf in leaves if leaf.get("operation") == operation]


def test_a_partner_reads_a_company_a_peer_holds_and_verifies_the_peers_jws_end_to_end(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    with federated(tmp_path, partners, database_url) as (cn, kz):
        bank = RestClient(cn, partners, caller="kz-bank")
        grpc_client = GrpcClient(cn, partners, caller="kz-bank")
        try:
            answer = lookup(bank)
            assert answer.status_code == 200, answer.text
            jws = answer.json()["jws"]
            # Verified with Astana's federation document alone (jwcrypto, its keys).
            document = json.loads(
                httpx.get(f"{base(kz)}/.well-known/cxg-federation", timeout=10).text
            )
            keys = json.loads(base64.urlsafe_b64decode(document["payload"] + "=="))["keys"]
            token = jw_jws.JWS()
            token.deserialize(jws)
            kid = token.jose_header["kid"]
            [key] = [k for k in keys if k["kid"] == kid]
            token.verify(jw_jwk.JWK(**key), alg=key["alg"])
            assert token.jose_header["iss"] == "cxg.astana.dev"
            assert json.loads(token.payload)["subject"]["ids"][0]["value"] == KZ_BIN
            assert token.jose_header["view"] == "summary"  # Astana's policy for the purpose
            # Over gRPC too, the same bytes Astana signed.
            request = profile_pb.GetProfileRequest(
                id={"scheme": "KZ_BIN", "value": KZ_BIN}, purpose="trade_due_diligence"
            )
            relayed = grpc_client.call(grpc_client.stub.GetProfile, request)
            assert relayed.status == "OK" and relayed.body["jws"].split(".")[1] == jws.split(".")[1]

            # Both logs hold the exchange; each names the other's side, so they reconcile.
            qingdao = [leaf for leaf in leaves_of(cn, "GetProfile") if leaf["decision"] == "ok"]
            astana = leaves_of(kz, "GetProfile")
            assert len(qingdao) == len(astana) == 2
            for here, there in zip(qingdao, astana, strict=True):
                jti = next(s for s in here["subject"] if "/relays/" in s).rsplit("/", 1)[1]
                assert f"relays/cn-gateway/{jti}" in there["subject"]
                assert "on-behalf-of/cn-gateway/kz-bank" in there["subject"]
                assert there["partner"] == "cn-gateway"
                leaf = next(s for s in here["subject"] if "/leaves/" in s).rsplit("/", 1)[1]
                stored = AuditStore(kz.db).leaves(int(leaf), int(leaf) + 1)[0]
                assert json.loads(stored.data) == there
                assert here["partner"] == "kz-bank"
            # Qingdao records no disclosure of a version it does not hold.
            assert not any(s.startswith("profiles/") for s in qingdao[0]["subject"])

            # A company Astana does not have: its refusal, naming it.
            missing = lookup(bank, "180440001235"[:-1] + "0")
            assert missing.status_code in (400, 404), missing.text
            assert "kz-gateway" in missing.json()["detail"]
        finally:
            bank.close()
            grpc_client.close()


KZ_AEO = "KZ0000000123"


def test_customs_ask_a_peer_about_its_aeo_and_partners_search_its_country_through_the_gateway(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    """RecognizeAeo about a Kazakh authorisation is decided by Astana (its packs, its facts) for
    the importing country of the customs asking at Qingdao; a search by KZ is Astana's."""
    with federated(tmp_path, partners, database_url) as (cn, kz):
        kz_aeo = [
            {
                "programCountry": "KZ",
                "authorisationNumber": KZ_AEO,
                "type": "KZ_AEO",
                "status": "AEO_STATE_SUSPENDED",
            }
        ]
        publish(kz.exchange, partners["kz-bank"], profile(subject=KZ_COMPANY, aeo=kz_aeo))
        route = fed_pb.SetPeerRouteRequest(scheme="AEO", country="KZ", peer="kz-gateway")
        cn.services.federation.set_route(route)
        customs = RestClient(cn, partners, caller="cn-customs")
        bank = RestClient(cn, partners, caller="kz-bank")
        grpc_client = GrpcClient(cn, partners, caller="cn-customs")
        try:
            answer = customs.request("POST", "/v1/aeo:recognize", json={"aeoNumber": KZ_AEO})
            assert answer.status_code == 200, answer.text
            decided = answer.json()
            assert decided["relay"]["peer"] == "kz-gateway"
            # Astana's JWS, verified with its keys alone (jwcrypto): Astana knew the facts.
            token = jw_jws.JWS()
            token.deserialize(decided["jws"])
            [key] = [
                k
                for k in kz.services.exchange.jwks()["keys"]
                if k["kid"] == token.jose_header["kid"]
            ]
            token.verify(jw_jwk.JWK(**key), alg=key["alg"])
            assert token.jose_header["iss"] == "cxg.astana.dev"
            facts = json.loads(json.loads(token.payload)["factsJson"])
            assert facts["importing_country"] == "CN"
            assert facts["aeo"]["status"] == "suspended"
            # Qingdao itself knows nothing of the authorisation: without the route, no facts.
            unrouted = rules_pb.RecognizeAeoRequest(aeo_number="RU0000000123")
            alone = cn.services.rules.recognize_aeo(unrouted, partners["cn-customs"].as_partner())
            assert not alone.HasField("relay") and "aeo" not in json.loads(
                alone.decision.facts_json
            )
            rules_stub = rules_grpc.RulesServiceStub(grpc_client.channel)
            over_grpc = grpc_client.call(
                rules_stub.RecognizeAeo, rules_pb.RecognizeAeoRequest(aeo_number=KZ_AEO)
            )
            assert over_grpc.status == "OK", over_grpc
            assert over_grpc.body["relay"]["peer"] == "kz-gateway"

            # Both logs hold each decision, Qingdao's naming Astana's leaf and the relay's id;
            # Qingdao's leaf names Astana's pack, not one of its own.
            qingdao = [leaf for leaf in leaves_of(cn, "RecognizeAeo") if leaf["decision"] == "ok"]
            astana = leaves_of(kz, "RecognizeAeo")
            assert len(qingdao) == len(astana) == 2
            for here, there in zip(qingdao, astana, strict=True):
                assert here["partner"] == "cn-customs" and there["partner"] == "cn-gateway"
                assert "on-behalf-of/cn-gateway/cn-customs" in there["subject"]
                jti = next(s for s in here["subject"] if "/relays/" in s).rsplit("/", 1)[1]
                assert f"relays/cn-gateway/{jti}" in there["subject"]
                leaf = next(s for s in here["subject"] if "/leaves/" in s).rsplit("/", 1)[1]
                assert (
                    json.loads(AuditStore(kz.db).leaves(int(leaf), int(leaf) + 1)[0].data) == there
                )
                assert any(s.startswith("peers/kz-gateway/rulePacks/") for s in here["subject"])
                assert here.get("rule_pack", "") == ""

            # A search by KZ is answered by Astana; one by CN (or no country) here.
            found = bank.request("GET", "/v1/profiles:search", params={"country": "KZ"})
            assert found.status_code == 200, found.text
            [result] = found.json()["results"]
            assert result["ids"][0]["value"] == KZ_BIN
            assert found.json()["relay"]["peer"] == "kz-gateway"
            # Named as Qingdao's partners look it up: Astana's answer, by REST and gRPC.
            assert result["name"].startswith("peers/kz-gateway/profiles/")
            by_name = bank.request(
                "GET", f"/v1/{result['name']}", params={"purpose": "trade_due_diligence"}
            )
            assert by_name.status_code == 200, by_name.text
            verified_jws(by_name.json()["jws"], kz.services.exchange.jwks()["keys"])
            bank_grpc = GrpcClient(cn, partners, caller="kz-bank")
            try:
                named = profile_pb.GetProfileRequest(
                    name=result["name"], purpose="trade_due_diligence"
                )
                over_grpc = bank_grpc.call(bank_grpc.stub.GetProfile, named)
                assert over_grpc.status == "OK", over_grpc
                assert over_grpc.body["jws"] == by_name.json()["jws"]
                unknown = profile_pb.GetProfileRequest(
                    name=result["name"].replace("kz-gateway", "xx-gateway"),
                    purpose="trade_due_diligence",
                )
                missing = bank_grpc.call(bank_grpc.stub.GetProfile, unknown)
                assert missing.status == "NOT_FOUND", missing
            finally:
                bank_grpc.close()
            here = leaves_of(cn, "GetProfile")[-2]  # a lookup by name
            assert any(s.startswith("peers/kz-gateway/profiles/") for s in here["subject"])
            assert not any(s.startswith("profiles/") for s in here["subject"])
            assert (
                leaves_of(kz, "SearchProfiles")[-1]["subject"][0]
                == "on-behalf-of/cn-gateway/kz-bank"
            )
            local = bank.request("GET", "/v1/profiles:search", params={"country": "CN"})
            assert local.status_code == 200 and "relay" not in local.json()
            assert local.json().get("results", []) == []
            # A peer's refusal is named: Astana refuses a malformed page token.
            bad = bank.request(
                "GET", "/v1/profiles:search", params={"country": "KZ", "page_token": "x"}
            )
            assert bad.status_code == 400 and "kz-gateway" in bad.json()["detail"], bad.text
        finally:
            customs.close()
            bank.close()
            grpc_client.close()


def verified_jws(jws: str, keys: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWS one of ``keys`` signed, as jwcrypto verifies it."""
    token = jw_jws.JWS()
    token.deserialize(jws)
    [key] = [k for k in keys if k["kid"] == token.jose_header["kid"]]
    token.verify(jw_jwk.JWK(**key), alg=key["alg"])
    return token.jose_header, json.loads(token.payload)


def test_a_peers_events_about_a_company_reach_the_partners_it_was_relayed_to(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    with federated(tmp_path, partners, database_url) as (cn, kz):
        bank = RestClient(cn, partners, caller="kz-bank")
        other = RestClient(cn, partners, caller="ru-bureau")
        subscription = {
            "scope": "SUBSCRIPTION_SCOPE_RECEIVED",
            "purpose": "trade_due_diligence",
            "delivery": "EVENT_DELIVERY_POLL",
        }
        poll = {"returnImmediately": True}
        try:
            for client in (bank, other):  # only the bank reads the company
                made = client.request("POST", "/v1/subscriptions", json=subscription)
                assert made.status_code == 200, made.text
            assert lookup(bank).status_code == 200
            assert cn.services.federation.poll_events() == 0  # subscribed at Astana: nothing yet
            at_kz = kz.services.events.store.subscriptions_of("cn-gateway")
            assert [(s.scope, s.delivery) for s in at_kz] == [("received", "poll")]
            # A second process of Qingdao's subscribed at the same moment: each change comes
            # twice, and is forwarded once.
            twin = event_pb.CreateSubscriptionRequest(
                scope=event_pb.SUBSCRIPTION_SCOPE_RECEIVED,
                purpose="trade_due_diligence",
                delivery=event_pb.EVENT_DELIVERY_POLL,
            )
            cn_there = PartnerStore(kz.db).get("cn-gateway")
            assert cn_there is not None
            kz.services.events.create_subscription(cn_there, twin)

            # Astana's company is granted an AEO authorisation: Astana's event reaches the bank.
            kz_aeo = [
                {
                    "programCountry": "KZ",
                    "authorisationNumber": KZ_AEO,
                    "type": "KZ_AEO",
                    "status": "AEO_STATE_AUTHORISED",
                }
            ]
            publish(kz.exchange, partners["kz-bank"], profile(subject=KZ_COMPANY, aeo=kz_aeo))
            # Each gateway's own dispatcher may fan the outbox out before the test does.
            taken, deadline = 0, time.monotonic() + 20
            while not taken and time.monotonic() < deadline:
                kz.services.events.dispatch()
                taken = cn.services.federation.poll_events()  # two SETs polled, one taken
                time.sleep(0.05)
            assert taken == 1
            assert cn.services.federation.poll_events() == 0  # acknowledged: taken once
            cn.services.events.dispatch()
            polled = bank.request("POST", "/v1/events:poll", json={"returnImmediately": False})
            assert polled.status_code == 200, polled.text
            [forwarded] = polled.json()["sets"].values()
            header, claims = verified_jws(forwarded, cn.services.exchange.jwks()["keys"])
            assert header["typ"] == "secevent+jwt" and claims["iss"] == "cxg.qingdao.dev"
            assert claims["aud"] == "kz-bank"
            assert claims["sub_id"]["id"].startswith("peers/kz-gateway/profiles/")
            aeo_event = claims["events"]["urn:cxg:secevent:aeo-status"]
            assert aeo_event["changes"][0]["authorisationNumber"] == KZ_AEO
            # Astana's own SET rides along, verifiable with Astana's keys alone.
            carried = claims["events"]["urn:cxg:secevent:peer-set"]
            assert carried["peer"] == "kz-gateway"
            _, original = verified_jws(carried["set"], kz.services.exchange.jwks()["keys"])
            assert original["iss"] == "cxg.astana.dev" and original["aud"] == "cn-gateway"
            assert original["events"]["urn:cxg:secevent:aeo-status"] == aeo_event
            # The partner that never received the company hears nothing of it.
            nothing = other.request("POST", "/v1/events:poll", json=poll)
            assert nothing.status_code == 200 and not nothing.json().get("sets"), nothing.text
        finally:
            bank.close()
            other.close()


def test_a_peers_set_its_keys_do_not_sign_is_refused_and_not_forwarded(
    tmp_path: Path, partners: dict[str, TestPartner], hostile: HostilePeer
) -> None:
    with running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn:
        federation = cn.services.federation
        hostile.join(federation)
        hostile.routes["/v1/subscriptions"] = b'{"subscriptions": []}'
        hostile.post_routes["/v1/subscriptions"] = b"{}"
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": "cxg.astana.dev",
            "aud": "cn-gateway",
            "iat": now,
            "toe": now,
            "jti": "a" * 32,
            "sub_id": {"format": "opaque", "id": "profiles/" + "b" * 32},
            "events": {"urn:cxg:secevent:profile-version": {}},
        }
        forged = SigningKey.generate().sign_jwt(claims, {"typ": "secevent+jwt"})
        genuine_for_another = hostile.key.sign_jwt(
            claims | {"aud": "someone-else"}, {"typ": "secevent+jwt"}
        )
        never_relayed = hostile.key.sign_jwt(claims, {"typ": "secevent+jwt"})
        sets = {"1": forged, "2": genuine_for_another, "3": never_relayed}
        hostile.post_routes["/v1/events:poll"] = json.dumps({"sets": sets}).encode()
        assert federation.poll_events() == 0
        assert cn.services.events.dispatch() == 0  # nothing entered the outbox
        # The two were refused back to the peer (RFC 8936 setErrs); the genuine one about a
        # company never relayed from it is acknowledged and dropped (no one here to tell).
        polls = [json.loads(body) for path, body in hostile.posted if path == "/v1/events:poll"]
        assert polls[-1]["ack"] == ["3"] and sorted(polls[-1]["setErrs"]) == ["1", "2"]
        assert polls[-1]["setErrs"]["1"]["err"] == "invalid_key"
        assert polls[-1]["setErrs"]["2"]["err"] == "invalid_audience"


def test_a_peer_down_is_a_503_naming_it_and_the_breaker_stops_waiting_for_it(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    with federated(tmp_path, partners) as (cn, kz):
        bank = RestClient(cn, partners, caller="kz-bank")
        try:
            assert lookup(bank).status_code == 200
            kz.stop()
            for _ in range(3):
                down = lookup(bank)
                assert down.status_code == 503, down.text
                assert "kz-gateway" in down.json()["detail"]
            opened = lookup(bank)
            assert opened.status_code == 503 and "asked again in" in opened.json()["detail"]
            # Lookups no route sends anywhere are answered here as before.
            publish(cn.exchange, partners["cn-customs"], profile())
            query = {"scheme": "CN_USCC", "value": USCC, "purpose": "trade_due_diligence"}
            local = bank.request("GET", "/v1/profiles:lookup", params=query)
            assert local.status_code == 200, local.text
        finally:
            bank.close()


def test_answers_are_kept_only_for_purposes_that_allow_it_and_served_stale_only_by_them(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    keeping = {"federation_cache_seconds": 60.0, "federation_stale_seconds": 900.0}
    with federated(tmp_path, partners, **keeping) as (cn, kz):
        kz_aeo = [{"programCountry": "KZ", "authorisationNumber": KZ_AEO, "type": "KZ_AEO"}]
        publish(kz.exchange, partners["kz-bank"], profile(subject=KZ_COMPANY, aeo=kz_aeo))
        bank = RestClient(cn, partners, caller="kz-bank")
        customs = RestClient(cn, partners, caller="cn-customs")
        clearance = {"scheme": "KZ_BIN", "value": KZ_BIN, "purpose": "customs_clearance"}
        try:
            first, again = lookup(bank), lookup(bank)
            assert first.status_code == again.status_code == 200, again.text
            assert first.json()["jws"] == again.json()["jws"]
            for _ in range(2):  # customs clearance is always asked of the peer
                cleared = customs.request("GET", "/v1/profiles:lookup", params=clearance)
                assert cleared.status_code == 200, cleared.text
            astana = leaves_of(kz, "GetProfile")
            assert [leaf["purpose"] for leaf in astana] == ["trade_due_diligence"] + [
                "customs_clearance"
            ] * 2
            qingdao = [leaf for leaf in leaves_of(cn, "GetProfile") if leaf["decision"] == "ok"]
            relayed = next(s for s in qingdao[0]["subject"] if "/relays/" in s)
            assert f"{relayed}/cached" in qingdao[1]["subject"]  # named as kept, same relay

            kz.stop()
            kept = cn.services.federation._kept._answers  # two minutes pass
            for key, (at, answer) in kept.items():
                kept[key] = (at - 120, answer)
            stale = lookup(bank)
            assert stale.status_code == 200 and stale.json()["jws"] == first.json()["jws"]
            assert f"{relayed}/stale" in leaves_of(cn, "GetProfile")[-1]["subject"]
            down = customs.request("GET", "/v1/profiles:lookup", params=clearance)
            assert down.status_code == 503 and "kz-gateway" in down.json()["detail"], down.text
        finally:
            bank.close()
            customs.close()


def test_a_peer_answering_a_profile_its_keys_do_not_sign_is_refused(
    tmp_path: Path, partners: dict[str, TestPartner], hostile: HostilePeer
) -> None:
    """A forged relay: the 'peer' signs with a key it never published."""
    with running(node_settings(tmp_path, "qingdao", "CN", partners)) as cn:
        federation = cn.services.federation
        hostile.join(federation)
        federation.set_route(fed_pb.SetPeerRouteRequest(scheme="KZ_BIN", peer="kz-gateway"))
        forger = SigningKey.generate()
        forged = forger.sign_jws(
            json.dumps(profile(subject=KZ_COMPANY)).encode(), {"typ": "cxg-profile+jws"}
        )
        hostile.routes["/v1/profiles:lookup"] = json.dumps({"jws": forged}).encode()
        bank = RestClient(cn, partners, caller="kz-bank")
        try:
            refused = lookup(bank)
            assert refused.status_code == 503, refused.text
            assert "pinned keys do not sign" in refused.json()["detail"]
        finally:
            bank.close()


def test_a_gateway_must_say_whom_it_relays_for_and_no_one_else_may(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    with federated(tmp_path, partners) as (cn, kz):
        # Qingdao's own token at Astana, without an on-behalf-of claim.
        federation = cn.services.federation
        peer = federation.peers()[0]
        document = FederationDocument.accepted(peer.document or "")
        token = federation._token_at(peer, document)
        url = f"{base(kz)}/v1/profiles:lookup"
        query = {"scheme": "KZ_BIN", "value": KZ_BIN, "purpose": "trade_due_diligence"}
        headers = {"Authorization": f"DPoP {token}"}
        headers["DPoP"] = federation._dpop.proof("GET", url, token)
        bare = httpx.get(url, params=query, headers=headers, timeout=10)
        assert bare.status_code == 400 and bare.json()["field"] == "on_behalf_of"
        # A partner is not a gateway: its claim is refused.
        bank = RestClient(kz, partners, caller="kz-bank")
        try:
            claim = partners["kz-bank"].key.sign_jwt({"sub": "x"}, {"typ": "cxg-on-behalf-of+jwt"})
            request = bank.http.build_request("GET", "/v1/profiles:lookup", params=query)
            request.headers.update(bank.sessions.of().headers("GET", url))
            request.headers["Cxg-On-Behalf-Of"] = claim
            refused = bank.http.send(request)
            assert refused.status_code == 400 and refused.json()["field"] == "on_behalf_of"
        finally:
            bank.close()
        # A claim made for one operation is refused for another.
        now = int(datetime.now(UTC).timestamp())
        claims = {"iss": "cn-gateway", "sub": "cn-customs", "aud": "cxg.astana.dev"}
        claims |= {"iat": now, "exp": now + 60, "jti": "j1", "op": "SearchProfiles"}
        claim = cn.exchange.keyring.active.sign_jwt(claims, {"typ": "cxg-on-behalf-of+jwt"})
        url = f"{base(kz)}/v1/aeo:recognize"
        headers["DPoP"] = federation._dpop.proof("POST", url, token)
        question = {"aeoNumber": "KZ0000000123", "onBehalfOf": claim}
        other_op = httpx.post(url, json=question, headers=headers, timeout=10)
        assert other_op.status_code == 403, other_op.text
        assert other_op.json()["field"] == "on_behalf_of.op"


def test_gateways_call_each_other_over_mutual_tls(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    """Astana serves mutual TLS only: Qingdao gets through with the client certificate Astana's
    CA issued it (and Astana registered for it), and not without."""
    from typer.testing import CliRunner

    from gateway.cli import app

    pki = tmp_path / "astana-pki"
    for args in (
        ["pki", "init", "--dir", str(pki)],
        ["pki", "issue-partner", "cn-gateway", "--dir", str(pki)],
    ):
        assert CliRunner().invoke(app, args).exit_code == 0
    certificate = pki / "partners" / "cn-gateway.pem"
    mtls = {
        "federation_tls_ca_file": pki / "ca.pem",
        "federation_client_certificate": certificate,
        "federation_client_key": pki / "partners" / "cn-gateway-key.pem",
    }
    kz_settings = dataclasses.replace(
        node_settings(tmp_path, "astana", "KZ", partners), tls_dir=pki
    )
    cn_settings = dataclasses.replace(node_settings(tmp_path, "qingdao", "CN", partners), **mtls)
    bare = dataclasses.replace(
        cn_settings, federation_client_certificate=None, federation_client_key=None
    )
    with running(cn_settings) as cn, running(kz_settings) as kz:
        publish(kz.exchange, partners["kz-bank"], profile(subject=KZ_COMPANY, aeo=[]))
        pin(kz, cn, "cn-gateway")
        kz.partners.add_certificate("cn-gateway", certificate.read_bytes())
        assert kz.services.federation.refresh("cn-gateway").problem == ""
        register(
            cn.services.federation,
            "kz-gateway",
            gateway="cxg.astana.dev",
            url=f"https://127.0.0.1:{kz.rest_port}",
            display_name="Gateway of KZ",
            country="KZ",
            jwks=kz.services.exchange.jwks()["keys"],
            local_id="cn-gateway",
        )
        refreshed = cn.services.federation.refresh("kz-gateway")
        assert refreshed.problem == "" and refreshed.document == "accepted"
        cn.services.federation.set_route(
            fed_pb.SetPeerRouteRequest(scheme="KZ_BIN", peer="kz-gateway")
        )
        bank = RestClient(cn, partners, caller="kz-bank")
        try:
            assert lookup(bank).status_code == 200
        finally:
            bank.close()
        # The same gateway without its client certificate does not get past the handshake.
        without = Federation(bare, cn.db, cn.exchange.keyring, cn.audit, lambda: [])
        try:
            failed = without.refresh("kz-gateway")
            assert "could not be reached" in failed.problem
        finally:
            without.stop()
