"""`kartu issuance issue`: the PIN file, key-file errors and the refusal of cards that are not blank."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from card.apdu import SW
from card.piv import DEFAULT_MANAGEMENT_KEY, INS, InvalidPinError, ObjectId
from issuance.card_secrets import MASTER_KEY_FILE
from issuance.issue import PinFileError, read_pin_file
from issuance.personalise import DEMO_PIN
from issuance.photo import placeholder_photo
from issuance.photo_store import PHOTOS_DIR, store_photo
from issuance.pin_slips import SINGLE_GROUP, slip_paths
from issuance.register import write_register
from issuance.station import create_station_keys
from issuance.synth import generate_register
from tests.conftest import READER
from tests.hardware.piv_support import InsertedCard, RecordingCard, authenticated, pcsc  # noqa: F401 (fixture)

CLERK_PIN = "13572468"


REGISTER = generate_register(5, seed=23)


@pytest.fixture
def station_dir(tmp_path) -> Path:
    """A station with an accepted portrait for every resident of REGISTER, as chip cards need."""
    create_station_keys(tmp_path / "station")
    for resident in REGISTER:
        store_photo(tmp_path / "station" / PHOTOS_DIR, resident.nik, placeholder_photo(resident.name, seed=1))
    return tmp_path / "station"


@pytest.fixture
def register(tmp_path):
    path = tmp_path / "register.csv"
    write_register(REGISTER, path)
    return path, REGISTER[0]


def write_pin_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def issue(station_dir: Path, register, *extra: str, lang: str = "en") -> subprocess.CompletedProcess:
    register_file, resident = register
    return subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", lang, "issuance", "issue", "--station", str(station_dir),
         "--register", str(register_file), "--nik", resident.nik, "--reader", READER, "--timeout", "5", *extra],
        capture_output=True, text=True, timeout=120,
    )


# --- the PIN file, no card needed ---------------------------------------------------


def test_pin_file_read(tmp_path) -> None:
    assert read_pin_file(write_pin_file(tmp_path / "pin", f"{CLERK_PIN}\n")) == CLERK_PIN


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_pin_file_readable_by_others(tmp_path, mode) -> None:
    path = write_pin_file(tmp_path / "pin", CLERK_PIN, mode)
    with pytest.raises(PinFileError, match="chmod 600") as caught:
        read_pin_file(path)
    assert str(path) in str(caught.value)
    assert CLERK_PIN not in str(caught.value)


@pytest.mark.parametrize("text", ["", "12345\n", "123456789\n", "12a456\n", "\n123456\n"])
def test_pin_file_without_valid_pin(tmp_path, text) -> None:
    with pytest.raises(PinFileError, match="6 to 8 digits"):
        read_pin_file(write_pin_file(tmp_path / "pin", text))


def test_pin_file_missing(tmp_path) -> None:
    with pytest.raises(PinFileError, match="Cannot read the PIN file"):
        read_pin_file(tmp_path / "absent")


def test_cli_rejects_exposed_pin_file(station_dir, register, tmp_path) -> None:
    pin_file = write_pin_file(tmp_path / "pin", CLERK_PIN, 0o644)
    result = issue(station_dir, register, "--pin-file", str(pin_file))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"chmod 600 {pin_file}" in result.stderr
    assert CLERK_PIN not in result.stderr + result.stdout


def test_cli_rejects_pin_file_with_qr_only(station_dir, register, tmp_path) -> None:
    pin_file = write_pin_file(tmp_path / "pin", CLERK_PIN)
    result = issue(station_dir, register, "--pin-file", str(pin_file), "--qr-only")
    assert result.returncode == 2
    assert "--qr-only" in result.stderr


def test_cli_with_damaged_issuer_key(station_dir, register) -> None:
    (station_dir / "issuer.key").write_text("damaged")
    result = issue(station_dir, register, "--qr-only", lang="id")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "issuer.key" in result.stderr
    assert "kartu keys create --dir" in result.stderr


# --- with a card in the reader ------------------------------------------------------


@pytest.fixture
def card(pcsc, tmp_path):
    inserted = InsertedCard(pcsc, tmp_path / "card.json").insert()
    yield inserted
    inserted.remove()


def test_cli_sets_pin_from_file(station_dir, register, tmp_path, card) -> None:
    pin_file = write_pin_file(tmp_path / "pin", f"{CLERK_PIN}\n")
    result = issue(station_dir, register, "--pin-file", str(pin_file))
    assert result.returncode == 0, result.stderr
    with card.session() as session:
        session.verify_pin(CLERK_PIN)
        session.select()
        with pytest.raises(InvalidPinError):
            session.verify_pin("246810")


def test_cli_default_pin_random(station_dir, register, card) -> None:
    result = issue(station_dir, register)
    assert result.returncode == 0, result.stderr
    [slip] = slip_paths(station_dir, SINGLE_GROUP)
    [pin] = re.findall(r"^PIN: (\d{6})$", slip.read_text(encoding="utf-8"), re.MULTILINE)
    assert pin != DEMO_PIN
    assert pin not in result.stdout + result.stderr
    with card.session() as session:
        with pytest.raises(InvalidPinError):
            session.verify_pin(DEMO_PIN)
        session.select()
        session.verify_pin(pin)


def test_cli_refuses_personalised_card(station_dir, register, card) -> None:
    first = issue(station_dir, register)
    assert first.returncode == 0, first.stderr
    objects_before = dict(card.state.objects)
    # Another resident, because the first one now has an active card and is rejected before the reader is used.
    second = issue(station_dir, (register[0], REGISTER[1]))
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert "not blank" in second.stderr
    assert "kartu issuance reissue" in second.stderr
    assert card.state.objects == objects_before


def test_cli_refuses_second_chip_card(station_dir, register, card, tmp_path) -> None:
    first = issue(station_dir, register)
    assert first.returncode == 0, first.stderr
    [card_number] = re.findall(r"^card (\d{16}) ", first.stdout, re.MULTILINE)
    card.remove()
    second_card = InsertedCard(card.context, tmp_path / "second.json").insert()
    try:
        second = issue(station_dir, register, lang="id")
    finally:
        second_card.remove()
    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert card_number in second.stderr
    assert "kartu issuance reissue" in second.stderr
    assert second_card.card.received == []


def test_cli_refuses_card_with_changed_management_key(station_dir, register, card) -> None:
    with card.session() as session:
        authenticated(session).set_management_key(bytes(range(16)))
    result = issue(station_dir, register, lang="id")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "kartu issuance reissue" in result.stderr
    assert card.state.keys == {}
    assert f"{ObjectId.KARTU_CREDENTIAL:06x}" not in card.state.objects


def test_cli_without_master_key(station_dir, register, card) -> None:
    (station_dir / MASTER_KEY_FILE).unlink()
    result = issue(station_dir, register)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(station_dir / MASTER_KEY_FILE) in result.stderr
    assert card.state.management_key == DEFAULT_MANAGEMENT_KEY


class FullCard(RecordingCard):
    """A blank card that has no room for the facial image: PUT DATA of 5FFF21 gets 6A84."""

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == INS.PUT_DATA and bytes.fromhex("5C035FFF21") in apdu[:16]:
            self.received.append(apdu)
            return SW.NOT_ENOUGH_MEMORY.to_bytes(2, "big")
        return super().process(apdu)


def test_cli_reports_failed_personalisation(station_dir, register, pcsc, tmp_path) -> None:
    inserted = InsertedCard(pcsc, tmp_path / "full.json")
    inserted.card = FullCard(inserted.state)
    inserted.insert()
    try:
        result = issue(station_dir, register)
    finally:
        inserted.remove()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Personalisation of the card failed" in result.stderr
    assert "6A84" in result.stderr
    assert "set it aside as faulty" in result.stderr
