"""`kartu keys`: create, list, export, rotate, and sign trust and revocation lists, with files and a token."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from card.cardnumber import make_card_number
from card.keys import kid_of, load_public_key
from card.publish import REVOCATIONS_DIR, TRUST_LIST_FILE
from card.revocation import decode_revocation_list
from card.trustlist import Role, decode_trust_list
from kartu.cli import main
from tests.card.trust_kit import SoftHsm, softhsm, unique_label  # noqa: F401 (fixture)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run kartu with English messages, which the assertions below quote."""
    code = main(["--lang", "en", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _spec(directory: Path, sequence: int, keys: list[dict]) -> Path:
    path = directory / f"trust-{sequence}.json"
    path.write_text(json.dumps({"sequence": sequence, "keys": keys}))
    return path


def test_create_key_file_and_public_key(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    assert code == 0
    kid = kid_of(load_public_key(tmp_path / "root.pub.pem"))
    assert f"kid {kid.hex()}" in out
    assert stat.S_IMODE((tmp_path / "root.key").stat().st_mode) == 0o600


def test_create_refuses_existing_key(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    (tmp_path / "root.pub.pem").unlink()
    code, _, err = run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    assert code == 2
    assert "already exists" in err


def test_export_prints_pem(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "sync.key"))
    code, out, _ = run(capsys, "keys", "export", "--key", str(tmp_path / "sync.key"))
    assert code == 0
    assert out == (tmp_path / "sync.pub.pem").read_text()


def test_export_refuses_loose_key_file(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "sync.key"))
    (tmp_path / "sync.key").chmod(0o644)
    code, out, err = run(capsys, "keys", "export", "--key", str(tmp_path / "sync.key"))
    assert code == 2
    assert "chmod 600" in err
    assert out == ""


def test_list_directory_shows_kids(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    run(capsys, "keys", "create", "--dir", str(tmp_path / "station"))
    code, out, _ = run(capsys, "keys", "list", "--dir", str(tmp_path))
    root_kid = kid_of(load_public_key(tmp_path / "root.pub.pem")).hex()
    issuer_kid = kid_of(load_public_key(tmp_path / "station" / "issuer.pub.pem")).hex()
    assert code == 0
    assert out.count(root_kid) == 2
    assert out.count(issuer_kid) == 2
    assert "household.key" not in out


def test_list_directory_flags_loose_key(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    (tmp_path / "root.key").chmod(0o644)
    code, out, _ = run(capsys, "keys", "list", "--dir", str(tmp_path))
    assert code == 0
    assert "????????????????  private" in out
    assert "chmod 600" in out


def test_rotate_station(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--dir", str(tmp_path / "station"))
    old_kid = kid_of(load_public_key(tmp_path / "station" / "issuer.pub.pem")).hex()
    code, out, _ = run(capsys, "keys", "rotate", "--dir", str(tmp_path / "station"))
    new_kid = kid_of(load_public_key(tmp_path / "station" / "issuer.pub.pem")).hex()
    assert code == 0
    assert f"issuer kid {old_kid} retired" in out
    assert new_kid in out
    assert (tmp_path / "station" / "retired" / f"issuer-{old_kid}.pub.pem").is_file()


def test_sign_and_show_trust_list(tmp_path, capsys) -> None:
    for name in ("root", "sync"):
        run(capsys, "keys", "create", "--key", str(tmp_path / f"{name}.key"))
    run(capsys, "keys", "create", "--dir", str(tmp_path / "station"))
    spec = _spec(tmp_path, 3, [
        {"role": "issuer", "public_key": "station/issuer.pub.pem", "not_before": "2026-01-01",
         "not_after": "2026-12-31", "label": "Stasiun 01"},
        {"role": "sync", "public_key": "sync.pub.pem", "not_before": "2026-01-01", "not_after": "2027-12-31",
         "revoked_from": "2027-06-01"},
    ])
    code, out, _ = run(capsys, "keys", "sign-trust-list", "--root-key", str(tmp_path / "root.key"),
                       "--spec", str(spec), "--publish", str(tmp_path / "pub"))
    assert code == 0
    assert "sequence 3 with 2 keys" in out

    trust_list = decode_trust_list((tmp_path / "pub" / TRUST_LIST_FILE).read_bytes(),
                                   load_public_key(tmp_path / "root.pub.pem"))
    assert [entry.role for entry in trust_list.keys] == [Role.ISSUER, Role.SYNC]
    assert trust_list.keys[0].label == "Stasiun 01"

    code, out, _ = run(capsys, "keys", "show-trust-list", str(tmp_path / "pub" / TRUST_LIST_FILE),
                       "--root-key", str(tmp_path / "root.pub.pem"))
    assert code == 0
    assert "issuer    2026-01-01 to 2026-12-31  Stasiun 01" in out
    assert "revoked from 2027-06-01" in out


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([{"role": "mayor", "public_key": "root.pub.pem", "not_before": "2026-01-01", "not_after": "2026-12-31"}],
         "role 'mayor'"),
        ([{"role": "sync", "public_key": "root.pub.pem", "not_before": "2026-13-01", "not_after": "2026-12-31"}],
         "not_before '2026-13-01'"),
        ([{"role": "sync", "public_key": "absent.pem", "not_before": "2026-01-01", "not_after": "2026-12-31"}],
         "keys\\[0\\]: cannot read public key file"),
        ([{"role": "sync", "public_key": "root.pub.pem", "not_before": "2026-01-01"}], "not_after is missing"),
        ([{"role": "sync", "public_key": "root.pub.pem", "not_before": "2026-01-01", "not_after": "2026-12-31",
           "colour": "red"}], "unknown fields \\['colour'\\]"),
        ([], "keys must be a non-empty list"),
    ],
)
def test_invalid_trust_list_spec_rejected(tmp_path, capsys, keys, message) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "root.key"))
    spec = _spec(tmp_path, 1, keys)
    code, _, err = run(capsys, "keys", "sign-trust-list", "--root-key", str(tmp_path / "root.key"),
                       "--spec", str(spec), "--out", str(tmp_path / "list.cose"))
    assert code == 2
    assert re.search(message, err), err
    assert not (tmp_path / "list.cose").exists()


def test_sign_revocations_from_card_numbers(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "sync.key"))
    revoke = tmp_path / "revoke.txt"
    spaced = " ".join(make_card_number(100_000_043)[i:i + 4] for i in range(0, 16, 4))
    revoke.write_text(f"# lost cards\n{make_card_number(100_000_042)}\n\n{spaced}  # printed form\n")
    code, out, _ = run(capsys, "keys", "sign-revocations", "--sync-key", str(tmp_path / "sync.key"),
                       "--publish", str(tmp_path / "pub"), "--revoke", str(revoke))
    assert code == 0
    assert "version 1: 2 cards revoked" in out
    sync = load_public_key(tmp_path / "sync.pub.pem")
    full = decode_revocation_list((tmp_path / "pub" / REVOCATIONS_DIR / "full.cose").read_bytes(),
                                  {kid_of(sync): sync})
    assert list(full.added) == [100000042, 100000043]


