"""Files that hold personal or credit data (the SQLite database, audit exports) are readable by
their owner only, as private keys are: created 0600, and tightened to 0600 when found looser."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600


def open_private(path: Path) -> IO[str]:
    """``path`` opened for writing text (created or truncated), readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    os.fchmod(fd, PRIVATE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, "w", encoding="utf-8")


def make_private(path: Path) -> None:
    """Create ``path`` empty if missing; in any case leave it readable by its owner only."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, PRIVATE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & ~PRIVATE_MODE:
            os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)
