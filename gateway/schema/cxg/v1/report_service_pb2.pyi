import datetime

from gateway.schema.cxg.v1 import profile_pb2 as _profile_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_STATE_UNSPECIFIED: _ClassVar[ReportState]
    REPORT_STATE_VALID: _ClassVar[ReportState]
    REPORT_STATE_SUPERSEDED: _ClassVar[ReportState]
    REPORT_STATE_REVOKED: _ClassVar[ReportState]
    REPORT_STATE_EXPIRED: _ClassVar[ReportState]
REPORT_STATE_UNSPECIFIED: ReportState
REPORT_STATE_VALID: ReportState
REPORT_STATE_SUPERSEDED: ReportState
REPORT_STATE_REVOKED: ReportState
REPORT_STATE_EXPIRED: ReportState

class CreateReportRequest(_message.Message):
    __slots__ = ("subject", "purpose", "consent", "language", "period_start", "period_end", "valid_days")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_pb2.EntityId
    purpose: str
    consent: str
    language: str
    period_start: str
    period_end: str
    valid_days: int
    def __init__(self, subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., purpose: _Optional[str] = ..., consent: _Optional[str] = ..., language: _Optional[str] = ..., period_start: _Optional[str] = ..., period_end: _Optional[str] = ..., valid_days: _Optional[int] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("name", "profile", "profile_version", "subject", "purpose", "language", "period_start", "period_end", "requested_by", "state", "issue_time", "expire_time", "revoke_time", "revoke_reason", "sha256", "verify_url", "pdf", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_REASON_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    VERIFY_URL_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile: str
    profile_version: int
    subject: _profile_pb2.EntityId
    purpose: str
    language: str
    period_start: str
    period_end: str
    requested_by: str
    state: ReportState
    issue_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    revoke_reason: str
    sha256: str
    verify_url: str
    pdf: bytes
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., profile: _Optional[str] = ..., profile_version: _Optional[int] = ..., subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., purpose: _Optional[str] = ..., language: _Optional[str] = ..., period_start: _Optional[str] = ..., period_end: _Optional[str] = ..., requested_by: _Optional[str] = ..., state: _Optional[_Union[ReportState, str]] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_reason: _Optional[str] = ..., sha256: _Optional[str] = ..., verify_url: _Optional[str] = ..., pdf: _Optional[bytes] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListReportsRequest(_message.Message):
    __slots__ = ("subject", "page_size", "page_token")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_pb2.EntityId
    page_size: int
    page_token: str
    def __init__(self, subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReportsResponse(_message.Message):
    __slots__ = ("reports", "next_page_token")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[Report]
    next_page_token: str
    def __init__(self, reports: _Optional[_Iterable[_Union[Report, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyReportRequest(_message.Message):
    __slots__ = ("sha256", "pdf", "name")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    PDF_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    pdf: bytes
    name: str
    def __init__(self, sha256: _Optional[str] = ..., pdf: _Optional[bytes] = ..., name: _Optional[str] = ...) -> None: ...

class ReportVerification(_message.Message):
    __slots__ = ("matches", "state", "report", "sha256")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    matches: bool
    state: ReportState
    report: Report
    sha256: str
    def __init__(self, matches: _Optional[bool] = ..., state: _Optional[_Union[ReportState, str]] = ..., report: _Optional[_Union[Report, _Mapping]] = ..., sha256: _Optional[str] = ...) -> None: ...

class RevokeReportRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
