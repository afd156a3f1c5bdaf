"""The end-to-end demo (a placeholder until the full migration demo lands): synthesise a company, export
it as a legacy platform would, load it into an embedded DuckDB file, validate, build and roll it up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import synth
from ._arrow import as_table
from .engine import PeriodResult, run_period
from .genealogy import Genealogy, validate_genealogy
from .plan import Plan

T = TypeVar("T")


def format_minor(amount: int) -> str:
    """Minor units (or basis points) as a decimal with two places, by integer arithmetic.

    >>> format_minor(123456789), format_minor(-5), format_minor(2341)
    ('1,234,567.89', '-0.05', '23.41')
    """
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def _timed(label: str, step: Callable[[], T], say: Callable[[str], None]) -> T:
    start = time.perf_counter()
    result = step()
    say(f"  {label:<44} {time.perf_counter() - start:7.3f} s")
    return result


EXAMPLE_PLAN = Path(__file__).resolve().parent / "plans" / "example-plan.toml"
PERIODS = ("2026-09", "2026-10", "2026-11")


def _store(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, *, append: bool = False) -> None:
    """Writes an Arrow table into the DuckDB file as table ``name`` (replacing it, or appending)."""
    con.register("_incoming", table)
    try:
        if append:
            con.execute(f"INSERT INTO {name} SELECT * FROM _incoming")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")


def run_demo(
    members: int = 100_000, *, db_path: str | Path = "data/demo.duckdb", seed: int = 42,
    plan_path: str | Path = EXAMPLE_PLAN, periods: int = 3, say: Callable[[str], None] = print,
) -> dict[str, object]:
    """Runs the demo and returns its summary (also printed line by line through ``say``)."""
    db_path = Path(db_path)
    export_dir = db_path.parent / "demo"
    say(f"mlm_core demo: {members:,} members, seed {seed}")
    company = _timed("synthesise network", lambda: synth.network(members, seed=seed), say)
    orders = _timed("synthesise one period of orders",
                    lambda: synth.volumes(company, period=PERIODS[0], seed=seed), say)
    files = _timed("write legacy exports (CSV, Parquet)",
                   lambda: synth.write_exports(export_dir, company, orders), say)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    try:
        def load() -> None:
            con.execute(
                """CREATE OR REPLACE TABLE members AS
                   SELECT MemberID AS member_id, EnrollerID AS sponsor_id, UplineID AS placement_id,
                          Position AS leg, Status AS status, JoinDate AS join_date
                   FROM read_parquet(?)""",
                [str(files["members.parquet"])],
            )
            # Decimal text to integer hundredths exactly: DECIMAL(18,2) * 100 is exact, never a float.
            con.execute(
                """CREATE OR REPLACE TABLE volumes AS
                   SELECT OrderID AS order_id, MemberID AS member_id, Period AS period,
                          CAST(PV * 100 AS BIGINT) AS pv, CAST(BV * 100 AS BIGINT) AS bv
                   FROM read_csv(?, header = true,
                                 columns = {'OrderID': 'VARCHAR', 'MemberID': 'VARCHAR', 'Period': 'VARCHAR',
                                            'PV': 'DECIMAL(18,2)', 'BV': 'DECIMAL(18,2)'})""",
                [str(files["orders.csv"])],
            )

        _timed("load exports into DuckDB", load, say)
        members_rel = con.sql("SELECT member_id, sponsor_id, placement_id, leg, status FROM members ORDER BY rowid")
        report = _timed("validate genealogy", lambda: validate_genealogy(members_rel), say)
        genealogy = _timed("build genealogy (both trees)", lambda: Genealogy.from_arrow(members_rel), say)
        per_member = con.sql(
            """SELECT m.member_id, COALESCE(SUM(v.pv), 0)::BIGINT AS pv, COALESCE(SUM(v.bv), 0)::BIGINT AS bv
               FROM members m LEFT JOIN volumes v USING (member_id)
               GROUP BY m.member_id, m.rowid ORDER BY m.rowid"""
        )
        per_member = as_table(per_member, "volumes per member")

        def rollups() -> pa.Table:
            legs = genealogy.leg_volumes(per_member.column("bv"))
            return pa.table(
                {
                    "member_id": genealogy.member_ids,
                    "pv": per_member.column("pv"),
                    "group_pv": genealogy.rollup(per_member.column("pv")),
                    "downline": pc.subtract(genealogy.rollup(op="count"), 1),
                    "left_bv": legs.column("left"),
                    "right_bv": legs.column("right"),
                    "sponsor_depth": genealogy.depth("sponsor"),
                    "placement_depth": genealogy.depth("placement"),
                }
            )

        result = _timed("rollups: group PV, downline, leg BV, depths", rollups, say)
        _store(con, "member_rollups", result)
        _store(con, "genealogy_findings", report)
        top = con.sql(
            "SELECT member_id, downline, group_pv FROM member_rollups ORDER BY downline DESC LIMIT 3"
        ).fetchall()
        plan = Plan.from_toml(plan_path)
        state: pa.Table | None = None
        paid_by_period: list[tuple[str, int, int]] = []
        for number, period in enumerate(PERIODS[:periods]):
            period_volumes = (
                as_table(con.sql("SELECT member_id, period, pv, bv FROM volumes"), "volumes") if number == 0
                else synth.volumes(company, period=period, seed=seed + number).select(
                    ["member_id", "period", "pv", "bv"])
            )

            def one_period(volumes: pa.Table = period_volumes, name: str = period,
                           previous: pa.Table | None = state) -> PeriodResult:
                return run_period(plan, genealogy, volumes, period=name, state=previous)

            outcome = _timed(f"commission period {period} ({plan.name})", one_period, say)
            state = outcome.state
            _store(con, "commission_lines", outcome.lines, append=number > 0)
            _store(con, "period_summary", outcome.summary, append=number > 0)
            _store(con, "ranks", outcome.ranks)
            total = outcome.summary.filter(pc.equal(outcome.summary.column("bonus"), "total")).to_pylist()[0]
            paid_by_period.append((period, total["paid"], total["payout_ratio_bp"] or 0))
        if state is not None:
            _store(con, "period_state", state)
    finally:
        con.close()
    errors = sum(1 for s in report.column("severity").to_pylist() if s == "error")
    summary: dict[str, object] = {
        "members": len(genealogy),
        "orders": orders.num_rows,
        "errors": errors,
        "warnings": report.num_rows - errors,
        "sponsor_depth": pc.max(result.column("sponsor_depth")).as_py(),
        "placement_depth": pc.max(result.column("placement_depth")).as_py(),
        "total_pv": pc.sum(per_member.column("pv")).as_py(),
        "database": str(db_path),
    }
    say(f"genealogy whole: {errors} errors, {summary['warnings']} warnings; depth sponsor "
        f"{summary['sponsor_depth']}, placement {summary['placement_depth']}")
    say("biggest builders (downline, group PV in hundredths): "
        + "; ".join(f"{m} {d:,} / {g:,}" for m, d, g in top))
    for period, paid, ratio_bp in paid_by_period:
        say(f"period {period}: paid {format_minor(paid)} {plan.currency}, payout ratio "
            f"{format_minor(ratio_bp)}% of BV")
    say(f"tables members, volumes, member_rollups, genealogy_findings, commission_lines, period_summary, "
        f"ranks, period_state written to {db_path}")
    summary["paid_by_period"] = paid_by_period
    return summary
