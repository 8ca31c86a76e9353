"""Bulk imports on both transports: the file arrives in pieces (REST body chunks, gRPC
ImportChunk messages) and is spooled to a temporary file, so that the import reads it in
constant memory, bounded in size and digested as it arrives (the audit leaf's request digest);
the service's summary goes back as ``cxg.v1.ImportSummary``."""

from __future__ import annotations

import hashlib
import tempfile

from gateway.errors import PayloadTooLarge
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service.profiles import ImportSummary
from gateway.transport.errors import mapping_for

_IN_MEMORY = 1024 * 1024  # beyond this the spool is a file on disk


class Upload:
    """The file so far; ``format`` is the partner format it is in."""

    def __init__(
        self, *, max_bytes: int, field: str, prefix: bytes = b"", format: str = ""
    ) -> None:
        self.format = format
        self.file = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 (closed by close())
        self._digest = hashlib.sha256(prefix)
        self._max = max_bytes
        self._field = field
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._max:
            raise PayloadTooLarge(f"the file is larger than {self._max} bytes", field=self._field)
        self._digest.update(data)
        self.file.write(data)

    def rewind(self) -> Upload:
        self.file.seek(0)
        return self

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        self.file.close()


def summary_message(summary: ImportSummary) -> pb.ImportSummary:
    return pb.ImportSummary(
        records=summary.records,
        imported=summary.imported,
        unchanged=summary.unchanged,
        refused=summary.refused,
        refusals=[
            pb.ImportRefusal(
                record=number,
                location=location,
                field=error.field or "",
                problem=mapping_for(error).slug,
                detail=error.message,
            )
            for number, location, error in summary.errors
        ],
    )
