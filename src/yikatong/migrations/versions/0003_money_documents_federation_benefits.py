"""money, documents, federation and benefits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:05:04.565893
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yikatong.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acquiring_merchant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "bus",
                "metro",
                "canteen",
                "venue",
                "hospital",
                "shop",
                name="merchantkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "acquired_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "settlement_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_merchant")),
        sa.UniqueConstraint("code", name=op.f("uq_acquiring_merchant_code")),
    )
    op.create_table(
        "federation_authorisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issuer_city", sa.String(length=6), nullable=False),
        sa.Column("acquirer_city", sa.String(length=6), nullable=False),
        sa.Column("instrument", sa.String(length=8), nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_authorisation")),
    )
    with op.batch_alter_table("federation_authorisation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_authorisation_acquirer_city"), ["acquirer_city"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_federation_authorisation_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_federation_authorisation_issuer_city"), ["issuer_city"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_federation_authorisation_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "federation_catalogue_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("accepts", sa.JSON(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_catalogue_entry")),
        sa.UniqueConstraint(
            "city_code", "scenario", name=op.f("uq_federation_catalogue_entry_city_code")
        ),
    )
    with op.batch_alter_table("federation_catalogue_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_catalogue_entry_city_code"), ["city_code"], unique=False
        )

    op.create_table(
        "federation_clearing_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_ref", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("counterparty", sa.String(length=6), nullable=False),
        sa.Column("acquirer_city", sa.String(length=6), nullable=False),
        sa.Column("issuer_city", sa.String(length=6), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=True),
        sa.Column("scenario", sa.String(length=64), nullable=True),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_clearing_line")),
        sa.UniqueConstraint("payment_ref", name=op.f("uq_federation_clearing_line_payment_ref")),
    )
    with op.batch_alter_table("federation_clearing_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_clearing_line_business_date"), ["business_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_federation_clearing_line_counterparty"), ["counterparty"], unique=False
        )

    op.create_table(
        "federation_clearing_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counterparty", sa.String(length=6), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("their_net_fen", sa.BigInteger(), nullable=False),
        sa.Column("our_net_fen", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("mismatches", sa.JSON(), nullable=False),
        sa.Column("statement_message_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_clearing_report")),
        sa.UniqueConstraint(
            "counterparty", "business_date", name=op.f("uq_federation_clearing_report_counterparty")
        ),
    )
    op.create_table(
        "federation_clearing_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counterparty", sa.String(length=6), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("acquired_fen", sa.BigInteger(), nullable=False),
        sa.Column("issued_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("run_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_clearing_run")),
        sa.UniqueConstraint(
            "counterparty", "business_date", name=op.f("uq_federation_clearing_run_counterparty")
        ),
    )
    op.create_table(
        "federation_remote_deny",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=False),
        sa.Column("denied", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_remote_deny")),
        sa.UniqueConstraint(
            "city_code", "card_ref", name=op.f("uq_federation_remote_deny_city_code")
        ),
    )
    op.create_table(
        "federation_remote_deny_cursor",
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("city_code", name=op.f("pk_federation_remote_deny_cursor")),
    )
    op.create_table(
        "federation_rpc_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("payload_type", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("received_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_rpc_request")),
        sa.UniqueConstraint("message_id", name=op.f("uq_federation_rpc_request_message_id")),
    )
    with op.batch_alter_table("federation_rpc_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_rpc_request_sender"), ["sender"], unique=False
        )

    op.create_table(
        "transit_top_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("bank", sa.String(length=32), nullable=False),
        sa.Column("bank_reference", sa.String(length=64), nullable=False),
        sa.Column(
            "bank_transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("debts_collected", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transit_top_up")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_transit_top_up_idempotency_key")),
    )
    with op.batch_alter_table("transit_top_up", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transit_top_up_card_no"), ["card_no"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transit_top_up_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "acquiring_clearing_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("taps", sa.Integer(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("reversals", sa.Integer(), nullable=False),
        sa.Column("reversed_amount", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_acquiring_clearing_run_merchant_id_acquiring_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_clearing_run")),
        sa.UniqueConstraint("merchant_id", "business_date", name="uq_acquiring_clearing_day"),
    )
    op.create_table(
        "acquiring_terminal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_no", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(length=32), nullable=True),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("active", "retired", name="terminalstate", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("last_request_seq", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_acquiring_terminal_merchant_id_acquiring_merchant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_terminal")),
        sa.UniqueConstraint("terminal_no", name=op.f("uq_acquiring_terminal_terminal_no")),
    )
    with op.batch_alter_table("acquiring_terminal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acquiring_terminal_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "benefit_programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "basic_pension",
                "unemployment_benefit",
                "subsidy",
                "one_child_reward",
                "veterans_benefit",
                "hardship_aid",
                name="programmekind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pay_day", sa.Integer(), nullable=False),
        sa.Column("months", sa.String(length=40), nullable=False),
        sa.Column("policy_source", sa.String(length=120), nullable=False),
        sa.Column("budget_account_id", sa.Integer(), nullable=False),
        sa.Column("payable_account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_benefit_programme_amount_positive")),
        sa.CheckConstraint(
            "pay_day BETWEEN 1 AND 28", name=op.f("ck_benefit_programme_pay_day_range")
        ),
        sa.ForeignKeyConstraint(
            ["budget_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_benefit_programme_budget_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["payable_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_benefit_programme_payable_account_id_ledger_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_programme")),
        sa.UniqueConstraint("code", name=op.f("uq_benefit_programme_code")),
    )
    op.create_table(
        "document_issued",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column(
            "doc_type",
            sa.Enum("PROOF", "CONTRIBUTIONS", name="documenttype", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("issued_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_document_issued_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_issued")),
        sa.UniqueConstraint("serial", name=op.f("uq_document_issued_serial")),
    )
    with op.batch_alter_table("document_issued", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_issued_issued_at"), ["issued_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_document_issued_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "medical_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=36), nullable=False),
        sa.Column(
            "role",
            sa.Enum("new_city", "old_city", name="transferrole", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "closed",
                "received",
                "completed",
                name="transferstatus",
                native_enum=False,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("old_city_code", sa.String(length=6), nullable=False),
        sa.Column("new_city_code", sa.String(length=6), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("old_city_due", sa.Date(), nullable=False),
        sa.Column("end_to_end_due", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("new_city_due", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("covered_until", sa.Date(), nullable=True),
        sa.Column("insured_years", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_medical_transfer_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_transfer")),
        sa.UniqueConstraint("case_ref", "role", name="uq_medical_transfer_case"),
    )
    with op.batch_alter_table("medical_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_medical_transfer_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_medical_transfer_status"), ["status"], unique=False)

    op.create_table(
        "acquiring_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("debts", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["acquiring_terminal.id"],
            name=op.f("fk_acquiring_upload_terminal_id_acquiring_terminal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_upload")),
    )
    with op.batch_alter_table("acquiring_upload", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acquiring_upload_terminal_id"), ["terminal_id"], unique=False
        )

    op.create_table(
        "benefit_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "generated",
                "approved",
                "exported",
                "closed",
                name="batchstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("exported_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["benefit_programme.id"],
            name=op.f("fk_benefit_batch_programme_id_benefit_programme"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_batch")),
    )
    with op.batch_alter_table("benefit_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benefit_batch_programme_id"), ["programme_id"], unique=False
        )

    op.create_table(
        "benefit_beneficiary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("first_period", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "stopped", name="beneficiarystatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_benefit_beneficiary_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["benefit_programme.id"],
            name=op.f("fk_benefit_beneficiary_programme_id_benefit_programme"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_benefit_beneficiary_resident_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_beneficiary")),
        sa.UniqueConstraint(
            "programme_id", "resident_id", name=op.f("uq_benefit_beneficiary_programme_id")
        ),
    )
    with op.batch_alter_table("benefit_beneficiary", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benefit_beneficiary_programme_id"), ["programme_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_benefit_beneficiary_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "acquiring_tap",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("terminal_seq", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("online", "offline", name="tapchannel", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("card_no", sa.String(length=9), nullable=True),
        sa.Column("card_ref", sa.String(length=32), nullable=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("tapped_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "approved",
                "declined",
                "debt",
                "reversed",
                name="tapstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("upload_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("recorded_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_run_id", sa.Integer(), nullable=True),
        sa.Column("reversal_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("reversed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reversal_date", sa.Date(), nullable=True),
        sa.Column("reversal_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cleared_run_id"],
            ["acquiring_clearing_run.id"],
            name=op.f("fk_acquiring_tap_cleared_run_id_acquiring_clearing_run"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["acquiring_merchant.id"],
            name=op.f("fk_acquiring_tap_merchant_id_acquiring_merchant"),
        ),
        sa.ForeignKeyConstraint(
            ["reversal_run_id"],
            ["acquiring_clearing_run.id"],
            name=op.f("fk_acquiring_tap_reversal_run_id_acquiring_clearing_run"),
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["acquiring_terminal.id"],
            name=op.f("fk_acquiring_tap_terminal_id_acquiring_terminal"),
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["acquiring_upload.id"],
            name=op.f("fk_acquiring_tap_upload_id_acquiring_upload"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acquiring_tap")),
        sa.UniqueConstraint("terminal_id", "terminal_seq", name="uq_acquiring_tap_terminal_seq"),
    )
    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.create_index("ix_acquiring_tap_card_time", ["card_no", "tapped_at"], unique=False)
        batch_op.create_index(
            "ix_acquiring_tap_merchant_date", ["merchant_id", "business_date"], unique=False
        )

    op.create_table(
        "benefit_payment_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "paid", "failed", name="linestatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=40), nullable=True),
        sa.Column("bank_account_masked", sa.String(length=32), nullable=True),
        sa.Column("bank_reference", sa.String(length=64), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column(
            "disposition",
            sa.Enum("requeued", "stopped", name="faileddisposition", native_enum=False, length=24),
            nullable=True,
        ),
        sa.Column("disposition_reason", sa.String(length=200), nullable=True),
        sa.Column("requeued_from_id", sa.Integer(), nullable=True),
        sa.Column("approve_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("paid_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("reversal_transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_benefit_payment_line_amount_positive")),
        sa.ForeignKeyConstraint(
            ["approve_transfer_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_benefit_payment_line_approve_transfer_id_ledger_transfer"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["benefit_batch.id"],
            name=op.f("fk_benefit_payment_line_batch_id_benefit_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["paid_transfer_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_benefit_payment_line_paid_transfer_id_ledger_transfer"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["benefit_programme.id"],
            name=op.f("fk_benefit_payment_line_programme_id_benefit_programme"),
        ),
        sa.ForeignKeyConstraint(
            ["requeued_from_id"],
            ["benefit_payment_line.id"],
            name=op.f("fk_benefit_payment_line_requeued_from_id_benefit_payment_line"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_benefit_payment_line_resident_id_resident"),
        ),
        sa.ForeignKeyConstraint(
            ["reversal_transfer_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_benefit_payment_line_reversal_transfer_id_ledger_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_payment_line")),
        sa.UniqueConstraint(
            "programme_id",
            "resident_id",
            "period",
            "attempt",
            name=op.f("uq_benefit_payment_line_programme_id"),
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_benefit_payment_line_reference")),
        sa.UniqueConstraint(
            "requeued_from_id", name=op.f("uq_benefit_payment_line_requeued_from_id")
        ),
    )
    with op.batch_alter_table("benefit_payment_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benefit_payment_line_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_benefit_payment_line_resident_id"), ["resident_id"], unique=False
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("benefit_payment_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_payment_line_resident_id"))
        batch_op.drop_index(batch_op.f("ix_benefit_payment_line_batch_id"))

    op.drop_table("benefit_payment_line")
    with op.batch_alter_table("acquiring_tap", schema=None) as batch_op:
        batch_op.drop_index("ix_acquiring_tap_merchant_date")
        batch_op.drop_index("ix_acquiring_tap_card_time")

    op.drop_table("acquiring_tap")
    with op.batch_alter_table("benefit_beneficiary", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_beneficiary_resident_id"))
        batch_op.drop_index(batch_op.f("ix_benefit_beneficiary_programme_id"))

    op.drop_table("benefit_beneficiary")
    with op.batch_alter_table("benefit_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_batch_programme_id"))

    op.drop_table("benefit_batch")
    with op.batch_alter_table("acquiring_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acquiring_upload_terminal_id"))

    op.drop_table("acquiring_upload")
    with op.batch_alter_table("medical_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_medical_transfer_status"))
        batch_op.drop_index(batch_op.f("ix_medical_transfer_resident_id"))

    op.drop_table("medical_transfer")
    with op.batch_alter_table("document_issued", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_issued_resident_id"))
        batch_op.drop_index(batch_op.f("ix_document_issued_issued_at"))

    op.drop_table("document_issued")
    op.drop_table("benefit_programme")
    with op.batch_alter_table("acquiring_terminal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acquiring_terminal_merchant_id"))

    op.drop_table("acquiring_terminal")
    op.drop_table("acquiring_clearing_run")
    with op.batch_alter_table("transit_top_up", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transit_top_up_resident_id"))
        batch_op.drop_index(batch_op.f("ix_transit_top_up_card_no"))

    op.drop_table("transit_top_up")
    with op.batch_alter_table("federation_rpc_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_rpc_request_sender"))

    op.drop_table("federation_rpc_request")
    op.drop_table("federation_remote_deny_cursor")
    op.drop_table("federation_remote_deny")
    op.drop_table("federation_clearing_run")
    op.drop_table("federation_clearing_report")
    with op.batch_alter_table("federation_clearing_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_clearing_line_counterparty"))
        batch_op.drop_index(batch_op.f("ix_federation_clearing_line_business_date"))

    op.drop_table("federation_clearing_line")
    with op.batch_alter_table("federation_catalogue_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_catalogue_entry_city_code"))

    op.drop_table("federation_catalogue_entry")
    with op.batch_alter_table("federation_authorisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_authorisation_request_id"))
        batch_op.drop_index(batch_op.f("ix_federation_authorisation_issuer_city"))
        batch_op.drop_index(batch_op.f("ix_federation_authorisation_at"))
        batch_op.drop_index(batch_op.f("ix_federation_authorisation_acquirer_city"))

    op.drop_table("federation_authorisation")
    op.drop_table("acquiring_merchant")
    # ### end Alembic commands ###
