"""Strict CBOR (RFC 8949) for everything the project signs or decodes.

The project uses a small profile of CBOR: integers (-2**64 to 2**64 - 1),
byte strings, UTF-8 text strings, arrays, maps keyed by integers or strings,
false, true and null. Floating-point numbers, undefined, other simple values,
indefinite lengths and tags are outside it, except one tag that a caller
allows on the outermost item (COSE_Sign1's tag 18).

decode() accepts only the deterministic encoding of RFC 8949 section 4.2.1
(shortest integer and length arguments, map keys sorted bytewise by their
encoded form, no duplicate keys) and rejects trailing bytes, input larger
than max_size and nesting deeper than max_depth. Every rejection is a
CBORError that names the offset and the rule broken. encode() writes that same
deterministic form, so decode(encode(x)) == x for every value in the profile.
The decoder is written here instead of using cbor2 because cbor2 (6.3)
accepts duplicate keys, non-shortest arguments and semantic tags.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from cbor2 import CBORTag

__all__ = ["CBORError", "CBORTag", "MAX_SIZE", "MAX_DEPTH", "encode", "encode_bytes", "decode"]

# Credentials, redemption records and their COSE envelopes are well under
# 1 KiB. Larger signed documents pass a larger max_size explicitly (to
# decode() or card.cose.decode_sign1()).
MAX_SIZE = 1 << 20
MAX_DEPTH = 16

_UINT, _NINT, _BYTES, _TEXT, _ARRAY, _MAP, _TAG, _SIMPLE = range(8)
_FALSE, _TRUE, _NULL = 0xF4, 0xF5, 0xF6
_SIMPLE_VALUES = {_FALSE: False, _TRUE: True, _NULL: None}
_UINT_LIMIT = 1 << 64
# The smallest argument that needs each head size; a smaller one is not the shortest form.
_ARGUMENT_MINIMUM = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}
_ARGUMENT_SIZE = {24: 1, 25: 2, 26: 4, 27: 8}
_MAJOR_NAMES = ("unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value")


class CBORError(ValueError):
    """The bytes are not one data item of the project's strict, deterministic CBOR profile."""


# Encoding


