"""Gateway settings, read once from the environment (``Settings.from_env()``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///cxg.db"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything a gateway process is configured with. Defaults give a zero-set-up development gateway."""

    database_url: str = DEFAULT_DATABASE_URL
    keys_dir: Path = Path("keys")
    gateway_id: str = "cxg.qingdao.dev"
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    rest_port: int = 8080
    # Few gRPC threads: with many, every GIL release wakes another thread (bench/README.md).
    # Requests larger than this are refused whole (REST 413, gRPC RESOURCE_EXHAUSTED).
    max_request_bytes: int = MIB
    max_import_bytes: int = 256 * MIB  # one bulk file (ImportProfiles), spooled to disk
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
    # The gateway's own country (ISO 3166-1): its SCO-code issuer keys are that country's.
    country: str = "CN"
    # Where people reach the REST port (the scan-to-check page SCO QR codes point at); empty
    # means http://HOST:REST_PORT.
    public_url: str = ""

    @property
    def gateway_keys_dir(self) -> Path:
        return self.keys_dir / "gateway"

    @property
    def scan_base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.rest_port}"

    @property
    def partners_dir(self) -> Path:
        return self.keys_dir / "partners"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        legacy = env.get("CXG_ACCEPTED_LEGACY_IDS", "")
        return cls(
            database_url=env.get("CXG_DATABASE_URL", DEFAULT_DATABASE_URL),
            keys_dir=Path(env.get("CXG_KEYS_DIR", "keys")),
            gateway_id=env.get("CXG_GATEWAY_ID", cls.gateway_id),
            host=env.get("CXG_HOST", cls.host),
            grpc_port=int(env.get("CXG_GRPC_PORT", cls.grpc_port)),
            rest_port=int(env.get("CXG_REST_PORT", cls.rest_port)),
            max_request_bytes=int(env.get("CXG_MAX_REQUEST_BYTES", cls.max_request_bytes)),
            max_import_bytes=int(env.get("CXG_MAX_IMPORT_BYTES", cls.max_import_bytes)),
            tls_dir=Path(env["CXG_TLS_DIR"]) if env.get("CXG_TLS_DIR") else None,
            trust_cache_seconds=float(env.get("CXG_TRUST_CACHE_SECONDS", cls.trust_cache_seconds)),
            checkpoint_seconds=float(env.get("CXG_CHECKPOINT_SECONDS", cls.checkpoint_seconds)),
            country=env.get("CXG_COUNTRY", cls.country),
            public_url=env.get("CXG_PUBLIC_URL", cls.public_url),
            accepted_legacy_ids=frozenset(
                x.strip().upper() for x in legacy.split(",") if x.strip()
            ),
        )
