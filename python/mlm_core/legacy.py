"""A legacy commission system, simulated: what the platform a company migrates off would have paid.

:func:`simulate` computes one period of a version 1 plan (``../shared/spec/compensation-plan.md``) the
plain, slow way a legacy platform does — pure Python, one member and one upline at a time, written apart
from the Rust engine and sharing none of its code — and can reproduce the quirks real legacy platforms have,
so that a parallel run (:mod:`mlm_core.parallel`) has something real to find:

* ``rounding``: the legacy rounds each amount another way (``floor``, ``half_up``, ``half_even``);
* ``compression``: the legacy compresses (or does not compress) unilevel and matching levels;
* ``depth_by_rank = False``: the legacy pays every level whatever the earner's rank;
* ``binary_cap = False``: the legacy pays binary without the per-rank cap;
* ``wrong_lines`` / ``missing_lines`` / ``extra_lines``: lines the legacy got wrong by hand — an amount off,
  a line left out, a line that should not exist — chosen by seed and listed in :attr:`LegacyPeriod.seeded`.

Its output is shaped like a legacy export: summary lines ``(period, member_id, bonus, amount)``, detail
lines (one per downline share that was paid, and one per binary payout) and the state the next period
starts from. A test compares it with the engine on random companies: without quirks they agree exactly.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from . import _arrow
from .errors import InputError
from .plan import Plan

BP = 10_000
ROUNDINGS = ("floor", "half_up", "half_even")
DETAIL_SCHEMA = pa.schema([
    ("period", pa.string()), ("member_id", pa.string()), ("bonus", pa.string()), ("from_member_id", pa.string()),
    ("level", pa.int64()), ("paid_level", pa.int64()), ("source_amount", pa.int64()), ("rate_bp", pa.int64()),
    ("amount", pa.int64()),
])
LINE_SCHEMA = pa.schema([("period", pa.string()), ("member_id", pa.string()), ("bonus", pa.string()),
                         ("amount", pa.int64())])
SEEDED_SCHEMA = pa.schema([("period", pa.string()), ("member_id", pa.string()), ("bonus", pa.string()),
                           ("kind", pa.string()), ("correct_amount", pa.int64()), ("legacy_amount", pa.int64())])


@dataclass(frozen=True)
class Quirks:
    """How the simulated legacy system departs from the plan (the defaults: not at all)."""

    rounding: str | None = None
    compression: bool | None = None
    depth_by_rank: bool = True
    binary_cap: bool = True
    wrong_lines: int = 0
    missing_lines: int = 0
    extra_lines: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounding is not None and self.rounding not in ROUNDINGS:
            raise InputError(f"quirks.rounding must be one of {', '.join(ROUNDINGS)}, not {self.rounding!r}")
        for name in ("wrong_lines", "missing_lines", "extra_lines"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise InputError(f"quirks.{name} must be a non-negative int, not {getattr(self, name)!r}")

    def describe(self) -> list[str]:
        """The quirks in words, for reports and the demo."""
        out = []
        if self.rounding is not None:
            out.append(f"rounds {self.rounding}")
        if self.compression is not None:
            out.append("compresses levels" if self.compression else "does not compress levels")
        if not self.depth_by_rank:
            out.append("pays every level whatever the rank")
        if not self.binary_cap:
            out.append("pays binary without the rank cap")
        for name, words in (("wrong_lines", "amounts off"), ("missing_lines", "lines missing"),
                            ("extra_lines", "lines extra")):
            if getattr(self, name):
                out.append(f"{getattr(self, name)} {words} per period")
        return out


@dataclass(frozen=True)
class LegacyPeriod:
    """One simulated legacy period: ``lines`` (the summary export, quirks and seeded errors included),
    ``detail`` (one row per paid share), ``ranks`` ``(member_id, paid_as_rank, highest_rank)``, ``state``
    (the engine's state shape: ``member_id, highest_rank, <binary>.carry_left, <binary>.carry_right``) and
    ``seeded``: each seeded error with the amount the legacy would have paid without it."""

    period: str
    lines: pa.Table
    detail: pa.Table
    ranks: pa.Table
    state: pa.Table
    seeded: pa.Table


def round_bp(numerator: int, mode: str) -> int:
    """``numerator / 10 000`` rounded once: floor (toward -inf), half_up (half away from zero), half_even.

    >>> [round_bp(n, "half_up") for n in (15_000, -15_000, 14_999)], round_bp(25_000, "half_even")
    ([2, -2, 1], 2)
    """
    q, r = divmod(numerator, BP)  # floor
    if mode == "floor":
        return q
    if mode == "half_up":
        if numerator >= 0:
            return q + (1 if 2 * r >= BP else 0)
        return q + (1 if 2 * r > BP else 0)  # -1.5 -> q = -2, r = 5000: stays -2 (away from zero)
    if 2 * r > BP or (2 * r == BP and q % 2 == 1):
        return q + 1
    return q


def _check_v1(plan: Plan) -> None:
    for bonus in plan.bonuses:
        if bonus.type not in ("binary", "unilevel", "matching") or bonus.name != bonus.type:
            raise InputError(f"the legacy simulator computes version 1 plans ([binary], [unilevel], [matching]); "
                             f"bonus {bonus.name!r} ({bonus.type}) is not one")
        s = bonus.settings
        if bonus.type == "binary" and (s["pay_per_pair"] is not None or s["max_pairs_by_tier"]
                                       or s["requires_tier"] or s["pay_on"] != "period" or s["base"] != "bv"):
            raise InputError("the legacy simulator computes version 1 binary bonuses (rate_bp on BV, no packages)")


def _text(table: pa.Table, name: str) -> list[Any]:
    return [None if v is None else str(v) for v in _arrow.column(table, name).cast(pa.string()).to_pylist()]


def simulate(plan: Plan, members: Any, volumes: Any, *, period: str, state: Any = None,
             quirks: Quirks | None = None) -> LegacyPeriod:
    """One period of ``plan`` as the legacy system computes it (see the module docstring).

    ``members``: ``member_id, sponsor_id, placement_id, leg, status``; ``volumes``: ``member_id, pv, bv``
    rows (several per member; returns negative); ``state``: the previous :attr:`LegacyPeriod.state` (or the
    engine's state shape), or None.
    """
    quirks = quirks or Quirks()
    _check_v1(plan)
    members = _arrow.as_table(members, "members")
    volumes = _arrow.as_table(volumes, "volumes")
    ids = _text(members, "member_id")
    row = {m: i for i, m in enumerate(ids)}
    n = len(ids)
    sponsor = _parent_rows(_text(members, "sponsor_id"), row, "sponsor")
    placement = _parent_rows(_text(members, "placement_id"), row, "placement")
    legs = _text(members, "leg")
    status = _text(members, "status")
    pv, bv = [0] * n, [0] * n
    for m, p, b in zip(_text(volumes, "member_id"), _arrow.column(volumes, "pv").to_pylist(),
                       _arrow.column(volumes, "bv").to_pylist(), strict=True):
        if m not in row:
            raise InputError(f"volume row of {m!r}, who is not a member")
        pv[row[m]] += p or 0
        bv[row[m]] += b or 0
    active = [status[i] == "active" and pv[i] >= plan.activity_min_pv for i in range(n)]
    names = list(plan.rank_names)

    highest_in, carry_in = [0] * n, [(0, 0)] * n
    if state is not None:
        st = _arrow.as_table(state, "state")
        st_ids = _text(st, "member_id")
        if "highest_rank" in st.column_names:
            for m, r in zip(st_ids, _text(st, "highest_rank"), strict=True):
                if m in row and r in names:
                    highest_in[row[m]] = names.index(r)
        if "binary.carry_left" in st.column_names:
            lefts = st.column("binary.carry_left").to_pylist()
            rights = st.column("binary.carry_right").to_pylist()
            for m, lft, rgt in zip(st_ids, lefts, rights, strict=True):
                if m in row:
                    carry_in[row[m]] = (lft or 0, rgt or 0)

    sponsor_children: list[list[int]] = [[] for _ in range(n)]
    for i, s in enumerate(sponsor):
        if s >= 0:
            sponsor_children[s].append(i)
    order = _breadth_first(sponsor, sponsor_children)

    # Ranks, bottom-up over the sponsor tree: each leg's PV and the best paid-as rank inside it.
    paid_as, leg_pv, leg_best = [0] * n, [0] * n, [0] * n
    for m in reversed(order):
        kids = sponsor_children[m]
        if status[m] == "active":
            for index in range(len(names) - 1, 0, -1):
                if _meets(plan.ranks[index], pv[m], kids, leg_pv, leg_best, names):
                    paid_as[m] = index
                    break
        leg_pv[m] = pv[m] + sum(leg_pv[k] for k in kids)
        leg_best[m] = max([paid_as[m], *(leg_best[k] for k in kids)])
    highest = [max(a, b) for a, b in zip(highest_in, paid_as, strict=True)]

    lines: dict[tuple[int, str], int] = {}
    detail: list[tuple[Any, ...]] = []
    rounding = quirks.rounding or plan.rounding
    carry_out = list(carry_in)
    binary_pay = [0] * n
    bonuses = {b.type: b for b in plan.bonuses}
    if "binary" in bonuses:
        binary_pay, carry_out = _binary(bonuses["binary"].settings, ids, sponsor, placement, legs, bv, active,
                                        paid_as, names, carry_in, rounding, quirks, period, detail)
        for m in range(n):
            if binary_pay[m]:
                lines[(m, "binary")] = binary_pay[m]
    for kind, base in (("unilevel", bv), ("matching", binary_pay)):
        if kind in bonuses:
            earned = _levels(bonuses[kind].settings, kind, ids, sponsor, base, active, paid_as, names, rounding,
                             quirks, period, detail)
            for m, amount in earned.items():
                if amount:
                    lines[(m, kind)] = amount

    position = {b: k for k, b in enumerate(plan.bonus_names)}
    summary = sorted(lines.items(), key=lambda kv: (kv[0][0], position[kv[0][1]]))
    summary_rows, seeded = _seed_errors(summary, ids, plan, period, quirks)
    state_out: dict[str, Any] = {"member_id": ids, "highest_rank": [names[h] for h in highest]}
    if "binary" in bonuses or state is not None:
        state_out["binary.carry_left"] = pa.array([c[0] for c in carry_out], pa.int64())
        state_out["binary.carry_right"] = pa.array([c[1] for c in carry_out], pa.int64())
    return LegacyPeriod(
        period=period,
        lines=pa.table({"period": [period] * len(summary_rows), "member_id": [r[0] for r in summary_rows],
                        "bonus": [r[1] for r in summary_rows], "amount": [r[2] for r in summary_rows]},
                       schema=LINE_SCHEMA),
        detail=pa.table([pa.array([d[k] for d in detail], f.type) for k, f in enumerate(DETAIL_SCHEMA)],
                        schema=DETAIL_SCHEMA),
        ranks=pa.table({"member_id": ids, "paid_as_rank": [names[p] for p in paid_as],
                        "highest_rank": [names[h] for h in highest]}),
        state=pa.table(state_out),
        seeded=pa.Table.from_pylist(seeded, schema=SEEDED_SCHEMA),
    )


def _parent_rows(parents: list[Any], row: dict[str, int], what: str) -> list[int]:
    """Each member's parent row (-1: none); a parent that is no member is an InputError."""
    out = []
    for i, p in enumerate(parents):
        if p is None:
            out.append(-1)
        elif p in row:
            out.append(row[p])
        else:
            raise InputError(f"member row {i}: {what} {p!r} is not a member; validate the genealogy first")
    return out


def _breadth_first(parent: list[int], children: list[list[int]]) -> list[int]:
    """Roots first, then each level: parents always before their children (no recursion)."""
    queue = deque(i for i, p in enumerate(parent) if p < 0)
    order = []
    while queue:
        m = queue.popleft()
        order.append(m)
        queue.extend(children[m])
    if len(order) != len(parent):
        raise InputError("the genealogy has a cycle: validate it first")
    return order


def _meets(rank: Any, own_pv: int, kids: list[int], leg_pv: list[int], leg_best: list[int], names: list[str]) -> bool:
    if rank.min_pv is not None and own_pv < rank.min_pv:
        return False
    if rank.min_gv is not None:
        cap = rank.min_gv * rank.max_leg_share_bp
        if BP * own_pv + sum(min(BP * leg_pv[k], cap) for k in kids) < BP * rank.min_gv:
            return False
    if rank.legs:
        need = names.index(rank.leg_rank)
        if sum(1 for k in kids if leg_best[k] >= need) < rank.legs:
            return False
    return True


def _binary(s: dict[str, Any], ids: list[str], sponsor: list[int], placement: list[int], legs: list[Any],
            bv: list[int], active: list[bool], paid_as: list[int], names: list[str],
            carry_in: list[tuple[int, int]], rounding: str, quirks: Quirks, period: str,
            detail: list[tuple[Any, ...]]) -> tuple[list[int], list[tuple[int, int]]]:
    n = len(ids)
    child: list[dict[str, int]] = [{} for _ in range(n)]
    kids: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(placement):
        if p >= 0:
            child[p][legs[i]] = i
            kids[p].append(i)
    order = _breadth_first(placement, kids)
    subtree_bv = list(bv)
    for m in reversed(order):
        for k in kids[m]:
            subtree_bv[m] += subtree_bv[k]
    # Entry and exit times of a walk over the placement tree: x is under c when enter[c] <= enter[x] < leave[c].
    enter, leave = [0] * n, [0] * n
    clock = 0
    stack = [(m, False) for m in reversed(order) if placement[m] < 0]
    while stack:
        m, done = stack.pop()
        if done:
            leave[m] = clock
            continue
        enter[m] = clock
        clock += 1
        stack.append((m, True))
        stack.extend((k, False) for k in kids[m])
    sponsored = [[False, False] for _ in range(n)]
    for x in range(n):
        s_row = sponsor[x]
        if s_row < 0 or not active[x]:
            continue
        for side, leg in enumerate(("L", "R")):
            c = child[s_row].get(leg)
            if c is not None and enter[c] <= enter[x] < leave[c]:
                sponsored[s_row][side] = True
    caps = s["cap_by_rank"] if quirks.binary_cap else {}
    pay, carry = [0] * n, list(carry_in)
    for m in range(n):
        left = carry_in[m][0] + (subtree_bv[child[m]["L"]] if "L" in child[m] else 0)
        right = carry_in[m][1] + (subtree_bv[child[m]["R"]] if "R" in child[m] else 0)
        qualified = (active[m] or not s["requires_active"]) and (
            not s["requires_sponsored_legs"] or all(sponsored[m]))
        if qualified:
            if min(left, right) > 0:
                matched = min(left, right) // s["pair_unit"] * s["pair_unit"]
                amount = round_bp(matched * s["rate_bp"], rounding)
                cap = caps.get(names[paid_as[m]])
                if cap is not None:
                    amount = min(amount, cap)
                left, right = left - matched, right - matched
                pay[m] = amount
                if amount:
                    detail.append((period, ids[m], "binary", None, None, None, matched, s["rate_bp"], amount))
        elif s["unqualified"] == "flush":
            left, right = 0, 0
        if s["carry_cap"] > 0:
            left, right = min(left, s["carry_cap"]), min(right, s["carry_cap"])
        carry[m] = (left, right)
    return pay, carry


def _levels(s: dict[str, Any], bonus: str, ids: list[str], sponsor: list[int], base: list[int],
            active: list[bool], paid_as: list[int], names: list[str], rounding: str, quirks: Quirks, period: str,
            detail: list[tuple[Any, ...]]) -> dict[int, int]:
    rates = s["rates_bp"]
    compress = s["compression"] if quirks.compression is None else quirks.compression
    depth = s["depth_by_rank"] if quirks.depth_by_rank else {}
    numerators: dict[int, int] = {}
    shares: dict[int, list[tuple[int, int, int, int]]] = {}
    for x in range(len(ids)):
        b = base[x]
        if b == 0:
            continue
        level = generation = 0
        up = sponsor[x]
        while up >= 0 and level < len(rates):
            generation += 1
            is_active = active[up] or not s["requires_active"]
            if compress and not is_active:
                up = sponsor[up]
                continue
            level += 1
            limit = depth.get(names[paid_as[up]])
            if is_active and (limit is None or level <= limit):
                numerators[up] = numerators.get(up, 0) + b * rates[level - 1]
                shares.setdefault(up, []).append((x, generation, level, rates[level - 1]))
            up = sponsor[up]
    for up in sorted(shares):
        for x, generation, level, rate in shares[up]:
            detail.append((period, ids[up], bonus, ids[x], generation, level, base[x], rate,
                           round_bp(base[x] * rate, rounding)))
    return {m: round_bp(v, rounding) for m, v in numerators.items()}


def _seed_errors(summary: list[tuple[tuple[int, str], int]], ids: list[str], plan: Plan, period: str,
                 quirks: Quirks) -> tuple[list[tuple[str, str, int]], list[dict[str, Any]]]:
    """Applies the seeded errors of ``quirks`` to the summary lines (the same seed and period: the same
    lines, in every version)."""
    rows = [(ids[m], bonus, amount) for (m, bonus), amount in summary]
    seeded: list[dict[str, Any]] = []
    if not (quirks.wrong_lines or quirks.missing_lines or quirks.extra_lines) or not rows:
        return rows, seeded
    rng = np.random.default_rng([quirks.seed, zlib.crc32(period.encode())])
    touched = rng.choice(len(rows), size=min(len(rows), quirks.wrong_lines + quirks.missing_lines), replace=False)
    dropped = set()
    for k, at in enumerate(touched.tolist()):
        member, bonus, amount = rows[at]
        if k < quirks.wrong_lines:
            delta = int(rng.integers(1, 500)) * (1 if rng.random() < 0.5 else -1)
            while amount + delta == 0:  # the wrong line stays a line, and stays wrong (delta is never 0)
                delta = int(rng.integers(1, 500))
            rows[at] = (member, bonus, amount + delta)
            seeded.append({"period": period, "member_id": member, "bonus": bonus, "kind": "wrong_amount",
                           "correct_amount": amount, "legacy_amount": amount + delta})
        else:
            dropped.add(at)
            seeded.append({"period": period, "member_id": member, "bonus": bonus, "kind": "missing_line",
                           "correct_amount": amount, "legacy_amount": None})
    rows = [r for i, r in enumerate(rows) if i not in dropped]
    paid = {(m, b) for m, b, _ in rows} | {(s["member_id"], s["bonus"]) for s in seeded}
    free = len(ids) * len(plan.bonus_names) - len(paid)
    for _ in range(min(free, quirks.extra_lines)):
        while True:  # a random member and bonus without a line (most have none)
            member = ids[int(rng.integers(len(ids)))]
            bonus = plan.bonus_names[int(rng.integers(len(plan.bonus_names)))]
            if (member, bonus) not in paid:
                break
        paid.add((member, bonus))
        amount = int(rng.integers(100, 5_000))
        rows.append((member, bonus, amount))
        seeded.append({"period": period, "member_id": member, "bonus": bonus, "kind": "extra_line",
                       "correct_amount": None, "legacy_amount": amount})
    return rows, seeded
