"""REST routes of cxg.v1.EventService. ``POST /v1/events:poll`` takes and answers RFC 8936's
poll JSON, which is PollEventsRequest and PollEventsResponse in proto3 JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.schema.cxg.v1 import event_service_pb2 as pb
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep

SubscriptionId = Annotated[
    str,
    Path(
        pattern="^[0-9a-f]{32}$",
        description="The last segment of subscriptions/{subscription_id}.",
    ),
]

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/subscriptions",
    operation_id="CreateSubscription",
    summary="Subscribe to events about companies (signed SETs, pushed or polled)",
    responses=responses(pb.EventSubscription, 400),
    openapi_extra=json_body(pb.CreateSubscriptionRequest),
)
async def create_subscription(
    request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    create = await read_message(request, pb.CreateSubscriptionRequest)
    return message_response(
        await services.offload.run(services.events.create_subscription, caller.partner, create)
    )


@router.get(
    "/v1/subscriptions",
    operation_id="ListSubscriptions",
    summary="The caller's subscriptions, oldest first",
    responses=responses(pb.ListSubscriptionsResponse),
)
async def list_subscriptions(services: ServicesDep, caller: CallerDep) -> Response:
    listing = pb.ListSubscriptionsRequest()
    return message_response(
        await services.offload.run(services.events.list_subscriptions, caller.partner, listing)
    )


@router.get(
    "/v1/subscriptions/{subscription_id:segment}",
    operation_id="GetSubscription",
    summary="One of the caller's subscriptions",
    responses=responses(pb.EventSubscription, 400, 404),
)
async def get_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, caller: CallerDep
) -> Response:
    get = pb.GetSubscriptionRequest(name=f"subscriptions/{subscription_id}")
    return message_response(
        await services.offload.run(services.events.get_subscription, caller.partner, get)
    )


@router.delete(
    "/v1/subscriptions/{subscription_id:segment}",
    operation_id="DeleteSubscription",
    summary="End one of the caller's subscriptions; its undelivered events are dropped",
    responses=responses(pb.EventSubscription, 400, 404),
)
async def delete_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, caller: CallerDep
) -> Response:
    delete = pb.DeleteSubscriptionRequest(name=f"subscriptions/{subscription_id}")
    return message_response(
        await services.offload.run(services.events.delete_subscription, caller.partner, delete)
    )


@router.post(
    "/v1/events:poll",
    operation_id="PollEvents",
    summary="RFC 8936 poll: acknowledge SETs, report refused ones, receive the next ones",
    responses=responses(pb.PollEventsResponse, 400),
    openapi_extra=json_body(pb.PollEventsRequest),
)
async def poll_events(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    poll = await read_message(request, pb.PollEventsRequest)
    return message_response(
        await services.events.poll_waiting(services.offload, caller.partner, poll)
    )


@router.get(
    "/v1/events:dead",
    operation_id="ListDeadEvents",
    summary="Operators: push deliveries given up after the retry horizon",
    responses=responses(pb.ListDeadEventsResponse, 400),
)
async def list_dead_events(
    services: ServicesDep,
    page_size: Annotated[int, Query(ge=0, le=1000, description="0 means 100.")] = 0,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    listing = pb.ListDeadEventsRequest(page_size=page_size, page_token=page_token)
    return message_response(await services.offload.run(services.events.list_dead, listing))


@router.post(
    "/v1/events:replay",
    operation_id="ReplayEvents",
    summary="Operators: deliver dead letters again, with a fresh horizon",
    responses=responses(pb.ReplayEventsResponse, 400),
    openapi_extra=json_body(pb.ReplayEventsRequest),
)
async def replay_events(request: Request, services: ServicesDep) -> Response:
    replay = await read_message(request, pb.ReplayEventsRequest)
    return message_response(await services.offload.run(services.events.replay, replay))
