"""`kartu terminal` enrol, sync and offline-rule messages in Bahasa Indonesia (default) and English."""

from __future__ import annotations

import json

import httpx
import pytest

from card.keys import save_public_key
from kartu.cli import main
from terminal.server_text import server_message
from tests.terminal.conftest import make_terminal
from tests.terminal.live_server import enrol, live_server


def run(capsys, language: str, *arguments: str) -> tuple[int, str, str]:
    status = main(["--lang", language, "terminal", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def terminal_dir(station, tmp_path):
    """Return the directory of an enrolled terminal serving lpg whose server (127.0.0.1:9) does not respond."""
    store, _ = make_terminal(tmp_path / "terminal", station, {})
    store.close()
    return tmp_path / "terminal"


def enrol_with_code(capsys, station, tmp_path, kit, code: str, language: str, name: str) -> tuple[int, str, str]:
    issuer_file = tmp_path / "issuer.pem"
    save_public_key(station.issuer.public_key, issuer_file)
    return run(capsys, language, "enrol", "--dir", str(tmp_path / name), "--server", kit.live.base_url,
               "--code", code, "--issuer-key", str(issuer_file))


@pytest.mark.parametrize("language, expected", [
    ("id", "kode pendaftaran sudah dipakai; minta kode baru kepada administrator"),
    ("en", "enrolment code was already used; ask an administrator for a new one"),
])
def test_enrol_used_code_message(station, tmp_path, capsys, language, expected) -> None:
    with live_server(tmp_path) as kit:
        code = kit.enrolment_code(kit.service_point(("lpg",)))
        first = enrol_with_code(capsys, station, tmp_path, kit, code, language, "first")
        second = enrol_with_code(capsys, station, tmp_path, kit, code, language, "second")

    assert first[0] == 0
    assert second[0] == 2
    assert expected in second[2]
    assert "HTTP 403" in second[2]
    assert '{"detail"' not in second[2]


def test_enrol_prints_terminal_and_programmes(station, tmp_path, capsys) -> None:
    with live_server(tmp_path) as kit:
        code = kit.enrolment_code(kit.service_point(("lpg",)))
        status, out, _ = enrol_with_code(capsys, station, tmp_path, kit, code, "id", "terminal")
        english_code = kit.enrolment_code(kit.service_point(("lpg",)))
        english = enrol_with_code(capsys, station, tmp_path, kit, english_code, "en", "english")

    assert status == 0
    assert "terdaftar; program yang dilayani: lpg" in out
    assert out.startswith("terminal TRM-")
    assert "enrolled; programmes served: lpg" in english[1]


def test_sync_summary_in_both_languages(station, residents, tmp_path, capsys) -> None:
    with live_server(tmp_path) as kit:
        enrol(kit, station, tmp_path / "terminal").close()
        indonesian = run(capsys, "id", "sync", "--dir", str(tmp_path / "terminal"))
        english = run(capsys, "en", "sync", "--dir", str(tmp_path / "terminal"))

    assert indonesian[0] == 0
    assert indonesian[1].strip() == ("sinkronisasi selesai: 0 penyerahan dikirim, 0 sudah ada di server, 0 ditolak; "
                                     "hak manfaat diambil untuk: lpg")
    assert english[0] == 0
    assert english[1].strip() == ("sync finished: 0 hand-overs sent, 0 already on the server, 0 rejected; "
                                  "entitlements pulled for: lpg")


@pytest.mark.parametrize("language, expected", [
    ("id", "server http://127.0.0.1:9 tidak dapat dihubungi: "),
    ("en", "server http://127.0.0.1:9 unreachable: "),
])
def test_sync_unreachable_server(terminal_dir, capsys, language, expected) -> None:
    status, _, err = run(capsys, language, "sync", "--dir", str(terminal_dir))

    assert status == 2
    assert err.startswith(expected)


@pytest.mark.parametrize("language, expected", [
    ("id", "--max-hours harus lebih dari 0, diberikan 0;"),
    ("en", "--max-hours must be more than 0, got 0;"),
])
def test_offline_rule_zero_hours(terminal_dir, capsys, language, expected) -> None:
    status, _, err = run(capsys, language, "offline-rule", "--dir", str(terminal_dir), "--program", "lpg",
                         "--max-hours", "0", "--after", "refuse")

    assert status == 2
    assert err.startswith(expected)


def test_offline_rule_rejects_nan_hours(terminal_dir, capsys) -> None:
    status, _, err = run(capsys, "en", "offline-rule", "--dir", str(terminal_dir), "--program", "lpg",
                         "--max-hours", "nan", "--after", "refuse")

    assert status == 2
    assert "--max-hours must be more than 0, got nan" in err


@pytest.mark.parametrize("language, expected", [
    ("id", "lpg: paling lama 48 jam tanpa sinkronisasi, setelah itu tolak penyerahan"),
    ("en", "lpg: at most 48 hours without a sync, then refuse hand-overs"),
])
def test_offline_rule_saved_message(terminal_dir, capsys, language, expected) -> None:
    status, out, _ = run(capsys, language, "offline-rule", "--dir", str(terminal_dir), "--program", "lpg",
                         "--max-hours", "48", "--after", "refuse")

    assert status == 0
    assert out.strip() == expected


def test_unserved_programme_in_indonesian(terminal_dir, capsys) -> None:
    status, _, err = run(capsys, "id", "offline-rule", "--dir", str(terminal_dir), "--program", "bpjs",
                         "--max-hours", "1", "--after", "warn")

    assert status == 2
    assert "program 'bpjs' tidak dilayani di sini; terminal ini melayani lpg" in err


def test_not_a_terminal_directory(tmp_path, capsys) -> None:
    status, _, err = run(capsys, "id", "status", "--dir", str(tmp_path / "nothing"))

    assert status == 2
    assert "bukan direktori terminal" in err


def test_server_message_uses_both_languages() -> None:
    body = {"detail": "x", "message_en": "card is revoked", "message_id": "kartu dicabut"}
    message = server_message(httpx.Response(409, content=json.dumps(body).encode()))

    assert message.localize("id") == "kartu dicabut"
    assert message.localize("en") == "card is revoked"


def test_server_message_translates_known_detail() -> None:
    detail = "enrolment code expired at 2026-12-01T00:00:00+00:00; ask an administrator for a new one"
    message = server_message(httpx.Response(403, json={"detail": detail}))

    assert message.localize("en") == detail
    assert message.localize("id") == ("kode pendaftaran kedaluwarsa pada 2026-12-01T00:00:00+00:00; "
                                      "minta kode baru kepada administrator")


def test_server_message_of_plain_body() -> None:
    message = server_message(httpx.Response(502, text="<html>Bad Gateway</html>"))

    assert message.localize("id") == "<html>Bad Gateway</html>"
    assert str(server_message(httpx.Response(500, text=""))) == "HTTP 500"
