"""The whole chain as `kartu demo` runs it: real pcscd, vpcd, HTTP server and SQLite."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def demo_summary(tmp_path_factory, pcsc_available) -> dict:
    workdir = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "kartu", "demo", "--json", "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_server_redemptions_equal_accepted_taps(demo_summary) -> None:
    assert demo_summary["taps_accepted"] == 7
    assert demo_summary["redemptions_on_server"] == demo_summary["taps_accepted"]


def test_cards_issued(demo_summary) -> None:
    assert demo_summary["cards_issued"] == {"chip": 5, "qr": 1}


def test_over_quota_and_clone_refused(demo_summary) -> None:
    assert demo_summary["taps_refused"] == {"quota_exceeded": 1, "card_not_genuine": 1}
    refusals = {step["reason"]: step for step in demo_summary["steps"] if not step["accepted"]}
    assert "3 dari 3 tabung" in refusals["quota_exceeded"]["message_id"]
    assert "copy" in refusals["card_not_genuine"]["message_en"]


def test_qr_card_served_from_rendered_face(demo_summary) -> None:
    qr_steps = [step for step in demo_summary["steps"] if "QR" in step["step"]]
    assert len(qr_steps) == 1
    assert qr_steps[0]["accepted"] is True
