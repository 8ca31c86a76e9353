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

class ConsentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATE_UNSPECIFIED: _ClassVar[ConsentState]
    CONSENT_STATE_ACTIVE: _ClassVar[ConsentState]
    CONSENT_STATE_REVOKED: _ClassVar[ConsentState]
    CONSENT_STATE_EXPIRED: _ClassVar[ConsentState]
CONSENT_STATE_UNSPECIFIED: ConsentState
CONSENT_STATE_ACTIVE: ConsentState
CONSENT_STATE_REVOKED: ConsentState
CONSENT_STATE_EXPIRED: ConsentState

class Consent(_message.Message):
    __slots__ = ("name", "profile", "subject", "grantee", "purpose", "granted_by", "create_time", "expire_time", "revoke_time", "state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    profile: str
    subject: _profile_pb2.EntityId
    grantee: str
    purpose: str
    granted_by: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    state: ConsentState
    def __init__(self, name: _Optional[str] = ..., profile: _Optional[str] = ..., subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., grantee: _Optional[str] = ..., purpose: _Optional[str] = ..., granted_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[ConsentState, str]] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("subject", "grantee", "purpose", "expire_time")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_pb2.EntityId
    grantee: str
    purpose: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., grantee: _Optional[str] = ..., purpose: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetConsentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
