"""The canonical schema a migration writes: one definition of every table and of every field's kind.

Each source table of a mapping fills one canonical table. A field's kind says how its legacy text is
cleansed (:mod:`mlm_core.migrate.cleanse`) and which DuckDB type it lands in. Money and volume are BIGINT
minor units (volume in hundredths); timestamps are BIGINT microseconds since the epoch, UTC, as in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "text", "leg", "status", "timestamp", "money", "volume", "currency", "int", "email",
               "country", "phone", "date", "period", "pii"]

SQL_TYPE: dict[str, str] = {
    "id": "VARCHAR", "text": "VARCHAR", "leg": "VARCHAR", "status": "VARCHAR", "timestamp": "BIGINT",
    "money": "BIGINT", "volume": "BIGINT", "currency": "VARCHAR", "int": "BIGINT", "email": "VARCHAR",
    "country": "VARCHAR", "phone": "VARCHAR", "date": "VARCHAR", "period": "VARCHAR", "pii": "VARCHAR",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    # The member a row belongs to must exist (in the store or the same migration).
    member_ref: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    # Fields moved to the encrypted KYC table instead of this one (members only).
    pii: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def stored_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.name not in self.pii)


PII_FIELDS = ("name", "email", "phone", "address", "date_of_birth", "tax_id", "document_id")

MEMBERS = Table("members", (
    Field("member_id", "id", required=True),
    Field("sponsor_id", "id"),
    Field("placement_id", "id"),
    Field("leg", "leg"),
    Field("status", "status"),
    Field("joined_at", "timestamp"),
    Field("country", "country"),
    Field("tier", "text"),
    Field("name", "pii"),
    Field("email", "email"),
    Field("phone", "phone"),
    Field("address", "pii"),
    Field("date_of_birth", "date"),
    Field("tax_id", "pii"),
    Field("document_id", "pii"),
), key=("member_id",), pii=PII_FIELDS)

ORDERS = Table("orders", (
    Field("order_id", "id", required=True),
    Field("member_id", "id", required=True, member_ref=True),
    Field("period", "period", required=True),
    Field("pv", "volume", required=True),
    Field("bv", "volume"),
    Field("amount", "money"),
    Field("currency", "currency"),
    Field("created_at", "timestamp"),
), key=("order_id",))

WALLET = Table("wallet_transactions", (
    Field("tx_id", "id", required=True),
    Field("wallet_id", "id", required=True, member_ref=True),
    Field("amount", "money", required=True),
    Field("currency", "currency", required=True),
    Field("kind", "text", required=True),
    Field("created_at", "timestamp", required=True),
    Field("reference", "text"),
), key=("tx_id",))

COMMISSIONS = Table("commission_history", (
    Field("period", "period", required=True),
    Field("member_id", "id", required=True, member_ref=True),
    Field("bonus", "text", required=True),
    Field("amount", "money", required=True),
    Field("currency", "currency", required=True),
), key=("period", "member_id", "bonus"))

# Detail lines, when the legacy system exports them: one per downline share (from-member, level, paid
# level, source amount, rate) or per binary payout (no from-member); the drill-down of a parallel run shows
# them beside the engine's contributions.
COMMISSION_DETAIL = Table("commission_detail", (
    Field("line_id", "id", required=True),
    Field("period", "period", required=True),
    Field("member_id", "id", required=True, member_ref=True),
    Field("bonus", "text", required=True),
    Field("from_member_id", "id"),
    Field("order_id", "id"),
    Field("level", "int"),
    Field("paid_level", "int"),
    Field("source_amount", "money"),
    Field("rate_bp", "int"),
    Field("amount", "money", required=True),
    Field("currency", "currency", required=True),
), key=("line_id",))

CARRY = Table("carry_forward", (
    Field("member_id", "id", required=True, member_ref=True),
    Field("bonus", "text", required=True),
    Field("period", "period", required=True),
    Field("left_carry", "volume", required=True),
    Field("right_carry", "volume", required=True),
), key=("member_id", "bonus", "period"))

RANKS = Table("rank_history", (
    Field("member_id", "id", required=True, member_ref=True),
    Field("period", "period", required=True),
    Field("achieved_rank", "text", required=True),
    Field("paid_as_rank", "text"),
), key=("member_id", "period"))

TABLES: dict[str, Table] = {t.name: t for t in (MEMBERS, ORDERS, WALLET, COMMISSIONS, COMMISSION_DETAIL, CARRY,
                                                 RANKS)}
# The order a migration loads tables in: members first, since every other table refers to them.
LOAD_ORDER = ("members", "orders", "wallet_transactions", "commission_history", "commission_detail", "carry_forward",
              "rank_history")


def _create(table: Table) -> str:
    """A canonical table. Its key is enforced by the pipeline (against the batch and the stored rows) and
    checked by the audit, not by a DuckDB index: an ART index on 10M string keys costs about 10 s per load."""
    columns = [f"{f.name} {SQL_TYPE[f.kind]}{' NOT NULL' if f.required else ''}" for f in table.stored_fields]
    columns.append("batch_id BIGINT NOT NULL")
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(columns)})"


SCHEMA = ";\n".join([
    *(_create(TABLES[name]) for name in LOAD_ORDER if name != "wallet_transactions"),
    """CREATE TABLE IF NOT EXISTS kyc (
        member_id VARCHAR NOT NULL, field VARCHAR NOT NULL, ciphertext BLOB NOT NULL, key_id VARCHAR NOT NULL,
        batch_id BIGINT NOT NULL, lookup BLOB, PRIMARY KEY (member_id, field))""",
    """CREATE TABLE IF NOT EXISTS pii_keys (
        key_id VARCHAR PRIMARY KEY, kdf VARCHAR NOT NULL, salt BLOB, params VARCHAR, check_value BLOB NOT NULL,
        created_at BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS erasures (
        member_id VARCHAR PRIMARY KEY, fields_erased BIGINT NOT NULL, reason VARCHAR NOT NULL,
        erased_at BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        batch_id BIGINT NOT NULL, table_name VARCHAR NOT NULL, source_file VARCHAR NOT NULL, line BIGINT,
        record BIGINT NOT NULL, member_id VARCHAR, reason VARCHAR NOT NULL, detail VARCHAR NOT NULL,
        raw VARCHAR NOT NULL, raw_sealed BLOB)""",
    """CREATE TABLE IF NOT EXISTS orphan_attachments (
        member_id VARCHAR NOT NULL, tree VARCHAR NOT NULL, legacy_parent VARCHAR, attached_to VARCHAR NOT NULL,
        leg VARCHAR, reason VARCHAR NOT NULL, batch_id BIGINT NOT NULL, PRIMARY KEY (member_id, tree))""",
    """CREATE TABLE IF NOT EXISTS migration_batches (
        batch_id BIGINT PRIMARY KEY, table_name VARCHAR NOT NULL, source_file VARCHAR NOT NULL,
        source_sha256 VARCHAR NOT NULL, part BIGINT NOT NULL, rows_read BIGINT NOT NULL,
        rows_accepted BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL, accepted_checksum HUGEINT,
        source_digest VARCHAR, backup VARCHAR, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS migration_log (
        logged_at BIGINT NOT NULL, event VARCHAR NOT NULL, detail VARCHAR NOT NULL)""",
]) + ";"
