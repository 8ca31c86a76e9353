import datetime

from cxg_client._schema.cxg.v1 import profile_pb2 as _profile_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetProfileRequest(_message.Message):
    __slots__ = ("name", "id", "version", "purpose", "consent", "format", "on_behalf_of")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: _profile_pb2.EntityId
    version: int
    purpose: str
    consent: str
    format: str
    on_behalf_of: str
    def __init__(self, name: _Optional[str] = ..., id: _Optional[_Union[_profile_pb2.EntityId, _Mapping]] = ..., version: _Optional[int] = ..., purpose: _Optional[str] = ..., consent: _Optional[str] = ..., format: _Optional[str] = ..., on_behalf_of: _Optional[str] = ...) -> None: ...

class SignedProfile(_message.Message):
    __slots__ = ("jws", "profile")
    JWS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    jws: str
    profile: _profile_pb2.CreditProfile
    def __init__(self, jws: _Optional[str] = ..., profile: _Optional[_Union[_profile_pb2.CreditProfile, _Mapping]] = ...) -> None: ...

class PublishProfileRequest(_message.Message):
    __slots__ = ("jws", "format")
    JWS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    jws: str
    format: str
    def __init__(self, jws: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class PublishReceipt(_message.Message):
    __slots__ = ("profile_name", "version", "payload_sha256", "request_sha256", "published_at", "publisher", "receipt_jws", "rule_pack_sha256")
    PROFILE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_JWS_FIELD_NUMBER: _ClassVar[int]
    RULE_PACK_SHA256_FIELD_NUMBER: _ClassVar[int]
    profile_name: str
    version: int
    payload_sha256: str
    request_sha256: str
    published_at: _timestamp_pb2.Timestamp
    publisher: str
    receipt_jws: str
    rule_pack_sha256: str
    def __init__(self, profile_name: _Optional[str] = ..., version: _Optional[int] = ..., payload_sha256: _Optional[str] = ..., request_sha256: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publisher: _Optional[str] = ..., receipt_jws: _Optional[str] = ..., rule_pack_sha256: _Optional[str] = ...) -> None: ...

class ListProfileVersionsRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ProfileVersion(_message.Message):
    __slots__ = ("version", "payload_sha256", "published_at", "publisher")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHER_FIELD_NUMBER: _ClassVar[int]
    version: int
    payload_sha256: str
    published_at: _timestamp_pb2.Timestamp
    publisher: str
    def __init__(self, version: _Optional[int] = ..., payload_sha256: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., publisher: _Optional[str] = ...) -> None: ...

class ListProfileVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ProfileVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[ProfileVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchProfilesRequest(_message.Message):
    __slots__ = ("name_prefix", "country", "page_size", "page_token", "on_behalf_of")
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    name_prefix: str
    country: str
    page_size: int
    page_token: str
    on_behalf_of: str
    def __init__(self, name_prefix: _Optional[str] = ..., country: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., on_behalf_of: _Optional[str] = ...) -> None: ...

class ProfileSummary(_message.Message):
    __slots__ = ("name", "version", "ids", "legal_name", "country")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    ids: _containers.RepeatedCompositeFieldContainer[_profile_pb2.EntityId]
    legal_name: _profile_pb2.LocalizedText
    country: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., ids: _Optional[_Iterable[_Union[_profile_pb2.EntityId, _Mapping]]] = ..., legal_name: _Optional[_Union[_profile_pb2.LocalizedText, _Mapping]] = ..., country: _Optional[str] = ...) -> None: ...

class SearchProfilesResponse(_message.Message):
    __slots__ = ("results", "next_page_token", "relay")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RELAY_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProfileSummary]
    next_page_token: str
    relay: _profile_pb2.Relay
    def __init__(self, results: _Optional[_Iterable[_Union[ProfileSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., relay: _Optional[_Union[_profile_pb2.Relay, _Mapping]] = ...) -> None: ...

class ImportChunk(_message.Message):
    __slots__ = ("format", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: str
    data: bytes
    def __init__(self, format: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportRefusal(_message.Message):
    __slots__ = ("record", "location", "field", "problem", "detail")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    record: int
    location: str
    field: str
    problem: str
    detail: str
    def __init__(self, record: _Optional[int] = ..., location: _Optional[str] = ..., field: _Optional[str] = ..., problem: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ImportSummary(_message.Message):
    __slots__ = ("records", "imported", "unchanged", "refused", "refusals")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    records: int
    imported: int
    unchanged: int
    refused: int
    refusals: _containers.RepeatedCompositeFieldContainer[ImportRefusal]
    def __init__(self, records: _Optional[int] = ..., imported: _Optional[int] = ..., unchanged: _Optional[int] = ..., refused: _Optional[int] = ..., refusals: _Optional[_Iterable[_Union[ImportRefusal, _Mapping]]] = ...) -> None: ...
