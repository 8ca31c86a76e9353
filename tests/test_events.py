"""Security events end to end: a partner subscribes over REST or gRPC, a publisher publishes, and
a real HTTP receiver on 127.0.0.1 (tests/set_receiver.py) verifies each SET with jwcrypto against
the gateway's published JWKS; or the partner polls (RFC 8936). Receivers that fail, refuse
connections or refuse SETs; order per company; what a purpose may see; the outbox written with
the version; dead letters an operator lists and replays; SSRF refusals naming the field."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import ConfigError, Settings
from gateway.schema.cxg.v1 import event_service_pb2 as pb
from gateway.schema.cxg.v1 import event_service_pb2_grpc as pb_grpc
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.storage.audit import AuditStore
from gateway.storage.tables import event_outbox, profile_disclosures
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.set_receiver import SetReceiver
from tests.support import USCC, TestPartner, profile

URI = "urn:cxg:secevent:"
FAST = {
    "events_allowed_networks": "127.0.0.1/32",
    "events_allow_http": "yes",
    "events_tick_seconds": 0.05,
    "events_retry_base_seconds": 0.05,
    "events_retry_max_seconds": 0.2,
    "events_push_timeout_seconds": 1.0,
}


@pytest.fixture
def events_gateway(settings: Settings) -> Iterator[Gateway]:
    from gateway.service import PartnerAdmin

    running = Gateway(dataclasses.replace(settings, **FAST))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def rest(events_gateway: Gateway, partners: dict[str, TestPartner]) -> Iterator[RestClient]:
    client = RestClient(events_gateway, partners)
    yield client
    client.close()


def jwks(gateway: Gateway) -> dict[str, Any]:
    answer = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/.well-known/jwks.json", timeout=10)
    document: dict[str, Any] = answer.json()
    return document


def receiver_for(gateway: Gateway, audience: str) -> SetReceiver:
    return SetReceiver(jwks(gateway), issuer=gateway.settings.gateway_id, audience=audience)


def subscribe(rest: RestClient, caller: str, **body: Any) -> httpx.Response:
    body = {"purpose": "credit_reporting", **body}
    return rest.request("POST", "/v1/subscriptions", session=rest.sessions.of(caller), json=body)


def publish(rest: RestClient, partners: dict[str, TestPartner], **overrides: Any) -> str:
    outcome = rest.publish(partners["kz-bank"].sign(profile(**overrides)))
    assert outcome.status == 200, outcome
    name: str = outcome.body["profileName"]
    return name


def named(rest: RestClient, caller: str = "ru-bureau", **body: Any) -> dict[str, Any]:
    answer = subscribe(
        rest,
        caller,
        scope="SUBSCRIPTION_SCOPE_NAMED",
        ids=[{"scheme": "CN_USCC", "value": USCC}],
        **body,
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


# -- push ------------------------------------------------------------------------------------


def test_a_published_version_reaches_a_push_subscriber_as_a_set_it_verifies(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    with receiver_for(events_gateway, "ru-bureau") as receiver:
        subscription = named(rest, delivery="EVENT_DELIVERY_PUSH", endpoint=receiver.url)
        assert subscription["name"].startswith("subscriptions/")
        assert subscription["eventTypes"] == [
            "profile-version",
            "aeo-status",
            "common-grade",
            "public-record",
            "sco-status",
            "dispute",
            "credit-repair",
        ]
        name = publish(rest, partners)
        [received] = receiver.wait_for(1)
    assert received.header["typ"] == "secevent+jwt"
    claims = received.claims
    assert claims["aud"] == "ru-bureau" and claims["iss"] == events_gateway.settings.gateway_id
    assert claims["sub_id"] == {"format": "opaque", "id": name}
    version = claims["events"][URI + "profile-version"]
    assert version["version"] == f"{name}/versions/1" and "previousVersion" not in version
    assert f"CN_USCC:{USCC}" in version["ids"]
    # The first version's AEO authorisation is news too: it was not there before.
    [aeo] = claims["events"][URI + "aeo-status"]["changes"]
    assert (aeo["previous"], aeo["current"]) == ("", "AEO_STATE_AUTHORISED")
    assert claims["toe"] <= claims["iat"]  # the change happened before its SET was made
    # Who was told what: the delivery's audit leaf names the subscriber, the company and the SET.
    subject = [
        name,
        f"subscriptions/{subscription['name'].rsplit('/', 1)[1]}",
        f"events/{received.jti}",
    ]
    deadline = time.monotonic() + 5
    while not (told := _leaves(events_gateway, "DeliverEvent")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [leaf] = told
    assert (leaf["partner"], leaf["subject"], leaf["transport"]) == ("ru-bureau", subject, "push")
    assert leaf["request_sha256"] == hashlib.sha256(received.raw.encode()).hexdigest()


def _leaves(gateway: Gateway, operation: str) -> list[dict[str, Any]]:
    store = AuditStore(gateway.db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(0, store.size())]
    return [leaf for leaf in leaves if leaf.get("operation") == operation]


def test_a_failing_receiver_gets_every_event_in_order_once_it_recovers(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    with receiver_for(events_gateway, "ru-bureau") as receiver:
        named(rest, delivery="EVENT_DELIVERY_PUSH", endpoint=receiver.url)
        receiver.mode = "fail"  # 500
        name = publish(rest, partners)
        suspended = profile()
        suspended["aeo"][0]["status"] = "AEO_STATE_SUSPENDED"
        publish(rest, partners, aeo=suspended["aeo"])
        deadline = time.monotonic() + 10
        while receiver.attempts < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.attempts >= 3 and not receiver.received  # retried, not delivered
        receiver.mode = "refuse"  # connections refused
        time.sleep(0.5)
        receiver.mode = "accept"
        first, second = receiver.wait_for(2)
    versions = [r.claims["events"][URI + "profile-version"]["version"] for r in (first, second)]
    assert versions == [f"{name}/versions/1", f"{name}/versions/2"]  # the company's order
    [change] = second.claims["events"][URI + "aeo-status"]["changes"]
    assert (change["previous"], change["current"]) == (
        "AEO_STATE_AUTHORISED",
        "AEO_STATE_SUSPENDED",
    )
    assert second.claims["events"][URI + "profile-version"]["previousVersion"] == versions[0]
    assert not receiver.invalid


def test_a_set_the_receiver_refuses_is_a_dead_letter_an_operator_replays(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    operator = rest.sessions.of("cxg-operator")
    with receiver_for(events_gateway, "ru-bureau") as receiver:
        named(rest, delivery="EVENT_DELIVERY_PUSH", endpoint=receiver.url)
        receiver.mode = "reject"  # 400 invalid_request: never sent again by itself
        dead_before = REGISTRY.get_sample_value("cxg_event_deliveries_total", {"outcome": "dead"})
        publish(rest, partners)
        dead = _wait_dead(rest, operator)
        dead_after = REGISTRY.get_sample_value("cxg_event_deliveries_total", {"outcome": "dead"})
        assert (dead_after or 0) == (dead_before or 0) + 1
        assert dead["lastError"].startswith("refused by the subscriber: invalid_request")
        attempts = receiver.attempts
        time.sleep(0.5)
        assert receiver.attempts == attempts  # given up: no more tries
        receiver.mode = "accept"
        replayed = rest.request(
            "POST", "/v1/events:replay", session=operator, json={"jtis": [dead["jti"]]}
        )
        assert replayed.status_code == 200 and replayed.json()["replayed"] == [dead["jti"]]
        [received] = receiver.wait_for(1)
    assert received.jti == dead["jti"]  # the same SET, detectable as such by its jti


def test_an_operator_lists_and_replays_dead_letters_at_the_command_line(
    events_gateway: Gateway,
    rest: RestClient,
    partners: dict[str, TestPartner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same use case as ReplayEvents (EventService.replay), run by `cxg events`; the change
    is an audit leaf naming the operator at the command line."""
    monkeypatch.setenv("CXG_DATABASE_URL", events_gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(events_gateway.settings.keys_dir))
    with receiver_for(events_gateway, "ru-bureau") as receiver:
        named(rest, delivery="EVENT_DELIVERY_PUSH", endpoint=receiver.url)
        receiver.mode = "reject"
        publish(rest, partners)
        dead = _wait_dead(rest, rest.sessions.of("cxg-operator"))
        listed = CliRunner().invoke(app, ["events", "dead"])
        assert listed.exit_code == 0, listed.output
        assert dead["jti"] in listed.output and "refused by the subscriber" in listed.output
        unknown = "f" * 32
        replayed = CliRunner().invoke(app, ["events", "replay", dead["jti"], unknown])
        assert replayed.exit_code == 1  # one of the two was not a dead letter: said, not hidden
        assert f"replayed {dead['jti']}" in replayed.output and unknown in replayed.output
        receiver.mode = "accept"
        [received] = receiver.wait_for(1)
    assert received.jti == dead["jti"]
    store = AuditStore(events_gateway.db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(0, store.size())]
    [replay] = [leaf for leaf in leaves if leaf.get("change") == "event.deliveries.replayed"]
    assert replay["actor"].startswith("cli:") and replay["subject"] == [f"events/{dead['jti']}"]


