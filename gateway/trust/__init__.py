"""Who the gateway trusts: partner institutions and their registered keys."""

from gateway.trust.partners import (
    PUBLISHER_ROLES,
    ROLES,
    Partner,
    PartnerKey,
    PartnerRegistry,
    VerifiedJws,
)

__all__ = ["PUBLISHER_ROLES", "ROLES", "Partner", "PartnerKey", "PartnerRegistry", "VerifiedJws"]
