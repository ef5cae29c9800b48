"""The clerk's web UI over HTTP (Starlette TestClient): access checks, queue, photo, issuing, preview."""

import argparse
import dataclasses
import io
import re
import subprocess

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageEnhance

from issuance import audit
from issuance.illustrated import draw_portrait, portrait_jpeg
from issuance.station import Station
from issuance.web import serve
from issuance.web.app import create_app
from issuance.web.security import COOKIE_NAME
from tests.issuance.web_support import CLERK, TEST_TOKEN, guard_for, make_web_station

PORT = 8481
BASE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def web(tmp_path):
    return make_web_station(tmp_path)


@pytest.fixture
def client(web):
    guard = guard_for(PORT)
    with TestClient(create_app(web.settings, guard), base_url=BASE) as test_client:
        response = test_client.get(f"/login?token={TEST_TOKEN}", follow_redirects=False)
        assert response.status_code == 303
        yield test_client


def form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def search(client, text: str):
    page = client.get("/").text
    return client.post("/", data={"csrf": form_token(page), "q": text})


def resident_path(client, nik: str) -> str:
    """Return the resident page's path, found by searching the queue for the NIK as a clerk would.

    The path is remembered per client, because an issued resident leaves the queue.
    """
    paths = vars(client).setdefault("resident_paths", {})
    if nik not in paths:
        found = re.findall(r'href="(/resident/[^"]+)"', search(client, nik).text)
        assert len(found) == 1, f"the queue search for {nik} listed {len(found)} residents"
        paths[nik] = found[0]
    return paths[nik]


def upload(client, nik: str, data: bytes, token: str | None = None):
    path = resident_path(client, nik)
    page = client.get(path).text
    return client.post(
        f"{path}/photo", data={"csrf": token if token is not None else form_token(page)},
        files={"photo": ("camera.jpg", data, "image/jpeg")}, follow_redirects=False,
    )


def issue(client, nik: str):
    path = resident_path(client, nik)
    page = client.get(path).text
    return client.post(f"{path}/issue", data={"csrf": form_token(page)}, follow_redirects=False)


def test_pages_need_login(web):
    with TestClient(create_app(web.settings, guard_for(PORT)), base_url=BASE) as anonymous:
        for path in ("/", "/resident/any-handle", "/batches"):
            response = anonymous.get(path)
            assert response.status_code == 401
            assert "kartu issuance serve" in response.text


def test_wrong_token_rejected(web):
    with TestClient(create_app(web.settings, guard_for(PORT)), base_url=BASE) as anonymous:
        response = anonymous.get("/login?token=guess", follow_redirects=False)

        assert response.status_code == 403
        assert COOKIE_NAME not in response.cookies


def test_foreign_host_header_rejected(client):
    response = client.get("/", headers={"host": f"attacker.example:{PORT}"})

    assert response.status_code == 400


def test_cross_origin_post_rejected(client, web):
    path = resident_path(client, web.residents[0].nik)
    page = client.get(path).text

    response = client.post(f"{path}/issue", data={"csrf": form_token(page)},
                           headers={"origin": "http://attacker.example"})

    assert response.status_code == 403


def test_post_without_form_token_rejected(client, web):
    response = upload(client, web.residents[0].nik, portrait_jpeg(seed=1), token="0" * 64)

    assert response.status_code == 403


def test_queue_lists_residents_in_indonesian(client, web):
    page = client.get("/").text

    assert 'lang="id"' in page
    assert "Antrean" in page
    for resident in web.residents:
        assert resident.name in page
        assert f">{resident.nik[:6]}******{resident.nik[-4:]}<" in page
    assert f">{web.residents[0].nik}<" not in page


def test_queue_in_english(client):
    page = client.get("/?lang=en").text

    assert 'lang="en"' in page
    assert "Issuance queue" in page
    assert 'lang="en"' in client.get("/").text  # the choice is remembered in a cookie


def test_queue_search_by_nik(client, web):
    target = web.residents[3]

    page = search(client, target.nik).text

    assert target.name in page
    assert page.count("<tr><td>") == 1


