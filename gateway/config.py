"""Gateway settings, read once from the environment (``Settings.from_env()``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///cxg.db"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything a gateway process is configured with. Defaults give a zero-set-up development gateway."""

    database_url: str = DEFAULT_DATABASE_URL
    # Connecting, waiting for a lock or a pooled connection, and (PostgreSQL) one statement
    # may take this long; a request waits twice as long for database work before it is
    # answered 503 / UNAVAILABLE (gateway/storage/database.py).
    database_timeout_seconds: float = 5.0
    keys_dir: Path = Path("keys")
    gateway_id: str = "cxg.qingdao.dev"
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    rest_port: int = 8080
    # Few gRPC threads: with many, every GIL release wakes another thread (bench/README.md).
    # Requests larger than this are refused whole (REST 413, gRPC RESOURCE_EXHAUSTED).
    max_request_bytes: int = MIB
    max_import_bytes: int = 256 * MIB  # one bulk file (ImportProfiles), spooled to disk
    # What a client can make a connection hold before any credential is checked. A request head
    # (request line and header fields; gRPC metadata) over max_header_bytes is refused (REST 431,
    # gRPC RESOURCE_EXHAUSTED), as is a REST request target over max_url_bytes (414) or more
    # than max_header_count header fields (431).
    max_header_bytes: int = 16 * 1024
    max_url_bytes: int = 8 * 1024
    max_header_count: int = 100
    # A head not complete this long after the connection (or the request's first byte) is
    # answered 408 and closed, as is a body with no bytes for body_idle_timeout_seconds; an idle
    # kept-alive REST connection is closed after keep_alive_seconds.
    header_timeout_seconds: float = 10.0
    body_idle_timeout_seconds: float = 30.0
    keep_alive_seconds: int = 5
    # Open REST connections; one more is answered 503 and closed.
    max_connections: int = 1000
    # With a PKI folder (``cxg pki init``), both transports serve mutual TLS: a client certificate
    # from that CA is required. None serves plaintext (development on 127.0.0.1).
    tls_dir: Path | None = None
    # Legacy identifiers accepted despite a failing check digit, as "SCHEME:VALUE".
    accepted_legacy_ids: frozenset[str] = field(default_factory=frozenset)
    # How long a replica trusts its copy of a partner's standing (suspension, keys, certificates)
    # changed by another process; changes through this process's admin API apply at once.
    trust_cache_seconds: float = 1.0
    # How often the audit log's checkpoint is signed while the log grows.
    checkpoint_seconds: float = 10.0
    # Callers without a valid token (gateway/service/flood.py): each source address may be
    # refused (or ask for a token) this often before it is answered 429 without further work...
    anonymous_rps: float = 20.0
    anonymous_burst: int = 40
    # ...at most this many of their refusals a second, over every source, get a leaf of their
    # own; the rest are counted into one summary leaf every refusal_summary_seconds.
    anonymous_leaves_per_second: float = 100.0
    refusal_summary_seconds: float = 10.0
    # The gateway's own country (ISO 3166-1): its SCO-code issuer keys are that country's.
    country: str = "CN"
    # Where people reach the REST port (the scan-to-check page SCO QR codes point at); empty
    # means http://HOST:REST_PORT.
    public_url: str = ""
    # Further origins the REST port is reached at (behind proxies), besides public_url: a DPoP
    # proof's htu may name any of them. What a request says about its own URL (Host,
    # X-Forwarded-*, Forwarded) is never believed.
    allowed_origins: tuple[str, ...] = ()

    @property
    def gateway_keys_dir(self) -> Path:
        return self.keys_dir / "gateway"

    @property
    def scan_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.rest_port}"

    def rest_origins(self, bound_port: int) -> tuple[str, ...]:
        """The base URLs a REST request may be addressed to, public one first: public_url, or
        the address and port actually bound (and localhost) when it is empty; then
        allowed_origins."""
        if self.public_url:
            own = [self.public_url]
        else:
            scheme = "https" if self.tls_dir else "http"
            host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
            host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
            own = [f"{scheme}://{host}:{bound_port}", f"{scheme}://localhost:{bound_port}"]
        return tuple(dict.fromkeys(origin.rstrip("/") for origin in (*own, *self.allowed_origins)))

    @property
    def partners_dir(self) -> Path:
        return self.keys_dir / "partners"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        legacy = env.get("CXG_ACCEPTED_LEGACY_IDS", "")
        return cls(
            database_url=env.get("CXG_DATABASE_URL", DEFAULT_DATABASE_URL),
            database_timeout_seconds=float(
                env.get("CXG_DATABASE_TIMEOUT_SECONDS", cls.database_timeout_seconds)
            ),
            keys_dir=Path(env.get("CXG_KEYS_DIR", "keys")),
            gateway_id=env.get("CXG_GATEWAY_ID", cls.gateway_id),
            host=env.get("CXG_HOST", cls.host),
            grpc_port=int(env.get("CXG_GRPC_PORT", cls.grpc_port)),
            rest_port=int(env.get("CXG_REST_PORT", cls.rest_port)),
            max_request_bytes=int(env.get("CXG_MAX_REQUEST_BYTES", cls.max_request_bytes)),
            max_import_bytes=int(env.get("CXG_MAX_IMPORT_BYTES", cls.max_import_bytes)),
            max_header_bytes=int(env.get("CXG_MAX_HEADER_BYTES", cls.max_header_bytes)),
            max_url_bytes=int(env.get("CXG_MAX_URL_BYTES", cls.max_url_bytes)),
            max_header_count=int(env.get("CXG_MAX_HEADER_COUNT", cls.max_header_count)),
            header_timeout_seconds=float(
                env.get("CXG_HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds)
            ),
            body_idle_timeout_seconds=float(
                env.get("CXG_BODY_IDLE_TIMEOUT_SECONDS", cls.body_idle_timeout_seconds)
            ),
            keep_alive_seconds=int(env.get("CXG_KEEP_ALIVE_SECONDS", cls.keep_alive_seconds)),
            max_connections=int(env.get("CXG_MAX_CONNECTIONS", cls.max_connections)),
            tls_dir=Path(env["CXG_TLS_DIR"]) if env.get("CXG_TLS_DIR") else None,
            trust_cache_seconds=float(env.get("CXG_TRUST_CACHE_SECONDS", cls.trust_cache_seconds)),
            checkpoint_seconds=float(env.get("CXG_CHECKPOINT_SECONDS", cls.checkpoint_seconds)),
            anonymous_rps=float(env.get("CXG_ANONYMOUS_RPS", cls.anonymous_rps)),
            anonymous_burst=int(env.get("CXG_ANONYMOUS_BURST", cls.anonymous_burst)),
            anonymous_leaves_per_second=float(
                env.get("CXG_ANONYMOUS_LEAVES_PER_SECOND", cls.anonymous_leaves_per_second)
            ),
            refusal_summary_seconds=float(
                env.get("CXG_REFUSAL_SUMMARY_SECONDS", cls.refusal_summary_seconds)
            ),
            country=env.get("CXG_COUNTRY", cls.country),
            public_url=_origin(env.get("CXG_PUBLIC_URL", cls.public_url), "CXG_PUBLIC_URL"),
            allowed_origins=tuple(
                _origin(item.strip(), "CXG_ALLOWED_ORIGINS")
                for item in env.get("CXG_ALLOWED_ORIGINS", "").split(",")
                if item.strip()
            ),
            accepted_legacy_ids=frozenset(
                x.strip().upper() for x in legacy.split(",") if x.strip()
            ),
        )


def _origin(url: str, name: str) -> str:
    """An absolute http(s) base URL (a path prefix allowed), without query, fragment or
    userinfo; empty stays empty."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name}: {url!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{name}: {url!r} must have no query, fragment or userinfo")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{name}: {url!r} has no valid port") from exc
    return url.rstrip("/")
