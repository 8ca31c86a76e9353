"""Russian credit bureau company records (JSON with Cyrillic field names): see README.md."""

from pathlib import Path

from gateway.mapping import Adapter

adapter = Adapter.from_folder(Path(__file__).parent)
