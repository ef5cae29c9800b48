"""The station UI records cards as the command line does, and runs batches of the queue with progress."""

import dataclasses
import re
import threading

import pytest
from fastapi.testclient import TestClient

from issuance import audit, batch, pending
from issuance.illustrated import portrait_jpeg
from issuance.queue import QueueEntry
from issuance.reissue import prepare_journal
from issuance.station import Station
from issuance.web.app import create_app
from issuance.web.batch_runner import BatchRunner
from tests.issuance.test_web_app import BASE, PORT, form_token, issue, upload
from tests.issuance.web_support import CLERK, TEST_TOKEN, guard_for, make_web_station

BATCH_SECONDS = 120


@pytest.fixture
def web(tmp_path):
    return make_web_station(tmp_path, count=6)


def open_client(settings):
    client = TestClient(create_app(settings, guard_for(PORT)), base_url=BASE)
    client.__enter__()
    client.get(f"/login?token={TEST_TOKEN}")
    return client


@pytest.fixture
def client(web):
    opened = open_client(web.settings)
    yield opened
    opened.__exit__(None, None, None)


def start_batch(client):
    page = client.get("/").text
    return client.post("/batches", data={"csrf": form_token(page)}, follow_redirects=False)


def runner_of(client) -> BatchRunner:
    return client.app.state.batch_runner


def journal(web):
    station = Station(web.settings.station_dir)
    prepare_journal(station.journal)
    return station


def test_web_card_journalled_for_registration(client, web):
    resident = web.residents[0]
    upload(client, resident.nik, portrait_jpeg(seed=2))

    card_number = issue(client, resident.nik).headers["location"].rsplit("/", 1)[1]

    station = journal(web)
    try:
        calls = pending.pending_calls(station.journal)
        issued = audit.entries(station.journal, action="issue")
    finally:
        station.close()
    assert [(call.kind, call.card_number) for call in calls] == [(pending.REGISTRATION, card_number)]
    assert [(entry.card_number, entry.nik, entry.clerk) for entry in issued] == [(card_number, resident.nik, CLERK)]


def test_batch_issues_whole_queue(client, web):
    response = start_batch(client)

    assert response.status_code == 303
    assert runner_of(client).wait(BATCH_SECONDS)
    page = client.get(response.headers["location"]).text
    batch_id = int(re.search(r"started=(\d+)", response.headers["location"]).group(1))
    assert 'id="batch-started"' in page
    assert f"{len(web.residents)}/{len(web.residents)}" in page
    station = journal(web)
    try:
        cards = station.cards()
        calls = pending.pending_calls(station.journal)
        done = station.journal.execute("SELECT done FROM batches WHERE id = ?", (batch_id,)).fetchone()
    finally:
        station.close()
    assert sorted(card.nik for card in cards) == sorted(resident.nik for resident in web.residents)
    assert {call.card_number for call in calls} == {card.card_number for card in cards}
    assert done == (1,)
    assert f"{len(web.residents)} kartu diterbitkan" in page
    assert client.get("/").text.count("<tr><td>") == 0


def test_chip_batch_leaves_out_residents_without_photo(web):
    settings = dataclasses.replace(web.settings, qr_only=False, reader="Kartu Test Reader That Is Not There")
    client = open_client(settings)
    try:
        response = start_batch(client)
    finally:
        client.__exit__(None, None, None)

    assert response.status_code == 409
    assert 'id="batch-empty"' in response.text
    assert f"{len(web.residents)} penduduk tanpa foto" in response.text


def test_issue_refused_while_batch_runs(client, web, monkeypatch):
    release = threading.Event()
    entered = threading.Event()

    def held_batch(self, station, batch_id, language, out):
        entered.set()
        release.wait(BATCH_SECONDS)
        return batch.BatchReport(batch_id)

    monkeypatch.setattr(BatchRunner, "_run_batch", held_batch)
    resident = web.residents[0]
    upload(client, resident.nik, portrait_jpeg(seed=2))
    assert start_batch(client).status_code == 303
    assert entered.wait(BATCH_SECONDS)
    try:
        refused = issue(client, resident.nik)
        second = start_batch(client)
    finally:
        release.set()
        assert runner_of(client).wait(BATCH_SECONDS)

    assert refused.status_code == 409
    assert 'id="issue-error"' in refused.text
    assert second.status_code == 409
    assert 'id="batch-error"' in second.text


def test_resume_stopped_batch(client, web):
    station = journal(web)
    try:
        entries = [QueueEntry(position, resident) for position, resident in enumerate(web.residents[:2], start=1)]
        batch_id = batch.create_batch(station.journal, entries, CLERK, "register", qr_only=True)
    finally:
        station.close()
    page = client.get("/batches").text
    assert f'id="resume-{batch_id}"' in page

    response = client.post(f"/batches/{batch_id}/resume", data={"csrf": form_token(page)}, follow_redirects=False)

    assert response.status_code == 303
    assert runner_of(client).wait(BATCH_SECONDS)
    assert "2/2" in client.get("/batches").text
    assert client.post("/batches/999/resume", data={"csrf": form_token(page)}).status_code == 404
