"""Uploads and forms without a declared size are cut off once they pass their cap, not buffered in full."""

import asyncio

from fastapi.testclient import TestClient

from issuance.photo import MAX_UPLOAD_BYTES
from issuance.web.app import FORM_MAX_BYTES, UPLOAD_OVERHEAD_BYTES, create_app
from issuance.web.security import COOKIE_NAME
from tests.issuance.test_web_app import BASE, PORT, resident_path
from tests.issuance.web_support import TEST_TOKEN, guard_for, make_web_station

CHUNK = b"\0" * 65536
CAP = MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES


def send_chunked(app, path: str, cookie: str, chunks: int) -> tuple[int, int]:
    """POST chunks of zeros to path with no Content-Length through the ASGI app; return (status, chunks read)."""
    read = 0
    messages = []

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": CHUNK, "more_body": read < chunks}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [
            (b"host", f"127.0.0.1:{PORT}".encode()), (b"cookie", f"{COOKIE_NAME}={cookie}".encode()),
            (b"content-type", b"multipart/form-data; boundary=kartu"), (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", PORT),
    }
    asyncio.run(app(scope, receive, send))
    status = next(message["status"] for message in messages if message["type"] == "http.response.start")
    return status, read


def test_chunked_upload_cut_off_at_cap(tmp_path):
    web = make_web_station(tmp_path, count=2)
    app = create_app(web.settings, guard_for(PORT))
    offered = 4 * CAP // len(CHUNK)
    with TestClient(app, base_url=BASE) as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, web.residents[0].nik)

        status, read = send_chunked(app, f"{path}/photo", client.cookies[COOKIE_NAME], offered)

    assert status == 413
    assert read * len(CHUNK) <= CAP + len(CHUNK)
    assert read < offered


def test_chunked_upload_under_cap_parsed(tmp_path):
    web = make_web_station(tmp_path, count=2)
    app = create_app(web.settings, guard_for(PORT))
    with TestClient(app, base_url=BASE) as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, web.residents[0].nik)

        status, read = send_chunked(app, f"{path}/photo", client.cookies[COOKIE_NAME], 3)

    # The whole body reaches the multipart parser, which rejects zeros as a malformed form.
    assert status == 400
    assert read == 3


def test_chunked_form_cut_off_at_cap(tmp_path):
    web = make_web_station(tmp_path, count=2)
    app = create_app(web.settings, guard_for(PORT))
    offered = 4 * CAP // len(CHUNK)
    with TestClient(app, base_url=BASE) as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, web.residents[0].nik)

        for target in ("/", "/batches", f"{path}/issue"):
            status, read = send_chunked(app, target, client.cookies[COOKIE_NAME], offered)

            assert status == 413, target
            assert read * len(CHUNK) <= FORM_MAX_BYTES + len(CHUNK), target
