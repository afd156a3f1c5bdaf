"""Period assembly: day, week and month boundaries in a time zone with daylight saving time and one
without, paid_or_placed, cancellations before and after a committed period, naive timestamps refused."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from mlm_core import InputError, Plan, assemble_periods

UTC = dt.timezone.utc


def plan(length: str, timezone: str, **extra: str) -> Plan:
    lines = [f"length = '{length}'", f"timezone = '{timezone}'", *(f"{k} = '{v}'" for k, v in extra.items())]
    return Plan.from_toml("[periods]\n" + "\n".join(lines) + "\n[unilevel]\nrates_bp = [100]\n")


def orders(paid: list[dt.datetime | None], cancelled: list[dt.datetime | None] | None = None,
           members: list[str] | None = None) -> pa.Table:
    n = len(paid)
    return pa.table({
        "order_id": [f"o{i}" for i in range(n)],
        "member_id": members or [f"m{i}" for i in range(n)],
        "paid_at": pa.array(paid, pa.timestamp("us", tz="UTC")),
        "cancelled_at": pa.array(cancelled or [None] * n, pa.timestamp("us", tz="UTC")),
        "pv": [100 * (i + 1) for i in range(n)],
        "bv": [10 * (i + 1) for i in range(n)],
    })


def periods_of(table: pa.Table) -> list[str]:
    return table.column("period").to_pylist()


def test_month_boundary_in_new_york_and_jakarta() -> None:
    paid = [dt.datetime(2026, 12, 1, 4, 30, tzinfo=UTC), dt.datetime(2026, 12, 1, 5, 30, tzinfo=UTC),
            dt.datetime(2026, 10, 31, 17, 0, tzinfo=UTC), dt.datetime(2026, 10, 31, 16, 59, tzinfo=UTC)]
    # 04:30Z on 1 Dec is 23:30 EST on 30 Nov; 17:00Z on 31 Oct is midnight in Jakarta (UTC+7).
    ny, _ = assemble_periods(orders(paid), plan("month", "America/New_York"))
    assert periods_of(ny) == ["2026-11", "2026-12", "2026-10", "2026-10"]
    jakarta, _ = assemble_periods(orders(paid), plan("month", "Asia/Jakarta"))
    assert periods_of(jakarta) == ["2026-12", "2026-12", "2026-11", "2026-10"]


def test_day_boundary_across_the_daylight_saving_change() -> None:
    # New York moves from EST (UTC-5) to EDT (UTC-4) at 02:00 local on 8 March 2026.
    paid = [dt.datetime(2026, 3, 8, 6, 59, tzinfo=UTC), dt.datetime(2026, 3, 9, 3, 59, tzinfo=UTC),
            dt.datetime(2026, 3, 9, 4, 0, tzinfo=UTC), dt.datetime(2026, 11, 1, 4, 30, tzinfo=UTC)]
    table, _ = assemble_periods(orders(paid), plan("day", "America/New_York"))
    assert periods_of(table) == ["2026-03-08", "2026-03-08", "2026-03-09", "2026-11-01"]


def test_week_boundaries_and_week_start() -> None:
    # Sunday 22 Nov 2026, 23:00 and Monday 23 Nov 00:00 in Jakarta (16:00Z and 17:00Z on the 22nd).
    paid = [dt.datetime(2026, 11, 22, 16, 0, tzinfo=UTC), dt.datetime(2026, 11, 22, 17, 0, tzinfo=UTC)]
    monday, _ = assemble_periods(orders(paid), plan("week", "Asia/Jakarta"))
    assert periods_of(monday) == ["2026-W47", "2026-W48"]
    sunday, _ = assemble_periods(orders(paid), plan("week", "Asia/Jakarta", week_starts="sunday"))
    assert periods_of(sunday) == ["2026-W48", "2026-W48"]


def test_paid_or_placed_waits_for_placement() -> None:
    paid = [dt.datetime(2026, 10, 20, tzinfo=UTC)] * 3
    placements = pa.table({"member_id": ["m0", "m1"],
                           "placed_at": pa.array([dt.datetime(2026, 11, 2, tzinfo=UTC),
                                                  dt.datetime(2026, 10, 1, tzinfo=UTC)],
                                                 pa.timestamp("us", tz="UTC"))})
    table, report = assemble_periods(orders(paid), plan("month", "UTC", effective="paid_or_placed"),
                                     placements=placements)
    assert list(zip(table.column("member_id").to_pylist(), periods_of(table), strict=True)) == [
        ("m0", "2026-11"), ("m1", "2026-10")]
    assert report.select(["member_id", "reason"]).to_pylist() == [{"member_id": "m2", "reason": "not_placed"}]


def test_cancellations_before_and_after_a_committed_period() -> None:
    paid = [dt.datetime(2026, 10, 5, tzinfo=UTC), dt.datetime(2026, 10, 6, tzinfo=UTC),
            dt.datetime(2026, 11, 5, tzinfo=UTC), None]
    cancelled = [dt.datetime(2026, 11, 10, tzinfo=UTC), dt.datetime(2026, 10, 20, tzinfo=UTC),
                 dt.datetime(2026, 11, 12, tzinfo=UTC), None]
    table, report = assemble_periods(orders(paid, cancelled), plan("month", "UTC"), committed_through="2026-10")
    # o0: October committed, cancelled in November -> kept in October, clawed back in November.
    # o1: cancelled within October (before it could be committed) -> removed. o2: November not committed
    # -> removed. o3: never paid.
    assert list(zip(table.column("order_id").to_pylist(), periods_of(table), table.column("bv").to_pylist(),
                    strict=True)) == [("o0", "2026-10", 10), ("o0", "2026-11", -10)]
    assert report.select(["order_id", "reason"]).to_pylist() == [
        {"order_id": "o3", "reason": "unpaid"}, {"order_id": "o1", "reason": "cancelled"},
        {"order_id": "o2", "reason": "cancelled"}, {"order_id": "o0", "reason": "clawback"},
    ]
    kept, report = assemble_periods(orders(paid, cancelled), plan("month", "UTC", clawback="none"),
                                    committed_through="2026-10")
    assert kept.column("order_id").to_pylist() == ["o0", "o1", "o2"]
    assert [r["reason"] for r in report.to_pylist()] == ["unpaid"] + ["cancellation_ignored"] * 3


def test_a_timestamp_without_a_time_zone_is_an_error() -> None:
    table = orders([dt.datetime(2026, 11, 1, tzinfo=UTC)])
    naive = table.set_column(2, "paid_at", pa.array([dt.datetime(2026, 11, 1)], pa.timestamp("us")))
    with pytest.raises(InputError, match="paid_at has no time zone"):
        assemble_periods(naive, plan("month", "UTC"))
