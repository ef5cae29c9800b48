"""The strict CBOR decoder: every rule of the profile, one case each, with the reason it gives."""

from __future__ import annotations

import pytest

from card import cbor
from card.cbor import CBORError, CBORTag, decode, encode


def reject(hex_bytes: str, match: str, **options) -> None:
    with pytest.raises(CBORError, match=match):
        decode(bytes.fromhex(hex_bytes), **options)


@pytest.mark.parametrize(
    "value",
    [
        0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
        -1, -24, -25, -(2**64),
        b"", b"\x00" * 23, b"\xff" * 24, b"x" * 300,
        "", "IETF", "ü水𐅑", "A" * 60,
        [], [1, [2, 3]], {}, {1: "a", 2: [b"b"]}, {"a": 1, "b": [2, 3]},
        False, True, None,
    ],
)
def test_round_trip(value) -> None:
    assert decode(encode(value)) == value


def test_encode_sorts_keys_bytewise() -> None:
    # RFC 8949 section 4.2.1 sorts keys by their encoded bytes: 10 (0a),
    # 100 (1864), -1 (20), "z" (617a), "aa" (626161). cbor2 (6.3) with
    # canonical=True sorts length first and would put -1 before 100.
    encoded = encode({"aa": 5, -1: 3, 100: 2, "z": 4, 10: 1})
    assert encoded.hex() == "a50a011864022003617a04626161" "05"


def test_encode_and_decode_tagged_outer_item() -> None:
    encoded = encode(CBORTag(18, [b"", {}]))
    assert encoded.hex() == "d28240a0"
    assert decode(encoded, outer_tags=(18,)) == CBORTag(18, [b"", {}])


def test_encode_rejects_values_outside_profile() -> None:
    for value in (1.5, 2**64, -(2**64) - 1, {1, 2}, object()):
        with pytest.raises(CBORError):
            encode(value)
    with pytest.raises(CBORError, match="map key"):
        encode({(1, 2): 3})


def test_duplicate_map_key_rejected() -> None:
    reject("a2010201 03", "duplicate map key 1")
    reject("a2616101616102", "duplicate map key 'a'")


def test_unsorted_map_keys_rejected() -> None:
    reject("a202010101", "not in deterministic order")
    # Length-first order (RFC 7049 canonical) is not the bytewise order.
    reject("a22001186402", "not in deterministic order")


@pytest.mark.parametrize(
    "hex_bytes",
    ["5f42010243030405ff", "7f657374726561646d696e67ff", "9fff", "bf61610161629f0203ffff", "8301829f0203ff"],
)
def test_indefinite_lengths_rejected(hex_bytes: str) -> None:
    reject(hex_bytes, "indefinite-length")


def test_lone_break_code_rejected() -> None:
    reject("ff", "break code")


@pytest.mark.parametrize(
    "hex_bytes, argument",
    [("1817", 23), ("190017", 23), ("1900ff", 255), ("1a0000ffff", 65535), ("1b00000000ffffffff", 2**32 - 1),
     ("3817", 23), ("5801ff", 1), ("78016161", 1), ("980101", 1), ("b8010101", 1)],
)
def test_non_shortest_argument_rejected(hex_bytes: str, argument: int) -> None:
    reject(hex_bytes, f"argument {argument} is not in its shortest form")


def test_trailing_bytes_rejected() -> None:
    reject("0000", "1 trailing bytes")
    reject("a0ff", "1 trailing bytes")


@pytest.mark.parametrize("hex_bytes", ["", "18", "19ff", "1aff", "1b00", "43aabb", "830102", "a101", "d2"])
def test_truncated_input_rejected(hex_bytes: str) -> None:
    data = bytes.fromhex(hex_bytes)
    with pytest.raises(CBORError, match="truncated|empty"):
        decode(data, outer_tags=(18,))


def test_huge_declared_lengths_rejected_before_allocation() -> None:
    # Each claims 2**32 - 1 or 2**64 - 1 items or bytes but carries none.
    reject("9affffffff", "array of 4294967295 items")
    reject("bbffffffffffffffff", "map of 18446744073709551615 pairs")
    reject("5bffffffffffffffff", "string of 18446744073709551615 bytes")


def test_depth_limit() -> None:
    nested = bytes.fromhex("81" * cbor.MAX_DEPTH + "00")
    assert decode(nested) is not None
    with pytest.raises(CBORError, match="nesting"):
        decode(b"\x81" + nested)
    with pytest.raises(CBORError, match="nesting"):
        decode(bytes.fromhex("a101" * 3 + "00"), max_depth=2)


def test_deep_nesting_attack_rejected_without_recursion_error() -> None:
    with pytest.raises(CBORError, match="nesting"):
        decode(b"\x81" * 100_000 + b"\x00")


def test_size_limit() -> None:
    data = encode(b"x" * 2000)
    assert decode(data, max_size=len(data)) == b"x" * 2000
    with pytest.raises(CBORError, match=f"{len(data)} bytes exceeds the limit of {len(data) - 1} bytes"):
        decode(data, max_size=len(data) - 1)
    with pytest.raises(CBORError, match="exceeds the limit"):
        decode(bytes(cbor.MAX_SIZE + 1))


@pytest.mark.parametrize("hex_bytes", ["c074323031332d30332d32315432303a30343a30305a", "c249010000000000000000", "d74401020304", "d2a0"])
def test_tags_rejected_unless_allowed(hex_bytes: str) -> None:
    reject(hex_bytes, "tag .* is not allowed")


def test_allowed_tag_only_on_outermost_item() -> None:
    assert decode(bytes.fromhex("d201"), outer_tags=(18,)) == CBORTag(18, 1)
    reject("d2d201", "tag 18 is not allowed inside", outer_tags=(18,))
    reject("81d201", "tag 18 is not allowed inside", outer_tags=(18,))
    reject("d301", r"tag 19 .* \(expected tag 18\)", outer_tags=(18,))


@pytest.mark.parametrize("hex_bytes", ["f90000", "fa47c35000", "fb3ff199999999999a", "f97e00"])
def test_floats_rejected(hex_bytes: str) -> None:
    reject(hex_bytes, "floating-point")


@pytest.mark.parametrize("hex_bytes", ["f7", "f0", "f818", "f8ff"])
def test_other_simple_values_rejected(hex_bytes: str) -> None:
    reject(hex_bytes, "simple value")


@pytest.mark.parametrize("hex_bytes", ["1c", "3d", "5e", "9c", "bd", "dc"])
def test_reserved_additional_information_rejected(hex_bytes: str) -> None:
    reject(hex_bytes, "reserved additional information")


@pytest.mark.parametrize("hex_bytes", ["61ff", "62c328", "63eda080", "64f8a1a1a1"])
def test_invalid_utf8_rejected(hex_bytes: str) -> None:
    reject(hex_bytes, "not valid UTF-8")


@pytest.mark.parametrize("hex_bytes", ["a1f401", "a1800101", "a1a00101", "a1f601"])
def test_map_keys_limited_to_integers_and_strings(hex_bytes: str) -> None:
    reject(hex_bytes, "map key must be")


def test_error_names_offset() -> None:
    with pytest.raises(CBORError, match="offset 3"):
        decode(bytes.fromhex("8301021801"))
