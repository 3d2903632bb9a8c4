"""Initial schema: registry, cards, e-SSC, audit, ledger, federation, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:10:35.032339
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import yikatong.core.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("fields", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "card_counter",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_card_counter")),
    )
    op.create_table(
        "card_deny_list",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_card_deny_list")),
    )
    with op.batch_alter_table("card_deny_list", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_deny_list_card_ref"), ["card_ref"], unique=False)

    op.create_table(
        "essc_used_nonce",
        sa.Column("nonce", sa.String(length=24), nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=False),
        sa.Column("expires_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_essc_used_nonce")),
    )
    with op.batch_alter_table("essc_used_nonce", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_essc_used_nonce_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "federation_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("payload_type", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("received_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applied_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_inbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_federation_inbox_message_id")),
        sa.UniqueConstraint("sender", "stream", "seq", name=op.f("uq_federation_inbox_sender")),
    )
    with op.batch_alter_table("federation_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_inbox_status"), ["status"], unique=False)

    op.create_table(
        "federation_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_note")),
        sa.UniqueConstraint("message_id", name=op.f("uq_federation_note_message_id")),
    )
    with op.batch_alter_table("federation_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_note_sender"), ["sender"], unique=False)

    op.create_table(
        "federation_peer",
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("last_seen_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("hello_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(length=32), nullable=True),
        sa.Column("software_version", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("city_code", name=op.f("pk_federation_peer")),
    )
    op.create_table(
        "federation_rejection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_rejection")),
    )
    with op.batch_alter_table("federation_rejection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federation_rejection_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_federation_rejection_reason"), ["reason"], unique=False
        )

    op.create_table(
        "ledger_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_type", sa.String(length=32), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "asset",
                "liability",
                "equity",
                "revenue",
                "expense",
                "bank",
                "card_financial",
                "card_transport",
                "merchant_settlement",
                "subsidy_budget",
                "clearing",
                name="accountkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("debits_must_not_exceed_credits", sa.Boolean(), nullable=False),
        sa.Column("credits_must_not_exceed_debits", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
            name=op.f("ck_ledger_account_one_limit_flag"),
        ),
        sa.CheckConstraint(
            "NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted",
            name=op.f("ck_ledger_account_credits_within_debits"),
        ),
        sa.CheckConstraint(
            "NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted",
            name=op.f("ck_ledger_account_debits_within_credits"),
        ),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name=op.f("ck_ledger_account_counters_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_account_code")),
    )
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_account_owner", ["owner_type", "owner_id"], unique=False)

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("receiver", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("payload_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("enqueued_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_message_id")),
        sa.UniqueConstraint("receiver", "stream", "seq", name=op.f("uq_outbox_message_receiver")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_message_delivered_at"), ["delivered_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_message_receiver"), ["receiver"], unique=False)

    op.create_table(
        "outbox_stream",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receiver", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_stream")),
        sa.UniqueConstraint("receiver", "stream", name=op.f("uq_outbox_stream_receiver")),
    )
    op.create_table(
        "resident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_ref", sa.String(length=32), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_masked", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_masked", sa.String(length=16), nullable=True),
        sa.Column("bank_account_enc", sa.LargeBinary(), nullable=True),
        sa.Column("bank_account_masked", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("household_no", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum("ACTIVE", "DECEASED", name="residentstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("died_on", sa.Date(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("veteran", sa.Boolean(), nullable=False),
        sa.Column("student", sa.Boolean(), nullable=False),
        sa.Column("low_income", sa.Boolean(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("death_recorded_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_resident_id_hash")),
        sa.UniqueConstraint("person_ref", name=op.f("uq_resident_person_ref")),
    )
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_district_code"), ["district_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resident_household_no"), ["household_no"], unique=False
        )
        batch_op.create_index("ix_resident_name_birth", ["name", "birth_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_resident_phone_hash"), ["phone_hash"], unique=False)

    op.create_table(
        "card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_no", sa.String(length=9), nullable=False),
        sa.Column("card_ref", sa.String(length=32), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "APPLIED",
                "ISSUED",
                "ACTIVE",
                "SUSPENDED",
                "LOST",
                "REPLACED",
                "CANCELLED",
                name="cardstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("replaces_card_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activated_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state_changed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["replaces_card_id"], ["card.id"], name=op.f("fk_card_replaces_card_id_card")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_card_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card")),
        sa.UniqueConstraint("card_no", name=op.f("uq_card_card_no")),
        sa.UniqueConstraint("card_ref", name=op.f("uq_card_card_ref")),
    )
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_card_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_card_live_resident",
            ["resident_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('ACTIVE', 'APPLIED', 'ISSUED', 'LOST', 'SUSPENDED')"),
            postgresql_where=sa.text(
                "state IN ('ACTIVE', 'APPLIED', 'ISSUED', 'LOST', 'SUSPENDED')"
            ),
        )

    op.create_table(
        "essc_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("app_account_id", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.LargeBinary(), nullable=True),
        sa.Column("pin_salt", sa.LargeBinary(), nullable=True),
        sa.Column("failed_pin_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_essc_account_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_essc_account")),
        sa.UniqueConstraint("app_account_id", name=op.f("uq_essc_account_app_account_id")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_essc_account_resident_id")),
    )
    op.create_table(
        "federation_dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("payload_type", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["federation_inbox.id"],
            name=op.f("fk_federation_dead_letter_inbox_id_federation_inbox"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_dead_letter")),
        sa.UniqueConstraint("inbox_id", name=op.f("uq_federation_dead_letter_inbox_id")),
    )
    with op.batch_alter_table("federation_dead_letter", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_federation_dead_letter_status"), ["status"], unique=False
        )

    op.create_table(
        "federation_inbox_stream",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("blocked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["blocked_by"],
            ["federation_inbox.id"],
            name=op.f("fk_federation_inbox_stream_blocked_by_federation_inbox"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_inbox_stream")),
        sa.UniqueConstraint("sender", "stream", name=op.f("uq_federation_inbox_stream_sender")),
    )
    op.create_table(
        "ledger_transfer",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "posted",
                "pending",
                "posted_from_pending",
                "voided",
                "expired",
                name="transferkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("debit_account_id", sa.Integer(), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column(
            "pending_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("expires_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("linked_id", sa.String(length=36), nullable=True),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfer_amount_positive")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfer_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_transfer_credit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_transfer_debit_account_id_ledger_account"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_ledger_transfer_pending_id_ledger_transfer"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transfer.id"],
            name=op.f("fk_ledger_transfer_reverses_id_ledger_transfer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfer")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transfer_idempotency_key")),
        sa.UniqueConstraint("pending_id", name=op.f("uq_ledger_transfer_pending_id")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transfer_reverses_id")),
    )
    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_credit_account_id"), ["credit_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_debit_account_id"), ["debit_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_transfer_linked_id"), ["linked_id"], unique=False
        )

    op.create_table(
        "relation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("relative_id", sa.Integer(), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(
                "SPOUSE",
                "PARENT",
                "CHILD",
                "SIBLING",
                "GRANDPARENT",
                "GRANDCHILD",
                name="relationtype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["relative_id"],
            ["resident.id"],
            name=op.f("fk_relation_relative_id_resident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["resident.id"],
            name=op.f("fk_relation_resident_id_resident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relation")),
        sa.UniqueConstraint("resident_id", "relative_id", name=op.f("uq_relation_resident_id")),
    )
    with op.batch_alter_table("relation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relation_relative_id"), ["relative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_relation_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "card_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["card.id"], name=op.f("fk_card_event_card_id_card")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_event")),
    )
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_event_card_id"), ["card_id"], unique=False)

    op.create_table(
        "essc_family_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("relative_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", yikatong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["essc_account.id"],
            name=op.f("fk_essc_family_member_account_id_essc_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["relative_id"],
            ["resident.id"],
            name=op.f("fk_essc_family_member_relative_id_resident"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_essc_family_member")),
        sa.UniqueConstraint(
            "account_id", "relative_id", name=op.f("uq_essc_family_member_account_id")
        ),
    )
    with op.batch_alter_table("essc_family_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_essc_family_member_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("essc_family_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_essc_family_member_account_id"))

    op.drop_table("essc_family_member")
    with op.batch_alter_table("card_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_event_card_id"))

    op.drop_table("card_event")
    with op.batch_alter_table("relation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relation_resident_id"))
        batch_op.drop_index(batch_op.f("ix_relation_relative_id"))

    op.drop_table("relation")
    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_linked_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_expires_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_debit_account_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_credit_account_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_transfer_created_at"))

    op.drop_table("ledger_transfer")
    op.drop_table("federation_inbox_stream")
    with op.batch_alter_table("federation_dead_letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_dead_letter_status"))

    op.drop_table("federation_dead_letter")
    op.drop_table("essc_account")
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_card_live_resident",
            sqlite_where=sa.text("state IN ('ACTIVE', 'APPLIED', 'ISSUED', 'LOST', 'SUSPENDED')"),
            postgresql_where=sa.text(
                "state IN ('ACTIVE', 'APPLIED', 'ISSUED', 'LOST', 'SUSPENDED')"
            ),
        )
        batch_op.drop_index(batch_op.f("ix_card_state"))
        batch_op.drop_index(batch_op.f("ix_card_resident_id"))

    op.drop_table("card")
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_phone_hash"))
        batch_op.drop_index("ix_resident_name_birth")
        batch_op.drop_index(batch_op.f("ix_resident_household_no"))
        batch_op.drop_index(batch_op.f("ix_resident_district_code"))

    op.drop_table("resident")
    op.drop_table("outbox_stream")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_receiver"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_delivered_at"))

    op.drop_table("outbox_message")
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_account_owner")

    op.drop_table("ledger_account")
    with op.batch_alter_table("federation_rejection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_rejection_reason"))
        batch_op.drop_index(batch_op.f("ix_federation_rejection_at"))

    op.drop_table("federation_rejection")
    op.drop_table("federation_peer")
    with op.batch_alter_table("federation_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_note_sender"))

    op.drop_table("federation_note")
    with op.batch_alter_table("federation_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federation_inbox_status"))

    op.drop_table("federation_inbox")
    with op.batch_alter_table("essc_used_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_essc_used_nonce_expires_at"))

    op.drop_table("essc_used_nonce")
    with op.batch_alter_table("card_deny_list", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_deny_list_card_ref"))

    op.drop_table("card_deny_list")
    op.drop_table("card_counter")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_subject_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))

    op.drop_table("audit_log")
