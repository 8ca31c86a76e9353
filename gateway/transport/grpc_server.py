"""gRPC transport: cxg.v1 ProfileService, ConsentService and AdminService, grpc.health.v1 and
server reflection.

Every call is admitted by the gatekeeper first (token from the ``authorization`` metadata, DPoP
proof from ``dpop``, client certificate from the TLS session), then its raw bytes are parsed
here, so a malformed message is an INVALID_ARGUMENT naming the message type rather than grpc's
generic INTERNAL. GetProfile answers with the version's cached protobuf encoding as is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.audit.entries import Actor, Exchange, acting_as
from gateway.errors import DatabaseUnavailable, GatewayError, InvalidArgument, Unauthenticated
from gateway.observe import traces
from gateway.observe.requests import REQUEST_ID_HEADER, Served
from gateway.profiles import refuse_nul
from gateway.schema.cxg.v1 import admin_service_pb2 as admin_pb
from gateway.schema.cxg.v1 import audit_service_pb2 as audit_pb
from gateway.schema.cxg.v1 import consent_service_pb2 as consent_pb
from gateway.schema.cxg.v1 import correction_service_pb2 as correction_pb
from gateway.schema.cxg.v1 import event_service_pb2 as event_pb
from gateway.schema.cxg.v1 import federation_service_pb2 as federation_pb
from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.schema.cxg.v1 import report_service_pb2 as report_pb
from gateway.schema.cxg.v1 import rules_service_pb2 as rules_pb
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.service.access import Credentials
from gateway.service.audit import rule_pack_of, sha256_hex, subjects
from gateway.service.flood import source_address
from gateway.service.tokens import Caller
from gateway.transport._imports import Upload, summary_message
from gateway.transport.errors import AUDIT_LEAF, grpc_status, mapping_for, unexpected
from gateway.transport.services import Services
from gateway.trust.policy import PURPOSES, rule_for

# A handler's use case: the parsed request and the admitted caller (None when public).
Call = Callable[[Any, Caller], Any]


@dataclass(frozen=True)
class Method:
    request_type: type[Message]
    call: Call
    encode: Callable[[Any], bytes] = lambda message: message.SerializeToString()
    # A client stream of ImportChunk messages, spooled into an Upload that ``call`` receives.
    streamed: bool = False
    # ``call`` is a coroutine function that runs on the loop (and offloads its own database
    # work): one that waits, as a long poll does, without holding a worker thread.
    awaited: bool = False


def service_methods(services: Services) -> dict[str, dict[str, Method]]:
    """Every RPC by service and method name. A method's name is its policy's operation name."""
    exchange, consents, admin, audit, events, corrections, reports = (
        services.exchange,
        services.consents,
        services.admin,
        services.audit,
        services.events,
        services.corrections,
        services.reports,
    )
    return {
        profile_pb.DESCRIPTOR.services_by_name["ProfileService"].full_name: {
            "GetProfile": Method(
                profile_pb.GetProfileRequest,
                lambda r, c: exchange.get_profile(r, c.partner),
                lambda signed: signed.as_protobuf,
            ),
            "PublishProfile": Method(
                profile_pb.PublishProfileRequest,
                lambda r, c: exchange.publish_profile(r, c.partner),
            ),
            "ListProfileVersions": Method(
                profile_pb.ListProfileVersionsRequest,
                lambda r, c: exchange.list_versions(r),
            ),
            "SearchProfiles": Method(
                profile_pb.SearchProfilesRequest,
                lambda r, c: exchange.search_profiles(r, c.partner),
            ),
            "ImportProfiles": Method(
                profile_pb.ImportChunk,
                lambda r, c: exchange.import_file(r.format, r.file, c.partner),
                lambda summary: summary_message(summary).SerializeToString(),
                streamed=True,
            ),
        },
        event_pb.DESCRIPTOR.services_by_name["EventService"].full_name: {
            "CreateSubscription": Method(
                event_pb.CreateSubscriptionRequest,
                lambda r, c: events.create_subscription(c.partner, r),
            ),
            "ListSubscriptions": Method(
                event_pb.ListSubscriptionsRequest,
                lambda r, c: events.list_subscriptions(c.partner, r),
            ),
            "GetSubscription": Method(
                event_pb.GetSubscriptionRequest, lambda r, c: events.get_subscription(c.partner, r)
            ),
            "DeleteSubscription": Method(
                event_pb.DeleteSubscriptionRequest,
                lambda r, c: events.delete_subscription(c.partner, r),
            ),
            "PollEvents": Method(
                event_pb.PollEventsRequest,
                lambda r, c: events.poll_waiting(services.offload, c.partner, r),
                awaited=True,
            ),
            "ListDeadEvents": Method(
                event_pb.ListDeadEventsRequest, lambda r, c: events.list_dead(r)
            ),
            "ReplayEvents": Method(event_pb.ReplayEventsRequest, lambda r, c: events.replay(r)),
        },
        correction_pb.DESCRIPTOR.services_by_name["CorrectionService"].full_name: {
            "FileDispute": Method(
                correction_pb.FileDisputeRequest, lambda r, c: corrections.file(c.partner, r)
            ),
            "AnswerDispute": Method(
                correction_pb.AnswerDisputeRequest, lambda r, c: corrections.answer(c.partner, r)
            ),
            "GetDispute": Method(
                correction_pb.GetDisputeRequest, lambda r, c: corrections.get(c.partner, r)
            ),
            "ListDisputes": Method(
                correction_pb.ListDisputesRequest, lambda r, c: corrections.list(c.partner, r)
            ),
            "RecordRepair": Method(
                correction_pb.RecordRepairRequest,
                lambda r, c: corrections.record_repair(c.partner, r),
            ),
        },
        federation_pb.DESCRIPTOR.services_by_name["FederationService"].full_name: {
            "GetFederationDocument": Method(
                federation_pb.GetFederationDocumentRequest,
                lambda r, c: services.federation.get_document(r),
            ),
            "GetPeerCheckpoint": Method(
                federation_pb.GetPeerCheckpointRequest,
                lambda r, c: services.federation.get_peer_checkpoint(r),
            ),
            "RegisterPeer": Method(
                federation_pb.RegisterPeerRequest, lambda r, c: services.federation.register_peer(r)
            ),
            "ListPeers": Method(
                federation_pb.ListPeersRequest, lambda r, c: services.federation.list_peers(r)
            ),
            "RefreshPeer": Method(
                federation_pb.RefreshPeerRequest, lambda r, c: services.federation.refresh_peer(r)
            ),
            "ListPeerAlarms": Method(
                federation_pb.ListPeerAlarmsRequest, lambda r, c: services.federation.list_alarms(r)
            ),
            "SetPeerRoute": Method(
                federation_pb.SetPeerRouteRequest, lambda r, c: services.federation.set_route(r)
            ),
            "ListPeerRoutes": Method(
                federation_pb.ListPeerRoutesRequest, lambda r, c: services.federation.list_routes(r)
            ),
        },
        consent_pb.DESCRIPTOR.services_by_name["ConsentService"].full_name: {
            "GrantConsent": Method(
                consent_pb.GrantConsentRequest, lambda r, c: consents.grant(c.partner, r)
            ),
            "RevokeConsent": Method(
                consent_pb.RevokeConsentRequest, lambda r, c: consents.revoke(c.partner, r)
            ),
            "GetConsent": Method(
                consent_pb.GetConsentRequest, lambda r, c: consents.get(c.partner, r)
            ),
            "ListConsents": Method(
                consent_pb.ListConsentsRequest, lambda r, c: consents.list(c.partner, r)
            ),
        },
        admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name: {
            "ListPartners": Method(
                admin_pb.ListPartnersRequest, lambda r, c: admin.list_partners(r)
            ),
            "GetPartner": Method(admin_pb.GetPartnerRequest, lambda r, c: admin.get_partner(r)),
            "RegisterPartner": Method(
                admin_pb.RegisterPartnerRequest, lambda r, c: admin.register_partner(r)
            ),
            "SuspendPartner": Method(
                admin_pb.PartnerRef, lambda r, c: admin.suspend_partner(r, c.partner.id)
            ),
            "ReinstatePartner": Method(
                admin_pb.PartnerRef, lambda r, c: admin.reinstate_partner(r)
            ),
            "AddPartnerKey": Method(
                admin_pb.AddPartnerKeyRequest, lambda r, c: admin.add_partner_key(r)
            ),
            "RetirePartnerKey": Method(
                admin_pb.RetirePartnerKeyRequest,
                lambda r, c: admin.retire_partner_key(r, c.partner.id),
            ),
            "AddPartnerCertificate": Method(
                admin_pb.AddPartnerCertificateRequest,
                lambda r, c: admin.add_partner_certificate(r),
            ),
            "RemovePartnerCertificate": Method(
                admin_pb.RemovePartnerCertificateRequest,
                lambda r, c: admin.remove_partner_certificate(r, c.partner.id),
            ),
            "SetPartnerQuota": Method(
                admin_pb.SetPartnerQuotaRequest,
                lambda r, c: admin.set_partner_quota(r, c.partner.id),
            ),
            "ListRefusals": Method(
                admin_pb.ListRefusalsRequest, lambda r, c: services.refusals.list(r)
            ),
        },
        rules_pb.DESCRIPTOR.services_by_name["RulesService"].full_name: {
            "RecognizeAeo": Method(
                rules_pb.RecognizeAeoRequest,
                lambda r, c: services.rules.recognize_aeo(r, c.partner),
            ),
            "EquivalentGrade": Method(
                rules_pb.EquivalentGradeRequest, lambda r, c: services.rules.equivalent_grade(r)
            ),
            "ListRulePacks": Method(
                rules_pb.ListRulePacksRequest, lambda r, c: services.rules.list_packs()
            ),
            "GetRulePack": Method(
                rules_pb.GetRulePackRequest, lambda r, c: services.rules.get_pack(r)
            ),
        },
        sco_pb.DESCRIPTOR.services_by_name["ScoService"].full_name: {
            "IssueScoCode": Method(
                sco_pb.IssueScoCodeRequest, lambda r, c: services.sco.issue_code(r, c.partner)
            ),
            "GetScoCode": Method(
                sco_pb.GetScoCodeRequest, lambda r, c: services.sco.get_code(r, c.partner)
            ),
            "SetScoCodeStatus": Method(
                sco_pb.SetScoCodeStatusRequest, lambda r, c: services.sco.set_status(r, c.partner)
            ),
            "VerifyScoCode": Method(
                sco_pb.VerifyScoCodeRequest, lambda r, c: services.sco.verify_code(r)
            ),
            "GetTrustList": Method(
                sco_pb.GetTrustListRequest,
                lambda r, c: sco_pb.SignedList(jws=services.sco.trust_list()[1]),
            ),
            "GetStatusList": Method(
                sco_pb.GetStatusListRequest,
                lambda r, c: sco_pb.SignedList(jws=services.sco.status_list()[1]),
            ),
        },
        report_pb.DESCRIPTOR.services_by_name["ReportService"].full_name: {
            "CreateReport": Method(
                report_pb.CreateReportRequest,
                lambda r, c: reports.create_waiting(services.offload, r, c.partner),
                awaited=True,
            ),
            "GetReport": Method(
                report_pb.GetReportRequest,
                lambda r, c: reports.message(reports.get(r, c.partner), with_pdf=True),
            ),
            "ListReports": Method(
                report_pb.ListReportsRequest, lambda r, c: reports.list_message(r, c.partner)
            ),
            "VerifyReport": Method(
                report_pb.VerifyReportRequest, lambda r, c: reports.verification(r)
            ),
            "RevokeReport": Method(
                report_pb.RevokeReportRequest,
                lambda r, c: reports.message(reports.revoke(r, c.partner)),
            ),
        },
        audit_pb.DESCRIPTOR.services_by_name["AuditService"].full_name: {
            "GetCheckpoint": Method(
                audit_pb.GetCheckpointRequest, lambda r, c: audit.checkpoint(r.tree_size)
            ),
            "ListEntries": Method(
                audit_pb.ListEntriesRequest,
                lambda r, c: audit.entries(r, c.partner if c else None),
            ),
            "GetInclusionProof": Method(
                audit_pb.GetInclusionProofRequest, lambda r, c: audit.inclusion(r)
            ),
            "GetConsistencyProof": Method(
                audit_pb.GetConsistencyProofRequest, lambda r, c: audit.consistency(r)
            ),
            "AddCosignature": Method(
                audit_pb.AddCosignatureRequest, lambda r, c: audit.add_cosignature(c.partner, r)
            ),
        },
    }


def _handler(
    services: Services,
    gateway_id: str,
    service: str,
    operation: str,
    method: Method,
    max_import_bytes: int,
) -> grpc.RpcMethodHandler:
    gate, audit, offload = services.gate, services.audit, services.offload
    # The URL a DPoP proof for this RPC names in htu (gRPC runs over HTTP/2 POST).
    url = f"https://{gateway_id}/{service}/{operation}"

    audited = rule_for(operation).audited
    via = f"grpc {operation}"

    async def handle(arriving: Any, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        served = _served(context)
        caller: Caller | None = None
        request: Any = None
        digest = ""
        leaf: int | None = None
        outcome, problem = "CANCELLED", None  # until answered
        body = b""
        source = source_address(peer_host(context.peer()))
        try:
            credentials = _credentials(context, url)
            # A source flooding the token endpoint is turned away before any signature is checked.
            gate.screen(operation, source)

            def identified(known: Caller | None) -> None:
                nonlocal caller
                caller = known

            def acting() -> contextlib.AbstractContextManager[Any]:
                # A public call may change nothing (no actor to name).
                if caller is None:
                    return contextlib.nullcontext()
                return acting_as(Actor.partner(caller.partner.id, via))

            def parse() -> None:
                nonlocal request, digest
                digest = sha256_hex(arriving)
                request = _parse(method.request_type, arriving)

            def admit_and_call() -> Any:
                """Admission, parsing and the use case in one worker thread: one hand-off
                from the loop a call (each costs the loop about 100 us, bench/README.md)."""
                with traces.span("admission"):
                    gate.admit_here(operation, credentials, identified)
                parse()
                with acting(), traces.span(operation):
                    return method.call(request, caller)  # type: ignore[arg-type]

            if not (method.streamed or method.awaited):
                answer = await offload.run(admit_and_call)
            else:  # a file upload or a long poll: admitted first, then run as long as it needs
                with traces.span("admission"):
                    await gate.admit(operation, credentials, identified)
                if method.streamed:
                    request = await _spool(arriving, max_import_bytes)
                    digest = request.sha256
                else:
                    parse()
                with acting(), traces.span(operation):
                    answer = await (
                        method.call(request, caller)  # type: ignore[arg-type]
                        if method.awaited
                        else offload.run_unbounded(method.call, request, caller)  # type: ignore[arg-type]
                    )
            body = method.encode(answer)
            if audited:
                with traces.span("audit commit"):
                    leaf = await audit.record_async(
                        _exchange(operation, caller, request, digest, answer, body, "ok")
                    )
            context.set_trailing_metadata(_trailers(served, leaf))
            outcome = "OK"
            return body
        except GatewayError as exc:
            slug = problem = mapping_for(exc).slug
            logged = gate.refused(operation, "grpc", caller, exc, slug, source=source)
            status = grpc_status(exc)
            # Else counted into a summary leaf (gateway/service/flood.py), or, without a
            # database, left to the refusal row that waits for it.
            if audited and logged and not isinstance(exc, DatabaseUnavailable):
                try:
                    with traces.span("audit commit"):
                        leaf = await audit.record_async(
                            _exchange(operation, caller, request, digest, None, b"", slug)
                        )
                except DatabaseUnavailable as unavailable:  # never an answer without its leaf
                    status = grpc_status(unavailable)
                    problem = mapping_for(unavailable).slug
            outcome = status.code.name
        except Exception as exc:
            status = grpc_status(unexpected(exc))
            outcome, problem = status.code.name, "internal"
        finally:
            if isinstance(request, Upload):
                request.close()
            served.finish(
                operation=operation,
                status=outcome,
                problem=problem,
                partner=caller.partner.id if caller is not None else None,
                purpose=_purpose(request),
                leaf=leaf,
                bytes_in=_size_in(arriving, request),
                bytes_out=len(body),
            )
        trailers = (*status.trailing_metadata, *_trailers(served, leaf))
        await context.abort(status.code, status.details, trailers)
        raise AssertionError("unreachable: abort raises")

    if method.streamed:
        return grpc.stream_unary_rpc_method_handler(handle)
    return grpc.unary_unary_rpc_method_handler(handle)


def _served(context: grpc.aio.ServicerContext[bytes, bytes]) -> Served:
    sent = dict.fromkeys(("traceparent", REQUEST_ID_HEADER))
    for key, value in context.invocation_metadata():
        if key in sent and isinstance(value, str):
            sent[key] = value
    return Served("grpc", sent["traceparent"], sent[REQUEST_ID_HEADER])


def _trailers(served: Served, leaf: int | None) -> tuple[tuple[str, str], ...]:
    """The request id, this call's span and its audit leaf, for the caller to quote."""
    trailers = [(REQUEST_ID_HEADER, served.request_id)]
    if served.traceparent is not None:
        trailers.append(("traceparent", served.traceparent))
    if leaf is not None:
        trailers.append((AUDIT_LEAF, str(leaf)))
    return tuple(trailers)


