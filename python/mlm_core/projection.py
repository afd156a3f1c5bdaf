"""A live period in memory (issue 11, first step): events are applied as they come, and a snapshot is
exactly ``run_period`` over the genealogy and every event applied so far.

This step holds the event log (idempotent by ``event_id``, a reason for every rejected event), the
period's volumes and attributes, and ``snapshot()`` / ``member()`` computed from them. Not yet here:
``join`` events (they are rejected with a reason saying so), readers concurrent with writers, events
persisted in the store, and incremental figures between snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow
from .engine import PeriodResult, _attributes, run_period
from .errors import InputError
from .genealogy import Genealogy
from .plan import Plan

KINDS = ("order", "return", "join", "status", "tier", "rank_override")
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


@dataclass(frozen=True)
class _Applied:
    """Where an applied event is kept: its batch and row, to compare a repeated event_id's fields."""

    seq: int
    batch: int
    row: int


class Projection:
    """A live period of ``plan`` over ``genealogy``; ``state`` and ``attributes`` as for ``run_period``.

    >>> from mlm_core import Genealogy, Plan, synth
    >>> members = synth.network(200, seed=1)
    >>> live = Projection(Plan.from_toml("[unilevel]\\nrates_bp = [1000]"), Genealogy.from_arrow(members),
    ...                   period="2026-11")
    >>> events = pa.table({"event_id": ["e1", "e2"], "kind": ["order", "order"],
    ...                    "member_id": ["M00000002", "M00000003"], "pv": [5000, 2500], "bv": [4000, 2000]})
    >>> live.apply(events), live.apply(events), live.rejected.num_rows
    (2, 2, 0)
    """

    def __init__(self, plan: Plan, genealogy: Genealogy, *, period: str, state: Any = None,
                 attributes: Any = None) -> None:
        self.plan, self.genealogy, self.period, self.state = plan, genealogy, period, state
        n = len(genealogy)
        self._columns = plan.volume_columns
        self._sums = {c: np.zeros(n, dtype=np.int64) for c in self._columns}
        # Per member, read and checked as run_period reads them: active or not (the genealogy's status
        # where the attributes give none), tier and rank override indices (-1: none).
        active, tier, rank_override = _attributes(plan, genealogy, attributes)
        self._active = np.array(active.to_numpy(zero_copy_only=False), dtype=bool)
        self._tier = np.array(tier.to_numpy(), dtype=np.int16) if tier is not None else np.full(n, -1, np.int16)
        self._rank_override = (np.array(rank_override.to_numpy(), dtype=np.int16) if rank_override is not None
                               else np.full(n, -1, np.int16))
        self._seen: dict[str, _Applied] = {}
        self._batches: list[pa.Table] = []
        self._seq = 0
        self._snapshot: tuple[int, PeriodResult] | None = None
        self.rejected = _rejections([], [], [])

    @property
    def seq(self) -> int:
        """The sequence number of the last applied event (0 before any)."""
        return self._seq

    def apply(self, events: Any) -> int:
        """Applies an Arrow table of events in row order; returns the sequence number of the last applied
        event. A repeated ``event_id`` with the same fields is a no-op; with different fields, and any
        other bad event, it is rejected with a reason (:attr:`rejected`: ``row, event_id, reason``) and the
        rest are applied."""
        table = _arrow.as_table(events, "events")
        for name in ("event_id", "kind", "member_id"):
            if name not in table.column_names:
                raise InputError(f"events lack column {name!r}; they have {', '.join(table.column_names)}",
                                 column=name)
        allowed = {"event_id", "kind", "member_id", *self._columns, "sponsor_id", "placement_id", "leg", "status",
                   "tier", "rank_override"}
        unknown = [c for c in table.column_names if c not in allowed]
        if unknown:
            raise InputError(f"event column(s) {', '.join(unknown)} are not event fields", column=unknown[0])
        table = _normalised(table, self._columns)
        count = table.num_rows
        event_ids = table.column("event_id").to_pylist()
        kinds = table.column("kind").to_pylist()
        reasons: list[str | None] = [None] * count
        for row, (event_id, kind) in enumerate(zip(event_ids, kinds, strict=True)):
            if event_id is None:
                reasons[row] = "event_id is null"
            elif kind not in KINDS:
                reasons[row] = f"kind {kind!r} is none of {', '.join(KINDS)}"
            elif kind == "join":
                reasons[row] = "join events are not applied yet: this projection's genealogy is fixed"
        rows = self._member_rows(table, reasons)
        self._check_fields(table, kinds, reasons)
        # First occurrences are applied; a repeat of an earlier batch's event is compared with it, a repeat
        # within this batch follows its first occurrence (applied, or rejected for the same reason).
        fresh: list[int] = []
        first_in_batch: dict[str, int] = {}
        repeats: list[tuple[int, int]] = []
        for row, event_id in enumerate(event_ids):
            if reasons[row] is not None:
                continue
            earlier = self._seen.get(event_id)
            if earlier is not None:
                before = _fields(self._batches[earlier.batch], earlier.row, self._columns)
                if before != _fields(table, row, self._columns):
                    reasons[row] = f"event_id {event_id!r} was applied (seq {earlier.seq}) with other fields"
            elif event_id in first_in_batch:
                repeats.append((row, first_in_batch[event_id]))
            else:
                first_in_batch[event_id] = row
                fresh.append(row)
        self._reject_overflows(table, fresh, kinds, rows, reasons)
        for row, first in repeats:
            if reasons[first] is not None:
                reasons[row] = reasons[first]
            elif _fields(table, first, self._columns) != _fields(table, row, self._columns):
                reasons[row] = f"event_id {event_ids[row]!r} is repeated in this batch with other fields"
        batch = len(self._batches)
        self._batches.append(table)
        applied = [row for row in fresh if reasons[row] is None]
        for row in applied:
            self._seq += 1
            self._seen[event_ids[row]] = _Applied(self._seq, batch, row)
        self._apply_rows(table, np.asarray(applied, dtype=np.int64), kinds, rows)
        bad = [r for r in range(count) if reasons[r] is not None]
        self.rejected = _rejections(bad, [event_ids[r] for r in bad], [reasons[r] for r in bad])
        return self._seq

    def snapshot(self) -> PeriodResult:
        """The period as ``run_period`` computes it over the genealogy and every event applied so far."""
        if self._snapshot is not None and self._snapshot[0] == self._seq:
            return self._snapshot[1]
        ids = self.genealogy.member_ids
        volumes = pa.table({"member_id": ids, **{c: pa.array(self._sums[c]) for c in self._columns}})
        result = run_period(self.plan, self.genealogy, volumes, period=self.period, state=self.state,
                            attributes=self.attributes())
        self._snapshot = (self._seq, result)
        return result

    def attributes(self) -> pa.Table:
        """Every member's attributes as the events left them (``run_period``'s ``attributes``)."""
        status = pa.array(np.where(self._active, "active", "inactive"), pa.string())

        def names(codes: np.ndarray, pool: tuple[str, ...]) -> pa.Array:
            if not pool:
                return pa.nulls(len(codes), pa.string())
            taken = pa.array(pool, pa.string()).take(pa.array(np.maximum(codes, 0)))
            return pc.if_else(pa.array(codes >= 0), taken, pa.scalar(None, pa.string()))

        table = {"member_id": self.genealogy.member_ids, "status": status,
                 "rank_override": names(self._rank_override, self.plan.rank_names)}
        if self.plan.tiers:
            table["tier"] = names(self._tier, self.plan.tiers)
        return pa.table(table)

    def member(self, member_id: Any) -> dict[str, Any]:
        """One member's projected figures: its lines, paid-as and highest rank, next state (carries) and
        ``as_of``, the sequence number of the last event they reflect."""
        result = self.snapshot()
        row = int(self.genealogy._rows_of(pa.array([member_id], self.genealogy.member_ids.type),
                                          "member_id")[0].as_py())
        # The lines' member_id is dictionary-encoded over the member ids: its indices are member rows.
        lines = result.lines.filter(pc.equal(result.lines.column("member_id").combine_chunks().indices, row))
        ranks = result.ranks.slice(row, 1).to_pylist()[0]
        state = result.state.slice(row, 1).to_pylist()[0]
        return {
            "member_id": member_id,
            "lines": {str(b): int(a) for b, a in zip(lines.column("bonus").to_pylist(),
                                                    lines.column("amount").to_pylist(), strict=True)},
            "paid_as_rank": ranks["paid_as_rank"],
            "highest_rank": ranks["highest_rank"],
            "state": state,
            "as_of": self._snapshot[0] if self._snapshot else 0,
        }

    # -- applying ---------------------------------------------------------------------------------------

    def _member_rows(self, table: pa.Table, reasons: list[str | None]) -> np.ndarray:
        """Each event's member row (-1 where rejected); unknown or null member ids are rejected."""
        ids = table.column("member_id")
        rows = np.full(table.num_rows, -1, dtype=np.int64)
        wanted = np.asarray([r is None for r in reasons], dtype=bool) & np.asarray(
            ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        for row in np.flatnonzero(~ids.is_valid().to_numpy(zero_copy_only=False)):
            if reasons[row] is None:
                reasons[row] = "member_id is null"
        at = np.flatnonzero(wanted)
        subset = ids.take(pa.array(at))
        try:
            found = self.genealogy._rows_of(subset, "member_id").to_numpy()
        except InputError as exc:
            unknown = np.asarray(exc.rows, dtype=np.int64)
            for i in unknown:
                reasons[at[i]] = f"member_id {subset[int(i)].as_py()!r} is no member of the genealogy"
            keep = np.setdiff1d(np.arange(len(at)), unknown)
            at = at[keep]
            found = self.genealogy._rows_of(subset.take(pa.array(keep)), "member_id").to_numpy()
        rows[at] = found
        return rows

    def _check_fields(self, table: pa.Table, kinds: list[Any], reasons: list[str | None]) -> None:
        volumes = {c: table.column(c).to_pylist() for c in self._columns}
        fields = {c: table.column(c).to_pylist() for c in ("status", "tier", "rank_override")}
        for row, kind in enumerate(kinds):
            if reasons[row] is not None:
                continue
            if kind in ("order", "return"):
                negative = [c for c in self._columns if (volumes[c][row] or 0) < 0]
                if negative:
                    reasons[row] = (f"{kind} has negative {', '.join(negative)}: amounts are given positive "
                                    f"(a return takes them back)")
            elif kind == "status" and fields["status"][row] is None:
                reasons[row] = "status event without a status"
            elif kind == "tier" and fields["tier"][row] is not None and fields["tier"][row] not in self.plan.tiers:
                reasons[row] = f"tier {fields['tier'][row]!r} is no tier of the plan"
            elif (kind == "rank_override" and fields["rank_override"][row] is not None
                  and fields["rank_override"][row] not in self.plan.rank_names):
                reasons[row] = f"rank {fields['rank_override'][row]!r} is no rank of the plan"

    def _reject_overflows(self, table: pa.Table, fresh: list[int], kinds: list[Any], rows: np.ndarray,
                          reasons: list[str | None]) -> None:
        """Rejects the orders and returns that would take a member's total out of int64, in row order
        (exact in Python ints, which only run when a bound says int64 could be reached)."""
        volume = [r for r in fresh if kinds[r] in ("order", "return")]
        if not volume:
            return
        at = np.asarray(volume, dtype=np.int64)
        values = {c: table.column(c).fill_null(0).to_numpy(zero_copy_only=False)[at] for c in self._columns}

        def far_from_bounds(c: str) -> bool:
            totals = self._sums[c][rows[at]]
            reached = max(abs(int(totals.min())), abs(int(totals.max())))
            return int(values[c].max()) * len(at) + reached < 2**62

        if all(far_from_bounds(c) for c in self._columns):
            return
        # Row by row: an event is taken only if every one of its columns stays in int64.
        running: dict[tuple[str, int], int] = {}
        for i, r in enumerate(volume):
            if reasons[r] is not None:
                continue
            m = int(rows[r])
            sign = -1 if kinds[r] == "return" else 1
            totals = {c: running.get((c, m), int(self._sums[c][m])) + sign * int(values[c][i]) for c in self._columns}
            out = [c for c, total in totals.items() if not _INT64_MIN <= total <= _INT64_MAX]
            if out:
                member = table.column("member_id")[r].as_py()
                reasons[r] = f"it would take the {', '.join(out)} total of member {member!r} out of int64"
            else:
                running.update({(c, m): total for c, total in totals.items()})

    def _apply_rows(self, table: pa.Table, applied: np.ndarray, kinds: list[Any], rows: np.ndarray) -> None:
        kind = np.asarray(kinds, dtype=object)[applied] if len(applied) else np.asarray([], dtype=object)
        member = rows[applied]
        volume = (kind == "order") | (kind == "return")
        sign = np.where(kind == "return", -1, 1)
        for c in self._columns:
            values = table.column(c).fill_null(0).to_numpy(zero_copy_only=False)[applied][volume] * sign[volume]
            # No total leaves int64 (checked before), so int64 adds are exact.
            np.add.at(self._sums[c], member[volume], values)
        for name, out, pool in (("status", self._active, None), ("tier", self._tier, self.plan.tiers),
                                ("rank_override", self._rank_override, self.plan.rank_names)):
            pick = kind == name
            if not pick.any():
                continue
            values = table.column(name).to_pylist()
            for r, m in zip(applied[pick].tolist(), member[pick].tolist(), strict=True):
                value = values[r]
                if pool is None:
                    out[m] = value == "active"
                else:
                    out[m] = -1 if value is None else pool.index(value)


def _normalised(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The event table with every field column present (nulls where absent) and text as strings."""
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    n = table.num_rows
    for name in ("event_id", "kind", "member_id"):
        column = table.column(name)
        out[name] = column if name == "member_id" else column.cast(pa.string())
    for name in columns:
        out[name] = (_arrow.int64_array(_arrow.column(table, name), f"events.{name}", allow_bool=False)
                     if name in table.column_names else pa.nulls(n, pa.int64()))
    for name in ("sponsor_id", "placement_id", "leg", "status", "tier", "rank_override"):
        out[name] = table.column(name).cast(pa.string()) if name in table.column_names else pa.nulls(n, pa.string())
    return pa.table(out).combine_chunks()


def _fields(table: pa.Table, row: int, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """What an event says, by its kind: a resent event is the same if these are (an absent volume and an
    explicit 0 are the same amount; fields its kind does not use are not compared)."""
    kind = table.column("kind")[row].as_py()
    member = table.column("member_id")[row].as_py()
    if kind in ("order", "return"):
        return (kind, member, *[table.column(c)[row].as_py() or 0 for c in columns])
    if kind == "join":
        return (kind, member, *[table.column(c)[row].as_py() for c in ("sponsor_id", "placement_id", "leg", "status")])
    return (kind, member, table.column(kind)[row].as_py() if kind in table.column_names else None)


def _rejections(rows: list[int], event_ids: list[Any], reasons: list[Any]) -> pa.Table:
    return pa.table({"row": pa.array(rows, pa.int64()), "event_id": pa.array(event_ids, pa.string()),
                     "reason": pa.array(reasons, pa.string())})
