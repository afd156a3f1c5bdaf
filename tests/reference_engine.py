"""A slow, plain-Python reference of one commission period (compensation plan semantics, version 2,
which keeps every version 1 plan and result).

It is a test oracle for ``mlm_core``'s engine: every function is a direct transcription of one rule of
``compensation-plan.md`` / ``compensation-plan-v2.md``, written for clarity rather than speed. Only ``int``
and ``fractions.Fraction`` are used on the money path (never a float); trees are walked by following parent
pointers upward in plain loops, one member at a time (no recursion: a sponsor chain may be thousands deep).

Entry points:

* :func:`load_plan` — ``tomllib`` on a path or on TOML text;
* :func:`run_period_reference` — one period: ``(plan, members, volumes, state, attributes) -> result``.

Steps of a period, in order (each in its own function below):

1. period sums per member of every volume column (``pv``, ``bv`` and the declared ``[volumes] columns``,
   with their sign); the period's member attributes (status override, tier, rank override); activity;
2. paid-as ranks, bottom-up in the sponsor tree (deepest members first; a rank override is the paid-as
   rank and uplines' ``leg_rank`` sees it; an ``assigned`` rank is never met by requirements), and highest
   ranks;
3. the bonuses, in plan order: the version 1 sections (``[binary]``, ``[unilevel]``, ``[matching]``), then
   the ``[[bonus]]`` entries in file order. The bonus list is data (:class:`Bonus`, one entry per bonus
   with a ``type`` that picks the function in :data:`BONUS_TYPES`: ``binary`` (placement tree, carries per
   bonus), ``unilevel`` (sponsor tree, base a volume column), ``matching`` (sponsor tree, base = an
   earlier binary bonus's pay after its caps), ``differential`` (stair-step up the sponsor tree),
   ``rebate`` (own base));
4. commission lines, ranks, next state and summary.

Readings of the specification that the reference makes (and that its tests pin down):

* Unilevel / matching **breakage** (summary): the sum of the numerators ``base * rate_bp`` of every share
  attributed to an upline that occupies a level but is not paid (inactive without compression, or level
  beyond its ``depth_by_rank``), floor-divided by 10 000 once at the end, per bonus. Levels above the root
  or beyond ``len(rates_bp)`` are not breakage; inactive uplines skipped by compression are not either.
* Binary breakage (summary): the sum over members of (what the consumed pairs would have paid before the
  pair cap and the rank cap, rounded as pay is - pay after the caps). With ``over_cap = "flush"`` the
  consumed pairs are all pairs, with ``"carry"`` the paid pairs; without a pair cap this is version 1's
  (pay before the rank cap - pay after it). Differential and rebate report no breakage (0).
* State carries are keyed by ``(bonus name, member_id)``; a plain ``member_id`` key is version 1's form
  for the bonus named ``binary`` (in the input and in the output, where ``binary`` carries are always
  listed for every member, as in version 1). Carries of a bonus that is not a binary bonus of the plan
  are passed on unchanged, for every member ((0, 0) when absent).
* Attributes: ``{member_id: {"status", "tier", "rank_override"}}``, each key optional, ``None`` = null.
  A rank override gives the paid-as rank whatever the status; activity is unchanged. The attribute status
  replaces the genealogy's everywhere (activity, ranks, ``requires_sponsored_legs``).
* Version 2 plan checks: ``[volumes] columns`` are unique lower-case identifiers other than ``pv``,
  ``bv``, ``member_id`` and ``period``; tier names are unique; ``[periods]`` is validated (choices and an
  IANA time zone) and not used.
* ``summary.paid[bonus]`` is the sum of that bonus's (rounded) line amounts; the three version 1 bonus names
  are always present (0 when the plan lacks the section), then every ``[[bonus]]`` name.
* A member absent from ``state`` has carries (0, 0) and highest rank ``Member``; a state highest-rank name
  the plan does not define counts as ``Member`` (version 2 says so; version 1 is silent). State entries of
  ids that are not in the genealogy are not carried forward.
* The payout ratio of the specification's summary is not in the result dict (whose shape is fixed for the
  tests); :func:`payout_ratio` computes it exactly from a summary.
* A key of ``cap_by_rank`` or ``depth_by_rank`` that names no rank is a plan error (version 1 is silent;
  version 2 lists it among the plan errors).
* Keys the specification gives no default for are required: ``ranks[].name``, one of ``rate_bp`` and
  ``pay_per_pair`` of a binary bonus, ``rates_bp`` of unilevel and matching, ``rate_bp`` of a rebate, and
  ``name`` / ``type`` of a ``[[bonus]]`` entry. Rank names must be unique and may not be ``Member``
  (index 0, implicit).
* Only the bonus amounts are checked against the int64 range (``AmountOverflowError``); intermediate
  sums are exact Python integers.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import tomllib

MEMBER = "Member"
BP = 10_000
LEGS = ("L", "R")
ROUNDING_MODES = ("floor", "half_up", "half_even")
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: The version 1 sections that are bonuses, in computation (and line) order.
V1_BONUS_SECTIONS = ("binary", "unilevel", "matching")


class PlanError(ValueError):
    """The plan breaks a rule of the plan format (the message names the key)."""


class InputError(ValueError):
    """The period's input is wrong: e.g. volume rows of members that are not in the genealogy (``ids``)."""

    def __init__(self, message: str, ids: list | None = None) -> None:
        super().__init__(message)
        self.ids = list(ids or [])