def test_sign_revocations_rejects_bad_card_number(tmp_path, capsys) -> None:
    run(capsys, "keys", "create", "--key", str(tmp_path / "sync.key"))
    revoke = tmp_path / "revoke.txt"
    good = make_card_number(100_000_042)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    revoke.write_text(f"{good}\n{bad}\n")
    code, _, err = run(capsys, "keys", "sign-revocations", "--sync-key", str(tmp_path / "sync.key"),
                       "--publish", str(tmp_path / "pub"), "--revoke", str(revoke))
    assert code == 2
    assert f"line 2: '{bad}' is not a valid card number" in err
    assert not (tmp_path / "pub").exists()


def test_token_keys_through_cli(tmp_path, capsys, softhsm: SoftHsm) -> None:
    label = unique_label("root")
    uri = softhsm.uri(label)
    code, out, err = run(capsys, "keys", "create", "--key", uri, "--public-out", str(tmp_path / "root.pub.pem"))
    assert code == 0, err
    kid = kid_of(load_public_key(tmp_path / "root.pub.pem")).hex()
    assert kid in out
    code, out, _ = run(capsys, "keys", "list", "--token",
                       f"pkcs11:token=kartu-test?module-path={softhsm.module}&pin-source={softhsm.pin_file}")
    assert f"{kid}  {label}" in out

    run(capsys, "keys", "create", "--key", str(tmp_path / "sync.key"))
    spec = _spec(tmp_path, 1, [{"role": "sync", "public_key": "sync.pub.pem", "not_before": "2026-01-01",
                                "not_after": "2026-12-31"}])
    code, out, err = run(capsys, "keys", "sign-trust-list", "--root-key", uri, "--spec", str(spec),
                         "--out", str(tmp_path / "list.cose"))
    assert code == 0, err
    assert f"root kid {kid}" in out
    decode_trust_list((tmp_path / "list.cose").read_bytes(), load_public_key(tmp_path / "root.pub.pem"))


def test_token_key_needs_public_out(capsys, softhsm: SoftHsm) -> None:
    code, _, err = run(capsys, "keys", "create", "--key", softhsm.uri(unique_label()))
    assert code == 2
    assert "--public-out" in err
