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

class SubscriptionScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIPTION_SCOPE_UNSPECIFIED: _ClassVar[SubscriptionScope]
    SUBSCRIPTION_SCOPE_NAMED: _ClassVar[SubscriptionScope]
    SUBSCRIPTION_SCOPE_RECEIVED: _ClassVar[SubscriptionScope]
    SUBSCRIPTION_SCOPE_NOTICES: _ClassVar[SubscriptionScope]

class EventDelivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_DELIVERY_UNSPECIFIED: _ClassVar[EventDelivery]
    EVENT_DELIVERY_PUSH: _ClassVar[EventDelivery]
    EVENT_DELIVERY_POLL: _ClassVar[EventDelivery]
SUBSCRIPTION_SCOPE_UNSPECIFIED: SubscriptionScope
SUBSCRIPTION_SCOPE_NAMED: SubscriptionScope
SUBSCRIPTION_SCOPE_RECEIVED: SubscriptionScope
SUBSCRIPTION_SCOPE_NOTICES: SubscriptionScope
EVENT_DELIVERY_UNSPECIFIED: EventDelivery
EVENT_DELIVERY_PUSH: EventDelivery
EVENT_DELIVERY_POLL: EventDelivery

class EventSubscription(_message.Message):
    __slots__ = ("name", "scope", "ids", "event_types", "purpose", "delivery", "endpoint", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    scope: SubscriptionScope
    ids: _containers.RepeatedCompositeFieldContainer[_profile_pb2.EntityId]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    delivery: EventDelivery
    endpoint: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., scope: _Optional[_Union[SubscriptionScope, str]] = ..., ids: _Optional[_Iterable[_Union[_profile_pb2.EntityId, _Mapping]]] = ..., event_types: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ..., delivery: _Optional[_Union[EventDelivery, str]] = ..., endpoint: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSubscriptionRequest(_message.Message):
    __slots__ = ("scope", "ids", "event_types", "purpose", "delivery", "endpoint")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    scope: SubscriptionScope
    ids: _containers.RepeatedCompositeFieldContainer[_profile_pb2.EntityId]
    event_types: _containers.RepeatedScalarFieldContainer[str]
    purpose: str
    delivery: EventDelivery
    endpoint: str
    def __init__(self, scope: _Optional[_Union[SubscriptionScope, str]] = ..., ids: _Optional[_Iterable[_Union[_profile_pb2.EntityId, _Mapping]]] = ..., event_types: _Optional[_Iterable[str]] = ..., purpose: _Optional[str] = ..., delivery: _Optional[_Union[EventDelivery, str]] = ..., endpoint: _Optional[str] = ...) -> None: ...

class ListSubscriptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions",)
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[EventSubscription]
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[EventSubscription, _Mapping]]] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteSubscriptionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SetError(_message.Message):
    __slots__ = ("err", "description")
    ERR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    err: str
    description: str
    def __init__(self, err: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class PollEventsRequest(_message.Message):
    __slots__ = ("max_events", "return_immediately", "ack", "set_errs")
    class SetErrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: SetError
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[SetError, _Mapping]] = ...) -> None: ...
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RETURN_IMMEDIATELY_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    SET_ERRS_FIELD_NUMBER: _ClassVar[int]
    max_events: int
    return_immediately: bool
    ack: _containers.RepeatedScalarFieldContainer[str]
    set_errs: _containers.MessageMap[str, SetError]
    def __init__(self, max_events: _Optional[int] = ..., return_immediately: _Optional[bool] = ..., ack: _Optional[_Iterable[str]] = ..., set_errs: _Optional[_Mapping[str, SetError]] = ...) -> None: ...

class PollEventsResponse(_message.Message):
    __slots__ = ("sets", "more_available")
    class SetsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SETS_FIELD_NUMBER: _ClassVar[int]
    MORE_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    sets: _containers.ScalarMap[str, str]
    more_available: bool
    def __init__(self, sets: _Optional[_Mapping[str, str]] = ..., more_available: _Optional[bool] = ...) -> None: ...

class DeadEvent(_message.Message):
    __slots__ = ("jti", "subscription", "profile", "endpoint", "attempts", "last_error", "create_time")
    JTI_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    jti: str
    subscription: str
    profile: str
    endpoint: str
    attempts: int
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, jti: _Optional[str] = ..., subscription: _Optional[str] = ..., profile: _Optional[str] = ..., endpoint: _Optional[str] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeadEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[DeadEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[DeadEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplayEventsRequest(_message.Message):
    __slots__ = ("jtis",)
    JTIS_FIELD_NUMBER: _ClassVar[int]
    jtis: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, jtis: _Optional[_Iterable[str]] = ...) -> None: ...

class ReplayEventsResponse(_message.Message):
    __slots__ = ("replayed",)
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    replayed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, replayed: _Optional[_Iterable[str]] = ...) -> None: ...