def test_no_url_contains_nik(client, web):
    queue_page = client.get("/").text
    resident = web.residents[2]
    path = resident_path(client, resident.nik)
    upload(client, resident.nik, portrait_jpeg(seed=4, size=(960, 1280)))
    resident_page = client.get(path).text

    links = re.findall(r'(?:href|src|action)="([^"]+)"', queue_page + resident_page)
    assert any(link.startswith("/resident/") for link in links)
    for link in links + [path]:
        for someone in web.residents:
            assert someone.nik not in link, f"{link} contains a NIK"
    assert client.get(f"/resident/{resident.nik}").status_code == 404
    assert 'method="get"' not in queue_page


def test_handle_unknown_after_restart(web):
    with TestClient(create_app(web.settings, guard_for(PORT)), base_url=BASE) as first:
        first.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(first, web.residents[0].nik)
    with TestClient(create_app(web.settings, guard_for(PORT)), base_url=BASE) as second:
        second.get(f"/login?token={TEST_TOKEN}")

        assert second.get(path).status_code == 404


def test_resident_record_shown_and_audited(client, web):
    resident = web.residents[2]

    page = client.get(resident_path(client, resident.nik)).text

    assert resident.name in page
    assert resident.nik in page
    assert resident.kk in page
    station = Station(web.settings.station_dir)
    shown = [entry for entry in audit.entries(station.journal, action="nik_shown") if entry.nik == resident.nik]
    station.close()
    assert shown
    assert shown[0].clerk == CLERK


def test_unknown_resident_not_found(client):
    assert client.get("/resident/1571000000000000").status_code == 404
    assert client.get("/resident/..%2F..%2Fetc").status_code == 404


def test_photo_accepted_and_served(client, web):
    nik = web.residents[0].nik

    response = upload(client, nik, portrait_jpeg(seed=4, size=(960, 1280)))

    assert response.status_code == 303
    assert response.headers["location"].startswith(resident_path(client, nik))
    photo = client.get(f"{resident_path(client, nik)}/photo.jpg")
    assert photo.headers["content-type"] == "image/jpeg"
    assert len(photo.content) <= 12 * 1024
    stored = web.settings.photos_dir / f"{nik}.jpg"
    assert stored.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("image", "english", "indonesian"),
    [
        (lambda: ImageEnhance.Brightness(draw_portrait(seed=1)).enhance(0.2), "too dark", "terlalu gelap"),
        (lambda: Image.linear_gradient("L").resize((480, 640)).convert("RGB"), "No face", "wajah"),
        (lambda: draw_portrait(seed=1, size=(200, 260)), "200x260", "200x260"),
    ],
)
def test_photo_rejection_reason_shown(client, web, image, english, indonesian):
    nik = web.residents[1].nik
    buffer = io.BytesIO()
    image().save(buffer, format="JPEG")

    indonesian_page = upload(client, nik, buffer.getvalue())
    client.get("/?lang=en")
    english_page = upload(client, nik, buffer.getvalue())

    assert indonesian_page.status_code == 422
    assert indonesian in indonesian_page.text
    assert english in english_page.text
    assert not (web.settings.photos_dir / f"{nik}.jpg").exists()


def test_issue_needs_photo(client, web):
    response = issue(client, web.residents[5].nik)

    assert response.status_code == 409
    assert 'id="issue-error"' in response.text


def test_issue_qr_only_card_and_preview(client, web):
    nik = web.residents[0].nik
    upload(client, nik, portrait_jpeg(seed=2))

    response = issue(client, nik)

    assert response.status_code == 303
    card_url = response.headers["location"]
    card_number = card_url.rsplit("/", 1)[1]
    page = client.get(card_url).text
    assert web.residents[0].name in page
    preview = client.get(f"{card_url}/preview.png")
    assert preview.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(preview.content)) as image:
        assert image.width > image.height
    pdf = client.get(f"{card_url}/face.pdf")
    assert pdf.content.startswith(b"%PDF-")
    assert card_number in client.get(resident_path(client, nik)).text


def test_second_issue_refused(client, web):
    nik = web.residents[0].nik
    upload(client, nik, portrait_jpeg(seed=2))
    assert issue(client, nik).status_code == 303

    response = issue(client, nik)

    assert response.status_code == 409
    assert "reissue" in response.text


