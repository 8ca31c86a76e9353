"""The SDK's one exception tree. Every failure a call can have leaves the client as one of these,
translated once at the boundary (``from_problem`` for REST problem+json and OAuth errors,
``from_rpc_error`` for gRPC status with ``google.rpc`` details).

    CxgError
    ├── TransportError            the gateway could not be reached, or the answer was cut
    ├── VerificationError         a signed answer does not verify against the gateway's JWKS
    └── ApiError                  the gateway answered with an error (status, problem slug)
        ├── InvalidArgument
        │   ├── InvalidIdentifier
        │   ├── InvalidRecord
        │   ├── InvalidProof
        │   └── InvalidRulePack
        ├── PayloadTooLarge
        ├── Unauthenticated       (OAuth invalid_client / invalid_grant / invalid_dpop_proof too)
        ├── PermissionDenied
        ├── NotFound
        ├── Conflict
        ├── QuotaExceeded         retryable: retry_after seconds
        ├── Unavailable           retryable
        │   └── DatabaseUnavailable
        └── InternalError
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "urn:cxg:problem:"


class CxgError(Exception):
    """Root of every error the SDK raises."""


class TransportError(CxgError):
    """The gateway could not be reached, or the connection failed before an answer."""


class VerificationError(CxgError):
    """A signed answer does not verify against the gateway's published keys."""


class ApiError(CxgError):
    """The gateway refused or failed a call. ``slug`` is the problem type's last part
    (``urn:cxg:problem:<slug>``), ``status`` the HTTP status or gRPC code name."""

    slug = "internal"

    def __init__(
        self,
        detail: str,
        *,
        status: int | str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.field = field
        self.retry_after = retry_after
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.status} {self.slug}: {self.detail}{where}"


class InvalidArgument(ApiError):
    slug = "invalid-argument"


class InvalidIdentifier(InvalidArgument):
    slug = "invalid-identifier"


class InvalidRecord(InvalidArgument):
    slug = "invalid-record"


class InvalidProof(InvalidArgument):
    slug = "invalid-proof"


class InvalidRulePack(InvalidArgument):
    slug = "invalid-rule-pack"


class PayloadTooLarge(ApiError):
    slug = "payload-too-large"


class Unauthenticated(ApiError):
    slug = "unauthenticated"


class PermissionDenied(ApiError):
    slug = "permission-denied"


class NotFound(ApiError):
    slug = "not-found"


class Conflict(ApiError):
    slug = "conflict"


class QuotaExceeded(ApiError):
    slug = "quota-exceeded"


class Unavailable(ApiError):
    slug = "unavailable"


class DatabaseUnavailable(Unavailable):
    slug = "database-unavailable"


class InternalError(ApiError):
    slug = "internal"


BY_SLUG: dict[str, type[ApiError]] = {
    cls.slug: cls
    for cls in (
        InvalidArgument,
        InvalidIdentifier,
        InvalidRecord,
        InvalidProof,
        InvalidRulePack,
        PayloadTooLarge,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        Conflict,
        QuotaExceeded,
        Unavailable,
        DatabaseUnavailable,
        InternalError,
    )
}
# RFC 6749 section 5.2 and RFC 9449 error codes of the token endpoint.
_OAUTH: dict[str, type[ApiError]] = {
    "invalid_request": InvalidArgument,
    "invalid_client": Unauthenticated,
    "invalid_grant": Unauthenticated,
    "unauthorized_client": PermissionDenied,
    "unsupported_grant_type": InvalidArgument,
    "invalid_scope": InvalidArgument,
    "invalid_dpop_proof": Unauthenticated,
    "use_dpop_nonce": Unauthenticated,
    "temporarily_unavailable": Unavailable,
    "server_error": InternalError,
}
# Without a problem type: what the HTTP status alone says.
_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: QuotaExceeded,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}
# gRPC code name -> class, when no ErrorInfo names the problem.
_BY_GRPC_CODE: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": Conflict,
    "RESOURCE_EXHAUSTED": PayloadTooLarge,  # grpc's own size limits; quotas carry ErrorInfo
    "UNAVAILABLE": Unavailable,
}


def from_problem(status: int, body: Any, retry_after: float | None = None) -> ApiError:
    """The error an HTTP answer stands for: an RFC 9457 problem document, an RFC 6749 error
    object, or only a status."""
    body = body if isinstance(body, dict) else {}
    kind = body.get("type")
    if isinstance(kind, str) and kind.startswith(PROBLEM_BASE):
        cls = BY_SLUG.get(kind.removeprefix(PROBLEM_BASE), InternalError)
        detail = str(body.get("detail") or body.get("title") or kind)
    elif isinstance(body.get("error"), str):
        cls = _OAUTH.get(body["error"], _BY_STATUS.get(status, InternalError))
        detail = str(body.get("error_description") or body["error"])
    else:
        cls = _BY_STATUS.get(status, InternalError)
        detail = f"HTTP {status}"
    field = body.get("field")
    known = {"type", "title", "status", "detail", "field", "error", "error_description"}
    extra = {k: v for k, v in body.items() if k not in known}
    if isinstance(body.get("error"), str):
        extra["error"] = body["error"]
    return cls(
        detail,
        status=status,
        field=field if isinstance(field, str) else None,
        retry_after=retry_after,
        details=extra,
    )


def from_rpc_error(exc: Any) -> ApiError:
    """The error a ``grpc.RpcError`` stands for, from its ``google.rpc`` details: ErrorInfo
    names the problem, BadRequest the field, RetryInfo the delay."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
    cls = _BY_GRPC_CODE.get(code, InternalError)
    field: str | None = None
    retry_after: float | None = None
    details: dict[str, Any] = {}
    status = rpc_status.from_call(exc) if hasattr(exc, "trailing_metadata") else None
    for packed in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        delay = error_details_pb2.RetryInfo()
        if packed.Unpack(info):
            cls = BY_SLUG.get(info.reason.lower().replace("_", "-"), cls)
            details.update(info.metadata)
        elif packed.Unpack(bad) and bad.field_violations:
            field = bad.field_violations[0].field
        elif packed.Unpack(delay):
            retry_after = delay.retry_delay.seconds + delay.retry_delay.nanos / 1e9
    detail = (status.message if status is not None else None) or exc.details() or code
    return cls(detail, status=code, field=field, retry_after=retry_after, details=details)
