"""Push delivery of security events (RFC 8935), run by every gateway process on its event loop.

Each tick fans new outbox events out into signed SETs, claims the push deliveries that are due
(a lease, so that processes never send one at the same time and a process that dies leaves its
claims to the others), POSTs each SET to its subscriber's endpoint and records the outcome (and,
for each SET delivered, an audit leaf naming the subscriber, the company and the SET's digest):

- 202: delivered;
- 400 with an RFC 8935 error document: the subscriber refused that SET; sending the same bytes
  again cannot help, so it is a dead letter at once, with the subscriber's reason;
- anything else (another status, a refused connection, a timeout, an endpoint that now resolves
  to an address the SSRF policy refuses): retried after ``base * 2^(attempts-1)`` seconds, at
  most ``max``, with jitter (half fixed, half random, so that retries of many deliveries do not
  come back together); a dead letter once ``dead_after`` has passed since it was made.

The endpoint's name is resolved and checked before every attempt, and the connection goes to
the checked address (no second lookup an attacker's DNS could answer differently); redirects
are never followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from datetime import datetime, timedelta

import httpx

from gateway.audit.entries import Exchange
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.events.endpoints import pinned_request
from gateway.observe import metrics
from gateway.service._outgoing import client_tls_context
from gateway.service.audit import AuditLog, sha256_hex
from gateway.service.events import EventService
from gateway.service.offload import Offload
from gateway.storage.events import DEAD, DELIVERED, PENDING, Delivery, Outcome

_log = logging.getLogger("cxg.events")
SET_MEDIA_TYPE = "application/secevent+jwt"
CLAIM_BATCH = 64  # deliveries one tick claims, and POSTs at the same time at most
_ERROR_BYTES = 4096
MAX_CLIENTS = 256  # endpoints whose connections are kept open between ticks
EXPIRY_SECONDS = 60.0


class PushDeliverer:
    def __init__(
        self, events: EventService, offload: Offload, audit: AuditLog, settings: Settings
    ) -> None:
        self._events = events
        self._offload = offload
        self._audit = audit
        self._timeout = settings.events_push_timeout_seconds
        self._base = settings.events_retry_base_seconds
        self._max = settings.events_retry_max_seconds
        self._dead_after = timedelta(seconds=settings.events_dead_after_seconds)
        self._tick = settings.events_tick_seconds
        # Held past the request timeout: a claim outlives the attempt it was taken for.
        self._lease = timedelta(seconds=2 * self._timeout + 5)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._next_expiry = 0.0  # loop time of the next look for polled SETs past the horizon
        self._clients: dict[str, httpx.AsyncClient] = {}  # by endpoint, least recently used first
        self._tls = push_tls_context(settings)
        self._closing: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        """Run on the current event loop until ``stop``."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cxg-push")

    async def stop(self) -> None:
        """Stop after the tick under way, or cut it short after a second: a delivery cut off
        is still leased, and sent again (by this gateway or another) once the lease ends."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):  # wait_for cancels it then
                await asyncio.wait_for(self._task, 1.0)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await asyncio.gather(*self._closing)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self.tick()
                self._paused = False
            except GatewayError as exc:  # the database is away: the next tick retries
                if not self._paused:  # once per outage, not every tick
                    _log.warning("event delivery paused: %s", exc)
                self._paused, busy = True, False
            except Exception:
                _log.exception("event delivery tick failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._tick)

    async def tick(self) -> bool:
        """One pass; True when there was work (the next pass follows at once)."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_expiry:  # a write, when there is any: now and then only
            self._next_expiry = loop.time() + min(EXPIRY_SECONDS, self._dead_after.total_seconds())
            made_before = self._events.now() - self._dead_after
            await self._offload.run(self._events.store.expire_polled, made_before)
        dispatched = await self._offload.run(self._events.dispatch)
        claimed = await self._offload.run(self._events.claim_push, self._lease, CLAIM_BATCH)
        if claimed:
            outcomes = await asyncio.gather(*(self._attempt(self._client(d), d) for d in claimed))
            # Who was told what: a leaf per SET its subscriber acknowledged (one group commit),
            # durable before the delivery is marked done; should it fail, the delivery is sent
            # again once its lease ends, and leafed again (at least once, as the delivery).
            delivered = {o.id for o in outcomes if o.state == DELIVERED}
            await asyncio.gather(
                *(self._audit.record_async(_leaf(d)) for d in claimed if d.id in delivered)
            )
            await self._offload.run(self._events.store.settle, outcomes)
        return bool(dispatched or claimed)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
        attempts = delivery.attempts + 1
        error = await self._post(client, delivery)
        now = self._events.now()
        if error is None:
            metrics.event_deliveries.labels("delivered").inc()
            return Outcome(delivery.id, DELIVERED, now, attempts)
        refused, reason = error
        if refused or now - delivery.created_at >= self._dead_after:
            metrics.event_deliveries.labels("dead").inc()
            _log.warning(
                "event delivery given up",
                extra={"fields": {"jti": delivery.jti, "attempts": attempts, "error": reason}},
            )
            return Outcome(delivery.id, DEAD, now, attempts, reason)
        metrics.event_deliveries.labels("retried").inc()
        return Outcome(delivery.id, PENDING, now, attempts, reason, self._retry_at(now, attempts))

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> tuple[bool, str] | None:
        """None when delivered; else (refused for good, why)."""
        policy = self._events.endpoints
        try:
            endpoint = policy.check_url(delivery.endpoint or "")
            address = (await policy.resolve(endpoint))[0]
            url, headers, extensions = pinned_request(endpoint, address)
            async with client.stream(
                "POST",
                url,
                content=delivery.set_jws.encode("ascii"),
                headers={**headers, "Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"},
                extensions=extensions,
            ) as answer:
                status = answer.status_code
                # Only a refusal's small error document is read: a subscriber's answer never
                # costs more memory than that.
                body = await _head(answer) if status == 400 else b""
        except GatewayError as exc:
            return False, f"endpoint: {exc}"
        except httpx.TimeoutException:
            return False, f"no answer within {self._timeout:g} s"
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"[:300]
        if status == 202:
            return None
        if status == 400 and (refusal := _set_error(body)):
            return True, f"refused by the subscriber: {refusal}"
        return False, f"answered {status}"

    def _client(self, delivery: Delivery) -> httpx.AsyncClient:
        """The endpoint's own client, its connections kept from tick to tick. One per endpoint:
        httpx pools connections by address, and a connection opened (its certificate checked)
        for one name must never carry the SETs of another name at the same address."""
        endpoint = delivery.endpoint or ""
        client = self._clients.pop(endpoint, None)
        if client is None:
            # Never a redirect (a new URL nobody checked), never a proxy from the environment.
            client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=False, trust_env=False, verify=self._tls
            )
        self._clients[endpoint] = client  # the most recently used last
        while len(self._clients) > MAX_CLIENTS:
            closing = asyncio.ensure_future(self._clients.pop(next(iter(self._clients))).aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return client

    def _retry_at(self, now: datetime, attempts: int) -> datetime:
        delay = min(self._max, self._base * 2 ** (attempts - 1))
        return now + timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def push_tls_context(settings: Settings) -> ssl.SSLContext:
    """How push connections check endpoints and, with mutual TLS configured, what they present."""
    return client_tls_context(
        settings.events_tls_ca_file,
        settings.events_client_certificate,
        settings.events_client_key,
        prefix="EVENTS",
    )


def _leaf(delivery: Delivery) -> Exchange:
    return Exchange(
        operation="DeliverEvent",
        transport="push",
        partner=delivery.partner_id,
        subject=(
            f"profiles/{delivery.profile_id}",
            f"subscriptions/{delivery.subscription_id}",
            f"events/{delivery.jti}",
        ),
        purpose=delivery.purpose,
        consent="",
        request_sha256=sha256_hex(delivery.set_jws.encode("ascii")),
        response_sha256="",
        decision="ok",
    )


async def _head(answer: httpx.Response) -> bytes:
    body = b""
    async for chunk in answer.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BYTES:
            break
    return body[:_ERROR_BYTES]


def _set_error(body: bytes) -> str | None:
    """The ``err`` and ``description`` of an RFC 8935 error answer, if it is one."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("err"), str):
        return None
    err, description = document["err"], document.get("description")
    return (f"{err}: {description}" if isinstance(description, str) else err)[:300]
