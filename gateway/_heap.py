"""A long-running process's start-up heap, out of the cyclic garbage collector's reach.

A process that has loaded its modules and built its services keeps nearly all of it until it
exits, yet every full collection walks all of it: ~240,000 objects in a serving gateway, about
150 ms with the GIL held, and under load one came about once a second (the objects of requests
waiting for the database outlive the young generations), which made the p99 latency; a bulk
import spent a fifth of its time there (bench/README.md). ``settle`` moves what exists into the
permanent generation (``gc.freeze``), so full collections walk only what was made since.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Once a process is set up for its long job (serving, a bulk import, an import worker):
    collect what start-up left behind, freeze the rest. Returns the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
