"""The parallel run: our payouts against the legacy system's, per ``(period, member_id, bonus)``, to the
minor unit, and whether the migration may go live.

``reconcile(legacy_lines, new_lines)`` sums each side per key (legacy exports often carry detail lines:
one per downline contribution), pairs the keys (a Rust kernel: hashed keys confirmed byte by byte, exact
i128 sums) and puts every pair in exactly one class; pairs come in order of first appearance, the legacy
lines' order and then the keys only our lines have:

* ``match`` — both sides have the key and the same amount;
* ``amount_differs`` — both have it, the amounts differ (``difference = ours - legacy``);
* ``only_legacy`` / ``only_ours`` — one side has no line for it.

A pair whose amounts are both zero is a match even when one side omits zero lines. Totals per period and
bonus compare the two sides; the go-live verdict of a period is ``match`` only when every one of its pairs
matches, and the overall verdict only when every period does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import _arrow, _mlm_core
from .errors import AmountOverflowError, InputError
from .store import registered

if TYPE_CHECKING:
    from .store import Store

KEY = ("period", "member_id", "bonus")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS reconciliation_pairs (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL, bonus VARCHAR NOT NULL, legacy_amount BIGINT, our_amount BIGINT,
    difference BIGINT NOT NULL, status VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS reconciliation_totals (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    bonus VARCHAR NOT NULL, legacy_total BIGINT NOT NULL, our_total BIGINT NOT NULL, difference BIGINT NOT NULL,
    match BIGINT NOT NULL, amount_differs BIGINT NOT NULL, only_legacy BIGINT NOT NULL, only_ours BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS reconciliation_periods (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL, pairs BIGINT NOT NULL, differing BIGINT NOT NULL, legacy_total BIGINT NOT NULL,
    our_total BIGINT NOT NULL);
"""
CLASSES = ("match", "amount_differs", "only_legacy", "only_ours")


@dataclass(frozen=True)
class Reconciliation:
    """``pairs``: one row per key, ``(period, member_id, bonus, legacy_amount, our_amount, difference,
    status)``; ``totals``: per period and bonus, both sides' totals and the count of each class;
    ``periods``: per period, its verdict and its counts."""

    pairs: pa.Table
    totals: pa.Table
    periods: pa.Table

    @property
    def go_live(self) -> bool:
        """True when every compared period matches exactly (and at least one was compared)."""
        verdicts = self.periods.column("verdict").to_pylist()
        return bool(verdicts) and all(v == "match" for v in verdicts)

    def to_store(self, store: Store, *, run_id: str) -> None:
        """Writes ``reconciliation_pairs`` (every pair), ``reconciliation_totals`` and
        ``reconciliation_periods`` for ``run_id`` in one transaction; a run id already written is refused."""
        if not isinstance(run_id, str) or not run_id:
            raise InputError("run_id must be a non-empty str")
        with store._lock:
            db = store._db
            db.execute(_SCHEMA)
            if store._rows("SELECT 1 FROM reconciliation_periods WHERE run_id = ? LIMIT 1", [run_id]):
                raise InputError(f"reconciliation run {run_id!r} is already stored; use a new run_id")
            with store._transaction():
                for name, table in (("pairs", self.pairs), ("totals", self.totals), ("periods", self.periods)):
                    with registered(db, "_mlm_rec", table):
                        db.execute(f"INSERT INTO reconciliation_{name} SELECT ?, * FROM _mlm_rec", [run_id])

    def write_csv(self, path: str | os.PathLike[str], *, only_differences: bool = True) -> Path:
        """The pairs as CSV (only the differing ones unless asked), for the analyst's spreadsheet."""
        out = Path(path)
        pacsv.write_csv(self.differences() if only_differences else self.pairs, out)
        return out

    def differences(self) -> pa.Table:
        """The pairs that are not a match, largest absolute difference first."""
        bad = self.pairs.filter(pc.not_equal(self.pairs.column("status"), "match"))
        ranked = bad.append_column("_abs", pc.abs(bad.column("difference")))
        order = pc.sort_indices(ranked, [("_abs", "descending"), ("period", "ascending"),
                                         ("member_id", "ascending"), ("bonus", "ascending")])
        return bad.take(order)


def _lines(lines: Any, side: str) -> pa.Table:
    """``(period, member_id, bonus, amount)`` with text keys and int64 amounts; anything else is an
    InputError naming the side, the column and the rows."""
    table = _arrow.as_table(lines, f"{side} lines")
    missing = [c for c in (*KEY, "amount") if c not in table.column_names]
    if missing:
        raise InputError(f"{side} lines have no column {missing[0]!r}; they need period, member_id, bonus, amount",
                         column=missing[0])
    columns = {}
    for name in KEY:
        column = table.column(name)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
                or pa.types.is_null(kind)):
            raise InputError(f"{side} lines: {name} must be text or integer, not {column.type}", column=name)
        column = column.cast(pa.large_string()) if not pa.types.is_dictionary(column.type) else \
            column.cast(pa.dictionary(column.type.index_type, pa.string())).cast(pa.large_string())
        if column.null_count:
            rows = pc.indices_nonzero(pc.is_null(column)).to_pylist()[:10]
            raise InputError(f"{side} lines: {name} is null at rows {rows}", column=name, rows=rows)
        columns[name] = column
    amount = table.column("amount")
    if pa.types.is_null(amount.type):
        amount = amount.cast(pa.int64())
    if not pa.types.is_integer(amount.type):
        raise InputError(f"{side} lines: amount must be integer minor units, not {amount.type} (no float on the "
                         f"money path)", column="amount")
    if amount.null_count:
        rows = pc.indices_nonzero(pc.is_null(amount)).to_pylist()[:10]
        raise InputError(f"{side} lines: amount is null at rows {rows}", column="amount", rows=rows)
    columns["amount"] = amount.cast(pa.int64())
    return pa.table(columns)


