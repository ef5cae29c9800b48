"""The terminal's web UI in Debian's Chromium, driven by Playwright, with reference cards in the vpcd reader.

Each test serves the UI for one mode on 127.0.0.1 and taps a personalised
reference card, or types a QR code into the scanner field. The screen must
change without a click. With KARTU_UPDATE_SCREENSHOTS=1 the screenshots of
each mode replace those in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest

from card import cose
from card.credential import decode_payload
from card.keys import FileSigner, decompress_point, verify_der_prehashed
from card.records import verify_signed_record
from hardware.pcsc import PcscContext
from issuance.personalise import DEMO_PIN, IssuedCard, issue_qr_only
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.store import TerminalStore
from tests.conftest import READER
from tests.terminal.conftest import eject, insert, personalise
from tests.terminal.web_support import TOKEN, make_mode_terminal, serve_ui

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Generous: a tap on the reference card in vpcd takes well under a second, but the CI machine is shared.
SCREEN_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.pcsc


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed; run scripts/setup-system.sh")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 600})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def reader_context(pcsc_available):
    with PcscContext() as context:
        yield context


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Station:
    directory = tmp_path_factory.mktemp("station")
    create_station_keys(directory)
    return Station(directory)


@pytest.fixture(scope="module")
def holders():
    adults = [r for r in generate_register(60, seed=11) if r.birth_date < date(2000, 1, 1)]
    by_household = {}
    for resident in adults:
        by_household.setdefault(resident.kk, resident)
    return list(by_household.values())


@pytest.fixture(scope="module")
def chip_card(reader_context, station, holders, tmp_path_factory) -> tuple[IssuedCard, Path]:
    state_file = tmp_path_factory.mktemp("card") / "card.json"
    return personalise(reader_context, station, holders[0], state_file), state_file


def holder_name(issued: IssuedCard) -> str:
    return decode_payload(cose.decode_sign1(issued.chip_credential).payload).holder.name


def open_ui(page, base: str) -> None:
    page.goto(f"{base}/?token={TOKEN}")
    expect(page.locator("#status-pending")).not_to_be_empty(timeout=SCREEN_TIMEOUT_MS)


def tap(reader_context, state_file: Path, page, expected_word: str) -> None:
    """Place the card on the reader, wait for the decision on screen, take the card away."""
    # Blank the word first, so a decision still on display from the last tap cannot satisfy the wait.
    page.evaluate("document.getElementById('word').textContent = ''")
    card = insert(reader_context, state_file)
    try:
        expect(page.locator("#word")).to_have_text(expected_word, timeout=SCREEN_TIMEOUT_MS)
    finally:
        eject(reader_context, card)


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory):
    """Save screenshots in pytest's temporary directory, or in docs/screenshots with KARTU_UPDATE_SCREENSHOTS=1."""
    if os.environ.get("KARTU_UPDATE_SCREENSHOTS") == "1":
        directory = SCREENSHOTS
    else:
        directory = tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(directory / f"{name}.png"))

    return save


def test_lpg_tap_quota_and_refusal(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "lpg", station, {"lpg": (3, "tabung", {issued.household_id: 0})})
    with serve_ui(directory, "lpg", READER) as base:
        open_ui(page, base)
        expect(page.locator("#waiting")).to_be_visible()
        page.click("button.quantity[data-quantity='2']")
        tap(reader_context, state_file, page, "BERIKAN 2 tabung")

        expect(page.locator("#screen")).to_have_attribute("data-state", "accepted")
        expect(page.locator("#remaining")).to_have_text("Sisa bulan ini: 1 tabung")
        expect(page.locator("#name")).to_have_text(holder_name(issued))
        expect(page.locator("#card")).to_have_text(re.compile(r"^•••• •••• •••• \d{4}$"))
        expect(page.locator("#photo")).to_be_hidden()
        expect(page.locator("#status-pending")).to_contain_text("1")
        screenshot(page, "lpg-accepted")

        page.click("button.quantity[data-quantity='2']")
        tap(reader_context, state_file, page, "DITOLAK")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "quota_exceeded")
        expect(page.locator("#message")).to_contain_text("2 dari 3 tabung")
        screenshot(page, "lpg-refused-quota")


def test_language_switch_rerenders_screen(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "lpg", station, {"lpg": (3, "tabung", {issued.household_id: 0})})
    with serve_ui(directory, "lpg", READER) as base:
        open_ui(page, base)
        expect(page.locator("html")).to_have_attribute("lang", "id")
        expect(page.locator("#waiting .big")).to_have_text("Tempelkan kartu pada pembaca")
        tap(reader_context, state_file, page, "BERIKAN 1 tabung")

        page.click("#language-switch")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#word")).to_have_text("GIVE 1 cylinder", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#remaining")).to_have_text("Remaining this month: 2 cylinders")
        expect(page.locator("#status-sync")).to_contain_text("Last sync")
        screenshot(page, "lpg-accepted-english")

        page.click("#language-switch")
        expect(page.locator("#word")).to_have_text("BERIKAN 1 tabung", timeout=SCREEN_TIMEOUT_MS)


