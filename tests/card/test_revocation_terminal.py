"""Revocation lists on a terminal: full and delta application, gaps, rollback and the verifier path."""

from __future__ import annotations

from array import array
from datetime import date

import pytest

from card.cardnumber import make_card_number
from card.credential import sign_credential
from card.decision import Reason
from card.publish import REVOCATIONS_DIR, RevocationPublisher, delta_file_name, publish_trust_list
from card.qrtext import to_qr_text
from card.revocation import ListKind, RevocationList, sign_revocation_list
from card.trustlist import Role
from card.verify import verify_qr
from terminal.store import TerminalStore
from terminal.trust import Applied, DirectorySource, TrustUpdateError, apply_revocation_list, apply_trust_list, update_trust
from tests.card.trust_kit import City, enrolled_store, entry, new_signer, unix_wib, wib
from tests.conftest import make_credential

CARD_SERIAL = 1_000_000_042


@pytest.fixture
def city() -> City:
    return City()


@pytest.fixture
def store(tmp_path, city) -> TerminalStore:
    store = enrolled_store(tmp_path / "terminal.db", city)
    apply_trust_list(store, city.trust_list(1))
    yield store
    store.close()


def _full(version: int, serials, issued_at: int | None = None) -> RevocationList:
    ordered = array("Q", sorted(serials))
    return RevocationList(ListKind.FULL, version, issued_at or unix_wib(2026, 6, 1), ordered, count=len(ordered))


def _delta(base: int, added, removed=(), count: int = 0, issued_at: int | None = None) -> RevocationList:
    return RevocationList(ListKind.DELTA, base + 1, issued_at or unix_wib(2026, 6, 1), array("Q", sorted(added)),
                          count=count, base_version=base, removed=array("Q", sorted(removed)))


def _serials(store: TerminalStore) -> list[int]:
    return [row[0] for row in store._db.execute("SELECT serial FROM revoked_serials ORDER BY serial")]


def test_full_list_applied(store, city) -> None:
    outcome, _ = apply_revocation_list(store, sign_revocation_list(_full(1, [7, 9, CARD_SERIAL]), city.sync))
    assert outcome is Applied.APPLIED
    assert store.revocation_version == 1
    assert _serials(store) == [7, 9, CARD_SERIAL]


def test_full_list_replaces_previous(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(1, [7, 9]), city.sync))
    apply_revocation_list(store, sign_revocation_list(_full(4, [9, 11]), city.sync))
    assert _serials(store) == [9, 11]
    assert store.revocation_version == 4


def test_full_list_rollback_rejected(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(4, [9, 11]), city.sync))
    with pytest.raises(TrustUpdateError, match="older than the held version 4"):
        apply_revocation_list(store, sign_revocation_list(_full(3, []), city.sync))
    assert _serials(store) == [9, 11]


def test_deltas_applied_in_order(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(1, [7, 9]), city.sync))
    apply_revocation_list(store, sign_revocation_list(_delta(1, [20, 21], count=4), city.sync))
    outcome, _ = apply_revocation_list(store, sign_revocation_list(_delta(2, [30], removed=[7], count=4), city.sync))
    assert outcome is Applied.APPLIED
    assert _serials(store) == [9, 20, 21, 30]
    assert store.revocation_version == 3


def test_delta_with_gap_not_applied(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(1, [7]), city.sync))
    outcome, _ = apply_revocation_list(store, sign_revocation_list(_delta(2, [30], count=2), city.sync))
    assert outcome is Applied.GAP
    assert _serials(store) == [7]
    assert store.revocation_version == 1


def test_delta_already_held_skipped(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(3, [7]), city.sync))
    outcome, _ = apply_revocation_list(store, sign_revocation_list(_delta(1, [30], count=2), city.sync))
    assert outcome is Applied.ALREADY_HELD
    assert _serials(store) == [7]


