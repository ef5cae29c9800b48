"""`kartu demo`: the whole chain on embedded defaults.

The demo creates keys, starts the server on SQLite and generates a synthetic
register. Five residents get chip cards on reference cards in the vpcd
reader, and one gets a QR-only card. An LPG terminal enrols, syncs and serves
them offline, an over-quota tap and a cloned card among them. After a second
sync, the summary compares the terminal's accepted taps with the server's
redemptions.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from card.decision import Decision
from card.piv import DEFAULT_MANAGEMENT_KEY, ObjectId, PivSession, Slot
from card.reference_state import CardState
from hardware.pcsc import PcscContext
from hardware.qrimage import decode_qr_image
from issuance.issue import issue_resident
from issuance.photo import placeholder_photo
from issuance.register import Resident, read_register, write_register
from issuance.station import ISSUER_PUBLIC_KEY, Station, create_station_keys
from issuance.synth import generate_register
from kartu.demo_support import DEMO_READER, CityKeys, ServerThread, create_city_keys, inserted_card, publish_trust_list
from terminal.enrol import enrol_terminal, open_terminal
from terminal.sync import SyncClient
from terminal.tap import TapService

__all__ = ["add_commands", "run_demo"]

log = logging.getLogger(__name__)
PROGRAM = "lpg"
REGISTER_SIZE = 240
REGISTER_SEED = 1571


@dataclass
class Summary:
    cards_issued: dict[str, int] = field(default_factory=dict)
    taps_accepted: int = 0
    taps_refused: Counter = field(default_factory=Counter)
    redemptions_on_server: int = 0
    steps: list[dict] = field(default_factory=list)

    def record(self, label: str, decision: Decision, card_number: str | None) -> None:
        if decision.accepted:
            self.taps_accepted += 1
        else:
            self.taps_refused[decision.reason.value] += 1
        self.steps.append({
            "step": label, "card_number": card_number, "accepted": decision.accepted,
            "reason": decision.reason.value if decision.reason else None,
            "message_id": decision.message_id, "message_en": decision.message_en,
        })

    def as_dict(self) -> dict:
        return {
            "cards_issued": self.cards_issued,
            "taps_accepted": self.taps_accepted,
            "taps_refused": dict(self.taps_refused),
            "redemptions_on_server": self.redemptions_on_server,
            "steps": self.steps,
        }


def _pick_residents(residents: list[Resident]) -> tuple[list[Resident], Resident]:
    """Two LPG-eligible members of one household, three of other households, and one more for the QR card."""
    households: dict[str, list[Resident]] = defaultdict(list)
    for resident in residents:
        if resident.desil <= 4 and resident.birth_date <= date(2008, 1, 1):
            households[resident.kk].append(resident)
    shared = next(members for members in households.values() if len(members) >= 2)
    others = [members[0] for kk, members in households.items() if kk != shared[0].kk]
    if len(others) < 4:
        raise RuntimeError("the synthetic register has too few LPG-eligible households for the demo")
    return shared[:2] + others[:3], others[3]


def _clone(genuine: Path, clone: Path, context: PcscContext) -> None:
    """Copy every readable object of a genuine card onto a blank card that has a key of its own."""
    with inserted_card(genuine, context) as connection:
        session = PivSession(connection)
        objects = {oid: session.get_data(oid) for oid in (ObjectId.KARTU_CREDENTIAL, ObjectId.FACIAL_IMAGE)}
    CardState.blank(clone)
    with inserted_card(clone, context) as connection:
        session = PivSession(connection)
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.generate_key(Slot.CARD_AUTHENTICATION)
        for oid, value in objects.items():
            session.put_data(oid, value)


def run_demo(workdir: Path, language: str = "id", echo=print) -> Summary:
    workdir.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    station_dir, cards_dir, faces_dir = workdir / "station", workdir / "cards", workdir / "faces"
    create_station_keys(station_dir)
    city = create_city_keys(workdir / "city")
    admin_token = secrets.token_urlsafe(32)
    server = ServerThread(f"sqlite:///{workdir / 'server.db'}", admin_token, sync_signer=city.sync).start()
    try:
        publish_trust_list(server, city, station_dir / ISSUER_PUBLIC_KEY, date.today())
        register_path = workdir / "register.csv"
        write_register(generate_register(REGISTER_SIZE, REGISTER_SEED), register_path)
        residents = read_register(register_path).residents
        echo(f"register: {len(residents)} synthetic residents in {register_path}")
        chip_residents, qr_resident = _pick_residents(residents)

        station = Station(station_dir)
        with PcscContext() as context:
            card_files = []
            for index, resident in enumerate(chip_residents, start=1):
                state_file = cards_dir / f"card-{index}.json"
                CardState.blank(state_file)
                with inserted_card(state_file, context) as connection:
                    # The demo has no camera, so each chip gets a drawn stand-in portrait.
                    portrait = placeholder_photo(resident.name, seed=index)
                    result = issue_resident(station, resident, connection, date.today(), faces_dir, server.url,
                                            admin_token, photo=portrait)
                card_files.append((state_file, result.card.card_number))
                echo(f"issued chip card {result.card.card_number} ({state_file.name})")
            qr_result = issue_resident(station, qr_resident, None, date.today(), faces_dir, server.url, admin_token)
            echo(f"issued QR-only card {qr_result.card.card_number}, face {qr_result.back.name}")
            summary.cards_issued = {"chip": len(card_files), "qr": 1}

            terminal_dir = _enrol_terminal(server, workdir, city)
            store, signer = open_terminal(terminal_dir)
            SyncClient(store, signer, server.url).sync()
            service = TapService(store, signer)

            def tap(label: str, state_file: Path) -> None:
                with inserted_card(state_file, context) as connection:
                    outcome = service.tap_card(connection, PROGRAM, datetime.now(timezone.utc))
                number = outcome.credential.card_number if outcome.credential else None
                summary.record(label, outcome.decision, number)
                echo(f"{label}: {outcome.decision.message(language)}")

            shared_a, shared_b = card_files[0][0], card_files[1][0]
            tap("tap card 1 (household A)", shared_a)
            tap("tap card 1 again (household A)", shared_a)
            tap("tap card 2 (household A)", shared_b)
            tap("tap card 2 over the household quota", shared_b)
            for index in (2, 3, 4):
                tap(f"tap card {index + 1}", card_files[index][0])
            clone_file = cards_dir / "clone-of-card-3.json"
            _clone(card_files[2][0], clone_file, context)
            tap("tap a clone of card 3", clone_file)

        qr_text = decode_qr_image(qr_result.back)
        outcome = service.scan_qr(qr_text, PROGRAM, datetime.now(timezone.utc))
        summary.record("scan the QR code of the QR-only card", outcome.decision, qr_result.card.card_number)
        echo(f"scan QR-only card: {outcome.decision.message(language)}")

        report = SyncClient(store, signer, server.url).sync()
        echo(f"sync: {report.pushed} records pushed")
        summary.redemptions_on_server = server.get("/api/v1/stats")["redemptions"]
    finally:
        server.stop()
    return summary


def _enrol_terminal(server: ServerThread, workdir: Path, city: CityKeys) -> Path:
    """Enrol the terminal with the root key pinned; its first sync pulls the trust list that names the issuer."""
    point = server.post("/api/v1/service-points", {"name": "Pangkalan LPG Demo", "kind": "lpg_agent", "programmes": [PROGRAM]})
    code = server.post(f"/api/v1/service-points/{point['id']}/enrolment-codes", {})["code"]
    terminal_dir = workdir / "terminal"
    enrol_terminal(terminal_dir, server.url, code, [], "LPG agent demo terminal", root_key_file=city.root_public_file)
    return terminal_dir


def _print_table(summary: Summary) -> None:
    rows = [
        ("cards issued (chip)", summary.cards_issued.get("chip", 0)),
        ("cards issued (QR only)", summary.cards_issued.get("qr", 0)),
        ("taps accepted", summary.taps_accepted),
        *[(f"taps refused: {reason}", count) for reason, count in sorted(summary.taps_refused.items())],
        ("redemptions on the server", summary.redemptions_on_server),
    ]
    width = max(len(label) for label, _ in rows)
    print("\n" + "-" * (width + 8))
    for label, value in rows:
        print(f"{label:<{width}}  {value:>5}")
    print("-" * (width + 8))


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole chain on the reference card and a local server")
    parser.add_argument("--workdir", type=Path, help="directory for the demo's files (default: demo-run/<time>)")
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    workdir = args.workdir or Path("demo-run") / datetime.now().strftime("%Y%m%d-%H%M%S")
    if workdir.exists() and any(workdir.iterdir()):
        print(f"{workdir} is not empty; give a new --workdir", file=sys.stderr)
        return 2
    echo = (lambda *_: None) if args.json else print
    summary = run_demo(workdir, args.lang, echo)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_table(summary)
        print(f"files: {workdir}")
    return 0 if summary.redemptions_on_server == summary.taps_accepted else 1
