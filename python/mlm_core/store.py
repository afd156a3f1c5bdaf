"""The company's store: one DuckDB file with the e-wallet ledger and the canonical tables of a migration.

The ledger: ``wallet_transactions`` (every posted row with its ``seq``, ``leaf`` and ``chain``), ``wallets``
(per-wallet settings) and ``ledger_checkpoints`` (one Merkle root per posted batch). Rows are only ever
added: a correction is a reversal row, never an update. Hashing is :mod:`mlm_core.ledger`'s; this module
normalises, checks idempotency and balances, and writes each batch in one DuckDB transaction.

The migration's tables (:mod:`mlm_core.migrate.canonical`): ``members``, ``orders``, ``commission_history``,
``carry_forward``, ``rank_history``, the encrypted ``kyc`` with ``pii_keys`` and ``erasures``, and the
bookkeeping ``quarantine``, ``orphan_attachments``, ``migration_batches`` and ``migration_log``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
import unicodedata
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow, ledger
from .errors import AmountOverflowError, InputError, LedgerError, StoreError
from .migrate import canonical

if TYPE_CHECKING:
    from .engine import PeriodResult

# Active ISO 4217 currency codes (the list of 2025: XCG replaced ANG, ZWG replaced ZWL, SLE replaced SLL).
# Fund codes (BOV, CLF, USN, ...), metals (XAU, ...) and test codes (XTS, XXX) are not money a wallet holds.
ISO_4217 = frozenset("""
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())

