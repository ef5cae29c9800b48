"""The web UI personalising a chip card in the virtual reader, through pyscard, pcscd and vpcd."""

import re

import pytest
from fastapi.testclient import TestClient

from card.piv import ObjectId
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import PcscContext
from hardware.vpcd import VpcdBridge
from issuance import pending
from issuance.illustrated import portrait_jpeg
from issuance.station import Station
from issuance.web.actions import StationSettings
from issuance.web.app import create_app
from tests.conftest import READER
from tests.issuance.test_web_app import resident_path
from tests.issuance.web_support import TEST_TOKEN, guard_for, make_web_station

pytestmark = pytest.mark.usefixtures("pcsc_available")

CARD_WAIT_SECONDS = 10


@pytest.fixture
def blank_card(tmp_path):
    card = ReferenceCard(CardState.open(tmp_path / "card.json"))
    bridge = VpcdBridge(card, ATR).start()
    with PcscContext() as context:
        context.wait_for_card(READER, CARD_WAIT_SECONDS)
    yield card
    bridge.stop()
    # The next test's card must not meet this one still listed in the reader.
    with PcscContext() as context:
        context.wait_for_removal(READER, CARD_WAIT_SECONDS)


def chip_settings(settings: StationSettings) -> StationSettings:
    return StationSettings(
        station_dir=settings.station_dir, register=settings.register, clerk=settings.clerk,
        faces_dir=settings.faces_dir, photos_dir=settings.photos_dir, reader=READER, qr_only=False,
        card_timeout=CARD_WAIT_SECONDS,
    )


def test_issue_writes_accepted_photo_to_chip(tmp_path, blank_card):
    web = make_web_station(tmp_path)
    settings = chip_settings(web.settings)
    nik = web.residents[0].nik
    with TestClient(create_app(settings, guard_for(8481)), base_url="http://127.0.0.1:8481") as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, nik)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text).group(1)
        client.post(f"{path}/photo", data={"csrf": token},
                    files={"photo": ("camera.jpg", portrait_jpeg(seed=8, size=(960, 1280)))})
        accepted = client.get(f"{path}/photo.jpg").content

        response = client.post(f"{path}/issue", data={"csrf": token}, follow_redirects=False)

    assert response.status_code == 303
    card_number = response.headers["location"].rsplit("/", 1)[1]
    stored = {object_id.lower(): value for object_id, value in blank_card.state.objects.items()}
    facial_image = stored[f"{int(ObjectId.FACIAL_IMAGE):06x}"]
    assert accepted in facial_image
    station = Station(settings.station_dir)
    try:
        row = station.journal.execute("SELECT assurance FROM cards WHERE card_number = ?", (card_number,)).fetchone()
        registrations = [call.card_number for call in pending.pending_calls(station.journal)]
    finally:
        station.close()
    assert row == ("chip",)
    assert registrations == [card_number]


def test_chip_batch_from_ui_writes_portrait(tmp_path, blank_card):
    web = make_web_station(tmp_path)
    settings = chip_settings(web.settings)
    nik = web.residents[3].nik
    with TestClient(create_app(settings, guard_for(8481)), base_url="http://127.0.0.1:8481") as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, nik)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text).group(1)
        client.post(f"{path}/photo", data={"csrf": token},
                    files={"photo": ("camera.jpg", portrait_jpeg(seed=9, size=(960, 1280)))})
        accepted = client.get(f"{path}/photo.jpg").content

        started = client.post("/batches", data={"csrf": token}, follow_redirects=False)
        assert client.app.state.batch_runner.wait(60)
        page = client.get(started.headers["location"]).text

    assert started.status_code == 303
    assert f"{len(web.residents) - 1} penduduk tanpa foto" in page
    assert "1/1" in page
    stored = {object_id.lower(): value for object_id, value in blank_card.state.objects.items()}
    assert accepted in stored[f"{int(ObjectId.FACIAL_IMAGE):06x}"]
    station = Station(settings.station_dir)
    try:
        cards = [(card.nik, card.assurance) for card in station.cards()]
        registrations = len(pending.pending_calls(station.journal))
    finally:
        station.close()
    assert cards == [(nik, "chip")]
    assert registrations == 1
