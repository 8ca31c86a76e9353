import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntityStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTITY_STATUS_UNSPECIFIED: _ClassVar[EntityStatus]
    ENTITY_STATUS_ACTIVE: _ClassVar[EntityStatus]
    ENTITY_STATUS_INACTIVE: _ClassVar[EntityStatus]
    ENTITY_STATUS_LIQUIDATING: _ClassVar[EntityStatus]
    ENTITY_STATUS_DISSOLVED: _ClassVar[EntityStatus]

class AeoState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AEO_STATE_UNSPECIFIED: _ClassVar[AeoState]
    AEO_STATE_AUTHORISED: _ClassVar[AeoState]
    AEO_STATE_SUSPENDED: _ClassVar[AeoState]
    AEO_STATE_REVOKED: _ClassVar[AeoState]
    AEO_STATE_ANNULLED: _ClassVar[AeoState]

class PublicRecordKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUBLIC_RECORD_KIND_UNSPECIFIED: _ClassVar[PublicRecordKind]
    PUBLIC_RECORD_KIND_LICENCE: _ClassVar[PublicRecordKind]
    PUBLIC_RECORD_KIND_PENALTY: _ClassVar[PublicRecordKind]
    PUBLIC_RECORD_KIND_DISHONESTY_LIST: _ClassVar[PublicRecordKind]

class DisputeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPUTE_STATE_NONE: _ClassVar[DisputeState]
    DISPUTE_STATE_DISPUTED: _ClassVar[DisputeState]
    DISPUTE_STATE_CORRECTED: _ClassVar[DisputeState]
    DISPUTE_STATE_REJECTED: _ClassVar[DisputeState]

class RepairState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPAIR_STATE_NONE: _ClassVar[RepairState]
    REPAIR_STATE_REQUESTED: _ClassVar[RepairState]
    REPAIR_STATE_REPAIRED: _ClassVar[RepairState]
    REPAIR_STATE_REFUSED: _ClassVar[RepairState]

class AuthorityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTHORITY_TYPE_UNSPECIFIED: _ClassVar[AuthorityType]
    AUTHORITY_TYPE_CUSTOMS: _ClassVar[AuthorityType]
    AUTHORITY_TYPE_TAX: _ClassVar[AuthorityType]
    AUTHORITY_TYPE_MARKET_REGULATION: _ClassVar[AuthorityType]
    AUTHORITY_TYPE_COURT: _ClassVar[AuthorityType]
    AUTHORITY_TYPE_OTHER: _ClassVar[AuthorityType]
ENTITY_STATUS_UNSPECIFIED: EntityStatus
ENTITY_STATUS_ACTIVE: EntityStatus
ENTITY_STATUS_INACTIVE: EntityStatus
ENTITY_STATUS_LIQUIDATING: EntityStatus
ENTITY_STATUS_DISSOLVED: EntityStatus
AEO_STATE_UNSPECIFIED: AeoState
AEO_STATE_AUTHORISED: AeoState
AEO_STATE_SUSPENDED: AeoState
AEO_STATE_REVOKED: AeoState
AEO_STATE_ANNULLED: AeoState
PUBLIC_RECORD_KIND_UNSPECIFIED: PublicRecordKind
PUBLIC_RECORD_KIND_LICENCE: PublicRecordKind
PUBLIC_RECORD_KIND_PENALTY: PublicRecordKind
PUBLIC_RECORD_KIND_DISHONESTY_LIST: PublicRecordKind
DISPUTE_STATE_NONE: DisputeState
DISPUTE_STATE_DISPUTED: DisputeState
DISPUTE_STATE_CORRECTED: DisputeState
DISPUTE_STATE_REJECTED: DisputeState
REPAIR_STATE_NONE: RepairState
REPAIR_STATE_REQUESTED: RepairState
REPAIR_STATE_REPAIRED: RepairState
REPAIR_STATE_REFUSED: RepairState
AUTHORITY_TYPE_UNSPECIFIED: AuthorityType
AUTHORITY_TYPE_CUSTOMS: AuthorityType
AUTHORITY_TYPE_TAX: AuthorityType
AUTHORITY_TYPE_MARKET_REGULATION: AuthorityType
AUTHORITY_TYPE_COURT: AuthorityType
AUTHORITY_TYPE_OTHER: AuthorityType