def test_delta_with_wrong_count_rolled_back(store, city) -> None:
    apply_revocation_list(store, sign_revocation_list(_full(1, [7]), city.sync))
    outcome, _ = apply_revocation_list(store, sign_revocation_list(_delta(1, [30], count=5), city.sync))
    assert outcome is Applied.GAP
    assert _serials(store) == [7]
    assert store.revocation_version == 1


def test_list_from_key_without_sync_role_rejected(store, city) -> None:
    with pytest.raises(TrustUpdateError, match="not a sync key"):
        apply_revocation_list(store, sign_revocation_list(_full(1, [7]), city.issuer))
    assert store.revocation_version == 0


def test_list_issued_outside_sync_key_window_rejected(store, city) -> None:
    late = sign_revocation_list(_full(1, [7], issued_at=unix_wib(2028, 1, 1)), city.sync)
    with pytest.raises(TrustUpdateError, match="issued on 2028-01-01"):
        apply_revocation_list(store, late)
    assert store.revocation_version == 0


def test_list_from_revoked_sync_key_rejected(store, city) -> None:
    apply_trust_list(store, city.trust_list(
        2, entry(Role.ISSUER, city.issuer), entry(Role.SYNC, city.sync, revoked_from=date(2026, 5, 1))
    ))
    with pytest.raises(TrustUpdateError, match="revoked from 2026-05-01"):
        apply_revocation_list(store, sign_revocation_list(_full(1, [7]), city.sync))


def test_revoked_card_refused_through_trust_store(store, city) -> None:
    card = to_qr_text(sign_credential(make_credential(issued=date(2026, 3, 1)), city.issuer))
    now = wib(2026, 6, 2, 10)
    assert verify_qr(card, store.trust_store(), now).accepted
    apply_revocation_list(store, sign_revocation_list(_full(1, [CARD_SERIAL]), city.sync))
    result = verify_qr(card, store.trust_store(), now)
    assert result.decision.reason is Reason.CARD_REVOKED
    assert result.credential.card_number == make_card_number(CARD_SERIAL)


# --- the update procedure over a publication directory -------------------------------


def _publisher(tmp_path, city) -> RevocationPublisher:
    publication = tmp_path / "publication"
    publish_trust_list(publication, city.trust_list(1))
    return RevocationPublisher(publication, city.sync)