def _wait_dead(rest: RestClient, operator: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = rest.request("GET", "/v1/events:dead", session=operator)
        assert answer.status_code == 200, answer.text
        if events := answer.json().get("events"):
            found: dict[str, Any] = events[0]
            return found
        time.sleep(0.05)
    raise AssertionError("no dead letter")


# -- what a purpose may see ------------------------------------------------------------------


def test_each_subscriber_hears_only_of_what_its_purpose_may_see(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    """A court's dishonesty-list entry is in a credit bureau's view, not in customs' (which sees
    customs records only): the bureau is told of it, customs of nothing."""
    with (
        receiver_for(events_gateway, "cn-customs") as customs,
        receiver_for(events_gateway, "ru-bureau") as bureau,
    ):
        for caller, purpose, receiver in (
            ("cn-customs", "customs_clearance", customs),
            ("ru-bureau", "credit_reporting", bureau),
        ):
            named(
                rest,
                caller,
                purpose=purpose,
                delivery="EVENT_DELIVERY_PUSH",
                endpoint=receiver.url,
                eventTypes=["public-record"],
            )
        publish(rest, partners)
        court = {
            "kind": "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
            "authority": {"en": "Qingdao Intermediate People's Court"},
            "authorityType": "AUTHORITY_TYPE_COURT",
            "decisionNumber": "(2026) Lu 02 Zhi 117",
            "decisionDate": "2026-06-01",
        }
        publish(rest, partners, publicRecords=[court])
        [told] = bureau.wait_for(1)
        time.sleep(0.5)  # the customs subscription had the same chance
    [change] = told.claims["events"][URI + "public-record"]["changes"]
    assert change["change"] == "added" and change["decisionNumber"] == court["decisionNumber"]
    assert change["kind"] == "PUBLIC_RECORD_KIND_DISHONESTY_LIST"
    assert "summary" not in change and "authority" not in change  # named, never described
    assert URI + "profile-version" in told.claims["events"]  # the version it came with
    assert customs.attempts == 0


# -- poll (RFC 8936) -------------------------------------------------------------------------


def test_a_poll_subscriber_receives_acknowledges_and_refuses(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    named(rest, delivery="EVENT_DELIVERY_POLL")
    publish(rest, partners)
    publish(rest, partners, ratings=[])
    polled = _poll(rest, {"maxEvents": 1, "returnImmediately": False})
    assert len(polled["sets"]) == 1 and polled["moreAvailable"] is True
    [(first, _)] = polled["sets"].items()
    polled = _poll(rest, {"ack": [first], "returnImmediately": True})
    [(second, _)] = polled["sets"].items()
    assert second != first and polled.get("moreAvailable", False) is False
    refused = {"err": "invalid_audience", "description": "not ours"}
    polled = _poll(rest, {"setErrs": {second: refused}, "returnImmediately": True})
    assert polled.get("sets", {}) == {}
    operator = rest.sessions.of("cxg-operator")
    dead = rest.request("GET", "/v1/events:dead", session=operator).json()["events"]
    assert [d["jti"] for d in dead] == [second]
    assert dead[0]["lastError"] == "invalid_audience: not ours"


def test_polled_sets_never_acknowledged_become_dead_letters_after_the_horizon(
    settings: Settings, partners: dict[str, TestPartner]
) -> None:
    """A poll subscription abandoned by its partner does not keep its SETs for ever."""
    from gateway.service import PartnerAdmin

    quick = dataclasses.replace(settings, **FAST, events_dead_after_seconds=0.5)
    running = Gateway(quick)
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    client = RestClient(running, partners)
    try:
        named(client, delivery="EVENT_DELIVERY_POLL")
        publish(client, partners)
        operator = client.sessions.of("cxg-operator")
        dead = _wait_dead(client, operator)  # the deliverer's next look, within the test's patience
        assert dead["lastError"] == "never acknowledged by a poll"
        assert _poll(client, {"returnImmediately": True}).get("sets", {}) == {}
    finally:
        client.close()
        running.stop()


def _poll(rest: RestClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = rest.request("POST", "/v1/events:poll", json=body)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_events_over_grpc_the_same_service(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    client = GrpcClient(events_gateway, partners)
    stub = pb_grpc.EventServiceStub(client.channel)

    def metadata(method: str) -> tuple[tuple[str, str], ...]:
        return client.sessions.of("ru-bureau").grpc_metadata(f"/cxg.v1.EventService/{method}")

    try:
        request = pb.CreateSubscriptionRequest(
            scope=pb.SUBSCRIPTION_SCOPE_NAMED,
            purpose="credit_reporting",
            delivery=pb.EVENT_DELIVERY_POLL,
            event_types=["profile-version"],
        )
        request.ids.add(scheme="CN_USCC", value=USCC)
        created = stub.CreateSubscription(
            request, metadata=metadata("CreateSubscription"), timeout=30
        )
        publish(rest, partners)
        answer = stub.PollEvents(
            pb.PollEventsRequest(max_events=10), metadata=metadata("PollEvents"), timeout=30
        )
        assert len(answer.sets) == 1
        listed = stub.ListSubscriptions(
            pb.ListSubscriptionsRequest(), metadata=metadata("ListSubscriptions"), timeout=30
        )
        assert [s.name for s in listed.subscriptions] == [created.name]
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetSubscription(
                pb.GetSubscriptionRequest(name="subscriptions/" + "0" * 32),
                metadata=metadata("GetSubscription"),
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        client.close()


def test_an_sco_code_status_change_is_an_event(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    """The change and its outbox row commit together in the SCO store's transaction; its SET
    names the code and both states."""
    named(rest, delivery="EVENT_DELIVERY_POLL", eventTypes=["sco-status"])
    publish(rest, partners)
    operator = partners["cxg-operator"].as_partner()
    sco = events_gateway.services.sco
    subject = sco_pb.IssueScoCodeRequest()
    subject.subject.scheme, subject.subject.value = "CN_USCC", USCC
    name = sco.issue_code(subject, operator).name
    sco.set_status(
        sco_pb.SetScoCodeStatusRequest(name=name, state=sco_pb.CODE_STATE_SUSPENDED), operator
    )
    polled = _poll(rest, {"returnImmediately": False})
    [set_jws] = polled["sets"].values()  # the version's SET is not among the types wanted
    claims = json.loads(base64.urlsafe_b64decode(set_jws.split(".")[1] + "=="))
    assert claims["events"] == {
        URI + "sco-status": {
            "code": f"scoCodes/{name.rsplit('/', 1)[1]}",
            "previous": "valid",
            "current": "suspended",
        }
    }


# -- scope RECEIVED and the outbox -----------------------------------------------------------


def test_a_received_subscription_covers_what_the_partner_was_answered(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    answer = subscribe(
        rest, "ru-bureau", scope="SUBSCRIPTION_SCOPE_RECEIVED", delivery="EVENT_DELIVERY_POLL"
    )
    assert answer.status_code == 200, answer.text
    publish(rest, partners)
    assert _poll(rest, {"returnImmediately": True}).get("sets", {}) == {}  # not received yet
    got = rest.get(scheme="CN_USCC", value=USCC)
    assert got.status == 200
    with events_gateway.db.engine.connect() as conn:
        disclosed = conn.execute(select(profile_disclosures)).all()
    assert [(d.partner_id, d.version, d.purpose) for d in disclosed] == [
        ("ru-bureau", 1, "credit_reporting")
    ]
    publish(rest, partners, ratings=[])
    polled = _poll(rest, {"returnImmediately": False})
    assert len(polled["sets"]) == 1


def test_a_refused_or_repeated_publication_writes_no_event(
    events_gateway: Gateway, rest: RestClient, partners: dict[str, TestPartner]
) -> None:
    jws = partners["kz-bank"].sign(profile())
    first = rest.publish(jws)
    assert first.status == 200
    # The same JWS again: its receipt (signed again, so only its iat may differ), nothing new.
    again = rest.publish(jws).body
    assert {**again, "receiptJws": ""} == {**first.body, "receiptJws": ""}
    assert again["receiptJws"].split(".")[1] == first.body["receiptJws"].split(".")[1]
    # Another publisher for the company kz-bank first published: refused, nothing stored.
    assert rest.publish(partners["cn-customs"].sign(profile())).status == 403
    with events_gateway.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_outbox)).scalar() == 1


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"delivery": "EVENT_DELIVERY_PUSH", "endpoint": "http://10.0.0.7/e"}, "endpoint", ""),
        ({"delivery": "EVENT_DELIVERY_PUSH", "endpoint": "https://127.0.0.2/e"}, "endpoint", ""),
        ({"delivery": "EVENT_DELIVERY_PUSH", "endpoint": "https://u:p@x.example/"}, "endpoint", ""),
        ({"delivery": "EVENT_DELIVERY_PUSH"}, "endpoint", "needs an endpoint"),
        ({"delivery": "EVENT_DELIVERY_POLL", "endpoint": "https://x.example/"}, "endpoint", ""),
        ({"delivery": "EVENT_DELIVERY_POLL", "purpose": "credit_assessment"}, "purpose", "consent"),
        ({"delivery": "EVENT_DELIVERY_POLL", "eventTypes": ["gossip"]}, "event_types", "gossip"),
        ({"delivery": "EVENT_DELIVERY_POLL", "ids": []}, "ids", "1 to 1000"),
        (
            {"delivery": "EVENT_DELIVERY_POLL", "ids": [{"scheme": "CN_USCC", "value": "1"}]},
            "ids[0].value",
            "",
        ),
    ],
)
def test_a_bad_subscription_is_refused_naming_its_field(
    events_gateway: Gateway, rest: RestClient, body: dict[str, Any], field: str, says: str
) -> None:
    request = {
        "scope": "SUBSCRIPTION_SCOPE_NAMED",
        "ids": [{"scheme": "CN_USCC", "value": USCC}],
        "purpose": "trade_due_diligence",
        **body,
    }
    answer = subscribe(rest, "kz-bank", **request)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["field"] == field and says in problem["detail"], problem
    listed = rest.request("GET", "/v1/subscriptions", session=rest.sessions.of("kz-bank"))
    assert listed.json().get("subscriptions", []) == []  # nothing stored


def test_a_subscription_is_its_partners_alone(events_gateway: Gateway, rest: RestClient) -> None:
    created = named(rest, delivery="EVENT_DELIVERY_POLL")
    path = f"/v1/{created['name']}"
    other = rest.sessions.of("kz-bank")
    assert rest.request("GET", path, session=other).status_code == 404
    assert rest.request("DELETE", path, session=other).status_code == 404
    assert rest.request("GET", path).status_code == 200
    assert rest.request("DELETE", path).status_code == 200
    assert rest.request("GET", path).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"setErrs": []}, "/setErrs"),
        ({"setErrs": {"a" * 32: "refused"}}, "/setErrs/" + "a" * 32),
        ({"ack": ["not-a-jti"]}, "ack[0]"),
        ({"maxEvents": 5000}, "max_events"),
        ({"ack": ["a" * 32] * 1001}, "ack"),  # one query may name them all (SQLite's limit)
        ({"setErrs": {f"{n:032x}": {"err": "x"} for n in range(1001)}}, "set_errs"),
        ({"maxEvents": "ten"}, "/maxEvents"),
    ],
)
def test_a_bad_poll_is_refused_naming_its_field(
    events_gateway: Gateway, rest: RestClient, body: dict[str, Any], field: str
) -> None:
    answer = rest.request("POST", "/v1/events:poll", json={"returnImmediately": True, **body})
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field


