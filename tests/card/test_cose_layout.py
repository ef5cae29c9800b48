"""The COSE_Sign1 fast path for sign1()'s own layout against the general decoder.

parse_sign1() slices messages that have exactly the layout sign1() writes
and decodes every other message with card.cbor. Both paths must give the
same Sign1 or the same COSEError message for any input.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from card import cose
from card.keys import FileSigner, generate_private_key

SIGNER = FileSigner(generate_private_key())
MESSAGES = [cose.sign1(bytes(size), SIGNER) for size in (0, 1, 23, 24, 77, 255, 256)]


def parse_both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """Return the outcome (Sign1 or error message) of the fast path and of the general decoder."""
    outcomes = []
    for general_only in (False, True):
        with monkeypatch.context() as patch:
            if general_only:
                patch.setattr(cose, "_split_common_layout", lambda data: None)
            try:
                outcomes.append(cose.decode_sign1(data))
            except cose.COSEError as exc:
                outcomes.append(str(exc))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("size", [0, 1, 23, 24, 255])
def test_signed_message_takes_fast_path(size: int) -> None:
    parts = cose._split_common_layout(cose.sign1(bytes(size), SIGNER))
    assert parts is not None
    assert parts[1] == bytes(size)


def test_payload_of_256_bytes_takes_general_path() -> None:
    # A payload of 256 bytes or more has a three-byte head, which the fast path leaves to card.cbor.
    assert cose._split_common_layout(cose.sign1(bytes(256), SIGNER)) is None


@pytest.mark.parametrize("message", MESSAGES, ids=[f"message{index}" for index in range(len(MESSAGES))])
def test_fast_path_matches_general_decoder(message: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, general = parse_both(message, monkeypatch)
    assert fast == general
    assert fast.unprotected_header == general.unprotected_header
    assert fast.protected_header == general.protected_header


def variants_of(message: bytes) -> dict[str, bytes]:
    """Return hand-made variants of a message with a 13-byte protected header and a 1-byte payload."""
    protected = message[3:16]
    payload = message[17:18]
    signature = message[-64:]
    return {
        "protected head not shortest": b"\xd2\x84\x58\x0d" + protected + b"\xa0\x41" + payload + b"\x58\x40" + signature,
        "payload head not shortest": b"\xd2\x84\x4d" + protected + b"\xa0\x58\x01" + payload + b"\x58\x40" + signature,
        "signature head not shortest": message[:-66] + b"\x59\x00\x40" + signature,
        "kid in both headers": b"\xd2\x84\x4d" + protected + b"\xa1\x04\x48" + protected[-8:] + b"\x41" + payload + b"\x58\x40" + signature,
        "untagged": message[1:],
        "tag 98": b"\xd8\x62" + message[1:],
        "array of 5": b"\xd2\x85" + message[2:] + b"\x40",
        "signature of 63 bytes": message[:-66] + b"\x58\x3f" + signature[:-1],
        "signature of 65 bytes": message[:-66] + b"\x58\x41" + signature + b"\x00",
        "trailing byte": message + b"\x00",
        "empty protected header": b"\xd2\x84\x40\xa0\x41" + payload + b"\x58\x40" + signature,
        "text payload": b"\xd2\x84\x4d" + protected + b"\xa0\x61" + payload + b"\x58\x40" + signature,
    }


@pytest.mark.parametrize("variant", sorted(variants_of(MESSAGES[1])))
def test_variant_rejected_like_general(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, general = parse_both(variants_of(MESSAGES[1])[variant], monkeypatch)
    assert isinstance(general, str)
    assert fast == general


@settings(database=None, deadline=None, max_examples=300)
@given(st.sampled_from(MESSAGES), st.data())
def test_changed_message_same_outcome(message: bytes, data: st.DataObject) -> None:
    changed = bytearray(message)
    edit = data.draw(st.sampled_from(("replace", "truncate", "append")))
    if edit == "replace":
        position = data.draw(st.integers(0, len(changed) - 1))
        changed[position] = data.draw(st.integers(0, 255))
    elif edit == "truncate":
        del changed[data.draw(st.integers(0, len(changed) - 1)) :]
    else:
        changed += data.draw(st.binary(min_size=1, max_size=3))
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, general = parse_both(bytes(changed), monkeypatch)
    assert fast == general