def _size_in(arriving: Any, request: Any) -> int | None:
    """Bytes received: the message, or the file a stream of chunks spooled (None when the
    stream was refused before it was read)."""
    if isinstance(request, Upload):
        return request.size
    return len(arriving) if isinstance(arriving, bytes) else None


def _purpose(request: Any) -> str | None:
    purpose = getattr(request, "purpose", None)
    return purpose if purpose in PURPOSES else None


def _parse(message_type: type[Message], raw: bytes) -> Message:
    try:
        message = message_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidArgument(
            f"request is not a valid {message_type.DESCRIPTOR.full_name} message: {exc}"
        ) from exc
    refuse_nul(message)
    return message


async def _spool(chunks: AsyncIterator[bytes], max_bytes: int) -> Upload:
    """A stream of ImportChunk messages as one spooled file; the first chunk names the format."""
    upload = Upload(max_bytes=max_bytes, field="data")
    try:
        async for raw in chunks:
            chunk = _parse(profile_pb.ImportChunk, raw)
            assert isinstance(chunk, profile_pb.ImportChunk)
            if chunk.format and upload.format and chunk.format != upload.format:
                raise InvalidArgument("the format cannot change within a file", field="format")
            upload.format = upload.format or chunk.format
            if not upload.format:
                raise InvalidArgument("the first chunk names the file's format", field="format")
            upload.write(chunk.data)
        if not upload.format:
            raise InvalidArgument("no chunk arrived: a file needs at least one", field="format")
    except BaseException:
        upload.close()
        raise
    return upload.rewind()


