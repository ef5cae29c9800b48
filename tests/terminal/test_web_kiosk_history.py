"""The kiosk screen in Chromium lists the household's hand-overs from the server, or the local list with a note.

A reference card in the vpcd reader, a live server on 127.0.0.1 and a kiosk
terminal enrolled at a kiosk service point.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import READER
from tests.terminal.conftest import eject, insert
from tests.terminal.kiosk_support import AGENT_NAME, enrol_kiosk, push_agent_hand_over, register_chip_card
from tests.terminal.live_server import live_server, sync
from tests.terminal.test_web_ui import (  # noqa: F401 (fixtures)
    SCREEN_TIMEOUT_MS, browser, chip_card, expect, holders, open_ui, page, reader_context, station,
)
from tests.terminal.web_support import make_mode_terminal, serve_ui

pytestmark = pytest.mark.pcsc


def test_kiosk_lists_server_history(page, reader_context, station, holders, chip_card, tmp_path) -> None:
    issued, state_file = chip_card
    with live_server(tmp_path) as kit:
        register_chip_card(kit, station, holders[0], issued)
        push_agent_hand_over(kit, issued.household_id, int(time.time()) - 3600, quantity=2)
        enrol_kiosk(kit, station, tmp_path / "kiosk").close()
        sync(tmp_path / "kiosk")
        with serve_ui(tmp_path / "kiosk", "kiosk", READER) as base:
            open_ui(page, base)
            card = insert(reader_context, state_file)
            try:
                expect(page.locator("#word")).to_have_text("KARTU SAH", timeout=SCREEN_TIMEOUT_MS)
                expect(page.locator("#history li")).to_have_count(1)
                expect(page.locator("#history li")).to_contain_text(f"LPG 3 kg, 2, di {AGENT_NAME}")
                expect(page.locator("#history-note")).to_be_empty()
                expect(page.locator("#card")).to_have_text(re.compile(r"^•••• •••• •••• \d{4}$"))
            finally:
                eject(reader_context, card)
            expect(page.locator("#waiting")).to_be_visible(timeout=SCREEN_TIMEOUT_MS)


def test_kiosk_falls_back_when_offline(page, reader_context, station, chip_card, tmp_path) -> None:
    issued, state_file = chip_card
    directory = make_mode_terminal(tmp_path / "kiosk", station, {"lpg": (3, "tabung", {issued.household_id: 1})})
    with serve_ui(directory, "kiosk", READER) as base:
        open_ui(page, base)
        card = insert(reader_context, state_file)
        try:
            expect(page.locator("#word")).to_have_text("KARTU SAH", timeout=SCREEN_TIMEOUT_MS)
            expect(page.locator("#history-note")).to_have_text(
                "Riwayat dari server tidak tersedia; hanya penyerahan yang dicatat di terminal ini yang ditampilkan.")
            expect(page.locator("#no-history")).to_have_text("Belum ada penyerahan yang dicatat di terminal ini.")
            expect(page.locator("#history li")).to_have_count(0)
            page.click("text=EN")
            expect(page.locator("#history-note")).to_contain_text("History from the server is not available")
        finally:
            eject(reader_context, card)
