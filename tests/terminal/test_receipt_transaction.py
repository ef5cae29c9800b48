"""The receipt row is written in the hand-over's transaction; service point name and kelurahan come from enrolment."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from card.keys import save_public_key
from issuance.regions import KELURAHAN
from terminal.enrol import enrol_terminal, open_terminal
from terminal.receipt import Receipt, render_receipt
from terminal.receipt_cli import ReceiptPrinter, attach_receipts
from terminal.printer import parse_printer_spec
from terminal.receipt_queue import ReceiptQueue
from terminal.store import EntitlementSet
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal, qr_card
from tests.terminal.live_server import live_server

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


def test_hand_over_adds_receipt(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    service = TapService(store, signer)
    attach_receipts(service, ReceiptPrinter(parse_printer_spec("file:/dev/null")))
    outcome = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    receipt = ReceiptQueue(store).find(outcome.record_id)
    assert receipt is not None
    assert receipt.number == 1
    assert (receipt.remaining, receipt.unit, receipt.quantity) == (2, "tabung", 1)
    assert receipt.card_number == issued.card_number


def test_no_printer_no_receipt(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    service = TapService(store, signer)
    attach_receipts(service, None)
    outcome = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    assert ReceiptQueue(store).find(outcome.record_id) is None


def test_failed_receipt_rolls_back_hand_over(station, residents, tmp_path) -> None:
    """The receipt and the record commit together: a failing receipt insert leaves neither."""
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    service = TapService(store, signer)
    queue = ReceiptQueue(store)

    def add_then_fail(db, record, remaining, unit) -> None:
        queue.add_in_transaction(db, record, remaining, unit)
        raise sqlite3.OperationalError("disk I/O error")

    service.on_record = add_then_fail
    with pytest.raises(sqlite3.OperationalError):
        service.scan_qr(issued.qr_text, "lpg", NOW)
    assert store.count_by_status() == {}
    assert store.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == 0


def test_receipt_without_kelurahan_from_old_row() -> None:
    """A receipt stored before the kelurahan field existed still loads, and prints no kelurahan row."""
    values = {"record_id": "r", "terminal_id": "TRM-1", "service_point": "#1", "card_number": "1571000000012344",
              "program": "lpg", "quantity": 1, "unit": "tabung", "remaining": 2, "tapped_at": int(NOW.timestamp())}
    receipt = Receipt.from_json(3, values)
    assert receipt.kelurahan is None
    assert b"Kelurahan" not in render_receipt(receipt, "id")


def test_receipt_folds_names_to_ascii() -> None:
    receipt = Receipt(number=1, record_id="r", terminal_id="TRM-1", service_point="Agen Sélat Ñusa",
                      card_number="1571000000012344", program="lpg", quantity=1, unit="tabung", remaining=2,
                      tapped_at=int(NOW.timestamp()), kelurahan="Kenali Asam Atas")
    text = render_receipt(receipt, "id").decode("ascii")
    assert "Agen Selat Nusa" in text
    assert "Kenali Asam Atas" in text


def test_enrolment_names_service_point_on_receipt(station, residents, tmp_path) -> None:
    kelurahan = KELURAHAN[0]
    issued = qr_card(station, residents[1])
    issuer_file = tmp_path / "issuer.pem"
    save_public_key(station.issuer.public_key, issuer_file)
    with live_server(tmp_path) as kit:
        service_point_id = kit.service_point()
        response = kit.admin.put(f"/api/v1/service-points/{service_point_id}/kelurahan",
                                 json={"kelurahan": kelurahan.code})
        assert response.status_code == 200, response.text
        enrol_terminal(tmp_path / "terminal", kit.live.base_url, kit.enrolment_code(service_point_id),
                       [issuer_file], "Kasir 1").close()
    store, signer = open_terminal(tmp_path / "terminal")
    assert store.get_meta("service_point_name") == "Agen LPG Talang Banjar"
    assert store.get_meta("service_point_kelurahan") == kelurahan.name

    store.replace_entitlements([(EntitlementSet("lpg", "2026-12", 3, "tabung", 0), {issued.household_id: 0})],
                               pulled_at=0)
    service = TapService(store, signer)
    attach_receipts(service, ReceiptPrinter(parse_printer_spec("file:/dev/null")))
    outcome = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted, outcome.decision.message_en
    receipt = ReceiptQueue(store).find(outcome.record_id)
    assert receipt.service_point == "Agen LPG Talang Banjar"
    assert receipt.kelurahan == kelurahan.name
    text = render_receipt(receipt, "id").decode("ascii")
    assert "Agen LPG Talang Banjar" in text
    assert kelurahan.name in text
    assert "#" not in text
