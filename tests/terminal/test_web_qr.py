"""QR scans posted by the terminal page: decisions, offline rules and the kiosk, without a card reader."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Iterator

import httpx
import pytest

from card.credential import Profile, sign_credential
from card.qrtext import to_qr_text
from issuance.personalise import _credential, issue_qr_only
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.enrol import STORE_NAME
from terminal.offline_rules import OfflineAction, OfflineRule, save_rule
from terminal.store import TerminalStore
from terminal.web.serve import build_counter
from tests.terminal.web_support import TOKEN, make_mode_terminal, serve_ui

LONG_AGO = 1_000_000_000


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


@pytest.fixture
def qr(station):
    return issue_qr_only(generate_register(1, seed=5)[0], station, date(2026, 12, 1))


@contextmanager
def page_client(directory, mode: str) -> Iterator[httpx.Client]:
    with serve_ui(directory, mode, start_counter=False) as base, httpx.Client(base_url=base) as client:
        assert client.get(f"/?token={TOKEN}").status_code == 303
        yield client


def set_rule(directory, action: OfflineAction) -> None:
    store = TerminalStore(directory / STORE_NAME)
    save_rule(store, OfflineRule("lpg", 3600, action))
    store.close()


def test_qr_accepted_and_recorded(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    with page_client(directory, "lpg") as client:
        screen = client.post("/qr", data={"text": qr.qr_text, "quantity": "2"}).json()
    assert screen["accepted"] is True
    assert screen["word"] == "BERIKAN 2 tabung"
    assert screen["remaining"] == "Sisa bulan ini: 1 tabung"
    assert qr.card_number not in screen["card"]
    assert screen["card"].endswith(qr.card_number[-4:])
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {"pending": 1}


def test_qr_refused_past_offline_rule(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})},
                                   pulled_at=LONG_AGO)
    set_rule(directory, OfflineAction.REFUSE)
    with page_client(directory, "lpg") as client:
        screen = client.post("/qr", data={"text": qr.qr_text}).json()
    assert screen["accepted"] is False
    assert screen["reason"] == "offline_too_long"
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {}


def test_qr_warned_past_offline_rule(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})},
                                   pulled_at=LONG_AGO)
    set_rule(directory, OfflineAction.WARN)
    with page_client(directory, "lpg") as client:
        screen = client.post("/qr", data={"text": qr.qr_text}).json()
    assert screen["accepted"] is True
    assert screen["note"] != ""
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {"pending": 1}


def test_kiosk_qr_records_nothing(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 2})})
    with page_client(directory, "kiosk") as client:
        screen = client.post("/qr", data={"text": qr.qr_text}).json()
    assert screen["word"] == "KARTU SAH"
    assert screen["standings"] == ["LPG 3 kg: sisa 1 dari 3 tabung bulan ini"]
    assert screen["remaining"] == ""
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {}


def test_english_page_renders_english(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {})})
    with page_client(directory, "lpg") as client:
        assert client.get("/language/en").status_code == 303
        screen = client.post("/qr", data={"text": qr.qr_text}).json()
        page = client.get("/").text
    assert screen["word"] == "REFUSED"
    assert screen["reason"] == "not_entitled"
    assert screen["message"].startswith("This household is not entitled")
    assert 'lang="en"' in page


@pytest.fixture
def chip_qr(station):
    """QR text printed on a chip card, as personalisation signs it, and the household id."""
    credential = _credential(generate_register(1, seed=6)[0], station, station.allocate_card_number(), Profile.QR,
                             date(2026, 12, 1), on_chip_card=True)
    return to_qr_text(sign_credential(credential, station.issuer)), credential.household_id


@pytest.mark.parametrize("reader_works", [True, False])
def test_chip_card_qr_needs_broken_reader(station, chip_qr, tmp_path, reader_works) -> None:
    text, household = chip_qr
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {household: 0})})
    counter = build_counter(directory, "lpg")
    asked = []
    counter.reader_check = lambda name: asked.append(name) or reader_works
    screen = counter.scan_qr(text).render("en")
    assert asked == [None]
    assert screen["accepted"] is not reader_works
    expected = {} if reader_works else {"pending": 1}
    assert TerminalStore(directory / STORE_NAME).count_by_status() == expected
    if reader_works:
        assert screen["reason"] == "chip_required"
        assert "Tap the card on the reader" in screen["message"]


def test_kiosk_chip_card_qr_refused_with_reader(station, chip_qr, tmp_path) -> None:
    text, household = chip_qr
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {household: 0})})
    counter = build_counter(directory, "kiosk")
    counter.reader_check = lambda name: True
    screen = counter.scan_qr(text).render("en")
    counter.stop()
    assert screen["reason"] == "chip_required"
    assert screen["standings"] == []


def test_kiosk_chip_card_qr_addresses_resident(station, chip_qr, tmp_path) -> None:
    text, household = chip_qr
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {household: 0})})
    counter = build_counter(directory, "kiosk")
    counter.reader_check = lambda name: True
    screen = counter.scan_qr(text)
    counter.stop()
    english = screen.render("en")["message"]
    indonesian = screen.render("id")["message"]

    assert "place the card on the reader" in english
    assert "send the holder" not in english
    assert "Nothing was recorded" not in english
    assert "tempelkan kartu pada pembaca" in indonesian
    assert "pemegang" not in indonesian


def test_counter_chip_card_qr_keeps_clerk_text(station, chip_qr, tmp_path) -> None:
    text, household = chip_qr
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {household: 0})})
    counter = build_counter(directory, "lpg")
    counter.reader_check = lambda name: True
    message = counter.scan_qr(text).render("en")["message"]

    assert "send the holder to Dinas Sosial" in message


def test_clinic_qr_only_card_checks_ktp(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"pbi": (31, "kunjungan", {qr.household_id: 0})})
    counter = build_counter(directory, "clinic")
    counter.reader_check = lambda name: True
    screen = counter.scan_qr(qr.qr_text)

    assert screen.render("id")["accepted"] is True
    assert "KTP" in screen.render("id")["note"]
    assert "foto yang tercetak" not in screen.render("id")["note"]
    assert screen.render("en")["note"] == "QR-only card without a photo: check the holder's KTP before serving."


def test_clinic_chip_card_qr_checks_photo(station, chip_qr, tmp_path) -> None:
    text, household = chip_qr
    directory = make_mode_terminal(tmp_path / "t", station, {"pbi": (31, "kunjungan", {household: 0})})
    counter = build_counter(directory, "clinic")
    counter.reader_check = lambda name: False
    screen = counter.scan_qr(text)

    assert screen.render("en")["accepted"] is True
    assert screen.render("en")["note"] == "QR code: compare the holder with the photo printed on the card."


def test_lpg_word_names_quantity_in_english(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    counter = build_counter(directory, "lpg")
    counter.set_quantity(2)
    screen = counter.scan_qr(qr.qr_text)

    assert screen.render("en")["word"] == "GIVE 2 cylinders"
    assert screen.render("id")["word"] == "BERIKAN 2 tabung"


def test_school_word_without_quantity(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"beasiswa": (1, "pencairan", {qr.household_id: 0})})
    counter = build_counter(directory, "school")
    screen = counter.scan_qr(qr.qr_text)

    assert screen.render("id")["word"] == "CAIRKAN"


def test_qr_only_card_accepted_with_reader(station, qr, tmp_path) -> None:
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    counter = build_counter(directory, "lpg")
    counter.reader_check = lambda name: True
    assert counter.scan_qr(qr.qr_text).render("en")["accepted"] is True
