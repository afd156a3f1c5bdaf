"""``PeriodResult.explain(member_id)``: the contributions behind each of a member's lines."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import _mlm_core
from .errors import InputError

if TYPE_CHECKING:
    from .engine import PeriodResult

#: Exact amounts in minor units with four decimals: a share is base * rate_bp / 10 000, unrounded.
SHARE_TYPE = pa.decimal128(38, 4)

SCHEMA = pa.schema([
    ("bonus", pa.string()),
    ("from_member_id", pa.string()),
    ("level", pa.int64()),
    ("paid_level", pa.int64()),
    ("base", pa.int64()),
    ("rate_bp", pa.int64()),
    ("paid_below_bp", pa.int64()),
    ("amount", SHARE_TYPE),
    ("paid", pa.bool_()),
    ("detail", pa.string()),
])


def explain(result: PeriodResult, member_id: Any) -> pa.Table:
    """One row per contribution to ``member_id``'s lines of every bonus.

    Differential: one row per downline member (or the member itself with ``include_self``) whose walk
    paid it: ``rate_bp`` is the member's rate, ``paid_below_bp`` the rate already paid below it on that
    walk, ``amount`` = base * (rate_bp - paid_below_bp) / 10 000.
    Level bonuses (unilevel, matching): one row per downline member whose base reached the member —
    ``level`` (generations below), ``paid_level`` (whose rate applied), ``base``, ``rate_bp`` and the exact
    ``amount`` = base * rate_bp / 10 000 (not rounded); ``paid`` is False for a share that was breakage at
    this member (not active, or beyond its rank's depth). The line is the sum of the paid amounts, rounded
    once by the plan's rounding. Binary: one row with the member's legs, pay and next carries in ``detail``.
    """
    genealogy, plan, raw = result._genealogy, result._plan, result._raw
    rows = genealogy._rows_of(pa.array([member_id]), "member_id").to_pylist()
    if rows[0] is None:
        raise InputError("member_id is null")
    row = rows[0]
    ids = genealogy.member_ids
    out: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}

    def add(**values: Any) -> None:
        for name in SCHEMA.names:
            out[name].append(values.get(name))

    for index, (bonus, bonus_out) in enumerate(zip(plan.bonuses, raw["bonuses"], strict=True)):
        if bonus.type == "binary":
            _binary_row(result, index, bonus.name, row, bonus_out, add)
            continue
        if bonus.type == "rebate":
            spec = plan._compiled["bonuses"][index]
            base = result._columns[spec["base"]][row].as_py()
            add(bonus=bonus.name, from_member_id=str(ids[row].as_py()), level=0, paid_level=0, base=base,
                rate_bp=spec["rate_bp"], amount=Decimal(base * spec["rate_bp"]).scaleb(-4),
                paid=bonus_out["amount"][row].as_py() != 0, detail=None)
            continue
        base = _level_base(result, index)
        shares = _mlm_core.explain_level(
            genealogy._core, plan._core, index, base, raw["active"], raw["paid_as"], row
        )
        from_ids = ids.take(shares["from_row"]).cast(pa.string()).to_pylist()
        for k, share in enumerate(shares["share"]):
            add(
                bonus=bonus.name, from_member_id=from_ids[k], level=shares["level"][k].as_py(),
                paid_level=shares["paid_level"][k].as_py(), base=shares["base"][k].as_py(),
                rate_bp=shares["rate_bp"][k].as_py(), paid_below_bp=shares["paid_below_bp"][k].as_py(),
                amount=Decimal(share).scaleb(-4),
                paid=shares["paid"][k].as_py(), detail=None,
            )
    return pa.table(out, schema=SCHEMA)


def _level_base(result: PeriodResult, index: int) -> pa.Array:
    spec = result._plan._compiled["bonuses"][index]
    if spec["type"] == "differential":
        return result._columns[spec["base"]]
    if spec["base_bonus"] is not None:
        return result._raw["bonuses"][spec["base_bonus"]]["amount"]
    return result._columns[spec["base_column"]]


def _binary_row(result: PeriodResult, index: int, name: str, row: int, bonus_out: dict[str, Any], add: Any) -> None:
    spec = result._plan._compiled["bonuses"][index]
    legs = result._genealogy.leg_volumes(result._columns[spec["base"]])
    carry_in = result._carries_in.get(name)
    carry_left = carry_in[0][row].as_py() if carry_in else 0
    carry_right = carry_in[1][row].as_py() if carry_in else 0
    new_left, new_right = legs.column("left")[row].as_py(), legs.column("right")[row].as_py()
    left, right = carry_left + new_left, carry_right + new_right
    next_left, next_right = (bonus_out["carry"][0][row].as_py(), bonus_out["carry"][1][row].as_py())
    pay = bonus_out["amount"][row].as_py()
    rank = result._plan.rank_names[result._raw["paid_as"][row].as_py()]
    active = result._raw["active"][row].as_py()
    add(
        bonus=name, from_member_id=str(result._genealogy.member_ids[row].as_py()), level=0, paid_level=0,
        base=min(left, right), rate_bp=spec["rate_bp"], amount=Decimal(pay), paid=pay != 0,
        detail=(f"left {left} = carry {carry_left} + new {new_left}; right {right} = carry {carry_right} + new "
                f"{new_right}; {'active' if active else 'not active'}, paid as {rank}; pay {pay}; "
                f"next carries {next_left} / {next_right}"),
    )
