"""Signer backends behind one interface: key files and PKCS#11 keys on a SoftHSM2 token."""

from __future__ import annotations

import os
import stat
from datetime import date

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from card.credential import sign_credential
from card.keys import kid_of, load_public_key, verify_raw
from card.qrtext import to_qr_text
from card.signing import SignerError, create_key, open_signer
from card.signing.pkcs11 import MODULE_ENV, Pkcs11Signer, list_token_keys, parse_pkcs11_uri
from card.trustlist import Role, TrustList, decode_trust_list, sign_trust_list
from card.verify import IssuerKey, TrustStore, verify_qr
from issuance.station import ISSUER_PUBLIC_KEY, Station, StationError, create_station_keys, rotate_issuer_key
from tests.card.trust_kit import City, SoftHsm, entry, softhsm, unique_label, wib  # noqa: F401 (fixture)
from tests.conftest import make_credential

MESSAGE = b"Kartu Bahagia trust list bytes"


# --- key files ------------------------------------------------------------------------


def test_file_key_created_with_mode_0600(tmp_path) -> None:
    signer = create_key(tmp_path / "root.key")
    assert stat.S_IMODE((tmp_path / "root.key").stat().st_mode) == 0o600
    reopened = open_signer(tmp_path / "root.key")
    assert reopened.kid == signer.kid
    assert verify_raw(signer.public_key, reopened.sign(MESSAGE), MESSAGE)


def test_file_key_readable_by_others_refused(tmp_path) -> None:
    create_key(tmp_path / "root.key")
    (tmp_path / "root.key").chmod(0o644)
    with pytest.raises(SignerError, match="mode 0644.*chmod 600"):
        open_signer(tmp_path / "root.key")


def test_file_key_group_readable_refused(tmp_path) -> None:
    create_key(tmp_path / "sync.key")
    (tmp_path / "sync.key").chmod(0o640)
    with pytest.raises(SignerError, match="mode 0640"):
        open_signer(tmp_path / "sync.key")


def test_file_key_never_overwritten(tmp_path) -> None:
    first = create_key(tmp_path / "root.key")
    with pytest.raises(SignerError, match="already exists"):
        create_key(tmp_path / "root.key")
    assert open_signer(tmp_path / "root.key").kid == first.kid


def test_missing_key_file_reported(tmp_path) -> None:
    with pytest.raises(SignerError, match="cannot read key file"):
        open_signer(tmp_path / "absent.key")


# --- PKCS#11 URIs ------------------------------------------------------------------------


def test_uri_parsed_with_percent_decoding() -> None:
    ref = parse_pkcs11_uri("pkcs11:token=kota%20jambi;object=issuer%202027?module-path=/lib/x.so&pin-source=file:/p%20in")
    assert ref.token == "kota jambi"
    assert ref.label == "issuer 2027"
    assert ref.module_path == "/lib/x.so"
    assert ref.pin_source == "/p in"
    assert "pin" not in ref.uri


def test_uri_without_object_rejected() -> None:
    with pytest.raises(SignerError, match="misses object"):
        parse_pkcs11_uri("pkcs11:token=kota?module-path=/lib/x.so")


def test_uri_with_pin_value_rejected() -> None:
    with pytest.raises(SignerError, match="'pin-value' is not supported"):
        parse_pkcs11_uri("pkcs11:token=t;object=o?module-path=/lib/x.so&pin-value=1234")


def test_uri_without_module_names_environment_variable(monkeypatch) -> None:
    monkeypatch.delenv(MODULE_ENV, raising=False)
    with pytest.raises(SignerError, match=MODULE_ENV):
        parse_pkcs11_uri("pkcs11:token=t;object=o")


def test_uri_module_from_environment(monkeypatch) -> None:
    monkeypatch.setenv(MODULE_ENV, "/lib/from-env.so")
    assert parse_pkcs11_uri("pkcs11:token=t;object=o").module_path == "/lib/from-env.so"


# --- PKCS#11 keys on SoftHSM2 --------------------------------------------------------------


def test_token_key_signs_verifiable_es256(softhsm: SoftHsm) -> None:
    uri = softhsm.uri(unique_label("root"))
    with create_key(uri) as created:
        assert isinstance(created, Pkcs11Signer)
        kid = created.kid
    with open_signer(uri) as signer:
        signature = signer.sign(MESSAGE)
        assert signer.kid == kid == kid_of(signer.public_key)
        assert len(signature) == 64
        assert verify_raw(signer.public_key, signature, MESSAGE)
        assert not verify_raw(signer.public_key, signature, MESSAGE + b"!")


def test_token_private_key_not_extractable(softhsm: SoftHsm) -> None:
    label = unique_label("issuer")
    with create_key(softhsm.uri(label)) as signer:
        session = signer._shared.session
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, label=label)
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.ID] == signer.kid


def test_token_root_key_signs_trust_list(softhsm: SoftHsm) -> None:
    city = City()
    with create_key(softhsm.uri(unique_label("root"))) as root:
        signed = sign_trust_list(TrustList(1, 0, tuple(city.base_entries())), root)
        root_public = root.public_key
    trust_list = decode_trust_list(signed, root_public)
    assert [item.role for item in trust_list.keys] == [Role.ISSUER, Role.SYNC]


def test_token_label_never_overwritten(softhsm: SoftHsm) -> None:
    uri = softhsm.uri(unique_label("sync"))
    with create_key(uri):
        pass
    with pytest.raises(SignerError, match="already has objects labelled"):
        create_key(uri)