def encode(value: Any) -> bytes:
    """Encode value in deterministic CBOR (RFC 8949 section 4.2.1); raise CBORError outside the profile."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def encode_bytes(value: bytes) -> bytes:
    """Encode one byte string: the same bytes as encode(value), without the type dispatch."""
    size = len(value)
    if size < 24:
        return bytes((0x40 | size,)) + value
    if size < 0x100:
        return bytes((0x58, size)) + value
    return encode(value)


def _head(major: int, argument: int, out: bytearray) -> None:
    if argument < 24:
        out.append(major << 5 | argument)
    elif argument < 1 << 8:
        out.append(major << 5 | 24)
        out.append(argument)
    elif argument < 1 << 16:
        out.append(major << 5 | 25)
        out += argument.to_bytes(2, "big")
    elif argument < 1 << 32:
        out.append(major << 5 | 26)
        out += argument.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += argument.to_bytes(8, "big")


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(_NULL)
    elif value is True:
        out.append(_TRUE)
    elif value is False:
        out.append(_FALSE)
    elif isinstance(value, int):
        if not -_UINT_LIMIT <= value < _UINT_LIMIT:
            raise CBORError(f"integer {value} is outside the CBOR range -2**64 to 2**64 - 1")
        if value >= 0:
            _head(_UINT, value, out)
        else:
            _head(_NINT, -1 - value, out)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        _head(_BYTES, len(value), out)
        out += value
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _head(_TEXT, len(data), out)
        out += data
    elif isinstance(value, (list, tuple)):
        _head(_ARRAY, len(value), out)
        for item in value:
            _encode(item, out)
    elif isinstance(value, Mapping):
        _encode_map(value, out)
    elif isinstance(value, CBORTag):
        _head(_TAG, value.tag, out)
        _encode(value.value, out)
    else:
        raise CBORError(f"cannot encode {type(value).__name__} {value!r}: it is not in the project's CBOR profile")


def _encode_map(value: Mapping, out: bytearray) -> None:
    pairs = []
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, (int, str, bytes)):
            raise CBORError(f"map key {key!r} must be an integer, text string or byte string")
        pairs.append((encode(key), item))
    pairs.sort(key=lambda pair: pair[0])
    _head(_MAP, len(pairs), out)
    for key_bytes, item in pairs:
        out += key_bytes
        _encode(item, out)


# Decoding
#
# The decoder is a set of module-level functions over (data, offset) instead
# of a class, because attribute look-ups would slow it down, and it runs on
# every QR verification (COSE envelope, protected header, payload).


def decode(
    data: bytes,
    *,
    outer_tags: Collection[int] = (),
    max_size: int = MAX_SIZE,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Decode exactly one data item of the strict profile; raise CBORError on any fault.

    The outermost item may carry one tag from outer_tags and is then returned
    as CBORTag(tag, value). Arrays decode to lists and maps to dicts.
    """
    data = bytes(data)
    size = len(data)
    if size > max_size:
        raise CBORError(f"CBOR input of {size} bytes exceeds the limit of {max_size} bytes")
    if not size:
        raise CBORError("CBOR input is empty")
    try:
        if data[0] >> 5 == _TAG:
            tag, start = _argument(data, 0)
            if tag not in outer_tags:
                expected = f"tag {' or '.join(map(str, sorted(outer_tags)))}" if outer_tags else "no tag"
                raise CBORError(f"CBOR tag {tag} on the outermost item is not allowed here (expected {expected})")
            value, end = _item(data, start, max_depth - 1)
            value = CBORTag(tag, value)
        else:
            value, end = _item(data, 0, max_depth)
    except IndexError:
        # Every read past the end lands here: array and map counts are checked
        # against the bytes left, but nested items can still run short.
        raise CBORError(f"CBOR input of {size} bytes ends inside a data item (truncated)") from None
    if end != size:
        raise CBORError(f"{size - end} trailing bytes after the CBOR item, from offset {end}")
    return value


def _fail(offset: int, problem: str) -> CBORError:
    return CBORError(f"CBOR item at offset {offset}: {problem}")


def _argument(data: bytes, offset: int) -> tuple[int, int]:
    """Read the head at offset; return its argument and the offset after the head."""
    initial = data[offset]
    info = initial & 0x1F
    if info < 24:
        return info, offset + 1
    size = _ARGUMENT_SIZE.get(info)
    if size is None:
        if info == 31:
            raise _fail(offset, f"indefinite-length {_MAJOR_NAMES[initial >> 5]} is not allowed")
        raise _fail(offset, f"reserved additional information value {info}")
    end = offset + 1 + size
    if end > len(data):
        raise _fail(offset, f"truncated: the head needs {size} more bytes")
    argument = int.from_bytes(data[offset + 1 : end], "big")
    if argument < _ARGUMENT_MINIMUM[info]:
        raise _fail(offset, f"argument {argument} is not in its shortest form (deterministic encoding)")
    return argument, end


