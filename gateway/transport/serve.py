"""A gateway process: gRPC and REST served together over one service core."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

import grpc
import uvicorn

from gateway._heap import settle
from gateway.config import Settings, warn_at_startup
from gateway.observe import metrics, traces

try:
    from uvloop import new_event_loop
except ImportError:  # an optional dependency (none on Windows): asyncio's own loop then
    from asyncio import new_event_loop  # type: ignore[assignment]
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.service.access import Gatekeeper, TrustCache
from gateway.service.admin import AdminApi
from gateway.service.audit import AuditLog
from gateway.service.consents import ConsentService
from gateway.service.corrections import CorrectionService
from gateway.service.delivery import PushDeliverer
from gateway.service.events import EventService
from gateway.service.federation import Federation
from gateway.service.flood import FloodGuard
from gateway.service.offload import Offload
from gateway.service.quotas import Quotas
from gateway.service.readiness import Readiness
from gateway.service.refusals import RefusalLog
from gateway.service.reports import ReportService
from gateway.service.rules import RuleService
from gateway.service.sco import ScoService
from gateway.service.tokens import TokenService
from gateway.signing import KeyRing
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.storage.refusals import RefusalStore
from gateway.storage.replay import ReplayStore
from gateway.storage.usage import UsageStore
from gateway.transport.grpc_server import create_server
from gateway.transport.rest import create_app
from gateway.transport.rest._http import HttpLimits, bounded_protocol
from gateway.transport.rest._observe import Observed
from gateway.transport.services import Services
from gateway.trust.pki import ServerTlsFiles

_log = logging.getLogger("cxg.gateway")


class Gateway:
    """Builds every part from settings and binds both ports (0 picks a free one)."""

    def __init__(self, settings: Settings, *, reuse_port: bool = False) -> None:
        """``reuse_port``: bind both ports with SO_REUSEPORT, as one of several worker
        processes sharing them (gateway/transport/workers.py)."""
        self.settings = settings
        tls = (
            ServerTlsFiles.in_dir(settings.tls_dir) if settings.tls_dir else None
        )  # before any I/O
        self.db = Database.from_url(
            settings.database_url,
            timeout=settings.database_timeout_seconds,
            statement_timeout=settings.database_timeout_seconds,
        )
        self.db.upgrade()
        traces.instrument(self.db.engine)  # a span per statement, when tracing
        self.trust = TrustCache(PartnerStore(self.db), ttl=settings.trust_cache_seconds)
        self.replay = ReplayStore(self.db)
        keyring = KeyRing.from_settings(settings)  # read once, for every use case
        self.rules = RuleService.from_settings(settings, self.db, keyring)
        self.exchange = ProfileExchange.from_settings(
            settings, self.db, self.trust, rules=self.rules
        )
        # Bound first: a DPoP proof names the REST port's URL, so its origins must be known.
        self._rest_socket = _bind(settings.host, settings.rest_port, reuse_port=reuse_port)
        self.rest_port: int = self._rest_socket.getsockname()[1]
        self.tokens = TokenService(
            self.exchange.keyring,
            self.trust,
            self.replay.remember,
            gateway_id=settings.gateway_id,
            origins=settings.rest_origins(self.rest_port),
            dpop_nonce=settings.dpop_nonce,
            dpop_nonce_replay=settings.dpop_nonce_replay,
            mtls=settings.tls_dir is not None,
        )
        self.refusals = RefusalLog(RefusalStore(self.db))
        self.quotas = Quotas(UsageStore(self.db))
        self.partners = PartnerAdmin(self.db, on_change=self.trust.invalidate)
        self.audit = AuditLog.from_settings(settings, self.db)
        self.flood = FloodGuard.from_settings(settings, self.audit, self.refusals)
        self.offload = Offload(self.db.health, deadline=self.db.deadline)
        self.readiness = _readiness(self)
        self.readiness.on_change(_set_ready_gauge)
        # The database's changes at once, not at the readiness watcher's next look.
        self.db.health.on_change(self._database_changed)
        self._grpc_stopped = False
        sco = ScoService.from_settings(settings, self.db, keyring)
        self.services = Services(
            exchange=self.exchange,
            consents=ConsentService(self.db),
            rules=self.rules,
            sco=sco,
            admin=AdminApi(self.partners),
            refusals=self.refusals,
            tokens=self.tokens,
            gate=Gatekeeper(self.tokens, self.quotas, self.refusals, self.flood, self.offload),
            audit=self.audit,
            offload=self.offload,
            db=self.db,
            readiness=self.readiness,
            events=EventService.from_settings(settings, self.db, keyring),
            corrections=CorrectionService.from_settings(
                settings, self.db, self.exchange, codes_changed=sco.codes_changed
            ),
            federation=Federation(
                settings,
                self.db,
                keyring,
                self.audit,
                sco.own_issuer_keys,
                trust_changed=sco.trust_changed,
            ),
            reports=ReportService(self.db, self.exchange, self.rules, settings=settings),
        )
        federation = self.services.federation
        self.exchange.relay = federation.relay_profile
        self.exchange.relay_search = federation.relay_search
        self.rules.on_behalf_of = self.exchange.on_behalf_of
        self.rules.relay = federation.relay_recognition
        self.deliverer = PushDeliverer(self.services.events, self.offload, self.audit, settings)
        # Both transports are served on one event loop: a call that waits for its audit leaf
        # waits as a coroutine, not as a blocked thread, and the loop commits the leaves of
        # all the calls it is serving together (gateway/storage/_group.py).
        self._loop = new_event_loop()
        self.grpc_server, self._health = self._loop.run_until_complete(
            create_server(
                self.services,
                gateway_id=settings.gateway_id,
                max_request_bytes=settings.max_request_bytes,
                max_import_bytes=settings.max_import_bytes,
                max_metadata_bytes=settings.max_header_bytes,
                handshake_timeout_seconds=settings.header_timeout_seconds,
                reuse_port=reuse_port,
            )
        )
        address = _address(settings.host, settings.grpc_port)
        if tls is None:
            self.grpc_port = self.grpc_server.add_insecure_port(address)
        else:
            self.grpc_port = self.grpc_server.add_secure_port(address, grpc_mtls(tls))
        if not settings.public_url:  # QR codes point at the port actually bound
            self.services.sco.public_url = f"http://{settings.host}:{self.rest_port}"
        self.rest_app = create_app(
            self.services,
            max_request_bytes=settings.max_request_bytes,
            max_import_bytes=settings.max_import_bytes,
        )
        app = Observed(self.rest_app)  # every answer logged, counted and traced (_observe.py)
        self._uvicorn = _RestServer(
            uvicorn.Config(
                app,
                loop="none",  # served on the gateway's own loop
                # httptools, plus the client certificate in the scope for mTLS-bound tokens, with
                # bounds on heads, bodies and connections, and problem+json for its own answers
                http=bounded_protocol(HttpLimits.from_settings(settings)),
                timeout_keep_alive=settings.keep_alive_seconds,
                ws="none",  # no WebSocket routes: an upgrade request is served as plain HTTP
                lifespan="off",
                access_log=False,
                # The client address is the connection's peer, which the anonymous flood limits
                # key on: uvicorn would otherwise take X-Forwarded-For (and the scheme from
                # X-Forwarded-Proto) from any client on 127.0.0.1 or FORWARDED_ALLOW_IPS.
                proxy_headers=False,
                log_level="warning",
                log_config=None,  # uvicorn's lines go through the gateway's log (observe/logs.py)
                # REST and gRPC drain together, each within the grace period (_RestServer).
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
                **(rest_mtls(tls) if tls else {}),
            ),
            stopping=self.readiness.shut_down,
            drain=self._stop_grpc,
        )
        self._thread: threading.Thread | None = None
        # Several workers' metrics are served summed by their supervisor (workers.py).
        self.metrics = (
            metrics.serve(settings.metrics_host, settings.metrics_port)
            if settings.metrics_port and not metrics.MULTIPROCESS
            else None
        )

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn handles them in the main thread), then shut down.

        Once stopped, uvicorn raises the signal again under the handler it found: SIGTERM's
        default one would end the process there, before the shutdown writes the last refusal
        summary, the queued refusals and the quota counts. So SIGTERM's handler here only asks
        uvicorn to exit (which also covers a SIGTERM before uvicorn has started)."""
        warn_at_startup(self.settings)  # stderr: what is unsafe or useless in production
        self.log_start(frozen=settle())  # full collections no longer walk start-up's objects
        previous = signal.signal(signal.SIGTERM, self._exit_on_signal)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._shutdown()

    def log_start(self, *, frozen: int) -> None:
        """One line: the effective configuration, the ports bound and the keys in use."""
        keyring = self.exchange.keyring
        fields = {
            "grpcPort": self.grpc_port,
            "restPort": self.rest_port,
            "metricsPort": self.metrics.port if self.metrics else None,
            "signingKid": keyring.active.kid,
            "publishedKids": [key.kid for key in keyring.keys],
            "checkpointKey": self.audit.verifier_key,
            "tracing": traces.enabled(),
            "startupObjectsFrozen": frozen,
            "settings": self.settings.effective(),
        }
        _log.info("gateway started", extra={"fields": fields})

    def _database_changed(self, available: bool) -> None:
        self.readiness.update()

    def _exit_on_signal(self, signum: int, frame: object) -> None:
        self.readiness.shut_down()
        self._uvicorn.should_exit = True

    def start(self) -> Gateway:
        """Serve in a background thread (tests, benchmarks); stop() ends it."""
        self._thread = threading.Thread(
            target=self._loop.run_until_complete,
            args=(self._serve(),),
            name="cxg-serve",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.readiness.shut_down()
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._shutdown()

    async def _serve(self) -> None:
        self.readiness.watch()  # gRPC health follows it from the first call
        await self.grpc_server.start()
        self.audit.start_schedule(self.settings.checkpoint_seconds)
        self.db.health.watch()
        self.flood.start()
        self.deliverer.start()
        self.services.federation.start()
        try:
            await self._uvicorn.serve(sockets=[self._rest_socket])
        finally:
            await self._stop_grpc()  # drained already, unless uvicorn failed
            await self.deliverer.stop()  # a delivery under way ends; its lease lets another retry

    async def _stop_grpc(self) -> None:
        """No new calls; those in flight finish within the grace period, then are cancelled."""
        if self._grpc_stopped:
            return
        self._grpc_stopped = True
        await self._health.enter_graceful_shutdown()
        await self.grpc_server.stop(grace=self.settings.shutdown_grace_seconds)

    def _shutdown(self) -> None:
        self._rest_socket.close()
        self.readiness.close()
        self.services.federation.stop()
        self.db.health.close()
        self.offload.close()
        self.services.reports.close()
        self.flood.close()  # the last summary of refusals counted, not logged one by one
        self.refusals.close()
        # The leaves handed over are committed, then one checkpoint signed that covers them all.
        self.audit.close(final_checkpoint=True)
        self.quotas.flush()
        self.db.dispose()
        if self.metrics is not None:
            self.metrics.close()
        if not self._loop.is_running():
            self._loop.close()


class _RestServer(uvicorn.Server):
    """uvicorn's server, which begins the gateway's shutdown as soon as it is asked to exit:
    the process stops being ready at once (in the signal handler, not at uvicorn's next tick),
    and gRPC drains during the same grace period as REST rather than after it."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        stopping: Callable[[], None],
        drain: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        super().__init__(config)
        self._stopping = stopping
        self._drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._stopping()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stopping()  # also when stopped by should_exit alone (Gateway.stop)
        drained = asyncio.ensure_future(self._drain())
        try:
            await super().shutdown(sockets)
        finally:
            await drained


def _readiness(gateway: Gateway) -> Readiness:
    """The checks a gateway is ready by (gateway/service/readiness.py)."""
    db, keyring, audit, rules = gateway.db, gateway.exchange.keyring, gateway.audit, gateway.rules
    schema = db.schema_behind()  # checked once, after the upgrade at start-up; kept
    # Work handed to the audit log's commit thread that waits this long: the writer is stuck.
    stuck_after = max(1.0, db.deadline)
    return Readiness(
        {
            "database": lambda: None if db.health.available else "unreachable",
            "migrations": lambda: schema,
            "signingKeys": lambda: None if keyring.active in keyring.keys else "no active key",
            "rulePacks": lambda: rules.load_problem,
            "auditWriter": lambda: audit.writer_problem(stuck_after),
        }
    )


def _set_ready_gauge(ready: bool) -> None:
    metrics.ready.set(1 if ready else 0)


def listening(gateway: Gateway) -> str:
    """The line ``cxg serve`` prints once both ports are bound."""
    return listening_line(gateway.settings, gateway.grpc_port, gateway.rest_port)


def listening_line(settings: Settings, grpc_port: int, rest_port: int) -> str:
    """``listening``'s line for the ports given (a supervisor of several workers prints it)."""
    scheme = "https" if settings.tls_dir else "http"
    return (
        f"cxg: gRPC on {settings.host}:{grpc_port}, REST on {scheme}://{settings.host}:{rest_port}"
    )


def grpc_mtls(files: ServerTlsFiles) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.client_ca.read_bytes(),
        require_client_auth=True,
    )


def rest_mtls(files: ServerTlsFiles) -> dict[str, Any]:
    return {
        "ssl_certfile": str(files.cert),
        "ssl_keyfile": str(files.key),
        "ssl_ca_certs": str(files.client_ca),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # worker processes share the port; the kernel spreads connections
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock
