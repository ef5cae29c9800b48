"""QR text and Base45 decoding: prefix, size limits before inflation, strict Base45, a reason for every refusal."""

from __future__ import annotations

import zlib

import pytest

from card import qrtext
from card.base45 import ALPHABET, Base45Error, b45decode, b45encode
from card.qrtext import MAX_MESSAGE_SIZE, MAX_TEXT_LENGTH, PREFIX, QRTextError, from_qr_text, to_qr_text

COSE_LIKE = b"\xd2\x84" + bytes(range(100))
REAL_DECOMPRESSOBJ = zlib.decompressobj


def test_every_alphabet_character_is_valid() -> None:
    assert len(ALPHABET) == 45
    for value, char in enumerate(ALPHABET):
        # A final pair "c0" decodes to the character's value as one byte.
        assert b45decode(char + "0") == bytes([value]), char
        assert b45decode(char + "00") == value.to_bytes(2, "big"), char


def test_space_is_a_base45_character() -> None:
    assert b45encode(b"\x00\x24") == " 00"
    assert b45decode(" 00") == b"\x00\x24"
    assert from_qr_text(PREFIX + b45encode(COSE_LIKE)) == COSE_LIKE


def test_rfc_9285_examples() -> None:
    for data, text in ((b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")):
        assert b45encode(data) == text
        assert b45decode(text) == data


@pytest.mark.parametrize(
    "text, match",
    [
        ("GGW", "group 'GGW' at position 0 is 65536, which exceeds 65535"),
        ("000:::", "group ':::' at position 3 is 91124, which exceeds 65535"),
        ("::", "final group '::' is 2024, which exceeds 255"),
        ("QED8WEX", "length 7 ends with a single dangling character"),
        ("QEd8", "character 'd' at position 2 is not in the Base45 alphabet"),
        ("QED8\n", r"character '\\n' at position 4"),
        ("QÉD", "character 'É' at position 1"),
        ("QED_", "character '_' at position 3"),
    ],
)
def test_base45_refusals_name_the_fault(text: str, match: str) -> None:
    with pytest.raises(Base45Error, match=match):
        b45decode(text)


def test_largest_valid_groups() -> None:
    assert b45decode("FGW") == b"\xff\xff"
    assert b45decode("U5") == b"\xff"


def test_prefix_required() -> None:
    body = b45encode(COSE_LIKE)
    assert from_qr_text(PREFIX + body) == COSE_LIKE
    for text in (body, "kb1:" + body, "KB2:" + body, " KB1:" + body, "KB1" + body, ""):
        with pytest.raises(QRTextError, match="does not start with 'KB1:'"):
            from_qr_text(text)


def test_non_string_rejected() -> None:
    with pytest.raises(QRTextError, match="must be a string, got bytes"):
        from_qr_text(b"KB1:00")


def test_length_limit_checked_before_decoding() -> None:
    # The characters are invalid Base45, but the length is reported first.
    with pytest.raises(QRTextError, match=f"{MAX_TEXT_LENGTH + 1} characters, more than the limit"):
        from_qr_text(PREFIX + "a" * (MAX_TEXT_LENGTH + 1 - len(PREFIX)))


def test_empty_body_rejected() -> None:
    with pytest.raises(QRTextError, match="nothing after the prefix"):
        from_qr_text(PREFIX)


def test_unknown_first_byte_rejected() -> None:
    with pytest.raises(QRTextError, match="starts with byte 0x84, neither COSE_Sign1"):
        from_qr_text(PREFIX + b45encode(b"\x84\x01\x02"))


def test_deflated_form_round_trip() -> None:
    compressible = b"\xd2\x84" + b"A" * 200
    text = to_qr_text(compressible)
    assert b45decode(text[len(PREFIX):])[0] == 0x78
    assert from_qr_text(text) == compressible


class RecordingInflater:
    """Wraps zlib's decompressor and records every output limit it is given."""

    limits: list[int] = []

    def __init__(self) -> None:
        self._inner = REAL_DECOMPRESSOBJ()

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        RecordingInflater.limits.append(max_length)
        return self._inner.decompress(data, max_length)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def test_zlib_bomb_refused_without_inflating_it(monkeypatch) -> None:
    bomb = zlib.compress(b"\xd2" + bytes(500_000), 9)
    text = PREFIX + b45encode(bomb)
    assert len(text) <= MAX_TEXT_LENGTH, "the bomb must pass the length check to reach the inflater"
    RecordingInflater.limits = []
    monkeypatch.setattr(qrtext.zlib, "decompressobj", RecordingInflater)
    with pytest.raises(QRTextError, match=f"inflates beyond the limit of {MAX_MESSAGE_SIZE} bytes"):
        from_qr_text(text)
    assert RecordingInflater.limits, "the inflater was not used"
    assert all(0 < limit <= MAX_MESSAGE_SIZE for limit in RecordingInflater.limits)


def test_large_bomb_refused_by_text_length() -> None:
    bomb = zlib.compress(bytes(100_000_000), 9)
    with pytest.raises(QRTextError, match="more than the limit"):
        from_qr_text(PREFIX + b45encode(bomb))


def test_message_at_the_inflation_limit_accepted() -> None:
    message = b"\xd2" + bytes(MAX_MESSAGE_SIZE - 1)
    assert from_qr_text(to_qr_text(message)) == message
    with pytest.raises(QRTextError, match="inflates beyond"):
        from_qr_text(to_qr_text(message + b"\x00"))


@pytest.mark.parametrize(
    "body, match",
    [
        (zlib.compress(COSE_LIKE)[:-6], "truncated zlib stream"),
        (zlib.compress(COSE_LIKE) + b"\x00\x01", "2 bytes after the zlib stream"),
        (zlib.compress(COSE_LIKE)[:-1] + b"\x00", "not a valid zlib stream"),
        (b"\x78\x00\x00", "not a valid zlib stream"),
        (zlib.compress(b"\x84" + bytes(50)), "other than a COSE_Sign1"),
        (zlib.compress(b""), "other than a COSE_Sign1"),
    ],
)
def test_broken_zlib_rejected(body: bytes, match: str) -> None:
    assert body[0] == 0x78
    with pytest.raises(QRTextError, match=match):
        from_qr_text(PREFIX + b45encode(body))
