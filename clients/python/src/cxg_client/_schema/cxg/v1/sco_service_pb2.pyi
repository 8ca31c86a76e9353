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

class CodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODE_STATE_UNSPECIFIED: _ClassVar[CodeState]
    CODE_STATE_VALID: _ClassVar[CodeState]
    CODE_STATE_REVOKED: _ClassVar[CodeState]
    CODE_STATE_SUSPENDED: _ClassVar[CodeState]
    CODE_STATE_UNDER_REVIEW: _ClassVar[CodeState]
CODE_STATE_UNSPECIFIED: CodeState
CODE_STATE_VALID: CodeState
CODE_STATE_REVOKED: CodeState
CODE_STATE_SUSPENDED: CodeState
CODE_STATE_UNDER_REVIEW: CodeState

class IssueScoCodeRequest(_message.Message):
    __slots__ = ("subject", "valid_days", "languages")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_pb2.EntityId
    valid_days: int
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., valid_days: _Optional[int] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...

class ScoCode(_message.Message):
    __slots__ = ("name", "code", "url", "profile", "state", "issue_time", "expire_time", "status_index", "issued_by", "qr_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_INDEX_FIELD_NUMBER: _ClassVar[int]
    ISSUED_BY_FIELD_NUMBER: _ClassVar[int]
    QR_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    code: str
    url: str
    profile: str
    state: CodeState
    issue_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    status_index: int
    issued_by: str
    qr_version: int
    def __init__(self, name: _Optional[str] = ..., code: _Optional[str] = ..., url: _Optional[str] = ..., profile: _Optional[str] = ..., state: _Optional[_Union[CodeState, str]] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_index: _Optional[int] = ..., issued_by: _Optional[str] = ..., qr_version: _Optional[int] = ...) -> None: ...

class GetScoCodeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetScoCodeStatusRequest(_message.Message):
    __slots__ = ("name", "state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: CodeState
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[CodeState, str]] = ...) -> None: ...

class VerifyScoCodeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ScoVerification(_message.Message):
    __slots__ = ("result", "reasons", "claims")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    result: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    claims: ScoClaims
    def __init__(self, result: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., claims: _Optional[_Union[ScoClaims, _Mapping]] = ...) -> None: ...

class ScoClaims(_message.Message):
    __slots__ = ("code_id", "subject_ids", "names", "country", "grade_bucket", "aeo", "aeo_type", "issue_time", "expire_time", "status_index", "issuer")
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GRADE_BUCKET_FIELD_NUMBER: _ClassVar[int]
    AEO_FIELD_NUMBER: _ClassVar[int]
    AEO_TYPE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_INDEX_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    code_id: str
    subject_ids: _containers.RepeatedCompositeFieldContainer[_profile_pb2.EntityId]
    names: _profile_pb2.LocalizedText
    country: str
    grade_bucket: str
    aeo: bool
    aeo_type: str
    issue_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    status_index: int
    issuer: str
    def __init__(self, code_id: _Optional[str] = ..., subject_ids: _Optional[_Iterable[_Union[_profile_pb2.EntityId, _Mapping]]] = ..., names: _Optional[_Union[_profile_pb2.LocalizedText, _Mapping]] = ..., country: _Optional[str] = ..., grade_bucket: _Optional[str] = ..., aeo: _Optional[bool] = ..., aeo_type: _Optional[str] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_index: _Optional[int] = ..., issuer: _Optional[str] = ...) -> None: ...

class GetTrustListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedList(_message.Message):
    __slots__ = ("jws",)
    JWS_FIELD_NUMBER: _ClassVar[int]
    jws: str
    def __init__(self, jws: _Optional[str] = ...) -> None: ...
