"""Finds the installed partner adapters: each ``cxg.adapters`` entry point names an ``Adapter``
instance (``ru-bureau = "adapters.ru_bureau:adapter"``). A duplicate name, or an entry point
that is not an ``Adapter`` under its own name, is refused: a misregistered format must not
quietly map someone else's records."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from gateway.errors import InvalidArgument
from gateway.mapping._adapter import Adapter

GROUP = "cxg.adapters"


@cache
def adapters() -> dict[str, Adapter]:
    found: dict[str, Adapter] = {}
    for point in entry_points(group=GROUP):
        loaded = point.load()
        if not isinstance(loaded, Adapter):
            raise TypeError(f"entry point {point.name} ({point.value}) is not an Adapter")
        if loaded.name != point.name:
            raise TypeError(f"entry point {point.name} loads adapter {loaded.name!r}")
        if point.name in found:
            raise TypeError(f"two adapters are registered as {point.name!r}")
        found[point.name] = loaded
    return dict(sorted(found.items()))


def adapter(name: str, *, field: str = "format") -> Adapter:
    """The adapter called ``name``; refuses an unknown one, listing those there are."""
    known = adapters()
    if name not in known:
        raise InvalidArgument(
            f"no partner format {name!r}; known: {', '.join(known) or 'none'}", field=field
        )
    return known[name]
