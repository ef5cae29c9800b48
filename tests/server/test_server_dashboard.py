"""The staff dashboard in headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.server.test_server_people import TEST_OPD, PASSWORD, add_programme, create_user

CHROMIUM = Path("/usr/bin/chromium")
STALE_AFTER = 49 * 3600


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install the Debian package chromium (scripts/setup-system.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, kit):
    context = browser.new_context(base_url=kit.live.base_url, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.requested = requested
    yield page
    context.close()


@pytest.fixture
def city(kit):
    """Two programmes of two OPDs with redemptions, one terminal silent for 49 hours."""
    add_programme(kit.live, "uji_sehat", TEST_OPD)
    stale = kit.enrol_terminal(kit.service_point(("lpg",)), terminal_id="T-lama")
    kit.push(stale, [kit.record(stale, kit.register_card())])
    kit.clock.advance(STALE_AFTER)
    lpg = kit.enrol_terminal(kit.service_point(("lpg",)))
    health = kit.enrol_terminal(kit.service_point(("uji_sehat",)))
    for _ in range(3):
        card = kit.register_card()
        assert kit.push(lpg, [kit.record(lpg, card)]).json()["accepted"]
    assert kit.push(health, [kit.record(health, kit.register_card(), program="uji_sehat")]).json()["accepted"]
    for username, role, opd in (("andi", "administrator", None), ("dewi", "operator", TEST_OPD),
                                ("audit", "auditor", None)):
        assert create_user(kit, username, role, opd).status_code == 201
    return kit


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/dashboard")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")


def programme_codes(page) -> list[str]:
    return [row.get_attribute("data-code") for row in page.locator("tr.programme-row").all()]


def test_login_shows_overview(city, page):
    log_in(page, "andi")
    assert page.url.endswith("/dashboard")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.locator("#programmes h2").inner_text() == "Distribusi per program"
    assert page.locator("#programmes svg rect").count() == 2
    assert page.locator("#kelurahan svg").count() == 1
    assert page.locator("#days svg rect").count() == 30
    assert page.locator("tr.pending-row").all_inner_texts()[0].startswith("T-lama")
    assert page.locator("#who").inner_text() == "andi (administrator)"


def test_wrong_password_rejected(city, page):
    log_in(page, "andi", "salah-salah-salah")
    assert page.url.endswith("/dashboard/login")
    assert "tidak valid" in page.locator("#login-error").inner_text()


def test_pages_load_nothing_external(city, page):
    log_in(page, "andi")
    assert page.requested
    for url in page.requested:
        assert url.startswith(city.live.base_url), url


def test_operator_sees_own_programmes(city, page):
    log_in(page, "dewi")
    assert programme_codes(page) == ["uji_sehat"]
    assert TEST_OPD in page.locator("#scope-note").inner_text()
    assert page.locator("#programmes svg rect").count() == 1
    assert page.locator("tr.pending-row").count() == 0
    assert page.locator("button.new-code").count() == 0


def test_administrator_sees_every_programme(city, page):
    log_in(page, "andi")
    codes = programme_codes(page)
    assert "lpg" in codes
    assert "uji_sehat" in codes


def test_auditor_cannot_write(city, page):
    log_in(page, "audit")
    assert page.locator("button.new-code").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    response = page.request.post("/dashboard/service-points/1/enrolment-codes", form={"csrf": csrf})
    assert response.status == 403
    assert "administrator" in response.text()


def test_administrator_creates_code(city, page):
    log_in(page, "andi")
    page.locator("button.new-code").first.click()
    assert re.fullmatch(r"[0-9A-Z-]{6,}", page.locator("#enrolment-code").inner_text())


def test_form_without_token_rejected(city, page):
    log_in(page, "andi")
    response = page.request.post("/dashboard/service-points/1/enrolment-codes", form={"csrf": "0" * 32})
    assert response.status == 403


def test_language_switch(city, page):
    log_in(page, "andi")
    page.click("#lang-en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#programmes h2").inner_text() == "Distribution per programme"
    page.goto("/dashboard")
    assert page.locator("#programmes h2").inner_text() == "Distribution per programme"
    page.click("#lang-id")
    assert page.locator("#programmes h2").inner_text() == "Distribusi per program"


def test_logout_ends_session(city, page):
    log_in(page, "andi")
    page.click("#logout")
    assert page.url.endswith("/dashboard/login")
    page.goto("/dashboard")
    assert page.url.endswith("/dashboard/login")


def test_session_expires(city, page):
    log_in(page, "andi")
    city.clock.advance(8 * 3600)
    page.goto("/dashboard")
    assert page.url.endswith("/dashboard/login")


def test_screenshot(city, page, database_url, screenshots_dir):
    if not database_url.startswith("sqlite"):
        pytest.skip("the screenshot is taken once, on the SQLite run")
    log_in(page, "andi")
    screenshot = screenshots_dir / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_findings_shown_and_audited(city, page):
    terminal = city.enrol_terminal(city.service_point(("lpg",)))
    card = city.register_card()
    records = [city.record(terminal, card) for _ in range(4)]
    assert len(city.push(terminal, records).json()["accepted"]) == 4

    log_in(page, "audit")
    rows = page.locator("tr.finding-row")
    assert rows.count() == 1
    assert "Kuota keluarga terlampaui" in rows.first.inner_text()
    log = city.admin.get("/api/v1/audit-log", params={"subject_kind": "finding"}).json()
    assert [(entry["actor"], entry["subject_id"]) for entry in log] == [("user:audit", card.household_id.hex())]
