"""Use cases over the domain packages; the only layer transports call."""

from gateway.service.partners import ImportReport, PartnerAdmin
from gateway.service.profiles import ProfileExchange, SignedVersion

__all__ = ["ImportReport", "PartnerAdmin", "ProfileExchange", "SignedVersion"]
