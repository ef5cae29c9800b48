"""The QR code of a chip card is a fallback: refused (CHIP_REQUIRED) while the terminal's reader works."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone

import pytest

from card.credential import Profile
from card.decision import Reason
from card.qrtext import to_qr_text
from issuance.personalise import _credential
from card.credential import sign_credential
from terminal.tap import TapService
from tests.conftest import READER
from tests.terminal.conftest import make_terminal, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def chip_card_qr(station, residents) -> tuple[str, bytes]:
    """QR text printed on a chip card, as personalisation signs it, and the household id."""
    credential = _credential(residents[0], station, station.allocate_card_number(), Profile.QR,
                             date(2026, 12, 1), on_chip_card=True)
    return to_qr_text(sign_credential(credential, station.issuer)), credential.household_id


def test_chip_card_qr_refused_with_reader(station, chip_card_qr, tmp_path) -> None:
    text, household = chip_card_qr
    store, signer = make_terminal(tmp_path / "terminal", station, {household: 0})
    outcome = TapService(store, signer).scan_qr(text, "lpg", NOW, reader_available=True)
    assert outcome.decision.reason is Reason.CHIP_REQUIRED
    assert outcome.record_id is None
    assert "Tap the card on the reader" in outcome.decision.message_en
    assert store.count_by_status() == {}


def test_chip_card_qr_accepted_without_reader(station, chip_card_qr, tmp_path) -> None:
    text, household = chip_card_qr
    store, signer = make_terminal(tmp_path / "terminal", station, {household: 0})
    outcome = TapService(store, signer).scan_qr(text, "lpg", NOW, reader_available=False)
    assert outcome.decision.accepted
    assert outcome.credential.on_chip_card


def test_qr_only_card_accepted_with_reader(station, residents, tmp_path) -> None:
    card = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    outcome = TapService(store, signer).scan_qr(card.qr_text, "lpg", NOW, reader_available=True)
    assert outcome.decision.accepted
    assert not outcome.credential.on_chip_card


def run_scan(directory, text: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(directory),
         "--program", "lpg", "--qr-text", text, "--json", *extra],
        capture_output=True, text=True, timeout=60,
    )


def test_cli_requires_chip_when_reader_listed(station, chip_card_qr, tmp_path) -> None:
    text, household = chip_card_qr
    store, _ = make_terminal(tmp_path / "terminal", station, {household: 0}, period=NOW.strftime("%Y-%m"))
    store.close()
    with_reader = run_scan(tmp_path / "terminal", text, "--reader", READER)
    assert with_reader.returncode == 1, with_reader.stderr
    assert '"reason": "chip_required"' in with_reader.stdout
    no_such_reader = run_scan(tmp_path / "terminal", text, "--reader", "No Such Reader 99")
    assert no_such_reader.returncode == 0, no_such_reader.stderr
    assert '"accepted": true' in no_such_reader.stdout
