import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetFederationDocumentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FederationDocument(_message.Message):
    __slots__ = ("jws_json",)
    JWS_JSON_FIELD_NUMBER: _ClassVar[int]
    jws_json: str
    def __init__(self, jws_json: _Optional[str] = ...) -> None: ...

class GetPeerCheckpointRequest(_message.Message):
    __slots__ = ("peer",)
    PEER_FIELD_NUMBER: _ClassVar[int]
    peer: str
    def __init__(self, peer: _Optional[str] = ...) -> None: ...

class PeerCheckpoint(_message.Message):
    __slots__ = ("peer", "note")
    PEER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    peer: str
    note: str
    def __init__(self, peer: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class Peer(_message.Message):
    __slots__ = ("id", "gateway", "url", "pinned_kids", "document_issue_time", "refresh_time", "witnessed_tree_size", "problem", "local_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PINNED_KIDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TIME_FIELD_NUMBER: _ClassVar[int]
    WITNESSED_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    gateway: str
    url: str
    pinned_kids: _containers.RepeatedScalarFieldContainer[str]
    document_issue_time: _timestamp_pb2.Timestamp
    refresh_time: _timestamp_pb2.Timestamp
    witnessed_tree_size: int
    problem: str
    local_id: str
    def __init__(self, id: _Optional[str] = ..., gateway: _Optional[str] = ..., url: _Optional[str] = ..., pinned_kids: _Optional[_Iterable[str]] = ..., document_issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refresh_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., witnessed_tree_size: _Optional[int] = ..., problem: _Optional[str] = ..., local_id: _Optional[str] = ...) -> None: ...

class RegisterPeerRequest(_message.Message):
    __slots__ = ("peer_id", "gateway", "url", "display_name", "country", "jwks", "local_id")
    PEER_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    JWKS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ID_FIELD_NUMBER: _ClassVar[int]
    peer_id: str
    gateway: str
    url: str
    display_name: str
    country: str
    jwks: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    local_id: str
    def __init__(self, peer_id: _Optional[str] = ..., gateway: _Optional[str] = ..., url: _Optional[str] = ..., display_name: _Optional[str] = ..., country: _Optional[str] = ..., jwks: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., local_id: _Optional[str] = ...) -> None: ...

class ListPeersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPeersResponse(_message.Message):
    __slots__ = ("peers",)
    PEERS_FIELD_NUMBER: _ClassVar[int]
    peers: _containers.RepeatedCompositeFieldContainer[Peer]
    def __init__(self, peers: _Optional[_Iterable[_Union[Peer, _Mapping]]] = ...) -> None: ...

class RefreshPeerRequest(_message.Message):
    __slots__ = ("peer",)
    PEER_FIELD_NUMBER: _ClassVar[int]
    peer: str
    def __init__(self, peer: _Optional[str] = ...) -> None: ...

class PeerRefresh(_message.Message):
    __slots__ = ("peer", "document", "witnessed_tree_size", "problem")
    PEER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    WITNESSED_TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    peer: str
    document: str
    witnessed_tree_size: int
    problem: str
    def __init__(self, peer: _Optional[str] = ..., document: _Optional[str] = ..., witnessed_tree_size: _Optional[int] = ..., problem: _Optional[str] = ...) -> None: ...

class ListPeerAlarmsRequest(_message.Message):
    __slots__ = ("peer", "page_size")
    PEER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    peer: str
    page_size: int
    def __init__(self, peer: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class PeerAlarm(_message.Message):
    __slots__ = ("peer", "kind", "message", "seen", "offered", "detect_time")
    PEER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    DETECT_TIME_FIELD_NUMBER: _ClassVar[int]
    peer: str
    kind: str
    message: str
    seen: str
    offered: str
    detect_time: _timestamp_pb2.Timestamp
    def __init__(self, peer: _Optional[str] = ..., kind: _Optional[str] = ..., message: _Optional[str] = ..., seen: _Optional[str] = ..., offered: _Optional[str] = ..., detect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPeerAlarmsResponse(_message.Message):
    __slots__ = ("alarms",)
    ALARMS_FIELD_NUMBER: _ClassVar[int]
    alarms: _containers.RepeatedCompositeFieldContainer[PeerAlarm]
    def __init__(self, alarms: _Optional[_Iterable[_Union[PeerAlarm, _Mapping]]] = ...) -> None: ...

class PeerRoute(_message.Message):
    __slots__ = ("scheme", "country", "peer")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    country: str
    peer: str
    def __init__(self, scheme: _Optional[str] = ..., country: _Optional[str] = ..., peer: _Optional[str] = ...) -> None: ...

class SetPeerRouteRequest(_message.Message):
    __slots__ = ("scheme", "country", "peer")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    scheme: str
    country: str
    peer: str
    def __init__(self, scheme: _Optional[str] = ..., country: _Optional[str] = ..., peer: _Optional[str] = ...) -> None: ...

class ListPeerRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPeerRoutesResponse(_message.Message):
    __slots__ = ("routes",)
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[PeerRoute]
    def __init__(self, routes: _Optional[_Iterable[_Union[PeerRoute, _Mapping]]] = ...) -> None: ...
