"""Partner formats: declarative mapping specs, the engine that runs them, the adapter base and
the registry that finds adapters (``adapters/``) through the ``cxg.adapters`` entry points."""

from gateway.errors import AdapterError
from gateway.mapping._adapter import Adapter, Record
from gateway.mapping._documents import Reader
from gateway.mapping._parallel import AcceptedLegacy, read_in_workers
from gateway.mapping._spec import MappingSpec, SpecError
from gateway.mapping.registry import adapter, adapters

__all__ = [
    "AcceptedLegacy",
    "Adapter",
    "AdapterError",
    "MappingSpec",
    "Reader",
    "Record",
    "SpecError",
    "adapter",
    "adapters",
    "read_in_workers",
]