class AmountOverflowError(ValueError, OverflowError):
    """A bonus amount does not fit int64."""


# --- plan --------------------------------------------------------------------------------------------


def load_plan(path_or_text: str | Path) -> dict:
    """The dict ``tomllib`` gives for a plan: from a ``Path``, from a path string naming an existing file,
    or else from TOML text."""
    if isinstance(path_or_text, Path):
        return tomllib.loads(path_or_text.read_text(encoding="utf-8"))
    text = str(path_or_text)
    if "\n" not in text and Path(text).is_file():
        return tomllib.loads(Path(text).read_text(encoding="utf-8"))
    return tomllib.loads(text)


@dataclass(frozen=True)
class Rank:
    """One ``[[ranks]]`` entry. ``None`` means the requirement is absent (not checked). An ``assigned``
    rank (version 2) is never reached by requirements: only a ``rank_override`` gives it."""

    name: str
    min_pv: int | None
    min_gv: int | None
    max_leg_share_bp: int
    legs: int
    leg_rank: str | None
    assigned: bool = False


@dataclass(frozen=True)
class BinarySpec:
    rate_bp: int | None  # exactly one of rate_bp and pay_per_pair is given
    pair_unit: int
    carry_cap: int  # 0 = no cap
    requires_active: bool
    requires_sponsored_legs: bool
    unqualified: str  # "carry" | "flush"
    cap_by_rank: dict  # rank name -> cap; a rank not named has no cap
    # version 2
    pay_per_pair: int | None = None
    max_pairs_by_tier: dict = field(default_factory=dict)  # tier -> max paid pairs; a tier not named: no cap
    over_cap: str = "flush"  # "flush" | "carry"
    requires_tier: bool = False
    pay_on: str = "period"  # "period" | "new_volume"
    base: str = "bv"  # volume column


@dataclass(frozen=True)
class LevelSpec:
    """Unilevel and matching: a per-level walk up the sponsor tree."""

    rates_bp: tuple[int, ...]
    compression: bool
    depth_by_rank: dict  # rank name -> deepest paid level; a rank not named is paid on every level
    base: str  # a volume column (unilevel) or the name of an earlier binary bonus (matching)
    requires_active: bool = True  # version 2: False treats every upline as active


@dataclass(frozen=True)
class DifferentialSpec:
    rate_bp_by_rank: dict  # rank name -> rate; a rank not named has rate 0
    include_self: bool
    requires_active: bool
    base: str


@dataclass(frozen=True)
class RebateSpec:
    rate_bp: int
    requires_active: bool
    base: str


@dataclass(frozen=True)
class Bonus:
    name: str  # the ``bonus`` value of its lines
    type: str  # key of BONUS_TYPES
    spec: Any


@dataclass(frozen=True)
class Plan:
    rounding: str
    activity_min_pv: int
    ranks: tuple[Rank, ...]  # lowest to highest, WITHOUT the implicit Member
    bonuses: tuple[Bonus, ...]  # computation order
    volume_columns: tuple[str, ...] = ()  # declared columns beside pv and bv
    tiers: tuple[str, ...] = ()

    @property
    def rank_names(self) -> list[str]:
        """Index 0 is ``Member``; index i is ``ranks[i-1]``."""
        return [MEMBER] + [r.name for r in self.ranks]

    def rank_index(self, name: str) -> int:
        return self.rank_names.index(name)


_BINARY_KEYS = {
    "rate_bp": "int",
    "pair_unit": "int",
    "carry_cap": "int",
    "requires_active": "bool",
    "requires_sponsored_legs": "bool",
    "unqualified": "str",
    "cap_by_rank": "int_table",
    # version 2
    "pay_per_pair": "int",
    "max_pairs_by_tier": "int_table",
    "over_cap": "str",
    "requires_tier": "bool",
    "pay_on": "str",
    "base": "str",
}
_LEVEL_KEYS = {
    "rates_bp": "int_list",
    "compression": "bool",
    "depth_by_rank": "int_table",
    "requires_active": "bool",  # version 2
}

# The keys each section may hold, with their kinds. Anything else is a plan error.
PLAN_KEYS = {
    "plan": {"name": "str", "currency": "str", "rounding": "str"},
    "activity": {"min_pv": "int"},
    "binary": _BINARY_KEYS,
    "unilevel": {**_LEVEL_KEYS, "base": "str"},
    "matching": dict(_LEVEL_KEYS),  # [matching] takes no base: it matches [binary]
    # version 2
    "volumes": {"columns": "str_list"},
    "tiers": {"names": "str_list"},
    "periods": {"length": "str", "timezone": "str", "week_starts": "str", "effective": "str", "clawback": "str"},
}
RANK_KEYS = {
    "name": "str",
    "min_pv": "int",
    "min_gv": "int",
    "max_leg_share_bp": "int",
    "legs": "int",
    "leg_rank": "str",
    "assigned": "bool",  # version 2
}
#: Version 2 ``[[bonus]]`` entries: the keys of each type (besides ``name`` and ``type``).
BONUS_KEYS = {
    "binary": _BINARY_KEYS,
    "unilevel": {**_LEVEL_KEYS, "base": "str"},
    "matching": {**_LEVEL_KEYS, "base": "str"},
    "differential": {"rate_bp_by_rank": "int_table", "include_self": "bool", "requires_active": "bool",
                     "base": "str"},
    "rebate": {"rate_bp": "int", "requires_active": "bool", "base": "str"},
}
#: ``[periods]`` choices (validated only; the engine does not compute with them).
PERIOD_CHOICES = {
    "length": ("day", "week", "month"),
    "week_starts": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "effective": ("paid", "paid_or_placed"),
    "clawback": ("next_period", "none"),
}


