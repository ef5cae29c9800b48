"""Chip cards get the resident's accepted portrait from STATION/photos, and none is written without one."""

from __future__ import annotations

import io
from datetime import date

import pytest

from card.piv import ObjectId
from hardware.pcsc import NoCard
from issuance import audit, pending
from issuance.batch import create_batch, issue_card, run_batch
from issuance.photo import placeholder_photo
from issuance.photo_store import PHOTOS_DIR, PhotoMissingError, photo_path, store_photo
from issuance.reissue import reissue
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, BlankCardSlot, entries_of, residents, station, station_dir,
)

ISSUED = date(2026, 12, 1)


class CountingEmptySlot:
    """A chip card slot that records which items asked for a card, and never gets one."""

    def __init__(self):
        self.asked: list[int] = []

    def __call__(self, entry):
        self.asked.append(entry.position)
        raise NoCard("timeout", seconds=1)


def _forget_photo(station, nik: str) -> None:
    photo_path(station.directory / PHOTOS_DIR, nik).unlink()


def _states(station, batch_id: int) -> list[str]:
    rows = station.journal.execute("SELECT state FROM batch_items WHERE batch_id = ? ORDER BY position", (batch_id,))
    return [state for (state,) in rows]


def test_chip_item_without_photo_fails_before_card(station, residents):
    _forget_photo(station, residents[0].nik)
    slot = CountingEmptySlot()
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=False)

    report = run_batch(station, batch_id, CLERK, ISSUED, station.directory / "faces", slot, None, io.StringIO(), "en")

    assert slot.asked == [2]
    assert _states(station, batch_id) == ["failed", "pending"]
    assert [position for position, _ in report.failed] == [1]
    assert "no accepted photo" in report.failed[0][1]
    assert "No card was written" in report.failed[0][1]
    assert audit.entries(station.journal, action="failed") == []


def test_qr_batch_needs_no_photo(station, residents):
    _forget_photo(station, residents[0].nik)
    batch_id = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=True)

    report = run_batch(station, batch_id, CLERK, ISSUED, station.directory / "faces", None, None, io.StringIO(), "en")

    assert len(report.issued) == 1
    assert report.failed == []


def test_issue_card_without_photo_raises(station, residents):
    _forget_photo(station, residents[0].nik)
    not_a_card = object()

    with pytest.raises(PhotoMissingError) as raised:
        issue_card(station, residents[0], not_a_card, ISSUED, CLERK)

    assert "foto" in raised.value.message("id")
    assert station.cards() == []
    assert audit.entries(station.journal, action="failed") == []


def test_chip_reissue_without_photo_revokes_nothing(station, residents):
    old = issue_card(station, residents[0], None, ISSUED, CLERK).card
    _forget_photo(station, residents[0].nik)

    with pytest.raises(PhotoMissingError):
        reissue(station, old.card_number, residents[0], "lost", CLERK, object(), ISSUED, None)

    kinds = [call.kind for call in pending.pending_calls(station.journal)]
    assert kinds == [pending.REGISTRATION]


@pytest.mark.usefixtures("pcsc_available")
def test_chip_card_gets_accepted_portrait(station, residents, pcsc, tmp_path):
    accepted = placeholder_photo(residents[0].name, seed=7)
    store_photo(station.directory / PHOTOS_DIR, residents[0].nik, accepted)
    slot = BlankCardSlot(pcsc, tmp_path)
    batch_id = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=False)

    report = run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", slot, None, io.StringIO(), "en")

    assert len(report.issued) == 1
    stored = {object_id.lower(): value for object_id, value in slot.cards[1].state.objects.items()}
    facial_image = stored[f"{int(ObjectId.FACIAL_IMAGE):06x}"]
    assert accepted in facial_image
    default = placeholder_photo(residents[0].name, seed=int(residents[0].nik[-4:]))
    assert default not in facial_image
