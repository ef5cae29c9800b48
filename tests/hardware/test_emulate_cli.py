"""`kartu card emulate` with a damaged card file: a translated message naming the file, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from card.reference_state import CardState, CardStateError


def emulate(state_file, lang: str = "en") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", lang, "card", "emulate", "--state", str(state_file), "--port", "1"],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def card_with_damaged_key(tmp_path):
    state = CardState.blank(tmp_path / "card.json")
    state.generate_key(0x9E)
    raw = json.loads(state.path.read_text())
    raw["keys"]["9e"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    state.path.write_text(json.dumps(raw))
    return state.path


def test_damaged_card_key_rejected_at_load(card_with_damaged_key) -> None:
    with pytest.raises(CardStateError, match="private key of slot 9e"):
        CardState.open(card_with_damaged_key)


def test_emulate_damaged_card_key(card_with_damaged_key) -> None:
    result = emulate(card_with_damaged_key)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(card_with_damaged_key) in result.stderr
    assert "private key of slot 9e" in result.stderr
    assert "Restore the file from a copy" in result.stderr


def test_emulate_card_file_not_json(tmp_path) -> None:
    state_file = tmp_path / "card.json"
    state_file.write_text("{ not json")
    result = emulate(state_file, lang="id")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(state_file) in result.stderr
    assert "Pulihkan" in result.stderr


def test_card_key_of_another_curve_rejected(tmp_path) -> None:
    state = CardState.blank(tmp_path / "card.json")
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = json.loads(state.path.read_text())
    raw["keys"]["9a"] = other.decode("ascii")
    state.path.write_text(json.dumps(raw))
    with pytest.raises(CardStateError, match="not an ECDSA P-256 key"):
        CardState.open(state.path)