def reconcile(legacy_lines: Any, new_lines: Any) -> Reconciliation:
    """Compares two sets of commission lines; see the module docstring for the classes and verdicts.

    Both take any Arrow-shaped table with ``period, member_id, bonus, amount`` (amount in integer minor
    units); several lines per key are summed exactly. A sum outside int64 raises AmountOverflowError.

    Examples
    --------
    >>> import pyarrow as pa, mlm_core
    >>> legacy = pa.table({"period": ["2026-11"] * 3, "member_id": ["A", "A", "B"],
    ...                    "bonus": ["binary", "binary", "unilevel"], "amount": [600, 400, 90]})
    >>> ours = pa.table({"period": ["2026-11"] * 2, "member_id": ["A", "C"],
    ...                  "bonus": ["binary", "unilevel"], "amount": [1000, 5]})
    >>> r = mlm_core.reconcile(legacy, ours)
    >>> for p in r.pairs.to_pylist():
    ...     print(p["member_id"], p["legacy_amount"], p["our_amount"], p["status"])
    A 1000 1000 match
    B 90 None only_legacy
    C None 5 only_ours
    >>> r.go_live
    False
    """
    legacy, ours = _lines(legacy_lines, "legacy"), _lines(new_lines, "new")
    from_ours, row, legacy_amount, our_amount = _mlm_core.reconcile_pairs(
        [_flat(legacy.column(c)) for c in (*KEY, "amount")], [_flat(ours.column(c)) for c in (*KEY, "amount")])
    # Each pair's key from its first line: one take per key column over both sides.
    at = pc.add(row, pc.multiply(from_ours.cast(pa.int64()), legacy.num_rows))
    keys = {c: pa.chunked_array([_flat(legacy.column(c)), _flat(ours.column(c))]).take(at).cast(pa.string())
            for c in KEY}
    try:
        difference = pc.subtract_checked(pc.fill_null(our_amount, 0), pc.fill_null(legacy_amount, 0))
    except pa.ArrowInvalid:
        raise AmountOverflowError("a difference between the two sides' sums leaves int64") from None
    same = pc.equal(difference, 0)
    status = pc.case_when(pc.make_struct(same, pc.is_null(legacy_amount), pc.is_null(our_amount)),
                          "match", "only_ours", "only_legacy", "amount_differs")
    pairs = pa.table({**keys, "legacy_amount": legacy_amount, "our_amount": our_amount, "difference": difference,
                      "status": status.cast(pa.string())})
    con = duckdb.connect()
    try:
        con.register("_mlm_pairs", pairs)
        totals = con.sql("""
            SELECT period, bonus, CAST(COALESCE(SUM(legacy_amount), 0) AS HUGEINT) AS legacy_total,
                   CAST(COALESCE(SUM(our_amount), 0) AS HUGEINT) AS our_total,
                   CAST(COALESCE(SUM(difference), 0) AS HUGEINT) AS difference,
                   count(*) FILTER (status = 'match') AS match,
                   count(*) FILTER (status = 'amount_differs') AS amount_differs,
                   count(*) FILTER (status = 'only_legacy') AS only_legacy,
                   count(*) FILTER (status = 'only_ours') AS only_ours
            FROM _mlm_pairs GROUP BY period, bonus ORDER BY period, bonus""").to_arrow_table()
        periods = con.sql("""
            SELECT period, CASE WHEN count(*) FILTER (status <> 'match') = 0 THEN 'match' ELSE 'differs' END
                   AS verdict, count(*) AS pairs, count(*) FILTER (status <> 'match') AS differing,
                   CAST(COALESCE(SUM(legacy_amount), 0) AS HUGEINT) AS legacy_total,
                   CAST(COALESCE(SUM(our_amount), 0) AS HUGEINT) AS our_total
            FROM _mlm_pairs GROUP BY period ORDER BY period""").to_arrow_table()
    finally:
        con.close()
    return Reconciliation(pairs, _int_totals(totals), _int_totals(periods))


def _flat(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _int_totals(table: pa.Table) -> pa.Table:
    """HUGEINT sums come back as decimal128(38, 0); within int64 they are cast exactly, beyond it a sum is an
    AmountOverflowError (a period's total beyond 92 quadrillion minor units is not a real company)."""
    for k, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type):
            try:
                table = table.set_column(k, field.name, table.column(k).cast(pa.int64()))
            except pa.ArrowInvalid:
                raise AmountOverflowError(f"the {field.name} of the reconciliation leaves int64") from None
    return table
