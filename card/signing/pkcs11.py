"""PKCS#11 signing keys (HSM, smart-card token, SoftHSM2 in tests) through python-pkcs11.

Keys are named by a PKCS#11 URI (RFC 7512). The supported subset:
  path attributes:  token=LABEL (required), object=KEY LABEL (required)
  query attributes: module-path=PATH of the PKCS#11 library,
                    pin-source=PATH of a file holding the user PIN (mode 0600)
Values are percent-decoded. Without module-path the library is taken from
the environment variable KARTU_PKCS11_MODULE; without pin-source the PIN is
taken from KARTU_PKCS11_PIN. The PIN itself is never accepted in the URI, so
it stays out of shell history, process lists and error messages.

Signatures use CKM_ECDSA over the SHA-256 digest computed here, which every
token with P-256 supports, and PKCS#11 returns them as raw r||s, the form
COSE uses.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from card.keys import CURVE, kid_of
from card.signing import PKCS11_SCHEME, SignerError

__all__ = ["TokenKeyRef", "Pkcs11Signer", "parse_pkcs11_uri", "generate_token_key", "list_token_keys"]

log = logging.getLogger(__name__)

MODULE_ENV = "KARTU_PKCS11_MODULE"
PIN_ENV = "KARTU_PKCS11_PIN"
PATH_ATTRIBUTES = {"token", "object"}
QUERY_ATTRIBUTES = {"module-path", "pin-source"}
P256_POINT_SIZE = 65

_libraries: dict[str, pkcs11.lib] = {}
_sessions: dict[tuple[str, str], "_SharedSession"] = {}
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class TokenKeyRef:
    """A parsed PKCS#11 URI: which library, token and key label, and where the PIN comes from."""

    token: str
    label: str
    module_path: str
    pin_source: str | None

    @property
    def uri(self) -> str:
        """The reference without its query part, safe to print and log."""
        return f"{PKCS11_SCHEME}token={self.token};object={self.label}"


