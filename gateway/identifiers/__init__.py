"""Company and operator identifiers: schemes, normalization, validation.

``validate(scheme, value)`` normalizes ``value`` (NFKC, separators removed, upper case, Cyrillic
look-alikes to Latin where the scheme has letters) and checks it against the scheme's rules; a
failure is ``gateway.errors.InvalidIdentifier`` whose ``rule`` names the rule broken.
``SCHEMES`` is the read-only registry and ``register`` extends it. ``COUNTRIES`` and
``is_country`` are the ISO 3166-1 alpha-2 table other modules share; ``make_sco_id`` issues SCO
code ids.
"""

from __future__ import annotations

from ._countries import COUNTRIES, is_country
from ._model import CHECK_DIGIT_MISMATCH, Scheme, Validated
from ._registry import SCHEMES, normalize_scheme, register, validate
from ._schemes import make_sco_id

__all__ = [
    "CHECK_DIGIT_MISMATCH",
    "COUNTRIES",
    "SCHEMES",
    "Scheme",
    "Validated",
    "is_country",
    "make_sco_id",
    "normalize_scheme",
    "register",
    "validate",
]
