"""cxg-client: the partner SDK of the Credit Exchange Gateway.

from cxg_client import Client, PartnerKey

key = PartnerKey.from_file("demo-kz-bank", "keys/private/demo-kz-bank.pem")
with Client(key, gateway_id="cxg.qingdao.dev", rest_url="http://127.0.0.1:8080") as gw:
    signed = gw.get_profile(scheme="KZ_BIN", value="180440001235", purpose="trade_due_diligence")
    print(signed.profile)
"""

from cxg_client._client import AccessToken, Client, Mtls, Receipt, VerifiedProfile
from cxg_client._errors import (
    ApiError,
    Conflict,
    CxgError,
    DatabaseUnavailable,
    InternalError,
    InvalidArgument,
    InvalidIdentifier,
    InvalidProof,
    InvalidRecord,
    InvalidRulePack,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    TransportError,
    Unauthenticated,
    Unavailable,
    VerificationError,
)
from cxg_client._jwks import JwksCache, Verified
from cxg_client._keys import DpopKey, PartnerKey
from cxg_client._operations import OPERATIONS, Operation
from cxg_client._retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "OPERATIONS",
    "AccessToken",
    "ApiError",
    "Client",
    "Conflict",
    "CxgError",
    "DatabaseUnavailable",
    "DpopKey",
    "InternalError",
    "InvalidArgument",
    "InvalidIdentifier",
    "InvalidProof",
    "InvalidRecord",
    "InvalidRulePack",
    "JwksCache",
    "Mtls",
    "NotFound",
    "Operation",
    "PartnerKey",
    "PayloadTooLarge",
    "PermissionDenied",
    "QuotaExceeded",
    "Receipt",
    "RetryPolicy",
    "TransportError",
    "Unauthenticated",
    "Unavailable",
    "VerificationError",
    "Verified",
    "VerifiedProfile",
]