def test_refusals_name_programme_and_units(page, station, holders, tmp_path, pcsc_available) -> None:
    entitled = issue_qr_only(holders[1], station, date(2026, 12, 1))
    stranger = issue_qr_only(holders[2], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "lpg", station, {"lpg": (3, "tabung", {entitled.household_id: 2})})
    with serve_ui(directory, "lpg", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", stranger.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "not_entitled", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#message")).to_contain_text("LPG 3 kg")
        expect(page.locator("#message")).not_to_contain_text("lpg")

        page.click("#language-switch")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#message")).to_contain_text("not entitled to LPG 3 kg.", timeout=SCREEN_TIMEOUT_MS)

        page.click("button.quantity[data-quantity='2']")
        page.fill("#qr-text", entitled.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "quota_exceeded", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#message")).to_contain_text("used 2 of 3 cylinders of its LPG 3 kg quota")
        expect(page.locator("#message")).to_contain_text("Requested: 2 cylinders; still available: 1 cylinder.")

        page.fill("#qr-text", entitled.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#word")).to_have_text("GIVE 1 cylinder", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#remaining")).to_have_text("Remaining this month: 0 cylinders")


def test_clinic_shows_photo_and_pbi_status(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "clinic", station, {"pbi": (31, "kunjungan", {issued.household_id: 0})})
    with serve_ui(directory, "clinic", READER) as base:
        open_ui(page, base)
        tap(reader_context, state_file, page, "TERDAFTAR")
        expect(page.locator("#photo")).to_be_visible()
        assert page.locator("#photo").get_attribute("src").startswith("data:image/jpeg;base64,")
        expect(page.locator("#entitlement")).to_contain_text("BPJS PBI")
        screenshot(page, "clinic-accepted")


def test_clinic_not_entitled_refusal(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    _issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "clinic", station, {"pbi": (31, "kunjungan", {bytes(8): 0})})
    with serve_ui(directory, "clinic", READER) as base:
        open_ui(page, base)
        tap(reader_context, state_file, page, "DITOLAK")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "not_entitled")
        expect(page.locator("#message")).not_to_be_empty()
        expect(page.locator("#entitlement")).to_be_hidden()
        screenshot(page, "clinic-refused-not-entitled")


def test_school_qr_scan(page, station, holders, tmp_path, pcsc_available, screenshot) -> None:
    qr = issue_qr_only(holders[1], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "school", station, {"beasiswa": (1, "pencairan", {qr.household_id: 0})})
    with serve_ui(directory, "school", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", qr.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#word")).to_have_text("CAIRKAN", timeout=SCREEN_TIMEOUT_MS)
        # The scholarship's quota period is a semester: January to June or July to December.
        expect(page.locator("#remaining")).to_have_text(re.compile(r"^Sisa untuk \d{4}-(01|07) – \d{4}-(06|12): 0 pencairan$"))
        expect(page.locator("#qr-text")).to_have_value("")
        screenshot(page, "school-qr-accepted")

        page.fill("#qr-text", qr.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "quota_exceeded", timeout=SCREEN_TIMEOUT_MS)

        page.fill("#qr-text", "KB1:NOT-A-CARD")
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "qr_text_invalid", timeout=SCREEN_TIMEOUT_MS)
        screenshot(page, "school-qr-refused")


def test_receipt_queued_then_reprinted(page, station, holders, tmp_path, pcsc_available, screenshot) -> None:
    qr = issue_qr_only(holders[1], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "lpg", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    paper = tmp_path / "printer" / "paper.bin"
    store = TerminalStore(directory / STORE_NAME)
    store.set_meta({"printer": f"file:{paper}"})
    store.close()
    with serve_ui(directory, "lpg", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", qr.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#word")).to_have_text("BERIKAN 1 tabung", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#receipt")).to_contain_text("Struk 1 masuk antrean, belum dicetak.")
        expect(page.locator("#reprint")).to_be_visible()
        screenshot(page, "lpg-receipt-queued")

        paper.parent.mkdir()
        page.click("#reprint")
        expect(page.locator("#receipt")).to_have_text("Struk 1 sudah dicetak ulang.", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#reprint")).to_be_hidden()
    assert b"CETAK ULANG" in paper.read_bytes()
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {"pending": 1}


def enter_pin(page, pin: str) -> None:
    for digit in pin:
        page.click(f"#keypad button[data-digit='{digit}']")
    page.click("#pin-submit")
    expect(page.locator("#pin-message")).to_have_text("PIN sudah dimasukkan. Tempelkan kartu sekarang.")


def test_cash_aid_needs_pin_proof(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "cash", station,
                                   {"bantuan_bencana": (1, "pencairan", {issued.household_id: 0})})
    with serve_ui(directory, "cash_aid", READER) as base:
        open_ui(page, base)
        tap(reader_context, state_file, page, "DITOLAK")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "pin_needed")
        screenshot(page, "cash-aid-refused-no-pin")

        enter_pin(page, "135799")
        tap(reader_context, state_file, page, "DITOLAK")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "pin_wrong")
        expect(page.locator("#message")).to_contain_text("2")

        enter_pin(page, DEMO_PIN)
        tap(reader_context, state_file, page, "CAIRKAN")
        expect(page.locator("#photo")).to_be_visible()
        expect(page.locator("#remaining")).to_have_text("Sisa untuk sepanjang waktu: 0 pencairan")
        screenshot(page, "cash-aid-accepted")

    [(signed,)] = TerminalStore(directory / STORE_NAME)._db.execute("SELECT signed_record FROM redemptions").fetchall()
    record = verify_signed_record(signed, FileSigner.from_file(directory / KEY_NAME).public_key)
    assert record.pin_signature is not None
    assert verify_der_prehashed(decompress_point(issued.authentication_key), record.pin_signature, record.digest())


