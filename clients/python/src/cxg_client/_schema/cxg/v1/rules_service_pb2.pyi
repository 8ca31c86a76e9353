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

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_RECOGNIZED: _ClassVar[Outcome]
    OUTCOME_NOT_RECOGNIZED: _ClassVar[Outcome]
    OUTCOME_OPEN: _ClassVar[Outcome]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_RECOGNIZED: Outcome
OUTCOME_NOT_RECOGNIZED: Outcome
OUTCOME_OPEN: Outcome

class RecognizeAeoRequest(_message.Message):
    __slots__ = ("aeo_number", "as_of_date", "importing_country", "on_behalf_of")
    AEO_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_DATE_FIELD_NUMBER: _ClassVar[int]
    IMPORTING_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    aeo_number: str
    as_of_date: str
    importing_country: str
    on_behalf_of: str
    def __init__(self, aeo_number: _Optional[str] = ..., as_of_date: _Optional[str] = ..., importing_country: _Optional[str] = ..., on_behalf_of: _Optional[str] = ...) -> None: ...

class EquivalentGradeRequest(_message.Message):
    __slots__ = ("scheme", "grade", "rating_date", "as_of_date")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    RATING_DATE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_DATE_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    grade: str
    rating_date: str
    as_of_date: str
    def __init__(self, scheme: _Optional[str] = ..., grade: _Optional[str] = ..., rating_date: _Optional[str] = ..., as_of_date: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("question", "outcome", "rule", "reason", "benefits", "bucket", "ordinal", "rule_pack", "rule_pack_sha256", "as_of_date", "facts_json")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    RULE_PACK_FIELD_NUMBER: _ClassVar[int]
    RULE_PACK_SHA256_FIELD_NUMBER: _ClassVar[int]
    AS_OF_DATE_FIELD_NUMBER: _ClassVar[int]
    FACTS_JSON_FIELD_NUMBER: _ClassVar[int]
    question: str
    outcome: Outcome
    rule: str
    reason: _profile_pb2.LocalizedText
    benefits: _containers.RepeatedScalarFieldContainer[str]
    bucket: str
    ordinal: int
    rule_pack: str
    rule_pack_sha256: str
    as_of_date: str
    facts_json: str
    def __init__(self, question: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., rule: _Optional[str] = ..., reason: _Optional[_Union[_profile_pb2.LocalizedText, _Mapping]] = ..., benefits: _Optional[_Iterable[str]] = ..., bucket: _Optional[str] = ..., ordinal: _Optional[int] = ..., rule_pack: _Optional[str] = ..., rule_pack_sha256: _Optional[str] = ..., as_of_date: _Optional[str] = ..., facts_json: _Optional[str] = ...) -> None: ...

class SignedDecision(_message.Message):
    __slots__ = ("decision", "jws", "relay")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    JWS_FIELD_NUMBER: _ClassVar[int]
    RELAY_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    jws: str
    relay: _profile_pb2.Relay
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., jws: _Optional[str] = ..., relay: _Optional[_Union[_profile_pb2.Relay, _Mapping]] = ...) -> None: ...

class RulePackInfo(_message.Message):
    __slots__ = ("name", "id", "version", "type", "valid_from", "valid_to", "description", "activate_time", "active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: str
    version: str
    type: str
    valid_from: str
    valid_to: str
    description: _profile_pb2.LocalizedText
    activate_time: _timestamp_pb2.Timestamp
    active: bool
    def __init__(self, name: _Optional[str] = ..., id: _Optional[str] = ..., version: _Optional[str] = ..., type: _Optional[str] = ..., valid_from: _Optional[str] = ..., valid_to: _Optional[str] = ..., description: _Optional[_Union[_profile_pb2.LocalizedText, _Mapping]] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class ListRulePacksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRulePacksResponse(_message.Message):
    __slots__ = ("packs",)
    PACKS_FIELD_NUMBER: _ClassVar[int]
    packs: _containers.RepeatedCompositeFieldContainer[RulePackInfo]
    def __init__(self, packs: _Optional[_Iterable[_Union[RulePackInfo, _Mapping]]] = ...) -> None: ...

class GetRulePackRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SignedRulePack(_message.Message):
    __slots__ = ("info", "jws")
    INFO_FIELD_NUMBER: _ClassVar[int]
    JWS_FIELD_NUMBER: _ClassVar[int]
    info: RulePackInfo
    jws: str
    def __init__(self, info: _Optional[_Union[RulePackInfo, _Mapping]] = ..., jws: _Optional[str] = ...) -> None: ...
