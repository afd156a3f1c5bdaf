"""Period assembly (plan v2, "Period assembly"): paid orders become a period's volume rows, keyed by the
period they count in, in the plan's time zone, with cancellations applied as ``[periods]`` says.

Readings the spec leaves to us, stated once here:

* ``committed_through`` names the last committed period (``None``: none is). A period is committed only
  after it has ended, so a cancellation stamped before the end of its order's period always came before
  that period's commit and removes the order; a cancellation after that end removes the order when its
  period is not committed yet, and enters the period of the cancellation as negative rows when it is.
* An order without ``paid_at`` is not counted (reported as ``unpaid``); with ``paid_or_placed``, an order
  of a member without placement time is not counted yet (``not_placed``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow
from .errors import InputError
from .plan import WEEKDAYS, Plan

REPORT_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("member_id", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])


def _timestamps(table: pa.Table, name: str, what: str) -> pa.Array:
    column = _arrow.column(table, name)
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.timestamp("us", tz="UTC"))
    if not pa.types.is_timestamp(column.type):
        raise InputError(f"{what}.{name} must be a timestamp with a time zone, not {column.type}", column=name)
    if column.type.tz is None:
        raise InputError(f"{what}.{name} has no time zone: say which (UTC, or the legacy system's zone)",
                         column=name)
    return column


def period_keys(timestamps: pa.Array, plan: Plan) -> pa.Array:
    """The period each instant falls in, in the plan's time zone: ``2026-11-23``, ``2026-W48`` (weeks
    starting on ``week_starts``) or ``2026-11``."""
    settings = plan.periods or {"length": "month", "timezone": "UTC", "week_starts": "monday"}
    local = timestamps.cast(pa.timestamp(timestamps.type.unit, tz=settings["timezone"]))
    length = settings["length"]
    if length == "day":
        return pc.strftime(local, format="%Y-%m-%d")
    if length == "month":
        return pc.strftime(local, format="%Y-%m")
    # Weeks: shift local wall time so that week_starts lands on Monday, then take the ISO week.
    shift_days = (7 - WEEKDAYS.index(settings["week_starts"])) % 7
    wall = pc.local_timestamp(local)
    shifted = pc.add(wall, pa.scalar(dt.timedelta(days=shift_days), pa.duration(wall.type.unit)))
    return pc.strftime(shifted, format="%G-W%V")


def assemble_periods(
    orders: Any, plan: Plan, *, placements: Any = None, committed_through: str | None = None
) -> tuple[pa.Table, pa.Table]:
    """Turns orders ``(order_id, member_id, paid_at, cancelled_at, pv, bv, <declared columns>)`` into
    volume rows ``(order_id, member_id, period, pv, bv, <declared>)`` and a report of every order removed
    or ignored and why (``unpaid``, ``not_placed``, ``cancelled``, ``clawback``, ``cancellation_ignored``).

    Clawback rows (negative copies of a cancelled order, in the period of the cancellation) are part of
    the volume rows; the report lists them too. Feed one period's rows to :func:`mlm_core.run_period`:
    ``volumes.filter(pc.equal(volumes["period"], "2026-11"))``.
    """
    table = _arrow.as_table(orders, "orders")
    columns = ("order_id", "member_id", "paid_at", "cancelled_at", *plan.volume_columns)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(f"orders lack column(s) {', '.join(missing)}", column=missing[0])
    settings = plan.periods or {"effective": "paid", "clawback": "next_period"}
    paid_at = _timestamps(table, "paid_at", "orders")
    cancelled_at = _timestamps(table, "cancelled_at", "orders")
    counts_at = paid_at
    not_placed = np.zeros(table.num_rows, dtype=bool)
    if settings.get("effective") == "paid_or_placed":
        if placements is None:
            raise InputError("effective = 'paid_or_placed' needs placements (member_id, placed_at)")
        placed = _arrow.as_table(placements, "placements")
        placed_at = _timestamps(placed, "placed_at", "placements")
        index = pc.index_in(_arrow.column(table, "member_id"), value_set=_arrow.column(placed, "member_id"))
        member_placed = placed_at.take(index)
        later = pc.if_else(pc.greater(member_placed.cast(paid_at.type), paid_at), member_placed.cast(paid_at.type),
                           paid_at)
        not_placed = np.asarray(pc.is_null(member_placed).to_numpy(zero_copy_only=False)) & np.asarray(
            pc.is_valid(paid_at).to_numpy(zero_copy_only=False))
        counts_at = later
    period = period_keys(counts_at, plan)
    cancel_period = period_keys(cancelled_at, plan)
    unpaid = np.asarray(pc.is_null(paid_at).to_numpy(zero_copy_only=False))
    cancelled = np.asarray(pc.is_valid(cancelled_at).to_numpy(zero_copy_only=False))
    period_np = np.asarray(period.to_numpy(zero_copy_only=False), dtype=object)
    cancel_np = np.asarray(cancel_period.to_numpy(zero_copy_only=False), dtype=object)
    committed = np.array([p is not None and committed_through is not None and p <= committed_through
                          for p in period_np])
    after_period = np.array([c is not None and p is not None and c > p for p, c in zip(period_np, cancel_np,
                                                                                          strict=True)])
    counted = ~unpaid & ~not_placed
    clawback_mode = settings.get("clawback", "next_period")
    if clawback_mode == "none":
        removed = np.zeros(len(period_np), dtype=bool)
        claw = np.zeros(len(period_np), dtype=bool)
    else:
        claw = counted & cancelled & committed & after_period
        removed = counted & cancelled & ~claw
    keep = counted & ~removed
    ids = _arrow.column(table, "order_id").cast(pa.string())
    members = _arrow.column(table, "member_id")
    value_columns = {c: _arrow.int64_array(_arrow.column(table, c), f"orders.{c}", allow_bool=False)
                     for c in plan.volume_columns}
    keep_rows = pa.array(np.flatnonzero(keep))
    claw_rows = pa.array(np.flatnonzero(claw))
    rows = {
        "order_id": pa.concat_arrays([ids.take(keep_rows), ids.take(claw_rows)]),
        "member_id": pa.concat_arrays([members.take(keep_rows), members.take(claw_rows)]),
        "period": pa.concat_arrays([period.take(keep_rows), cancel_period.take(claw_rows)]),
    }
    for name, values in value_columns.items():
        rows[name] = pa.concat_arrays([values.take(keep_rows), pc.negate_checked(values.take(claw_rows))])
    report_parts = []
    for reason, mask, detail in (
        ("unpaid", unpaid, "no paid_at: not counted"),
        ("not_placed", not_placed, "the member has no placement time yet: counts once placed"),
        ("cancelled", removed, "cancelled before its period was committed: removed"),
        ("clawback", claw, "cancelled after its period was committed: negative rows in the cancellation's period"),
        ("cancellation_ignored", counted & cancelled if clawback_mode == "none" else np.zeros(len(keep), bool),
         "clawback = none: the order stays paid"),
    ):
        at = pa.array(np.flatnonzero(mask))
        report_parts.append(pa.table({
            "order_id": ids.take(at), "member_id": members.take(at).cast(pa.string()),
            "reason": pa.array([reason] * len(at), pa.string()), "detail": pa.array([detail] * len(at), pa.string()),
        }, schema=REPORT_SCHEMA))
    return pa.table(rows), pa.concat_tables(report_parts)
