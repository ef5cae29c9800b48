"""The tap loop at a busy counter: card after card, pcscd restarts, cards pulled away mid-tap, bad cards.

Cards are personalised reference cards answered in this process through the
vpcd bridge, so a test can make a card hang up or stall at a chosen command.
Every tap goes through pyscard and the real pcscd.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from card.decision import Reason
from card.keys import FileSigner, load_private_key
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.monitor import CardMonitor
from hardware.pcsc import NoCard, PcscContext
from hardware.vpcd import VpcdBridge
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.store import TerminalStore
from terminal.tap import TapOutcome, TapService
from terminal.tap_loop import REMOVE_CARD_FIRST, Notice, TapLoop
from tests.conftest import READER, EmulatedCard
from tests.hardware.pcscd_control import pcscd_control  # noqa: F401 (fixture)
from tests.terminal.conftest import eject, insert, make_terminal, pcsc, personalise, residents, station  # noqa: F401

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
WAIT_SECONDS = 30
INS_GENERAL_AUTHENTICATE = 0x87
SLOT_CARD_AUTHENTICATION = 0x9E


def signs_challenge(apdu: bytes) -> bool:
    return apdu[1] == INS_GENERAL_AUTHENTICATE and apdu[3] == SLOT_CARD_AUTHENTICATION


class PulledCard:
    """A reference card taken off the reader while it computes the 9E signature: vpcd sees the card hang up."""

    def __init__(self, state_file: Path):
        self.inner = ReferenceCard(CardState.open(state_file))

    def reset(self) -> None:
        self.inner.reset()

    def process(self, apdu: bytes) -> bytes:
        if signs_challenge(apdu):
            raise ConnectionAbortedError("card pulled off the reader")
        return self.inner.process(apdu)


class StallingCard:
    """A reference card that holds its first 9E signature until released."""

    def __init__(self, state_file: Path):
        self.inner = ReferenceCard(CardState.open(state_file))
        self.entered = threading.Event()
        self.release = threading.Event()

    def reset(self) -> None:
        self.inner.reset()

    def process(self, apdu: bytes) -> bytes:
        if signs_challenge(apdu) and not self.release.is_set():
            self.entered.set()
            self.release.wait(WAIT_SECONDS)
        return self.inner.process(apdu)


class ScriptedCard:
    def __init__(self, answer: bytes):
        self.answer = answer

    def reset(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        return self.answer


class LoopRunner:
    """A TapLoop in a thread of its own, with its own terminal store connection (SQLite is per thread)."""

    def __init__(self, terminal_dir: Path):
        self.terminal_dir = terminal_dir
        self.outcomes: queue.Queue[TapOutcome] = queue.Queue()
        self.notices: queue.Queue[object] = queue.Queue()
        self.stop = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        store = TerminalStore(self.terminal_dir / STORE_NAME)
        service = TapService(store, FileSigner(load_private_key(self.terminal_dir / KEY_NAME)))
        try:
            with PcscContext(lazy=True) as context, CardMonitor(READER) as monitor:
                loop = TapLoop(service, monitor, context, "lpg", self.outcomes.put, self.notices.put, now=lambda: NOW)
                self.started.set()
                loop.run(self.stop)
        finally:
            store.close()

    def __enter__(self) -> "LoopRunner":
        self.thread.start()
        assert self.started.wait(WAIT_SECONDS)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(WAIT_SECONDS)

    def next_outcome(self) -> TapOutcome:
        try:
            return self.outcomes.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            pytest.fail(f"no tap outcome within {WAIT_SECONDS} s")

    def expect_notice(self, template: str) -> Notice:
        while True:
            try:
                notice = self.notices.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                pytest.fail(f"no notice {template!r} within {WAIT_SECONDS} s")
            if isinstance(notice, Notice) and notice.template == template:
                return notice


def record_count(store: TerminalStore) -> int:
    return store._db.execute("SELECT COUNT(*) FROM redemptions").fetchone()[0]


@pytest.fixture
def counter(pcsc, station, residents, tmp_path):
    """A personalised card (state file) and a terminal that serves its household."""
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    store, _signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0}, quota=10)
    yield tmp_path / "card.json", tmp_path / "terminal", store
    store.close()


def test_card_pulled_mid_tap_records_nothing(counter, pcsc) -> None:
    card_file, terminal_dir, store = counter
    with LoopRunner(terminal_dir) as runner:
        with VpcdBridge(PulledCard(card_file), ATR):
            cut = runner.next_outcome()
        pcsc.wait_for_removal(READER, WAIT_SECONDS)
        assert record_count(store) == 0
        with VpcdBridge(ReferenceCard(CardState.open(card_file)), ATR):
            served = runner.next_outcome()

    assert cut.decision.reason is Reason.CARD_REMOVED
    assert "Nothing was recorded" in cut.decision.message_en
    assert cut.decision.message_id != cut.decision.message_en
    assert served.decision.accepted, served.decision.message_en
    assert record_count(store) == 1


def test_pcscd_stopped_mid_tap_records_nothing(counter, pcscd_control) -> None:
    card_file, terminal_dir, store = counter
    card = StallingCard(card_file)
    with LoopRunner(terminal_dir) as runner, VpcdBridge(card, ATR, reconnect=True):
        assert card.entered.wait(WAIT_SECONDS)
        pcscd_control.stop()
        card.release.set()
        cut = runner.next_outcome()
        assert record_count(store) == 0
        pcscd_control.start()
        served = runner.next_outcome()

    assert cut.decision.reason is Reason.READER_LOST
    assert "SCardTransmit" in cut.decision.params["detail"]
    assert "Nothing was recorded" in cut.decision.message_en
    assert served.decision.accepted, served.decision.message_en
    assert record_count(store) == 1


def test_card_left_on_reader_through_restart_served_once(counter, pcsc, pcscd_control) -> None:
    card_file, terminal_dir, store = counter
    with LoopRunner(terminal_dir) as runner:
        with VpcdBridge(ReferenceCard(CardState.open(card_file)), ATR, reconnect=True):
            first = runner.next_outcome()
            pcscd_control.stop()
            pcscd_control.start()
            notice = runner.expect_notice(REMOVE_CARD_FIRST)
            assert record_count(store) == 1
        pcsc.wait_for_removal(READER, WAIT_SECONDS)
        with VpcdBridge(ReferenceCard(CardState.open(card_file)), ATR):
            second = runner.next_outcome()

    assert first.decision.accepted, first.decision.message_en
    assert "Take the card off" in notice.message("en")
    assert notice.message("id") != notice.message("en")
    assert second.decision.accepted, second.decision.message_en
    assert record_count(store) == 2


@pytest.mark.parametrize(("answer", "reason"), [
    (b"\x6A\x82", Reason.NOT_PIV_CARD),
    (b"\x6F", Reason.CARD_ANSWER_INVALID),
])
def test_loop_continues_after_foreign_card(counter, pcsc, answer, reason) -> None:
    card_file, terminal_dir, store = counter
    with LoopRunner(terminal_dir) as runner:
        with VpcdBridge(ScriptedCard(answer), ATR):
            refused = runner.next_outcome()
        pcsc.wait_for_removal(READER, WAIT_SECONDS)
        with VpcdBridge(ReferenceCard(CardState.open(card_file)), ATR):
            served = runner.next_outcome()

    assert refused.decision.reason is reason
    assert "Kartu Bahagia" in refused.decision.message_id
    assert served.decision.accepted, served.decision.message_en
    assert record_count(store) == 1


def read_line(stream, timeout: float = WAIT_SECONDS) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no output line within {timeout} s")


def test_tap_loop_cli_serves_until_interrupted(pcsc, station, residents, tmp_path) -> None:
    cards = [personalise(pcsc, station, resident, tmp_path / f"card-{index}.json") for index, resident in enumerate(residents[:2])]
    terminal_dir = tmp_path / "terminal"
    store, _signer = make_terminal(terminal_dir, station, {card.household_id: 0 for card in cards})
    store.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(terminal_dir),
         "--program", "lpg", "--reader", READER, "--loop", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        decisions = []
        for index in range(2):
            card = insert(pcsc, tmp_path / f"card-{index}.json")
            try:
                decisions.append(json.loads(read_line(process.stdout)))
            finally:
                eject(pcsc, card)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()

    assert [decision["accepted"] for decision in decisions] == [True, True]
    assert [decision["card_number"] for decision in decisions] == [card.card_number for card in cards]
    assert process.returncode == 0
    assert "Stopped after 2 taps: 2 accepted, 0 refused." in stderr


def test_single_tap_cli_without_reader(pcscd_control, station, tmp_path) -> None:
    make_terminal(tmp_path / "terminal", station, {})[0].close()
    no_readers = tmp_path / "reader.conf.d"
    no_readers.mkdir()
    pcscd_control.restart(config_dir=no_readers)
    result = subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", "id", "terminal", "tap", "--dir", str(tmp_path / "terminal"),
         "--program", "lpg", "--timeout", "2"],
        capture_output=True, text=True, timeout=WAIT_SECONDS,
    )
    assert result.returncode == 2
    assert "Tidak ada pembaca kartu" in result.stderr
    assert NoCard("timeout", seconds=2).message("id") in result.stderr
