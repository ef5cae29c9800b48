"""`kartu terminal` with a damaged store or key file: a translated message naming the file, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

from card.decision import Reason
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal, qr_card


def run_terminal(*arguments: str, lang: str = "en") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", lang, "terminal", *arguments],
        capture_output=True, text=True, timeout=60,
    )


def test_status_with_damaged_store(station, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {})
    store.close()
    (tmp_path / "terminal" / STORE_NAME).write_bytes(b"this is not an SQLite file " * 40)
    result = run_terminal("status", "--dir", str(tmp_path / "terminal"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "terminal" / STORE_NAME) in result.stderr
    assert "damaged" in result.stderr
    assert "Do not delete the file" in result.stderr


def test_tap_with_damaged_store_in_indonesian(station, residents, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {})
    store.close()
    card = qr_card(station, residents[0])
    (tmp_path / "terminal" / STORE_NAME).write_bytes(b"\x00garbage" * 200)
    result = run_terminal("tap", "--dir", str(tmp_path / "terminal"), "--program", "lpg",
                          "--qr-text", card.qr_text, lang="id")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "terminal" / STORE_NAME) in result.stderr
    assert "rusak" in result.stderr


def test_tap_with_damaged_terminal_key(station, residents, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {})
    store.close()
    card = qr_card(station, residents[0])
    key_file = tmp_path / "terminal" / KEY_NAME
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    result = run_terminal("tap", "--dir", str(tmp_path / "terminal"), "--program", "lpg", "--qr-text", card.qr_text)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "terminal key cannot be used" in result.stderr
    assert str(key_file) in result.stderr


def test_sync_with_damaged_store(station, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {})
    store.close()
    (tmp_path / "terminal" / STORE_NAME).write_bytes(b"not a database" * 100)
    result = run_terminal("sync", "--dir", str(tmp_path / "terminal"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert STORE_NAME in result.stderr


def test_quota_refusal_names_remaining_units(station, residents, tmp_path) -> None:
    card = qr_card(station, residents[0])
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 1}, quota=3)
    service = TapService(store, signer)
    now = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
    outcome = service.scan_qr(card.qr_text, "lpg", now, quantity=3)
    assert not outcome.decision.accepted
    assert outcome.remaining == 2
    english = outcome.decision.message_en
    assert "Requested: 3 cylinders; still available: 2 cylinders" in english
    assert "used 1 of 3 cylinders of its LPG 3 kg quota" in english
    assert "Hand over at most 2 cylinders" in english
    assert store.count_by_status() == {}


def test_quota_used_up_says_next_period(station, residents, tmp_path) -> None:
    card = qr_card(station, residents[0])
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 3}, quota=3)
    outcome = TapService(store, signer).scan_qr(card.qr_text, "lpg", datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc))
    assert outcome.decision.reason is Reason.QUOTA_EXCEEDED
    assert outcome.remaining == 0
    assert "used 3 of 3 cylinders of its LPG 3 kg quota" in outcome.decision.message_en
    assert "used up until the next quota period" in outcome.decision.message_en
    assert "at most 0" not in outcome.decision.message_en
    assert "paling banyak 0" not in outcome.decision.message_id
    assert "habis" in outcome.decision.message_id
    assert store.count_by_status() == {}
