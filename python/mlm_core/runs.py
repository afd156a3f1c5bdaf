"""Our commission periods over a migrated store: read what a period needs, run it, record it, post it.

* :func:`store_inputs` — the genealogy (``members``), each period's volume rows (``orders``) and the state
  the first period starts from: the latest ``carry_forward`` snapshot before it (the rows of its latest
  period; a member it does not list has no carry) and each member's highest ``achieved_rank`` of
  ``rank_history`` before it (none: Member).
* :func:`record_period` — a :class:`PeriodResult` into ``commission_lines``, ``period_summaries``,
  ``period_ranks`` and ``commission_runs`` (once per run id and period).
* :func:`run_periods` — the periods in order, each from the previous one's state, recorded, and with
  ``post=True`` credited to the members' wallets (tx ids ``{run_id}/{period}/{member}/{bonus}``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .engine import PeriodResult, run_period
from .errors import InputError
from .genealogy import Genealogy
from .plan import Plan
from .store import registered

if TYPE_CHECKING:
    from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS commission_runs (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    plan_name VARCHAR NOT NULL, plan_source VARCHAR NOT NULL, lines BIGINT NOT NULL, paid BIGINT NOT NULL,
    posted BOOLEAN NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS commission_lines (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL, bonus VARCHAR NOT NULL, amount BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS period_summaries (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    bonus VARCHAR NOT NULL, paid BIGINT NOT NULL, breakage BIGINT NOT NULL, total_bv BIGINT NOT NULL,
    payout_ratio_bp BIGINT);
CREATE TABLE IF NOT EXISTS period_ranks (run_id VARCHAR NOT NULL, period VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL, paid_as_rank VARCHAR NOT NULL, highest_rank VARCHAR NOT NULL);
"""


@dataclass(frozen=True)
class StoreInputs:
    genealogy: Genealogy
    periods: tuple[str, ...]
    volumes: dict[str, pa.Table]
    state: pa.Table


def cutover(store: Store) -> str | None:
    """The last period of the migrated carry-forward (the legacy's state the engine starts from), or None."""
    last = store._rows("SELECT max(period) FROM carry_forward")[0][0]
    return None if last is None else str(last)


def order_periods(store: Store) -> list[str]:
    return [r[0] for r in store._rows("SELECT DISTINCT period FROM orders ORDER BY 1")]


def known_periods(store: Store) -> list[str]:
    """Every period with orders or legacy commission lines, in order."""
    return [r[0] for r in store._rows("SELECT period FROM orders UNION SELECT period FROM commission_history "
                                      "ORDER BY 1")]


def check_periods(store: Store, periods: tuple[str, ...]) -> None:
    """Periods run one after another from the migrated state, so they must be strictly increasing, known to
    the store, and leave no known period out between the cutover and the last of them (each period starts
    from the one before)."""
    known = known_periods(store)
    unknown = [p for p in periods if p not in known]
    if unknown:
        raise InputError(f"period(s) {', '.join(unknown)} have neither orders nor legacy commission lines")
    if any(b <= a for a, b in itertools.pairwise(periods)):
        raise InputError(f"periods must be strictly increasing (each starts from the one before): "
                         f"{', '.join(periods)}")
    cut = cutover(store)
    skipped = [p for p in known if (cut is None or p > cut) and periods[0] < p < periods[-1] and p not in periods]
    before = [p for p in known if cut is not None and cut < p < periods[0]]
    if skipped or before:
        raise InputError(f"period(s) {', '.join(before + skipped)} would be skipped: each period starts from the "
                         f"one before{f' and the migrated state is of {cut}' if cut else ''}; include them")


def store_inputs(store: Store, plan: Plan, periods: Iterable[str]) -> StoreInputs:
    """What the engine needs to run ``periods`` (in that order) from the store; see the module docstring."""
    periods = tuple(periods)
    if not periods:
        raise InputError("no period to run")
    check_periods(store, periods)
    extra = [c for c in plan.volume_columns if c not in ("pv", "bv")]
    if extra:
        raise InputError(f"the store's orders carry pv and bv only; the plan also reads {', '.join(extra)}")
    with store._lock:
        members = store._db.sql("SELECT member_id, sponsor_id, placement_id, leg, status FROM members "
                                "ORDER BY batch_id, rowid").to_arrow_table()
        if members.num_rows == 0:
            raise InputError("the store has no members: migrate the legacy exports first")
        volumes = {p: store._db.sql("SELECT member_id, pv, COALESCE(bv, 0) AS bv FROM orders WHERE period = ?",
                                    params=[p]).to_arrow_table() for p in periods}
        state = _state(store, plan, periods[0])
    return StoreInputs(Genealogy.from_arrow(members), periods, volumes, state)


