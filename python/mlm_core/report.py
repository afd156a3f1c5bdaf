"""The report, from the store: tables for machines (CSV and Parquet) and one self-contained HTML page for
people (tables and inline SVG charts, no script, no network).

:func:`report_tables` computes every table with DuckDB over the store: commission statements, payout summary
per period and bonus (payout ratio, breakage), rank distribution and advancement, genealogy health (depth
and level histograms, leg balance, orphans fixed), data quality (quarantine by table and reason), the
migration audit, the ledger verification and the latest reconciliation. :func:`write_report` writes them.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import report_html as h
from .genealogy import Genealogy
from .reconciliation import Reconciliation

if TYPE_CHECKING:
    from .store import Store

#: Leg balance buckets: the weaker placement leg's members as a share of the stronger one's, in percent.
BALANCE_BUCKETS = ((0, 10), (10, 25), (25, 50), (50, 75), (75, 101))


def _exists(store: Store, table: str) -> bool:
    return bool(store._rows("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])[0][0])


def _latest_run(store: Store, table: str) -> str | None:
    if not _exists(store, table):
        return None
    rows = store._rows(f"SELECT run_id FROM {table} GROUP BY run_id ORDER BY max(rowid) DESC LIMIT 1")
    return str(rows[0][0]) if rows else None


def report_tables(store: Store, *, run_id: str | None = None, reconciliation_run: str | None = None,
                  top: int = 100) -> dict[str, pa.Table]:
    """Every report table (see the module docstring); ``run_id`` / ``reconciliation_run``: which commission
    run and which reconciliation (default: the latest recorded)."""
    t: dict[str, pa.Table] = {}
    q = store._table
    run_id = run_id or _latest_run(store, "commission_runs")
    if run_id is not None:
        t["commission_runs"] = q("SELECT * FROM commission_runs WHERE run_id = ? ORDER BY period", [run_id])
        t["statements"] = q("""
            SELECT period, member_id, bonus, amount FROM commission_lines WHERE run_id = ?
            ORDER BY period, member_id, bonus""", [run_id])
        t["statement_totals"] = q("""
            SELECT member_id, period, SUM(amount)::BIGINT AS total FROM commission_lines WHERE run_id = ?
            GROUP BY ALL ORDER BY member_id, period""", [run_id])
        t["top_earners"] = q("""
            SELECT member_id, SUM(amount)::BIGINT AS total, count(DISTINCT period) AS periods
            FROM commission_lines WHERE run_id = ? GROUP BY member_id ORDER BY total DESC, member_id LIMIT ?""",
                             [run_id, top])
        t["payouts"] = q("""
            SELECT period, bonus, paid, breakage, total_bv, payout_ratio_bp FROM period_summaries
            WHERE run_id = ? ORDER BY period, bonus = 'total', bonus""", [run_id])
        t["rank_distribution"] = q("""
            SELECT period, paid_as_rank AS rank, count(*) AS members FROM period_ranks WHERE run_id = ?
            GROUP BY ALL ORDER BY period, members DESC, rank""", [run_id])
        # Advancement: a member whose highest rank changed from the period before (the first period against
        # the migrated rank history's highest achieved rank).
        t["rank_advancement"] = q("""
            WITH r AS (SELECT period, member_id, highest_rank,
                              lag(highest_rank) OVER (PARTITION BY member_id ORDER BY period) AS before
                       FROM period_ranks WHERE run_id = ?),
                 migrated AS (SELECT member_id, arg_max(achieved_rank, period) AS rank FROM rank_history
                              GROUP BY member_id)
            SELECT period, COALESCE(before, m.rank, 'Member') AS from_rank, highest_rank AS to_rank,
                   count(*) AS members
            FROM r LEFT JOIN migrated m USING (member_id)
            WHERE highest_rank <> COALESCE(before, m.rank, 'Member')
            GROUP BY ALL ORDER BY period, members DESC, from_rank, to_rank""", [run_id])
    members = q("SELECT member_id, sponsor_id, placement_id, leg, status FROM members ORDER BY batch_id, rowid")
    if members.num_rows:
        g = Genealogy.from_arrow(members)
        levels = [h_.append_column("tree", pa.array([tree] * h_.num_rows, pa.string()))
                  for tree in ("sponsor", "placement") for h_ in [g.level_histogram(tree)]]
        t["genealogy_levels"] = pa.concat_tables(levels).select(["tree", "level", "members"])
        legs = g.leg_volumes(pa.array([1] * len(g), pa.int64()))
        t["leg_balance"] = _leg_balance(legs)
        orphans = store._rows("""SELECT count(*) FILTER (reason LIKE 'orphan%'), count(*) FILTER (reason LIKE
                                 'cycle%') FROM quarantine WHERE table_name = 'members'""")[0]
        attached = store._rows("SELECT count(*) FROM orphan_attachments")[0][0]
        t["genealogy_health"] = pa.table({
            "members": [len(g)],
            "sponsor_depth": [t["genealogy_levels"].filter(pc.equal(t["genealogy_levels"]["tree"], "sponsor"))
                              .num_rows - 1],
            "placement_depth": [t["genealogy_levels"].filter(pc.equal(t["genealogy_levels"]["tree"], "placement"))
                                .num_rows - 1],
            "orphans_quarantined": [int(orphans[0])], "cycles_quarantined": [int(orphans[1])],
            "orphans_attached": [int(attached)],
            "active": [int(pc.sum(pc.equal(members["status"], "active"), min_count=0).as_py() or 0)],
        })
    t["quarantine"] = q("""SELECT table_name, reason, count(*) AS rows FROM quarantine GROUP BY ALL
                           ORDER BY rows DESC, table_name, reason""")
    t["migration_batches"] = q("""SELECT batch_id, table_name, source_file, part, rows_read, rows_accepted,
                                  rows_quarantined FROM migration_batches ORDER BY batch_id""")
    if t["migration_batches"].num_rows:
        from .migrate.audit import audit

        t["migration_audit"] = audit(store)
    verified = store.verify_ledger()
    ledger_rows = store._rows("SELECT count(*), count(DISTINCT wallet_id) FROM wallet_transactions")[0]
    t["ledger_verification"] = pa.table({
        "transactions": [int(ledger_rows[0])], "wallets": [int(ledger_rows[1])],
        "checkpoints": [store.checkpoints().num_rows], "problems": [verified.problems.num_rows],
        "ok": [verified.ok], "merkle_root": [verified.root.hex()],
    })
    t["ledger_problems"] = verified.problems
    t["wallet_balances"] = store.balances()
    rec = reconciliation_run or _latest_run(store, "reconciliation_periods")
    if rec is not None:
        for name in ("periods", "totals", "diagnosis", "notes"):
            if _exists(store, f"reconciliation_{name}"):
                t[f"reconciliation_{name}"] = q(f"SELECT * EXCLUDE (run_id) FROM reconciliation_{name} "
                                                f"WHERE run_id = ? ORDER BY ALL", [rec])
        t["reconciliation_differences"] = q("""
            SELECT * EXCLUDE (run_id) FROM reconciliation_pairs WHERE run_id = ? AND status <> 'match'
            ORDER BY abs(difference) DESC, period, member_id, bonus""", [rec])
        t["reconciliation_run"] = pa.table({"run_id": [rec]})
    return t


def _leg_balance(legs: pa.Table) -> pa.Table:
    """Members with both placement legs, by how the weaker leg's members compare with the stronger's."""
    left = legs.column("left").to_numpy(zero_copy_only=False)
    right = legs.column("right").to_numpy(zero_copy_only=False)
    both = (left > 0) & (right > 0)
    weak, strong = left[both].clip(max=right[both]), right[both].clip(min=left[both])
    share = weak * 100 // strong  # integer percent
    rows = [{"bucket": f"{lo}-{min(hi, 100)}%", "members": int(((share >= lo) & (share < hi)).sum())}
            for lo, hi in BALANCE_BUCKETS]
    rows.append({"bucket": "one leg only", "members": int(((left > 0) ^ (right > 0)).sum())})
    return pa.Table.from_pylist(rows, schema=pa.schema([("bucket", pa.string()), ("members", pa.int64())]))


def html_report(tables: dict[str, pa.Table], *, title: str = "mlm_core report", currency: str = "USD") -> str:
    """The HTML page of :func:`report_tables`' tables."""
    sections = []
    if "payouts" in tables:
        pay = tables["payouts"].to_pylist()
        runs = tables["commission_runs"].to_pylist()
        sections.append(
            '<section id="payouts"><h2>Payouts per period and bonus</h2>'
            f'<p class="muted">Commission run <code>{html.escape(runs[0]["run_id"])}</code>, plan '
            f'{html.escape(runs[0]["plan_name"])}; breakage is what the plan did not pay (caps, inactive '
            'uplines, depth); the payout ratio is paid / total BV in basis points.</p>'
            + h.bar_chart([(f'{r["period"]} {r["bonus"]}', [r["paid"], r["breakage"]]) for r in pay
                           if r["bonus"] != "total"], [("paid", h.OURS_COLOUR), ("breakage", h.LEGACY_COLOUR)],
                          title=f"paid and breakage per period and bonus ({currency})", chart_id="payout-chart",
                          currency=currency)
            + h.table(pay, ["period", "bonus", "paid", "breakage", "total_bv", "payout_ratio_bp"],
                      money_columns=["paid", "breakage", "total_bv"], currency=currency, table_id="payouts")
            + "</section>")
        sections.append(
            '<section id="statements"><h2>Commission statements</h2><p class="muted">The top earners over the '
            'run; every member\'s statement is in <code>statements.csv</code> / <code>.parquet</code>.</p>'
            + h.table(tables["top_earners"].slice(0, 25).to_pylist(), ["member_id", "total", "periods"],
                      money_columns=["total"], currency=currency, table_id="top-earners") + "</section>")
        dist = tables["rank_distribution"].to_pylist()
        last = max(r["period"] for r in dist) if dist else None
        sections.append(
            '<section id="ranks"><h2>Ranks</h2>'
            + h.bar_chart([(r["rank"], [r["members"]]) for r in dist if r["period"] == last],
                          [(f"paid-as rank, {last}", h.OURS_COLOUR)], title="members per paid-as rank",
                          chart_id="rank-chart")
            + h.table(dist, ["period", "rank", "members"], table_id="rank-distribution")
            + "<h3>Advancement (highest rank changed)</h3>"
            + h.table(tables["rank_advancement"].to_pylist(), ["period", "from_rank", "to_rank", "members"],
                      table_id="rank-advancement") + "</section>")
    if "genealogy_health" in tables:
        levels = tables["genealogy_levels"].to_pylist()
        sections.append(
            '<section id="genealogy"><h2>Genealogy health</h2>'
            + h.table(tables["genealogy_health"].to_pylist(), tables["genealogy_health"].column_names,
                      table_id="genealogy-health")
            + h.bar_chart([(f'level {r["level"]}', [r["members"]]) for r in levels if r["tree"] == "sponsor"][:40],
                          [("members (sponsor tree)", h.OURS_COLOUR)], title="members per sponsor level",
                          chart_id="sponsor-levels")
            + h.bar_chart([(f'level {r["level"]}', [r["members"]]) for r in levels if r["tree"] == "placement"][:40],
                          [("members (placement tree)", h.LEGACY_COLOUR)], title="members per placement level",
                          chart_id="placement-levels")
            + "<h3>Leg balance (weaker leg's members as a share of the stronger leg's)</h3>"
            + h.bar_chart([(r["bucket"], [r["members"]]) for r in tables["leg_balance"].to_pylist()],
                          [("members", h.OURS_COLOUR)], title="leg balance", chart_id="leg-balance")
            + h.table(tables["leg_balance"].to_pylist(), ["bucket", "members"], table_id="leg-balance-table")
            + "</section>")
    quarantine = tables["quarantine"].to_pylist()
    batches = tables["migration_batches"].to_pylist()
    audit_rows = tables["migration_audit"].to_pylist() if "migration_audit" in tables else []
    failed = [r for r in audit_rows if not r["ok"]]
    sections.append(
        '<section id="data-quality"><h2>Data quality and migration audit</h2>'
        + (h.bar_chart([(f'{r["table_name"]}: {r["reason"]}', [r["rows"]]) for r in quarantine][:30],
                       [("rows quarantined", h.LEGACY_COLOUR)], title="quarantined rows by table and reason",
                       chart_id="quarantine-chart") if quarantine else "<p>No row was quarantined.</p>")
        + h.table(quarantine, ["table_name", "reason", "rows"], table_id="quarantine")
        + h.table(batches, ["batch_id", "table_name", "source_file", "part", "rows_read", "rows_accepted",
                            "rows_quarantined"], table_id="migration-batches")
        + (f'<p><span class="verdict {"stop" if failed else "go"}" id="audit-verdict">audit: {len(audit_rows)} '
           f'checks, {len(failed)} failed</span></p>' if audit_rows else "")
        + (h.table(failed, ["check", "table_name", "batch_id", "source", "target"], table_id="audit-failures")
           if failed else "") + "</section>")
    ledger = tables["ledger_verification"].to_pylist()[0]
    ledger_words = "every leaf, chain and root verifies" if ledger["ok"] else "the ledger does NOT verify"
    sections.append(
        '<section id="ledger"><h2>E-wallet ledger verification</h2>'
        f'<p><span class="verdict {"go" if ledger["ok"] else "stop"}" id="ledger-verdict" '
        f'data-ok="{str(ledger["ok"]).lower()}">{ledger_words}'
        "</span></p>"
        + h.table([ledger], ["transactions", "wallets", "checkpoints", "problems", "merkle_root"],
                  table_id="ledger-verification")
        + (h.table(tables["ledger_problems"].slice(0, 50).to_pylist(), ["tx_id", "wallet_id", "code", "detail"],
                   table_id="ledger-problems") if tables["ledger_problems"].num_rows else "") + "</section>")
    if "reconciliation_periods" in tables:
        rec = Reconciliation(tables["reconciliation_differences"], tables["reconciliation_totals"],
                             tables["reconciliation_periods"])
        notes = tables["reconciliation_notes"].column("note").to_pylist() if "reconciliation_notes" in tables else None
        sections.append(h.reconciliation_section(rec, notes, tables.get("reconciliation_diagnosis"), currency=currency))
    return h.page(title, sections)


def write_report(store: Store, directory: str | os.PathLike[str], *, formats: tuple[str, ...] = ("csv", "parquet"),
                 title: str = "mlm_core report", currency: str | None = None, **options: Any) -> dict[str, Path]:
    """Writes every report table as ``<name>.csv`` / ``<name>.parquet`` and ``report.html`` to ``directory``;
    returns the paths by file name. ``currency``: for formatting money (default: the first commission run's
    plan currency, else USD)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tables = report_tables(store, **options)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                pacsv.write_csv(_plain(table), path)
            else:
                pq.write_table(table, path)
            written[path.name] = path
    if currency is None:
        currency = "USD"
        if "commission_runs" in tables and tables["commission_runs"].num_rows:
            from .plan import Plan

            currency = Plan.from_toml(tables["commission_runs"].column("plan_source")[0].as_py()).currency
    page = out / "report.html"
    page.write_text(html_report(tables, title=title, currency=currency), encoding="utf-8")
    written[page.name] = page
    return written


def _plain(table: pa.Table) -> pa.Table:
    """CSV takes no binary or dictionary columns: hashes as hex, dictionaries decoded."""
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_binary(field.type) or pa.types.is_fixed_size_binary(field.type):
            column = pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
        elif pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
        columns.append(column)
    return pa.table(columns, names=table.column_names)
