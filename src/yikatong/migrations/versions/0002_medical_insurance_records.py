"""Medical insurance records: enrolments, contributions, institutions, accumulators, claims, filings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:54:21.111617
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yikatong.core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "medical_institution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("designated", sa.Boolean(), nullable=False),
        sa.Column("province_direct", sa.Boolean(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_institution")),
        sa.UniqueConstraint("code", name=op.f("uq_medical_institution_code")),
    )
    op.create_table(
        "medical_accumulator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("deductible_paid", sa.BigInteger(), nullable=False),
        sa.Column("fund_paid", sa.BigInteger(), nullable=False),
        sa.Column("critical_illness_eligible", sa.BigInteger(), nullable=False),
        sa.Column("critical_illness_paid", sa.BigInteger(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_medical_accumulator_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_accumulator")),
        sa.UniqueConstraint("resident_id", "year", name="uq_medical_accumulator_year"),
    )
    op.create_table(
        "medical_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("claim_no", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("offsite_case", sa.String(length=32), nullable=True),
        sa.Column("family_payer_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("settled", "reversed", name="claimstatus", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("fund", sa.BigInteger(), nullable=False),
        sa.Column("critical_illness", sa.BigInteger(), nullable=False),
        sa.Column("personal_account", sa.BigInteger(), nullable=False),
        sa.Column("family_account", sa.BigInteger(), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("ratio_bp", sa.Integer(), nullable=False),
        sa.Column("delta_deductible", sa.BigInteger(), nullable=False),
        sa.Column("delta_fund", sa.BigInteger(), nullable=False),
        sa.Column("delta_ci_eligible", sa.BigInteger(), nullable=False),
        sa.Column("delta_ci_paid", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("transfer_ids", sa.JSON(), nullable=False),
        sa.Column("settled_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_by", sa.String(length=64), nullable=False),
        sa.Column("reversed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reversal_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_payer_id"],
            ["resident.id"],
            name=op.f("fk_medical_claim_family_payer_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["medical_institution.id"],
            name=op.f("fk_medical_claim_institution_id_medical_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_medical_claim_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_claim")),
        sa.UniqueConstraint(
            "institution_id", "claim_no", "attempt", name="uq_medical_claim_attempt"
        ),
    )
    with op.batch_alter_table("medical_claim", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medical_claim_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_medical_claim_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "medical_enrolment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("subsidy", sa.BigInteger(), nullable=False),
        sa.Column("continuous_years", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("covered_from", sa.Date(), nullable=True),
        sa.Column("cover_rule", sa.String(length=24), nullable=True),
        sa.Column("waiting_months", sa.Integer(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_medical_enrolment_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_enrolment")),
        sa.UniqueConstraint("resident_id", "year", name="uq_medical_enrolment_year"),
    )
    with op.batch_alter_table("medical_enrolment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medical_enrolment_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "medical_offsite_filing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "long_term",
                "temporary",
                "referral",
                "emergency",
                name="filingkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("destination_city_code", sa.String(length=6), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "cancelled", name="filingstatus", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("renewed_from_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["renewed_from_id"],
            ["medical_offsite_filing.id"],
            name=op.f("fk_medical_offsite_filing_renewed_from_id_medical_offsite_filing"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_medical_offsite_filing_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_offsite_filing")),
    )
    with op.batch_alter_table("medical_offsite_filing", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medical_offsite_filing_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "medical_contribution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "card",
                "family",
                "bank",
                "app",
                "tax",
                name="paymentchannel",
                native_enum=False,
                length=8,
            ),
            nullable=False,
        ),
        sa.Column("payer_resident_id", sa.Integer(), nullable=True),
        sa.Column("external_ref", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("paid", "refunded", name="contributionstatus", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("refund_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("refund_reason", sa.String(length=200), nullable=True),
        sa.Column("refunded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["medical_enrolment.id"],
            name=op.f("fk_medical_contribution_enrolment_id_medical_enrolment"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_resident_id"],
            ["resident.id"],
            name=op.f("fk_medical_contribution_payer_resident_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_medical_contribution_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_contribution")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_medical_contribution_idempotency_key")
        ),
    )
    with op.batch_alter_table("medical_contribution", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medical_contribution_enrolment_id"), ["enrolment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_medical_contribution_resident_id"), ["resident_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("medical_contribution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medical_contribution_resident_id"))
        batch_op.drop_index(batch_op.f("ix_medical_contribution_enrolment_id"))

    op.drop_table("medical_contribution")
    with op.batch_alter_table("medical_offsite_filing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medical_offsite_filing_resident_id"))

    op.drop_table("medical_offsite_filing")
    with op.batch_alter_table("medical_enrolment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medical_enrolment_resident_id"))

    op.drop_table("medical_enrolment")
    with op.batch_alter_table("medical_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medical_claim_resident_id"))
        batch_op.drop_index(batch_op.f("ix_medical_claim_institution_id"))

    op.drop_table("medical_claim")
    op.drop_table("medical_accumulator")
    op.drop_table("medical_institution")
