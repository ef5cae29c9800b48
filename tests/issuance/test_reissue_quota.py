"""Reissue against a live server: the old card is revoked at once and the household's quota use carries over."""

from __future__ import annotations

from datetime import date

import pytest

from card.revocation import decode_revocation_list, serial_of
from issuance import pending
from issuance.batch import Registration, issue_card
from issuance.reissue import reissue
from server.fields import decode_base64, encode_base64
from card.keys import spki_of
from tests.card.trust_kit import City
from tests.issuance.station_support import CLERK, residents, station, station_dir  # noqa: F401 (fixtures)
from tests.server.conftest import IssuedCard, database_url, kit, live, postgres_database  # noqa: F401 (fixtures)

# The live server's clock reads 2026-03-15 WIB; a revocation may not start after the server's today.
TODAY = date(2026, 3, 15)


@pytest.fixture
def trusted_kit(kit):
    """A live server with a pinned root, a trust list and the city's sync key, so it can revoke cards."""
    city = City()
    pinned = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})
    assert pinned.status_code == 201, pinned.text
    uploaded = kit.admin.put("/api/v1/trust/list", json={"trust_list": encode_base64(city.trust_list(1))})
    assert uploaded.status_code == 201, uploaded.text
    kit.live.app.state.sync_signer = city.sync
    kit.city = city
    return kit


def _used(kit, terminal, household_id: bytes) -> int | None:
    rows = {row["household_id"]: row["used"] for row in kit.pulled(terminal)["households"]}
    return rows.get(household_id.hex())


def test_reissue_revokes_and_carries_quota(trusted_kit, station, residents):
    kit = trusted_kit
    registration = Registration(kit.live.base_url, kit.live.admin_token)
    # LPG goes to households in DTSEN desil 1 to 4.
    resident = next(resident for resident in residents if resident.desil <= 4)
    old = issue_card(station, resident, None, TODAY, CLERK).card
    assert pending.send_pending(station.journal, registration.server_url, registration.admin_token, CLERK).left == 0

    terminal = kit.enrol_terminal()
    old_at_terminal = IssuedCard(old.card_number, old.household_id, "qr", None)
    pushed = kit.push(terminal, [kit.record(terminal, old_at_terminal, quantity=2)])
    assert len(pushed.json()["accepted"]) == 1, pushed.text
    assert _used(kit, terminal, old.household_id) == 2

    result = reissue(station, old.card_number, resident, "lost", CLERK, None, TODAY, registration)
    assert result.revoked_on_server, result.revocation_error
    assert result.registered, result.registration_error
    new = result.issued.card

    # The household keeps its use this period, and the new card adds to it.
    assert _used(kit, terminal, old.household_id) == 2
    new_at_terminal = IssuedCard(new.card_number, new.household_id, "qr", None)
    pushed = kit.push(terminal, [kit.record(terminal, new_at_terminal, quantity=1)])
    assert len(pushed.json()["accepted"]) == 1, pushed.text
    assert _used(kit, terminal, old.household_id) == 3

    # Terminals get the old card in the revocation list at their next sync.
    full = terminal.client.get("/api/v1/trust/revocations/full")
    assert full.status_code == 200, full.text
    revoked = decode_revocation_list(decode_base64(full.json()["full"]), {kit.city.sync.kid: kit.city.sync.public_key})
    assert serial_of(old.card_number) in revoked.added
    assert serial_of(new.card_number) not in revoked.added


def test_revocation_retry_after_lost_answer(trusted_kit, station, residents):
    """A revocation the server applied but whose response was lost is done on the next send."""
    kit = trusted_kit
    old = issue_card(station, residents[0], None, TODAY, CLERK).card
    assert pending.send_pending(station.journal, kit.live.base_url, kit.live.admin_token, CLERK).left == 0
    response = kit.admin.post(f"/api/v1/cards/{old.card_number}/revocation", json={"reason": "lost"})
    assert response.status_code == 201, response.text

    pending.journal_revocation(station.journal, old.card_number, "lost", TODAY.isoformat())
    report = pending.send_pending(station.journal, kit.live.base_url, kit.live.admin_token, CLERK)
    assert [call.kind for call in report.sent] == [pending.REVOCATION]
    assert report.left == 0


def test_reissue_command_with_server(trusted_kit, station_dir, tmp_path, capsys):
    """The clerk reissues from the server's record: old card revoked, new card registered, queue empty.

    The station dates the revocation today, after the server's clock (2026-03-15), so the server
    rejects the date and the station revokes again from the server's date.
    """
    from issuance.queue import server_resident
    from tests.issuance.station_support import open_station, run_cli
    from tests.server.register_support import FAMILY, HEAD, HOUSEHOLD_KEY, csv_bytes

    kit = trusted_kit
    (station_dir / "household.key").write_bytes(HOUSEHOLD_KEY)
    kit.live.app.state.household_key = HOUSEHOLD_KEY
    imported = kit.admin.post("/api/v1/register/imports", params={"filename": "register.csv"},
                              content=csv_bytes(FAMILY), headers={"Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    resident = server_resident(kit.live.base_url, kit.live.admin_token, HEAD["NIK"]).resident
    station = open_station(station_dir)
    try:
        old = issue_card(station, resident, None, TODAY, CLERK).card
        assert pending.send_pending(station.journal, kit.live.base_url, kit.live.admin_token, CLERK).left == 0
    finally:
        station.close()
    assert kit.admin.get("/api/v1/issuance/queue").json()["count"] == 0

    token_file = tmp_path / "admin.token"
    token_file.write_text(kit.live.admin_token)
    token_file.chmod(0o600)
    argv = ["issuance", "reissue", "--station", str(station_dir), "--server", kit.live.base_url,
            "--admin-token-file", str(token_file), "--qr-only", "--card", old.card_number, "--nik", HEAD["NIK"],
            "--reason", "stolen", "--clerk", CLERK, "--faces", str(tmp_path / "faces")]
    assert run_cli(argv) == 0
    output = capsys.readouterr().out
    assert f"card {old.card_number} revoked on the server" in output
    assert "NOT" not in output
    assert kit.admin.get("/api/v1/issuance/queue").json()["count"] == 0
    assert kit.stats()["cards"] == 2
