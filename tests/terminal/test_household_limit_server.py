"""Entitled persons pulled from a real server: two pupils of one household served, an invalid count never applied."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

import server.entitlement_sets
from card.decision import Reason
from issuance.register import Resident
from server.entitlements import HouseholdEntitlement
from terminal.enrol import open_terminal
from terminal.store import MAX_PERSONS
from terminal.sync import SyncError
from terminal.tap import TapService
from tests.server.register_support import CHILD, HEAD, KK, WIFE, csv_bytes
from tests.terminal.live_server import enrol, live_server, register_qr_cards, sync

# A second pupil of the same household, at primary school.
SIBLING = {**CHILD, "NIK": "1571015203150001", "NAMA": "DEWI SANTOSO", "TANGGAL_LAHIR": "2015-03-12",
           "JENIS_KELAMIN": "P", "SEKOLAH": "SD"}
PUPILS = [{**CHILD, "SEKOLAH": "SMP"}, SIBLING]


def pupil(row: dict) -> Resident:
    """Return the issuance station's view of a register row, so its card carries the register's household."""
    return Resident(
        nik=row["NIK"], kk=KK, name=row["NAMA"], birth_date=date.fromisoformat(row["TANGGAL_LAHIR"]),
        sex=row["JENIS_KELAMIN"], address=row["ALAMAT"], kelurahan=row["KELURAHAN"], kelurahan_code="1571011002",
        kecamatan=row["KECAMATAN"], desil=int(row["DESIL"]), relationship=row["HUBUNGAN_KELUARGA"],
    )


def scan(directory, qr_text: str):
    store, signer = open_terminal(directory)
    try:
        return TapService(store, signer).scan_qr(qr_text, "beasiswa", datetime.now(timezone.utc))
    finally:
        store.close()


def test_two_pupils_served_after_sync(station, tmp_path) -> None:
    directory = tmp_path / "terminal"
    with live_server(tmp_path) as kit:
        kit.live.app.state.household_key = station.household_key
        imported = kit.admin.post("/api/v1/register/imports",
                                  content=csv_bytes([HEAD, WIFE, *PUPILS], extra=("PEKERJAAN", "SEKOLAH")))
        assert imported.status_code == 200, imported.text
        assert imported.json()["errors"] == []
        cards = register_qr_cards(kit, station, [pupil(row) for row in PUPILS])
        enrol(kit, station, directory, programmes=("beasiswa",)).close()
        sync(directory)

        first = scan(directory, cards[0].qr_text)
        second = scan(directory, cards[1].qr_text)
        sync(directory)
        after_sync = scan(directory, cards[0].qr_text)

    store, _signer = open_terminal(directory)
    usage = store.quota_usage("beasiswa", cards[0].household_id, store.entitlement_set("beasiswa").period)
    assert first.decision.accepted, first.decision.message_en
    assert first.remaining == 1
    assert second.decision.accepted, second.decision.message_en
    assert after_sync.decision.reason is Reason.QUOTA_EXCEEDED
    assert (usage.used_at_sync, usage.persons, usage.limit) == (2, 2, 2)
    assert store.count_by_status() == {"acked": 2}


def held(directory) -> tuple[int, dict[str, dict[bytes, int]]]:
    """Return the store's generation and every cached household's use, by programme."""
    store, _signer = open_terminal(directory)
    try:
        use: dict[str, dict[bytes, int]] = {}
        for program, household, used in store.execute("SELECT program, household_id, used FROM entitlements"):
            use.setdefault(program, {})[household] = used
        return store.generation, use
    finally:
        store.close()


@pytest.mark.parametrize("persons", [0, MAX_PERSONS + 1, 2**40])
def test_invalid_persons_pull_not_applied(station, residents, tmp_path, monkeypatch, persons) -> None:
    directory = tmp_path / "terminal"
    entitled = server.entitlement_sets.household_entitlements

    def faulty(session, programme, now):
        """Compute the entitlements as the server does, and add a scholarship household with an invalid count."""
        households = entitled(session, programme, now)
        if programme.code != "beasiswa":
            return households
        return [HouseholdEntitlement(bytes(8), 0, persons, None, None), *households]

    with live_server(tmp_path) as kit:
        register_qr_cards(kit, station, residents[:1])
        enrol(kit, station, directory, programmes=("beasiswa", "lpg")).close()
        sync(directory)
        before = held(directory)
        register_qr_cards(kit, station, residents[1:2])
        monkeypatch.setattr(server.entitlement_sets, "household_entitlements", faulty)
        with pytest.raises(SyncError) as raised:
            sync(directory)

    assert f"persons={persons!r}" in str(raised.value)
    assert "beasiswa" in str(raised.value)
    assert len(before[1]["lpg"]) == 1
    assert held(directory) == before
