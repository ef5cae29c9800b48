"""`kartu keys`: create, list, rotate and export signing keys; sign trust and revocation lists.

A KEYREF is a private key file path (PKCS#8 PEM, mode 0600) or a PKCS#11 URI
(see card.signing). Every command prints what it wrote and the kid of each
key, and exits 0 on success and 2 on any error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from card.cardnumber import is_valid_card_number
from card.i18n import N_, translate
from card.keys import KeyFileError, kid_of, load_private_key, load_public_key, save_public_key
from card.publish import RevocationPublisher, publish_trust_list, write_atomically
from card.revocation import RevocationError, serial_of
from card.signing import SignerError, create_key, is_pkcs11_uri, open_signer
from card.trustlist import TrustListError, decode_trust_list, sign_trust_list
from issuance.station import StationError, create_station_keys, rotate_issuer_key
from kartu.trust_spec import SpecError, load_trust_list_spec

__all__ = ["add_commands"]

EXIT_OK, EXIT_ERROR = 0, 2
KEYREF_HELP = "private key file (PEM, mode 0600) or PKCS#11 URI (pkcs11:token=...;object=...?module-path=...&pin-source=...)"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="signing keys, trust lists and revocation lists")
    commands = parser.add_subparsers(dest="keys_command", required=True)

    create = commands.add_parser("create", help="create a station's keys (--dir) or one key pair (--key)")
    target = create.add_mutually_exclusive_group(required=True)
    target.add_argument("--dir", type=Path, help="station directory: issuer key pair and household key")
    target.add_argument("--key", help="create one key pair (root, issuer or sync key) at this KEYREF")
    create.add_argument("--issuer-key", help="with --dir: PKCS#11 URI for the issuer key instead of issuer.key")
    create.add_argument("--public-out", type=Path, help="with --key: public key PEM to write (default: next to a key file)")
    create.set_defaults(handler=_create)

    listing = commands.add_parser("list", help="list the keys in a directory or on a PKCS#11 token, with their kids")
    source = listing.add_mutually_exclusive_group(required=True)
    source.add_argument("--dir", type=Path, help="directory of *.key and *.pem files (searched recursively)")
    source.add_argument("--token", help="PKCS#11 URI naming a token (pkcs11:token=...?module-path=...&pin-source=...)")
    listing.set_defaults(handler=_list)

    rotate = commands.add_parser("rotate", help="replace a station's issuer key; the old public key is kept in retired/")
    rotate.add_argument("--dir", type=Path, required=True, help="station directory")
    rotate.add_argument("--new-key", help="PKCS#11 URI for the new issuer key (default: a new issuer.key file)")
    rotate.set_defaults(handler=_rotate)

    export = commands.add_parser("export", help="write the public key (PEM SubjectPublicKeyInfo) of a key")
    export.add_argument("--key", required=True, help=KEYREF_HELP)
    export.add_argument("--out", type=Path, help="PEM file to write (default: print to standard output)")
    export.set_defaults(handler=_export)

    sign = commands.add_parser("sign-trust-list", help="build a trust list from a JSON spec and sign it with the root key")
    sign.add_argument("--root-key", required=True, help="root signing key: " + KEYREF_HELP)
    sign.add_argument("--spec", type=Path, required=True, help="trust list specification (JSON, see kartu/trust_spec.py)")
    output = sign.add_mutually_exclusive_group(required=True)
    output.add_argument("--out", type=Path, help="file to write the signed trust list to")
    output.add_argument("--publish", type=Path, help="publication directory: writes trustlist.cose there")
    sign.set_defaults(handler=_sign_trust_list)

    show = commands.add_parser("show-trust-list", help="verify a trust list against the root public key and print it")
    show.add_argument("file", type=Path, help="signed trust list")
    show.add_argument("--root-key", type=Path, required=True, help="root public key PEM")
    show.set_defaults(handler=_show_trust_list)

    revoke = commands.add_parser(
        "sign-revocations", help="publish the next revocation list version (full list and delta), signed by the sync key"
    )
    revoke.add_argument("--sync-key", required=True, help="sync signing key: " + KEYREF_HELP)
    revoke.add_argument("--publish", type=Path, required=True, help="publication directory (revocations/ inside it)")
    revoke.add_argument("--revoke", type=Path, help="text file of card numbers to revoke, one per line")
    revoke.add_argument("--reinstate", type=Path, help="text file of card numbers to take off the list, one per line")
    revoke.add_argument(
        "--previous-sync-key", type=Path, action="append", default=[],
        help="public key PEM of an earlier sync key that signed the last published list (repeatable, after a rotation)",
    )
    revoke.set_defaults(handler=_sign_revocations)


def _fail(message: object) -> int:
    print(message, file=sys.stderr)
    return EXIT_ERROR


def _fail_with(args: argparse.Namespace, template: str, **params: object) -> int:
    return _fail(translate(template, args.lang, **params))


def _say(args: argparse.Namespace, template: str, **params: object) -> None:
    print(translate(template, args.lang, **params))


def _close(signer: object) -> None:
    close = getattr(signer, "close", None)
    if close is not None:
        close()


def _create(args: argparse.Namespace) -> int:
    if args.dir is not None:
        if args.public_out is not None:
            return _fail_with(args, N_("--public-out goes with --key; a station keeps its public key in "
                                       "issuer.pub.pem"))
        try:
            kid = create_station_keys(args.dir, args.issuer_key)
        except (OSError, StationError) as exc:
            return _fail(exc)
        _say(args, N_("station keys created in {directory}; issuer kid {kid}"), directory=args.dir, kid=kid.hex())
        return EXIT_OK
    if args.issuer_key is not None:
        return _fail_with(args, N_("--issuer-key goes with --dir"))
    public_out = args.public_out
    if public_out is None:
        if is_pkcs11_uri(args.key):
            return _fail_with(args, N_("give --public-out FILE for the public key of a token key"))
        public_out = Path(args.key).with_suffix(".pub.pem")
    if public_out.exists():
        return _fail_with(args, N_("public key file {path} already exists; choose another --public-out"),
                          path=public_out)
    try:
        signer = create_key(args.key)
    except (SignerError, OSError) as exc:
        return _fail(exc)
    save_public_key(signer.public_key, public_out)
    _close(signer)
    _say(args, N_("key created: kid {kid}, public key {path}"), kid=signer.kid.hex(), path=public_out)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    if args.token is not None:
        from card.signing.pkcs11 import list_token_keys

        try:
            keys = list_token_keys(args.token)
        except SignerError as exc:
            return _fail(exc)
        for label, kid in keys:
            print(f"{kid.hex()}  {label}")
        return EXIT_OK
    if not args.dir.is_dir():
        return _fail_with(args, N_("directory {directory} does not exist"), directory=args.dir)
    for path in sorted(args.dir.rglob("*")):
        line = _describe_key_file(path)
        if line:
            print(line)
    return EXIT_OK


def _describe_key_file(path: Path) -> str | None:
    """Describe a PEM key file by kid; other files (the household key, journals) give None."""
    if path.suffix not in (".key", ".pem") or not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            if not handle.read(11) == b"-----BEGIN ":
                return None
    except OSError:
        return None
    if path.suffix == ".key":
        try:
            return f"{kid_of(load_private_key(path).public_key()).hex()}  private  {path}"
        except KeyFileError as exc:
            return f"{'?' * 16}  private  {path}: {exc}"
    try:
        return f"{kid_of(load_public_key(path)).hex()}  public   {path}"
    except KeyFileError:
        return None


def _rotate(args: argparse.Namespace) -> int:
    try:
        old_kid, new_kid = rotate_issuer_key(args.dir, args.new_key)
    except (StationError, OSError) as exc:
        return _fail(exc)
    _say(args, N_("issuer kid {old_kid} retired, new issuer kid {new_kid} in {directory}"), old_kid=old_kid.hex(),
         new_kid=new_kid.hex(), directory=args.dir)
    _say(args, N_("add the new key to the trust list and publish it before this station issues cards"))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    try:
        signer = open_signer(args.key)
    except SignerError as exc:
        return _fail(exc)
    _close(signer)
    if args.out is None:
        from cryptography.hazmat.primitives import serialization

        sys.stdout.write(signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"))
        return EXIT_OK
    save_public_key(signer.public_key, args.out)
    _say(args, N_("kid {kid}, public key written to {path}"), kid=signer.kid.hex(), path=args.out)
    return EXIT_OK


def _sign_trust_list(args: argparse.Namespace) -> int:
    try:
        trust_list = load_trust_list_spec(args.spec, int(time.time()))
        root = open_signer(args.root_key)
    except (SpecError, SignerError) as exc:
        return _fail(exc)
    try:
        signed = sign_trust_list(trust_list, root)
    except SignerError as exc:
        return _fail(exc)
    finally:
        _close(root)
    if args.publish is not None:
        path = publish_trust_list(args.publish, signed)
    else:
        path = args.out
        write_atomically(path, signed)
    _say(args, N_("trust list sequence {sequence} with {count} keys, signed by root kid {kid}, in {path}"),
         sequence=trust_list.sequence, count=len(trust_list.keys), kid=root.kid.hex(), path=path)
    return EXIT_OK


def _show_trust_list(args: argparse.Namespace) -> int:
    try:
        root_key = load_public_key(args.root_key)
        trust_list = decode_trust_list(args.file.read_bytes(), root_key)
    except (KeyFileError, TrustListError) as exc:
        return _fail(exc)
    except OSError as exc:
        return _fail_with(args, N_("cannot read trust list {path}: {reason}"), path=args.file, reason=exc.strerror)
    issued = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(trust_list.issued_at))
    _say(args, N_("trust list sequence {sequence}, issued {issued}, root kid {kid}"), sequence=trust_list.sequence,
         issued=issued, kid=kid_of(root_key).hex())
    for entry in trust_list.keys:
        revoked = ""
        if entry.revoked_from:
            revoked = "  " + translate(N_("revoked from {day}"), args.lang, day=entry.revoked_from)
        validity = translate(N_("{start} to {end}"), args.lang, start=entry.not_before, end=entry.not_after)
        print(f"{entry.kid.hex()}  {entry.role.name.lower():<8}  {validity}{revoked}  {entry.label}")
    return EXIT_OK


def _read_serials(path: Path | None) -> list[int]:
    """Read card numbers, one per line (blank lines and # comments skipped), and return their serials."""
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RevocationError(f"cannot read {path}: {exc.strerror}") from None
    serials = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip().replace(" ", "")
        if not text:
            continue
        if not is_valid_card_number(text):
            raise RevocationError(f"{path} line {number}: {text!r} is not a valid card number (16 digits, 1571..., Luhn)")
        serials.append(serial_of(text))
    return serials


def _sign_revocations(args: argparse.Namespace) -> int:
    if args.revoke is None and args.reinstate is None:
        return _fail_with(args, N_("give --revoke FILE, --reinstate FILE or both"))
    try:
        revoke, reinstate = _read_serials(args.revoke), _read_serials(args.reinstate)
        previous_keys = [load_public_key(path) for path in args.previous_sync_key]
        signer = open_signer(args.sync_key)
    except (RevocationError, SignerError, KeyFileError) as exc:
        return _fail(exc)
    try:
        full = RevocationPublisher(args.publish, signer, previous_keys).publish(revoke, reinstate)
    except (RevocationError, SignerError, OSError) as exc:
        return _fail(exc)
    finally:
        _close(signer)
    _say(args, N_("revocation list version {version}: {count} cards revoked, signed by sync kid {kid}, in {directory}"),
         version=full.version, count=full.count, kid=signer.kid.hex(), directory=args.publish)
    return EXIT_OK