def _attributes(text: str, separator: str, allowed: set[str], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in filter(None, text.split(separator)):
        name, equals, value = part.partition("=")
        if not equals or name not in allowed:
            raise SignerError(
                f"PKCS#11 URI {where} attribute {name!r} is not supported; use {', '.join(sorted(allowed))}"
            )
        if name in values:
            raise SignerError(f"PKCS#11 URI gives {name!r} twice")
        values[name] = unquote(value)
    return values


def parse_pkcs11_uri(uri: str, require_object: bool = True) -> TokenKeyRef:
    """Parse the supported subset of an RFC 7512 URI; raise SignerError naming what is missing.

    With require_object False the URI may name a token only, and the label is empty.
    """
    if not uri.startswith(PKCS11_SCHEME):
        raise SignerError(f"key reference does not start with {PKCS11_SCHEME!r}")
    path, _, query = uri[len(PKCS11_SCHEME):].partition("?")
    path_values = _attributes(path, ";", PATH_ATTRIBUTES, "path")
    query_values = _attributes(query, "&", QUERY_ATTRIBUTES, "query")
    required = PATH_ATTRIBUTES if require_object else {"token"}
    missing = sorted(required - path_values.keys())
    if missing:
        raise SignerError(f"PKCS#11 URI misses {' and '.join(missing)}, e.g. pkcs11:token=kota-jambi;object=issuer-2027")
    module_path = query_values.get("module-path") or os.environ.get(MODULE_ENV)
    if not module_path:
        raise SignerError(
            f"PKCS#11 URI for token {path_values['token']!r} names no library; "
            f"add ?module-path=/path/to/module.so or set {MODULE_ENV}"
        )
    pin_source = query_values.get("pin-source")
    if pin_source is not None and pin_source.startswith("file:"):
        pin_source = unquote(pin_source[len("file:"):])
    return TokenKeyRef(path_values["token"], path_values.get("object", ""), module_path, pin_source)


def _read_pin(ref: TokenKeyRef) -> str:
    if ref.pin_source is None:
        pin = os.environ.get(PIN_ENV)
        if not pin:
            raise SignerError(f"no PIN for {ref.uri}; add ?pin-source=/path/to/pin-file or set {PIN_ENV}")
        return pin
    path = Path(ref.pin_source)
    try:
        mode = path.stat().st_mode
        pin = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SignerError(f"cannot read PIN file {path} for {ref.uri}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SignerError(
            f"PIN file {path} has mode {stat.S_IMODE(mode):04o}; restrict it with 'chmod 600 {path}' and try again"
        )
    if not pin:
        raise SignerError(f"PIN file {path} is empty")
    return pin


def _library(module_path: str) -> pkcs11.lib:
    # A PKCS#11 library is initialised once per process (C_Initialize), so
    # every signer on the same module shares one handle. Called with _pool_lock held.
    library = _libraries.get(module_path)
    if library is None:
        if not Path(module_path).is_file():
            raise SignerError(f"PKCS#11 library {module_path} does not exist; install it or fix module-path")
        library = pkcs11.lib(module_path)
        _libraries[module_path] = library
    return library


def _login(ref: TokenKeyRef) -> pkcs11.Session:
    try:
        token = _library(ref.module_path).get_token(token_label=ref.token)
    except pkcs11.exceptions.NoSuchToken:
        raise SignerError(f"no token labelled {ref.token!r} in {ref.module_path}; check the token label") from None
    except pkcs11.exceptions.PKCS11Error as exc:
        raise SignerError(f"cannot reach token {ref.token!r}: {type(exc).__name__}") from None
    try:
        return token.open(user_pin=_read_pin(ref), rw=True)
    except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange):
        raise SignerError(f"token {ref.token!r} rejected the PIN; check the PIN file") from None
    except pkcs11.exceptions.PinLocked:
        raise SignerError(f"the PIN of token {ref.token!r} is locked; ask the security officer to reset it") from None
    except pkcs11.exceptions.PKCS11Error as exc:
        raise SignerError(f"cannot log in to token {ref.token!r}: {type(exc).__name__}") from None


class _SharedSession:
    """One logged-in read-write session per library and token, shared by every signer on that token.

    PKCS#11 login state belongs to the application, not to a session, and
    python-pkcs11 logs out when it closes a session, which would log out
    every other session on the token. So signers share one session, which
    is closed when the last of them releases it. A session must not be used
    by two threads at once, so users hold `lock` around each call.
    """

    def __init__(self, key: tuple[str, str], session: pkcs11.Session):
        self.key = key
        self.session = session
        self.lock = threading.RLock()
        self.users = 0

    @classmethod
    def acquire(cls, ref: TokenKeyRef) -> "_SharedSession":
        key = (ref.module_path, ref.token)
        with _pool_lock:
            shared = _sessions.get(key)
            if shared is None:
                shared = cls(key, _login(ref))
                _sessions[key] = shared
            shared.users += 1
            return shared

    def release(self) -> None:
        with _pool_lock:
            self.users -= 1
            if self.users == 0:
                del _sessions[self.key]
                with self.lock:
                    self.session.close()


def _public_key_of(public_object: pkcs11.Object, ref: TokenKeyRef) -> ec.EllipticCurvePublicKey:
    """Load the P-256 public key from CKA_EC_POINT, DER OCTET STRING or raw X9.62 point."""
    point = bytes(public_object[Attribute.EC_POINT])
    if len(point) == P256_POINT_SIZE + 2 and point[0] == 0x04 and point[1] == P256_POINT_SIZE:
        point = point[2:]
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
    except ValueError:
        raise SignerError(f"key {ref.uri} is not an ECDSA P-256 key") from None


