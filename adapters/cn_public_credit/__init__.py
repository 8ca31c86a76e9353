"""China public credit data (双公示 licences and penalties, dishonesty lists; JSON with Chinese
field names): see README.md and schema.json."""

from pathlib import Path

from gateway.mapping import Adapter

adapter = Adapter.from_folder(Path(__file__).parent)
