"""Residents, households, register imports and programme entitlements.

Seeds the rules of the city programmes beside LPG 3 kg. Amounts and cover
end dates are placeholders for the demo, to be set by the programme owners
through PUT /api/v1/programmes/{code}/rule.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEEDED_AT = datetime(2026, 12, 4, tzinfo=timezone.utc)

# code, name, owner OPD, unit, quota, scope, quota period, desil range
PROGRAMMES = [
    ("pbi", "BPJS Kesehatan PBI", "Dinas Kesehatan", "kepesertaan", 0, "person", "none", 1, 5),
    ("bpjstk", "BPJS Ketenagakerjaan Pekerja Rentan", "Dinas Tenaga Kerja", "kepesertaan", 0, "person", "none", 1, 10),
    ("beasiswa", "Beasiswa Kota Jambi", "Dinas Pendidikan", "pencairan", 1, "person", "semester", 1, 4),
    ("bantuan_bencana", "Bantuan Tunai Bencana", "Badan Penanggulangan Bencana Daerah", "pencairan", 1,
     "household", "event", 1, 10),
    ("lansia", "Lansia Bahagia", "Dinas Sosial", "pencairan", 1, "person", "month", 1, 10),
]

# code, benefit kind, PIN required, eligibility (see server.programmes)
RULES = [
    ("lpg", "quota", False, {}),
    ("pbi", "status", False, {"valid_until": "2026-12-31"}),
    ("bpjstk", "status", False, {
        "occupations": ["KETUA RT", "GURU NGAJI", "PETUGAS KEBERSIHAN"], "valid_until": "2026-12-31",
    }),
    ("beasiswa", "cash", False, {
        "relationships": ["ANAK"], "max_age": 24,
        "school_amounts": {"SD": 450000, "SMP": 750000, "SMA": 1000000, "SMK": 1000000, "PT": 2400000},
    }),
    ("bantuan_bencana", "one_time", True, {"events": []}),
    ("lansia", "cash", False, {"min_age": 60, "amount": 300000}),
]


def _create_register_tables() -> None:
    op.create_table(
        "register_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_register_imports"),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kk", sa.String(16), nullable=False),
        sa.Column("household_id", sa.LargeBinary(8), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_households"),
        sa.UniqueConstraint("kk", name="uq_households_kk"),
    )
    op.create_index("ix_households_household_id", "households", ["household_id"])
    op.create_table(
        "residents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("household_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("kelurahan", sa.String(10), nullable=False),
        sa.Column("desil", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("occupation", sa.String(60), nullable=True),
        sa.Column("school", sa.String(8), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["household_pk"], ["households.id"], name="fk_residents_household_pk_households"),
        sa.ForeignKeyConstraint(["import_id"], ["register_imports.id"], name="fk_residents_import_id_register_imports"),
        sa.PrimaryKeyConstraint("id", name="pk_residents"),
        sa.UniqueConstraint("nik", name="uq_residents_nik"),
    )
    op.create_index("ix_residents_household_pk", "residents", ["household_pk"])
    op.create_table(
        "resident_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resident_pk", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_columns", sa.String(200), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["resident_pk"], ["residents.id"], name="fk_resident_history_resident_pk_residents"),
        sa.ForeignKeyConstraint(
            ["import_id"], ["register_imports.id"], name="fk_resident_history_import_id_register_imports"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_resident_history"),
    )
    op.create_index("ix_resident_history_resident_pk", "resident_history", ["resident_pk"])


def _create_entitlement_tables() -> sa.Table:
    rules = op.create_table(
        "programme_rules",
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("benefit_kind", sa.String(16), nullable=False),
        sa.Column("pin_required", sa.Boolean(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_programme_rules_program_programmes"),
        sa.PrimaryKeyConstraint("program", name="pk_programme_rules"),
    )
    op.create_table(
        "entitlements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("household_pk", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("resident_pk", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.LargeBinary(8), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("event", sa.String(64), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["program"], ["programmes.code"], name="fk_entitlements_program_programmes"),
        sa.ForeignKeyConstraint(["household_pk"], ["households.id"], name="fk_entitlements_household_pk_households"),
        sa.ForeignKeyConstraint(["resident_pk"], ["residents.id"], name="fk_entitlements_resident_pk_residents"),
        sa.PrimaryKeyConstraint("id", name="pk_entitlements"),
        sa.UniqueConstraint("program", "household_pk", "subject", name="uq_entitlements_program_household_subject"),
    )
    op.create_index("ix_entitlements_household_pk", "entitlements", ["household_pk"])
    op.create_index("ix_entitlements_program_household_id", "entitlements", ["program", "household_id"])
    return rules


def upgrade() -> None:
    _create_register_tables()
    rules = _create_entitlement_tables()
    programmes = sa.table(
        "programmes",
        *(sa.column(name) for name in ("code", "name", "owner_opd", "unit", "quota", "quota_scope",
                                       "quota_period", "desil_min", "desil_max")),
    )
    op.bulk_insert(
        programmes,
        [
            dict(zip(("code", "name", "owner_opd", "unit", "quota", "quota_scope", "quota_period",
                      "desil_min", "desil_max"), row))
            for row in PROGRAMMES
        ],
    )
    op.bulk_insert(
        rules,
        [
            {"program": code, "benefit_kind": kind, "pin_required": pin, "eligibility": eligibility,
             "updated_at": SEEDED_AT}
            for code, kind, pin, eligibility in RULES
        ],
    )


def downgrade() -> None:
    op.drop_table("entitlements")
    op.drop_table("programme_rules")
    op.drop_table("resident_history")
    op.drop_table("residents")
    op.drop_table("households")
    op.drop_table("register_imports")
    seeded = ", ".join(f"'{row[0]}'" for row in PROGRAMMES)
    op.execute(sa.text(f"DELETE FROM service_point_programmes WHERE program IN ({seeded})"))
    op.execute(sa.text(f"DELETE FROM programmes WHERE code IN ({seeded})"))