def _find_key(session: pkcs11.Session, ref: TokenKeyRef, object_class: ObjectClass) -> pkcs11.Object:
    try:
        return session.get_key(object_class=object_class, key_type=KeyType.EC, label=ref.label)
    except pkcs11.exceptions.NoSuchKey:
        kind = "private" if object_class is ObjectClass.PRIVATE_KEY else "public"
        raise SignerError(
            f"token {ref.token!r} has no EC {kind} key labelled {ref.label!r}; create it with 'kartu keys create --key {ref.uri}'"
        ) from None
    except pkcs11.exceptions.MultipleObjectsReturned:
        raise SignerError(f"token {ref.token!r} has several keys labelled {ref.label!r}; give each key its own label") from None


class Pkcs11Signer:
    """ES256 signer over a private key that never leaves its PKCS#11 token; close() when done."""

    def __init__(self, ref: TokenKeyRef, shared: _SharedSession):
        self.ref = ref
        self._shared = shared
        with shared.lock:
            self._private_key = _find_key(shared.session, ref, ObjectClass.PRIVATE_KEY)
            self.public_key = _public_key_of(_find_key(shared.session, ref, ObjectClass.PUBLIC_KEY), ref)
        self.kid = kid_of(self.public_key)

    @classmethod
    def open(cls, uri: str) -> "Pkcs11Signer":
        ref = parse_pkcs11_uri(uri)
        shared = _SharedSession.acquire(ref)
        try:
            return cls(ref, shared)
        except BaseException:
            shared.release()
            raise

    def sign(self, data: bytes) -> bytes:
        if self._shared is None:
            raise SignerError(f"signer for {self.ref.uri} is closed")
        digest = hashlib.sha256(data).digest()
        with self._shared.lock:
            try:
                signature = self._private_key.sign(digest, mechanism=Mechanism.ECDSA)
            except pkcs11.exceptions.PKCS11Error as exc:
                raise SignerError(f"token key {self.ref.uri} failed to sign: {type(exc).__name__}") from None
        if len(signature) != 64:
            raise SignerError(f"token key {self.ref.uri} returned a {len(signature)}-byte signature, expected 64")
        return signature

    def close(self) -> None:
        if self._shared is not None:
            self._shared.release()
            self._shared = None

    def __enter__(self) -> "Pkcs11Signer":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def generate_token_key(uri: str) -> Pkcs11Signer:
    """Generate a P-256 key pair on the token under the URI's label; refuse a label already in use."""
    ref = parse_pkcs11_uri(uri)
    shared = _SharedSession.acquire(ref)
    try:
        with shared.lock:
            _generate(shared.session, ref)
        return Pkcs11Signer(ref, shared)
    except BaseException:
        shared.release()
        raise


def _generate(session: pkcs11.Session, ref: TokenKeyRef) -> None:
    if list(session.get_objects({Attribute.LABEL: ref.label})):
        raise SignerError(f"token {ref.token!r} already has objects labelled {ref.label!r}; keys are never overwritten")
    try:
        parameters = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        public_object, _private_object = parameters.generate_keypair(
            store=True,
            label=ref.label,
            private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True},
        )
        kid = kid_of(_public_key_of(public_object, ref))
        # CKA_ID lets stock tools (pkcs11-tool, OpenSC) pair the two objects; the kid is known only now.
        for key_object in session.get_objects({Attribute.LABEL: ref.label}):
            key_object[Attribute.ID] = kid
    except pkcs11.exceptions.PKCS11Error as exc:
        raise SignerError(f"cannot generate a key on token {ref.token!r}: {type(exc).__name__}") from None
    log.info("generated key %s on token %s", kid.hex(), ref.token)


def list_token_keys(uri: str) -> list[tuple[str, bytes]]:
    """Return (label, kid) of every EC public key on the token named by uri; an object attribute is ignored."""
    ref = parse_pkcs11_uri(uri, require_object=False)
    shared = _SharedSession.acquire(ref)
    try:
        with shared.lock:
            query = {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.EC}
            keys = [(item.label, kid_of(_public_key_of(item, ref))) for item in shared.session.get_objects(query)]
    finally:
        shared.release()
    return sorted(keys)
