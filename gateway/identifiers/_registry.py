"""The scheme registry and the public entry points that use it: ``register``, ``validate``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.errors import InvalidIdentifier

from ._model import FLAG_FOR_RULE, KNOWN_FLAGS, Scheme, Validated
from ._normalize import normalize
from ._schemes import BUILTIN

# No identifier is anywhere near this long; refusing early bounds the work NFKC does (it can
# expand a string up to 18-fold) on hostile input.
_MAX_RAW_LENGTH = 256

_SCHEMES: dict[str, Scheme] = {}
SCHEMES: Mapping[str, Scheme] = MappingProxyType(_SCHEMES)


def register(scheme: Scheme) -> None:
    """Add ``scheme`` to ``SCHEMES``; refuse anything but a ``Scheme``, and a name already taken."""
    if not isinstance(scheme, Scheme):
        raise TypeError(f"register() takes a Scheme, got {type(scheme).__name__}")
    if scheme.name in _SCHEMES:
        raise ValueError(f"identifier scheme {scheme.name} is already registered")
    _SCHEMES[scheme.name] = scheme


for _builtin in BUILTIN:
    register(_builtin)


def _lookup(name: str, field: str | None) -> Scheme:
    canonical = name.strip().upper() if isinstance(name, str) else ""
    scheme = _SCHEMES.get(canonical)
    if scheme is None:
        raise InvalidIdentifier(
            f"unknown identifier scheme {name!r}; known: {', '.join(sorted(_SCHEMES))}",
            scheme=str(name),
            rule="unknown_scheme",
            field=field,
        )
    return scheme


def normalize_scheme(name: str, *, field: str | None = None) -> str:
    """The canonical name of a registered scheme, matched case-insensitively."""
    return _lookup(name, field).name


def validate(
    scheme: str,
    value: str,
    *,
    accept: frozenset[str] = frozenset(),
    field: str | None = None,
) -> Validated:
    """Normalize ``value`` and check it against ``scheme``; raise ``InvalidIdentifier`` if it fails.

    ``accept`` names flagged states the caller tolerates (``CHECK_DIGIT_MISMATCH``); a value in
    such a state comes back with that flag instead of raising, if its scheme allows the flag.
    ``field`` is the request path put on any error.
    """
    if isinstance(accept, str) or not KNOWN_FLAGS.issuperset(accept):
        # A misspelt flag would silently accept nothing, or a bare string every letter of it:
        # a programming error, reported as one.
        raise ValueError(f"accept must be a set of {sorted(KNOWN_FLAGS)}, got {accept!r}")
    spec = _lookup(scheme, field)
    name = spec.name
    if not isinstance(value, str):
        raise InvalidIdentifier(
            f"{name} value must be a string, got {type(value).__name__}",
            scheme=name,
            rule="format",
            field=field,
        )
    if len(value) > _MAX_RAW_LENGTH:
        raise InvalidIdentifier(
            f"{name} value is {len(value)} characters long, far too long for an identifier",
            scheme=name,
            rule="length",
            field=field,
        )
    normalized = normalize(value, letters=spec.letters)
    if not normalized:
        raise InvalidIdentifier(f"{name} value is empty", scheme=name, rule="empty", field=field)
    try:
        spec.check(normalized)
    except InvalidIdentifier as exc:
        flag = FLAG_FOR_RULE.get(exc.rule)
        if flag is not None and flag in spec.flaggable and flag in accept:
            return Validated(name, normalized, frozenset({flag}))
        raise InvalidIdentifier(exc.message, scheme=name, rule=exc.rule, field=field) from exc
    return Validated(name, normalized)
