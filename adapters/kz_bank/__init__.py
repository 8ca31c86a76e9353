"""A Kazakhstan bank's company records (XML: BIN, Kazakh and Russian names, internal rating):
see README.md and kz-bank-company-1.xsd."""

from pathlib import Path

from gateway.mapping import Adapter

adapter = Adapter.from_folder(Path(__file__).parent)
