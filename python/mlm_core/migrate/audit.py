"""The migration audit: for every batch, what the source export held against what the store holds now.

Each check is one row ``(check, table_name, batch_id, source, target, ok)``: rows read against rows accepted
plus rows quarantined; accepted rows against migrated rows; the order-free checksum of the accepted rows
against the same checksum over the migrated rows; control totals (money and volume per currency, carry per
bonus, rank counts) against the same SQL over the migrated rows; the ledger batch root sealed from the export
against the root over the migrated leaves and the stored checkpoint; the level histograms of both trees
against the genealogy built from the members table. The audit passes when every row is ok.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from .. import ledger
from ..genealogy import Genealogy
from ..store import Store
from .canonical import TABLES
from .run import TOTALS, _levels

SCHEMA = pa.schema([("check", pa.string()), ("table_name", pa.string()), ("batch_id", pa.int64()),
                    ("source", pa.string()), ("target", pa.string()), ("ok", pa.bool_())])


def audit(store: Store) -> pa.Table:
    rows: list[dict[str, Any]] = []

    def add(check: str, table: str, batch: int | None, source: object, target: object) -> None:
        s, t = json.dumps(source, sort_keys=True), json.dumps(target, sort_keys=True)
        rows.append({"check": check, "table_name": table, "batch_id": batch, "source": s, "target": t,
                     "ok": s == t})

    batches = store._rows("SELECT batch_id, table_name, rows_read, rows_accepted, rows_quarantined, "
                          "CAST(accepted_checksum AS VARCHAR), source_digest FROM migration_batches ORDER BY 1")
    last_levels = None
    for batch_id, name, read, accepted, quarantined, checksum, digest_text in batches:
        table = TABLES[name]
        digest = json.loads(digest_text)
        q = store._rows("SELECT count(*) FROM quarantine WHERE batch_id = ?", [batch_id])[0][0]
        add("quarantined rows", name, batch_id, quarantined, q)
        fields = ", ".join(f.name for f in table.stored_fields)
        if name == "wallet_transactions":
            lb = digest["ledger_batch"]
            where = f"batch_id = {int(lb)}" if lb is not None else "false"
        else:
            where = f"batch_id = {int(batch_id)}"
        count, target_sum = store._rows(
            f"SELECT count(*), CAST(COALESCE(SUM(CAST(hash({fields}) AS HUGEINT)), 0) AS VARCHAR) FROM {name} "
            f"WHERE {where}")[0]
        add("rows migrated", name, batch_id, accepted, count)
        add("rows read = migrated + quarantined", name, batch_id, read, count + q)
        add("checksum", name, batch_id, checksum, target_sum)
        relation = f"(SELECT * FROM {name} WHERE {where})"
        target_totals = [list(r) for r in store._rows(TOTALS[name].format(r=relation))]
        add("control totals", name, batch_id, digest["totals"], json.loads(json.dumps(target_totals, default=str)))
        if name == "wallet_transactions":
            leaves = store._table(f"SELECT leaf FROM wallet_transactions WHERE {where} ORDER BY posted_order")
            add("ledger batch root (migrated leaves)", name, batch_id, digest["ledger_root"],
                ledger.merkle_root(leaves.column("leaf")).hex())
            # A batch whose rows were all quarantined posted nothing: no checkpoint, the empty root.
            stored_root = store._rows("SELECT merkle_root FROM ledger_checkpoints WHERE batch_id = ?", [lb]) \
                if lb is not None else [(ledger.merkle_root(pa.array([], pa.binary())),)]
            add("ledger batch root (checkpoint)", name, batch_id, digest["ledger_root"],
                bytes(stored_root[0][0]).hex() if stored_root else None)
        if name == "members":
            last_levels = (batch_id, digest["levels"])
    if last_levels is not None:
        members = store._table("SELECT member_id, sponsor_id, placement_id, leg FROM members")
        target = _levels(Genealogy.from_arrow(members))
        for tree in ("sponsor", "placement"):
            add(f"{tree} tree level histogram", "members", last_levels[0], last_levels[1][tree], target[tree])
    return pa.Table.from_pylist(rows, schema=SCHEMA)
