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
CREATE TABLE IF NOT EXISTS reconciliation_diagnosis (run_id VARCHAR NOT NULL, step BIGINT NOT NULL,
    change VARCHAR NOT NULL, fixes BIGINT NOT NULL, breaks BIGINT NOT NULL, differing_after BIGINT NOT NULL,
    taken BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS reconciliation_notes (run_id VARCHAR NOT NULL, line BIGINT NOT NULL, note VARCHAR NOT NULL);
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

    def to_store(self, store: Store, *, run_id: str, diagnosis: pa.Table | None = None,
                 notes: list[str] | None = None) -> None:
        """Writes ``reconciliation_pairs`` (every pair), ``reconciliation_totals`` and
        ``reconciliation_periods`` for ``run_id`` in one transaction (and ``reconciliation_diagnosis``: the
        candidates a :meth:`mlm_core.ParallelRun.diagnose` tried, ``reconciliation_notes``: its summary); a
        run id already written is refused."""
        if not isinstance(run_id, str) or not run_id:
            raise InputError("run_id must be a non-empty str")
        with store._lock:
            db = store._db
            db.execute(_SCHEMA)
            if store._rows("SELECT 1 FROM reconciliation_periods WHERE run_id = ? LIMIT 1", [run_id]):
                raise InputError(f"reconciliation run {run_id!r} is already stored; use a new run_id")
            with store._transaction():
                tables = [("pairs", self.pairs), ("totals", self.totals), ("periods", self.periods)]
                if diagnosis is not None:
                    tables.append(("diagnosis", diagnosis))
                if notes:
                    tables.append(("notes", pa.table({"line": pa.array(range(len(notes)), pa.int64()),
                                                      "note": pa.array(notes, pa.string())})))
                for name, table in tables:
                    with registered(db, "_mlm_rec", table):
                        db.execute(f"INSERT INTO reconciliation_{name} SELECT ?, * FROM _mlm_rec", [run_id])

    def write_csv(self, path: str | os.PathLike[str], *, only_differences: bool = True) -> Path:
        """The pairs as CSV (only the differing ones unless asked), for the analyst's spreadsheet."""
        out = Path(path)
        pacsv.write_csv(self.differences() if only_differences else _decoded(self.pairs), out)
        return out

    def differences(self) -> pa.Table:
        """The pairs that are not a match, largest absolute difference first."""
        bad = _decoded(self.pairs.filter(pc.not_equal(self.pairs.column("status"), "match")))
        ranked = bad.append_column("_abs", pc.abs(bad.column("difference")))
        order = pc.sort_indices(ranked, [("_abs", "descending"), ("period", "ascending"),
                                         ("member_id", "ascending"), ("bonus", "ascending")])
        return bad.take(order)


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns as plain strings."""
    return table.cast(pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
                                 for f in table.schema]))


def _key_column(column: pa.ChunkedArray, side: str, name: str) -> pa.Array:
    """A key column as the kernel takes it: string or large_string, or a dictionary of them with int32
    indices (a dictionary column is not decoded: its values are interned instead of its rows)."""
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_null(kind)):
        raise InputError(f"{side} lines: {name} must be text or integer, not {column.type}", column=name)
    if column.null_count:
        rows = pc.indices_nonzero(pc.is_null(column)).to_pylist()[:10]
        raise InputError(f"{side} lines: {name} is null at rows {rows}", column=name, rows=rows)
    text = (pa.string(), pa.large_string())
    if pa.types.is_dictionary(column.type):
        # A null among the dictionary's values is a null key only where an index points at it.
        if any(c.dictionary.null_count for c in column.chunks):
            pointed = pa.chunked_array([c.dictionary.is_null().take(c.indices) for c in column.chunks], pa.bool_())
            rows = pc.indices_nonzero(pointed.combine_chunks().fill_null(False)).to_pylist()[:10]
            if rows:
                raise InputError(f"{side} lines: {name} is null at rows {rows}", column=name, rows=rows)
            column = pa.chunked_array([pa.DictionaryArray.from_arrays(
                c.indices, c.dictionary.cast(pa.large_string()).fill_null("")) for c in column.chunks])
        if column.num_chunks == 1:
            d = column.chunk(0)
            values = d.dictionary if d.dictionary.type in text else d.dictionary.cast(pa.large_string())
            return pa.DictionaryArray.from_arrays(d.indices.cast(pa.int32()), values)
        return column.cast(pa.dictionary(pa.int32(), pa.large_string())).combine_chunks()
    flat = _flat(column)
    return flat if flat.type in text else flat.cast(pa.large_string())


def _lines(lines: Any, side: str) -> list[pa.Array]:
    """``[period, member_id, bonus, amount]`` as the kernel takes them; anything else is an InputError naming
    the side, the column and the rows."""
    table = _arrow.as_table(lines, f"{side} lines")
    missing = [c for c in (*KEY, "amount") if c not in table.column_names]
    if missing:
        raise InputError(f"{side} lines have no column {missing[0]!r}; they need period, member_id, bonus, amount",
                         column=missing[0])
    columns = [_key_column(table.column(name), side, name) for name in KEY]
    amount = table.column("amount")
    if pa.types.is_null(amount.type):
        amount = amount.cast(pa.int64())
    if not pa.types.is_integer(amount.type):
        raise InputError(f"{side} lines: amount must be integer minor units, not {amount.type} (no float on the "
                         f"money path)", column="amount")
    if amount.null_count:
        rows = pc.indices_nonzero(pc.is_null(amount)).to_pylist()[:10]
        raise InputError(f"{side} lines: amount is null at rows {rows}", column="amount", rows=rows)
    return [*columns, _flat(amount.cast(pa.int64()))]


def reconcile(legacy_lines: Any, new_lines: Any) -> Reconciliation:
    """Compares two sets of commission lines; see the module docstring for the classes and verdicts.

    Both take any Arrow-shaped table with ``period, member_id, bonus, amount`` (amount in integer minor
    units); several lines per key are summed exactly. A sum outside int64 raises AmountOverflowError.
    The pairs' ``period``, ``member_id``, ``bonus`` and ``status`` are dictionary-encoded (they read as
    plain values: ``to_pylist()``, DuckDB, pandas; :meth:`Reconciliation.differences` decodes them).

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
    out = _mlm_core.reconcile_pairs(_lines(legacy_lines, "legacy"), _lines(new_lines, "new"))
    values = {"period": out["periods"].cast(pa.string()), "member_id": out["members"].cast(pa.string()),
              "bonus": out["bonuses"].cast(pa.string())}
    classes = pa.array(CLASSES, pa.string())
    pairs = pa.table({
        **{c: pa.DictionaryArray.from_arrays(out[c], values[c]) for c in KEY},
        "legacy_amount": out["legacy_amount"], "our_amount": out["our_amount"], "difference": out["difference"],
        "status": pa.DictionaryArray.from_arrays(out["status"], classes),
    })
    t = out["totals"]
    totals = pa.table({
        "period": values["period"].take(t["period"]), "bonus": values["bonus"].take(t["bonus"]),
        "legacy_total": t["legacy_total"], "our_total": t["our_total"], "difference": t["difference"],
        **{c: t[c].cast(pa.int64()) for c in CLASSES},
    })
    totals = totals.take(pc.sort_indices(totals, [("period", "ascending"), ("bonus", "ascending")]))
    return Reconciliation(pairs, totals, _periods(totals))


