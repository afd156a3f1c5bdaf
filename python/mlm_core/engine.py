"""One commission period: ``run_period(plan, genealogy, volumes, period=…, state=…)`` → :class:`PeriodResult`.

Python only moves columns: volume rows are matched to members and summed, the previous state is laid out
by member row, and the Rust engine computes ranks and every bonus in one call without the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow, _mlm_core
from .errors import AmountOverflowError, InputError
from .genealogy import Genealogy
from .plan import Plan

CARRY_LEFT, CARRY_RIGHT = "carry_left", "carry_right"


def _carry_columns(bonus: str) -> tuple[str, str]:
    return f"{bonus}.{CARRY_LEFT}", f"{bonus}.{CARRY_RIGHT}"


@dataclass(frozen=True)
class PeriodResult:
    """The outcome of one period.

    ``lines``: ``(period, member_id, bonus, amount)``, non-zero amounts only, by member row then bonus;
    the first three are dictionary-encoded (they read as plain values: ``to_pylist()``, DuckDB, pandas).
    ``ranks``: ``(member_id, paid_as_rank, highest_rank)`` for every member.
    ``state``: what the next period needs — ``member_id``, ``highest_rank`` and per binary bonus
    ``<bonus>.carry_left`` / ``<bonus>.carry_right``, one row per member in member-row order (a state
    given back for the same genealogy is then matched to members without any id lookup).
    ``summary``: per bonus ``paid`` and ``breakage`` (minor units), with ``total_bv`` and ``payout_ratio_bp``
    (paid ÷ total BV in basis points, rounded down), and a ``total`` row.
    """

    period: str
    lines: pa.Table
    ranks: pa.Table
    state: pa.Table
    summary: pa.Table
    _genealogy: Genealogy = field(repr=False)
    _plan: Plan = field(repr=False)
    _columns: list[pa.Array] = field(repr=False)
    _raw: dict[str, Any] = field(repr=False)
    _carries_in: dict[str, tuple[Any, Any]] = field(repr=False, default_factory=dict)

    def explain(self, member_id: Any) -> pa.Table:
        """The contributions behind each of ``member_id``'s lines (see :func:`mlm_core.explain.explain`)."""
        from .explain import explain

        return explain(self, member_id)


def _volume_sums(plan: Plan, genealogy: Genealogy, volumes: Any, period: str) -> list[pa.Array]:
    table = _arrow.as_table(volumes, "volumes")
    missing = [c for c in ("member_id", *plan.volume_columns) if c not in table.column_names]
    if missing:
        raise InputError(f"volumes lack column(s) {', '.join(missing)}; they have {', '.join(table.column_names)}",
                         column=missing[0])
    # Nothing is ignored: a column the plan does not use is a mistake the caller should see.
    undeclared = [c for c in table.column_names if c not in ("member_id", "period", *plan.volume_columns)]
    if undeclared:
        raise InputError(
            f"volume column(s) {', '.join(undeclared)} are not used by the plan (it reads member_id, "
            f"{', '.join(plan.volume_columns)} and an optional period); select those columns",
            column=undeclared[0],
        )
    if "period" in table.column_names:
        periods = table.column("period")
        other = pc.invert(pc.fill_null(pc.equal(periods.cast(pa.string()), period), False))
        if pc.any(other).as_py():
            flags = _arrow.as_array(other, "period").to_numpy(zero_copy_only=False)
            rows = [int(i) for i in np.flatnonzero(flags)[:10]]
            raise InputError(
                f"{pc.sum(other).as_py()} volume row(s) are not of period {period!r} (first at rows {rows}): "
                f"pass one period's rows",
                column="period", rows=rows,
            )
    ids = _arrow.column(table, "member_id")
    if ids.null_count:
        rows = _arrow.null_rows(ids)
        raise InputError(f"volumes have {ids.null_count} row(s) without member_id, first at rows {rows}",
                         column="member_id", rows=rows)
    values = [_arrow.int64_array(_arrow.column(table, c), f"volumes.{c}", allow_bool=False)
              for c in plan.volume_columns]
    return genealogy._sum_by_member(ids, values, "volume member_id")


