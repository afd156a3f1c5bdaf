"""The parallel run: the engine computes the periods the legacy system already paid, starting from the
legacy's migrated carry-forward balances and rank history, and every payout is reconciled against the
legacy's to the minor unit (:func:`mlm_core.reconcile`).

* :func:`parallel_run` — over Arrow tables; :meth:`ParallelRun.from_store` — over a migrated store
  (members, orders, ``commission_history``, ``commission_detail``, ``carry_forward``, ``rank_history``).
* :meth:`ParallelRun.diagnose` — names the likely causes of systematic differences by re-running the periods
  with candidate plan changes (another rounding mode, compression switched, depth by rank or the binary cap
  not applied, …) and counting the differing pairs each one fixes and the matching pairs it breaks; the
  best change is taken and the search goes on from there, so two quirks at once are both found. What no
  candidate explains is listed as isolated differences: lines to check by hand.
* :meth:`ParallelRun.drill_down` — one member's contributions as the engine computed them
  (:meth:`PeriodResult.explain`) beside the legacy's detail lines, field by field.

Periods run in order; each starts from the previous one's state (the first from ``state``), so a
carry-forward mapped wrongly shows up as binary differences from the first period on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow
from .engine import PeriodResult, run_period
from .errors import InputError
from .genealogy import Genealogy
from .plan import ROUNDING, Plan
from .reconciliation import Reconciliation, reconcile
from .store import registered

if TYPE_CHECKING:
    from .store import Store

CANDIDATE_SCHEMA = pa.schema([
    ("step", pa.int64()), ("change", pa.string()), ("fixes", pa.int64()), ("breaks", pa.int64()),
    ("differing_after", pa.int64()), ("taken", pa.bool_()),
])
DRILL_SCHEMA = pa.schema([
    ("bonus", pa.string()), ("from_member_id", pa.string()), ("status", pa.string()), ("differs_in", pa.string()),
    ("our_level", pa.int64()), ("legacy_level", pa.int64()), ("our_paid_level", pa.int64()),
    ("legacy_paid_level", pa.int64()), ("our_base", pa.int64()), ("legacy_source_amount", pa.int64()),
    ("our_rate_bp", pa.int64()), ("legacy_rate_bp", pa.int64()), ("our_share", pa.decimal128(38, 4)),
    ("our_paid", pa.bool_()), ("legacy_amount", pa.int64()), ("detail", pa.string()),
])


@dataclass(frozen=True)
class Candidate:
    """A plan change the diagnosis tries: ``changes`` are :meth:`Plan.variant` keys; ``label`` says what a
    legacy system doing this is doing differently."""

    label: str
    changes: dict[str, Any]


def candidates(plan: Plan) -> list[Candidate]:
    """The plan changes that explain the usual legacy differences, for this plan's settings."""
    out = [Candidate(f"rounding = {mode!r} (the legacy rounds {mode.replace('_', ' ')})", {"plan.rounding": mode})
           for mode in ROUNDING if mode != plan.rounding]
    for bonus in plan.bonuses:
        s, name = bonus.settings, bonus.name
        if bonus.type in ("unilevel", "matching"):
            on = s["compression"]
            out.append(Candidate(f"{name}: compression = {str(not on).lower()} (the legacy "
                                 f"{'does not compress' if on else 'compresses'} inactive uplines)",
                                 {f"{name}.compression": not on}))
            if s["depth_by_rank"]:
                out.append(Candidate(f"{name}: no depth_by_rank (the legacy pays every level whatever the rank)",
                                     {f"{name}.depth_by_rank": None}))
        elif bonus.type == "binary":
            if s["cap_by_rank"]:
                out.append(Candidate(f"{name}: no cap_by_rank (the legacy pays binary without the rank cap)",
                                     {f"{name}.cap_by_rank": None}))
            if s["carry_cap"]:
                out.append(Candidate(f"{name}: carry_cap = 0 (the legacy does not cap carries)",
                                     {f"{name}.carry_cap": 0}))
            out.append(Candidate(f"{name}: requires_sponsored_legs = {str(not s['requires_sponsored_legs']).lower()}",
                                 {f"{name}.requires_sponsored_legs": not s["requires_sponsored_legs"]}))
            flip = "carry" if s["unqualified"] == "flush" else "flush"
            out.append(Candidate(f"{name}: unqualified = {flip!r}", {f"{name}.unqualified": flip}))
    if plan.activity_min_pv:
        out.append(Candidate("activity.min_pv = 0 (the legacy counts every active-status member as active)",
                             {"activity.min_pv": 0}))
    return out