def _state(store: Store, plan: Plan, first: str) -> pa.Table:
    """Latest carries and highest achieved rank before ``first``, one row per member."""
    ranks = pa.table({"name": pa.array(plan.rank_names), "k": pa.array(range(len(plan.rank_names)), pa.int64())})
    db = store._db
    with registered(db, "_mlm_ranks", ranks):
        out = db.sql("""
            SELECT m.member_id, arg_max(r.name, r.k) AS highest_rank
            FROM members m LEFT JOIN rank_history h ON h.member_id = m.member_id AND h.period < ?
                 LEFT JOIN _mlm_ranks r ON r.name = h.achieved_rank
            GROUP BY m.member_id ORDER BY m.member_id""", params=[first]).to_arrow_table()
    for bonus in (b.name for b in plan.bonuses if b.type == "binary"):
        carries = db.sql("""
            SELECT m.member_id, COALESCE(c.left_carry, 0) AS l, COALESCE(c.right_carry, 0) AS r
            FROM members m LEFT JOIN (
                -- One snapshot: the latest carry-forward period before the first (a member it does not
                -- list has no carry, whatever an older snapshot said).
                SELECT member_id, left_carry, right_carry FROM carry_forward
                WHERE bonus = ? AND period = (SELECT max(period) FROM carry_forward WHERE bonus = ? AND period < ?)
            ) c USING (member_id)
            ORDER BY m.member_id""", params=[bonus, bonus, first]).to_arrow_table()
        out = out.append_column(f"{bonus}.carry_left", carries.column("l")).append_column(
            f"{bonus}.carry_right", carries.column("r"))
    return out


def record_period(store: Store, plan: Plan, result: PeriodResult, *, run_id: str, posted: bool = False) -> None:
    """Writes the period's lines, summary and ranks under ``run_id`` in one transaction; a run id and
    period already recorded is refused."""
    if not isinstance(run_id, str) or not run_id:
        raise InputError("run_id must be a non-empty str")
    plain = pa.schema([("period", pa.string()), ("member_id", pa.string()), ("bonus", pa.string()),
                       ("amount", pa.int64())])
    lines = result.lines.select(plain.names).cast(plain)
    ranks = result.ranks.cast(pa.schema([("member_id", pa.string()), ("paid_as_rank", pa.string()),
                                         ("highest_rank", pa.string())]))
    total = result.summary.filter(pc.equal(result.summary.column("bonus"), "total")).column("paid")[0].as_py()
    with store._lock:
        db = store._db
        db.execute(SCHEMA)
        if store._rows("SELECT 1 FROM commission_runs WHERE run_id = ? AND period = ?", [run_id, result.period]):
            raise InputError(f"run {run_id!r} already recorded period {result.period}; use a new run_id")
        with store._transaction():
            with registered(db, "_mlm_lines", lines):
                db.execute("INSERT INTO commission_lines SELECT ?, period, member_id, bonus, amount FROM _mlm_lines",
                           [run_id])
            with registered(db, "_mlm_summary", result.summary):
                db.execute("INSERT INTO period_summaries SELECT ?, period, bonus, paid, breakage, total_bv, "
                           "payout_ratio_bp FROM _mlm_summary", [run_id])
            with registered(db, "_mlm_ranks", ranks):
                db.execute("INSERT INTO period_ranks SELECT ?, ?, member_id, paid_as_rank, highest_rank "
                           "FROM _mlm_ranks", [run_id, result.period])
            db.execute("INSERT INTO commission_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [run_id, result.period, plan.name, plan.source, lines.num_rows, total, posted,
                        time.time_ns() // 1000])


def run_periods(store: Store, plan: Plan, *, periods: Iterable[str] | None = None, run_id: str,
                post: bool = False, created_at: int | None = None, clawbacks: str = "refuse") -> list[PeriodResult]:
    """Runs ``periods`` (default: every period of the orders after the carry-forward cutover) in order,
    records each (:func:`record_period`) and, with ``post``, credits its lines to the wallets
    (``Store.post_run`` with run id ``{run_id}/{period}``, ``created_at`` in UTC µs, default now).

    A negative line (a clawback of returned volume) that would take a wallet below zero is refused with
    LedgerError (``clawbacks="refuse"``), or, with ``clawbacks="allow_negative"``, that wallet is set to
    allow a negative balance first (a receivable the member owes; recorded in ``wallets``)."""
    if clawbacks not in ("refuse", "allow_negative"):
        raise InputError(f"clawbacks must be 'refuse' or 'allow_negative', not {clawbacks!r}")
    if periods is None:
        cut = cutover(store)
        periods = [p for p in order_periods(store) if cut is None or p > cut]
        if not periods:
            raise InputError("no period to run: the store has no orders after the carry-forward cutover")
    inputs = store_inputs(store, plan, periods)
    results = []
    state: Any = inputs.state
    for period in inputs.periods:
        result = run_period(plan, inputs.genealogy, inputs.volumes[period], period=period, state=state)
        if post and clawbacks == "allow_negative":
            negative = result.lines.filter(pc.less(result.lines.column("amount"), 0))
            for member in sorted(set(negative.column("member_id").cast(pa.string()).to_pylist())):
                store.set_wallet(member, allow_negative=True)
        if post:
            store.post_run(result, run_id=f"{run_id}/{period}", currency=plan.currency,
                           created_at=created_at if created_at is not None else time.time_ns() // 1000)
        record_period(store, plan, result, run_id=run_id, posted=post)
        results.append(result)
        state = result.state
    return results
