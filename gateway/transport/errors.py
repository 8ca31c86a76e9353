"""The one table from GatewayError to gRPC status and RFC 9457 problem details.

Each transport calls ``problem()`` or ``grpc_status()`` at its boundary; a test checks that every
GatewayError subclass has a row here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import errors

PROBLEM_JSON = "application/problem+json"
# Every audited answer names its audit-log leaf: REST header, gRPC trailing metadata.
AUDIT_LEAF = "cxg-audit-leaf"
_PROBLEM_BASE = "urn:cxg:problem:"
_log = logging.getLogger("cxg.transport")


@dataclass(frozen=True)
class Mapping:
    grpc_code: grpc.StatusCode
    http_status: int
    slug: str
    title: str


# Most specific class first: lookup walks the exception's MRO.
TABLE: dict[type[errors.GatewayError], Mapping] = {
    errors.InvalidIdentifier: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid-identifier", "Invalid identifier"
    ),
    errors.AdapterError: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid-record", "Invalid partner record"
    ),
    errors.ProofError: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid-proof", "Invalid proof"
    ),
    errors.RulePackError: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid-rule-pack", "Invalid rule pack"
    ),
    errors.InvalidArgument: Mapping(
        grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid-argument", "Invalid argument"
    ),
    errors.PayloadTooLarge: Mapping(
        grpc.StatusCode.RESOURCE_EXHAUSTED, 413, "payload-too-large", "Payload too large"
    ),
    errors.Unauthenticated: Mapping(
        grpc.StatusCode.UNAUTHENTICATED, 401, "unauthenticated", "Unauthenticated"
    ),
    errors.PermissionDenied: Mapping(
        grpc.StatusCode.PERMISSION_DENIED, 403, "permission-denied", "Permission denied"
    ),
    errors.NotFound: Mapping(grpc.StatusCode.NOT_FOUND, 404, "not-found", "Not found"),
    errors.Conflict: Mapping(grpc.StatusCode.ALREADY_EXISTS, 409, "conflict", "Conflict"),
    errors.QuotaExceeded: Mapping(
        grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "quota-exceeded", "Quota exceeded"
    ),
    errors.DatabaseUnavailable: Mapping(
        grpc.StatusCode.UNAVAILABLE, 503, "database-unavailable", "Database unavailable"
    ),
    errors.Unavailable: Mapping(
        grpc.StatusCode.UNAVAILABLE, 503, "unavailable", "Service unavailable"
    ),
    errors.GatewayError: Mapping(grpc.StatusCode.INTERNAL, 500, "internal", "Internal error"),
}


def unexpected(exc: BaseException) -> errors.GatewayError:
    """A bug or an unmapped failure: logged in full here, reported to the caller without internals."""
    reference = uuid.uuid4().hex[:12]
    _log.error("unexpected error, reference %s", reference, exc_info=exc)
    return errors.GatewayError(f"internal error; reference {reference}", reference=reference)


def mapping_for(exc: errors.GatewayError) -> Mapping:
    for cls in type(exc).__mro__:
        if cls in TABLE:
            return TABLE[cls]
    raise AssertionError("GatewayError itself is in the table")


def problem(exc: errors.GatewayError) -> tuple[int, dict[str, Any]]:
    """HTTP status and RFC 9457 problem document for an error."""
    row = mapping_for(exc)
    body: dict[str, Any] = {
        "type": _PROBLEM_BASE + row.slug,
        "title": row.title,
        "status": row.http_status,
        "detail": exc.message,
    }
    if exc.field:
        body["field"] = exc.field
    body.update({k: v for k, v in exc.details.items() if k not in body})
    return row.http_status, body


def grpc_status(exc: errors.GatewayError) -> grpc.Status:
    """gRPC status with google.rpc details: ErrorInfo always, BadRequest when a field is named."""
    row = mapping_for(exc)
    status = status_pb2.Status(code=row.grpc_code.value[0], message=str(exc))
    info = error_details_pb2.ErrorInfo(
        reason=row.slug.upper().replace("-", "_"),
        domain="cxg",
        metadata={k: str(v) for k, v in exc.details.items()},
    )
    details: list[Any] = [info]
    if exc.retry_after is not None:
        delay = error_details_pb2.RetryInfo()
        delay.retry_delay.seconds = exc.retry_after
        details.append(delay)
    if exc.field:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=exc.field, description=exc.message
        )
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return rpc_status.to_status(status)
