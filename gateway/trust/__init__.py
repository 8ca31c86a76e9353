"""Who the gateway trusts: partner institutions, their registered keys, and what they sign."""

from gateway.trust.partners import (
    PARTNER_STATUSES,
    PUBLISHER_ROLES,
    ROLES,
    Partner,
    PartnerCertificate,
    PartnerDirectory,
    PartnerKey,
    PartnerRegistry,
    Quota,
    VerifiedJws,
    parse_partner_file,
)

__all__ = [
    "PARTNER_STATUSES",
    "PUBLISHER_ROLES",
    "ROLES",
    "Partner",
    "PartnerCertificate",
    "PartnerDirectory",
    "PartnerKey",
    "PartnerRegistry",
    "Quota",
    "VerifiedJws",
    "parse_partner_file",
]
