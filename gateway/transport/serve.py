"""A gateway process: gRPC and REST served together over one service core."""

from __future__ import annotations

import signal
import socket
import ssl
import threading
import time
from typing import Any

import grpc
import uvicorn

from gateway.config import Settings, warn_at_startup

try:
    from uvloop import new_event_loop
except ImportError:  # an optional dependency (none on Windows): asyncio's own loop then
    from asyncio import new_event_loop  # type: ignore[assignment]
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.service.access import Gatekeeper, TrustCache
from gateway.service.admin import AdminApi
from gateway.service.audit import AuditLog
from gateway.service.consents import ConsentService
from gateway.service.flood import FloodGuard
from gateway.service.offload import Offload
from gateway.service.quotas import Quotas
from gateway.service.refusals import RefusalLog
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
from gateway.transport.services import Services
from gateway.trust.pki import ServerTlsFiles


class Gateway:
    """Builds every part from settings and binds both ports (0 picks a free one)."""

    def __init__(self, settings: Settings) -> None:
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
        self.trust = TrustCache(PartnerStore(self.db), ttl=settings.trust_cache_seconds)
        self.replay = ReplayStore(self.db)
        keyring = KeyRing.from_dir(settings.gateway_keys_dir)  # read once, for every use case
        self.rules = RuleService.from_settings(settings, self.db, keyring)
        self.exchange = ProfileExchange.from_settings(
            settings, self.db, self.trust, rules=self.rules
        )
        # Bound first: a DPoP proof names the REST port's URL, so its origins must be known.
        self._rest_socket = _bind(settings.host, settings.rest_port)
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
        self.services = Services(
            exchange=self.exchange,
            consents=ConsentService(self.db),
            rules=self.rules,
            sco=ScoService.from_settings(settings, self.db, keyring),
            admin=AdminApi(self.partners),
            refusals=self.refusals,
            tokens=self.tokens,
            gate=Gatekeeper(self.tokens, self.quotas, self.refusals, self.flood, self.offload),
            audit=self.audit,
            offload=self.offload,
            db=self.db,
        )
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
            )
        )
        address = _address(settings.host, settings.grpc_port)
        if tls is None:
            self.grpc_port = self.grpc_server.add_insecure_port(address)
        else:
            self.grpc_port = self.grpc_server.add_secure_port(address, _grpc_mtls(tls))
        if not settings.public_url:  # QR codes point at the port actually bound
            self.services.sco.public_url = f"http://{settings.host}:{self.rest_port}"
        app = create_app(
            self.services,
            max_request_bytes=settings.max_request_bytes,
            max_import_bytes=settings.max_import_bytes,
        )
        self._uvicorn = uvicorn.Server(
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
                timeout_graceful_shutdown=5,
                **(_rest_mtls(tls) if tls else {}),
            )
        )
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn handles them in the main thread), then shut down.

        Once stopped, uvicorn raises the signal again under the handler it found: SIGTERM's
        default one would end the process there, before the shutdown writes the last refusal
        summary, the queued refusals and the quota counts. So SIGTERM's handler here only asks
        uvicorn to exit (which also covers a SIGTERM before uvicorn has started)."""
        warn_at_startup(self.settings)  # stderr: what is unsafe or useless in production
        previous = signal.signal(signal.SIGTERM, self._exit_on_signal)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._shutdown()

    def _exit_on_signal(self, signum: int, frame: object) -> None:
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
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._shutdown()

    async def _serve(self) -> None:
        await self.grpc_server.start()
        self.audit.start_schedule(self.settings.checkpoint_seconds)
        self.db.health.watch()
        self.flood.start()
        try:
            await self._uvicorn.serve(sockets=[self._rest_socket])
        finally:
            await self._health.enter_graceful_shutdown()
            await self.grpc_server.stop(grace=2)

    def _shutdown(self) -> None:
        self._rest_socket.close()
        self.db.health.close()
        self.offload.close()
        self.flood.close()  # the last summary of refusals counted, not logged one by one
        self.refusals.close()
        self.audit.close()
        self.quotas.flush()
        self.db.dispose()
        if not self._loop.is_running():
            self._loop.close()


def listening(gateway: Gateway) -> str:
    """The line ``cxg serve`` prints once both ports are bound."""
    settings = gateway.settings
    scheme = "https" if settings.tls_dir else "http"
    return (
        f"cxg: gRPC on {settings.host}:{gateway.grpc_port},"
        f" REST on {scheme}://{settings.host}:{gateway.rest_port}"
    )


def _grpc_mtls(files: ServerTlsFiles) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.client_ca.read_bytes(),
        require_client_auth=True,
    )


def _rest_mtls(files: ServerTlsFiles) -> dict[str, Any]:
    return {
        "ssl_certfile": str(files.cert),
        "ssl_keyfile": str(files.key),
        "ssl_ca_certs": str(files.client_ca),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock
