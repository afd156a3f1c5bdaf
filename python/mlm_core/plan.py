"""Compensation plans: ``Plan.from_toml`` reads and checks a plan file (``compensation-plan.md``) and
compiles it once into the plain arrays the Rust engine runs on.

Every mistake is a :class:`PlanError` naming its key: an unknown section or key, a number that is not a
non-negative integer, an unknown rank name in a map, a ``leg_rank`` that names no rank, a bad rounding word.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _mlm_core
from .errors import PlanError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

MEMBER = "Member"
ROUNDING = ("floor", "half_up", "half_even")
_MISSING = object()


class _Table:
    """One TOML table being read: remembers which keys were used so that the rest can be refused."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise PlanError(f"{path} must be a table", key=path)
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise PlanError(f"{self.key(name)} is required", key=self.key(name))
        return default

    def count(self, name: str, default: Any = _MISSING, *, minimum: int = 0) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        return _count(value, self.key(name), minimum)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise PlanError(f"{self.key(name)} must be true or false, not {value!r}", key=self.key(name))
        return value

    def text(self, name: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> Any:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or not value:
            raise PlanError(f"{self.key(name)} must be a non-empty string, not {value!r}", key=self.key(name))
        if choices is not None and value not in choices:
            raise PlanError(
                f"{self.key(name)} must be one of {', '.join(choices)}, not {value!r}", key=self.key(name)
            )
        return value

    def counts(self, name: str, default: Any = _MISSING) -> list[int]:
        value = self.raw(name, default)
        if not isinstance(value, list):
            raise PlanError(f"{self.key(name)} must be a list of integers", key=self.key(name))
        return [_count(x, f"{self.key(name)}[{i}]", 0) for i, x in enumerate(value)]

    def rank_map(self, name: str, ranks: list[str]) -> dict[str, int]:
        return self.name_map(name, ranks, "rank")

    def name_map(self, name: str, names: list[str] | tuple[str, ...], what: str) -> dict[str, int]:
        """A table whose keys must be ``names`` (ranks or tiers) and whose values are counts."""
        value = self.raw(name, {})
        table = _Table(value, self.key(name))
        out = {}
        for key in value:
            if key not in names:
                raise PlanError(
                    f"{table.key(key)} names no {what} ({what}s: {', '.join(names) or 'none'})", key=table.key(key)
                )
            out[key] = table.count(key)
        return out

    def names(self, name: str, *, identifiers: bool = False) -> list[str]:
        """A list of unique non-empty strings (lower-case identifiers when ``identifiers``)."""
        value = self.raw(name, [])
        key = self.key(name)
        if not isinstance(value, list):
            raise PlanError(f"{key} must be a list of names", key=key)
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise PlanError(f"{key}[{i}] must be a non-empty string, not {item!r}", key=f"{key}[{i}]")
            if identifiers and not (item.isidentifier() and item == item.lower()):
                raise PlanError(f"{key}[{i}] must be a lower-case identifier, not {item!r}", key=f"{key}[{i}]")
            if item in out:
                raise PlanError(f"{key}[{i}]: {item!r} is listed twice", key=f"{key}[{i}]")
            out.append(item)
        return out

    def finish(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            raise PlanError(f"unknown key {self.key(unknown[0])}", key=self.key(unknown[0]))


def _count(value: Any, key: str, minimum: int) -> int:
    # bool is an int in Python; a plan number never is one.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PlanError(
            f"{key} must be a non-negative integer (no decimal point, exponent or sign), not {value!r}", key=key
        )
    if value < minimum:
        what = "non-negative" if minimum == 0 else f"at least {minimum}"
        raise PlanError(f"{key} must be {what}, not {value}", key=key)
    return value


@dataclass(frozen=True)
class Rank:
    """A rank and its requirements (``None``: not checked)."""

    name: str
    min_pv: int | None = None
    min_gv: int | None = None
    max_leg_share_bp: int = 10_000
    legs: int = 0
    leg_rank: str | None = None
    assigned: bool = False


@dataclass(frozen=True)
class Bonus:
    """One bonus of the plan: its name (the ``bonus`` value of its lines), type and settings."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Plan:
    """A checked compensation plan, compiled for the engine. Build it with :meth:`from_toml`.

    Examples
    --------
    >>> import mlm_core
    >>> plan = mlm_core.Plan.from_toml('''
    ... [[ranks]]
    ... name = "Bronze"
    ... min_pv = 10000
    ... [unilevel]
    ... rates_bp = [500, 300]
    ... ''')
    >>> plan.rank_names, [b.name for b in plan.bonuses], plan.rounding
    (('Member', 'Bronze'), ['unilevel'], 'floor')
    """

    name: str
    currency: str
    rounding: str
    activity_min_pv: int
    ranks: tuple[Rank, ...]
    bonuses: tuple[Bonus, ...]
    volume_columns: tuple[str, ...] = ("pv", "bv")
    tiers: tuple[str, ...] = ()
    periods: dict[str, str] = field(default_factory=dict)
    source: str = ""
    _core: Any = field(default=None, repr=False)
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def rank_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.ranks)

    @property
    def bonus_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bonuses)

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> Plan:
        """Reads a plan from a file path or from TOML text."""
        looks_like_path = "\n" not in str(path_or_text) and (
            Path(path_or_text).is_file() or str(path_or_text).endswith(".toml")
        )
        if isinstance(path_or_text, Path) or looks_like_path:
            try:
                text = Path(path_or_text).read_text(encoding="utf-8")
            except OSError as exc:
                raise PlanError(f"cannot read plan file {path_or_text}: {exc}") from None
        else:
            text = str(path_or_text)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"plan is not valid TOML: {exc}") from None
        return _parse(data, text)

    def variant(self, changes: dict[str, Any]) -> Plan:
        """This plan with some settings changed, checked like any plan: keys are ``section.key`` — ``plan``
        (``plan.rounding``), ``activity``, or a bonus's name (``unilevel.compression``,
        ``binary.cap_by_rank``, a ``[[bonus]]`` entry's name); the value ``None`` removes the setting. The
        variant's :attr:`source` is the changed plan as TOML.

        >>> plan = Plan.from_toml('[unilevel]\\nrates_bp = [500]\\ndepth_by_rank = { Member = 1 }')
        >>> v = plan.variant({"plan.rounding": "half_up", "unilevel.depth_by_rank": None})
        >>> v.rounding, v.bonuses[0].settings["depth_by_rank"]
        ('half_up', {})
        """
        data = tomllib.loads(self.source) if self.source else {}
        for dotted, value in changes.items():
            section_name, _, key = dotted.partition(".")
            if not key:
                raise PlanError(f"variant key {dotted!r} must be section.key", key=dotted)
            if section_name in ("plan", "activity") or (section_name in BONUS_TYPES and section_name in data):
                section = data.setdefault(section_name, {})
            else:
                entries = [e for e in data.get("bonus", []) if isinstance(e, dict) and e.get("name") == section_name]
                if not entries:
                    raise PlanError(f"variant key {dotted!r}: the plan has no bonus {section_name!r}", key=dotted)
                section = entries[0]
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
        text = _to_toml(data)
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # a writer bug, not the user's: still a clear PlanError
            raise PlanError(f"the variant of this plan does not serialise to TOML: {exc}") from None
        return _parse(parsed, text)


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and every control character (U+007F included) escaped; every
    other character, astral ones included, as itself."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise PlanError(f"a plan setting cannot be {type(value).__name__} ({value!r})")


def _to_toml(data: dict[str, Any]) -> str:
    """A plan's data as TOML: sections as tables, lists of tables as arrays of tables, the rest inline."""
    out: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{name}]")
            out.extend(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                out.append(f"[[{name}]]")
                out.extend(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in entry.items())
        else:
            out.insert(0, f"{_toml_string(name)} = {_toml_value(value)}")
        out.append("")
    return "\n".join(out)


BONUS_TYPES = ("binary", "unilevel", "matching", "differential", "rebate")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _parse(data: dict[str, Any], source: str) -> Plan:
    root = _Table(data, "")
    header = _Table(root.raw("plan", {}), "plan")
    name = header.text("name", "")
    currency = header.text("currency", "USD")
    rounding = header.text("rounding", "floor", ROUNDING)
    header.finish()
    activity = _Table(root.raw("activity", {}), "activity")
    activity_min_pv = activity.count("min_pv", 0)
    activity.finish()
    volumes = _Table(root.raw("volumes", {}), "volumes")
    declared = volumes.names("columns", identifiers=True)
    for i, column in enumerate(declared):
        if column in ("pv", "bv", "member_id", "period"):
            raise PlanError(f"volumes.columns[{i}]: {column!r} is not a declared column's name",
                            key=f"volumes.columns[{i}]")
    volumes.finish()
    tiers_table = _Table(root.raw("tiers", {}), "tiers")
    tiers = tuple(tiers_table.names("names"))
    tiers_table.finish()
    periods = _parse_periods(_Table(root.raw("periods", {}), "periods"))
    ranks = _parse_ranks(root.raw("ranks", []))
    context = _Context([r.name for r in ranks], tiers, ("pv", "bv", *declared))
    bonuses: list[Bonus] = []
    # The version 1 sections first, then the [[bonus]] list in file order (v2, "Bonuses as a list").
    for kind in ("binary", "unilevel", "matching"):
        if kind in data:
            bonuses.append(_parse_bonus(_Table(root.raw(kind), kind), context, kind, kind, bonuses, shorthand=True))
    entries = root.raw("bonus", [])
    if not isinstance(entries, list):
        raise PlanError("bonus must be an array of tables ([[bonus]])", key="bonus")
    for i, entry in enumerate(entries):
        table = _Table(entry, f"bonus[{i}]")
        bonus_name = table.text("name")
        if bonus_name in [b.name for b in bonuses]:
            raise PlanError(f"{table.key('name')}: bonus {bonus_name!r} is defined twice", key=table.key("name"))
        kind = table.text("type", choices=BONUS_TYPES)
        bonuses.append(_parse_bonus(table, context, bonus_name, kind, bonuses, shorthand=False))
    root.finish()
    plan = Plan(
        name=name, currency=currency, rounding=rounding, activity_min_pv=activity_min_pv,
        ranks=tuple(ranks), bonuses=tuple(bonuses), volume_columns=("pv", "bv", *declared), tiers=tiers,
        periods=periods, source=source,
    )
    compiled = _compile(plan)
    object.__setattr__(plan, "_compiled", compiled)
    object.__setattr__(plan, "_core", _mlm_core.PlanCore(compiled))
    return plan


@dataclass(frozen=True)
class _Context:
    ranks: list[str]
    tiers: tuple[str, ...]
    columns: tuple[str, ...]


def _parse_periods(table: _Table) -> dict[str, str]:
    """``[periods]`` (plan v2, "Period assembly"): checked here, used by period assembly."""
    periods = {
        "length": table.text("length", "month", ("day", "week", "month")),
        "timezone": table.text("timezone", "UTC"),
        "week_starts": table.text("week_starts", "monday", WEEKDAYS),
        "effective": table.text("effective", "paid", ("paid", "paid_or_placed")),
        "clawback": table.text("clawback", "next_period", ("next_period", "none")),
    }
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(periods["timezone"])
    except (KeyError, ValueError, OSError):
        raise PlanError(f"periods.timezone: {periods['timezone']!r} is not an IANA time zone",
                        key="periods.timezone") from None
    table.finish()
    return periods


def _parse_bonus(
    table: _Table, context: _Context, name: str, kind: str, earlier: list[Bonus], *, shorthand: bool
) -> Bonus:
    """One bonus's settings; the keys each type takes are those of its section of the spec."""
    settings: dict[str, Any] = {}
    if kind == "matching":
        if shorthand:
            # [matching] takes no base: it matches the [binary] section's pay, or pays nothing without one.
            settings["base"] = "binary" if any(b.name == "binary" and b.type == "binary" for b in earlier) else None
        else:
            source = table.text("base", "binary")
            if not any(b.name == source and b.type == "binary" for b in earlier):
                raise PlanError(f"{table.key('base')}: {source!r} is not a binary bonus defined before this one",
                                key=table.key("base"))
            settings["base"] = source
    else:
        base = table.text("base", "bv")
        if base not in context.columns:
            raise PlanError(f"{table.key('base')}: {base!r} is neither pv, bv nor a declared volume column",
                            key=table.key("base"))
        settings["base"] = base
    if kind == "binary":
        settings.update({
            "rate_bp": table.count("rate_bp", None),
            "pay_per_pair": table.count("pay_per_pair", None),
            "pair_unit": table.count("pair_unit", 1, minimum=1),
            "carry_cap": table.count("carry_cap", 0),
            "requires_active": table.flag("requires_active", True),
            "requires_sponsored_legs": table.flag("requires_sponsored_legs", False),
            "unqualified": table.text("unqualified", "carry", ("carry", "flush")),
            "cap_by_rank": table.rank_map("cap_by_rank", context.ranks),
            "max_pairs_by_tier": table.name_map("max_pairs_by_tier", context.tiers, "tier"),
            "over_cap": table.text("over_cap", "flush", ("flush", "carry")),
            "requires_tier": table.flag("requires_tier", False),
            "pay_on": table.text("pay_on", "period", ("period", "new_volume")),
        })
        if (settings["rate_bp"] is None) == (settings["pay_per_pair"] is None):
            raise PlanError(f"{table.key('rate_bp')}: give exactly one of rate_bp and pay_per_pair",
                            key=table.key("rate_bp"))
    elif kind in ("unilevel", "matching"):
        settings.update({
            "rates_bp": table.counts("rates_bp"),
            "compression": table.flag("compression", True),
            "depth_by_rank": table.rank_map("depth_by_rank", context.ranks),
            "requires_active": table.flag("requires_active", True),
        })
    elif kind == "differential":
        settings.update({
            "rate_bp_by_rank": table.rank_map("rate_bp_by_rank", context.ranks),
            "include_self": table.flag("include_self", False),
            "requires_active": table.flag("requires_active", True),
        })
    elif kind == "rebate":
        settings.update({
            "rate_bp": table.count("rate_bp"),
            "requires_active": table.flag("requires_active", False),
        })
    table.finish()
    return Bonus(name, kind, settings)


def _parse_ranks(entries: Any) -> list[Rank]:
    if not isinstance(entries, list):
        raise PlanError("ranks must be an array of tables ([[ranks]])", key="ranks")
    tables = [_Table(entry, f"ranks[{i}]") for i, entry in enumerate(entries)]
    names = [MEMBER]
    for table in tables:
        rank_name = table.text("name")
        if rank_name in names:
            raise PlanError(f"{table.key('name')}: rank {rank_name!r} is defined twice", key=table.key("name"))
        names.append(rank_name)
    ranks = [Rank(MEMBER)]
    for table, rank_name in zip(tables, names[1:], strict=True):
        legs = table.count("legs", None)
        leg_rank = table.text("leg_rank", None)
        if (legs is None) != (leg_rank is None):
            missing, given = ("leg_rank", "legs") if leg_rank is None else ("legs", "leg_rank")
            raise PlanError(f"{table.key(missing)} is required with {given} (the two go together)",
                            key=table.key(missing))
        if leg_rank is not None and leg_rank not in names:
            raise PlanError(f"{table.key('leg_rank')} names no rank: {leg_rank!r}", key=table.key("leg_rank"))
        assigned = table.flag("assigned", False)
        rank = Rank(
            name=rank_name,
            min_pv=table.count("min_pv", None),
            min_gv=table.count("min_gv", None),
            max_leg_share_bp=table.count("max_leg_share_bp", 10_000),
            legs=legs or 0,
            leg_rank=leg_rank,
            assigned=assigned,
        )
        if assigned:
            # Reached only through an override: a requirement would never be tested (plan v2).
            requirements = [k for k in ("min_pv", "min_gv", "max_leg_share_bp", "legs", "leg_rank")
                            if k in table.data]
            if requirements:
                raise PlanError(f"{table.key(requirements[0])}: an assigned rank takes no requirement",
                                key=table.key(requirements[0]))
        ranks.append(rank)
        table.finish()
    return ranks


def _compile(plan: Plan) -> dict[str, Any]:
    """The plan as plain values for ``_mlm_core.PlanCore``: rank and bonus references become indices."""
    rank_index = {name: i for i, name in enumerate(plan.rank_names)}
    column_index = {name: i for i, name in enumerate(plan.volume_columns)}

    def by_rank(mapping: dict[str, int]) -> list[int | None]:
        return [mapping.get(name) for name in plan.rank_names]

    bonuses: list[dict[str, Any]] = []
    position = {b.name: i for i, b in enumerate(plan.bonuses)}
    for bonus in plan.bonuses:
        s = bonus.settings
        if bonus.type == "binary":
            bonuses.append({
                "type": "binary", "base": column_index[s.get("base", "bv")], "rate_bp": s.get("rate_bp"),
                "pay_per_pair": s.get("pay_per_pair"), "pair_unit": s["pair_unit"], "carry_cap": s["carry_cap"],
                "requires_active": s["requires_active"], "requires_sponsored_legs": s["requires_sponsored_legs"],
                "flush_unqualified": s["unqualified"] == "flush", "cap_by_rank": by_rank(s["cap_by_rank"]),
                "max_pairs_by_tier": [s["max_pairs_by_tier"].get(t) for t in plan.tiers],
                "carry_over_cap": s["over_cap"] == "carry", "requires_tier": s["requires_tier"],
                "pay_on_new_volume": s["pay_on"] == "new_volume",
            })
        elif bonus.type == "differential":
            bonuses.append({
                "type": "differential", "base": column_index[s["base"]],
                "rate_bp_by_rank": [s["rate_bp_by_rank"].get(name, 0) for name in plan.rank_names],
                "include_self": s["include_self"], "requires_active": s["requires_active"],
            })
        elif bonus.type == "rebate":
            bonuses.append({"type": "rebate", "base": column_index[s["base"]], "rate_bp": s["rate_bp"],
                            "requires_active": s["requires_active"]})
        else:
            base_column, base_bonus = column_index.get(s.get("base", "bv")), None
            if bonus.type == "matching":
                source = s.get("base")
                base_column, base_bonus = None, position.get(source) if source else None
                if base_bonus is None:
                    # Version 1's [matching] without [binary] pays nothing: its base is a column of zeros.
                    base_column = len(plan.volume_columns)
            bonuses.append({
                "type": "level", "base_column": base_column, "base_bonus": base_bonus,
                "rates_bp": s["rates_bp"], "compression": s["compression"],
                "depth_by_rank": by_rank(s["depth_by_rank"]), "requires_active": s.get("requires_active", True),
            })
    return {
        # Columns the engine gets: the plan's volume columns, then one of zeros when a bonus needs it.
        "columns": len(plan.volume_columns) + any(b.get("base_column") == len(plan.volume_columns) for b in bonuses),
        "rounding": plan.rounding,
        "activity_min_pv": plan.activity_min_pv,
        "tiers": len(plan.tiers),
        "ranks": [
            {"min_pv": r.min_pv, "min_gv": r.min_gv, "max_leg_share_bp": r.max_leg_share_bp, "legs": r.legs,
             "leg_rank": rank_index[r.leg_rank] if r.leg_rank else 0, "assigned": r.assigned}
            for r in plan.ranks
        ],
        "bonuses": bonuses,
    }