@dataclass
class _State:
    """A state laid out by member row: highest rank index, carries of this plan's binary bonuses, and the
    carry columns of bonuses the plan no longer has (passed on unchanged)."""

    highest: np.ndarray
    carries: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    foreign: dict[str, np.ndarray] = field(default_factory=dict)


def _state_arrays(plan: Plan, genealogy: Genealogy, state: Any) -> _State:
    """The previous state by member row (a member absent from it: Member, no carries)."""
    n = len(genealogy)
    highest = np.zeros(n, dtype=np.int16)
    out = _State(highest)
    if state is None:
        return out
    table = _arrow.as_table(state, "state")
    if "member_id" not in table.column_names:
        raise InputError("state lacks column member_id", column="member_id")
    rows = _member_rows(genealogy, _arrow.column(table, "member_id"), "state")
    if "highest_rank" in table.column_names:
        # A null highest rank is a member without rank history (common in migrated states): Member.
        names = _arrow.column(table, "highest_rank")
        # A name the plan does not define counts as Member (plan v2, "Rank overrides and assigned ranks").
        known = pa.array(plan.rank_names)
        if pa.types.is_dictionary(names.type):
            # Look up the few dictionary words, then spread them: no string per member.
            words = pc.index_in(names.dictionary.cast(pa.string()), value_set=known).fill_null(0)
            index = words.take(names.indices).fill_null(0)
        else:
            index = pc.index_in(names.cast(pa.string()), value_set=known).fill_null(0)
        highest[rows] = index.to_numpy(zero_copy_only=False).astype(np.int16)
    binaries = {b.name for b in plan.bonuses if b.type == "binary"}
    for name in table.column_names:
        if not name.endswith((f".{CARRY_LEFT}", f".{CARRY_RIGHT}")):
            continue
        bonus_name = name.rsplit(".", 1)[0]
        twin = f"{bonus_name}.{CARRY_RIGHT}" if name.endswith(CARRY_LEFT) else f"{bonus_name}.{CARRY_LEFT}"
        if twin not in table.column_names:
            raise InputError(f"state has {name} but not {twin}: carries come in pairs", column=name)
        column = _arrow.int64_array(_arrow.column(table, name), f"state.{name}", allow_bool=False)
        if column.null_count:
            raise InputError(f"state.{name} has {column.null_count} null(s), first at rows "
                             f"{_arrow.null_rows(column)}: write 0 for no carry", column=name)
        values = np.zeros(n, dtype=np.int64)
        values[rows] = column.to_numpy()
        out.foreign[name] = values
    for bonus in binaries:
        left_name, right_name = _carry_columns(bonus)
        if left_name in out.foreign or right_name in out.foreign:
            zeros = np.zeros(n, dtype=np.int64)
            left, right = out.foreign.pop(left_name, zeros), out.foreign.pop(right_name, zeros)
            out.carries[bonus] = (pa.array(left), pa.array(right))
    return out


def _member_rows(genealogy: Genealogy, ids: pa.Array, what: str) -> Any:
    """The member row of each row of a per-member table (state, attributes): a slice when the table lists
    every member in member order (our own state: no lookup), else row numbers. Null ids, ids that are no
    member and members listed twice are InputErrors."""
    if ids.type == genealogy.member_ids.type and ids.equals(genealogy.member_ids):
        return slice(None)
    if ids.null_count:
        rows = _arrow.null_rows(ids)
        raise InputError(f"{what} has {ids.null_count} row(s) without member_id, first at rows {rows}",
                         column="member_id", rows=rows)
    found = genealogy._rows_of(ids, f"{what} member_id").to_numpy(zero_copy_only=False).astype(np.int64)
    repeated = _repeated(found, len(genealogy))
    if repeated:
        raise InputError(f"{what} lists {len(repeated)} member(s) twice, first at rows {repeated[:10]}",
                         column="member_id", rows=repeated[:10])
    return found


