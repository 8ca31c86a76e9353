"""gRPC transport: cxg.v1.ProfileService, grpc.health.v1 and server reflection.

Handlers receive raw bytes and parse them here, so a malformed message is an INVALID_ARGUMENT
naming the message type rather than grpc's generic INTERNAL. GetProfile answers with the
version's cached protobuf encoding as is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.errors import GatewayError, InvalidArgument
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import ProfileExchange
from gateway.transport.errors import grpc_status, unexpected

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ProfileService"].full_name


def _unary(
    request_type: type[Message],
    call: Callable[[Any], Any],
    encode: Callable[[Any], bytes],
) -> grpc.RpcMethodHandler:
    def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            try:
                request = request_type.FromString(raw)
            except DecodeError as exc:
                raise InvalidArgument(
                    f"request is not a valid {request_type.DESCRIPTOR.full_name} message: {exc}"
                ) from exc
            return encode(call(request))
        except GatewayError as exc:
            context.abort_with_status(grpc_status(exc))
            raise  # abort_with_status raises; this line only satisfies the type checker
        except Exception as exc:
            context.abort_with_status(grpc_status(unexpected(exc)))
            raise

    return grpc.unary_unary_rpc_method_handler(handle)


def profile_service_handler(exchange: ProfileExchange) -> grpc.GenericRpcHandler:
    serialize: Callable[[Message], bytes] = lambda message: message.SerializeToString()  # noqa: E731
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "GetProfile": _unary(
                pb.GetProfileRequest, exchange.get_profile, lambda signed: signed.as_protobuf
            ),
            "PublishProfile": _unary(pb.PublishProfileRequest, exchange.publish_profile, serialize),
            "ListProfileVersions": _unary(
                pb.ListProfileVersionsRequest, exchange.list_versions, serialize
            ),
            "SearchProfiles": _unary(pb.SearchProfilesRequest, exchange.search_profiles, serialize),
        },
    )


def create_server(
    exchange: ProfileExchange, *, max_request_bytes: int, max_workers: int
) -> tuple[grpc.Server, health.HealthServicer]:
    """A gRPC server with every gateway service registered; the caller binds and starts it."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cxg-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((profile_service_handler(exchange),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer
