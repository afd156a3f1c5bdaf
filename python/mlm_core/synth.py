"""Synthetic companies: deterministic by seed, shaped like real networks, and a few pathological ones.

* :func:`network` — heavy-tailed sponsoring (a few big builders, most members with 0-3 recruits) and
  binary placement by spillover inside the sponsor's own placement subtree; statuses and join dates.
* :func:`volumes` — a period's orders per member (PV in hundredths, BV in cents) with some returns.
* :func:`chain` (a deep line) and :func:`star` (one sponsor with every other member as recruit).
* :func:`write_exports` — the network as a legacy platform exports it (CSV and Parquet, legacy names).

Member rows come out in join order (sponsors first) unless ``shuffle=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import _mlm_core
from .errors import InputError

IdKind = Literal["string", "int"]

STATUSES = ("active", "inactive", "suspended", "terminated")
STATUS_WEIGHTS = (0.82, 0.12, 0.03, 0.03)
#: Legacy export column names of :func:`write_exports` and the canonical names they map to.
LEGACY_MEMBER_COLUMNS = {
    "MemberID": "member_id",
    "EnrollerID": "sponsor_id",
    "UplineID": "placement_id",
    "Position": "leg",
    "Status": "status",
    "JoinDate": "join_date",
}
LEGACY_VOLUME_COLUMNS = {"OrderID": "order_id", "MemberID": "member_id", "Period": "period", "PV": "pv", "BV": "bv"}


def member_ids(count: int, kind: IdKind = "string") -> pa.Array:
    """``M00000001``-style string ids (width grows past 8 digits) or int64 ids starting at 1."""
    numbers = pa.array(np.arange(1, count + 1, dtype=np.int64))
    if kind == "int":
        return numbers
    if kind != "string":
        raise InputError(f"id kind must be 'string' or 'int', not {kind!r}")
    digits = pc.utf8_lpad(pc.cast(numbers, pa.string()), width=8, padding="0")
    return pc.binary_join_element_wise("M", digits, "")


def _assemble(
    sponsor_row: pa.Array, placement_row: pa.Array, leg_code: pa.Array, *, seed: int, id_kind: IdKind,
    shuffle: bool,
) -> pa.Table:
    count = len(sponsor_row)
    ids = member_ids(count, id_kind)
    rng = np.random.default_rng(seed)
    status_index = rng.choice(len(STATUSES), size=count, p=STATUS_WEIGHTS).astype(np.int8)
    if count:
        status_index[0] = 0  # the company's root account is active
    status = pa.DictionaryArray.from_arrays(pa.array(status_index), pa.array(STATUSES)).cast(pa.string())
    legs = pa.DictionaryArray.from_arrays(
        pc.if_else(pc.equal(leg_code, 0), pa.scalar(None, pa.int8()), pc.cast(leg_code, pa.int8())),
        pa.array(["", "L", "R"]),
    ).cast(pa.string())
    # Join dates spread over six years, in join order.
    days = (np.arange(count, dtype=np.int64) * (6 * 365) // max(count, 1)).astype(np.int32)
    join_date = pa.array(days + np.int32((np.datetime64("2020-01-01") - np.datetime64("1970-01-01")).astype(int)),
                         pa.int32()).cast(pa.date32())
    table = pa.table(
        {
            "member_id": ids,
            "sponsor_id": ids.take(sponsor_row),
            "placement_id": ids.take(placement_row),
            "leg": legs,
            "status": status,
            "join_date": join_date,
        }
    )
    if shuffle:
        table = table.take(pa.array(rng.permutation(count)))
    return table


def network(members: int, *, seed: int = 0, id_kind: IdKind = "string", shuffle: bool = False) -> pa.Table:
    """A realistic company of ``members`` members: ``(member_id, sponsor_id, placement_id, leg, status,
    join_date)``. The same seed gives the same table in every version.

    Examples
    --------
    >>> from mlm_core import synth, Genealogy
    >>> t = synth.network(1000, seed=1)
    >>> t.num_rows, t.column("sponsor_id").null_count
    (1000, 1)
    >>> len(Genealogy.from_arrow(t))
    1000
    """
    if members < 0:
        raise InputError(f"members must be >= 0, not {members}")
    sponsor_row = _mlm_core.synth_sponsors(members, seed)
    placement_row, leg_code = _mlm_core.synth_placement(sponsor_row, seed)
    return _assemble(sponsor_row, placement_row, leg_code, seed=seed, id_kind=id_kind, shuffle=shuffle)


def chain(members: int, *, id_kind: IdKind = "string", seed: int = 0) -> pa.Table:
    """A single line: member i is sponsored by and placed on the left of member i-1 (depth members-1)."""
    if members < 1:
        raise InputError(f"a chain needs at least 1 member, not {members}")
    rows = np.arange(-1, members - 1, dtype=np.int64)
    above = pa.array(rows, mask=rows < 0)
    legs = pa.array(np.where(rows < 0, 0, 1).astype(np.uint8))
    return _assemble(above, above, legs, seed=seed, id_kind=id_kind, shuffle=False)


def star(members: int, *, id_kind: IdKind = "string", seed: int = 0) -> pa.Table:
    """One root that personally sponsors every other member; placement spills over below it."""
    if members < 1:
        raise InputError(f"a star needs at least 1 member, not {members}")
    rows = np.zeros(members, dtype=np.int64)
    sponsor_row = pa.array(rows, mask=np.arange(members) == 0)
    placement_row, leg_code = _mlm_core.synth_placement(sponsor_row, seed)
    return _assemble(sponsor_row, placement_row, leg_code, seed=seed, id_kind=id_kind, shuffle=False)


def volumes(members: pa.Table, *, period: str = "2026-11", seed: int = 0) -> pa.Table:
    """A period's orders: ``(order_id, member_id, period, pv, bv)`` int64, PV in hundredths and BV in
    cents. Most active members order one package (25-200 PV, BV 80% of PV), some a second; a few
    inactive members order too; about 1.5% of rows are returns (negative)."""
    count = members.num_rows
    rng = np.random.default_rng([seed, 7])
    status = members.column("status")
    active = pc.equal(status, "active").to_numpy(zero_copy_only=False)
    ordering = np.where(active, rng.random(count) < 0.9, rng.random(count) < 0.1)
    buyers = np.flatnonzero(ordering)
    second = buyers[rng.random(len(buyers)) < 0.15]
    rows = np.concatenate([buyers, second])
    packages = np.array([2500, 5000, 10000, 20000], dtype=np.int64)
    pv = packages[rng.choice(4, size=len(rows), p=(0.3, 0.35, 0.25, 0.1))]
    returns = rng.random(len(rows)) < 0.015
    pv = np.where(returns, -pv // 2, pv)
    bv = pv * 4 // 5
    order = np.argsort(rows, kind="stable")
    rows, pv, bv = rows[order], pv[order], bv[order]
    order_ids = pc.binary_join_element_wise(
        f"O{period.replace('-', '')}-", pc.cast(pa.array(np.arange(1, len(rows) + 1)), pa.string()), ""
    )
    return pa.table(
        {
            "order_id": order_ids,
            "member_id": members.column("member_id").take(pa.array(rows)),
            "period": pa.array([period] * len(rows), pa.string()),
            "pv": pa.array(pv, pa.int64()),
            "bv": pa.array(bv, pa.int64()),
        }
    )


def _decimal_2(values: pa.Array, scale: int = 2) -> pa.Array:
    """int64 hundredths (or minor units of ``scale`` decimals) as an exact ``decimal128(18, scale)``: the
    unscaled value is the integer itself."""
    ints = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)
    words = np.empty(2 * len(ints), dtype=np.int64)
    words[0::2] = ints
    words[1::2] = ints >> 63  # two's complement sign extension to 128 bits (little-endian words)
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(ints), [None, pa.py_buffer(words.tobytes())])


def write_exports(
    directory: str | Path,
    members: pa.Table,
    member_volumes: pa.Table | None = None,
    *,
    formats: tuple[str, ...] = ("csv", "parquet"),
) -> dict[str, Path]:
    """Writes legacy-style exports: ``members.<fmt>`` with the columns of :data:`LEGACY_MEMBER_COLUMNS`
    and ``orders.<fmt>`` with :data:`LEGACY_VOLUME_COLUMNS` (PV and BV as exact two-decimal numbers, as
    legacy platforms print them). Returns the written paths by name, e.g. ``{"members.csv": …}``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    unknown = set(formats) - {"csv", "parquet"}
    if unknown:
        raise InputError(f"unknown export format(s) {sorted(unknown)}: use csv and/or parquet")
    legacy = {canonical: legacy for legacy, canonical in LEGACY_MEMBER_COLUMNS.items()}
    tables = {"members": members.rename_columns([legacy.get(name, name) for name in members.column_names])}
    if member_volumes is not None:
        tables["orders"] = pa.table(
            {
                "OrderID": member_volumes.column("order_id"),
                "MemberID": member_volumes.column("member_id"),
                "Period": member_volumes.column("period"),
                "PV": _decimal_2(member_volumes.column("pv").combine_chunks()),
                "BV": _decimal_2(member_volumes.column("bv").combine_chunks()),
            }
        )
    written = {}
    for name, table in tables.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                pacsv.write_csv(table, path)
            else:
                pq.write_table(table, path)
            written[path.name] = path
    return written


LEGACY_MAPPING = """\
# Maps the exports of mlm_core.synth.write_exports onto the canonical tables (see mlm_core.migrate.mapping).
[defaults]
timezone = "UTC"

[tables.members]
file = "members.{fmt}"
[tables.members.columns]
member_id = "MemberID"
sponsor_id = "EnrollerID"
placement_id = "UplineID"
leg = "Position"
status = "Status"
joined_at = "JoinDate"
{orders}"""

_ORDERS_MAPPING = """
[tables.orders]
file = "orders.{fmt}"
[tables.orders.columns]
order_id = "OrderID"
member_id = "MemberID"
period = "Period"
pv = "PV"
bv = "BV"
"""


def write_mapping(directory: str | Path, *, fmt: str = "csv", orders: bool = True) -> Path:
    """Writes ``mapping.toml`` for the exports :func:`write_exports` wrote to ``directory``."""
    path = Path(directory) / "mapping.toml"
    path.write_text(LEGACY_MAPPING.format(fmt=fmt, orders=_ORDERS_MAPPING.format(fmt=fmt) if orders else ""),
                    encoding="utf-8")
    return path


#: One package of example-plan-v2.toml: its price (BV, IDR) and fixed awards per product.
PACKAGE = {"pv": 0, "bv": 350_000, "sponsor_award": 50_000, "pair_volume": 350_000, "match_award": 80_000}


def package_orders(members: pa.Table, *, period: str = "2026-11", seed: int = 0) -> pa.Table:
    """A period of package purchases for a version 2 plan like example-plan-v2.toml: about 60% of the
    members buy one package and 10% two; columns ``member_id, period`` and every key of :data:`PACKAGE`
    (int64, each the package's value times the packages bought)."""
    rng = np.random.default_rng([seed, 11])
    count = rng.choice(3, size=members.num_rows, p=(0.3, 0.6, 0.1)).astype(np.int64)
    rows = np.flatnonzero(count)
    data: dict[str, Any] = {
        "member_id": members.column("member_id").take(pa.array(rows)),
        "period": pa.array([period] * len(rows), pa.string()),
    }
    for name, value in PACKAGE.items():
        data[name] = pa.array(count[rows] * value, pa.int64())
    return pa.table(data)


def attributes(members: pa.Table, *, tiers: tuple[str, ...] = ("Basic", "Pro"),
               ranks: tuple[str, ...] = ("Associate", "Senior", "Director"), seed: int = 0) -> pa.Table:
    """Per-member attributes of a period: a package tier for 80% of members (the first tier three times
    as often as the others) and a hand-set rank for about 2% (higher ranks rarer)."""
    rng = np.random.default_rng([seed, 13])
    n = members.num_rows
    tier_weights = np.array([3.0] + [1.0] * (len(tiers) - 1))
    tier_index = rng.choice(len(tiers), size=n, p=tier_weights / tier_weights.sum())
    has_tier = rng.random(n) < 0.8
    rank_weights = 1.0 / np.arange(1, len(ranks) + 1)
    rank_index = rng.choice(len(ranks), size=n, p=rank_weights / rank_weights.sum())
    has_rank = rng.random(n) < 0.02
    return pa.table({
        "member_id": members.column("member_id"),
        "tier": pa.DictionaryArray.from_arrays(pa.array(np.where(has_tier, tier_index, -1).astype(np.int8),
                                                        mask=~has_tier), pa.array(tiers)).cast(pa.string()),
        "rank_override": pa.DictionaryArray.from_arrays(
            pa.array(np.where(has_rank, rank_index, -1).astype(np.int8), mask=~has_rank), pa.array(ranks)
        ).cast(pa.string()),
    })


#: The periods of :func:`legacy_company` by default: one before the cutover (its carries and ranks are
#: migrated), then three the parallel run compares.
LEGACY_PERIODS = ("2026-08", "2026-09", "2026-10", "2026-11")
#: The legacy platform's bonus codes in its exports, mapped back by the mapping's ``values``.
LEGACY_BONUS_CODES = {"binary": "BIN", "unilevel": "UNI", "matching": "MATCH"}


@dataclass(frozen=True)
class LegacyCompany:
    """What :func:`legacy_company` wrote: the export folder, its ``mapping`` file, the periods (those up to
    ``cutover`` are history, the rest ``parallel``), the quirks of the simulated legacy and the errors it
    seeded (``seeded``: period, member_id, bonus, kind, correct_amount, legacy_amount)."""

    directory: Path
    mapping: Path
    history: tuple[str, ...]
    parallel: tuple[str, ...]
    quirks: Any
    seeded: pa.Table
    members: int


def legacy_company(
    directory: str | Path, members: int = 10_000, *, plan: Any = None, periods: tuple[str, ...] = LEGACY_PERIODS,
    cutover: int = 1, quirks: Any = None, seed: int = 0, detail: bool = True,
) -> LegacyCompany:
    """A synthetic company as its legacy platform exports it, commissions included: ``members.csv``,
    ``orders.csv`` (every period), ``commissions.csv`` (summary lines of every period, legacy bonus codes),
    ``commission_detail.csv`` (one line per paid share, if ``detail``), ``carry_forward.csv`` and
    ``ranks.csv`` (the legacy's state after the first ``cutover`` periods) and ``mapping.toml``.

    The commissions are computed by :func:`mlm_core.legacy.simulate` (pure Python, independent of the
    engine) with ``quirks`` (:class:`mlm_core.legacy.Quirks`): a parallel run over the periods after the
    cutover finds exactly what they changed. Money is written as decimals of the currency's minor unit
    (two places for USD, none for JPY), volume and carries with two, as legacy platforms print them."""
    from . import legacy
    from .plan import Plan

    if members < 1:
        raise InputError(f"a legacy company needs at least 1 member, not {members}")
    if not 0 <= cutover < len(periods):
        raise InputError(f"cutover must leave at least one period to compare: 0 <= cutover < {len(periods)}")
    plan = plan if plan is not None else Plan.from_toml(Path(__file__).resolve().parent / "plans" / "example-plan.toml")
    quirks = quirks if quirks is not None else legacy.Quirks()
    from .migrate.standards import minor_unit

    digits = minor_unit(plan.currency)  # money as the currency prints it (volume and carries: hundredths)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    company = network(members, seed=seed)
    orders, lines, details, seeded = [], [], [], []
    state = None
    for k, period in enumerate(periods):
        period_orders = volumes(company, period=period, seed=seed * 1000 + k)
        # Odd cents on BV (real price lists have them): unilevel shares then have fractions to round.
        cents = np.random.default_rng([seed, k, 17]).integers(0, 100, period_orders.num_rows)
        bv = period_orders.column("bv").to_numpy()
        period_orders = period_orders.set_column(
            period_orders.schema.get_field_index("bv"), "bv", pa.array(bv + np.where(bv >= 0, cents, -cents)))
        orders.append(period_orders)
        result = legacy.simulate(plan, company, period_orders.select(["member_id", "pv", "bv"]), period=period,
                                 state=state, quirks=quirks)
        lines.append(result.lines)
        details.append(result.detail)
        seeded.append(result.seeded)
        state = result.state
        if k == cutover - 1:
            _write_legacy_state(out, result, period)
    if cutover == 0:
        _write_legacy_state(out, None, None)
    write_exports(out, company, pa.concat_tables(orders), formats=("csv",))
    summary = pa.concat_tables(lines)
    code = pa.array(list(LEGACY_BONUS_CODES), pa.string()), pa.array(list(LEGACY_BONUS_CODES.values()), pa.string())
    pacsv.write_csv(pa.table({
        "Period": summary.column("period"), "MemberID": summary.column("member_id"),
        "BonusType": _recode(summary.column("bonus"), *code),
        "Amount": _decimal_2(summary.column("amount").combine_chunks(), digits),
        "Currency": pa.array([plan.currency] * summary.num_rows, pa.string()),
    }), out / "commissions.csv")
    if detail:
        d = pa.concat_tables(details)
        pacsv.write_csv(pa.table({
            "DetailID": pc.binary_join_element_wise("D", pc.cast(pa.array(np.arange(1, d.num_rows + 1)), pa.string()),
                                                    ""),
            "Period": d.column("period"), "MemberID": d.column("member_id"),
            "BonusType": _recode(d.column("bonus"), *code), "FromMemberID": d.column("from_member_id"),
            "Generation": d.column("level"), "PaidLevel": d.column("paid_level"),
            "SourceAmount": _decimal_2(d.column("source_amount").combine_chunks(), digits),
            "RateBP": d.column("rate_bp"), "Amount": _decimal_2(d.column("amount").combine_chunks(), digits),
            "Currency": pa.array([plan.currency] * d.num_rows, pa.string()),
        }), out / "commission_detail.csv")
    mapping = write_mapping(out, fmt="csv")
    with mapping.open("a", encoding="utf-8") as f:
        f.write(_LEGACY_COMMISSION_MAPPING + (_LEGACY_DETAIL_MAPPING if detail else ""))
    return LegacyCompany(out, mapping, tuple(periods[:cutover]), tuple(periods[cutover:]), quirks,
                         pa.concat_tables(seeded), members)


