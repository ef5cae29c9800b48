"""ServerListSource: how the sync client reads the server's trust and revocation responses."""

from __future__ import annotations

import base64

import pytest

from terminal.sync import ServerListSource, SyncError


def _fetcher(responses: dict):
    calls = []

    def fetch(path: str):
        calls.append(path)
        return responses.get(path)

    fetch.calls = calls
    return fetch


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_deltas_numbered_from_held_version():
    fetch = _fetcher({"/api/v1/trust/revocations?since=4": {"version": 6, "deltas": [_b64(b"five"), _b64(b"six")],
                                                              "gap": False}})
    source = ServerListSource(fetch, 4)
    assert source.revocation_delta(5) == b"five"
    assert source.revocation_delta(6) == b"six"
    assert source.revocation_delta(7) is None
    assert source.latest_revocation_version() == 6


def test_gap_offers_no_delta():
    fetch = _fetcher({"/api/v1/trust/revocations?since=1": {"version": 9, "deltas": [], "gap": True},
                      "/api/v1/trust/revocations/full": {"version": 9, "full": _b64(b"full")}})
    source = ServerListSource(fetch, 1)
    assert source.revocation_delta(2) is None
    assert source.latest_revocation_version() == 9
    assert source.full_revocation_list() == b"full"


def test_missing_lists_are_none():
    fetch = _fetcher({"/api/v1/trust/revocations?since=0": {"version": 0, "deltas": [], "gap": False}})
    source = ServerListSource(fetch, 0)
    assert source.trust_list() is None
    assert source.full_revocation_list() is None


def test_trust_list_decoded():
    fetch = _fetcher({"/api/v1/trust/revocations?since=0": {"version": 0, "deltas": [], "gap": False},
                      "/api/v1/trust/list": {"sequence": 2, "trust_list": _b64(b"signed")}})
    assert ServerListSource(fetch, 0).trust_list() == b"signed"


@pytest.mark.parametrize("response, message", [
    (None, "does not serve revocation lists"),
    ({"deltas": []}, "missing 'version' or 'deltas'"),
    ({"version": "x", "deltas": []}, "missing 'version' or 'deltas'"),
    ({"version": 1}, "missing 'version' or 'deltas'"),
    ({"version": 1, "deltas": ["not base64!"]}, "revocation delta that is not valid base64"),
])
def test_bad_revocation_response_rejected(response, message):
    fetch = _fetcher({"/api/v1/trust/revocations?since=0": response})
    with pytest.raises(SyncError, match=message):
        ServerListSource(fetch, 0)


def test_bad_trust_list_response_rejected():
    fetch = _fetcher({"/api/v1/trust/revocations?since=0": {"version": 0, "deltas": [], "gap": False},
                      "/api/v1/trust/list": {"sequence": 2}})
    with pytest.raises(SyncError, match="missing the 'trust_list' field"):
        ServerListSource(fetch, 0).trust_list()