FIELDS = ("tx_id", "wallet_id", "amount", "currency", "kind", "created_at", "reference")
STRING_FIELDS = ("tx_id", "wallet_id", "currency", "kind", "reference")
SEALED_FIELDS = (*FIELDS, "seq", "leaf", "chain")
STORED_FIELDS = (*FIELDS, "batch_id", "posted_order", "seq", "leaf", "chain")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wallet_transactions (
    tx_id VARCHAR PRIMARY KEY,
    wallet_id VARCHAR NOT NULL,
    amount BIGINT NOT NULL,
    currency VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    created_at BIGINT NOT NULL,
    reference VARCHAR,
    batch_id BIGINT NOT NULL,
    posted_order BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    leaf BLOB NOT NULL,
    chain BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS wallets (
    wallet_id VARCHAR PRIMARY KEY,
    allow_negative BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS projections (
    projection VARCHAR PRIMARY KEY,
    volume_columns VARCHAR[] NOT NULL
);
CREATE TABLE IF NOT EXISTS projection_batches (
    projection VARCHAR NOT NULL,
    batch BIGINT NOT NULL,
    events BLOB NOT NULL,
    PRIMARY KEY (projection, batch)
);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (
    batch_id BIGINT PRIMARY KEY,
    run_id VARCHAR,
    rows BIGINT NOT NULL,
    merkle_root BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
"""

# One lock per database file: two Store objects of one process share DuckDB's database instance, and
# posting reads heads before it writes, so two of them posting at once could give two rows the same seq.
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


# Store objects per database file in this process (weakly held: a Store dropped without close() stops
# counting once collected). A rollback replaces the file, which is only safe when no other Store of this
# process has it open.
_STORES: dict[str, weakref.WeakSet[Store]] = {}


@contextmanager
def registered(db: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[None]:
    """``table`` visible to ``db``'s queries as ``name`` for the block, and unregistered after it."""
    db.register(name, table)
    try:
        yield
    finally:
        db.unregister(name)


def _file_lock(path: Path) -> threading.RLock:
    key = os.path.realpath(path)
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.RLock())


@dataclass(frozen=True)
class PostResult:
    """What one :meth:`Store.post` did.

    ``batch_id`` is the checkpoint of the rows written (None when nothing was new), ``posted`` the rows newly
    written, ``skipped`` the rows already stored with identical fields, ``merkle_root`` the RFC 6962 root over
    the new rows' leaves in posting order (``SHA256("")`` for an empty batch).
    """

    batch_id: int | None
    posted: int
    skipped: int
    merkle_root: bytes


def _nfc(values: pa.Array) -> pa.Array:
    """NFC-normalised strings (ledger-hashing.md: normalisation happens once, at posting). ASCII is already
    NFC, so the common all-ASCII column is returned as it is."""
    if pc.all(pc.fill_null(pc.string_is_ascii(values), True)).as_py() is not False:
        return values
    return pa.array([None if s is None else unicodedata.normalize("NFC", s) for s in values.to_pylist()],
                    pa.string())


def _string_column(table: pa.Table, name: str, *, nullable: bool) -> pa.Array:
    values = _arrow.column(table, name)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_null(values.type) and nullable:
        return pa.nulls(len(values), pa.string())
    if values.type not in _arrow.STRING_TYPES:
        raise InputError(f"transactions.{name} must be a string column, not {values.type}", column=name)
    if values.null_count and not nullable:
        rows = _arrow.null_rows(values)
        raise InputError(f"transactions.{name} has {values.null_count} null(s), first at rows {rows}",
                         column=name, rows=rows)
    return _nfc(values.cast(pa.string()))


def _int_column(table: pa.Table, name: str) -> pa.Array:
    values = _arrow.int64_array(_arrow.column(table, name), f"transactions.{name}", allow_bool=False)
    if values.null_count:
        rows = _arrow.null_rows(values)
        raise InputError(f"transactions.{name} has {values.null_count} null(s), first at rows {rows}",
                         column=name, rows=rows)
    return values


def _prepare(transactions: Any) -> pa.Table:
    """The rows to post as a plain table of :data:`FIELDS`: typed, NFC-normalised, ISO currencies, no tx_id
    twice. Needs no database, so it runs before the posting lock is taken."""
    table = _arrow.as_table(transactions, "transactions")
    missing = [c for c in FIELDS if c != "reference" and c not in table.column_names]
    if missing:
        raise InputError(f"transactions lack column(s) {', '.join(missing)}", column=missing[0])
    unknown = [c for c in table.column_names if c not in FIELDS]
    if unknown:
        raise InputError(f"transactions have column(s) {', '.join(unknown)} that a ledger row does not take "
                         f"(it takes {', '.join(FIELDS)})", column=unknown[0])
    columns: dict[str, pa.Array] = {}
    for name in FIELDS:
        if name == "reference" and name not in table.column_names:
            columns[name] = pa.nulls(table.num_rows, pa.string())
        elif name in STRING_FIELDS:
            columns[name] = _string_column(table, name, nullable=name == "reference")
        else:
            columns[name] = _int_column(table, name)
    prepared = pa.table(columns)
    _check_currencies(prepared)
    _check_unique(prepared)
    return prepared


def _check_currencies(table: pa.Table) -> None:
    known = pc.is_in(table.column("currency"), value_set=pa.array(sorted(ISO_4217), pa.string()))
    if pc.all(known, min_count=0).as_py():
        return
    first = pc.index(known, False).as_py()
    row = table.slice(first, 1).to_pylist()[0]
    raise LedgerError(f"tx_id {row['tx_id']!r}: currency {row['currency']!r} is not an active ISO 4217 code",
                      row=first, tx_id=row["tx_id"])


def _check_unique(table: pa.Table) -> None:
    # seal checks this too, but only for new rows: a batch repeating an already-posted tx_id must fail as well.
    ids = table.column("tx_id")
    if len(pc.unique(ids)) == len(ids):
        return
    seen: set[str] = set()
    for row, tx_id in enumerate(ids.to_pylist()):
        if tx_id in seen:
            raise LedgerError(f"tx_id {tx_id!r}: repeated in the batch (again at row {row})", row=row, tx_id=tx_id)
        seen.add(tx_id)


def _normalised(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be a str, not {type(value).__name__}")
    return unicodedata.normalize("NFC", value)


def _checked_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{what} must be an int, not {type(value).__name__}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise AmountOverflowError(f"{what} is {value}, outside int64")
    return value


class Store:
    """An e-wallet ledger in a DuckDB file: posting is idempotent per ``tx_id``, chained per wallet and
    checkpointed per batch (ledger-hashing.md).

    Parameters
    ----------
    path
        The database file; created with its tables when absent. One process at a time may hold it: a second
        one gets a :class:`StoreError`. Within a process, every thread may share one Store (posting is
        serialised).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreError(f"{self.path} is open by another writer process; close it there first "
                                 f"(DuckDB: {exc})") from None
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from None
        self._lock = _file_lock(self.path)
        self._projections: dict[str, tuple[str, ...]] = {}  # live projections whose columns were checked
        with _FILE_LOCKS_GUARD:
            _STORES.setdefault(os.path.realpath(self.path), weakref.WeakSet()).add(self)
        with self._lock:
            self._db.execute(_SCHEMA)
            self._db.execute(canonical.SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One DuckDB transaction under the file's lock: committed when the block ends, rolled back when it
        raises (and the exception goes on)."""
        with self._lock:
            self._db.execute("BEGIN TRANSACTION")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _restore(self, backup: Path) -> None:
        """Replaces the database file with ``backup`` (a file copy taken after a CHECKPOINT) and reopens it.

        Crash-safe: the backup is copied beside the database and synced first, the database is closed
        cleanly (which folds its WAL in), and only then does one atomic rename swap the files."""
        with _FILE_LOCKS_GUARD:
            others = sum(1 for s in _STORES.get(os.path.realpath(self.path), ()) if s is not self and s._con)
        if others > 0:
            raise StoreError(f"{others} other Store object(s) of this process have {self.path} open; close them "
                             f"before restoring a backup over it")
        with self._lock:
            staged = self.path.with_name(self.path.name + ".restoring")
            shutil.copyfile(backup, staged)
            with staged.open("rb+") as f:
                os.fsync(f.fileno())
            self._db.execute("CHECKPOINT")
            self._db.close()
            self._con = None
            wal = self.path.with_name(self.path.name + ".wal")
            if wal.exists():  # not expected after a clean close; kept aside, never replayed onto the backup
                os.replace(wal, wal.with_name(wal.name + f".before-restore-{time.time_ns()}"))
            os.replace(staged, self.path)
            self._con = duckdb.connect(str(self.path))

    def _backup(self, target: Path) -> None:
        """A consistent copy of the database file: CHECKPOINT folds the WAL in, then the file is copied."""
        with self._lock:
            self._db.execute("CHECKPOINT")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(self.path, partial)
            os.replace(partial, target)

    def close(self) -> None:
        """Closes the database; the Store is unusable afterwards (closing twice is harmless)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"the store of {self.path} is closed")
        return self._con

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------------

    def _table(self, query: str, params: list[Any] | None = None) -> pa.Table:
        with self._lock:
            return self._db.sql(query, params=params).to_arrow_table()

    def _rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        # fetchall, never fetchone: an unfinished result blocks the connection's next statement.
        rows: list[tuple[Any, ...]] = self._db.execute(query, params or []).fetchall()
        return rows

    def balances(self, wallet_id: str | None = None) -> pa.Table:
        """``(wallet_id, currency, balance_minor)`` per wallet and currency, ordered by both.

        The sum is exact (DuckDB sums BIGINT as HUGEINT); a balance outside int64 raises AmountOverflowError.
        """
        where, params = self._wallet_filter(wallet_id)
        try:
            return self._table(
                f"SELECT wallet_id, currency, CAST(SUM(amount) AS BIGINT) AS balance_minor "
                f"FROM wallet_transactions {where} GROUP BY wallet_id, currency ORDER BY wallet_id, currency",
                params)
        except (duckdb.ConversionException, duckdb.OutOfRangeException) as exc:
            raise AmountOverflowError(f"a balance is outside int64: {exc}") from None

    def transactions(self, wallet_id: str | None = None) -> pa.Table:
        """Every stored row (all columns) in posting order, optionally of one wallet."""
        where, params = self._wallet_filter(wallet_id)
        return self._table(f"SELECT {', '.join(STORED_FIELDS)} FROM wallet_transactions {where} "
                           f"ORDER BY posted_order", params)

    def checkpoints(self) -> pa.Table:
        """``(batch_id, run_id, rows, merkle_root, created_at)`` of every posted batch, by batch_id."""
        return self._table("SELECT batch_id, run_id, rows, merkle_root, created_at FROM ledger_checkpoints "
                           "ORDER BY batch_id")

    def heads(self) -> pa.Table:
        """``(wallet_id, seq, chain)``: the last stored row of every wallet, by wallet_id."""
        return self._table(
            "SELECT wallet_id, seq, chain FROM wallet_transactions "
            "QUALIFY row_number() OVER (PARTITION BY wallet_id ORDER BY posted_order DESC) = 1 ORDER BY wallet_id")

    @staticmethod
    def _wallet_filter(wallet_id: str | None) -> tuple[str, list[Any]]:
        if wallet_id is None:
            return "", []
        return "WHERE wallet_id = ?", [_normalised(wallet_id, "wallet_id")]

    # -- posting --------------------------------------------------------------------------------------

    def post(self, transactions: Any, *, run_id: str | None = None) -> PostResult:
        """Posts a batch of rows ``(tx_id, wallet_id, amount, currency, kind, created_at[, reference])``.

        In one DuckDB transaction: strings are NFC-normalised, rows whose ``tx_id`` is already stored with
        identical fields are skipped, the rest are sealed in the given order after their wallets' heads,
        balance-checked and written with a checkpoint (``run_id``, row count, Merkle root). Nothing is written
        when anything is wrong.

        Raises
        ------
        InputError
            A missing, extra, mistyped or null column.
        LedgerError
            An unknown currency, a tx_id repeated in the batch or already stored with other fields, or a
            debit that would take a wallet without ``allow_negative`` below zero; the message names the tx_id.
        """
        if run_id is not None and not isinstance(run_id, str):
            raise InputError(f"run_id must be a str or None, not {type(run_id).__name__}")
        incoming = _prepare(transactions)
        try:
            with self._transaction():
                return self._post_in_transaction(incoming, run_id)
        except duckdb.Error as exc:
            raise StoreError(f"posting failed in DuckDB, nothing was written: {exc}") from exc

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass  # a failed COMMIT has already ended the transaction

    def _post_in_transaction(self, incoming: pa.Table, run_id: str | None, *,
                             check_balances: bool = True) -> PostResult:
        new_rows = self._new_rows(incoming)
        skipped = incoming.num_rows - new_rows.num_rows
        if new_rows.num_rows == 0:
            return PostResult(None, 0, skipped, ledger.merkle_root(pa.array([], pa.binary())))
        sealed = ledger.seal(new_rows, heads=self._heads_of(new_rows))
        batch_id, first_order = self._rows(
            "SELECT (SELECT COALESCE(MAX(batch_id), 0) + 1 FROM ledger_checkpoints), "
            "(SELECT COALESCE(MAX(posted_order), 0) + 1 FROM wallet_transactions)")[0]
        stored = (sealed.select(list(SEALED_FIELDS))
                  .append_column("batch_id", pa.repeat(pa.scalar(batch_id, pa.int64()), sealed.num_rows))
                  .append_column("posted_order", pa.array(range(first_order, first_order + sealed.num_rows),
                                                          pa.int64())))
        for name in ("leaf", "chain"):  # DuckDB takes variable-length binary as BLOB
            stored = stored.set_column(stored.schema.get_field_index(name), name, stored.column(name).cast(pa.binary()))
        with registered(self._db, "_mlm_sealed", stored):
            if check_balances:
                self._check_balances()
            columns = ", ".join(STORED_FIELDS)
            self._db.execute(f"INSERT INTO wallet_transactions ({columns}) SELECT {columns} FROM _mlm_sealed")
        root = ledger.merkle_root(sealed.column("leaf"))
        self._db.execute("INSERT INTO ledger_checkpoints VALUES (?, ?, ?, ?, ?)",
                          [batch_id, run_id, sealed.num_rows, root, time.time_ns() // 1000])
        return PostResult(batch_id, sealed.num_rows, skipped, root)

    def _new_rows(self, incoming: pa.Table) -> pa.Table:
        """The rows not stored yet; a stored tx_id with other fields is a LedgerError naming what differs."""
        differs = " OR ".join(f"i.{f} IS DISTINCT FROM t.{f}" for f in FIELDS[1:])
        with registered(self._db, "_mlm_incoming", incoming):
            stored = self._rows("SELECT i.tx_id FROM _mlm_incoming i JOIN wallet_transactions t USING (tx_id)")
            conflicts = self._rows(
                f"SELECT {', '.join(f'i.{f}, t.{f}' for f in FIELDS)} FROM _mlm_incoming i "
                f"JOIN wallet_transactions t USING (tx_id) WHERE {differs} LIMIT 1")
        if conflicts:
            given, held = conflicts[0][0::2], conflicts[0][1::2]
            fields = [f"{f} (stored {s!r}, given {g!r})" for f, g, s in zip(FIELDS, given, held, strict=True)
                      if g != s]
            raise LedgerError(f"tx_id {given[0]!r} is already posted with a different {', '.join(fields)}; "
                              f"a posted row is never changed: post a reversal and a new tx_id", tx_id=given[0])
        if not stored:
            return incoming
        seen = pc.is_in(incoming.column("tx_id"), value_set=pa.array([row[0] for row in stored], pa.string()))
        return incoming.filter(pc.invert(seen))

    def _heads_of(self, rows: pa.Table) -> pa.Table | None:
        """The stored head ``(wallet_id, seq, chain)`` of each wallet of ``rows`` that has one."""
        with registered(self._db, "_mlm_wallets", pa.table({"wallet_id": pc.unique(rows.column("wallet_id"))})):
            heads = self._db.sql(
                "SELECT wallet_id, seq, chain FROM wallet_transactions "
                "WHERE wallet_id IN (SELECT wallet_id FROM _mlm_wallets) "
                "QUALIFY row_number() OVER (PARTITION BY wallet_id ORDER BY posted_order DESC) = 1").to_arrow_table()
        return heads if heads.num_rows else None

    def _check_balances(self) -> None:
        """Refuses the first debit (in posting order) that takes a wallet's balance in its currency below
        zero, unless the wallet allows it, and any balance leaving int64. Sums are HUGEINT: exact."""
        running = """
            WITH batch AS (
                SELECT s.tx_id, s.wallet_id, s.currency, s.amount, s.posted_order,
                       COALESCE(b.balance, 0) + SUM(s.amount) OVER (
                           PARTITION BY s.wallet_id, s.currency ORDER BY s.posted_order
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS balance
                FROM _mlm_sealed s
                LEFT JOIN (SELECT wallet_id, currency, CAST(SUM(amount) AS HUGEINT) AS balance
                           FROM wallet_transactions WHERE wallet_id IN (SELECT wallet_id FROM _mlm_sealed)
                           GROUP BY wallet_id, currency) b
                       USING (wallet_id, currency)
            )
            SELECT tx_id, wallet_id, currency, amount, balance FROM batch
            LEFT JOIN wallets w USING (wallet_id)
            WHERE balance NOT BETWEEN CAST(? AS HUGEINT) AND CAST(? AS HUGEINT)
               OR (amount < 0 AND balance < 0 AND NOT COALESCE(w.allow_negative, false))
            ORDER BY posted_order LIMIT 1
        """
        refused = self._rows(running, [INT64_MIN, INT64_MAX])
        if not refused:
            return
        tx_id, wallet_id, currency, amount, balance = refused[0]
        if not INT64_MIN <= balance <= INT64_MAX:
            raise AmountOverflowError(f"tx_id {tx_id!r}: the balance of wallet {wallet_id!r} in {currency} would "
                                      f"be {balance}, outside int64")
        raise LedgerError(f"tx_id {tx_id!r}: wallet {wallet_id!r} has {balance - amount} {currency} (minor units); "
                          f"{amount} would leave {balance}, and the wallet may not go below zero "
                          f"(see Store.set_wallet)", tx_id=tx_id)

    def post_run(self, result: PeriodResult, *, run_id: str, created_at: int, currency: str) -> PostResult:
        """Credits every line of a commission run: tx_id ``{run_id}/{member_id}/{bonus}`` in the member's
        wallet, kind ``commission`` (``clawback`` for a negative line), reference ``{run_id}/{bonus}``.

        Posting the same run again writes nothing (every row is skipped).
        """
        run_id = _normalised(run_id, "run_id")
        currency = _normalised(currency, "currency")
        lines = result.lines
        member = _decoded_strings(lines.column("member_id"))
        bonus = _decoded_strings(lines.column("bonus"))
        amount = _arrow.int64_array(lines.column("amount"), "lines.amount", allow_bool=False)
        n, run = lines.num_rows, pa.scalar(run_id, pa.string())
        rows = pa.table({
            "tx_id": pc.binary_join_element_wise(run, member, bonus, "/"),
            "wallet_id": member,
            "amount": amount,
            "currency": pa.repeat(pa.scalar(currency, pa.string()), n),
            "kind": pc.if_else(pc.less(amount, 0), "clawback", "commission"),
            "created_at": pa.repeat(pa.scalar(_checked_int(created_at, "created_at"), pa.int64()), n),
            "reference": pc.binary_join_element_wise(run, bonus, "/"),
        })
        return self.post(rows, run_id=run_id)

    def withdraw(self, wallet_id: str, amount_minor: int, currency: str, *, tx_id: str, created_at: int,
                 reference: str | None = None) -> PostResult:
        """Posts one debit of ``amount_minor`` (a positive int, minor units) with kind ``withdrawal``; refused
        with LedgerError if it takes the balance below zero and the wallet does not allow that."""
        amount_minor = _checked_int(amount_minor, "amount_minor")
        if amount_minor <= 0:
            raise InputError(f"amount_minor must be positive (the amount withdrawn), not {amount_minor}")
        return self.post(_one_row(tx_id, wallet_id, -amount_minor, currency, "withdrawal", created_at, reference))

    def reverse(self, tx_id: str, *, created_at: int, reason: str) -> PostResult:
        """Posts ``{tx_id}/reversal``: the negated amount in the same wallet and currency, kind ``reversal``,
        reference ``reason``. Reversing again with the same arguments is a no-op; a reversal is not reversed."""
        tx_id = _normalised(tx_id, "tx_id")
        with self._lock:  # re-entrant: the original cannot change between reading it and posting
            found = self._rows("SELECT wallet_id, amount, currency, kind FROM wallet_transactions WHERE tx_id = ?",
                               [tx_id])
            if not found:
                raise LedgerError(f"tx_id {tx_id!r} is not in the ledger: nothing to reverse", tx_id=tx_id)
            wallet_id, amount, currency, kind = found[0]
            if kind == "reversal":
                raise LedgerError(f"tx_id {tx_id!r} is a reversal; post a new transaction instead of reversing it",
                                  tx_id=tx_id)
            if amount == INT64_MIN:
                raise AmountOverflowError(f"tx_id {tx_id!r}: the negation of {amount} is outside int64")
            return self.post(_one_row(f"{tx_id}/reversal", wallet_id, -amount, currency, "reversal", created_at,
                                      reason))

    def set_wallet(self, wallet_id: str, *, allow_negative: bool) -> None:
        """Sets whether ``wallet_id`` may go below zero (off for a wallet never set)."""
        if not isinstance(allow_negative, bool):
            raise InputError(f"allow_negative must be a bool, not {type(allow_negative).__name__}")
        with self._lock:
            self._db.execute(
                "INSERT INTO wallets VALUES (?, ?) "
                "ON CONFLICT (wallet_id) DO UPDATE SET allow_negative = excluded.allow_negative",
                [_normalised(wallet_id, "wallet_id"), allow_negative])

    # -- auditing -------------------------------------------------------------------------------------

    # -- the live projection's event log ------------------------------------------------------------------

    def _append_events(self, projection: str, batch: int, events: pa.Table, columns: tuple[str, ...]) -> None:
        """Appends one batch of a projection's events as given (rejected ones too: replaying the log
        rejects them again) as one Arrow IPC stream in one row, one statement: a batch is in the store
        whole or not at all, and a batch of 10,000 events costs a few milliseconds."""
        sink = pa.BufferOutputStream()
        # lz4: ids compress about 40%, at a fraction of a millisecond per batch.
        with pa.ipc.new_stream(sink, events.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
            writer.write_table(events)
        blob = sink.getvalue().to_pybytes()
        with self._lock:
            self._check_projection(projection, columns)
            self._db.execute("INSERT INTO projection_batches VALUES (?, ?, ?)", [projection, batch, blob])

    def _check_projection(self, projection: str, columns: tuple[str, ...]) -> None:
        """Records which volume columns a projection's events carry, or checks them against the record
        (once per Store object and projection)."""
        if self._projections.get(projection) == columns:
            return
        if not self._recorded(projection, columns):
            self._db.execute("INSERT INTO projections VALUES (?, ?)", [projection, list(columns)])
        self._projections[projection] = columns

    def _recorded(self, projection: str, columns: tuple[str, ...]) -> bool:
        """Whether the store holds a projection of this name; a StoreError if its events carry other
        volume columns."""
        known = self._db.execute("SELECT volume_columns FROM projections WHERE projection = ?", [projection]).fetchall()
        if known and list(known[0][0]) != list(columns):
            raise StoreError(f"projection {projection!r} in {self.path} has volume columns {known[0][0]}, "
                             f"not {list(columns)}: another plan wrote it")
        return bool(known)

    def _event_batches(self, projection: str, columns: tuple[str, ...]) -> Iterator[pa.Table]:
        """A projection's event batches in the order they were appended."""
        with self._lock:
            if not self._recorded(projection, columns):
                return
            numbers = [row[0] for row in self._db.execute(
                "SELECT batch FROM projection_batches WHERE projection = ? ORDER BY batch", [projection]).fetchall()]
        if numbers != list(range(len(numbers))):
            raise StoreError(f"projection {projection!r} in {self.path} lacks batches: it holds {len(numbers)} "
                             f"numbered up to {numbers[-1]}")
        for number in numbers:
            with self._lock:
                blob = self._db.execute("SELECT events FROM projection_batches WHERE projection = ? AND batch = ?",
                                        [projection, number]).fetchall()[0][0]
            yield pa.ipc.open_stream(pa.py_buffer(blob)).read_all()

    def verify_ledger(self, published_heads: pa.Table | None = None) -> ledger.VerifyReport:
        """Recomputes every leaf and chain of the stored ledger (:func:`mlm_core.ledger.verify`, in posting
        order) and every batch's Merkle root against its checkpoint (code ``root_mismatch``)."""
        with self._lock:
            sealed = self.transactions()
            checkpoints = self.checkpoints()
        report = ledger.verify(sealed.select(list(SEALED_FIELDS)), published_heads=published_heads)
        mismatches = _root_mismatches(sealed, checkpoints)
        if not mismatches:
            return report
        extra = pa.table({
            "tx_id": pa.nulls(len(mismatches), pa.string()),
            "wallet_id": pa.nulls(len(mismatches), pa.string()),
            "code": pa.array(["root_mismatch"] * len(mismatches), pa.string()),
            "detail": pa.array(mismatches, pa.string()),
        })
        problems = pa.concat_tables([report.problems, extra.cast(report.problems.schema)])
        return dataclasses.replace(report, problems=problems)  # ok follows from problems

    def export_checkpoints(self, path: str | os.PathLike[str]) -> None:
        """Writes every checkpoint and wallet head as JSON, for an auditor to publish outside the database:
        ``{"checkpoints": [{batch_id, run_id, rows, merkle_root}], "heads": [{wallet_id, seq, chain}]}``
        with hashes in hex."""
        with self._lock:
            checkpoints = self.checkpoints().to_pylist()
            heads = self.heads().to_pylist()
        document = {
            "checkpoints": [{"batch_id": c["batch_id"], "run_id": c["run_id"], "rows": c["rows"],
                             "merkle_root": c["merkle_root"].hex()} for c in checkpoints],
            "heads": [{"wallet_id": h["wallet_id"], "seq": h["seq"], "chain": h["chain"].hex()} for h in heads],
        }
        Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _root_mismatches(sealed: pa.Table, checkpoints: pa.Table) -> list[str]:
    """One detail per batch whose stored leaves (in posting order) do not give its checkpoint's root, or
    whose stored row count is not the checkpoint's."""
    leaves: dict[int, list[bytes]] = {}
    for batch_id, leaf in zip(sealed.column("batch_id").to_pylist(), sealed.column("leaf").to_pylist(), strict=True):
        leaves.setdefault(batch_id, []).append(leaf)
    details = []
    for checkpoint in checkpoints.to_pylist():
        batch_id = checkpoint["batch_id"]
        batch = leaves.pop(batch_id, [])
        root = ledger.merkle_root(pa.array(batch, pa.binary()))
        if root != checkpoint["merkle_root"] or len(batch) != checkpoint["rows"]:
            details.append(f"batch {batch_id}: its {len(batch)} stored row(s) have root {root.hex()}, the "
                           f"checkpoint says {checkpoint['rows']} row(s) with root {checkpoint['merkle_root'].hex()}")
    details.extend(f"batch {batch_id}: {len(batch)} stored row(s) but no checkpoint"
                   for batch_id, batch in sorted(leaves.items()))
    return details


def _decoded_strings(values: Any) -> pa.Array:
    array = _arrow.as_array(values, "lines")
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.cast(pa.string())


def _one_row(tx_id: str, wallet_id: str, amount: int, currency: str, kind: str, created_at: int,
             reference: str | None) -> pa.Table:
    for name, value in (("tx_id", tx_id), ("wallet_id", wallet_id), ("currency", currency)):
        if not isinstance(value, str):
            raise InputError(f"{name} must be a str, not {type(value).__name__}", column=name)
    if reference is not None and not isinstance(reference, str):
        raise InputError(f"reference must be a str or None, not {type(reference).__name__}", column="reference")
    return pa.table({
        "tx_id": pa.array([tx_id], pa.string()),
        "wallet_id": pa.array([wallet_id], pa.string()),
        "amount": pa.array([_checked_int(amount, "amount")], pa.int64()),
        "currency": pa.array([currency], pa.string()),
        "kind": pa.array([kind], pa.string()),
        "created_at": pa.array([_checked_int(created_at, "created_at")], pa.int64()),
        "reference": pa.array([reference], pa.string()),
    })
