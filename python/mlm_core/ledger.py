"""E-wallet ledger hashing (``ledger-hashing.md``, version 1): seal a batch, compute its Merkle root, verify.

Every transaction gets a SHA-256 leaf of its canonical bytes and a chain hash per wallet; anyone can
recompute both with a stock SHA-256. The Rust kernel hashes rows on every core and chains wallets in
parallel, without the GIL.

Examples
--------
>>> import pyarrow as pa
>>> from mlm_core import ledger
>>> batch = pa.table({"tx_id": ["T1"], "wallet_id": ["W-A"], "amount": [12345], "currency": ["USD"],
...                   "kind": ["commission"], "created_at": [1793000000000000],
...                   "reference": ["RUN-2026-10/binary"]})
>>> sealed = ledger.seal(batch)
>>> sealed.column("seq").to_pylist(), sealed.column("leaf")[0].as_py().hex()[:16]
([1], 'f17845f16d00fe95')
>>> ledger.verify(sealed).ok
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow, _mlm_core
from .errors import InputError

FIELDS = ("tx_id", "wallet_id", "amount", "currency", "kind", "created_at", "reference")
HASH_COLUMNS = ("seq", "leaf", "chain")


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`.

    ``problems``: ``(tx_id, wallet_id, code, detail)``, the first bad row of each wallet in row order, then
    heads that differ from the published ones, then a root that does: ``bad_field``, ``duplicate_tx_id``,
    ``sequence_gap``, ``leaf_mismatch``, ``chain_mismatch``, ``head_mismatch``, ``root_mismatch``.
    ``heads``: ``(wallet_id, seq, chain)`` of every wallet, in first-appearance order — what to publish.
    ``root``: the RFC 6962 Merkle root of the stored leaves in ledger order.
    """

    problems: pa.Table
    heads: pa.Table
    root: bytes

    @property
    def ok(self) -> bool:
        return bool(self.problems.num_rows == 0)


def _strings(table: pa.Table, name: str) -> pa.Array:
    array = _arrow.column(table, name)
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise InputError(f"{name} must be a string column, not {array.type}", column=name)
    return array.cast(pa.string())


def _micros(table: pa.Table) -> pa.Array:
    """created_at as int64 microseconds UTC: a bare int64 column as is, a timestamp with a time zone
    converted exactly; a timestamp without a time zone is refused (the spec's field rule)."""
    array = _arrow.column(table, "created_at")
    if pa.types.is_timestamp(array.type):
        if array.type.tz is None:
            raise InputError("created_at is a timestamp without a time zone: give it one (UTC instants)",
                             column="created_at")
        return array.cast(pa.timestamp("us", tz="UTC"), safe=True).cast(pa.int64())
    return _arrow.int64_array(array, "created_at", allow_bool=False)


def _columns(table: pa.Table) -> list[pa.Array]:
    missing = [c for c in FIELDS if c not in table.column_names]
    if missing:
        raise InputError(f"transactions lack column(s) {', '.join(missing)}", column=missing[0])
    strings = {name: _strings(table, name) for name in ("tx_id", "wallet_id", "currency", "kind", "reference")}
    for name in ("tx_id", "wallet_id", "currency", "kind"):
        column = strings[name]
        if column.null_count:
            rows = _arrow.null_rows(column)
            raise InputError(f"{name} is null on {column.null_count} row(s), first at rows {rows}",
                             column=name, rows=rows)
    amount = _arrow.int64_array(_arrow.column(table, "amount"), "amount", allow_bool=False)
    created = _micros(table)
    for name, array in (("amount", amount), ("created_at", created)):
        if array.null_count:
            rows = _arrow.null_rows(array)
            raise InputError(f"{name} is null on rows {rows}", column=name, rows=rows)
    return [strings["tx_id"], strings["wallet_id"], amount, strings["currency"], strings["kind"], created,
            strings["reference"]]


def _binary(table: pa.Table, name: str) -> pa.Array:
    array = _arrow.column(table, name)
    if pa.types.is_fixed_size_binary(array.type) or pa.types.is_large_binary(array.type):
        array = array.cast(pa.binary())
    if not pa.types.is_binary(array.type):
        raise InputError(f"{name} must be a binary column, not {array.type}", column=name)
    return array