def _exchange(
    operation: str,
    caller: Caller | None,
    request: Any,
    request_sha256: str,
    answer: object,
    body: bytes,
    decision: str,
) -> Exchange:
    return Exchange(
        operation=operation,
        transport="grpc",
        partner=caller.partner.id if caller else "",
        subject=subjects(request, answer),
        purpose=getattr(request, "purpose", ""),
        consent=getattr(request, "consent", ""),
        request_sha256=request_sha256,
        response_sha256=sha256_hex(body) if body else "",
        decision=decision,
        rule_pack=rule_pack_of(answer),
    )


def peer_host(peer: str) -> str | None:
    """The address of a gRPC peer without its port: ``ipv4:10.0.0.1:5000`` and
    ``ipv6:%5B::1%5D:5000`` (or ``ipv6:[::1]:5000``); None for other peers (``unix:``)."""
    kind, _, rest = peer.partition(":")
    host = unquote(rest).rpartition(":")[0]
    if kind == "ipv4":
        return host or None
    if kind == "ipv6":
        return host.removeprefix("[").removesuffix("]") or None
    return None


def _credentials(context: grpc.aio.ServicerContext[bytes, bytes], url: str) -> Credentials:
    sent: dict[str, list[str | bytes]] = {"authorization": [], "dpop": []}
    for key, value in context.invocation_metadata():
        if key in sent:
            sent[key].append(value)
    # One of each, as over REST (RFC 9449 section 4.3): two readers could take different ones.
    for key, values in sent.items():
        if len(values) > 1:
            field = "DPoP" if key == "dpop" else key
            raise Unauthenticated(f"send {key} metadata once, not {len(values)} times", field=field)
    authorization, dpop = (values[0] if values else None for values in sent.values())
    certificates = context.auth_context().get("x509_pem_cert")
    return Credentials(
        authorization=authorization if isinstance(authorization, str) else None,
        dpop=dpop if isinstance(dpop, str) else None,
        client_certificate=certificates[0] if certificates else None,
        method="POST",
        url=url,
    )