def test_issued_resident_leaves_queue(client, web):
    resident = web.residents[0]
    upload(client, resident.nik, portrait_jpeg(seed=2))
    issue(client, resident.nik)

    page = client.get("/").text

    assert resident.name not in page


def test_print_without_queue_configured(client, web):
    nik = web.residents[0].nik
    upload(client, nik, portrait_jpeg(seed=2))
    card_url = issue(client, nik).headers["location"]

    page = client.get(card_url).text

    assert 'id="no-printer"' in page
    assert 'id="print"' not in page


def test_unknown_card_not_found(client):
    assert client.get("/card/1571000000000000").status_code == 404
    assert client.get("/card/1571000000000000/face.pdf").status_code == 404


def test_batches_page_without_batches(client):
    page = client.get("/batches")

    assert page.status_code == 200
    assert 'id="no-batches"' in page.text


def test_security_headers(client):
    response = client.get("/")

    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def run_serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kartu")
    parser.add_argument("--lang", default="en")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_commands(commands)
    args = parser.parse_args(["--lang", "en", "serve", *argv])
    return args.handler(args)


def test_serve_rejects_non_loopback_host(web, capsys):
    argv = ["--station", str(web.settings.station_dir), "--register", str(web.settings.register),
            "--clerk", CLERK, "--host", "0.0.0.0"]

    assert run_serve(argv) == 2
    assert "loopback" in capsys.readouterr().err


def test_serve_rejects_invalid_print_queue(web, capsys):
    argv = ["--station", str(web.settings.station_dir), "--register", str(web.settings.register),
            "--clerk", CLERK, "--print-queue", "-o evil"]

    assert run_serve(argv) == 2
    assert "Invalid print queue name" in capsys.readouterr().err


def test_serve_needs_clerk(web, capsys):
    argv = ["--station", str(web.settings.station_dir), "--register", str(web.settings.register)]

    assert run_serve(argv) == 2
    assert "clerk" in capsys.readouterr().err


def test_camera_button_hidden_without_camera(client, web):
    page = client.get(resident_path(client, web.residents[0].nik)).text

    assert 'id="camera"' not in page


def test_missing_camera_reported(web):
    settings = dataclasses.replace(web.settings, camera="/dev/video-absent")
    nik = web.residents[0].nik
    with TestClient(create_app(settings, guard_for(PORT)), base_url=BASE) as camera_client:
        camera_client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(camera_client, nik)
        page = camera_client.get(f"{path}?lang=en").text
        assert 'id="camera"' in page

        response = camera_client.post(f"{path}/camera", data={"csrf": form_token(page)})

    assert response.status_code == 422
    assert "/dev/video-absent" in response.text
    assert not (settings.photos_dir / f"{nik}.jpg").exists()


@pytest.mark.skipif(subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode != 0,
                    reason="pcscd is not running")
def test_missing_reader_reported_no_card_used(web):
    settings = dataclasses.replace(web.settings, qr_only=False, reader="Kartu Test Reader That Is Not There")
    nik = web.residents[0].nik
    with TestClient(create_app(settings, guard_for(PORT)), base_url=BASE) as chip_client:
        chip_client.get(f"/login?token={TEST_TOKEN}")
        upload(chip_client, nik, portrait_jpeg(seed=2))

        response = issue(chip_client, nik)

    assert response.status_code == 503
    assert 'id="issue-error"' in response.text
    station = Station(settings.station_dir)
    try:
        failed = audit.entries(station.journal, action="failed")
        cards = station.journal.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
    finally:
        station.close()
    assert failed == []
    assert cards == 0


def test_screenshots_kept_out_of_tree(tmp_path):
    from tests.conftest import DOCS_SCREENSHOTS, screenshot_directory

    assert screenshot_directory(tmp_path, {}) == tmp_path
    assert screenshot_directory(tmp_path, {"KARTU_UPDATE_SCREENSHOTS": "0"}) == tmp_path
    assert screenshot_directory(tmp_path, {"KARTU_UPDATE_SCREENSHOTS": "1"}) == DOCS_SCREENSHOTS
