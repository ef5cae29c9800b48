"""Per-card secrets: the personalisation master key file and the HKDF derivations."""

from __future__ import annotations

import os

import pytest

from card.cardnumber import make_card_number
from issuance.card_secrets import (
    MASTER_KEY_FILE, MasterKeyError, card_serial, create_master_key, derive_management_key, derive_puk,
    load_master_key,
)
from issuance.station import create_station_keys


def test_station_keys_include_master_key(tmp_path) -> None:
    create_station_keys(tmp_path)
    path = tmp_path / MASTER_KEY_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert len(load_master_key(tmp_path)) == 32


def test_master_key_never_overwritten(tmp_path) -> None:
    create_master_key(tmp_path)
    before = (tmp_path / MASTER_KEY_FILE).read_bytes()
    with pytest.raises(FileExistsError):
        create_master_key(tmp_path)
    assert (tmp_path / MASTER_KEY_FILE).read_bytes() == before


def test_missing_master_key_named(tmp_path) -> None:
    with pytest.raises(MasterKeyError, match="personalisation.key does not exist"):
        load_master_key(tmp_path)


def test_master_key_readable_by_others_refused(tmp_path) -> None:
    create_master_key(tmp_path)
    os.chmod(tmp_path / MASTER_KEY_FILE, 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(tmp_path)


def test_master_key_wrong_size_refused(tmp_path) -> None:
    path = tmp_path / MASTER_KEY_FILE
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(MasterKeyError, match="5 bytes long"):
        load_master_key(tmp_path)


def test_card_serial_of_card_number() -> None:
    assert card_serial(make_card_number(1_000_000_042)) == "01000000042"
    with pytest.raises(ValueError, match="not a valid"):
        card_serial("1571000000000000")


def test_management_key_per_card() -> None:
    master = bytes(range(32))
    first = derive_management_key(master, "01000000001")
    assert len(first) == 16
    assert derive_management_key(master, "01000000001") == first
    assert derive_management_key(master, "01000000002") != first
    assert derive_management_key(bytes(32), "01000000001") != first


def test_puk_per_card() -> None:
    master = bytes(range(32))
    puk = derive_puk(master, "01000000001")
    assert len(puk) == 8
    assert puk.isdigit()
    assert derive_puk(master, "01000000002") != puk
    assert puk.encode() != derive_management_key(master, "01000000001")[:8]