# -- mutual TLS ----------------------------------------------------------------------------------


def test_push_over_mutual_tls_presents_the_configured_client_certificate(
    settings: Settings, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    """A receiver that requires a client certificate from its CA gets the SETs of a gateway
    configured with one (and checks the receiver's certificate against the configured CA); a
    client without one is refused; half a configuration or a missing file is refused at start."""
    from gateway.service import PartnerAdmin
    from gateway.service.delivery import push_tls_context
    from gateway.trust.pki import (
        ServerTlsFiles,
        init_ca,
        issue_partner_certificate,
        issue_server_certificate,
    )

    pki = tmp_path / "pki"
    init_ca(pki)
    issue_server_certificate(pki, ["127.0.0.1"])
    served = ServerTlsFiles.in_dir(pki)
    client = issue_partner_certificate(pki, "cxg-gateway")
    receiving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    receiving.load_cert_chain(served.cert, served.key)
    receiving.verify_mode = ssl.CERT_REQUIRED
    receiving.load_verify_locations(served.client_ca)
    tls = {
        "events_allow_http": "no",
        "events_tls_ca_file": served.client_ca,
        "events_client_certificate": client.cert_path,
        "events_client_key": client.key_path,
    }
    running = Gateway(dataclasses.replace(settings, **FAST | tls))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    rest = RestClient(running, partners)
    try:
        receiver = SetReceiver(
            jwks(running), issuer=settings.gateway_id, audience="ru-bureau", ssl_context=receiving
        )
        with receiver:
            assert receiver.url.startswith("https://127.0.0.1:")
            named(rest, delivery="EVENT_DELIVERY_PUSH", endpoint=receiver.url)
            publish(rest, partners)
            [received] = receiver.wait_for(1)
            assert received.claims["aud"] == "ru-bureau"
            # A client without a certificate from the CA is refused at the handshake.
            trusting = ssl.create_default_context(cafile=str(served.client_ca))
            with httpx.Client(verify=trusting) as anonymous, pytest.raises(httpx.HTTPError):
                anonymous.post(receiver.url, content=b"x")
    finally:
        rest.close()
        running.stop()
    assert push_tls_context(dataclasses.replace(settings, **tls)).verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ConfigError, match="CXG_EVENTS_CLIENT_KEY"):
        push_tls_context(dataclasses.replace(settings, events_client_certificate=client.cert_path))
    with pytest.raises(ConfigError, match="CXG_EVENTS_TLS_CA_FILE"):
        push_tls_context(dataclasses.replace(settings, events_tls_ca_file=tmp_path / "missing.pem"))
