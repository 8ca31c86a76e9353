"""Publishing over both transports: the good path, and every kind of bad input refused with an
error naming the field while the store stays unchanged."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.storage.tables import profile_identifiers, profile_versions, profiles
from gateway.transport.serve import Gateway
from tests.attacks import deep_json, with_header_bytes
from tests.clients import GrpcClient, RestClient, Session
from tests.support import (
    USCC,
    TestPartner,
    b64url,
    joserfc_registry,
    jws_payload,
    profile,
    unsigned_jws,
    with_subject,
)

Partners = dict[str, TestPartner]


@pytest.fixture(params=["rest", "grpc"])
def client(
    request: pytest.FixtureRequest, gateway: Gateway, partners: Partners
) -> Iterator[RestClient | GrpcClient]:
    c = (RestClient if request.param == "rest" else GrpcClient)(gateway, partners)
    yield c
    c.close()


def row_counts(gateway: Gateway) -> tuple[int, int, int]:
    db: Database = gateway.db
    with db.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (profiles, profile_versions, profile_identifiers)
        )


def test_publish_then_get_by_every_identifier(
    client: RestClient | GrpcClient, partners: Partners
) -> None:
    receipt = client.publish(partners["cn-customs"].sign(profile())).body
    assert receipt["version"] == "1" and receipt["publisher"] == "cn-customs"
    assert receipt["profileName"].startswith("profiles/")
    for scheme, value in (
        ("CN_USCC", USCC),
        ("lei", "300300c5rz2qh1kx1m86"),
        ("AEO", "CN3702960123"),
    ):
        signed = client.get(scheme=scheme, value=value).body
        payload = jws_payload(signed["jws"])
        assert hashlib.sha256(payload).hexdigest() == receipt["payloadSha256"]
        assert json.loads(payload) == signed["profile"]
        assert signed["profile"]["name"] == receipt["profileName"]
        assert signed["profile"]["provenance"]["sourceInstitution"] == "cn-customs"


def test_new_versions_keep_history(client: RestClient | GrpcClient, partners: Partners) -> None:
    customs = partners["cn-customs"]
    first = client.publish(customs.sign(profile())).body
    second = client.publish(
        customs.sign(profile(ratings=[{"scheme": "CN_TAX", "grade": "B"}]))
    ).body
    assert (first["version"], second["version"]) == ("1", "2")
    assert first["profileName"] == second["profileName"]
    latest = client.get(scheme="CN_USCC", value=USCC).body["profile"]
    assert latest["version"] == "2" and latest["ratings"][0]["grade"] == "B"
    old = client.get(name=first["profileName"], version=1).body["profile"]
    assert old["ratings"][0]["grade"] == "A"
    versions = client.list_versions(first["profileName"]).body["versions"]
    assert [v["version"] for v in versions] == ["2", "1"]
    assert versions[1]["payloadSha256"] == first["payloadSha256"]


# RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; PyJWT signs only "EdDSA" so far.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")
def test_receipt_is_signed_by_the_gateway(
    client: RestClient | GrpcClient, partners: Partners, gateway: Gateway
) -> None:
    from joserfc import jws
    from joserfc.jwk import KeySet

    receipt = client.publish(
        partners["ru-bureau"].sign(
            with_subject(ids=[{"scheme": "RU_INN", "value": "7708123450"}], country="RU")
        )
    ).body
    keys = KeySet.import_key_set(gateway.exchange.jwks())
    verified = jws.deserialize_compact(
        receipt["receiptJws"], keys, registry=joserfc_registry(["EdDSA", "ES256"])
    )
    signed = json.loads(verified.payload)
    assert {k: signed[k] for k in ("profileName", "version", "payloadSha256", "publisher")} == {
        k: receipt[k] for k in ("profileName", "version", "payloadSha256", "publisher")
    }
    assert verified.headers()["typ"] == "cxg-receipt+jws"


def _hs256_with_public_key(p: Partners) -> str:
    # Algorithm confusion: HMAC keyed with the partner's *public* key, which an attacker knows.
    partner = p["ru-bureau"]
    header = {"alg": "HS256", "kid": partner.key.kid, "typ": "cxg-publish+jws"}
    signing_input = (
        f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(profile()).encode())}"
    )
    secret = json.dumps(partner.key.public_jwk()).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _tampered_payload(p: Partners) -> str:
    header, _, signature = p["ru-bureau"].sign(profile()).split(".")
    other = b64url(json.dumps(with_subject(country="RU")).encode())
    return f"{header}.{other}.{signature}"


def _forged_signature(p: Partners) -> str:
    header, payload, _ = p["ru-bureau"].sign(profile()).split(".")
    _, _, other_signature = p["ru-bureau"].sign(with_subject(country="KZ")).split(".")
    return f"{header}.{payload}.{other_signature}"


def _signed_by_other_partner_key(p: Partners) -> str:
    # Claims ru-bureau's kid, but cn-customs' key made the signature.
    import jwt

    payload = json.dumps(profile()).encode()
    headers = {"kid": p["ru-bureau"].key.kid, "typ": "cxg-publish+jws"}
    return jwt.api_jws.encode(
        payload, p["cn-customs"].key.private_key, algorithm="EdDSA", headers=headers
    )


def _del(document: dict[str, Any], *path: str) -> dict[str, Any]:
    target = document
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return document


BAD_PUBLISHES: list[tuple[str, Callable[[Partners], str], str, str | None]] = [
    ("not-a-jws", lambda p: "definitely not a JWS", "invalid-argument", "jws"),
    ("empty-jws", lambda p: "", "invalid-argument", "jws"),
    ("forged-signature", _forged_signature, "unauthenticated", "jws"),
    ("tampered-payload", _tampered_payload, "unauthenticated", "jws"),
    ("signature-from-another-key", _signed_by_other_partner_key, "unauthenticated", "jws"),
    (
        "unknown-kid",
        lambda p: TestPartner("x", "CN", ("bank",), SigningKey.generate()).sign(profile()),
        "unauthenticated",
        "jws.header.kid",
    ),
    (
        "no-kid",
        lambda p: unsigned_jws({"alg": "EdDSA"}, b"{}", b"x"),
        "unauthenticated",
        "jws.header.kid",
    ),
    (
        "alg-none",
        lambda p: unsigned_jws(
            {"alg": "none", "kid": p["ru-bureau"].key.kid}, json.dumps(profile()).encode()
        ),
        "unauthenticated",
        "jws.header.alg",
    ),
    ("alg-hs256-confusion", _hs256_with_public_key, "unauthenticated", "jws.header.alg"),
    (
        "alg-es256-on-eddsa-key",
        lambda p: unsigned_jws({"alg": "ES256", "kid": p["ru-bureau"].key.kid}, b"{}", b"x" * 64),
        "unauthenticated",
        "jws.header.alg",
    ),
    (
        "crit-header",
        lambda p: p["ru-bureau"].sign(profile(), crit=["exp"], exp=1),
        "unauthenticated",
        "jws.header.crit",
    ),
    # Explicit typing (RFC 8725 section 3.11): a partner publishes cxg-publish+jws, nothing else.
    *(
        (
            f"typ-{name}",
            lambda p, typ=typ: p["ru-bureau"].sign(profile(), typ=typ),
            "unauthenticated",
            "jws.header.typ",
        )
        for name, typ in (
            ("missing", None),
            ("served-profile", "cxg-profile+jws"),
            ("access-token", "at+jwt"),
            ("dpop-proof", "dpop+jwt"),
            ("jwt-of-an-assertion", "JWT"),
        )
    ),
    (
        "cty-not-json",
        lambda p: p["ru-bureau"].sign(profile(), cty="application/xml"),
        "invalid-argument",
        "jws.header.cty",
    ),
    (
        "header-nested-5000-deep",
        lambda p: with_header_bytes(deep_json(5_000, closed=False), p["ru-bureau"].sign(profile())),
        "unauthenticated",
        "jws.header",
    ),
    (
        "payload-nested-10000-deep",
        lambda p: p["ru-bureau"].sign(deep_json(10_000)),
        "invalid-argument",
        "jws.payload",
    ),
    ("suspended-partner", lambda p: p["suspended-bank"].sign(profile()), "permission-denied", None),
    (
        "partner-role-may-not-publish",
        lambda p: p["sme-portal"].sign(profile()),
        "permission-denied",
        None,
    ),
    (
        "malformed-json-payload",
        lambda p: p["ru-bureau"].sign(b'{"subject": {'),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "payload-not-an-object",
        lambda p: p["ru-bureau"].sign(b"[1, 2]"),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "payload-not-utf8",
        lambda p: p["ru-bureau"].sign(b"\xff\xfe{}"),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "duplicate-json-key",
        lambda p: p["ru-bureau"].sign(b'{"subject": {}, "subject": {}}'),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "unknown-field",
        lambda p: p["ru-bureau"].sign(profile(creditScore=900)),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "wrong-type",
        lambda p: p["ru-bureau"].sign(with_subject(country=86)),
        "invalid-argument",
        "jws.payload",
    ),
    (
        "missing-subject",
        lambda p: p["ru-bureau"].sign(_del(profile(), "subject")),
        "invalid-argument",
        "/subject",
    ),
    (
        "missing-ids",
        lambda p: p["ru-bureau"].sign(with_subject(ids=[])),
        "invalid-argument",
        "/subject/ids",
    ),
    (
        "missing-legal-name",
        lambda p: p["ru-bureau"].sign(_del(profile(), "subject", "legalName")),
        "invalid-argument",
        "/subject/legalName",
    ),
    (
        "missing-country",
        lambda p: p["ru-bureau"].sign(_del(profile(), "subject", "country")),
        "invalid-argument",
        "/subject/country",
    ),
    (
        "bad-country",
        lambda p: p["ru-bureau"].sign(with_subject(country="XX")),
        "invalid-argument",
        "/subject/country",
    ),
    (
        "bad-uscc-check-digit",
        lambda p: p["ru-bureau"].sign(
            with_subject(ids=[{"scheme": "CN_USCC", "value": USCC[:-1] + "5"}])
        ),
        "invalid-identifier",
        "/subject/ids/0/value",
    ),
    (
        "bad-lei",
        lambda p: p["ru-bureau"].sign(
            with_subject(
                ids=[
                    {"scheme": "CN_USCC", "value": USCC},
                    {"scheme": "LEI", "value": "300300C5RZ2QH1KX1M87"},
                ]
            )
        ),
        "invalid-identifier",
        "/subject/ids/1/value",
    ),
    (
        "unknown-scheme",
        lambda p: p["ru-bureau"].sign(
            with_subject(ids=[{"scheme": "US_EIN", "value": "12-3456789"}])
        ),
        "invalid-identifier",
        "/subject/ids/0/scheme",
    ),
    (
        "identifier-injection",
        lambda p: p["ru-bureau"].sign(
            with_subject(ids=[{"scheme": "CN_USCC", "value": "' OR 1=1 --"}])
        ),
        "invalid-identifier",
        "/subject/ids/0/value",
    ),
    (
        "duplicate-identifier",
        lambda p: p["ru-bureau"].sign(
            with_subject(
                ids=[
                    {"scheme": "CN_USCC", "value": USCC},
                    {"scheme": "cn_uscc", "value": USCC.lower()},
                ]
            )
        ),
        "invalid-argument",
        "/subject/ids/1",
    ),
    (
        "bad-date",
        lambda p: p["ru-bureau"].sign(
            profile(ratings=[{"scheme": "CN_TAX", "grade": "A", "asOfDate": "2026-02-30"}])
        ),
        "invalid-argument",
        "/ratings/0/asOfDate",
    ),
    (
        "rating-without-grade",
        lambda p: p["ru-bureau"].sign(profile(ratings=[{"scheme": "CN_TAX"}])),
        "invalid-argument",
        "/ratings/0/grade",
    ),
    (
        "aeo-number-of-other-country",
        lambda p: p["ru-bureau"].sign(
            profile(aeo=[{"programCountry": "RU", "authorisationNumber": "CN3702960123"}])
        ),
        "invalid-argument",
        "/aeo/0/authorisationNumber",
    ),
    (
        "common-grade-set-by-publisher",
        lambda p: p["ru-bureau"].sign(profile(commonGrade={"bucket": "AAA", "ordinal": 99})),
        "invalid-argument",
        "/commonGrade",
    ),
    (
        "public-record-without-date",
        lambda p: p["ru-bureau"].sign(
            profile(publicRecords=[{"kind": "PUBLIC_RECORD_KIND_PENALTY"}])
        ),
        "invalid-argument",
        "/publicRecords/0/decisionDate",
    ),
    (
        "provenance-names-another-institution",
        lambda p: p["ru-bureau"].sign(profile(provenance={"sourceInstitution": "kz-bank"})),
        "invalid-argument",
        "/provenance/sourceInstitution",
    ),
]


@pytest.mark.parametrize(
    ("factory", "problem", "field"),
    [c[1:] for c in BAD_PUBLISHES],
    ids=[c[0] for c in BAD_PUBLISHES],
)
def test_bad_publish_is_refused_and_stores_nothing(
    client: RestClient | GrpcClient,
    gateway: Gateway,
    partners: Partners,
    factory: Callable[[Partners], str],
    problem: str,
    field: str | None,
) -> None:
    before = row_counts(gateway)
    outcome = client.publish(factory(partners))
    assert (outcome.problem, outcome.field) == (problem, field), outcome
    assert outcome.detail
    assert row_counts(gateway) == before == (0, 0, 0)


@pytest.mark.parametrize("typ", ["application/cxg-publish+jws", "CXG-Publish+JWS"])
def test_publication_typ_compares_as_a_media_type(
    client: RestClient | GrpcClient, partners: Partners, typ: str
) -> None:
    """RFC 7515 section 4.1.9: typ is case-insensitive and its application/ prefix optional."""
    outcome = client.publish(partners["kz-bank"].sign(profile(), typ=typ, cty="json"))
    assert outcome.problem is None, outcome


def test_replayed_publish_returns_the_receipt_and_stores_nothing(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    """A publish is idempotent by construction: the same JWS again (a client retrying a call
    whose answer it lost) answers the receipt of the version it made, stores nothing and
    writes no change leaf; a new JWS of the same profile is a new version."""
    from gateway.storage.audit import AuditStore

    jws = partners["kz-bank"].sign(profile())
    first = client.publish(jws).body
    after_first, leaves = row_counts(gateway), AuditStore(gateway.db).size()
    replay = client.publish(jws)
    assert replay.problem is None, replay
    assert replay.body["profileName"] == first["profileName"] and replay.body["version"] == "1"
    assert {k: v for k, v in replay.body.items() if k != "receiptJws"} == {
        k: v for k, v in first.items() if k != "receiptJws"
    }
    assert jws_payload(replay.body["receiptJws"]) == jws_payload(first["receiptJws"])
    assert row_counts(gateway) == after_first
    store = AuditStore(gateway.db)
    new = [json.loads(leaf.data) for leaf in store.leaves(leaves, store.size())]
    assert [leaf["kind"] for leaf in new] == ["exchange"]  # the call, and no change
    again = client.publish(partners["kz-bank"].sign(profile(), cty="json"))  # other bytes
    assert again.problem is None and again.body["version"] == "2", again


def test_identifiers_of_two_profiles_in_one_publish_conflict(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    bureau = partners["ru-bureau"]
    uscc, lei = profile()["subject"]["ids"]
    client.publish(bureau.sign(with_subject(ids=[uscc]) | {"aeo": []}))
    client.publish(bureau.sign(with_subject(ids=[lei]) | {"aeo": []}))
    before = row_counts(gateway)
    both = client.publish(bureau.sign(profile(aeo=[])))
    assert (both.problem, both.field) == ("conflict", "/subject/ids")
    assert row_counts(gateway) == before


def test_a_partner_publishes_only_what_it_signed(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    # kz-bank relays a JWS that cn-customs signed: a valid signature, but not the caller's.
    relayed = partners["cn-customs"].sign(profile())
    if isinstance(client, RestClient):
        outcome = client._outcome(
            client.request(
                "POST",
                "/v1/profiles:publish",
                session=client.sessions.of("kz-bank"),
                json={"jws": relayed},
            )
        )
    else:
        outcome = client.call(
            client.stub.PublishProfile,
            pb.PublishProfileRequest(jws=relayed),
            session=client.sessions.of("kz-bank"),
        )
    assert (outcome.problem, outcome.field) == ("permission-denied", "jws"), outcome
    assert row_counts(gateway) == (0, 0, 0)


def test_only_the_first_publisher_adds_versions(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    first = client.publish(partners["cn-customs"].sign(profile())).body
    after_first = row_counts(gateway)
    # The same company, signed and sent by another publisher: refused, the history unchanged.
    other = client.publish(partners["ru-bureau"].sign(profile(ratings=[])))
    assert other.problem == "permission-denied", other
    assert first["profileName"] in other.detail
    assert row_counts(gateway) == after_first
    again = client.publish(partners["cn-customs"].sign(profile(ratings=[]))).body
    assert (again["profileName"], again["version"]) == (first["profileName"], "2")


def test_rest_oversize_body_is_413_and_stores_nothing(gateway: Gateway, partners: Partners) -> None:
    client = RestClient(gateway, partners)
    big = profile(ratings=[{"scheme": "CN_TAX", "grade": "A", "issuer": "x" * 1024}] * 1100)
    response = client.request(
        "POST", "/v1/profiles:publish", json={"jws": partners["ru-bureau"].sign(big)}
    )
    assert response.status_code == 413
    assert response.json()["type"] == "urn:cxg:problem:payload-too-large"
    # Without Content-Length (chunked), the limit still holds.
    chunks = iter([b'{"jws": "', b"a" * (1024 * 1024), b'"}'])
    chunked = client.request(
        "POST",
        "/v1/profiles:publish",
        content=chunks,
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413
    assert row_counts(gateway) == (0, 0, 0)
    client.close()


def test_grpc_oversize_message_is_resource_exhausted(gateway: Gateway, partners: Partners) -> None:
    client = GrpcClient(gateway, partners)
    outcome = client.publish("a" * (gateway.settings.max_request_bytes + 1))
    assert outcome.status == "RESOURCE_EXHAUSTED"
    assert row_counts(gateway) == (0, 0, 0)
    client.close()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"jws": 5}',
        b'{"jws": "a", "extra": 1}',
        b"[]",
        '{"jws": "\u00e9"}'.encode("latin-1"),
    ],
    ids=["malformed", "wrong-type", "unknown-field", "array", "not-utf8"],
)
def test_rest_malformed_body_names_the_body(
    gateway: Gateway, partners: Partners, body: bytes
) -> None:
    client = RestClient(gateway, partners)
    outcome = client._outcome(
        client.request(
            "POST",
            "/v1/profiles:publish",
            content=body,
            headers={"content-type": "application/json"},
        )
    )
    assert (outcome.status, outcome.problem, outcome.field) == (400, "invalid-argument", "body")
    client.close()


def test_grpc_malformed_protobuf_is_invalid_argument(gateway: Gateway, partners: Partners) -> None:
    method = "/cxg.v1.ProfileService/PublishProfile"
    session = Session(gateway, partners["ru-bureau"])
    channel = grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
    raw = channel.unary_unary(method)
    malformed = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, length far past the end
    with pytest.raises(grpc.RpcError) as caught:
        raw(malformed, timeout=10, metadata=session.grpc_metadata(method))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cxg.v1.PublishProfileRequest" in caught.value.details()
    # A caller without credentials learns nothing about the message: it is refused first.
    with pytest.raises(grpc.RpcError) as anonymous:
        raw(malformed, timeout=10)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()
    assert row_counts(gateway) == (0, 0, 0)