def _repeated(rows: np.ndarray, members: int) -> list[int]:
    """Input rows whose member appeared on an earlier row (a counting pass: O(rows + members))."""
    counts = np.bincount(rows, minlength=members)
    if len(rows) == 0 or counts.max() <= 1:
        return []
    seen = np.zeros(members, dtype=bool)
    repeated = []
    for i, r in enumerate(rows.tolist()):
        if seen[r]:
            repeated.append(i)
        seen[r] = True
    return repeated


def _attributes(plan: Plan, genealogy: Genealogy, attributes: Any) -> tuple[pa.Array, Any, Any]:
    """This period's ``status`` (replacing the genealogy's where not null), ``tier`` and ``rank_override``
    per member row (plan v2, "Member attributes of a period"); -1 means none."""
    active = genealogy._status_active()
    if attributes is None:
        return active, None, None
    table = _arrow.as_table(attributes, "attributes")
    unknown = [c for c in table.column_names if c not in ("member_id", "status", "tier", "rank_override")]
    if unknown or "member_id" not in table.column_names:
        raise InputError(f"attributes take member_id, status, tier, rank_override; got {', '.join(table.column_names)}",
                         column=(unknown or ["member_id"])[0])
    n = len(genealogy)
    rows = _member_rows(genealogy, _arrow.column(table, "member_id"), "attributes")

    def indices(column: str, names: tuple[str, ...], what: str) -> Any:
        if column not in table.column_names:
            return None
        values = _arrow.column(table, column).cast(pa.string())
        index = pc.index_in(values, value_set=pa.array(names, pa.string()))
        bad = pc.and_(pc.is_valid(values), pc.is_null(index))
        if pc.any(bad).as_py():
            wrong = sorted(set(values.filter(bad).to_pylist()))
            raise InputError(f"attributes.{column}: {', '.join(map(repr, wrong))} name no {what} of the plan",
                             column=column)
        out = np.full(n, -1, dtype=np.int16)
        out[rows] = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
        return pa.array(out)

    if "status" in table.column_names:
        status = _arrow.column(table, "status").cast(pa.string())
        flags = np.asarray(active.to_numpy(zero_copy_only=False)).copy()
        given = np.asarray(status.is_valid().to_numpy(zero_copy_only=False))
        is_active = np.asarray(pc.fill_null(pc.equal(status, "active"), False).to_numpy(zero_copy_only=False))
        target = np.arange(n)[rows] if isinstance(rows, slice) else rows
        flags[target[given]] = is_active[given]
        active = pa.array(flags)
    return active, indices("tier", plan.tiers, "tier"), indices("rank_override", plan.rank_names, "rank")


def run_period(
    plan: Plan, genealogy: Genealogy, volumes: Any, *, period: str, state: Any = None, attributes: Any = None
) -> PeriodResult:
    """Computes one period of ``plan``: ranks, every bonus, next state, summary.

    ``volumes``: Arrow table ``(member_id, pv, bv)`` (int64; several rows per member; negative rows are
    returns). Unknown member ids, missing or non-integer columns raise :class:`InputError` listing them.
    ``state``: the previous period's :attr:`PeriodResult.state` (or a migrated one), or None.
    ``attributes``: ``(member_id, status, tier, rank_override)`` for this period, every column but
    ``member_id`` optional and nullable (plan v2); unknown ids, tiers and rank names raise InputError.
    """
    columns = _volume_sums(plan, genealogy, volumes, period)
    status_active, tier, rank_override = _attributes(plan, genealogy, attributes)
    previous = _state_arrays(plan, genealogy, state)
    return _computed(plan, genealogy, period, columns, status_active, tier, rank_override, previous)


def _computed(plan: Plan, genealogy: Genealogy, period: str, columns: list[pa.Array], status_active: pa.Array,
              tier: Any, rank_override: Any, previous: _State) -> PeriodResult:
    """``run_period`` once its inputs are laid out by member row (the live projection starts here)."""
    columns = list(columns)
    while plan._compiled["columns"] > len(columns):
        columns.append(pa.array(np.zeros(len(genealogy), dtype=np.int64)))
    carry_args = [previous.carries.get(b.name) if b.type == "binary" else None for b in plan.bonuses]
    raw = _mlm_core.run_period(
        genealogy._core, plan._core, columns, status_active, pa.array(previous.highest), carry_args,
        rank_override, tier,
    )
    return _result(plan, genealogy, period, columns, raw, previous)


