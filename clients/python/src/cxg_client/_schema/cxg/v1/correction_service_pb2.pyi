import datetime

from cxg_client._schema.cxg.v1 import profile_pb2 as _profile_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DisputeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPUTE_STATUS_UNSPECIFIED: _ClassVar[DisputeStatus]
    DISPUTE_STATUS_OPEN: _ClassVar[DisputeStatus]
    DISPUTE_STATUS_CORRECTED: _ClassVar[DisputeStatus]
    DISPUTE_STATUS_UPHELD: _ClassVar[DisputeStatus]
    DISPUTE_STATUS_REJECTED: _ClassVar[DisputeStatus]

class DisputeFiler(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPUTE_FILER_UNSPECIFIED: _ClassVar[DisputeFiler]
    DISPUTE_FILER_SUBJECT: _ClassVar[DisputeFiler]
    DISPUTE_FILER_RECIPIENT: _ClassVar[DisputeFiler]
DISPUTE_STATUS_UNSPECIFIED: DisputeStatus
DISPUTE_STATUS_OPEN: DisputeStatus
DISPUTE_STATUS_CORRECTED: DisputeStatus
DISPUTE_STATUS_UPHELD: DisputeStatus
DISPUTE_STATUS_REJECTED: DisputeStatus
DISPUTE_FILER_UNSPECIFIED: DisputeFiler
DISPUTE_FILER_SUBJECT: DisputeFiler
DISPUTE_FILER_RECIPIENT: DisputeFiler

class Dispute(_message.Message):
    __slots__ = ("name", "profile", "version", "fields", "reason", "evidence_sha256", "filed_by", "filer", "status", "file_time", "due_date", "overdue", "answer_time", "answer_reasons", "corrected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    FILED_BY_FIELD_NUMBER: _ClassVar[int]
    FILER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_FIELD_NUMBER: _ClassVar[int]
    ANSWER_REASONS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile: str
    version: int
    fields: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    evidence_sha256: str
    filed_by: str
    filer: DisputeFiler
    status: DisputeStatus
    file_time: _timestamp_pb2.Timestamp
    due_date: str
    overdue: bool
    answer_time: _timestamp_pb2.Timestamp
    answer_reasons: str
    corrected_version: int
    def __init__(self, name: _Optional[str] = ..., profile: _Optional[str] = ..., version: _Optional[int] = ..., fields: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., evidence_sha256: _Optional[str] = ..., filed_by: _Optional[str] = ..., filer: _Optional[_Union[DisputeFiler, str]] = ..., status: _Optional[_Union[DisputeStatus, str]] = ..., file_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_date: _Optional[str] = ..., overdue: _Optional[bool] = ..., answer_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answer_reasons: _Optional[str] = ..., corrected_version: _Optional[int] = ...) -> None: ...

class FileDisputeRequest(_message.Message):
    __slots__ = ("profile", "version", "fields", "reason", "evidence_sha256")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    profile: str
    version: int
    fields: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    evidence_sha256: str
    def __init__(self, profile: _Optional[str] = ..., version: _Optional[int] = ..., fields: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., evidence_sha256: _Optional[str] = ...) -> None: ...

class AnswerDisputeRequest(_message.Message):
    __slots__ = ("name", "status", "reasons", "corrected_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: DisputeStatus
    reasons: str
    corrected_version: int
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[DisputeStatus, str]] = ..., reasons: _Optional[str] = ..., corrected_version: _Optional[int] = ...) -> None: ...

class GetDisputeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDisputesRequest(_message.Message):
    __slots__ = ("profile", "overdue_only", "open_only", "page_size", "page_token")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_ONLY_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile: str
    overdue_only: bool
    open_only: bool
    page_size: int
    page_token: str
    def __init__(self, profile: _Optional[str] = ..., overdue_only: _Optional[bool] = ..., open_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDisputesResponse(_message.Message):
    __slots__ = ("disputes", "next_page_token")
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    disputes: _containers.RepeatedCompositeFieldContainer[Dispute]
    next_page_token: str
    def __init__(self, disputes: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordRepairRequest(_message.Message):
    __slots__ = ("profile", "kind", "decision_number", "decision_date", "repair_date", "repair_authority", "repair_decision_number")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DECISION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DECISION_DATE_FIELD_NUMBER: _ClassVar[int]
    REPAIR_DATE_FIELD_NUMBER: _ClassVar[int]
    REPAIR_AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    REPAIR_DECISION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    profile: str
    kind: _profile_pb2.PublicRecordKind
    decision_number: str
    decision_date: str
    repair_date: str
    repair_authority: str
    repair_decision_number: str
    def __init__(self, profile: _Optional[str] = ..., kind: _Optional[_Union[_profile_pb2.PublicRecordKind, str]] = ..., decision_number: _Optional[str] = ..., decision_date: _Optional[str] = ..., repair_date: _Optional[str] = ..., repair_authority: _Optional[str] = ..., repair_decision_number: _Optional[str] = ...) -> None: ...

class RepairReceipt(_message.Message):
    __slots__ = ("profile", "version", "record_time")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    profile: str
    version: int
    record_time: _timestamp_pb2.Timestamp
    def __init__(self, profile: _Optional[str] = ..., version: _Optional[int] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