def test_cash_aid_refuses_qr(page, station, holders, tmp_path, pcsc_available) -> None:
    qr = issue_qr_only(holders[1], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "cash", station, {"bantuan_bencana": (1, "pencairan", {qr.household_id: 0})})
    with serve_ui(directory, "cash_aid", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", qr.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "pin_needed", timeout=SCREEN_TIMEOUT_MS)


def test_kiosk_shows_own_entitlements_then_clears(page, reader_context, station, chip_card, tmp_path, screenshot) -> None:
    issued, state_file = chip_card
    other_household = bytes.fromhex("99aa99aa99aa99aa")
    directory = make_mode_terminal(tmp_path / "kiosk", station, {
        "lpg": (3, "tabung", {issued.household_id: 1, other_household: 3}),
        "pbi": (31, "kunjungan", {other_household: 0}),
    })
    with serve_ui(directory, "kiosk", READER) as base:
        open_ui(page, base)
        card = insert(reader_context, state_file)
        try:
            expect(page.locator("#word")).to_have_text("KARTU SAH", timeout=SCREEN_TIMEOUT_MS)
            expect(page.locator("#standings li")).to_have_count(2)
            expect(page.locator("#standings")).to_contain_text("LPG 3 kg: sisa 2 dari 3 tabung bulan ini")
            expect(page.locator("#standings")).to_contain_text("tidak berhak")
            expect(page.locator("#remaining")).to_be_hidden()
            expect(page.locator("#card")).to_have_text(re.compile(r"^•••• •••• •••• \d{4}$"))
            screenshot(page, "kiosk-entitlements")
        finally:
            eject(reader_context, card)
        expect(page.locator("#waiting")).to_be_visible(timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#name")).to_be_hidden()

    store = TerminalStore(directory / STORE_NAME)
    assert store.count_by_status() == {}


def test_kiosk_chip_card_qr_addresses_resident(page, reader_context, station, chip_card, tmp_path,
                                               screenshot) -> None:
    issued, _state_file = chip_card
    directory = make_mode_terminal(tmp_path / "kiosk", station, {"lpg": (3, "tabung", {issued.household_id: 0})})
    with serve_ui(directory, "kiosk", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", issued.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#screen")).to_have_attribute("data-reason", "chip_required", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#message")).to_contain_text("tempelkan kartu pada pembaca")
        expect(page.locator("#message")).not_to_contain_text("pemegang")
        screenshot(page, "kiosk-chip-card-qr")

        page.click("#language-switch")
        expect(page.locator("#message")).to_contain_text("place the card on the reader", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#message")).not_to_contain_text("send the holder")
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {}


def test_clinic_qr_only_card_asks_for_ktp(page, station, holders, tmp_path, pcsc_available) -> None:
    qr = issue_qr_only(holders[1], station, date(2026, 12, 1))
    directory = make_mode_terminal(tmp_path / "clinic", station, {"pbi": (31, "kunjungan", {qr.household_id: 0})})
    with serve_ui(directory, "clinic", READER) as base:
        open_ui(page, base)
        page.fill("#qr-text", qr.qr_text)
        page.press("#qr-text", "Enter")
        expect(page.locator("#word")).to_have_text("TERDAFTAR", timeout=SCREEN_TIMEOUT_MS)
        expect(page.locator("#note")).to_contain_text("KTP")
        expect(page.locator("#note")).not_to_contain_text("foto yang tercetak")
        expect(page.locator("#photo")).to_be_hidden()


def test_status_bar_warns_when_lists_are_old(page, station, tmp_path, pcsc_available, screenshot) -> None:
    directory = make_mode_terminal(tmp_path / "old", station, {"lpg": (3, "tabung", {})}, pulled_at=1_000_000_000)
    with serve_ui(directory, "lpg", READER, start_counter=False) as base:
        open_ui(page, base)
        expect(page.locator("#status")).to_have_attribute("data-stale", "true")
        expect(page.locator("#status-warning")).to_contain_text("7 hari")
        expect(page.locator("#status-trust")).to_contain_text("belum pernah")
        screenshot(page, "status-bar-stale")