@dataclass(frozen=True)
class Diagnosis:
    """``taken``: the changes that, one after another, fix the most differences without breaking more than
    they fix; ``tried``: every candidate at every step with its counts; ``isolated``: the differences no
    candidate explains (after the taken changes); ``facts``: plain observations about the differences."""

    taken: list[Candidate]
    tried: pa.Table
    isolated: pa.Table
    facts: list[str]
    differing: int

    def summary(self) -> list[str]:
        """The diagnosis in sentences, most important first."""
        out = []
        fixed = self.tried.filter(pc.field("taken"))
        for candidate, fixes, breaks in zip(self.taken, fixed.column("fixes").to_pylist(),
                                            fixed.column("breaks").to_pylist(), strict=True):
            out.append(f"likely cause: {candidate.label} — fixes {fixes} of the differing pairs"
                       + (f", breaks {breaks}" if breaks else ""))
        if self.isolated.num_rows:
            out.append(f"{self.isolated.num_rows} isolated difference(s) no plan change explains: check those lines")
        elif self.differing:
            out.append("every difference is explained by the changes above")
        return out + self.facts


@dataclass
class ParallelRun:
    """Our periods beside the legacy's: ``results`` (a :class:`PeriodResult` per period, in order) and
    ``reconciliation`` (every ``(period, member_id, bonus)`` pair, totals and verdicts)."""

    plan: Plan
    genealogy: Genealogy
    periods: tuple[str, ...]
    legacy_lines: pa.Table
    results: dict[str, PeriodResult]
    reconciliation: Reconciliation
    legacy_detail: pa.Table | None = None
    _volumes: dict[str, Any] = field(default_factory=dict, repr=False)
    _state: Any = field(default=None, repr=False)
    _attributes: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def go_live(self) -> bool:
        return self.reconciliation.go_live

    @classmethod
    def from_store(cls, store: Store, plan: Plan, *, periods: Iterable[str] | None = None) -> ParallelRun:
        """A parallel run over a migrated store. ``periods``: by default every period of
        ``commission_history`` after the last period of ``carry_forward`` (the cutover). The first period
        starts from each member's latest ``carry_forward`` row before it and the highest
        ``achieved_rank`` of ``rank_history`` before it."""
        from .runs import cutover, known_periods, store_inputs

        with store._lock:
            if periods is None:
                # After the cutover, up to the legacy's last paid period; a period between them without
                # legacy lines is compared too (every line of ours is then a difference).
                cut = cutover(store)
                last = store._rows("SELECT max(period) FROM commission_history")[0][0]
                periods = [p for p in known_periods(store) if (cut is None or p > cut) and last is not None
                           and p <= last]
            periods = tuple(periods)
            if not periods:
                raise InputError("no period to compare: commission_history has none after the carry-forward cutover")
            inputs = store_inputs(store, plan, periods)  # checks the periods
            chosen = pa.array(periods, pa.string())
            with registered(store._db, "_mlm_periods", pa.table({"period": chosen})):
                history = store._db.sql("SELECT period, member_id, bonus, amount, currency FROM commission_history "
                                        "WHERE period IN (SELECT period FROM _mlm_periods)").to_arrow_table()
                detail = store._db.sql("SELECT period, member_id, bonus, from_member_id, level, paid_level, "
                                       "source_amount, rate_bp, amount, currency FROM commission_detail "
                                       "WHERE period IN (SELECT period FROM _mlm_periods)").to_arrow_table()
            for name, table in (("commission_history", history), ("commission_detail", detail)):
                wrong = sorted(set(pc.unique(table.column("currency")).to_pylist()) - {plan.currency})
                if wrong:
                    raise InputError(f"{name} holds {', '.join(map(str, wrong))} lines in the compared periods; the "
                                     f"plan pays {plan.currency}: reconcile one currency at a time")
        legacy = history.select(["period", "member_id", "bonus", "amount"])
        return parallel_run(plan, inputs.genealogy, inputs.volumes, legacy, periods=periods, state=inputs.state,
                            legacy_detail=detail.drop(["currency"]) if detail.num_rows else None)

    def diagnose(self, *, max_changes: int = 3, candidates_: list[Candidate] | None = None) -> Diagnosis:
        """Tries every candidate plan change (see :func:`candidates`) and takes the one that fixes the most
        differing pairs, if it fixes more than it breaks; then tries the rest on top of it, up to
        ``max_changes`` times."""
        pool = list(candidates_ if candidates_ is not None else candidates(self.plan))
        differing = _differing(self.reconciliation)
        start = differing.num_rows
        taken: list[Candidate] = []
        applied: dict[str, Any] = {}
        tried: list[dict[str, Any]] = []
        best_rec = self.reconciliation
        for step in range(1, max_changes + 1):
            if not differing.num_rows:
                break
            scored = []
            for candidate in pool:
                rec = self._rerun(self.plan.variant({**applied, **candidate.changes}))
                after = _differing(rec)
                fixes, breaks = _changes(differing, after)
                scored.append((fixes, breaks, after.num_rows, candidate, rec, after))
            if not scored:
                break
            best = max(scored, key=lambda s: (s[0] - s[1], s[0]))
            for fixes, breaks, left, candidate, _, _ in scored:
                tried.append({"step": step, "change": candidate.label, "fixes": fixes, "breaks": breaks,
                              "differing_after": left, "taken": candidate is best[3] and fixes > breaks})
            if best[0] <= best[1]:
                break
            taken.append(best[3])
            applied.update(best[3].changes)
            pool.remove(best[3])
            best_rec, differing = best[4], best[5]
        isolated = best_rec.differences()
        return Diagnosis(taken, pa.Table.from_pylist(tried, schema=CANDIDATE_SCHEMA), isolated,
                         _facts(self.reconciliation, self.results), start)

    def to_store(self, store: Store, *, run_id: str, diagnosis: Diagnosis | None = None) -> None:
        """The reconciliation (and the diagnosis's candidates) in the store's ``reconciliation_*`` tables."""
        self.reconciliation.to_store(store, run_id=run_id, diagnosis=diagnosis.tried if diagnosis else None,
                                     notes=diagnosis.summary() if diagnosis else None)

    def html(self, diagnosis: Diagnosis | None = None) -> str:
        """The report's parallel-run section (:func:`mlm_core.report_html.reconciliation_section`)."""
        from .report_html import reconciliation_section

        return reconciliation_section(self.reconciliation, diagnosis.summary() if diagnosis else None,
                                      diagnosis.tried if diagnosis else None, currency=self.plan.currency)

    def _rerun(self, plan: Plan) -> Reconciliation:
        state = self._state
        lines = []
        for p in self.periods:
            result = run_period(plan, self.genealogy, self._volumes[p], period=p, state=state,
                                attributes=self._attributes.get(p))
            lines.append(result.lines)
            state = result.state
        return reconcile(self.legacy_lines, _concat_lines(lines))

    def drill_down(self, member_id: str, period: str | None = None) -> pa.Table:
        """``member_id``'s contributions in ``period`` (default: the first period where it differs, else the
        first): one row per bonus and from-member, ours beside the legacy detail line. ``status``: ``same``,
        ``differs`` (``differs_in`` names the fields), ``only_ours`` (we paid a share the legacy did not),
        ``only_legacy`` (the legacy paid a share we did not) or ``not_paid`` (breakage on both sides)."""
        if period is None:
            rec = self.reconciliation.differences()
            hit = rec.filter(pc.equal(rec.column("member_id"), str(member_id)))
            period = min(hit.column("period").to_pylist()) if hit.num_rows else self.periods[0]
        if period not in self.results:
            raise InputError(f"period {period!r} is not part of this parallel run ({', '.join(self.periods)})")
        ours = self.results[period].explain(member_id).to_pylist()
        theirs: list[dict[str, Any]] = []
        if self.legacy_detail is not None:
            d = self.legacy_detail
            mask = pc.and_(pc.equal(d.column("period").cast(pa.string()), period),
                           pc.equal(d.column("member_id").cast(pa.string()), str(member_id)))
            theirs = d.filter(mask).to_pylist()
        # One legacy line per (bonus, from-member): a legacy that exports a line per order is summed first.
        legacy_by_key: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for line in theirs:
            key = (line["bonus"], line["from_member_id"] if line["bonus"] in _level_bonuses(self.plan) else None)
            if key in legacy_by_key:
                first = legacy_by_key[key][0]
                for field_name in ("source_amount", "amount"):
                    if line[field_name] is not None:
                        first[field_name] = (first[field_name] or 0) + line[field_name]
            else:
                legacy_by_key[key] = [dict(line)]
        rows = []
        for share in ours:
            level_bonus = share["bonus"] in _level_bonuses(self.plan)
            key = (share["bonus"], share["from_member_id"] if level_bonus else None)
            match = legacy_by_key.get(key, [])
            rows.append(_drill_row(share, match.pop(0) if match else None, level_bonus))
        for lines in legacy_by_key.values():
            for rest in lines:
                rows.append(_drill_row(None, rest, rest["bonus"] in _level_bonuses(self.plan)))
        return pa.Table.from_pylist(rows, schema=DRILL_SCHEMA)