def _item(data: bytes, offset: int, depth_left: int) -> tuple[Any, int]:
    initial = data[offset]
    major = initial >> 5
    if major == _SIMPLE:
        return _simple(initial, offset), offset + 1

    info = initial & 0x1F
    if info < 24:
        argument = info
        start = offset + 1
    elif info == 24:
        # One- and two-byte arguments are read inline: they are the common case.
        argument = data[offset + 1]
        start = offset + 2
        if argument < 24:
            raise _fail(offset, f"argument {argument} is not in its shortest form (deterministic encoding)")
    elif info == 25:
        argument = data[offset + 1] << 8 | data[offset + 2]
        start = offset + 3
        if argument < 0x100:
            raise _fail(offset, f"argument {argument} is not in its shortest form (deterministic encoding)")
    elif info == 26 and offset + 5 <= len(data):
        # Four- and eight-byte arguments carry card numbers and kelurahan codes.
        start = offset + 5
        argument = int.from_bytes(data[offset + 1 : start], "big")
        if argument < 0x10000:
            raise _fail(offset, f"argument {argument} is not in its shortest form (deterministic encoding)")
    elif info == 27 and offset + 9 <= len(data):
        start = offset + 9
        argument = int.from_bytes(data[offset + 1 : start], "big")
        if argument < 0x100000000:
            raise _fail(offset, f"argument {argument} is not in its shortest form (deterministic encoding)")
    else:
        argument, start = _argument(data, offset)

    if major == _UINT:
        return argument, start
    if major == _BYTES or major == _TEXT:
        end = start + argument
        if end > len(data):
            raise _fail(offset, f"truncated: a string of {argument} bytes has only {len(data) - start} left")
        if major == _BYTES:
            return data[start:end], end
        try:
            return data[start:end].decode("utf-8"), end
        except UnicodeDecodeError as exc:
            raise _fail(offset, f"text string is not valid UTF-8 ({exc.reason})") from None
    if major == _NINT:
        return -1 - argument, start
    if major == _TAG:
        raise _fail(offset, f"tag {argument} is not allowed inside a data item")

    if depth_left <= 0:
        raise _fail(offset, "nesting is deeper than the limit")
    if major == _ARRAY:
        return _array(data, offset, start, argument, depth_left - 1)
    return _map(data, offset, start, argument, depth_left - 1)


def _simple(initial: int, offset: int) -> Any:
    if initial in _SIMPLE_VALUES:
        return _SIMPLE_VALUES[initial]
    info = initial & 0x1F
    if 25 <= info <= 27:
        raise _fail(offset, "floating-point numbers are not allowed")
    if info == 31:
        raise _fail(offset, "unexpected break code 0xFF (indefinite lengths are not allowed)")
    raise _fail(offset, f"simple value 0x{initial:02X} is not allowed (only false, true and null)")


def _array(data: bytes, offset: int, position: int, count: int, depth_left: int) -> tuple[list, int]:
    # Every item takes at least one byte, so a count above the bytes left is
    # rejected before anything is allocated for it.
    if count > len(data) - position:
        raise _fail(offset, f"truncated: an array of {count} items has only {len(data) - position} bytes left")
    items = []
    append = items.append
    for _ in range(count):
        value, position = _item(data, position, depth_left)
        append(value)
    return items, position


def _map(data: bytes, offset: int, position: int, count: int, depth_left: int) -> tuple[dict, int]:
    if 2 * count > len(data) - position:
        raise _fail(offset, f"truncated: a map of {count} pairs has only {len(data) - position} bytes left")
    result: dict = {}
    # Keys 0-23 encode as one byte below 0x18 and so sort before every other
    # key. They are compared as integers; other keys by their encoded bytes.
    previous_small = -1
    previous = b""
    for _ in range(count):
        key_offset = position
        initial = data[position]
        if initial < 0x18:
            if initial <= previous_small or previous:
                raise _key_order_error(key_offset, initial, initial == previous_small)
            key = previous_small = initial
            position += 1
        elif initial >> 5 > _TEXT:
            raise _fail(position, "map key must be an integer, text string or byte string")
        else:
            key, position = _item(data, position, depth_left)
            encoded_key = data[key_offset:position]
            if encoded_key <= previous:
                raise _key_order_error(key_offset, key, encoded_key == previous)
            previous = encoded_key
        initial = data[position]
        if initial < 0x18:
            result[key] = initial
            position += 1
        elif initial == 0x19:
            # A two-byte unsigned integer, such as a day number, read inline.
            value = data[position + 1] << 8 | data[position + 2]
            if value < 0x100:
                raise _fail(position, f"argument {value} is not in its shortest form (deterministic encoding)")
            result[key] = value
            position += 3
        else:
            result[key], position = _item(data, position, depth_left)
    return result, position


def _key_order_error(offset: int, key: Any, duplicate: bool) -> CBORError:
    if duplicate:
        return _fail(offset, f"duplicate map key {key!r}")
    return _fail(offset, f"map keys are not in deterministic order at key {key!r}")