def _recode(values: Any, canonical: pa.Array, legacy_codes: pa.Array) -> pa.Array:
    return legacy_codes.take(pc.index_in(values, value_set=canonical))


def _write_legacy_state(out: Path, result: Any, period: str | None) -> None:
    """``carry_forward.csv`` (every member with a carry) and ``ranks.csv`` (every member above Member)."""
    if result is None:
        pacsv.write_csv(pa.table({"MemberID": pa.array([], pa.string()), "Bonus": pa.array([], pa.string()),
                                  "Period": pa.array([], pa.string()), "LeftCarry": pa.array([], pa.string()),
                                  "RightCarry": pa.array([], pa.string())}), out / "carry_forward.csv")
        pacsv.write_csv(pa.table({"MemberID": pa.array([], pa.string()), "Period": pa.array([], pa.string()),
                                  "Rank": pa.array([], pa.string()), "PaidAsRank": pa.array([], pa.string())}),
                        out / "ranks.csv")
        return
    state, ranks = result.state, result.ranks
    left, right = state.column("binary.carry_left"), state.column("binary.carry_right")
    keep = pc.or_(pc.not_equal(left, 0), pc.not_equal(right, 0))
    kept = state.filter(keep)
    pacsv.write_csv(pa.table({
        "MemberID": kept.column("member_id"), "Bonus": pa.array(["BIN"] * kept.num_rows, pa.string()),
        "Period": pa.array([period] * kept.num_rows, pa.string()),
        "LeftCarry": _decimal_2(kept.column("binary.carry_left").combine_chunks()),
        "RightCarry": _decimal_2(kept.column("binary.carry_right").combine_chunks()),
    }), out / "carry_forward.csv")
    ranked = ranks.filter(pc.or_(pc.not_equal(ranks.column("highest_rank"), "Member"),
                                 pc.not_equal(ranks.column("paid_as_rank"), "Member")))
    pacsv.write_csv(pa.table({
        "MemberID": ranked.column("member_id"), "Period": pa.array([period] * ranked.num_rows, pa.string()),
        "Rank": ranked.column("highest_rank"), "PaidAsRank": ranked.column("paid_as_rank"),
    }), out / "ranks.csv")


_LEGACY_VALUES = "".join(f'"{code}" = "{name}"\n' for name, code in LEGACY_BONUS_CODES.items())
_LEGACY_COMMISSION_MAPPING = f"""
[tables.commission_history]
file = "commissions.csv"
[tables.commission_history.columns]
period = "Period"
member_id = "MemberID"
bonus = "BonusType"
amount = "Amount"
currency = "Currency"
[tables.commission_history.values.bonus]
{_LEGACY_VALUES}
[tables.carry_forward]
file = "carry_forward.csv"
[tables.carry_forward.columns]
member_id = "MemberID"
bonus = "Bonus"
period = "Period"
left_carry = "LeftCarry"
right_carry = "RightCarry"
[tables.carry_forward.values.bonus]
{_LEGACY_VALUES}
[tables.rank_history]
file = "ranks.csv"
[tables.rank_history.columns]
member_id = "MemberID"
period = "Period"
achieved_rank = "Rank"
paid_as_rank = "PaidAsRank"
"""
_LEGACY_DETAIL_MAPPING = f"""
[tables.commission_detail]
file = "commission_detail.csv"
[tables.commission_detail.columns]
line_id = "DetailID"
period = "Period"
member_id = "MemberID"
bonus = "BonusType"
from_member_id = "FromMemberID"
level = "Generation"
paid_level = "PaidLevel"
source_amount = "SourceAmount"
rate_bp = "RateBP"
amount = "Amount"
currency = "Currency"
[tables.commission_detail.values.bonus]
{_LEGACY_VALUES}"""
