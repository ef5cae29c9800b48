"""Alembic migrations on SQLite and PostgreSQL: schema matches the models, seed data, up and down."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from card.keys import compress_point, generate_private_key, uncompress_point
from server.app import create_app
from server.db import create_db_engine, downgrade_database, upgrade_database
from server.models import Base, Card, Programme
from server.models_register import ProgrammeRule

TABLES = {
    "alembic_version", "programmes", "cards", "service_points", "service_point_programmes",
    "enrolment_codes", "terminals", "redemptions",
    "staff_users", "staff_sessions", "audit_log",
    "register_imports", "households", "residents", "resident_history", "programme_rules", "entitlements",
    "findings", "finding_records", "service_point_areas", "terminal_volumes", "reconcile_queue",
    "entitlement_revisions", "served_entitlements",
    "trust_root", "trust_lists", "revocation_lists", "card_revocations", "login_failures",
}

PROGRAMME_CODES = {"lpg", "pbi", "bpjstk", "beasiswa", "bantuan_bencana", "lansia"}


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def test_tables_created(engine):
    assert set(inspect(engine).get_table_names()) == TABLES


def test_schema_matches_models(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_lpg_programme_seeded(engine):
    with Session(engine) as session:
        lpg = session.get(Programme, "lpg")
    assert (lpg.name, lpg.owner_opd, lpg.unit) == ("LPG 3 kg", "Dinas Perindustrian dan Perdagangan", "tabung")
    assert (lpg.quota, lpg.quota_scope, lpg.quota_period) == (3, "household", "month")
    assert (lpg.desil_min, lpg.desil_max) == (1, 4)


def test_city_programmes_seeded(engine):
    with Session(engine) as session:
        codes = set(session.scalars(select(Programme.code)))
        rules = {rule.program: rule for rule in session.scalars(select(ProgrammeRule))}
    assert codes == PROGRAMME_CODES
    assert set(rules) == PROGRAMME_CODES
    assert rules["bantuan_bencana"].pin_required is True
    assert rules["lansia"].eligibility["min_age"] == 60
    assert rules["lpg"].benefit_kind == "quota"


def test_second_start_keeps_data(database_url):
    token = secrets.token_urlsafe(32)
    first = create_app(database_url, token)
    with Session(first.state.engine) as session:
        session.add(_card("1571000000000429"))
        session.commit()
    first.state.engine.dispose()

    second = create_app(database_url, token)
    with Session(second.state.engine) as session:
        assert session.scalars(select(Card.card_number)).all() == ["1571000000000429"]
        assert len(session.scalars(select(Programme)).all()) == len(PROGRAMME_CODES)
    second.state.engine.dispose()


def test_downgrade_and_upgrade(engine):
    downgrade_database(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade_database(engine)
    assert set(inspect(engine).get_table_names()) == TABLES


def _card(number: str, **changes) -> Card:
    values = dict(
        card_number=number, household_id=b"\x01" * 8, kelurahan="1571011001", desil=2,
        issued=date(2026, 1, 31), expires=date(2031, 1, 31), issuer_kid=b"\x02" * 8,
        assurance="qr", card_key=None, status="active", created_at=datetime.now(timezone.utc),
    )
    values.update(changes)
    return Card(**values)


@pytest.mark.parametrize(
    "changes",
    [{"desil": 11}, {"assurance": "nfc"}, {"status": "lost"}, {"assurance": "chip"}, {"card_key": b"\x02" * 33}],
)
def test_check_constraints(engine, changes):
    with Session(engine) as session:
        session.add(_card("1571000000000429", **changes))
        with pytest.raises(IntegrityError):
            session.commit()


def test_timestamps_read_back_as_utc(engine):
    moment = datetime(2026, 3, 15, 10, 0, tzinfo=timezone.utc)
    with Session(engine) as session:
        session.add(_card("1571000000000429", created_at=moment))
        session.commit()
    with Session(engine) as session:
        stored = session.get(Card, "1571000000000429").created_at
    assert stored == moment
    assert stored.utcoffset().total_seconds() == 0


def test_card_keys_become_uncompressed_and_back(engine):
    card_key, pin_key = generate_private_key().public_key(), generate_private_key().public_key()
    downgrade_database(engine, "0012")
    with engine.begin() as connection:
        connection.execute(insert(Card.__table__), [
            _row("1571000000000429", assurance="chip", card_key=compress_point(card_key),
                 authentication_key=compress_point(pin_key)),
            _row("1571000000000437"),
        ])
    upgrade_database(engine)
    assert _stored_keys(engine) == {
        "1571000000000429": (uncompress_point(card_key), uncompress_point(pin_key)),
        "1571000000000437": (None, None),
    }
    downgrade_database(engine, "0012")
    assert _stored_keys(engine)["1571000000000429"] == (compress_point(card_key), compress_point(pin_key))


def _row(number: str, **changes) -> dict:
    card = _card(number, **changes)
    return {column.key: getattr(card, column.key) for column in Card.__table__.columns}


def _stored_keys(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(select(Card.card_number, Card.card_key, Card.authentication_key))
        return {number: (_bytes(key), _bytes(pin)) for number, key, pin in rows}


def _bytes(value) -> bytes | None:
    return None if value is None else bytes(value)
