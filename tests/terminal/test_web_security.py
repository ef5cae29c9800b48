"""Who may call the terminal UI: the access token, the Host header, the origin of form posts."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from issuance.station import Station, create_station_keys
from tests.terminal.web_support import TOKEN, make_mode_terminal, serve_ui


@pytest.fixture
def terminal_dir(tmp_path):
    create_station_keys(tmp_path / "station")
    return make_mode_terminal(tmp_path / "terminal", Station(tmp_path / "station"), {"lpg": (3, "tabung", {})})


@pytest.fixture
def base(terminal_dir):
    with serve_ui(terminal_dir, "lpg", start_counter=False) as address:
        yield address


@contextmanager
def logged_in(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base) as client:
        answer = client.get(f"/?token={TOKEN}")
        assert answer.status_code == 303
        yield client


@pytest.mark.parametrize("path", ["/", "/events", "/status", "/static/terminal.js", "/language/en"])
def test_get_without_token_refused(base, path) -> None:
    answer = httpx.get(base + path)
    assert answer.status_code == 401
    assert "kartu terminal serve" in answer.text


def test_wrong_token_refused(base) -> None:
    answer = httpx.get(f"{base}/?token=guess")
    assert answer.status_code == 401
    assert "kartu_terminal" not in answer.headers.get("set-cookie", "")


def test_token_sets_strict_cookie(base) -> None:
    answer = httpx.get(f"{base}/?token={TOKEN}")
    cookie = answer.headers["set-cookie"].lower()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_post_without_token_refused(base) -> None:
    answer = httpx.post(base + "/qr", data={"text": "KB1:X"})
    assert answer.status_code == 401


def test_foreign_host_refused(base) -> None:
    with logged_in(base) as client:
        answer = client.get("/status", headers={"Host": "attacker.example"})
    assert answer.status_code == 400


def test_cross_origin_post_refused(base) -> None:
    with logged_in(base) as client:
        answer = client.post("/qr", data={"text": "KB1:X"}, headers={"Origin": "http://attacker.example"})
    assert answer.status_code == 403


def test_status_and_page_with_token(base) -> None:
    with logged_in(base) as client:
        page = client.get("/")
        status = client.get("/status").json()
    assert page.status_code == 200
    assert 'lang="id"' in page.text
    assert "Agen LPG 3 kg" in page.text
    assert status["pending"] == "Menunggu dikirim: 0"
    assert status["stale"] is False
    assert status["trust"] == "Daftar kepercayaan: umur 0 jam"


def test_bad_inputs_named(base) -> None:
    with logged_in(base) as client:
        empty = client.post("/qr", data={"text": "  "})
        quantity = client.post("/quantity", data={"quantity": "9"})
        pin = client.post("/pin", data={"pin": "123456"})
        language = client.get("/language/fr")
    assert empty.status_code == 422
    assert "Kolom QR kosong" in empty.json()["error"]
    assert quantity.status_code == 422
    assert quantity.json()["error"] == "Jumlah 9 tidak diizinkan di sini; pilih 1 sampai 3."
    assert pin.status_code == 404
    assert language.status_code == 404