def test_two_signers_on_one_token_survive_closing_one(softhsm: SoftHsm) -> None:
    first = create_key(softhsm.uri(unique_label("a")))
    second = create_key(softhsm.uri(unique_label("b")))
    first.close()
    assert verify_raw(second.public_key, second.sign(MESSAGE), MESSAGE)
    second.close()
    with pytest.raises(SignerError, match="is closed"):
        second.sign(MESSAGE)


def test_wrong_pin_refused(softhsm: SoftHsm, tmp_path) -> None:
    label = unique_label("root")
    with create_key(softhsm.uri(label)):
        pass
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("999999")
    wrong.chmod(0o600)
    with pytest.raises(SignerError, match="token 'kartu-test' rejected the PIN"):
        open_signer(softhsm.uri(label, pin_file=wrong))


def test_pin_file_readable_by_others_refused(softhsm: SoftHsm, tmp_path) -> None:
    loose = tmp_path / "loose.pin"
    loose.write_text("246810")
    loose.chmod(0o644)
    with pytest.raises(SignerError, match="PIN file .* mode 0644"):
        open_signer(softhsm.uri(unique_label(), pin_file=loose))


def test_pin_from_environment(softhsm: SoftHsm, monkeypatch) -> None:
    label = unique_label("env")
    with create_key(softhsm.uri(label)):
        pass
    monkeypatch.setenv("KARTU_PKCS11_PIN", softhsm.pin_file.read_text().strip())
    with open_signer(f"pkcs11:token=kartu-test;object={label}?module-path={softhsm.module}") as signer:
        assert verify_raw(signer.public_key, signer.sign(MESSAGE), MESSAGE)


def test_unknown_token_reported(softhsm: SoftHsm) -> None:
    with pytest.raises(SignerError, match="no token labelled 'absent-token'"):
        open_signer(softhsm.uri("root", token="absent-token"))


def test_unknown_key_label_reported(softhsm: SoftHsm) -> None:
    with pytest.raises(SignerError, match="no EC private key labelled 'never-made'"):
        open_signer(softhsm.uri("never-made"))


def test_missing_module_reported(tmp_path, softhsm: SoftHsm) -> None:
    uri = f"pkcs11:token=t;object=o?module-path={tmp_path}/none.so&pin-source={softhsm.pin_file}"
    with pytest.raises(SignerError, match="none.so does not exist"):
        open_signer(uri)


def test_token_keys_listed(softhsm: SoftHsm) -> None:
    label = unique_label("listed")
    with create_key(softhsm.uri(label)) as signer:
        kid = signer.kid
    listed = dict(list_token_keys(f"pkcs11:token=kartu-test?module-path={softhsm.module}&pin-source={softhsm.pin_file}"))
    assert listed[label] == kid


# --- the issuance station on either backend -------------------------------------------------


def test_station_issues_with_token_key(tmp_path, softhsm: SoftHsm) -> None:
    station_dir = tmp_path / "station"
    kid = create_station_keys(station_dir, softhsm.uri(unique_label("issuer")))
    assert not (station_dir / "issuer.key").exists()
    assert kid == kid_of(load_public_key(station_dir / ISSUER_PUBLIC_KEY))
    station = Station(station_dir)
    try:
        credential = make_credential(issued=date(2026, 12, 1))
        text = to_qr_text(sign_credential(credential, station.issuer))
    finally:
        station.close()
    trust = TrustStore.of(IssuerKey(load_public_key(station_dir / ISSUER_PUBLIC_KEY)))
    assert verify_qr(text, trust, wib(2026, 12, 2)).accepted


def test_station_key_file_rotation(tmp_path) -> None:
    station_dir = tmp_path / "station"
    old_kid = create_station_keys(station_dir)
    retired_kid, new_kid = rotate_issuer_key(station_dir)
    assert retired_kid == old_kid
    assert new_kid != old_kid
    assert kid_of(load_public_key(station_dir / "retired" / f"issuer-{old_kid.hex()}.pub.pem")) == old_kid
    assert kid_of(load_public_key(station_dir / ISSUER_PUBLIC_KEY)) == new_kid
    assert stat.S_IMODE((station_dir / "issuer.key").stat().st_mode) == 0o600
    station = Station(station_dir)
    assert station.issuer.kid == new_kid
    station.close()


def test_station_rotation_to_token(tmp_path, softhsm: SoftHsm) -> None:
    station_dir = tmp_path / "station"
    old_kid = create_station_keys(station_dir)
    _, new_kid = rotate_issuer_key(station_dir, softhsm.uri(unique_label("issuer")))
    assert not (station_dir / "issuer.key").exists()
    assert (station_dir / "issuer.uri").read_text().startswith("pkcs11:")
    station = Station(station_dir)
    assert station.issuer.kid == new_kid != old_kid
    station.close()


def test_station_rotation_failure_keeps_old_key(tmp_path, softhsm: SoftHsm) -> None:
    station_dir = tmp_path / "station"
    old_kid = create_station_keys(station_dir)
    with pytest.raises(StationError, match="no token labelled"):
        rotate_issuer_key(station_dir, softhsm.uri("issuer", token="absent-token"))
    station = Station(station_dir)
    assert station.issuer.kid == old_kid
    station.close()


def test_station_key_readable_by_others_refused(tmp_path) -> None:
    station_dir = tmp_path / "station"
    create_station_keys(station_dir)
    os.chmod(station_dir / "issuer.key", 0o604)
    with pytest.raises(StationError, match="chmod 600"):
        Station(station_dir)