def _rank_column(indices: pa.Array, names: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(indices.cast(pa.int16()), pa.array(names, pa.string()))


def _result(
    plan: Plan, genealogy: Genealogy, period: str, columns: list[pa.Array], raw: dict[str, Any], previous: _State
) -> PeriodResult:
    ids = genealogy.member_ids
    bonus_names = pa.array(plan.bonus_names, pa.string())
    line_rows = raw["line_row"]
    lines = pa.table({
        # Dictionary-encoded: the lines point into the member ids, bonus names and period instead of copying
        # a string per line (tens of millions of lines in a 10M-member v2 period).
        "period": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(line_rows), dtype=np.int8)),
                                                 pa.array([period], pa.string())),
        "member_id": pa.DictionaryArray.from_arrays(
            line_rows.cast(pa.int32() if len(ids) < 2**31 else pa.int64()), ids),
        "bonus": pa.DictionaryArray.from_arrays(raw["line_bonus"].cast(pa.int16()), bonus_names),
        "amount": raw["line_amount"],
    })
    ranks = pa.table({
        "member_id": ids,
        "paid_as_rank": _rank_column(raw["paid_as"], plan.rank_names),
        "highest_rank": _rank_column(raw["highest"], plan.rank_names),
    })
    summary = _summary(plan, period, columns, raw)
    return PeriodResult(period, lines, ranks, _next_state(plan, genealogy, raw, previous), summary,
                        genealogy, plan, columns, raw, previous.carries)


def _next_state(plan: Plan, genealogy: Genealogy, raw: dict[str, Any], previous: _State) -> pa.Table:
    """Every member's highest rank and carries, by member row; the carries of bonuses the plan no longer
    has go on unchanged (plan v2, "Binary, additions"). Columns are the kernel's arrays, not copies."""
    data: dict[str, Any] = {
        "member_id": genealogy.member_ids,
        "highest_rank": _rank_column(raw["highest"], plan.rank_names),
    }
    for bonus, out in zip(plan.bonuses, raw["bonuses"], strict=True):
        if "carry" in out:
            data.update(dict(zip(_carry_columns(bonus.name), out["carry"], strict=True)))
    for name, values in previous.foreign.items():
        data[name] = pa.array(values)
    return pa.table(data)


INT64_MAX = 2**63 - 1


def _checked(value: int, what: str) -> int:
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise AmountOverflowError(f"{what} is {value}, outside int64")
    return value


def _summary(plan: Plan, period: str, columns: list[pa.Array], raw: dict[str, Any]) -> pa.Table:
    """Totals come from the kernel as exact integers (i128): a total outside int64 is an error, never a
    wrapped number."""
    total_bv = _checked(raw["column_totals"][plan.volume_columns.index("bv")], "total BV")
    names, paid, breakage = [], [], []
    for bonus, out in zip(plan.bonuses, raw["bonuses"], strict=True):
        names.append(bonus.name)
        paid.append(_checked(out["paid_total"], f"total paid by {bonus.name}"))
        breakage.append(_checked(out["breakage"] // 10_000, f"breakage of {bonus.name}"))  # floored
    names.append("total")
    paid.append(_checked(sum(paid), "total paid"))
    breakage.append(_checked(sum(breakage), "total breakage"))
    ratio = [p * 10_000 // total_bv if total_bv > 0 else None for p in paid]
    return pa.table({
        "period": pa.array([period] * len(names), pa.string()),
        "bonus": pa.array(names, pa.string()),
        "paid": pa.array(paid, pa.int64()),
        "breakage": pa.array(breakage, pa.int64()),
        "total_bv": pa.array([total_bv] * len(names), pa.int64()),
        "payout_ratio_bp": pa.array([_checked(r, "payout ratio") if r is not None else None for r in ratio],
                                    pa.int64()),
    })
