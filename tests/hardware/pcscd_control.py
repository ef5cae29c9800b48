"""Stop and start the system pcscd for robustness tests, and always leave it running with its usual readers.

The tests stop pcscd by the PID in its PID file and start it again the way
scripts/setup-system.sh does (`pcscd`, which forks and returns once its socket
listens). They do so only while holding the pcsc_available lock, so no other
test session uses the readers meanwhile. The `pcscd_control` fixture puts the
plain pcscd back after every test, also after a failure.

NOTE: where systemd socket-activates pcscd, the restarted pcscd runs outside
systemd until the next reboot. These tests have run only on a machine without
systemd.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
from pathlib import Path

import pytest
from smartcard import scard

__all__ = ["PcscdControl", "pcscd_control"]

PID_FILE = Path("/run/pcscd/pcscd.pid")
EXIT_WAIT_SECONDS = 20


def _running_pid() -> int | None:
    try:
        text = PID_FILE.read_text().strip("\x00\n ")
        pid = int(text)
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\x00").decode().split("\x00")
    except FileNotFoundError:
        return []


class PcscdControl:
    """Stops and starts pcscd, optionally with a reader configuration directory of the test's choice."""

    def stop(self) -> None:
        pid = _running_pid()
        if pid is None:
            return
        pidfd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGTERM)
            ready, _, _ = select.select([pidfd], [], [], EXIT_WAIT_SECONDS)
        finally:
            os.close(pidfd)
        if not ready:
            raise RuntimeError(f"pcscd (PID {pid}) did not exit within {EXIT_WAIT_SECONDS} s of SIGTERM")

    def start(self, config_dir: Path | None = None) -> None:
        """Start pcscd; config_dir replaces /etc/reader.conf.d (an empty directory gives a pcscd with no readers)."""
        command = ["pcscd"] if config_dir is None else ["pcscd", "--config", str(config_dir)]
        subprocess.run(command, check=True, timeout=EXIT_WAIT_SECONDS)
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise RuntimeError(f"pcscd started but SCardEstablishContext failed (0x{hresult & 0xFFFFFFFF:08X})")
        scard.SCardReleaseContext(context)

    def restart(self, config_dir: Path | None = None) -> None:
        self.stop()
        self.start(config_dir)

    def restore(self) -> None:
        """Leave the usual pcscd running: plain `pcscd`, reading /etc/reader.conf.d."""
        pid = _running_pid()
        if pid is not None and _command_line(pid)[1:] == []:
            return
        self.stop()
        self.start()


@pytest.fixture
def pcscd_control(pcsc_available):
    control = PcscdControl()
    try:
        yield control
    finally:
        control.restore()
