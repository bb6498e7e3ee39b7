"""Request bodies and response parsers for the lean transport, compiled once per operation from botocore's model.

Compiling from the same service model botocore reads keeps member names, wire names and types exactly botocore's;
what is left out is the per-call walk of the model. A serializer refuses (`Unsupported`) any input botocore's
validator would refuse or that it has no rule for; the caller then hands the call to botocore, whose error the user
sees. Error responses are parsed by botocore's own parsers: they are rare, and their shapes must be botocore's.
"""
from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree import ElementTree

from botocore.model import OperationModel, Shape, StructureShape


Serialize = Callable[[Any], Any]
Parse = Callable[[Any], Any]


class Unsupported(Exception):
    """Input the lean serializer does not take: botocore will (and will raise its own error if it is wrong)."""


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif not isinstance(value, (bytes, bytearray)):
        raise Unsupported("blob")
    return base64.b64encode(value).decode("ascii")


def _scalar(kinds: tuple[type, ...], minimum: Any, length: bool) -> Serialize:
    def serialize(value: Any) -> Any:
        # The types botocore's validator takes (an int there takes a bool too)
        if not isinstance(value, kinds):
            raise Unsupported("type")
        if minimum is not None and (len(value) if length else value) < minimum:  # type: ignore[arg-type]
            raise Unsupported("below the model's minimum")
        return value
    return serialize


