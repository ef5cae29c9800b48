"""Fixtures for the central server tests.

Each test that takes `database_url` runs twice: on a fresh SQLite file and on
PostgreSQL at 127.0.0.1:5432. The PostgreSQL run uses one database per test
session, created with a unique name and dropped at the end, and one schema
per test inside it. When PostgreSQL is unreachable those runs are skipped,
unless the environment variable CI is set: then they fail.

`live` starts the app in a real uvicorn server on a free loopback port in a
background thread, with a fresh sync key that signs entitlement sets (a test
sets app.state.sync_signer to another key or None). The server and the test
share a controllable clock that starts at 2026-03-15 10:00 WIB. `kit` wraps
the HTTP calls the tests repeat.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from card import cose
from card.cardnumber import make_card_number
from card.entitlement_set import MAX_SET_BYTES, decode_entitlements
from card.keys import FileSigner, compress_point, generate_private_key, spki_of
from card.records import Assurance, Redemption, sign_record
from card.request_auth import sign_request
from server.app import create_app
from server.fields import decode_base64, encode_base64
from server.periods import period_of

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USERS = ("postgres", "root")

# 2026-03-15 10:00 WIB, mid-month so that tests moving the clock by hours stay in one period.
START_TIME = int(datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc).timestamp())


class FakeClock:
    """A clock that returns a fixed time until a test moves it."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- databases ---------------------------------------------------------------


def _postgres_connect(user: str, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=user, dbname=dbname, connect_timeout=3, autocommit=True
    )


def _postgres_user() -> tuple[str | None, str]:
    errors = []
    for user in POSTGRES_USERS:
        try:
            with _postgres_connect(user):
                return user, ""
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    return None, "; ".join(errors)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database for this session and drop it afterwards."""
    user, error = _postgres_user()
    if user is None:
        message = f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} is unreachable ({error})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so the PostgreSQL tests must run")
        pytest.skip(f"{message}; set CI=1 to turn this skip into a failure")

    name = f"kartu_test_{os.getpid()}_{secrets.token_hex(4)}"
    with _postgres_connect(user) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        with _postgres_connect(user) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    base_url = request.getfixturevalue("postgres_database")
    user, dbname = base_url.split("://", 1)[1].split("@", 1)[0], base_url.rsplit("/", 1)[1]
    schema = f"test_{secrets.token_hex(6)}"
    with _postgres_connect(user, dbname) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base_url}?options=-csearch_path%3D{schema}"


# --- live server -------------------------------------------------------------


@dataclasses.dataclass
class LiveServer:
    base_url: str
    admin_token: str
    clock: FakeClock
    app: object


def start_server(app) -> tuple[uvicorn.Server, threading.Thread, socket.socket, str]:
    """Serve app on a free loopback port from a background thread.

    The socket is listening before the thread starts, so a client can connect
    at once, because the kernel queues the connection until uvicorn accepts it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    host, port = sock.getsockname()
    return server, thread, sock, f"http://{host}:{port}"


def stop_server(server: uvicorn.Server, thread: threading.Thread, sock: socket.socket) -> None:
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
    assert not thread.is_alive(), "uvicorn did not stop within 30 s"


@pytest.fixture
def live(database_url: str) -> Iterator[LiveServer]:
    clock = FakeClock(START_TIME)
    token = secrets.token_urlsafe(32)
    app = create_app(database_url, token, clock=clock, sync_signer=FileSigner(generate_private_key()))
    server, thread, sock, base_url = start_server(app)
    try:
        yield LiveServer(base_url=base_url, admin_token=token, clock=clock, app=app)
    finally:
        stop_server(server, thread, sock)


# --- HTTP helpers ------------------------------------------------------------