def _periods(totals: pa.Table) -> pa.Table:
    """Per period: the verdict, its pairs and differing pairs, both sides' totals (exact: Python ints)."""
    rows: dict[str, dict[str, int]] = {}
    for t in totals.to_pylist():
        r = rows.setdefault(t["period"], {"pairs": 0, "differing": 0, "legacy_total": 0, "our_total": 0})
        r["pairs"] += sum(t[c] for c in CLASSES)
        r["differing"] += t["amount_differs"] + t["only_legacy"] + t["only_ours"]
        r["legacy_total"] += t["legacy_total"]
        r["our_total"] += t["our_total"]
    for period, r in rows.items():
        for name in ("legacy_total", "our_total"):
            if not -(2**63) <= r[name] < 2**63:
                raise AmountOverflowError(f"the {name} of period {period} leaves int64")
    return pa.table({
        "period": pa.array(list(rows), pa.string()),
        "verdict": pa.array(["match" if r["differing"] == 0 else "differs" for r in rows.values()], pa.string()),
        "pairs": pa.array([r["pairs"] for r in rows.values()], pa.int64()),
        "differing": pa.array([r["differing"] for r in rows.values()], pa.int64()),
        "legacy_total": pa.array([r["legacy_total"] for r in rows.values()], pa.int64()),
        "our_total": pa.array([r["our_total"] for r in rows.values()], pa.int64()),
    })


def _flat(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array: a single chunk as it is (no copy), several concatenated."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column
