"""Federation: gateways of different countries as peers of each other. Each publishes a signed
federation document (its keys, its log's checkpoint key, its SCO issuers, its endpoint); peers
pin it, follow its key rotations and witness each other's audit logs."""

from gateway.federation.document import (
    FEDERATION_TYP,
    MAX_DOCUMENT_BYTES,
    ROLLBACK,
    FederationDocument,
)

__all__ = [
    "FEDERATION_TYP",
    "MAX_DOCUMENT_BYTES",
    "ROLLBACK",
    "FederationDocument",
]
