"""The ASGI TLS extension for uvicorn: the client certificate of a mutual-TLS connection in
``scope["extensions"]["tls"]["client_cert_chain"]`` (PEM), which uvicorn does not provide itself.
Token binding to the certificate (RFC 8705) needs it."""

from __future__ import annotations

import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TlsHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)]}


def client_certificate(scope: Any) -> str | None:
    """The PEM client certificate of the connection, when it is mutual TLS."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
    return chain[0] if chain else None