def _is_plan_int(value: object) -> bool:
    """A plan number: an int (not a bool, not a float) that is not negative."""
    return type(value) is int and value >= 0


def _check_kind(where: str, value: object, kind: str) -> None:
    ok = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": _is_plan_int,
        "int_list": lambda v: isinstance(v, list) and all(_is_plan_int(x) for x in v),
        "int_table": lambda v: isinstance(v, dict) and all(_is_plan_int(x) for x in v.values()),
        "str_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    }[kind](value)
    if not ok:
        expected = {
            "str": "a string",
            "bool": "a boolean",
            "int": "a non-negative integer",
            "int_list": "an array of non-negative integers",
            "int_table": "a table of non-negative integers",
            "str_list": "an array of strings",
        }[kind]
        raise PlanError(f"{where}: expected {expected}")


def _check_keys(where: str, table: object, allowed: dict) -> dict:
    if not isinstance(table, dict):
        raise PlanError(f"{where}: expected a table")
    for key, value in table.items():
        if key not in allowed:
            raise PlanError(f"{where}.{key}: unknown key")
        _check_kind(f"{where}.{key}", value, allowed[key])
    return table


def _check_rank_keys(where: str, table: dict, names: list[str]) -> None:
    """A key of ``cap_by_rank`` / ``depth_by_rank`` / ``rate_bp_by_rank`` must name a rank (``Member``
    included)."""
    for key in table:
        if key not in names:
            raise PlanError(f"{where}.{key}: no rank named {key!r}")


def _choice(where: str, table: dict, key: str, default: str, choices: tuple) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise PlanError(f"{where}.{key}: unknown value {value!r}")
    return value


