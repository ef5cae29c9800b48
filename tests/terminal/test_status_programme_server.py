"""BPJS PBI pulled from a real server: a status programme with quota 0 serves its households while cover lasts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from card.decision import Reason
from card.verify import WIB
from issuance.personalise import issue_qr_only
from terminal.enrol import open_terminal
from terminal.modes import MODES, ModeName, household_standing
from terminal.receipt import receipt_lines
from terminal.receipt_queue import ReceiptQueue
from terminal.tap import TapService
from terminal.web.views import tap_screen
from tests.server.register_support import CHILD, HEAD, WIFE, csv_bytes
from tests.terminal.live_server import ISSUED, enrol, live_server, register_qr_cards
from tests.terminal.test_household_limit_server import pupil, sync

# A resident of another household. The register does not list it and its card is not registered with the
# server, so the pulled PBI set does not list it either.
STRANGER = replace(pupil(HEAD), nik="1571010101800099", kk="1571011506100099", name="JOKO WIDODO")


def set_valid_until(kit, program: str, last_day: date) -> None:
    """Replace the programme's rule on the server, keeping the rest, with cover until last_day."""
    listed = {item["code"]: item for item in kit.admin.get("/api/v1/programmes").json()["programmes"]}[program]
    rule = {"desil_min": listed["desil_min"], "desil_max": listed["desil_max"],
            "pin_required": listed["pin_required"],
            "eligibility": {**listed["eligibility"], "valid_until": last_day.isoformat()}}
    response = kit.admin.put(f"/api/v1/programmes/{program}/rule", json=rule)
    assert response.status_code == 200, response.text


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), WIB)


def test_pbi_holder_served_until_cover_ends(station, tmp_path) -> None:
    directory = tmp_path / "terminal"
    today = datetime.now(WIB).date()
    last_day = today + timedelta(days=20)
    with live_server(tmp_path) as kit:
        kit.live.app.state.household_key = station.household_key
        imported = kit.admin.post("/api/v1/register/imports", content=csv_bytes([HEAD, WIFE, CHILD],
                                                                              extra=("PEKERJAAN", "SEKOLAH")))
        assert imported.status_code == 200, imported.text
        set_valid_until(kit, "pbi", last_day)
        [holder] = register_qr_cards(kit, station, [pupil(HEAD)])
        stranger = issue_qr_only(STRANGER, station, ISSUED)
        enrol(kit, station, directory, programmes=("pbi",)).close()
        sync(directory)

    store, signer = open_terminal(directory)
    assert store.entitlement_set("pbi").quota == 0
    service = TapService(store, signer)
    queue = ReceiptQueue(store)
    service.on_record = queue.add_in_transaction
    first = service.scan_qr(holder.qr_text, "pbi", noon(today))
    second = service.scan_qr(holder.qr_text, "pbi", noon(last_day))
    ended = service.scan_qr(holder.qr_text, "pbi", noon(last_day + timedelta(days=1)))
    not_listed = service.scan_qr(stranger.qr_text, "pbi", noon(today))

    assert first.decision.accepted, first.decision.message_en
    assert first.remaining is None
    assert second.decision.accepted, second.decision.message_en
    assert ended.decision.reason is Reason.STATUS_ENDED
    assert last_day.strftime("%d-%m-%Y") in ended.decision.message_id
    assert "berakhir" in ended.decision.message_id
    assert "ended on" in ended.decision.message_en
    assert not_listed.decision.reason is Reason.NOT_ENTITLED
    quantities = store.execute("SELECT quantity FROM redemptions WHERE program = 'pbi'").fetchall()
    assert quantities == [(1,), (1,)]
    receipt = queue.find(first.record_id)
    assert receipt is not None
    assert receipt.remaining is None
    assert not [line for line in receipt_lines(receipt, "en") if "Quota left" in line]
    clinic = tap_screen(MODES[ModeName.CLINIC], first).render("id")
    assert clinic["accepted"]
    assert clinic["remaining"] == ""

    [covered] = household_standing(store, holder.household_id, noon(today))
    [lapsed] = household_standing(store, holder.household_id, noon(last_day + timedelta(days=1)))
    kiosk = MODES[ModeName.KIOSK]
    on_kiosk = tap_screen(kiosk, first, standings=(covered,)).render("en")["standings"]
    after_end = tap_screen(kiosk, first, standings=(lapsed,)).render("en")["standings"]
    assert on_kiosk == [f"BPJS PBI health cover: covered until {last_day:%d-%m-%Y}"]
    assert after_end == [f"BPJS PBI health cover: cover ended on {last_day:%d-%m-%Y}"]