class TerminalAuth(httpx.Auth):
    """Sign each request as card.request_auth describes, at the clock's time plus skew seconds."""

    requires_request_body = True

    def __init__(self, signer, terminal_id: str, clock, skew: int = 0):
        self.signer = signer
        self.terminal_id = terminal_id
        self.clock = clock
        self.skew = skew

    def auth_flow(self, request: httpx.Request):
        timestamp = int(self.clock()) + self.skew
        target = request.url.raw_path.decode("ascii")
        request.headers.update(
            sign_request(self.signer, self.terminal_id, request.method, target, timestamp, request.content)
        )
        yield request


@dataclasses.dataclass
class IssuedCard:
    number: str
    household_id: bytes
    assurance: str
    private_key: ec.EllipticCurvePrivateKey | None

    def sign_tap(self, digest: bytes) -> bytes:
        """Sign a tap digest as a PIV card does: DER ECDSA over a SHA-256 value."""
        return self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@dataclasses.dataclass
class EnrolledTerminal:
    terminal_id: str
    service_point_id: int
    signer: FileSigner
    client: httpx.Client


class Kit:
    """The calls that server tests repeat, against one live server."""

    def __init__(self, live: LiveServer):
        self.live = live
        self.clock = live.clock
        self.admin = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.admin_token}"})
        self.anonymous = httpx.Client(base_url=live.base_url)
        self._serial = 0
        self._clients = [self.admin, self.anonymous]

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def card_payload(self, *, assurance: str = "chip", household_id: bytes | None = None, desil: int = 2,
                     expires: str = "2031-01-31") -> tuple[dict, ec.EllipticCurvePrivateKey | None]:
        self._serial += 1
        private_key = generate_private_key() if assurance == "chip" else None
        payload = {
            "card_number": make_card_number(self._serial),
            "household_id": (household_id or secrets.token_bytes(8)).hex(),
            "kelurahan": "1571011001",
            "desil": desil,
            "issued": "2026-01-31",
            "expires": expires,
            "issuer_kid": "a1b2c3d4e5f60718",
            "assurance": assurance,
            "card_key": compress_point(private_key.public_key()).hex() if private_key else None,
        }
        return payload, private_key

    def register_card(self, **options) -> IssuedCard:
        payload, private_key = self.card_payload(**options)
        response = self.admin.post("/api/v1/cards", json=payload)
        assert response.status_code == 201, response.text
        return IssuedCard(
            number=payload["card_number"],
            household_id=bytes.fromhex(payload["household_id"]),
            assurance=payload["assurance"],
            private_key=private_key,
        )

    def service_point(self, programmes: tuple[str, ...] = ("lpg",)) -> int:
        response = self.admin.post(
            "/api/v1/service-points", json={"name": "Agen LPG Talang Banjar", "kind": "lpg_agent",
                                            "programmes": list(programmes)}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def enrolment_code(self, service_point_id: int) -> str:
        response = self.admin.post(f"/api/v1/service-points/{service_point_id}/enrolment-codes")
        assert response.status_code == 201, response.text
        return response.json()["code"]

    def enrolment_payload(self, code: str, terminal_id: str | None = None,
                          signer: FileSigner | None = None) -> tuple[dict, FileSigner]:
        signer = signer or FileSigner(generate_private_key())
        payload = {
            "code": code,
            "terminal_id": terminal_id or f"T-{secrets.token_hex(4)}",
            "public_key": encode_base64(spki_of(signer.public_key)),
            "name": "Kasir 1",
        }
        return payload, signer

    def terminal_client(self, signer: FileSigner, terminal_id: str, skew: int = 0) -> httpx.Client:
        client = httpx.Client(base_url=self.live.base_url, auth=TerminalAuth(signer, terminal_id, self.clock, skew))
        self._clients.append(client)
        return client

    def enrol_terminal(self, service_point_id: int | None = None, terminal_id: str | None = None) -> EnrolledTerminal:
        if service_point_id is None:
            service_point_id = self.service_point()
        payload, signer = self.enrolment_payload(self.enrolment_code(service_point_id), terminal_id)
        response = self.anonymous.post("/api/v1/terminals/enrol", json=payload)
        assert response.status_code == 201, response.text
        return EnrolledTerminal(
            terminal_id=payload["terminal_id"],
            service_point_id=service_point_id,
            signer=signer,
            client=self.terminal_client(signer, payload["terminal_id"]),
        )

    def record(self, terminal: EnrolledTerminal, card: IssuedCard, *, quantity: int = 1, program: str = "lpg",
               tapped_at: int | None = None, signer=None, card_signature: bytes | None = None,
               **fields) -> bytes:
        """Return a COSE_Sign1 redemption record signed by the terminal (or signer); fields override values."""
        tapped_at = int(self.clock()) if tapped_at is None else tapped_at
        record = Redemption(
            record_id=str(uuid.uuid4()),
            terminal_id=terminal.terminal_id,
            card_number=card.number,
            household_id=card.household_id,
            program=program,
            quantity=quantity,
            period=fields.pop("period") if "period" in fields else period_of(tapped_at),
            tapped_at=tapped_at,
            nonce=secrets.token_bytes(16),
            assurance=Assurance(card.assurance),
        )
        record = dataclasses.replace(record, **fields)
        if record.assurance is Assurance.CHIP:
            signature = card_signature if card_signature is not None else card.sign_tap(record.digest())
            record = dataclasses.replace(record, card_signature=signature)
        return sign_record(record, signer or terminal.signer)

    def push(self, terminal: EnrolledTerminal, records: list[bytes]) -> httpx.Response:
        """Push records, then wait until the server has reconciled every queued batch."""
        response = terminal.client.post(
            "/api/v1/sync/redemptions", json={"records": [encode_base64(record) for record in records]}
        )
        self.live.app.state.reconciler.drain()
        return response

    def entitlements(self, terminal: EnrolledTerminal, program: str = "lpg", since: int | None = None) -> httpx.Response:
        params = {"program": program} if since is None else {"program": program, "since": since}
        return terminal.client.get("/api/v1/sync/entitlements", params=params)

    def pulled(self, terminal: EnrolledTerminal, program: str = "lpg", since: int | None = None) -> dict:
        """Pull a programme's entitlements and return the signed set's content, verified with the server's sync key.

        The shape is the set's content as JSON would carry it: household ids
        in hex, valid_until as an ISO date, the offline rule as a dict or None.
        """
        response = self.entitlements(terminal, program, since)
        assert response.status_code == 200, response.text
        body = response.json()
        message = cose.decode_sign1(decode_base64(body["entitlement_set"]), max_size=MAX_SET_BYTES)
        signer = self.live.app.state.sync_signer
        assert message.kid == signer.kid
        assert cose.verify_sign1(message, signer.public_key)
        content = decode_entitlements(message.payload)
        assert (body["program"], body["period"], body["households"], body["revision"], body["base_revision"],
                body["removed"]) == (content.program, content.period, len(content.households), content.revision,
                                     content.base_revision, len(content.removed))
        offline = content.rules.offline_rule
        return {
            "program": content.program, "period": content.period, "quota": content.quota, "unit": content.unit,
            "benefit_kind": content.rules.benefit_kind, "pin_required": content.rules.pin_required,
            "offline_rule": offline._asdict() if offline else None,
            "issued_at_ms": content.issued_at_ms, "terminal_id": content.terminal_id,
            "service_point_id": content.service_point_id,
            "revision": content.revision, "base_revision": content.base_revision,
            "removed": [household_id.hex() for household_id in content.removed],
            "households": [
                {"household_id": h.household_id.hex(), "used": h.used, "persons": h.persons, "amount": h.amount,
                 "valid_until": h.valid_until and h.valid_until.isoformat()}
                for h in content.households
            ],
        }

    def stats(self) -> dict:
        response = self.admin.get("/api/v1/stats")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def kit(live: LiveServer) -> Iterator[Kit]:
    helper = Kit(live)
    try:
        yield helper
    finally:
        helper.close()
