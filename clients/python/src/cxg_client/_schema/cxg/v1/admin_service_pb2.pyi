import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Partner(_message.Message):
    __slots__ = ("id", "display_name", "country", "roles", "purposes", "operations", "status", "keys", "certificates", "quota")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    country: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    purposes: _containers.RepeatedScalarFieldContainer[str]
    operations: _containers.RepeatedScalarFieldContainer[str]
    status: str
    keys: _containers.RepeatedCompositeFieldContainer[PartnerKey]
    certificates: _containers.RepeatedCompositeFieldContainer[PartnerCertificate]
    quota: Quota
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., country: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., purposes: _Optional[_Iterable[str]] = ..., operations: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[PartnerKey, _Mapping]]] = ..., certificates: _Optional[_Iterable[_Union[PartnerCertificate, _Mapping]]] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class PartnerKey(_message.Message):
    __slots__ = ("kid", "alg", "jwk", "not_before", "not_after", "status")
    KID_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    JWK_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    kid: str
    alg: str
    jwk: _struct_pb2.Struct
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    status: str
    def __init__(self, kid: _Optional[str] = ..., alg: _Optional[str] = ..., jwk: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ...) -> None: ...

class PartnerCertificate(_message.Message):
    __slots__ = ("thumbprint", "subject", "not_after")
    THUMBPRINT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    thumbprint: str
    subject: str
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, thumbprint: _Optional[str] = ..., subject: _Optional[str] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Quota(_message.Message):
    __slots__ = ("requests_per_second", "burst", "daily_requests")
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    DAILY_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests_per_second: float
    burst: int
    daily_requests: int
    def __init__(self, requests_per_second: _Optional[float] = ..., burst: _Optional[int] = ..., daily_requests: _Optional[int] = ...) -> None: ...

class ListPartnersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPartnersResponse(_message.Message):
    __slots__ = ("partners",)
    PARTNERS_FIELD_NUMBER: _ClassVar[int]
    partners: _containers.RepeatedCompositeFieldContainer[Partner]
    def __init__(self, partners: _Optional[_Iterable[_Union[Partner, _Mapping]]] = ...) -> None: ...

class GetPartnerRequest(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class PartnerRef(_message.Message):
    __slots__ = ("partner_id",)
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    def __init__(self, partner_id: _Optional[str] = ...) -> None: ...

class RegisterPartnerRequest(_message.Message):
    __slots__ = ("partner", "jwks", "certificate_pems")
    PARTNER_FIELD_NUMBER: _ClassVar[int]
    JWKS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEMS_FIELD_NUMBER: _ClassVar[int]
    partner: Partner
    jwks: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    certificate_pems: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, partner: _Optional[_Union[Partner, _Mapping]] = ..., jwks: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., certificate_pems: _Optional[_Iterable[str]] = ...) -> None: ...

class AddPartnerKeyRequest(_message.Message):
    __slots__ = ("partner_id", "jwk", "not_before", "not_after")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    JWK_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    jwk: _struct_pb2.Struct
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, partner_id: _Optional[str] = ..., jwk: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RetirePartnerKeyRequest(_message.Message):
    __slots__ = ("partner_id", "kid")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    kid: str
    def __init__(self, partner_id: _Optional[str] = ..., kid: _Optional[str] = ...) -> None: ...

class AddPartnerCertificateRequest(_message.Message):
    __slots__ = ("partner_id", "certificate_pem")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    certificate_pem: str
    def __init__(self, partner_id: _Optional[str] = ..., certificate_pem: _Optional[str] = ...) -> None: ...

class RemovePartnerCertificateRequest(_message.Message):
    __slots__ = ("partner_id", "thumbprint")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    THUMBPRINT_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    thumbprint: str
    def __init__(self, partner_id: _Optional[str] = ..., thumbprint: _Optional[str] = ...) -> None: ...

class SetPartnerQuotaRequest(_message.Message):
    __slots__ = ("partner_id", "quota")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    quota: Quota
    def __init__(self, partner_id: _Optional[str] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("id", "time", "partner_id", "operation", "transport", "reason", "detail", "field")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: _timestamp_pb2.Timestamp
    partner_id: str
    operation: str
    transport: str
    reason: str
    detail: str
    field: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., partner_id: _Optional[str] = ..., operation: _Optional[str] = ..., transport: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class ListRefusalsRequest(_message.Message):
    __slots__ = ("partner_id", "page_size", "page_token")
    PARTNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    partner_id: str
    page_size: int
    page_token: str
    def __init__(self, partner_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRefusalsResponse(_message.Message):
    __slots__ = ("refusals", "next_page_token")
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refusals: _containers.RepeatedCompositeFieldContainer[Refusal]
    next_page_token: str
    def __init__(self, refusals: _Optional[_Iterable[_Union[Refusal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
