"""Shortest-form and truncation checks on the integer arguments that card.cbor reads inline.

Two-byte map values and four- and eight-byte arguments are read without a
call to the general head reader, so each size is tested at the top level,
as a map value and as an array item.
"""

from __future__ import annotations

import pytest

from card import cbor

# (head byte, argument size, smallest argument that needs this size)
ARGUMENT_SIZES = [(0x19, 2, 0x100), (0x1A, 4, 0x10000), (0x1B, 8, 0x100000000)]


def wrappings(item: bytes) -> dict[str, tuple[bytes, int]]:
    """Return the item at the top level, as the value of map key 1 and in an array, with its offset."""
    return {"top level": (item, 0), "map value": (b"\xa1\x01" + item, 2), "array item": (b"\x81" + item, 1)}


@pytest.mark.parametrize("head, size, minimum", ARGUMENT_SIZES)
@pytest.mark.parametrize("major", [0x00, 0x20])
def test_argument_not_shortest_rejected(head: int, size: int, minimum: int, major: int) -> None:
    item = bytes((head | major,)) + (minimum - 1).to_bytes(size, "big")
    for place, (data, offset) in wrappings(item).items():
        with pytest.raises(cbor.CBORError) as error:
            cbor.decode(data)
        expected = f"CBOR item at offset {offset}: argument {minimum - 1} is not in its shortest form"
        assert str(error.value).startswith(expected), place


@pytest.mark.parametrize("head, size, minimum", ARGUMENT_SIZES)
@pytest.mark.parametrize("major", [0x00, 0x20])
def test_shortest_argument_accepted(head: int, size: int, minimum: int, major: int) -> None:
    item = bytes((head | major,)) + minimum.to_bytes(size, "big")
    value = minimum if major == 0x00 else -1 - minimum
    for place, (data, _) in wrappings(item).items():
        decoded = cbor.decode(data)
        expected = {"top level": value, "map value": {1: value}, "array item": [value]}[place]
        assert decoded == expected, place
        assert cbor.encode(decoded) == data, place


@pytest.mark.parametrize("head, size, minimum", ARGUMENT_SIZES)
def test_truncated_argument_rejected(head: int, size: int, minimum: int) -> None:
    item = bytes((head,)) + minimum.to_bytes(size, "big")
    for place, (data, _) in wrappings(item).items():
        for cut in range(1, size + 1):
            with pytest.raises(cbor.CBORError, match="truncated"):
                cbor.decode(data[:-cut])
