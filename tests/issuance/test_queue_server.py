"""GET /api/v1/issuance/queue on a live server, and the station reading it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from card.keys import spki_of
from issuance.queue import server_queue
from issuance.server_client import RegistrationError
from server.fields import encode_base64
from server.models_people import AuditEntry
from tests.card.trust_kit import City
from issuance import audit
from tests.issuance.station_support import open_station, residents, run_cli, station_dir  # noqa: F401 (fixtures)
from tests.server.conftest import database_url, kit, live, postgres_database  # noqa: F401 (fixtures)
from tests.server.register_support import ELDER, FAMILY, HEAD, HOUSEHOLD_KEY, WIFE, csv_bytes, household_of

QUEUE = "/api/v1/issuance/queue"


def _import(kit, rows: list[dict], keyed: bool = True) -> None:
    kit.live.app.state.household_key = HOUSEHOLD_KEY if keyed else None
    response = kit.admin.post("/api/v1/register/imports", params={"filename": "register.csv"},
                              content=csv_bytes(rows), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text


def _register_card(kit, household: bytes) -> str:
    return kit.register_card(household_id=household, assurance="qr").number


def test_queue_lists_household_head(kit):
    _import(kit, FAMILY)
    response = kit.admin.get(QUEUE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 1
    assert body["unmatched_households"] == 0
    [row] = body["residents"]
    assert (row["nik"], row["kk"], row["reason"]) == (HEAD["NIK"], HEAD["NO_KK"], "new")
    assert (row["kelurahan_code"], row["kelurahan"].upper(), row["kecamatan"].upper()) == (
        "1571011002", "KENALI ASAM BAWAH", "KOTA BARU",
    )


def test_queue_oldest_member_without_head(kit):
    _import(kit, [WIFE])
    [row] = kit.admin.get(QUEUE).json()["residents"]
    assert row["nik"] == WIFE["NIK"]


def test_queue_leaves_out_carded_household(kit):
    _import(kit, FAMILY + [ELDER])
    _register_card(kit, household_of(HEAD))
    niks = [row["nik"] for row in kit.admin.get(QUEUE).json()["residents"]]
    assert HEAD["NIK"] not in niks
    assert niks == [ELDER["NIK"]]


def _revoke_on_server(kit) -> str:
    """Import FAMILY, register a card to its household, revoke it, and return its number."""
    _import(kit, FAMILY)
    number = _register_card(kit, household_of(HEAD))
    city = City()
    assert kit.admin.put("/api/v1/trust/root",
                         json={"public_key": encode_base64(spki_of(city.root.public_key))}).status_code == 201
    assert kit.admin.put("/api/v1/trust/list",
                         json={"trust_list": encode_base64(city.trust_list(1))}).status_code == 201
    kit.live.app.state.sync_signer = city.sync
    revoked = kit.admin.post(f"/api/v1/cards/{number}/revocation", json={"reason": "hilang"})
    assert revoked.status_code == 201, revoked.text
    return number


def test_queue_revoked_card_is_reissue(kit):
    number = _revoke_on_server(kit)
    [row] = kit.admin.get(QUEUE).json()["residents"]
    assert (row["nik"], row["reason"]) == (HEAD["NIK"], "reissue")
    assert row["revoked_card"] == number


def test_queue_new_household_has_no_revoked_card(kit):
    _import(kit, FAMILY)
    [row] = kit.admin.get(QUEUE).json()["residents"]
    assert row["reason"] == "new"
    assert row["revoked_card"] is None


def test_station_queue_carries_old_card(kit):
    number = _revoke_on_server(kit)
    [entry] = server_queue(kit.live.base_url, kit.live.admin_token)
    assert entry.reason == "reissue"
    assert entry.old_card == number


def test_lookup_names_revoked_card(kit):
    number = _revoke_on_server(kit)
    response = kit.admin.post("/api/v1/issuance/residents/lookup", json={"nik": HEAD["NIK"]})
    assert response.json()["revoked_card"] == number


def test_batch_issues_queued_reissue(kit, station_dir, tmp_path, capsys):
    number = _revoke_on_server(kit)
    token_file = tmp_path / "admin.token"
    token_file.write_text(kit.live.admin_token)
    token_file.chmod(0o600)
    argv = ["issuance", "batch", "--station", str(station_dir), "--server", kit.live.base_url,
            "--admin-token-file", str(token_file), "--qr-only", "--clerk", "Rina"]
    assert run_cli(argv) == 0, capsys.readouterr()
    assert "1 cards issued, 0 failed, 0 not yet registered" in capsys.readouterr().out

    station = open_station(station_dir)
    try:
        [(old_card, new_card, nik)] = station.journal.execute("SELECT old_card, new_card, nik FROM reissues").fetchall()
        [entry] = audit.entries(station.journal, action="reissue")
    finally:
        station.close()
    assert old_card == number
    assert nik == HEAD["NIK"]
    assert entry.card_number == new_card
    assert number in entry.detail
    assert kit.admin.get(f"/api/v1/cards/{new_card}").status_code == 200


def test_queue_counts_unkeyed_households(kit):
    _import(kit, FAMILY, keyed=False)
    body = kit.admin.get(QUEUE).json()
    assert body["residents"] == []
    assert body["unmatched_households"] == 1


def test_queue_limit(kit):
    _import(kit, FAMILY + [ELDER])
    body = kit.admin.get(QUEUE, params={"limit": 1}).json()
    assert body["count"] == 1
    assert len(body["residents"]) == 1
    assert kit.admin.get(QUEUE, params={"limit": 0}).status_code == 422


def test_queue_needs_admin(kit):
    _import(kit, FAMILY)
    response = kit.anonymous.get(QUEUE)
    assert response.status_code == 401
    assert "residents" not in response.text


def test_queue_reads_are_audited(kit):
    _import(kit, FAMILY)
    kit.admin.get(QUEUE)
    with Session(kit.live.app.state.engine) as session:
        subjects = session.scalars(select(AuditEntry.subject_id).where(AuditEntry.request.like("%issuance/queue%")))
        assert list(subjects) == [HEAD["NIK"]]


def test_station_reads_server_queue(kit):
    _import(kit, FAMILY)
    [entry] = server_queue(kit.live.base_url, kit.live.admin_token)
    assert entry.resident.nik == HEAD["NIK"]
    assert entry.resident.kk == HEAD["NO_KK"]
    assert entry.reason == "new"


def test_queue_command_from_server(kit, station_dir, tmp_path, capsys):
    _import(kit, FAMILY)
    token_file = tmp_path / "admin.token"
    token_file.write_text(kit.live.admin_token)
    token_file.chmod(0o600)
    argv = ["issuance", "queue", "--station", str(station_dir), "--server", kit.live.base_url,
            "--admin-token-file", str(token_file)]
    assert run_cli(argv) == 0
    output = capsys.readouterr().out
    assert HEAD["NAMA"] in output
    assert "1 residents waiting" in output


def test_station_queue_rejected_token(kit):
    with pytest.raises(RegistrationError, match="401"):
        server_queue(kit.live.base_url, "x" * 40)


LOOKUP = "/api/v1/issuance/residents/lookup"


def test_lookup_finds_resident(kit):
    _import(kit, FAMILY)
    response = kit.admin.post(LOOKUP, json={"nik": WIFE["NIK"]})
    assert response.status_code == 200, response.text
    assert (response.json()["nik"], response.json()["reason"]) == (WIFE["NIK"], "new")


def test_lookup_carded_household_is_reissue(kit):
    _import(kit, FAMILY)
    _register_card(kit, household_of(HEAD))
    assert kit.admin.post(LOOKUP, json={"nik": HEAD["NIK"]}).json()["reason"] == "reissue"


def test_lookup_unknown_nik(kit):
    _import(kit, FAMILY)
    response = kit.admin.post(LOOKUP, json={"nik": ELDER["NIK"]})
    assert response.status_code == 404
    assert "import the register" in response.json()["detail"]


@pytest.mark.parametrize("nik", ["157101010180000", "1571.01E+15", 1571010101800001])
def test_lookup_invalid_nik(kit, nik):
    assert kit.admin.post(LOOKUP, json={"nik": nik}).status_code == 422


def test_lookup_needs_admin(kit):
    _import(kit, FAMILY)
    response = kit.anonymous.post(LOOKUP, json={"nik": HEAD["NIK"]})
    assert response.status_code == 401
    assert HEAD["NAMA"] not in response.text


def test_station_lookup_unknown(kit):
    from issuance.queue import QueueError, server_resident

    _import(kit, FAMILY)
    with pytest.raises(QueueError, match=ELDER["NIK"]):
        server_resident(kit.live.base_url, kit.live.admin_token, ELDER["NIK"])