async def create_server(
    services: Services,
    *,
    gateway_id: str,
    max_request_bytes: int,
    max_import_bytes: int,
    max_metadata_bytes: int,
    handshake_timeout_seconds: float,
    reuse_port: bool = False,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A gRPC server with every gateway service registered, on the running event loop; the
    caller binds and starts it."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            # grpc's own limits are a soft 8 KiB, under which calls fail at random, and a hard
            # 16 KiB: one hard limit, so that a call is refused for its size, not by chance.
            ("grpc.max_metadata_size", max_metadata_bytes),
            ("grpc.absolute_max_metadata_size", max_metadata_bytes),
            # A connection that has not finished its TLS and HTTP/2 handshake by then is closed.
            ("grpc.server_handshake_timeout_ms", int(handshake_timeout_seconds * 1000)),
            # Several worker processes share the port only when asked (cxg serve --workers):
            # otherwise a second gateway started by mistake would silently take half the calls.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
    )
    methods = service_methods(services)
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(
                service,
                {
                    name: _handler(services, gateway_id, service, name, method, max_import_bytes)
                    for name, method in handlers.items()
                },
            )
            for service, handlers in methods.items()
        )
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *methods):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    loop = asyncio.get_running_loop()

    def follow_readiness(ready: bool) -> None:
        """Every service is as ready as the process (gateway/service/readiness.py: the
        database, keys, rule packs, audit writer, shutdown): NOT_SERVING while it is not."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *methods):
            asyncio.run_coroutine_threadsafe(health_servicer.set(name, status), loop)

    services.readiness.on_change(follow_readiness)
    reflection.enable_server_reflection(
        (*methods, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer
