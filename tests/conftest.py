"""Shared fixtures: issuer keys, credentials, and reference cards in the real vpcd reader."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from card.cardnumber import make_card_number
from card.credential import Credential, Holder, Profile
from card.keys import FileSigner, compress_point, generate_private_key
from card.verify import IssuerKey, TrustStore

READER = "Virtual PCD 00 00"
SECOND_READER = "Virtual PCD 00 01"


@pytest.fixture
def issuer() -> FileSigner:
    return FileSigner(generate_private_key())


@pytest.fixture
def trust(issuer: FileSigner) -> TrustStore:
    return TrustStore.of(IssuerKey(issuer.public_key))


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


def make_credential(profile: Profile = Profile.QR, **changes) -> Credential:
    fields = dict(
        profile=profile,
        card_number=make_card_number(1_000_000_042),
        holder=Holder("SITI NURHALIZA BINTI AHMAD", date(1984, 3, 17), "P", "1571011001"),
        household_id=bytes.fromhex("0011223344556677"),
        issued=date(2026, 12, 1),
        expires=date(2031, 12, 1),
    )
    if profile is Profile.CHIP:
        fields["photo_digest"] = bytes(32)
        fields["card_key"] = compress_point(generate_private_key().public_key())
    fields.update(changes)
    return Credential(**fields)


def pcscd_running() -> bool:
    return subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0


PCSC_LOCK = Path("/tmp/kartu-bahagia-pcsc.lock")
LOCK_HELD_VARIABLE = "KARTU_PCSC_LOCK_HELD"


def _lock_inherited() -> bool:
    """Return whether this process inherited a descriptor of the lock that already holds it.

    `flock LOCK pytest` passes its locked descriptor to pytest. Taking the
    lock again through a new descriptor would wait for that same lock
    forever, so a session started that way uses the inherited one.
    """
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") != str(PCSC_LOCK):
                continue
            fcntl.flock(int(name), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (OSError, BlockingIOError):
            continue
        return True
    return False


@pytest.fixture(scope="session")
def pcsc_available():
    """Hold the virtual readers for this test session.

    Every test session that touches a card shares one pcscd and the vpcd
    readers, so sessions take an exclusive lock and run their card tests one
    after another. `make test` takes the lock itself and sets
    KARTU_PCSC_LOCK_HELD=1, which this fixture then trusts.
    """
    if not pcscd_running():
        pytest.fail("pcscd is not running; start the tests with 'make test', which starts it")
    if os.environ.get(LOCK_HELD_VARIABLE) == "1" or _lock_inherited():
        yield
        return
    with PCSC_LOCK.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"\nwaiting for {PCSC_LOCK}: another session is using the virtual card readers", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class EmulatedCard:
    """A `kartu card emulate` process holding one state file in a vpcd reader."""

    def __init__(self, state_file: Path, port: int = 35963):
        self.state_file = state_file
        self.port = port
        self.process: subprocess.Popen | None = None

    def insert(self) -> "EmulatedCard":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kartu", "card", "emulate", "--state", str(self.state_file), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.process.stdout.readline()
        return self

    def remove(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


SCREENSHOTS_VARIABLE = "KARTU_UPDATE_SCREENSHOTS"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def screenshot_directory(scratch: Path, environ: dict[str, str] | None = None) -> Path:
    """Return docs/screenshots when KARTU_UPDATE_SCREENSHOTS=1, else scratch, so a plain test run leaves the tree clean."""
    environ = os.environ if environ is None else environ
    return DOCS_SCREENSHOTS if environ.get(SCREENSHOTS_VARIABLE) == "1" else scratch


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory) -> Path:
    """Directory that browser tests write their screenshots to (see screenshot_directory)."""
    directory = screenshot_directory(tmp_path_factory.mktemp("screenshots"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# Tests that share one machine-wide resource run on a single xdist worker:
# the vpcd readers behind pcscd, and the CUPS scheduler with its cups-pdf queue.
SHARED_RESOURCE_GROUP = "pcscd-and-cups"
SHARED_RESOURCE_MODULES = ("test_print_cups.py",)


def _uses_shared_resource(item: pytest.Item) -> bool:
    if "pcsc_available" in getattr(item, "fixturenames", ()):
        return True
    if item.get_closest_marker("pcsc") is not None:
        return True
    return item.path.name in SHARED_RESOURCE_MODULES


# tryfirst: xdist's worker hook reads the xdist_group markers, so they must exist before it runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _uses_shared_resource(item):
            item.add_marker(pytest.mark.xdist_group(SHARED_RESOURCE_GROUP))