def _level_bonuses(plan: Plan) -> set[str]:
    return {b.name for b in plan.bonuses if b.type in ("unilevel", "matching", "differential")}


def _drill_row(ours: dict[str, Any] | None, legacy: dict[str, Any] | None, level_bonus: bool) -> dict[str, Any]:
    either = ours if ours is not None else legacy
    assert either is not None
    row: dict[str, Any] = {"bonus": either["bonus"], "differs_in": None, "detail": None}
    if ours is not None:
        row.update(from_member_id=ours["from_member_id"] if level_bonus else None, our_level=ours["level"],
                   our_paid_level=ours["paid_level"], our_base=ours["base"], our_rate_bp=ours["rate_bp"],
                   our_share=ours["amount"], our_paid=ours["paid"], detail=ours["detail"])
    if legacy is not None:
        row.update(from_member_id=legacy["from_member_id"], legacy_level=legacy["level"],
                   legacy_paid_level=legacy["paid_level"], legacy_source_amount=legacy["source_amount"],
                   legacy_rate_bp=legacy["rate_bp"], legacy_amount=legacy["amount"])
    paid = ours is not None and ours["paid"]
    if legacy is None:
        row["status"] = "only_ours" if paid else "not_paid"
    elif not paid:
        row["status"] = "only_legacy"
    else:
        assert ours is not None
        pairs: list[tuple[str, Any, Any]]
        if level_bonus:
            pairs = [("level", ours["level"], legacy["level"]),
                     ("paid_level", ours["paid_level"], legacy["paid_level"]),
                     ("base", ours["base"], legacy["source_amount"]), ("rate_bp", ours["rate_bp"], legacy["rate_bp"])]
        else:
            pairs = [("amount", Decimal(ours["amount"]), Decimal(legacy["amount"]))]
        wrong = [name for name, a, b in pairs if b is not None and a != b]
        row["status"] = "differs" if wrong else "same"
        row["differs_in"] = ", ".join(wrong) or None
    return row


