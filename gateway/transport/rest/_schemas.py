"""JSON Schemas of the proto3 JSON mapping, derived from proto/ itself.

The REST API documents exactly the messages the gRPC API uses: each message of cxg.v1 becomes a
component schema, with the field comments of the .proto files as descriptions (read from the
descriptor set that proto/generate.py writes with source info).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.schema.cxg.v1 import profile_service_pb2

_DESCRIPTOR_SET = Path(profile_service_pb2.__file__).parents[2] / "cxg.binpb"
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}
_INT32 = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
}


def ref(message: type[Message] | Descriptor) -> dict[str, str]:
    descriptor = message if isinstance(message, Descriptor) else message.DESCRIPTOR
    return {"$ref": f"#/components/schemas/{descriptor.full_name}"}


# Well-known types with their own proto3 JSON form.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Struct": {"type": "object"},
}


def component_schemas(*roots: type[Message]) -> dict[str, dict[str, Any]]:
    """Schemas for the given messages and every message they contain."""
    schemas: dict[str, dict[str, Any]] = {}
    pending: list[Any] = [root.DESCRIPTOR for root in roots]
    while pending:
        message = pending.pop()
        if message.full_name in schemas:
            continue
        properties = {}
        for field in message.fields:
            schema = _field_schema(field)
            if doc := _comments().get(f"{message.full_name}.{field.name}"):
                schema = {**schema, "description": doc}
            properties[field.json_name] = schema
            if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN:
                pending.append(field.message_type)
        schemas[message.full_name] = {
            "type": "object",
            "description": _comments().get(message.full_name, ""),
            "properties": properties,
            "additionalProperties": False,
        }
    return schemas


def _field_schema(field: Any) -> dict[str, Any]:
    schema = _scalar_schema(field)
    return {"type": "array", "items": schema} if field.is_repeated else schema


def _scalar_schema(field: Any) -> dict[str, Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _WELL_KNOWN.get(field.message_type.full_name) or ref(field.message_type)
    if kind == FieldDescriptor.TYPE_ENUM:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    if kind == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if kind == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if kind in _INT32:
        return {"type": "integer", "format": "int32"}
    if kind in _INT64:
        # proto3 JSON writes 64-bit integers as decimal strings and reads either form.
        return {"anyOf": [{"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}]}
    return {"type": "number"}


@cache
def _comments() -> dict[str, str]:
    """Leading comments by full name ("cxg.v1.Subject", "cxg.v1.Subject.ids")."""
    files = descriptor_pb2.FileDescriptorSet.FromString(_DESCRIPTOR_SET.read_bytes())
    found: dict[str, str] = {}
    for file in files.file:
        for location in file.source_code_info.location:
            path = list(location.path)
            # 4 = FileDescriptorProto.message_type, 2 = DescriptorProto.field
            if len(path) not in (2, 4) or path[0] != 4 or (len(path) == 4 and path[2] != 2):
                continue
            message = file.message_type[path[1]]
            name = f"{file.package}.{message.name}"
            if len(path) == 4:
                name += "." + message.field[path[3]].name
            if location.leading_comments.strip():
                found[name] = " ".join(location.leading_comments.split())
    return found
