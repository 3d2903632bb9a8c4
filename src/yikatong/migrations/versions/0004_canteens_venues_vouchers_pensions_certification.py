"""canteens, venues, vouchers, certification, pensions, appraisal, bundles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:13:20.223526
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yikatong.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appraisal_recognised_conclusion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=36), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("id_masked", sa.String(length=18), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("received_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_from", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_recognised_conclusion")),
        sa.UniqueConstraint("case_ref", name=op.f("uq_appraisal_recognised_conclusion_case_ref")),
    )
    op.create_table(
        "canteen_budget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canteen_budget")),
        sa.UniqueConstraint("district_code", name=op.f("uq_canteen_budget_district_code")),
    )
    op.create_table(
        "canteen_daily_grant",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
        sa.Column("meals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("resident_id", "day", name=op.f("pk_canteen_daily_grant")),
    )
    op.create_table(
        "certification_identity_provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_identity_provider")),
        sa.UniqueConstraint("code", name=op.f("uq_certification_identity_provider_code")),
    )
    op.create_table(
        "certification_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("retirees", sa.Integer(), nullable=False),
        sa.Column("certified", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.Integer(), nullable=False),
        sa.Column("suspended", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("newly_suspended", sa.Integer(), nullable=False),
        sa.Column("resumed", sa.Integer(), nullable=False),
        sa.Column("overpaid_lines", sa.Integer(), nullable=False),
        sa.Column("started_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_run")),
    )
    op.create_table(
        "voucher_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("release_time", sa.Time(), nullable=False),
        sa.Column("valid_hours", sa.Integer(), nullable=False),
        sa.Column("redeem_from", sa.Time(), nullable=False),
        sa.Column("redeem_until", sa.Time(), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column(
            "budget_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_campaign")),
        sa.UniqueConstraint("code", name=op.f("uq_voucher_campaign_code")),
    )
    op.create_table(
        "appraisal_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=36), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "initial",
                "recheck",
                "repeat",
                "non_work",
                name="appraisalkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "category",
            sa.Enum(
                "limb",
                "head",
                "internal",
                "sensory",
                name="injurycategory",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "panel",
                "delegated",
                "concluded",
                name="casestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("employer", sa.String(length=100), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("delegated_from", sa.String(length=6), nullable=True),
        sa.Column("delegated_to", sa.String(length=6), nullable=True),
        sa.Column("seed", sa.String(length=64), nullable=True),
        sa.Column("grade", sa.String(length=16), nullable=True),
        sa.Column("concluded_on", sa.Date(), nullable=True),
        sa.Column("concluded_by_city", sa.String(length=6), nullable=True),
        sa.Column("conclusion", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_appraisal_case_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_case")),
        sa.UniqueConstraint("case_ref", name=op.f("uq_appraisal_case_case_ref")),
    )
    with op.batch_alter_table("appraisal_case", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_case_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_appraisal_case_status"), ["status"], unique=False)

    op.create_table(
        "appraisal_expert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("employer", sa.String(length=100), nullable=False),
        sa.Column("specialities", sa.JSON(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_appraisal_expert_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_expert")),
        sa.UniqueConstraint("code", name=op.f("uq_appraisal_expert_code")),
    )
    with op.batch_alter_table("appraisal_expert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_expert_city_code"), ["city_code"], unique=False
        )

    op.create_table(
        "bundle_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "retirement", "newborn", "death", name="bundlekind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("applicant_resident_id", sa.Integer(), nullable=True),
        sa.Column("subject_resident_id", sa.Integer(), nullable=True),
        sa.Column("subject_label", sa.String(length=80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("private_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "in_progress",
                "needs_attention",
                "completed",
                name="bundlestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("completed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_resident_id"],
            ["resident.id"],
            name=op.f("fk_bundle_application_applicant_resident_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_resident_id"],
            ["resident.id"],
            name=op.f("fk_bundle_application_subject_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_application")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_bundle_application_dedupe_key")),
    )
    with op.batch_alter_table("bundle_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bundle_application_applicant_resident_id"),
            ["applicant_resident_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_bundle_application_subject_resident_id"),
            ["subject_resident_id"],
            unique=False,
        )

    op.create_table(
        "canteen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_canteen_merchant_id_acquiring_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canteen")),
        sa.UniqueConstraint("code", name=op.f("uq_canteen_code")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_canteen_merchant_id")),
    )
    with op.batch_alter_table("canteen", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canteen_district_code"), ["district_code"], unique=False
        )

    op.create_table(
        "canteen_struggling",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_canteen_struggling_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canteen_struggling")),
    )
    with op.batch_alter_table("canteen_struggling", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canteen_struggling_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "certification_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("recorded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_certification_evidence_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_evidence")),
        sa.UniqueConstraint(
            "kind", "source", "source_ref", name=op.f("uq_certification_evidence_kind")
        ),
    )
    with op.batch_alter_table("certification_evidence", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certification_evidence_resident_kind", ["resident_id", "kind"], unique=False
        )

    op.create_table(
        "certification_state",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("last_positive_on", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("last_kind", sa.String(length=24), nullable=True),
        sa.Column("last_channel", sa.String(length=16), nullable=True),
        sa.Column("negative_kind", sa.String(length=24), nullable=True),
        sa.Column("negative_on", sa.Date(), nullable=True),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_certification_state_resident_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["certification_run.id"],
            name=op.f("fk_certification_state_run_id_certification_run"),
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_certification_state")),
    )
    with op.batch_alter_table("certification_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certification_state_district_code"), ["district_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certification_state_status"), ["status"], unique=False)

    op.create_table(
        "pension_contribution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("monthly_base", sa.BigInteger(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("credited", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("transfer_case_ref", sa.String(length=36), nullable=True),
        sa.Column("recorded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_pension_contribution_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pension_contribution")),
        sa.UniqueConstraint(
            "resident_id", "year", "city_code", name=op.f("uq_pension_contribution_resident_id")
        ),
    )
    with op.batch_alter_table("pension_contribution", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pension_contribution_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "pension_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=36), nullable=False),
        sa.Column(
            "role",
            sa.Enum("old_city", "new_city", name="pensionrole", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column(
            "step",
            sa.Enum(
                "certificate",
                "letter",
                "sheet",
                "receipt",
                "completed",
                "temporary",
                name="transferstep",
                native_enum=False,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("old_city_code", sa.String(length=6), nullable=False),
        sa.Column("new_city_code", sa.String(length=6), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("certificate_on", sa.Date(), nullable=True),
        sa.Column("letter_on", sa.Date(), nullable=True),
        sa.Column("sheet_on", sa.Date(), nullable=True),
        sa.Column("receipt_on", sa.Date(), nullable=True),
        sa.Column("years", sa.JSON(), nullable=False),
        sa.Column("individual_account", sa.BigInteger(), nullable=True),
        sa.Column("pooled", sa.BigInteger(), nullable=True),
        sa.Column("hukou_city_code", sa.String(length=6), nullable=True),
        sa.Column("temporary", sa.Boolean(), nullable=True),
        sa.Column("paying_city_code", sa.String(length=6), nullable=True),
        sa.Column("transfer_ids", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_pension_transfer_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pension_transfer")),
        sa.UniqueConstraint("case_ref", name=op.f("uq_pension_transfer_case_ref")),
    )
    with op.batch_alter_table("pension_transfer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pension_transfer_due_on"), ["due_on"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pension_transfer_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pension_transfer_step"), ["step"], unique=False)

    op.create_table(
        "venue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "museum",
                "park",
                "sports",
                "library",
                "scenic_spot",
                name="venuecategory",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_venue_merchant_id_acquiring_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue")),
        sa.UniqueConstraint("code", name=op.f("uq_venue_code")),
    )
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_venue_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "voucher_merchant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["voucher_campaign.id"],
            name=op.f("fk_voucher_merchant_campaign_id_voucher_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_voucher_merchant_merchant_id_acquiring_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_merchant")),
        sa.UniqueConstraint("campaign_id", "merchant_id", name="uq_voucher_merchant_campaign"),
    )
    op.create_table(
        "voucher_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("daily_quota", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "discount > 0 AND discount < threshold",
            name=op.f("ck_voucher_type_discount_below_threshold"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["voucher_campaign.id"],
            name=op.f("fk_voucher_type_campaign_id_voucher_campaign"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_type")),
        sa.UniqueConstraint("campaign_id", "code", name="uq_voucher_type_campaign_code"),
    )
    with op.batch_alter_table("voucher_type", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voucher_type_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "appraisal_expert_conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("employer", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("declared_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["appraisal_expert.id"],
            name=op.f("fk_appraisal_expert_conflict_expert_id_appraisal_expert"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_appraisal_expert_conflict_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_expert_conflict")),
    )
    with op.batch_alter_table("appraisal_expert_conflict", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_expert_conflict_expert_id"), ["expert_id"], unique=False
        )

    op.create_table(
        "appraisal_panel_seat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seat_no", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("speciality", sa.String(length=32), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("seated", "declined", name="seatstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("decline_reason", sa.String(length=200), nullable=True),
        sa.Column("drawn_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["appraisal_case.id"],
            name=op.f("fk_appraisal_panel_seat_case_id_appraisal_case"),
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["appraisal_expert.id"],
            name=op.f("fk_appraisal_panel_seat_expert_id_appraisal_expert"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_panel_seat")),
        sa.UniqueConstraint(
            "case_id", "seat_no", "round", name=op.f("uq_appraisal_panel_seat_case_id")
        ),
    )
    with op.batch_alter_table("appraisal_panel_seat", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_panel_seat_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "bundle_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "pension_start",
                "medical_status",
                "card_category",
                "certification_schedule",
                "registry_entry",
                "medical_enrolment",
                "card_application",
                "death_registration",
                "card_cancellation",
                "payments_stop",
                "funeral_grant",
                "overpayment_recovery",
                name="taskkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "done",
                "failed",
                "waiting_for_domain",
                name="taskstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=400), nullable=True),
        sa.Column("result_ref", sa.String(length=80), nullable=True),
        sa.Column("last_error", sa.String(length=400), nullable=True),
        sa.Column("done_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["bundle_application.id"],
            name=op.f("fk_bundle_task_application_id_bundle_application"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_task")),
        sa.UniqueConstraint("application_id", "kind", name=op.f("uq_bundle_task_application_id")),
    )
    with op.batch_alter_table("bundle_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bundle_task_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bundle_task_state"), ["state"], unique=False)

    op.create_table(
        "venue_product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("ticket", "annual_pass", name="productkind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("concessions", sa.Boolean(), nullable=False),
        sa.Column("needs_slot", sa.Boolean(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("entry_limit", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'annual_pass' OR (validity_days > 0 AND entry_limit > 0)",
            name=op.f("ck_venue_product_pass_terms"),
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_venue_product_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venue.id"], name=op.f("fk_venue_product_venue_id_venue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_product")),
        sa.UniqueConstraint("code", name=op.f("uq_venue_product_code")),
    )
    with op.batch_alter_table("venue_product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_product_venue_id"), ["venue_id"], unique=False)

    op.create_table(
        "venue_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "booked >= 0 AND booked <= capacity", name=op.f("ck_venue_slot_within_capacity")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_venue_slot_slot_order")),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venue.id"], name=op.f("fk_venue_slot_venue_id_venue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_slot")),
        sa.UniqueConstraint("venue_id", "starts_at", name="uq_venue_slot_start"),
    )
    with op.batch_alter_table("venue_slot", schema=None) as batch_op:
        batch_op.create_index("ix_venue_slot_day", ["venue_id", "day"], unique=False)

    op.create_table(
        "voucher_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("release_date", sa.Date(), nullable=False),
        sa.Column("opens_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "claimed >= 0 AND claimed <= quota + returned",
            name=op.f("ck_voucher_release_within_quota"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["voucher_type.id"], name=op.f("fk_voucher_release_type_id_voucher_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_release")),
        sa.UniqueConstraint("type_id", "release_date", name="uq_voucher_release_type_date"),
    )
    op.create_table(
        "venue_pass",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("entry_limit", sa.Integer(), nullable=False),
        sa.Column("entries_used", sa.Integer(), nullable=False),
        sa.Column("full_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("concession", sa.String(length=32), nullable=False),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("purchased_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "entries_used >= 0 AND entries_used <= entry_limit",
            name=op.f("ck_venue_pass_within_limit"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["venue_product.id"],
            name=op.f("fk_venue_pass_product_id_venue_product"),
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venue.id"], name=op.f("fk_venue_pass_venue_id_venue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_pass")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_venue_pass_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_venue_pass_reference")),
    )
    with op.batch_alter_table("venue_pass", schema=None) as batch_op:
        batch_op.create_index("ix_venue_pass_holder", ["resident_id", "venue_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_venue_pass_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "venue_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("valid_on", sa.Date(), nullable=False),
        sa.Column("full_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("concession", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("valid", "used", name="ticketstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("purchased_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["venue_product.id"],
            name=op.f("fk_venue_ticket_product_id_venue_product"),
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["venue_slot.id"], name=op.f("fk_venue_ticket_slot_id_venue_slot")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venue.id"], name=op.f("fk_venue_ticket_venue_id_venue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_ticket")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_venue_ticket_idempotency_key")),
        sa.UniqueConstraint("reference", name=op.f("uq_venue_ticket_reference")),
    )
    with op.batch_alter_table("venue_ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_venue_ticket_holder_day", ["resident_id", "venue_id", "valid_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_venue_ticket_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_venue_ticket_slot_id"), ["slot_id"], unique=False)

    op.create_table(
        "voucher",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "claimed", "redeemed", "expired", name="voucherstate", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("claimed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reclaimed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_to_release_id", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merchant_id", sa.Integer(), nullable=True),
        sa.Column("terminal_no", sa.String(length=32), nullable=True),
        sa.Column("order_ref", sa.String(length=64), nullable=True),
        sa.Column("order_amount", sa.BigInteger(), nullable=True),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["voucher_campaign.id"],
            name=op.f("fk_voucher_campaign_id_voucher_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_voucher_merchant_id_acquiring_merchant"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["voucher_release.id"],
            name=op.f("fk_voucher_release_id_voucher_release"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_voucher_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["returned_to_release_id"],
            ["voucher_release.id"],
            name=op.f("fk_voucher_returned_to_release_id_voucher_release"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["voucher_type.id"], name=op.f("fk_voucher_type_id_voucher_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher")),
        sa.UniqueConstraint("code", name=op.f("uq_voucher_code")),
        sa.UniqueConstraint("merchant_id", "order_ref", name="uq_voucher_merchant_order"),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_voucher_transfer_id")),
        sa.UniqueConstraint("type_id", "resident_id", "week", name="uq_voucher_weekly"),
    )
    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.create_index("ix_voucher_resident", ["resident_id", "claimed_at"], unique=False)
        batch_op.create_index("ix_voucher_state_expiry", ["state", "expires_at"], unique=False)

    op.create_table(
        "benefit_arrear",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["benefit_beneficiary.id"],
            name=op.f("fk_benefit_arrear_beneficiary_id_benefit_beneficiary"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["benefit_payment_line.id"],
            name=op.f("fk_benefit_arrear_line_id_benefit_payment_line"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["benefit_programme.id"],
            name=op.f("fk_benefit_arrear_programme_id_benefit_programme"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_benefit_arrear_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_arrear")),
        sa.UniqueConstraint("line_id", name=op.f("uq_benefit_arrear_line_id")),
        sa.UniqueConstraint(
            "programme_id", "resident_id", "period", name=op.f("uq_benefit_arrear_programme_id")
        ),
    )
    with op.batch_alter_table("benefit_arrear", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benefit_arrear_beneficiary_id"), ["beneficiary_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_benefit_arrear_programme_id"), ["programme_id"], unique=False
        )

    op.create_table(
        "canteen_meal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tap_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("canteen_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("served_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("subsidy", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("entitlement", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "approved", "declined", "reversed", name="mealstatus", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("subsidy_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("reversed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reversal_reason", sa.String(length=200), nullable=True),
        sa.Column("reversed_by", sa.String(length=64), nullable=True),
        sa.Column("subsidy_reversal_transfer_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteen.id"], name=op.f("fk_canteen_meal_canteen_id_canteen")
        ),
        sa.ForeignKeyConstraint(
            ["tap_id"], ["acquiring_tap.id"], name=op.f("fk_canteen_meal_tap_id_acquiring_tap")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canteen_meal")),
        sa.UniqueConstraint("subsidy_transfer_id", name="uq_canteen_meal_subsidy_transfer"),
        sa.UniqueConstraint("tap_id", name=op.f("uq_canteen_meal_tap_id")),
    )
    with op.batch_alter_table("canteen_meal", schema=None) as batch_op:
        batch_op.create_index("ix_canteen_meal_month", ["month", "canteen_id"], unique=False)
        batch_op.create_index(
            "ix_canteen_meal_resident_time", ["resident_id", "served_at"], unique=False
        )

    op.create_table(
        "certification_overpayment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("died_on", sa.Date(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["benefit_payment_line.id"],
            name=op.f("fk_certification_overpayment_line_id_benefit_payment_line"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_certification_overpayment_resident_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_certification_overpayment_transfer_id_ledger_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_overpayment")),
        sa.UniqueConstraint("line_id", name=op.f("uq_certification_overpayment_line_id")),
    )
    with op.batch_alter_table("certification_overpayment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certification_overpayment_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "venue_entry",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("scan_seq", sa.BigInteger(), nullable=False),
        sa.Column("medium", sa.String(length=8), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "admitted",
                "duplicate",
                "refused",
                name="entryoutcome",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("pass_id", sa.Integer(), nullable=True),
        sa.Column("id_verified", sa.Boolean(), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pass_id"], ["venue_pass.id"], name=op.f("fk_venue_entry_pass_id_venue_pass")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["venue_ticket.id"], name=op.f("fk_venue_entry_ticket_id_venue_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venue.id"], name=op.f("fk_venue_entry_venue_id_venue")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_entry")),
        sa.UniqueConstraint("terminal_id", "scan_seq", name="uq_venue_entry_scan"),
    )
    with op.batch_alter_table("venue_entry", schema=None) as batch_op:
        batch_op.create_index("ix_venue_entry_resident_at", ["resident_id", "at"], unique=False)
        batch_op.create_index(
            "ix_venue_entry_venue_date", ["venue_id", "business_date"], unique=False
        )

    with op.batch_alter_table("benefit_beneficiary", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_period", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("suspended_since", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("suspension_reason", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_benefit_beneficiary_last_after_first"),
            "last_period IS NULL OR last_period >= first_period",
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("benefit_beneficiary", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_benefit_beneficiary_last_after_first"), type_="check")
        batch_op.drop_column("suspension_reason")
        batch_op.drop_column("suspended_since")
        batch_op.drop_column("last_period")

    with op.batch_alter_table("venue_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_venue_entry_venue_date")
        batch_op.drop_index("ix_venue_entry_resident_at")

    op.drop_table("venue_entry")
    with op.batch_alter_table("certification_overpayment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certification_overpayment_resident_id"))

    op.drop_table("certification_overpayment")
    with op.batch_alter_table("canteen_meal", schema=None) as batch_op:
        batch_op.drop_index("ix_canteen_meal_resident_time")
        batch_op.drop_index("ix_canteen_meal_month")

    op.drop_table("canteen_meal")
    with op.batch_alter_table("benefit_arrear", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_arrear_programme_id"))
        batch_op.drop_index(batch_op.f("ix_benefit_arrear_beneficiary_id"))

    op.drop_table("benefit_arrear")
    with op.batch_alter_table("voucher", schema=None) as batch_op:
        batch_op.drop_index("ix_voucher_state_expiry")
        batch_op.drop_index("ix_voucher_resident")

    op.drop_table("voucher")
    with op.batch_alter_table("venue_ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_ticket_slot_id"))
        batch_op.drop_index(batch_op.f("ix_venue_ticket_resident_id"))
        batch_op.drop_index("ix_venue_ticket_holder_day")

    op.drop_table("venue_ticket")
    with op.batch_alter_table("venue_pass", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_pass_resident_id"))
        batch_op.drop_index("ix_venue_pass_holder")

    op.drop_table("venue_pass")
    op.drop_table("voucher_release")
    with op.batch_alter_table("venue_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_venue_slot_day")

    op.drop_table("venue_slot")
    with op.batch_alter_table("venue_product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_product_venue_id"))

    op.drop_table("venue_product")
    with op.batch_alter_table("bundle_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bundle_task_state"))
        batch_op.drop_index(batch_op.f("ix_bundle_task_application_id"))

    op.drop_table("bundle_task")
    with op.batch_alter_table("appraisal_panel_seat", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_panel_seat_case_id"))

    op.drop_table("appraisal_panel_seat")
    with op.batch_alter_table("appraisal_expert_conflict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_expert_conflict_expert_id"))

    op.drop_table("appraisal_expert_conflict")
    with op.batch_alter_table("voucher_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_type_campaign_id"))

    op.drop_table("voucher_type")
    op.drop_table("voucher_merchant")
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_venue_category"))

    op.drop_table("venue")
    with op.batch_alter_table("pension_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_transfer_step"))
        batch_op.drop_index(batch_op.f("ix_pension_transfer_resident_id"))
        batch_op.drop_index(batch_op.f("ix_pension_transfer_due_on"))

    op.drop_table("pension_transfer")
    with op.batch_alter_table("pension_contribution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pension_contribution_resident_id"))

    op.drop_table("pension_contribution")
    with op.batch_alter_table("certification_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certification_state_status"))
        batch_op.drop_index(batch_op.f("ix_certification_state_district_code"))

    op.drop_table("certification_state")
    with op.batch_alter_table("certification_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_certification_evidence_resident_kind")

    op.drop_table("certification_evidence")
    with op.batch_alter_table("canteen_struggling", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canteen_struggling_resident_id"))

    op.drop_table("canteen_struggling")
    with op.batch_alter_table("canteen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canteen_district_code"))

    op.drop_table("canteen")
    with op.batch_alter_table("bundle_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bundle_application_subject_resident_id"))
        batch_op.drop_index(batch_op.f("ix_bundle_application_applicant_resident_id"))

    op.drop_table("bundle_application")
    with op.batch_alter_table("appraisal_expert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_expert_city_code"))

    op.drop_table("appraisal_expert")
    with op.batch_alter_table("appraisal_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_case_status"))
        batch_op.drop_index(batch_op.f("ix_appraisal_case_resident_id"))

    op.drop_table("appraisal_case")
    op.drop_table("voucher_campaign")
    op.drop_table("certification_run")
    op.drop_table("certification_identity_provider")
    op.drop_table("canteen_daily_grant")
    op.drop_table("canteen_budget")
    op.drop_table("appraisal_recognised_conclusion")
    # ### end Alembic commands ###