def _differing(rec: Reconciliation) -> pa.Table:
    """The keys of the pairs that do not match, as lines of amount 1 (for :func:`_changes`)."""
    bad = rec.pairs.filter(pc.not_equal(rec.pairs.column("status"), "match")).select(["period", "member_id", "bonus"])
    return bad.append_column("amount", pa.array(np.ones(bad.num_rows, dtype=np.int64)))


def _changes(before: pa.Table, after: pa.Table) -> tuple[int, int]:
    """``(fixed, broken)``: keys differing before and not after, and the reverse — the reconciliation kernel
    itself compares the two key sets (millions of keys at 10M members)."""
    status = reconcile(before, after).pairs.column("status")
    counts = dict(zip(*(c.to_pylist() for c in pc.value_counts(status).flatten()), strict=True))
    return counts.get("only_legacy", 0), counts.get("only_ours", 0)


def _facts(rec: Reconciliation, results: dict[str, PeriodResult]) -> list[str]:
    """Plain observations about the differences: their size, bonuses and periods."""
    diff = rec.differences()
    if diff.num_rows == 0:
        return []
    out = []
    both = diff.filter(pc.equal(diff.column("status"), "amount_differs"))
    small = pc.sum(pc.less_equal(pc.abs(both.column("difference")), 1), min_count=0).as_py() or 0
    if small and small * 2 >= diff.num_rows:
        share = "all" if small == diff.num_rows else f"{small} of the {diff.num_rows}"
        out.append(f"{share} differences are within one minor unit: the two sides likely round differently")
    bonuses = sorted(set(diff.column("bonus").to_pylist()))
    if len(bonuses) == 1:
        out.append(f"only {bonuses[0]} lines differ")
    periods = sorted(set(diff.column("period").to_pylist()))
    if len(periods) < len(results):
        out.append(f"only period(s) {', '.join(periods)} differ")
    kinds = {k: v for k, v in zip(*pc.value_counts(diff.column("status")).flatten(), strict=True)}
    out.append("differing pairs: " + ", ".join(f"{k.as_py()} {v.as_py()}" for k, v in kinds.items()))
    return out