def _parse_periods(t: dict) -> None:
    """``[periods]``: validated, never used to compute."""
    for key, choices in PERIOD_CHOICES.items():
        if key in t:
            _choice("periods", t, key, "", choices)
    if "timezone" in t:
        try:
            zoneinfo.ZoneInfo(t["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise PlanError(f"periods.timezone: unknown time zone {t['timezone']!r}") from error


def _binary_spec(where: str, t: dict, names: list[str], tiers: list[str], columns: list[str]) -> BinarySpec:
    if ("rate_bp" in t) == ("pay_per_pair" in t):
        raise PlanError(f"{where}.rate_bp: give exactly one of rate_bp and pay_per_pair")
    pair_unit = t.get("pair_unit", 1)
    if pair_unit < 1:
        raise PlanError(f"{where}.pair_unit: must be at least 1")
    spec = BinarySpec(
        rate_bp=t.get("rate_bp"),
        pair_unit=pair_unit,
        carry_cap=t.get("carry_cap", 0),
        requires_active=t.get("requires_active", True),
        requires_sponsored_legs=t.get("requires_sponsored_legs", False),
        unqualified=_choice(where, t, "unqualified", "carry", ("carry", "flush")),
        cap_by_rank=dict(t.get("cap_by_rank", {})),
        pay_per_pair=t.get("pay_per_pair"),
        max_pairs_by_tier=dict(t.get("max_pairs_by_tier", {})),
        over_cap=_choice(where, t, "over_cap", "flush", ("flush", "carry")),
        requires_tier=t.get("requires_tier", False),
        pay_on=_choice(where, t, "pay_on", "period", ("period", "new_volume")),
        base=_column_base(where, t, columns),
    )
    _check_rank_keys(f"{where}.cap_by_rank", spec.cap_by_rank, names)
    for key in spec.max_pairs_by_tier:
        if key not in tiers:
            raise PlanError(f"{where}.max_pairs_by_tier.{key}: no tier named {key!r}")
    return spec


def _column_base(where: str, t: dict, columns: list[str]) -> str:
    base = t.get("base", "bv")
    if base not in ("pv", "bv", *columns):
        raise PlanError(f"{where}.base: {base!r} is neither pv, bv nor a declared volume column")
    return base


def _level_spec(where: str, t: dict, names: list[str], base: str) -> LevelSpec:
    if "rates_bp" not in t:
        raise PlanError(f"{where}.rates_bp: missing")
    spec = LevelSpec(
        rates_bp=tuple(t["rates_bp"]),
        compression=t.get("compression", True),
        depth_by_rank=dict(t.get("depth_by_rank", {})),
        base=base,
        requires_active=t.get("requires_active", True),
    )
    _check_rank_keys(f"{where}.depth_by_rank", spec.depth_by_rank, names)
    return spec


def _bonus_entry(where: str, entry: object, names: list[str], tiers: list[str], columns: list[str],
                 earlier: list[Bonus]) -> Bonus:
    """One version 2 ``[[bonus]]`` entry."""
    if not isinstance(entry, dict):
        raise PlanError(f"{where}: expected a table")
    for key in ("name", "type"):
        if key not in entry:
            raise PlanError(f"{where}.{key}: missing")
        _check_kind(f"{where}.{key}", entry[key], "str")
    kind = entry["type"]
    if kind not in BONUS_KEYS:
        raise PlanError(f"{where}.type: unknown bonus type {kind!r}")
    t = {k: v for k, v in entry.items() if k not in ("name", "type")}
    _check_keys(where, t, BONUS_KEYS[kind])
    if kind == "binary":
        spec: Any = _binary_spec(where, t, names, tiers, columns)
    elif kind == "unilevel":
        spec = _level_spec(where, t, names, _column_base(where, t, columns))
    elif kind == "matching":
        base = t.get("base", "binary")
        if not any(b.name == base and b.type == "binary" for b in earlier):
            raise PlanError(f"{where}.base: {base!r} is not a binary bonus defined earlier")
        spec = _level_spec(where, t, names, base)
    elif kind == "differential":
        spec = DifferentialSpec(
            rate_bp_by_rank=dict(t.get("rate_bp_by_rank", {})),
            include_self=t.get("include_self", False),
            requires_active=t.get("requires_active", True),
            base=_column_base(where, t, columns),
        )
        _check_rank_keys(f"{where}.rate_bp_by_rank", spec.rate_bp_by_rank, names)
    else:  # rebate
        if "rate_bp" not in t:
            raise PlanError(f"{where}.rate_bp: missing")
        spec = RebateSpec(rate_bp=t["rate_bp"], requires_active=t.get("requires_active", False),
                          base=_column_base(where, t, columns))
    return Bonus(entry["name"], kind, spec)


def parse_plan(raw: dict) -> Plan:
    """Check a plan dict against version 2 of the format (version 1 plans included) and apply its
    defaults."""
    for section in raw:
        if section not in PLAN_KEYS and section not in ("ranks", "bonus"):
            raise PlanError(f"{section}: unknown section")
    plan_t = _check_keys("plan", raw.get("plan", {}), PLAN_KEYS["plan"])
    activity_t = _check_keys("activity", raw.get("activity", {}), PLAN_KEYS["activity"])
    volumes_t = _check_keys("volumes", raw.get("volumes", {}), PLAN_KEYS["volumes"])
    tiers_t = _check_keys("tiers", raw.get("tiers", {}), PLAN_KEYS["tiers"])
    _parse_periods(_check_keys("periods", raw.get("periods", {}), PLAN_KEYS["periods"]))

    rounding = plan_t.get("rounding", "floor")
    if rounding not in ROUNDING_MODES:
        raise PlanError(f"plan.rounding: unknown rounding {rounding!r}")

    columns = list(volumes_t.get("columns", []))
    for i, column in enumerate(columns):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", column) or column in ("pv", "bv", "member_id", "period") \
                or columns.index(column) != i:
            raise PlanError(f"volumes.columns[{i}]: {column!r} is not a new lower-case identifier")
    tiers = list(tiers_t.get("names", []))
    if len(set(tiers)) != len(tiers):
        raise PlanError("tiers.names: tier names must be unique")

    ranks_raw = raw.get("ranks", [])
    if not isinstance(ranks_raw, list):
        raise PlanError("ranks: expected an array of tables")
    ranks = []
    for i, entry in enumerate(ranks_raw):
        where = f"ranks[{i}]"
        _check_keys(where, entry, RANK_KEYS)
        if "name" not in entry:
            raise PlanError(f"{where}.name: missing")
        if entry.get("assigned", False):
            for key in ("min_pv", "min_gv", "max_leg_share_bp", "legs", "leg_rank"):
                if key in entry:
                    raise PlanError(f"{where}.{key}: an assigned rank takes no requirement")
        if ("legs" in entry) != ("leg_rank" in entry):
            raise PlanError(f"{where}: legs and leg_rank go together")
        ranks.append(
            Rank(
                name=entry["name"],
                min_pv=entry.get("min_pv"),
                min_gv=entry.get("min_gv"),
                max_leg_share_bp=entry.get("max_leg_share_bp", BP),
                legs=entry.get("legs", 0),
                leg_rank=entry.get("leg_rank"),
                assigned=entry.get("assigned", False),
            )
        )
    names = [MEMBER] + [r.name for r in ranks]
    if len(set(names)) != len(names):
        raise PlanError("ranks: rank names must be unique and not 'Member'")
    for i, r in enumerate(ranks):
        if r.leg_rank is not None and r.leg_rank not in names:
            raise PlanError(f"ranks[{i}].leg_rank: no rank named {r.leg_rank!r}")

    bonuses: list[Bonus] = []
    if "binary" in raw:
        t = _check_keys("binary", raw["binary"], PLAN_KEYS["binary"])
        bonuses.append(Bonus("binary", "binary", _binary_spec("binary", t, names, tiers, columns)))
    if "unilevel" in raw:
        t = _check_keys("unilevel", raw["unilevel"], PLAN_KEYS["unilevel"])
        spec = _level_spec("unilevel", t, names, _column_base("unilevel", t, columns))
        bonuses.append(Bonus("unilevel", "unilevel", spec))
    if "matching" in raw:
        # The shorthand matches [binary]; without [binary] it stays valid and pays nothing (version 1).
        t = _check_keys("matching", raw["matching"], PLAN_KEYS["matching"])
        bonuses.append(Bonus("matching", "matching", _level_spec("matching", t, names, "binary")))
    entries = raw.get("bonus", [])
    if not isinstance(entries, list):
        raise PlanError("bonus: expected an array of tables")
    for i, entry in enumerate(entries):
        bonus = _bonus_entry(f"bonus[{i}]", entry, names, tiers, columns, bonuses)
        if any(b.name == bonus.name for b in bonuses):
            raise PlanError(f"bonus[{i}].name: a bonus named {bonus.name!r} is defined already")
        bonuses.append(bonus)

    return Plan(
        rounding=rounding,
        activity_min_pv=activity_t.get("min_pv", 0),
        ranks=tuple(ranks),
        bonuses=tuple(bonuses),
        volume_columns=tuple(columns),
        tiers=tuple(tiers),
    )


# --- rounding ----------------------------------------------------------------------------------------


def round_amount(x: Fraction, mode: str) -> int:
    """Round an exact rational to an integer: ``floor`` (toward -inf), ``half_up`` (halves away from zero)
    or ``half_even`` (halves to the even neighbour)."""
    x = Fraction(x)
    q, r = divmod(x.numerator, x.denominator)  # q = floor(x); 0 <= r < denominator
    if mode == "floor" or r == 0:
        return q
    twice_r = 2 * r
    if twice_r < x.denominator:  # fractional part below one half
        return q
    if twice_r > x.denominator:  # above one half
        return q + 1
    # exactly one half: q and q + 1 are equally near
    if mode == "half_up":
        return q + 1 if x > 0 else q  # away from zero
    if mode == "half_even":
        return q if q % 2 == 0 else q + 1
    raise PlanError(f"unknown rounding {mode!r}")


def check_int64(what: str, value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise AmountOverflowError(f"{what} = {value} does not fit int64")
    return value


# --- the period's facts ------------------------------------------------------------------------------


@dataclass
class Period:
    """Genealogy, volumes, attributes and activity of one period, keyed by member id."""

    ids: list  # row order
    sponsor: dict
    placement: dict
    leg: dict
    status: dict  # the genealogy's status, replaced by a non-null attribute status (version 2)
    pv: dict
    bv: dict
    active: dict
    columns: dict = field(default_factory=dict)  # column name -> member -> period sum (pv and bv included)
    tier: dict = field(default_factory=dict)  # member -> tier name (absent: no package)
    rank_override: dict = field(default_factory=dict)  # member -> rank name (absent: none)

    def sponsor_uplines(self, member) -> Iterator:
        """The sponsor line above ``member``, nearest first, up to the root."""
        up = self.sponsor[member]
        while up is not None:
            yield up
            up = self.sponsor[up]

    def sponsor_uplines_with_leg(self, member) -> Iterator[tuple]:
        """``(upline, leg)`` for each sponsor upline, where ``leg`` is the upline's personally sponsored
        member on the path down to ``member`` (the sponsor leg ``member`` belongs to)."""
        child = member
        while self.sponsor[child] is not None:
            yield self.sponsor[child], child
            child = self.sponsor[child]

    def placement_uplines_with_side(self, member) -> Iterator[tuple]:
        """``(upline, "L" | "R")`` for each placement upline: which of the upline's two subtrees holds
        ``member``."""
        child = member
        while self.placement[child] is not None:
            yield self.placement[child], self.leg[child]
            child = self.placement[child]


ATTRIBUTE_KEYS = ("status", "tier", "rank_override")


def build_period(plan: Plan, members: list[dict], volumes: list[dict], attributes: dict | None = None) -> Period:
    ids = [m["member_id"] for m in members]
    known = set(ids)
    unknown = []
    for row in volumes:
        if row["member_id"] not in known and row["member_id"] not in unknown:
            unknown.append(row["member_id"])
    if unknown:
        raise InputError(f"volume rows of members not in the genealogy: {unknown!r}", unknown)
    # Volume columns (version 2): exactly member_id, pv, bv and the declared columns; nothing is ignored.
    names = ("pv", "bv", *plan.volume_columns)
    for row in volumes:
        missing = [c for c in names if c not in row]
        extra = [c for c in row if c != "member_id" and c not in names]
        if missing or extra:
            raise InputError(f"volume row {row!r}: missing columns {missing}, undeclared columns {extra}")
    columns = {c: dict.fromkeys(ids, 0) for c in names}
    for row in volumes:
        for c in names:
            columns[c][row["member_id"]] += row[c]

    status = {m["member_id"]: m["status"] for m in members}
    tier: dict = {}
    rank_override: dict = {}
    attributes = attributes or {}
    bad_ids = [m for m in attributes if m not in known]
    if bad_ids:
        raise InputError(f"attributes of members not in the genealogy: {bad_ids!r}", bad_ids)
    for m, attrs in attributes.items():
        for key, value in attrs.items():
            if key not in ATTRIBUTE_KEYS:
                raise InputError(f"attributes of {m!r}: unknown attribute {key!r}")
            if value is None:
                continue  # null: the genealogy's status, no tier, no override
            if key == "status":
                status[m] = value
            elif key == "tier":
                if value not in plan.tiers:
                    raise InputError(f"attributes of {m!r}: {value!r} names no tier of the plan", [m])
                tier[m] = value
            else:
                if value not in plan.rank_names:
                    raise InputError(f"attributes of {m!r}: {value!r} names no rank of the plan", [m])
                rank_override[m] = value

    pv, bv = columns["pv"], columns["bv"]
    # Activity: status "active" AND period PV >= activity.min_pv.
    active = {i: status[i] == "active" and pv[i] >= plan.activity_min_pv for i in ids}
    return Period(
        ids=ids,
        sponsor={m["member_id"]: m["sponsor_id"] for m in members},
        placement={m["member_id"]: m["placement_id"] for m in members},
        leg={m["member_id"]: m["leg"] for m in members},
        status=status,
        pv=pv,
        bv=bv,
        active=active,
        columns=columns,
        tier=tier,
        rank_override=rank_override,
    )


# --- ranks -------------------------------------------------------------------------------------------


def sponsor_depths(period: Period) -> dict:
    """Levels below the root in the sponsor tree (root 0): walk up until a known depth, then fill in."""
    depth: dict = {}
    for m in period.ids:
        path = []
        x = m
        while x is not None and x not in depth:
            path.append(x)
            x = period.sponsor[x]
        d = -1 if x is None else depth[x]
        for y in reversed(path):
            d += 1
            depth[y] = d
    return depth


def meets_rank(rank: Rank, own_pv: int, leg_pv: dict, leg_best: dict, plan: Plan) -> bool:
    """One rank tested on its own. ``leg_pv[c]`` / ``leg_best[c]``: total PV and highest paid-as rank
    index of the leg headed by the personally sponsored member ``c``. An absent requirement passes; an
    assigned rank is never met."""
    if rank.assigned:
        return False
    if rank.min_pv is not None and not own_pv >= rank.min_pv:
        return False
    if rank.min_gv is not None:
        cap_numerator = rank.min_gv * rank.max_leg_share_bp  # leg cap * 10000, never rounded
        lhs = BP * own_pv + sum(min(BP * p, cap_numerator) for p in leg_pv.values())
        if not lhs >= BP * rank.min_gv:
            return False
    if rank.legs > 0:
        needed = plan.rank_index(rank.leg_rank)
        qualifying_legs = sum(1 for best in leg_best.values() if best >= needed)
        if not qualifying_legs >= rank.legs:
            return False
    return True


def resolve_ranks(plan: Plan, period: Period) -> dict:
    """Paid-as rank index of every member, resolved bottom-up (a member after its whole downline). A
    ``rank_override`` is the paid-as rank whatever the requirements and status; uplines see it."""
    # PV of each sponsor leg: every member's PV goes to the leg it belongs to, for each of its uplines.
    leg_pv: dict = {m: {} for m in period.ids}
    for x in period.ids:
        for up, leg in period.sponsor_uplines_with_leg(x):
            leg_pv[up][leg] = leg_pv[up].get(leg, 0) + period.pv[x]

    depth = sponsor_depths(period)
    order = sorted(period.ids, key=lambda m: -depth[m])  # deepest first
    leg_best: dict = {m: {} for m in period.ids}  # filled in as members' ranks are resolved
    paid_as: dict = {}
    for m in order:
        # Everyone below m is deeper, hence already resolved and recorded in leg_best[m].
        assert set(leg_best[m]) == set(leg_pv[m])
        rank = 0
        if m in period.rank_override:
            rank = plan.rank_index(period.rank_override[m])
        elif period.status[m] == "active":  # any other status is Member, whatever the requirements
            for index, r in enumerate(plan.ranks, start=1):
                if meets_rank(r, period.pv[m], leg_pv[m], leg_best[m], plan):
                    rank = index  # ranks ascend, so the last one met is the highest
        paid_as[m] = rank
        for up, leg in period.sponsor_uplines_with_leg(m):
            leg_best[up][leg] = max(leg_best[up].get(leg, 0), rank)
    return paid_as


# --- bonuses -----------------------------------------------------------------------------------------


@dataclass
class BonusResult:
    amounts: dict  # member -> rounded amount (zeros allowed; lines keep only non-zero ones)
    breakage: int
    carries: dict | None = None  # binary only: member -> (L, R) for the next period


@dataclass
class Context:
    """What a bonus function may look at."""

    plan: Plan
    period: Period
    paid_as: dict  # member -> rank index
    carries_in: dict  # (bonus name, member) -> (L, R) from the previous state
    results: dict  # bonus name -> BonusResult of the bonuses computed so far

    def rank_name(self, member) -> str:
        return self.plan.rank_names[self.paid_as[member]]


def compute_binary(ctx: Context, bonus: Bonus) -> BonusResult:
    """Binary bonus, steps 1-6 of the specification (with version 2's additions), for every member.

    Breakage (a reading): per member, what the consumed pairs would have paid before the pair cap and the
    rank cap (rounded, as pay is) minus what was paid; summed over members."""
    spec: BinarySpec = bonus.spec
    period = ctx.period
    base = period.columns[spec.base]

    # Step 1: new_L / new_R = base of the whole placement subtree under each side.
    new = {m: {"L": 0, "R": 0} for m in period.ids}
    for x in period.ids:
        for up, side in period.placement_uplines_with_side(x):
            new[up][side] += base[x]

    # For requires_sponsored_legs: does side s of m's placement subtree hold an ACTIVE member whom m
    # personally sponsored? Real activity, whatever requires_active says.
    sponsored_active = {m: {"L": False, "R": False} for m in period.ids}
    for x in period.ids:
        s = period.sponsor[x]
        if s is None or not period.active[x]:
            continue
        for up, side in period.placement_uplines_with_side(x):
            if up == s:
                sponsored_active[s][side] = True
                break

    def value(pairs: int) -> int:
        if spec.pay_per_pair is not None:
            return pairs * spec.pay_per_pair
        return round_amount(Fraction(pairs * spec.pair_unit * spec.rate_bp, BP), ctx.plan.rounding)

    amounts: dict = {}
    carries: dict = {}
    breakage = 0
    for m in period.ids:
        carry_l, carry_r = ctx.carries_in.get((bonus.name, m), (0, 0))
        if spec.pay_on == "new_volume" and new[m]["L"] == 0 and new[m]["R"] == 0:
            # Passed over: no pay, carries unchanged (no flush, no carry cap).
            amounts[m] = 0
            carries[m] = (carry_l, carry_r)
            continue
        # Step 2.
        left = carry_l + new[m]["L"]
        right = carry_r + new[m]["R"]
        # Step 3.
        qualified = True
        if spec.requires_active and not period.active[m]:
            qualified = False
        if spec.requires_sponsored_legs and not (sponsored_active[m]["L"] and sponsored_active[m]["R"]):
            qualified = False
        if spec.requires_tier and m not in period.tier:
            qualified = False
        pay = 0
        if qualified:
            # Step 4.
            if min(left, right) > 0:
                pairs = min(left, right) // spec.pair_unit
                paid_pairs = pairs
                max_pairs = spec.max_pairs_by_tier.get(period.tier.get(m))
                if max_pairs is not None:
                    paid_pairs = min(pairs, max_pairs)
                consumed = pairs if spec.over_cap == "flush" else paid_pairs
                matched = consumed * spec.pair_unit
                pay = value(paid_pairs)
                cap = spec.cap_by_rank.get(ctx.rank_name(m))
                if cap is not None:
                    pay = min(pay, cap)
                breakage += value(consumed) - pay
                left -= matched  # the whole matched volume is consumed, capped or not
                right -= matched
            # else: min(L, R) <= 0: nothing matched, pay 0, L and R go on unchanged.
        else:
            # Step 5.
            if spec.unqualified == "flush":
                left, right = 0, 0
        # Step 6.
        if spec.carry_cap > 0:
            left = min(left, spec.carry_cap)  # a negative carry is below the cap: kept as it is
            right = min(right, spec.carry_cap)
        amounts[m] = check_int64(f"{bonus.name} pay of {m!r}", pay)
        carries[m] = (left, right)
    return BonusResult(amounts=amounts, breakage=breakage, carries=carries)


def compute_levels(ctx: Context, bonus: Bonus) -> BonusResult:
    """Unilevel / matching: every member's base pays up its sponsor line, ``rates_bp[k-1]`` at level k.

    Shares are kept as numerators ``base * rate_bp``, summed per earner, and divided by 10 000 (rounded)
    once per earner. Breakage numerators are summed over the whole bonus and floor-divided at the end.
    With ``requires_active = false`` every upline counts as active for this bonus."""
    spec: LevelSpec = bonus.spec
    period = ctx.period
    if bonus.type == "unilevel":
        base = period.columns[spec.base]
    elif spec.base in ctx.results:
        base = ctx.results[spec.base].amounts  # binary pay after cap
    else:
        base = {}  # e.g. [matching] in a plan without [binary]: nothing to match

    def active(member) -> bool:
        return period.active[member] or not spec.requires_active

    numerators: dict = {}
    broken = 0
    for x in period.ids:
        b = base.get(x, 0)
        level = 0
        for up in period.sponsor_uplines(x):  # never x itself: no one earns on its own base
            if spec.compression and not active(up):
                continue  # skipped: does not occupy a level
            level += 1
            if level > len(spec.rates_bp):
                break
            share = b * spec.rates_bp[level - 1]
            depth = spec.depth_by_rank.get(ctx.rank_name(up))  # None: paid on every level
            if active(up) and (depth is None or level <= depth):
                numerators[up] = numerators.get(up, 0) + share
            else:
                broken += share  # occupies the level, is not paid
    return BonusResult(amounts=_rounded(ctx, bonus, numerators), breakage=broken // BP)


def _rounded(ctx: Context, bonus: Bonus, numerators: dict) -> dict:
    """Numerators (amount x 10 000) per earner, divided and rounded once each."""
    return {
        m: check_int64(f"{bonus.name} of {m!r}", round_amount(Fraction(n, BP), ctx.plan.rounding))
        for m, n in numerators.items()
    }


def compute_differential(ctx: Context, bonus: Bonus) -> BonusResult:
    """Differential (stair-step) bonus: each member's base pays up its sponsor line the rate differences
    between successive earners. Breakage (a reading): none is reported."""
    spec: DifferentialSpec = bonus.spec
    period = ctx.period
    base = period.columns[spec.base]
    highest_rate = max(spec.rate_bp_by_rank.values(), default=0)
    numerators: dict = {}
    for m in period.ids:
        b = base[m]
        if b == 0:
            continue
        # m itself (include_self), then its sponsor line up to the root.
        line = itertools.chain([m] if spec.include_self else [], period.sponsor_uplines(m))
        paid_bp = 0
        for u in line:
            if paid_bp == highest_rate:
                break  # the top rate is paid out: the walk ends
            r = spec.rate_bp_by_rank.get(ctx.rank_name(u), 0)
            if r > paid_bp and (period.active[u] or not spec.requires_active):
                numerators[u] = numerators.get(u, 0) + b * (r - paid_bp)
                paid_bp = r
            # else: passed over, neither earns nor raises paid_bp
    return BonusResult(amounts=_rounded(ctx, bonus, numerators), breakage=0)


def compute_rebate(ctx: Context, bonus: Bonus) -> BonusResult:
    """Rebate: a member's own period base pays the member (when active, or requires_active = false).
    Breakage (a reading): none is reported."""
    spec: RebateSpec = bonus.spec
    period = ctx.period
    numerators = {
        m: period.columns[spec.base][m] * spec.rate_bp
        for m in period.ids
        if period.active[m] or not spec.requires_active
    }
    return BonusResult(amounts=_rounded(ctx, bonus, numerators), breakage=0)


#: Bonus type -> the function computing it.
BONUS_TYPES: dict[str, Callable[[Context, Bonus], BonusResult]] = {
    "binary": compute_binary,
    "unilevel": compute_levels,
    "matching": compute_levels,
    "differential": compute_differential,
    "rebate": compute_rebate,
}


# --- one period --------------------------------------------------------------------------------------


def _carries_in(state: dict) -> dict:
    """The state's carries keyed by ``(bonus name, member_id)``; a plain member id key is version 1's
    shorthand for ``("binary", member_id)``."""
    out = {}
    for key, carry in state.get("carry", {}).items():
        out[key if isinstance(key, tuple) else ("binary", key)] = tuple(carry)
    return out


def run_period_reference(plan: dict, members: list[dict], volumes: list[dict], state: dict | None,
                         attributes: dict | None = None) -> dict:
    """One commission period, per version 2 of the specification (version 1 plans included).

    ``plan``: the dict of a plan file (:func:`load_plan`); ``members``: dicts ``member_id, sponsor_id,
    placement_id, leg, status`` (a valid genealogy); ``volumes``: dicts ``member_id, pv, bv`` and every
    declared volume column; ``state``: ``None`` or ``{"carry": {key: (L, R)}, "highest": {id: rank_name}}``
    where a carry key is ``(bonus name, member_id)``, or a plain ``member_id`` for the bonus named
    ``binary`` (version 1); ``attributes``: ``None`` or ``{member_id: {"status", "tier", "rank_override"}}``
    (each key optional, ``None`` = null).

    Returns ``{"lines": [(id, bonus, amount)], "ranks": {id: (paid_as, highest)}, "state": {"carry": …,
    "highest": …}, "summary": {"total_bv", "paid", "breakage"}}``; lines are the non-zero amounts in member
    row order, then bonus order (version 1 sections, then ``[[bonus]]`` entries in file order). The next
    state's carries: every member's under plain ids for the bonus named ``binary`` (passed through when the
    plan has no such binary bonus, as in version 1), and under ``(bonus, id)`` for every other binary bonus
    of the plan and every other bonus whose carries the incoming state holds (passed on unchanged)."""
    p = parse_plan(plan)
    period = build_period(p, members, volumes, attributes)
    state = state or {}
    carries_in = _carries_in(state)
    highest_in = state.get("highest", {})

    paid_as = resolve_ranks(p, period)
    names = p.rank_names
    highest = {}
    for m in period.ids:
        previous = highest_in.get(m, MEMBER)
        previous_index = names.index(previous) if previous in names else 0  # unknown name: Member
        highest[m] = max(previous_index, paid_as[m])

    ctx = Context(plan=p, period=period, paid_as=paid_as, carries_in=carries_in, results={})
    for bonus in p.bonuses:
        ctx.results[bonus.name] = BONUS_TYPES[bonus.type](ctx, bonus)

    lines = []
    for m in period.ids:
        for bonus in p.bonuses:
            amount = ctx.results[bonus.name].amounts.get(m, 0)
            if amount != 0:
                lines.append((m, bonus.name, amount))

    binaries = {b.name for b in p.bonuses if b.type == "binary"}
    carried = ["binary", *sorted({name for name, _ in carries_in} - {"binary"}, key=str)]
    carried += [b.name for b in p.bonuses if b.type == "binary" and b.name not in carried]
    next_carry: dict = {}
    for name in carried:
        for m in period.ids:
            if name in binaries:
                carry = ctx.results[name].carries[m]
            else:  # not a binary bonus of this plan: incoming carries pass through unchanged
                carry = carries_in.get((name, m), (0, 0))
            next_carry[m if name == "binary" else (name, m)] = carry

    paid = dict.fromkeys(V1_BONUS_SECTIONS, 0)
    breakage = dict.fromkeys(V1_BONUS_SECTIONS, 0)
    for bonus in p.bonuses:
        paid[bonus.name] = sum(ctx.results[bonus.name].amounts.values())
        breakage[bonus.name] = ctx.results[bonus.name].breakage

    return {
        "lines": lines,
        "ranks": {m: (names[paid_as[m]], names[highest[m]]) for m in period.ids},
        "state": {"carry": next_carry, "highest": {m: names[highest[m]] for m in period.ids}},
        "summary": {"total_bv": sum(period.bv.values()), "paid": paid, "breakage": breakage},
    }


def payout_ratio(summary: dict) -> Fraction | None:
    """Total paid over total BV, exactly (``None`` when total BV is 0)."""
    if summary["total_bv"] == 0:
        return None
    return Fraction(sum(summary["paid"].values()), summary["total_bv"])
