"""The gateway's one exception tree.

Every error a caller can see is a ``GatewayError``; transports map each subclass once
(``gateway.transport.errors``) to a gRPC status and an RFC 9457 problem type::

    GatewayError
    ├── InvalidArgument          a field breaks a rule (names the field)
    │   ├── InvalidIdentifier    an identifier fails its scheme's format or check digit
    │   ├── AdapterError         a partner-format record breaks a mapping rule (names its path)
    │   ├── ProofError           a Merkle proof does not prove what it claims
    │   └── RulePackError        a rule pack is malformed, fails its tests, unsigned or tampered
    ├── PayloadTooLarge          the request body is over the configured limit
    ├── Unauthenticated          no valid signature / credential
    ├── PermissionDenied         the caller is known but not allowed to do this
    ├── NotFound                 no such resource (or not visible to the caller)
    ├── Conflict                 the request contradicts stored state (e.g. a replayed publish)
    ├── QuotaExceeded            the caller's rate limit or daily quota is used up
    └── Unavailable              a dependency (database, keys) is not usable
        └── DatabaseUnavailable  the database did not answer in time, or not at all

``field`` is a path into the request as the caller sent it: a JSON pointer for JSON bodies
(``/subject/ids/0/value``), a proto field path for gRPC (``subject.ids[0].value``).
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Root of every error the gateway reports to a caller."""

    # Whole seconds after which a retry may succeed (REST Retry-After, gRPC RetryInfo).
    retry_after: int | None = None

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(GatewayError):
    """A request field is malformed or breaks a validation rule."""


class InvalidIdentifier(InvalidArgument):
    """An identifier fails its scheme's rules; ``rule`` names the rule broken."""

    def __init__(self, message: str, *, scheme: str, rule: str, field: str | None = None) -> None:
        super().__init__(message, field=field, scheme=scheme, rule=rule)
        self.scheme = scheme
        self.rule = rule


class AdapterError(InvalidArgument):
    """A partner-format record (or a profile going out in a partner format) breaks a mapping
    rule. ``field`` is the partner-side path; ``canonical`` the canonical field; ``rule`` the
    rule broken (required, code, date, type, check_digit, xml, size, ...)."""

    def __init__(self, message: str, *, field: str, canonical: str, rule: str) -> None:
        super().__init__(message, field=field, canonical=canonical, rule=rule)
        self.canonical = canonical
        self.rule = rule


class ProofError(InvalidArgument):
    """A Merkle proof (or its parameters) does not prove what it claims."""


class RulePackError(InvalidArgument):
    """A rule pack cannot be activated: malformed (``field`` is a JSON pointer into the pack),
    failing its own tests, out of validity, unsigned or tampered."""


class PayloadTooLarge(GatewayError):
    """The request is larger than the configured limit."""


class Unauthenticated(GatewayError):
    """The request's signature or credential could not be verified."""


class PermissionDenied(GatewayError):
    """The caller is authenticated but not allowed to perform the operation."""


class NotFound(GatewayError):
    """The resource does not exist (or is not visible to the caller)."""


class Conflict(GatewayError):
    """The request contradicts what is already stored."""


class QuotaExceeded(GatewayError):
    """The caller's rate limit or daily quota is used up; ``retry_after`` is in whole seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Unavailable(GatewayError):
    """A dependency the gateway needs (database, signing keys) is not usable."""


class DatabaseUnavailable(Unavailable):
    """The database could not be reached, or did not answer within its timeout. Nothing the
    request asked for was acknowledged, so it may be retried."""

    retry_after = 5

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=self.retry_after)


__all__ = [
    "AdapterError",
    "Conflict",
    "DatabaseUnavailable",
    "GatewayError",
    "InvalidArgument",
    "InvalidIdentifier",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProofError",
    "QuotaExceeded",
    "RulePackError",
    "Unauthenticated",
    "Unavailable",
]
