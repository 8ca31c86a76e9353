"""How the gateway's own outgoing HTTPS connections (push delivery, federation) check the
server and, with mutual TLS configured, which certificate they present."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from gateway.config import ConfigError


def client_tls_context(
    ca_file: Path | None,
    certificate: Path | None,
    key: Path | None,
    *,
    prefix: str,
) -> ssl.SSLContext:
    """The configured CAs (else Mozilla's, as httpx would) and, when both are set, the client
    certificate and key. A file that cannot be read is refused when the gateway starts, naming
    its setting (``CXG_{prefix}_TLS_CA_FILE``, ``..._CLIENT_CERTIFICATE``, ``..._CLIENT_KEY``),
    not at the first connection."""
    if (certificate is None) != (key is None):
        raise ConfigError(
            f"CXG_{prefix}_CLIENT_CERTIFICATE and CXG_{prefix}_CLIENT_KEY go together: set both"
            " or neither"
        )
    try:
        context = ssl.create_default_context(cafile=ca_file or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CXG_{prefix}_TLS_CA_FILE: {exc}") from exc
    if certificate is not None:
        try:
            context.load_cert_chain(certificate, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"CXG_{prefix}_CLIENT_CERTIFICATE / CXG_{prefix}_CLIENT_KEY: {exc}"
            ) from exc
    return context
