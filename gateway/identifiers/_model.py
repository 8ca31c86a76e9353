"""The identifier model: ``Scheme`` (one identifier type and its rules) and ``Validated``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

CHECK_DIGIT_MISMATCH = "check_digit_mismatch"

# Broken rules an operator may accept as a flagged state instead of a reject, by the flag naming
# that state. Only the check character qualifies: some legally issued codes fail it (DOMAIN.md).
FLAG_FOR_RULE: Mapping[str, str] = MappingProxyType({"check_digit": CHECK_DIGIT_MISMATCH})
KNOWN_FLAGS: frozenset[str] = frozenset(FLAG_FOR_RULE.values())

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """One identifier scheme.

    ``check`` receives the normalized, non-empty value and raises ``InvalidIdentifier`` naming the
    broken rule. It must test the check character last: a ``check_digit`` fault then means every
    other rule held, which is what makes accepting it as a flag safe. ``letters`` says the alphabet
    has letters (Cyrillic look-alikes are mapped to Latin before ``check`` runs). ``flaggable``
    lists the flags (``FLAG_FOR_RULE`` values) the scheme lets an operator accept.
    """

    name: str
    description: str
    has_check_digit: bool
    format_only: bool
    letters: bool
    check: Callable[[str], None] = field(repr=False, compare=False)
    flaggable: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"scheme name must be upper-case [A-Z0-9_], got {self.name!r}")
        if not callable(self.check):
            raise TypeError(f"scheme {self.name} check must be callable")
        if self.format_only and self.has_check_digit:
            raise ValueError(f"scheme {self.name} cannot be format-only and have a check digit")
        if unknown := self.flaggable - KNOWN_FLAGS:
            raise ValueError(f"scheme {self.name} names unknown flags {sorted(unknown)}")
        if CHECK_DIGIT_MISMATCH in self.flaggable and not self.has_check_digit:
            raise ValueError(f"scheme {self.name} has no check digit to flag")


@dataclass(frozen=True)
class Validated:
    """A value that passed its scheme: canonical scheme name, normalized value, accepted flags."""

    scheme: str
    value: str
    flags: frozenset[str] = frozenset()