def _json_serializer(shape: Shape) -> Serialize:
    """A function from a caller's value of `shape` to the value botocore's JSON serializer puts in the body."""
    kind = shape.type_name
    minimum = shape.metadata.get("min")
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        members = {
            name: (member.serialization.get("name", name), _json_serializer(member))
            for name, member in shape.members.items()
        }
        required = frozenset(shape.required_members)

        def structure(value: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping) or not required.issubset(value):
                raise Unsupported("structure")
            out = {}
            for name, item in value.items():
                try:
                    wire, serialize = members[name]
                except KeyError:
                    raise Unsupported(f"unknown member {name}") from None
                out[wire] = serialize(item)
            return out
        return structure
    if kind == "list":
        item_serializer = _json_serializer(shape.member)  # type: ignore[attr-defined]

        def serialize_list(value: Any) -> list[Any]:
            if not isinstance(value, (list, tuple)) or (minimum is not None and len(value) < minimum):
                raise Unsupported("list")
            return [item_serializer(item) for item in value]
        return serialize_list
    if kind == "map":
        key_serializer = _json_serializer(shape.key)  # type: ignore[attr-defined]
        value_serializer = _json_serializer(shape.value)  # type: ignore[attr-defined]

        def serialize_map(value: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise Unsupported("map")
            return {key_serializer(key): value_serializer(item) for key, item in value.items()}
        return serialize_map
    if kind == "blob":
        return _blob
    if kind == "string":
        return _scalar((str,), minimum, True)
    if kind in ("integer", "long"):
        return _scalar((int,), minimum, False)
    if kind == "boolean":
        return _scalar((bool,), None, False)
    # Timestamps, floats, documents: none in the operations this transport sends; botocore takes them
    def refuse(value: Any) -> Any:
        raise Unsupported(kind)
    return refuse


def json_body(operation: OperationModel) -> Callable[[Mapping[str, Any]], bytes]:
    """The body of an AWS JSON request, byte for byte botocore's (`json.dumps` with its defaults)."""
    serialize = _json_serializer(operation.input_shape) if operation.input_shape is not None else None

    def body(params: Mapping[str, Any]) -> bytes:
        if serialize is None:
            if params:
                raise Unsupported("the operation takes no input")
            return b"{}"
        return json.dumps(serialize(params)).encode("utf-8")
    return body


def _json_parser(shape: Shape) -> Parse:
    """A function from the decoded JSON of `shape` to botocore's parsed value: members it knows, blobs decoded."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        members = [(name, member.serialization.get("name", name), _json_parser(member))
                   for name, member in shape.members.items()]

        def structure(value: Any) -> Any:
            if value is None:
                return None
            out = {}
            for name, wire, parse in members:
                raw = value.get(wire)
                if raw is not None:
                    out[name] = parse(raw)
            return out
        return structure
    if kind == "list":
        item_parser = _json_parser(shape.member)  # type: ignore[attr-defined]
        return lambda value: [None if item is None else item_parser(item) for item in value]
    if kind == "map":
        key_parser = _json_parser(shape.key)  # type: ignore[attr-defined]
        value_parser = _json_parser(shape.value)  # type: ignore[attr-defined]
        return lambda value: {key_parser(key): value_parser(item) for key, item in value.items()}
    if kind == "blob":
        return base64.b64decode
    if kind in ("string", "integer", "long", "boolean"):
        return _same
    raise Unsupported(kind)


def _same(value: Any) -> Any:
    return value


def json_result(operation: OperationModel) -> Callable[[bytes, dict[str, str]], dict[str, Any]]:
    """The parsed result of a successful JSON response, `ResponseMetadata`'s request id included."""
    parse = _json_parser(operation.output_shape) if operation.output_shape is not None else None

    def result(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        decoded = json.loads(body) if body else {}
        parsed: dict[str, Any] = parse(decoded) if parse is not None else {}
        if "x-amzn-requestid" in headers:
            parsed["ResponseMetadata"] = {"RequestId": headers["x-amzn-requestid"]}
        return parsed
    return result


def _query_serializer(shape: Shape) -> Callable[[list[tuple[str, str]], Any, str], None]:
    """A function adding `shape`'s value to a query body's pairs under a prefix, as botocore's query serializer."""
    kind = shape.type_name
    minimum = shape.metadata.get("min")
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        members = {name: (member.serialization.get("name", name), _query_serializer(member))
                   for name, member in shape.members.items()}
        required = frozenset(shape.required_members)

        def structure(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            if not isinstance(value, Mapping) or not required.issubset(value):
                raise Unsupported("structure")
            for name, item in value.items():
                try:
                    wire, serialize = members[name]
                except KeyError:
                    raise Unsupported(f"unknown member {name}") from None
                serialize(pairs, item, f"{prefix}.{wire}" if prefix else wire)
        return structure
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        item_serializer = _query_serializer(member)
        flattened = shape.serialization.get("flattened", False)
        member_name = member.serialization.get("name", "member")

        def serialize_list(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            if not isinstance(value, (list, tuple)) or (minimum is not None and len(value) < minimum):
                raise Unsupported("list")
            if not value:
                pairs.append((prefix, ""))
                return
            if flattened:
                base = prefix
                if member.serialization.get("name"):
                    base = ".".join([*prefix.split(".")[:-1], member.serialization["name"]])
            else:
                base = f"{prefix}.{member_name}"
            for index, item in enumerate(value, 1):
                item_serializer(pairs, item, f"{base}.{index}")
        return serialize_list
    if kind == "map":
        key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
        key_serializer, value_serializer = _query_serializer(key_shape), _query_serializer(value_shape)
        key_name = key_shape.serialization.get("name", "key")
        value_name = value_shape.serialization.get("name", "value")
        entry = "" if shape.serialization.get("flattened", False) else ".entry"

        def serialize_map(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            if not isinstance(value, Mapping):
                raise Unsupported("map")
            for index, (key, item) in enumerate(value.items(), 1):
                key_serializer(pairs, key, f"{prefix}{entry}.{index}.{key_name}")
                value_serializer(pairs, item, f"{prefix}{entry}.{index}.{value_name}")
        return serialize_map
    if kind == "blob":
        def serialize_blob(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            pairs.append((prefix, _blob(value)))
        return serialize_blob
    if kind == "boolean":
        def serialize_boolean(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            if not isinstance(value, bool):
                raise Unsupported("boolean")
            pairs.append((prefix, "true" if value else "false"))
        return serialize_boolean
    if kind in ("string", "integer", "long"):
        check = _scalar((str,) if kind == "string" else (int,), minimum, kind == "string")

        def serialize_scalar(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
            pairs.append((prefix, check(value)))
        return serialize_scalar

    def refuse(pairs: list[tuple[str, str]], value: Any, prefix: str) -> None:
        raise Unsupported(kind)
    return refuse


def query_body(operation: OperationModel) -> Callable[[Mapping[str, Any]], bytes]:
    """The form body of a query request, byte for byte botocore's (its pairs, then `urlencode`)."""
    head = [("Action", operation.name), ("Version", operation.metadata["apiVersion"])]
    serialize = _query_serializer(operation.input_shape) if operation.input_shape is not None else None

    def body(params: Mapping[str, Any]) -> bytes:
        pairs = list(head)
        if serialize is not None:
            serialize(pairs, params, "")
        elif params:
            raise Unsupported("the operation takes no input")
        return "&".join([f"{_form_escape(key)}={_form_escape(str(value))}" for key, value in pairs]).encode("ascii")
    return body


# What `urlencode` leaves as it is; a space is "+", any other byte of the UTF-8 "%XX"
_FORM_SAFE = re.compile(r"[A-Za-z0-9_.\-~]*").fullmatch
_FORM_BYTES = [chr(byte) if chr(byte) in string.ascii_letters + string.digits + "_.-~"
               else "+" if byte == 0x20 else f"%{byte:02X}" for byte in range(256)]


def _form_escape(text: str) -> str:
    """`urllib.parse.quote_plus(text)`, byte for byte, at about half its cost on a batch's bodies.

    `urlencode` calls a Python function per byte of every value; a PublishBatch of ten small messages spent
    250 µs there, 25 µs a message. Here a value with nothing to escape costs one regular-expression match, and
    the others one table look-up per byte in C.
    """
    if _FORM_SAFE(text):
        return text
    return "".join(map(_FORM_BYTES.__getitem__, text.encode("utf-8")))


def _xml_parser(shape: Shape) -> Callable[[ElementTree.Element], Any]:
    """A function from an element of `shape` to botocore's parsed value (query protocol responses)."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        members = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                raise Unsupported("flattened list")
            members[wire] = (name, _xml_parser(member))

        def structure(element: ElementTree.Element) -> dict[str, Any]:
            out = {}
            for child in element:
                found = members.get(_local(child.tag))
                if found is not None:
                    out[found[0]] = found[1](child)
            return out
        return structure
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        item_parser = _xml_parser(member)
        # Every child is an item, whatever its name, as botocore reads a list
        return lambda element: [item_parser(child) for child in element]
    if kind == "string":
        return lambda element: element.text or ""
    if kind in ("integer", "long"):
        return lambda element: int(element.text or "")
    if kind == "boolean":
        return lambda element: element.text == "true"
    if kind == "blob":
        return lambda element: base64.b64decode(element.text or "")
    raise Unsupported(kind)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def query_result(operation: OperationModel) -> Callable[[bytes, dict[str, str]], dict[str, Any]]:
    """The parsed result of a successful query response: its result wrapper's members and the request id."""
    shape = operation.output_shape
    parse = _xml_parser(shape) if shape is not None else None
    wrapper = shape.serialization.get("resultWrapper") if shape is not None else None

    def result(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        found = wrapper is None
        # The configured endpoint's answer, read as botocore reads it (ElementTree over expat, whose entity
        # expansion is bounded since 2.4.1; external entities are never fetched)
        root = ElementTree.fromstring(body)  # noqa: S314
        parsed: dict[str, Any] = {}
        for child in root:
            tag = _local(child.tag)
            if tag == wrapper and parse is not None:
                found = True
                parsed.update(parse(child))
            elif tag == "ResponseMetadata":
                parsed["ResponseMetadata"] = {_local(item.tag): item.text for item in child}
        if not found:
            # No result where the model puts it (a proxy's page, say): botocore's parser says what that is
            raise Unsupported(f"no {wrapper} in the response")
        return parsed
    return result