def test_update_applies_deltas_from_directory(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    store = enrolled_store(tmp_path / "fresh.db", city)
    publisher.publish([7, 9], issued_at=unix_wib(2026, 6, 1))
    publisher.publish([11], [7], issued_at=unix_wib(2026, 6, 2))

    report = update_trust(store, DirectorySource(publisher.directory.parent))

    assert report.trust_list_applied
    assert report.deltas_applied == [1, 2]
    assert not report.full_list_applied
    assert _serials(store) == [9, 11]


def test_update_fetches_full_list_after_gap(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    store = enrolled_store(tmp_path / "fresh.db", city)
    source = DirectorySource(publisher.directory.parent)
    publisher.publish([7], issued_at=unix_wib(2026, 6, 1))
    update_trust(store, source)
    for day in (2, 3, 4):
        publisher.publish([100 + day], issued_at=unix_wib(2026, 6, day))
    (publisher.directory / delta_file_name(3)).unlink()

    report = update_trust(store, source)

    assert report.deltas_applied == [2]
    assert report.full_list_applied
    assert store.revocation_version == 4
    assert _serials(store) == [7, 102, 103, 104]


def test_update_uses_full_list_when_deltas_pruned(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    for day in (1, 2, 3):
        publisher.publish([200 + day], issued_at=unix_wib(2026, 6, day))
    for version in (1, 2, 3):
        (publisher.directory / delta_file_name(version)).unlink()
    store = enrolled_store(tmp_path / "fresh.db", city)

    report = update_trust(store, DirectorySource(publisher.directory.parent))

    assert report.deltas_applied == []
    assert report.full_list_applied
    assert _serials(store) == [201, 202, 203]


def test_update_with_nothing_new_changes_nothing(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    publisher.publish([7], issued_at=unix_wib(2026, 6, 1))
    store = enrolled_store(tmp_path / "fresh.db", city)
    source = DirectorySource(publisher.directory.parent)
    update_trust(store, source)

    report = update_trust(store, source)

    assert not report.trust_list_applied
    assert report.deltas_applied == []
    assert not report.full_list_applied
    assert report.revocation_version == 1


def test_update_rejects_full_list_posing_as_delta(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    publisher.directory.mkdir(parents=True)
    (publisher.directory / delta_file_name(1)).write_bytes(sign_revocation_list(_full(1, [7]), city.sync))
    store = enrolled_store(tmp_path / "fresh.db", city)
    with pytest.raises(TrustUpdateError, match="expected a delta"):
        update_trust(store, DirectorySource(publisher.directory.parent))
    assert store.revocation_version == 0


def test_gap_without_full_list_reported(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    store = enrolled_store(tmp_path / "fresh.db", city)
    source = DirectorySource(publisher.directory.parent)
    publisher.publish([7], issued_at=unix_wib(2026, 6, 1))
    update_trust(store, source)
    # A delta from version 5 sits where version 2 belongs, and there is no full list.
    (publisher.directory / delta_file_name(2)).write_bytes(
        sign_revocation_list(_delta(5, [8], count=2), city.sync)
    )
    (publisher.directory / "full.cose").unlink()
    with pytest.raises(TrustUpdateError, match="no full revocation list"):
        update_trust(store, source)
    assert store.revocation_version == 1


def test_publisher_counts_and_versions(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    first = publisher.publish([5, 6], issued_at=unix_wib(2026, 6, 1))
    second = publisher.publish([6, 7], [5, 99], issued_at=unix_wib(2026, 6, 2))
    assert (first.version, first.count) == (1, 2)
    assert (second.version, second.count) == (2, 2)
    assert list(second.added) == [6, 7]
    assert list(publisher.current().added) == [6, 7]
    assert (publisher.directory.parent / REVOCATIONS_DIR / delta_file_name(2)).is_file()


def test_publisher_after_sync_key_rotation(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    publisher.publish([5], issued_at=unix_wib(2026, 6, 1))
    new_sync = new_signer()
    with pytest.raises(Exception, match="not a trusted sync key"):
        RevocationPublisher(publisher.directory.parent, new_sync).publish([6])
    rotated = RevocationPublisher(publisher.directory.parent, new_sync, [city.sync.public_key])
    assert list(rotated.publish([6], issued_at=unix_wib(2026, 6, 2)).added) == [5, 6]


class CountingSource(DirectorySource):
    """A directory source that counts how often the full list is fetched."""

    full_fetches = 0

    def full_revocation_list(self) -> bytes | None:
        self.full_fetches += 1
        return super().full_revocation_list()


def test_daily_delta_needs_no_full_list(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    publisher.publish([7], issued_at=unix_wib(2026, 6, 1))
    store = enrolled_store(tmp_path / "fresh.db", city)
    source = CountingSource(publisher.directory.parent)
    update_trust(store, source)
    publisher.publish([8], issued_at=unix_wib(2026, 6, 2))

    report = update_trust(store, source)

    assert report.deltas_applied == [2]
    assert source.full_fetches == 0


def test_missing_version_hint_falls_back_to_full_list(tmp_path, city) -> None:
    publisher = _publisher(tmp_path, city)
    publisher.publish([7], issued_at=unix_wib(2026, 6, 1))
    (publisher.directory / "latest").write_text("not a number")
    store = enrolled_store(tmp_path / "fresh.db", city)
    source = CountingSource(publisher.directory.parent)

    report = update_trust(store, source)

    assert report.deltas_applied == [1]
    assert source.full_fetches == 1
    assert not report.full_list_applied