class EntityId(_message.Message):
    __slots__ = ("scheme", "value")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    value: str
    def __init__(self, scheme: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class LocalizedText(_message.Message):
    __slots__ = ("zh", "en", "ru", "local", "local_lang")
    ZH_FIELD_NUMBER: _ClassVar[int]
    EN_FIELD_NUMBER: _ClassVar[int]
    RU_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    LOCAL_LANG_FIELD_NUMBER: _ClassVar[int]
    zh: str
    en: str
    ru: str
    local: str
    local_lang: str
    def __init__(self, zh: _Optional[str] = ..., en: _Optional[str] = ..., ru: _Optional[str] = ..., local: _Optional[str] = ..., local_lang: _Optional[str] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("country", "region", "locality", "street", "postal_code", "full_text")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_FIELD_NUMBER: _ClassVar[int]
    STREET_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    FULL_TEXT_FIELD_NUMBER: _ClassVar[int]
    country: str
    region: str
    locality: str
    street: str
    postal_code: str
    full_text: LocalizedText
    def __init__(self, country: _Optional[str] = ..., region: _Optional[str] = ..., locality: _Optional[str] = ..., street: _Optional[str] = ..., postal_code: _Optional[str] = ..., full_text: _Optional[_Union[LocalizedText, _Mapping]] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("ids", "legal_name", "country", "address", "legal_form", "status", "registration_date")
    IDS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_FORM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_DATE_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedCompositeFieldContainer[EntityId]
    legal_name: LocalizedText
    country: str
    address: Address
    legal_form: str
    status: EntityStatus
    registration_date: str
    def __init__(self, ids: _Optional[_Iterable[_Union[EntityId, _Mapping]]] = ..., legal_name: _Optional[_Union[LocalizedText, _Mapping]] = ..., country: _Optional[str] = ..., address: _Optional[_Union[Address, _Mapping]] = ..., legal_form: _Optional[str] = ..., status: _Optional[_Union[EntityStatus, str]] = ..., registration_date: _Optional[str] = ...) -> None: ...

class Rating(_message.Message):
    __slots__ = ("scheme", "grade", "as_of_date", "issuer", "valid_from_date", "valid_until_date")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_DATE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_DATE_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    grade: str
    as_of_date: str
    issuer: str
    valid_from_date: str
    valid_until_date: str
    def __init__(self, scheme: _Optional[str] = ..., grade: _Optional[str] = ..., as_of_date: _Optional[str] = ..., issuer: _Optional[str] = ..., valid_from_date: _Optional[str] = ..., valid_until_date: _Optional[str] = ...) -> None: ...

class CommonGrade(_message.Message):
    __slots__ = ("bucket", "ordinal", "source_scheme", "rule_pack")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SCHEME_FIELD_NUMBER: _ClassVar[int]
    RULE_PACK_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    ordinal: int
    source_scheme: str
    rule_pack: str
    def __init__(self, bucket: _Optional[str] = ..., ordinal: _Optional[int] = ..., source_scheme: _Optional[str] = ..., rule_pack: _Optional[str] = ...) -> None: ...

class AeoStatus(_message.Message):
    __slots__ = ("program_country", "authorisation_number", "type", "status", "authorised_date", "valid_until_date")
    PROGRAM_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    AUTHORISATION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AUTHORISED_DATE_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_DATE_FIELD_NUMBER: _ClassVar[int]
    program_country: str
    authorisation_number: str
    type: str
    status: AeoState
    authorised_date: str
    valid_until_date: str
    def __init__(self, program_country: _Optional[str] = ..., authorisation_number: _Optional[str] = ..., type: _Optional[str] = ..., status: _Optional[_Union[AeoState, str]] = ..., authorised_date: _Optional[str] = ..., valid_until_date: _Optional[str] = ...) -> None: ...

class PublicRecord(_message.Message):
    __slots__ = ("kind", "authority", "decision_number", "decision_date", "summary", "dispute_state", "repair_state", "disclosure_until_date", "authority_type")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    DECISION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DECISION_DATE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_STATE_FIELD_NUMBER: _ClassVar[int]
    REPAIR_STATE_FIELD_NUMBER: _ClassVar[int]
    DISCLOSURE_UNTIL_DATE_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    kind: PublicRecordKind
    authority: LocalizedText
    decision_number: str
    decision_date: str
    summary: LocalizedText
    dispute_state: DisputeState
    repair_state: RepairState
    disclosure_until_date: str
    authority_type: AuthorityType
    def __init__(self, kind: _Optional[_Union[PublicRecordKind, str]] = ..., authority: _Optional[_Union[LocalizedText, _Mapping]] = ..., decision_number: _Optional[str] = ..., decision_date: _Optional[str] = ..., summary: _Optional[_Union[LocalizedText, _Mapping]] = ..., dispute_state: _Optional[_Union[DisputeState, str]] = ..., repair_state: _Optional[_Union[RepairState, str]] = ..., disclosure_until_date: _Optional[str] = ..., authority_type: _Optional[_Union[AuthorityType, str]] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("source_institution", "source_record_id", "retrieved_at")
    SOURCE_INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RETRIEVED_AT_FIELD_NUMBER: _ClassVar[int]
    source_institution: str
    source_record_id: str
    retrieved_at: _timestamp_pb2.Timestamp
    def __init__(self, source_institution: _Optional[str] = ..., source_record_id: _Optional[str] = ..., retrieved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditProfile(_message.Message):
    __slots__ = ("name", "version", "subject", "ratings", "common_grade", "aeo", "public_records", "provenance", "valid_from", "valid_until", "disputes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RATINGS_FIELD_NUMBER: _ClassVar[int]
    COMMON_GRADE_FIELD_NUMBER: _ClassVar[int]
    AEO_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_RECORDS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    subject: Subject
    ratings: _containers.RepeatedCompositeFieldContainer[Rating]
    common_grade: CommonGrade
    aeo: _containers.RepeatedCompositeFieldContainer[AeoStatus]
    public_records: _containers.RepeatedCompositeFieldContainer[PublicRecord]
    provenance: Provenance
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    disputes: _containers.RepeatedCompositeFieldContainer[DisputeMark]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., subject: _Optional[_Union[Subject, _Mapping]] = ..., ratings: _Optional[_Iterable[_Union[Rating, _Mapping]]] = ..., common_grade: _Optional[_Union[CommonGrade, _Mapping]] = ..., aeo: _Optional[_Iterable[_Union[AeoStatus, _Mapping]]] = ..., public_records: _Optional[_Iterable[_Union[PublicRecord, _Mapping]]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disputes: _Optional[_Iterable[_Union[DisputeMark, _Mapping]]] = ...) -> None: ...

class DisputeMark(_message.Message):
    __slots__ = ("dispute", "fields", "filed_date", "due_date")
    DISPUTE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    FILED_DATE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    dispute: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    filed_date: str
    due_date: str
    def __init__(self, dispute: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., filed_date: _Optional[str] = ..., due_date: _Optional[str] = ...) -> None: ...

class Relay(_message.Message):
    __slots__ = ("relay_id", "peer", "peer_audit_leaf", "gateway", "on_behalf_of")
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    PEER_AUDIT_LEAF_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    relay_id: str
    peer: str
    peer_audit_leaf: int
    gateway: str
    on_behalf_of: str
    def __init__(self, relay_id: _Optional[str] = ..., peer: _Optional[str] = ..., peer_audit_leaf: _Optional[int] = ..., gateway: _Optional[str] = ..., on_behalf_of: _Optional[str] = ...) -> None: ...
