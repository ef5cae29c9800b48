"""The terminal store's in-memory trust store and single-query quota look-up."""

from __future__ import annotations

from array import array

from card.cardnumber import make_card_number
from card.revocation import ListKind, RevocationList, sign_revocation_list
from terminal.store import EntitlementSet, TerminalStore
from terminal.trust import apply_revocation_list, apply_trust_list
from tests.card.trust_kit import City, enrolled_store, unix_wib

PERIOD = "2026-03"
HOUSEHOLD = bytes.fromhex("0102030405060708")


def _full(city: City, version: int, *serials: int) -> bytes:
    revocations = RevocationList(ListKind.FULL, version, unix_wib(2026, 3, 2), array("Q", sorted(serials)),
                                 count=len(serials))
    return sign_revocation_list(revocations, city.sync)


def _trusted_store(tmp_path, city: City) -> TerminalStore:
    store = enrolled_store(tmp_path / "terminal.db", city)
    apply_trust_list(store, city.trust_list(1))
    return store


def test_trust_store_reused_between_scans(tmp_path):
    city = City()
    store = _trusted_store(tmp_path, city)
    assert store.trust_store() is store.trust_store()


def test_trust_store_sees_own_changes(tmp_path):
    city = City()
    store = _trusted_store(tmp_path, city)
    before = store.trust_store()
    assert not before.revoked_cards.is_revoked(make_card_number(7))

    apply_revocation_list(store, _full(city, 1, 7))
    after = store.trust_store()
    assert after is not before
    assert after.revoked_cards.is_revoked(make_card_number(7))


def test_trust_store_sees_other_process(tmp_path):
    city = City()
    tap_side = _trusted_store(tmp_path, city)
    assert not tap_side.trust_store().revoked_cards.is_revoked(make_card_number(9))

    sync_side = TerminalStore(tmp_path / "terminal.db")
    apply_revocation_list(sync_side, _full(city, 1, 9))
    sync_side.close()

    assert tap_side.trust_store().revoked_cards.is_revoked(make_card_number(9))


def test_trust_store_sees_new_issuer(tmp_path):
    city = City()
    tap_side = _trusted_store(tmp_path, city)
    assert city.issuer.kid in tap_side.trust_store().issuers
    other = City(root=city.root)

    sync_side = TerminalStore(tmp_path / "terminal.db")
    apply_trust_list(sync_side, other.trust_list(2))
    sync_side.close()

    issuers = tap_side.trust_store().issuers
    assert other.issuer.kid in issuers
    assert city.issuer.kid not in issuers


def test_trust_store_not_cached_in_rollback(tmp_path):
    city = City()
    store = _trusted_store(tmp_path, city)
    try:
        with store.transaction() as db:
            store.replace_revoked_serials(db, 5, [11])
            assert store.trust_store().revoked_cards.is_revoked(make_card_number(11))
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert not store.trust_store().revoked_cards.is_revoked(make_card_number(11))
    assert store.revocation_version == 0


def _entitled_store(tmp_path) -> TerminalStore:
    store = TerminalStore(tmp_path / "terminal.db")
    store.replace_entitlements([(EntitlementSet("lpg", PERIOD, 3, "tabung", 0), {HOUSEHOLD: 1})], pulled_at=0)
    with store.transaction() as db:
        store.insert_redemption(db, {
            "record_id": "r-1", "program": "lpg", "household_id": HOUSEHOLD, "card_number": make_card_number(1),
            "quantity": 1, "period": PERIOD, "tapped_at": 0, "assurance": "qr", "signed_record": b"x",
        })
    return store


def test_quota_usage_matches_separate_lookups(tmp_path):
    store = _entitled_store(tmp_path)
    usage = store.quota_usage("lpg", HOUSEHOLD, PERIOD)
    entitlement_set = store.entitlement_set("lpg")
    assert usage.entitlement_set == entitlement_set
    assert usage.used_at_sync == store.used_at_sync("lpg", HOUSEHOLD) == 1
    here = store.used_here_since_sync("lpg", HOUSEHOLD, PERIOD, entitlement_set.generation)
    assert usage.used_here == here == 1


def test_quota_usage_other_period(tmp_path):
    store = _entitled_store(tmp_path)
    assert store.quota_usage("lpg", HOUSEHOLD, "2026-04").used_here == 0


def test_quota_usage_not_entitled(tmp_path):
    store = _entitled_store(tmp_path)
    usage = store.quota_usage("lpg", bytes(8), PERIOD)
    assert usage.used_at_sync is None
    assert usage.used_here == 0


def test_quota_usage_unknown_programme(tmp_path):
    store = _entitled_store(tmp_path)
    assert store.quota_usage("beasiswa", HOUSEHOLD, PERIOD) is None
