"""Cyclone DDS struct types generated at run time from ROS message definitions.

The layouts come from rosbags' typestore (the ``.msg`` files, one source of truth) and are turned
into ``IdlStruct`` classes the way rmw_cyclonedds names them: ``pkg::msg::dds_::T_``, ``@final``,
keyless. Every ``uint8[]``/``byte[]`` member (image pixels) is swapped to cyclonedds' internal bytes
codec: same CDR bytes, ~20x faster than the default per-element codec. That codec is private API
(``cyclonedds.idl._machinery.BytesMachine``), hence the pinned cyclonedds version in
requirements.txt and ``test_dds.py::test_cdr_bytes_match_rosbags``.
"""
from __future__ import annotations

from functools import lru_cache

from cyclonedds.idl import IdlStruct, make_idl_struct, types
from cyclonedds.idl._machinery import BytesMachine
from cyclonedds.idl.annotations import final

from langtrack_ros.adapters import definitions as defs

_BASE, _NAME, _ARRAY, _SEQUENCE = 1, 2, 3, 4
_PRIMITIVES = {
    "bool": bool, "byte": types.byte, "char": types.uint8, "int8": types.int8, "uint8": types.uint8,
    "int16": types.int16, "uint16": types.uint16, "int32": types.int32, "uint32": types.uint32,
    "int64": types.int64, "uint64": types.uint64, "float32": types.float32, "float64": types.float64,
}
_BYTE_LIKE = ("uint8", "byte", "char")


def dds_typename(ros_type: str) -> str:
    """``sensor_msgs/msg/Image`` -> ``sensor_msgs::msg::dds_::Image_`` (rmw_cyclonedds naming)."""
    package, kind, name = ros_type.split("/")
    return f"{package}::{kind}::dds_::{name}_"


def _member_type(desc):
    kind, detail = desc
    if kind == _BASE:
        base, bound = detail
        if base == "string":
            return types.bounded_str[bound] if bound else str
        if base not in _PRIMITIVES:
            raise TypeError(f"ROS type {base!r} has no DDS mapping")
        return _PRIMITIVES[base]
    if kind == _NAME:
        return struct_type(detail)
    sub, length = detail
    element = _member_type(sub)
    if kind == _ARRAY:
        return types.array[element, length]
    return types.sequence[element, length] if length else types.sequence[element]


def _is_byte_sequence(desc) -> bool:
    kind, detail = desc
    return kind == _SEQUENCE and detail[0][0] == _BASE and detail[0][1][0] in _BYTE_LIKE and not detail[1]


@lru_cache(maxsize=None)
def struct_type(ros_type: str) -> type[IdlStruct]:
    """The IdlStruct class for a ROS message type (cached: one class per type per process)."""
    fields = defs.typestore().get_msgdef(ros_type).fields
    members = {name: _member_type(desc) for name, desc in fields}
    typename = dds_typename(ros_type).replace("::", ".")
    cls = final(make_idl_struct(typename.rsplit(".", 1)[1], typename, members))
    cls.__idl__.populate()
    fast = [name for name, desc in fields if _is_byte_sequence(desc)]
    for machine in (cls.__idl__.v1_machine, cls.__idl__.v2_machine):
        for name in fast:
            machine.members_machines[name] = BytesMachine()
    return cls


def make(ros_type: str):
    """``make(ros_type)`` for :func:`langtrack_ros.adapters.conversions.build`."""
    return struct_type(ros_type)


def dds_array(values, base: str):
    """Array hook for ``conversions.build``: bytes for byte sequences, plain lists otherwise."""
    if base in _BYTE_LIKE:
        return bytes(values)
    return [v.item() if hasattr(v, "item") else v for v in values]


def serialize_cdr(sample: IdlStruct) -> bytes:
    """XCDR1 little-endian bytes with the 4-byte encapsulation header, as ROS 2 puts on the wire."""
    return sample.serialize(use_version_2=False)
