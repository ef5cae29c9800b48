"""The clerk's web UI in headless Chromium (Debian chromium driven by Playwright): a clerk's whole round.

Screenshots of the pages go to a temporary directory, or to
docs/screenshots/issuance-*.png when KARTU_UPDATE_SCREENSHOTS=1 is set, so the
docs show the UI as these tests saw it when they were last updated.
"""

import io
import os
import shutil
import socket
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageEnhance

from issuance import batch
from issuance.illustrated import draw_portrait
from issuance.queue import QueueEntry
from issuance.reissue import prepare_journal
from issuance.station import Station
from issuance.web.app import create_app
from tests.issuance.web_support import CLERK, TEST_TOKEN, guard_for, make_web_station

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_SECONDS = 15
BATCH_SECONDS = 60


def skip_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jpeg_file(path: Path, image: Image.Image) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Run the app with uvicorn on a free 127.0.0.1 port in a thread; yield (base URL, web station)."""
    web = make_web_station(tmp_path_factory.mktemp("web"))
    port = free_loopback_port()
    server = uvicorn.Server(uvicorn.Config(create_app(web.settings, guard_for(port)), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"uvicorn did not start on 127.0.0.1:{port} within {SERVER_START_SECONDS} s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", web
    server.should_exit = True
    thread.join(timeout=SERVER_START_SECONDS)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        skip_or_fail("Debian chromium is not installed")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, served, screenshots_dir):
    base, _ = served
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="id-ID")
    opened = context.new_page()
    opened.goto(f"{base}/login?token={TEST_TOKEN}")
    opened.screenshots_dir = screenshots_dir
    yield opened
    context.close()


def screenshot(page, name: str) -> None:
    path = page.screenshots_dir / f"issuance-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"


def test_login_lands_on_queue_in_indonesian(page, served):
    _, web = served

    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("#page-title").inner_text() == "Antrean penerbitan"
    assert page.locator("#queue tbody tr").count() == len(web.residents)
    screenshot(page, "queue")


def test_wrong_token_shows_access_denied(browser, served):
    base, _ = served
    context = browser.new_context()
    anonymous = context.new_page()

    response = anonymous.goto(f"{base}/login?token=wrong")

    assert response.status == 403
    assert "Token akses salah" in anonymous.locator("#message").inner_text()
    assert anonymous.goto(f"{base}/").status == 401
    context.close()


def test_search_by_name(page, served):
    _, web = served
    target = web.residents[4]

    page.fill("#q", target.name)
    page.click("#search")

    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 1
    assert target.name in rows.first.inner_text()


def test_search_by_nik_keeps_nik_out_of_url(page, served):
    _, web = served
    target = web.residents[5]

    page.fill("#q", target.nik)
    page.click("#search")
    assert target.nik not in page.url
    page.click(f"text={target.name}")

    assert page.locator("#nik").inner_text() == target.nik
    assert target.nik not in page.url


def test_rejected_photo_shows_reason(page, served, tmp_path):
    _, web = served
    resident = web.residents[1]
    dark = jpeg_file(tmp_path / "dark.jpg", ImageEnhance.Brightness(draw_portrait(seed=1)).enhance(0.2))
    page.click(f"text={resident.name}")

    page.set_input_files("#photo-file", str(dark))
    page.click("#upload")

    assert "terlalu gelap" in page.locator("#photo-error").inner_text()
    assert page.locator("#issue").is_disabled()
    screenshot(page, "photo-rejected")


def test_photo_then_personalise_then_preview(page, served, tmp_path):
    _, web = served
    resident = web.residents[0]
    good = jpeg_file(tmp_path / "camera.jpg", draw_portrait(seed=2, size=(960, 1280)))
    page.click(f"text={resident.name}")
    assert page.locator("#nik").inner_text() == resident.nik
    assert resident.nik not in page.url

    page.set_input_files("#photo-file", str(good))
    page.click("#upload")
    assert page.locator("#photo-ok").is_visible()
    assert page.locator("#photo").evaluate("image => image.naturalWidth") == 240
    screenshot(page, "resident")
    page.click("#issue")

    page.wait_for_function("() => document.querySelector('#preview')?.complete")
    assert page.locator("#preview").evaluate("image => image.naturalWidth") == 1031
    assert resident.name in page.content()
    assert page.locator("#no-printer").is_visible()
    screenshot(page, "preview")


def test_english_switch(page):
    page.click("#lang-en")

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#page-title").inner_text() == "Issuance queue"
    page.click("#nav-batches")
    assert page.locator("#page-title").inner_text() == "Batches"


def test_batch_progress_shown(page, served):
    _, web = served
    station = Station(web.settings.station_dir)
    try:
        prepare_journal(station.journal)
        entries = [QueueEntry(position, resident) for position, resident in enumerate(web.residents[6:9], start=1)]
        finished = batch.create_batch(station.journal, entries, CLERK, "register", qr_only=True)
        batch.run_batch(station, finished, CLERK, date(2026, 12, 4), web.settings.faces_dir, None, None, io.StringIO())
        waiting = batch.create_batch(station.journal, entries[:2], CLERK, "register", qr_only=True)
    finally:
        station.close()

    page.click("#nav-batches")

    finished_row = page.locator(f"#batch-{finished}")
    waiting_row = page.locator(f"#batch-{waiting}")
    assert "3/3" in finished_row.inner_text()
    assert "0/2" in waiting_row.inner_text()
    assert finished_row.locator("progress").get_attribute("value") == "3"
    screenshot(page, "batches")


def test_batch_started_from_queue(page, served):
    _, web = served
    page.click("#nav-batches")

    page.click("#start-batch")

    started = page.locator("#batch-started")
    assert started.is_visible()
    batch_id = started.inner_text().split()[1]
    row = page.locator(f"#batch-{batch_id}")
    playwright_api.expect(row).to_contain_text("selesai", timeout=BATCH_SECONDS * 1000)
    assert page.locator("#batch-status").is_visible()
    screenshot(page, "batch-started")
