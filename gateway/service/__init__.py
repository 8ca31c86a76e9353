"""Use cases over the domain packages; the only layer transports call."""

from gateway.service.admin import AdminApi
from gateway.service.consents import ConsentService
from gateway.service.partners import ImportReport, PartnerAdmin, PartnerRecord
from gateway.service.profiles import ProfileExchange, SignedVersion

__all__ = [
    "AdminApi",
    "ConsentService",
    "ImportReport",
    "PartnerAdmin",
    "PartnerRecord",
    "ProfileExchange",
    "SignedVersion",
]
