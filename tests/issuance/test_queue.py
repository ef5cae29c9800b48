"""The issuance queue: register and server sources, search, lookup, masking, and the queue/show commands."""

from __future__ import annotations

import os
from datetime import date

import httpx
import pytest

from issuance import audit
from issuance.batch import issue_card
from issuance.queue import (
    QueueError, find_entry, mask_number, register_queue, resident_from_dict, resident_to_dict, search, server_queue,
)
from issuance.server_client import RegistrationError, ServerUnreachableError
from issuance.station import JOURNAL
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, entries_of, register_file, residents, run_cli, station, station_dir,
)

SERVER = "http://127.0.0.1:8470"


def test_register_queue_lists_every_resident(station, register_file, residents):
    result = register_queue(register_file, station.journal)
    assert [entry.resident for entry in result.entries] == residents
    assert [entry.position for entry in result.entries] == list(range(1, len(residents) + 1))
    assert result.rejected_rows == 0


def test_register_queue_leaves_out_carded(station, register_file, residents):
    issue_card(station, residents[1], None, date(2026, 12, 1), CLERK)
    niks = [entry.resident.nik for entry in register_queue(register_file, station.journal).entries]
    assert residents[1].nik not in niks
    assert len(niks) == len(residents) - 1


def test_register_queue_missing_file(station, tmp_path):
    with pytest.raises(QueueError, match="cannot read the register"):
        register_queue(tmp_path / "missing.csv", station.journal)


def test_search_by_name_words(residents):
    entries = entries_of(residents)
    target = residents[3]
    words = target.name.split()
    found = search(entries, f"{words[-1].lower()} {words[0]}")
    assert target in [entry.resident for entry in found]
    assert all(words[0] in entry.resident.name for entry in found)


def test_search_by_nik_and_kk_prefix(residents):
    entries = entries_of(residents)
    target = residents[5]
    assert [entry.resident for entry in search(entries, target.nik)] == [target]
    household = [entry.resident for entry in search(entries, target.kk)]
    assert target in household
    assert all(resident.kk == target.kk for resident in household)


def test_search_empty_query_returns_all(residents):
    entries = entries_of(residents)
    assert search(entries, "  ") == entries


def test_find_entry_by_position_and_nik(residents):
    entries = entries_of(residents)
    assert find_entry(entries, "3").resident == residents[2]
    assert find_entry(entries, residents[6].nik).resident == residents[6]
    with pytest.raises(QueueError):
        find_entry(entries, "99")
    with pytest.raises(QueueError):
        find_entry(entries, "1571019999999999")


def test_mask_number_keeps_region_and_tail():
    assert mask_number("1571015203850001") == "157101******0001"
    assert mask_number("12345") == "*****"


def test_resident_dict_round_trip(residents):
    for resident in residents:
        assert resident_from_dict(resident_to_dict(resident)) == resident


def test_resident_dict_missing_field(residents):
    fields = resident_to_dict(residents[0])
    del fields["kk"]
    with pytest.raises(QueueError, match="'kk'"):
        resident_from_dict(fields)


def test_resident_dict_invalid_date(residents):
    fields = resident_to_dict(residents[0]) | {"birth_date": "17/03/1984"}
    with pytest.raises(QueueError, match="invalid field"):
        resident_from_dict(fields)


def _client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_server_queue_parses_entries(residents):
    rows = [resident_to_dict(residents[0]) | {"reason": "new"}, resident_to_dict(residents[1]) | {"reason": "reissue"}]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/issuance/queue"
        assert request.headers["authorization"] == "Bearer secret-token"
        return httpx.Response(200, json={"count": 2, "residents": rows})

    entries = server_queue(SERVER, "secret-token", _client(handler))
    assert [(entry.position, entry.resident, entry.reason) for entry in entries] == [
        (1, residents[0], "new"), (2, residents[1], "reissue"),
    ]


def test_server_queue_unknown_reason(residents):
    row = resident_to_dict(residents[0]) | {"reason": "upgrade"}
    client = _client(lambda request: httpx.Response(200, json={"residents": [row]}))
    with pytest.raises(QueueError, match="'upgrade'"):
        server_queue(SERVER, "secret-token", client)


def test_server_queue_rejected_token():
    client = _client(lambda request: httpx.Response(401, json={"detail": "invalid admin token"}))
    with pytest.raises(RegistrationError, match="401"):
        server_queue(SERVER, "wrong", client)


def test_server_queue_unreachable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServerUnreachableError):
        server_queue(SERVER, "secret-token", _client(handler))


def test_station_db_is_owner_only(station_dir, station):
    assert os.stat(station_dir / JOURNAL).st_mode & 0o777 == 0o600


def test_queue_command_masks_nik(station_dir, register_file, residents, capsys):
    assert run_cli(["issuance", "queue", "--station", str(station_dir), "--register", str(register_file)]) == 0
    output = capsys.readouterr().out
    assert mask_number(residents[0].nik) in output
    assert residents[0].nik not in output
    assert f"{len(residents)} residents waiting" in output


def test_queue_command_search(station_dir, register_file, residents, capsys):
    argv = ["issuance", "queue", "--station", str(station_dir), "--register", str(register_file),
            "--search", residents[4].nik]
    assert run_cli(argv) == 0
    output = capsys.readouterr().out
    assert residents[4].name in output
    assert "1 residents waiting" in output


def test_queue_command_needs_source(station_dir, capsys):
    assert run_cli(["issuance", "queue", "--station", str(station_dir)]) == 2
    assert "give --register FILE" in capsys.readouterr().err


def test_show_command_masks_nik(station_dir, register_file, residents, capsys):
    assert run_cli(["issuance", "show", "2", "--station", str(station_dir), "--register", str(register_file)]) == 0
    output = capsys.readouterr().out
    assert residents[1].name in output
    assert residents[1].address in output
    assert residents[1].nik not in output
    assert residents[1].kk not in output


def test_show_nik_is_audited(station_dir, register_file, residents, capsys):
    argv = ["issuance", "show", "2", "--station", str(station_dir), "--register", str(register_file),
            "--show-nik", "--clerk", CLERK]
    assert run_cli(argv) == 0
    assert residents[1].nik in capsys.readouterr().out
    from tests.issuance.station_support import open_station

    station = open_station(station_dir)
    try:
        shown = audit.entries(station.journal, action="nik_shown")
    finally:
        station.close()
    assert [(entry.clerk, entry.nik) for entry in shown] == [(CLERK, residents[1].nik)]


def test_show_nik_needs_clerk(station_dir, register_file, capsys):
    argv = ["issuance", "show", "2", "--station", str(station_dir), "--register", str(register_file), "--show-nik"]
    assert run_cli(argv) == 2
    assert "no clerk name" in capsys.readouterr().err


def test_show_unknown_entry(station_dir, register_file, capsys):
    argv = ["issuance", "show", "99", "--station", str(station_dir), "--register", str(register_file)]
    assert run_cli(argv) == 1
    assert "no resident 99 in the queue" in capsys.readouterr().err


def test_loose_station_db_tightened(station_dir):
    from tests.issuance.station_support import open_station

    journal = station_dir / JOURNAL
    journal.touch()
    journal.chmod(0o644)
    station = open_station(station_dir)
    try:
        station.journal.execute("SELECT count(*) FROM cards").fetchone()
    finally:
        station.close()
    assert os.stat(journal).st_mode & 0o777 == 0o600
    for suffix in ("-wal", "-shm"):
        sidecar = journal.with_name(JOURNAL + suffix)
        if sidecar.exists():
            assert os.stat(sidecar).st_mode & 0o777 == 0o600