def _concat_lines(lines: list[pa.Table]) -> pa.Table:
    """Our lines of several periods as one table of plain columns (their dictionaries differ)."""
    return pa.concat_tables([t.select(["period", "member_id", "bonus", "amount"]).cast(pa.schema([
        ("period", pa.string()), ("member_id", pa.string()), ("bonus", pa.string()), ("amount", pa.int64())]))
        for t in lines])


def parallel_run(plan: Plan, genealogy: Genealogy, volumes: Any, legacy_lines: Any, *,
                 periods: Iterable[str] | None = None, state: Any = None, attributes: dict[str, Any] | None = None,
                 legacy_detail: Any = None) -> ParallelRun:
    """Runs ``periods`` (default: every period of ``legacy_lines``, in order) from ``state`` and reconciles
    our lines against ``legacy_lines`` ``(period, member_id, bonus, amount)``.

    ``volumes``: a dict period → volume rows, or one table with a ``period`` column; ``attributes``: a
    dict period → attributes (plan v2); ``legacy_detail``: the legacy's detail lines ``(period, member_id,
    bonus, from_member_id, level, paid_level, source_amount, rate_bp, amount)`` for :meth:`drill_down`.
    """
    legacy = _arrow.as_table(legacy_lines, "legacy lines")
    if "period" not in legacy.column_names:
        raise InputError("legacy lines have no column 'period'", column="period")
    if periods is None:
        periods = sorted(set(legacy.column("period").cast(pa.string()).to_pylist()))
    periods = tuple(periods)
    if not periods:
        raise InputError("no period to compare")
    if isinstance(volumes, dict):
        by_period = dict(volumes)
        missing = [p for p in periods if p not in by_period]
        if missing:
            raise InputError(f"no volumes for period(s) {', '.join(missing)}")
    else:
        table = _arrow.as_table(volumes, "volumes")
        if "period" not in table.column_names:
            raise InputError("volumes of several periods need a period column (or pass a dict period -> rows)",
                             column="period")
        keys = table.column("period").cast(pa.string())
        by_period = {p: table.filter(pc.equal(keys, p)) for p in periods}
    # Only the compared periods' legacy lines: a line of another period is neither ours nor missing.
    legacy = legacy.filter(pc.is_in(legacy.column("period").cast(pa.string()), value_set=pa.array(periods)))
    results: dict[str, PeriodResult] = {}
    current = state
    for p in periods:
        results[p] = run_period(plan, genealogy, by_period[p], period=p, state=current,
                                attributes=(attributes or {}).get(p))
        current = results[p].state
    rec = reconcile(legacy, _concat_lines([r.lines for r in results.values()]))
    detail = _arrow.as_table(legacy_detail, "legacy detail") if legacy_detail is not None else None
    return ParallelRun(plan, genealogy, periods, legacy, results, rec, detail, by_period, state, attributes or {})