def _heads(heads: Any, what: str) -> list[pa.Array]:
    """``(wallet_id, seq, chain)`` columns of a heads table, or [] for none."""
    if heads is None:
        return []
    table = _arrow.as_table(heads, what)
    missing = [c for c in ("wallet_id", "seq", "chain") if c not in table.column_names]
    if missing:
        raise InputError(f"{what} lack column(s) {', '.join(missing)}", column=missing[0])
    seq = _arrow.int64_array(_arrow.column(table, "seq"), f"{what}.seq", allow_bool=False)
    return [_strings(table, "wallet_id"), seq, _binary(table, "chain")]


def seal(transactions: Any, *, heads: Any = None) -> pa.Table:
    """The rows of ``transactions`` in the order given, with ``seq`` (int64, per wallet), ``leaf`` and
    ``chain`` (32-byte binary) appended.

    ``transactions``: any Arrow table with ``tx_id, wallet_id, amount, currency, kind, created_at,
    reference`` (``created_at`` int64 microseconds UTC, or a timestamp with a time zone); other columns are
    kept. ``heads``: ``(wallet_id, seq, chain)`` of wallets this batch continues (their published heads).
    A repeated ``tx_id`` or a broken field rule raises :class:`LedgerError` naming the ``tx_id``.
    """
    table = _arrow.as_table(transactions, "transactions")
    clash = [c for c in HASH_COLUMNS if c in table.column_names]
    if clash:
        raise InputError(f"transactions already have {', '.join(clash)}: they are sealed", column=clash[0])
    out = _mlm_core.ledger_seal(_columns(table), _heads(heads, "heads"))
    for name in HASH_COLUMNS:
        table = table.append_column(name, out[name])
    return table


def merkle_root(leaves: Any) -> bytes:
    """The RFC 6962 Merkle tree hash over 32-byte leaf hashes, in order (not hashed again)."""
    array = _arrow.as_array(leaves, "leaves")
    if pa.types.is_null(array.type) and array.null_count == 0:  # an empty list: no leaves
        array = array.cast(pa.binary())
    if pa.types.is_fixed_size_binary(array.type) or pa.types.is_large_binary(array.type):
        array = array.cast(pa.binary())
    if not pa.types.is_binary(array.type):
        raise InputError(f"leaves must be binary, not {array.type}")
    root: bytes = _mlm_core.ledger_merkle_root(array)
    return root


def verify(sealed: Any, *, start_heads: Any = None, published_heads: Any = None,
           published_root: bytes | None = None) -> VerifyReport:
    """Recomputes every leaf and chain of a sealed ledger (in its order) and reports the first bad row of
    each wallet; ends are compared with ``published_heads`` and the root with ``published_root``.

    ``start_heads``: the heads the ledger continues from (none: every wallet starts at seq 1).
    A rewrite of rows and hashes together is only caught against a published head or root.
    """
    table = _arrow.as_table(sealed, "sealed")
    missing = [c for c in HASH_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"sealed ledger lacks column(s) {', '.join(missing)}", column=missing[0])
    seq = _arrow.int64_array(_arrow.column(table, "seq"), "seq", allow_bool=False)
    if seq.null_count:
        raise InputError(f"seq is null on rows {_arrow.null_rows(seq)}", column="seq")
    columns = _columns(table)
    chain = _binary(table, "chain")
    raw = _mlm_core.ledger_verify(
        columns, seq, _binary(table, "leaf"), chain,
        _heads(start_heads, "start_heads"), _heads(published_heads, "published_heads"),
        None if published_root is None else bytes(published_root),
    )
    tx_ids, wallets = columns[0], columns[1]
    rows = raw["row"]
    problems = pa.table({
        "tx_id": tx_ids.take(rows) if len(rows) else pa.array([], pa.string()),
        "wallet_id": raw["wallet_id"],
        "code": raw["code"],
        "detail": raw["detail"],
    })
    # Each wallet's head is its last row: the stored seq and chain there.
    heads = pa.table({"wallet_id": wallets, "seq": seq, "chain": chain}).take(raw["head_row"])
    return VerifyReport(problems, heads, raw["root"])


def heads_of(sealed: Any) -> pa.Table:
    """``(wallet_id, seq, chain)`` of each wallet's last row in a sealed table, ordered by that row: the
    heads a next batch continues from (``seal(batch, heads=heads_of(previous))``)."""
    table = _arrow.as_table(sealed, "sealed")
    rows = pa.table({"wallet_id": _strings(table, "wallet_id"), "row": pa.array(range(table.num_rows), pa.int64())})
    last = rows.group_by("wallet_id", use_threads=False).aggregate([("row", "max")]).column("row_max")
    return table.select(["wallet_id", "seq", "chain"]).take(last.take(pc.sort_indices(last)))
