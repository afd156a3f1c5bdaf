"""Property tests: ``mlm_core``'s genealogy against the plain-Python reference of reference_genealogy.py.

Random member tables start as sound trees (sponsors and placement parents joined earlier, free slots)
and are then damaged by a few random mutations (null, repeated, unknown and self ids, re-parenting into
cycles, bad legs, taken slots, extra or lost roots) and shuffled. The validation report must match the
reference exactly as a multiset of ``(row, code)``; sound tables must give the reference's parents,
depths, level histograms and rollups in both trees.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pytest
import reference_genealogy as ref
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import mlm_core
from mlm_core import synth

BASE = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
#: Ids the library names in a cycle's detail before it abbreviates the rest ("…(k more)").
DETAIL_IDS = 20


# --- random member tables ----------------------------------------------------------------------------


@dataclass
class Members:
    """A member table as four plain lists (the reference's input), plus the id kind."""

    member_id: list
    sponsor_id: list
    placement_id: list
    leg: list
    id_kind: str  # "int", "int32" or "str"

    def __len__(self) -> int:
        return len(self.member_id)

    def validate(self, allow_multiple_roots: bool = False) -> ref.Report:
        return ref.validate(
            self.member_id, self.sponsor_id, self.placement_id, self.leg,
            allow_multiple_roots=allow_multiple_roots,
        )

    def table(self, rng: random.Random | None = None) -> pa.Table:
        """The Arrow table; with ``rng``, string ids may come as large_string or dictionary columns."""
        id_type = {"int": pa.int64(), "int32": pa.int32(), "str": pa.string()}[self.id_kind]
        columns = {
            name: pa.array(getattr(self, name), id_type) for name in ("member_id", "sponsor_id", "placement_id")
        }
        if rng is not None and self.id_kind == "str":
            for name in columns:
                how = rng.choice(("string", "large", "dictionary"))
                if how == "large":
                    columns[name] = columns[name].cast(pa.large_string())
                elif how == "dictionary":
                    columns[name] = columns[name].dictionary_encode()
        columns["leg"] = pa.array(self.leg, pa.string())
        if rng is not None and rng.random() < 0.3:
            columns["status"] = pa.array([rng.choice(("active", "inactive", None)) for _ in self.leg], pa.string())
        return pa.table(columns)


def random_ids(rng: random.Random, n: int, id_kind: str) -> list:
    """``n`` distinct ids: small, negative or huge integers, or short strings (possibly empty)."""
    if id_kind == "str":
        alphabet = string.ascii_letters + string.digits + "_-é"
        ids: set = set()
        while len(ids) < n:
            ids.add("".join(rng.choice(alphabet) for _ in range(rng.randint(0 if rng.random() < 0.1 else 1, 5))))
        out = list(ids)
        rng.shuffle(out)
        return out
    if id_kind == "int32":
        low, high = -(2**31), 2**31 - 1
    else:
        low, high = rng.choice(((-(2**63), 2**63 - 1), (-50, 100), (0, 10**6)))
    low = max(low, -(2**63))
    span = high - low + 1
    if span < 2 * n:
        low, high = -(2**63), 2**63 - 1
    ids = set()
    while len(ids) < n:
        ids.add(rng.randint(low, high))
    out = list(ids)
    rng.shuffle(out)
    return out


def fresh_id(rng: random.Random, taken: set, id_kind: str):
    """An id of no member."""
    while True:
        candidate = random_ids(rng, 1, id_kind)[0]
        if candidate not in taken:
            return candidate


def subtree(children: list[list[int]], row: int) -> list[int]:
    stack, out = [row], []
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(children[x])
    return out


def sound_forest(rng: random.Random, n: int, roots: int) -> tuple[list, list, list]:
    """Rows in join order: the first ``roots`` rows are roots; every later member is sponsored by an
    earlier one and placed on a free slot, mostly inside its sponsor's placement subtree."""
    sponsor: list = [None] * n
    placement: list = [None] * n
    leg: list = [None] * n
    children: list[list[int]] = [[] for _ in range(n)]
    free: list[list[str]] = [["L", "R"] for _ in range(n)]
    for row in range(min(roots, n), n):
        s = rng.randrange(row)
        inside = rng.random() < 0.8
        candidates = subtree(children, s) if inside else list(range(row))
        candidates = [c for c in candidates if free[c]]
        p = rng.choice(candidates)  # a subtree always has a leaf, and a leaf has two free slots
        side = rng.choice(free[p])
        free[p].remove(side)
        children[p].append(row)
        sponsor[row], placement[row], leg[row] = s, p, side
    return sponsor, placement, leg


def to_members(rng: random.Random, sponsor: list, placement: list, leg: list, id_kind: str) -> Members:
    ids = random_ids(rng, len(sponsor), id_kind)
    return Members(
        list(ids),
        [None if s is None else ids[s] for s in sponsor],
        [None if p is None else ids[p] for p in placement],
        list(leg),
        id_kind,
    )


def shuffled(rng: random.Random, m: Members) -> Members:
    order = list(range(len(m)))
    rng.shuffle(order)
    return Members(*([getattr(m, c)[i] for i in order] for c in ("member_id", "sponsor_id", "placement_id", "leg")),
                   m.id_kind)


BAD_LEGS = ("X", "l", "", "r", " L", "LR", None)


def mutate(rng: random.Random, m: Members, descendants: list[list[int]]) -> None:
    """One random damage to the table (in place). ``descendants`` are per row, from the sound tree."""
    n = len(m)
    i = rng.randrange(n)
    j = rng.randrange(n)
    taken = {x for x in m.member_id if x is not None}
    kind = rng.choice((
        "null_id", "dup_id", "unknown_sponsor", "unknown_placement", "null_sponsor", "null_placement",
        "self_sponsor", "self_placement", "reparent_sponsor", "reparent_placement", "cycle_sponsor",
        "cycle_placement", "swap", "bad_leg", "bad_leg_siblings", "leg_on_root", "extra_root", "lose_root", "same_slot",
    ))
    if kind == "null_id":
        m.member_id[i] = None
    elif kind == "dup_id":
        m.member_id[i] = m.member_id[j]
    elif kind == "unknown_sponsor":
        m.sponsor_id[i] = fresh_id(rng, taken, m.id_kind)
    elif kind == "unknown_placement":
        m.placement_id[i] = fresh_id(rng, taken, m.id_kind)
    elif kind == "null_sponsor":
        m.sponsor_id[i] = None
    elif kind == "null_placement":
        m.placement_id[i] = None
    elif kind == "self_sponsor":
        m.sponsor_id[i] = m.member_id[i]
    elif kind == "self_placement":
        m.placement_id[i] = m.member_id[i]
    elif kind == "reparent_sponsor":
        m.sponsor_id[i] = m.member_id[j]
    elif kind == "reparent_placement":
        m.placement_id[i] = m.member_id[j]
        m.leg[i] = rng.choice(("L", "R"))
    elif kind in ("cycle_sponsor", "cycle_placement"):
        below = rng.choice(descendants[i])  # may be i itself: a self reference
        column = m.sponsor_id if kind == "cycle_sponsor" else m.placement_id
        column[i] = m.member_id[below]
        if kind == "cycle_placement":
            m.leg[i] = rng.choice(("L", "R"))
    elif kind == "swap":
        m.sponsor_id[i], m.sponsor_id[j] = m.member_id[j], m.member_id[i]
        m.placement_id[i], m.placement_id[j] = m.member_id[j], m.member_id[i]
        m.leg[i], m.leg[j] = rng.choice(("L", "R")), rng.choice(("L", "R"))
    elif kind == "bad_leg":
        m.leg[i] = rng.choice(BAD_LEGS)
    elif kind == "bad_leg_siblings":
        # Two members under one parent on the same bad leg: no slot is claimed twice.
        m.placement_id[j] = m.placement_id[i]
        m.leg[i] = m.leg[j] = rng.choice(BAD_LEGS)
    elif kind == "leg_on_root":
        roots = [r for r in range(n) if m.sponsor_id[r] is None and m.placement_id[r] is None]
        m.leg[rng.choice(roots) if roots else i] = rng.choice(("L", "R"))
    elif kind == "extra_root":
        m.sponsor_id[i] = m.placement_id[i] = None
        m.leg[i] = rng.choice((None, None, "L", "X"))
    elif kind == "lose_root":
        for r in range(n):
            if m.sponsor_id[r] is None and m.placement_id[r] is None:
                m.sponsor_id[r] = m.member_id[j]
                m.placement_id[r] = m.member_id[rng.randrange(n)]
                m.leg[r] = rng.choice(("L", "R"))
                break
    elif kind == "same_slot":
        # Put i where j is: same placement parent and leg (a taken slot unless j is a root).
        m.placement_id[i], m.leg[i] = m.placement_id[j], m.leg[j]


def damaged_members(rng: random.Random, id_kind: str) -> Members:
    """A sound tree of 0..40 members with 0..4 random mutations, shuffled half the time."""
    n = rng.choice((0, 1, 2, 3, rng.randint(0, 12), rng.randint(0, 40)))
    roots = rng.choice((1, 1, 1, 2, 3))
    sponsor, placement, leg = sound_forest(rng, n, roots)
    m = to_members(rng, sponsor, placement, leg, id_kind)
    if n:
        children = ref.children_lists(rng.choice((sponsor, placement)))
        descendants = [subtree(children, row) for row in range(n)]
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            mutate(rng, m, descendants)
    return shuffled(rng, m) if rng.random() < 0.5 else m


def sound_members(rng: random.Random, id_kind: str, roots: int) -> Members:
    n = rng.choice((1, 2, rng.randint(1, 15), rng.randint(1, 40), rng.randint(40, 120)))
    m = to_members(rng, *sound_forest(rng, n, roots), id_kind)
    return shuffled(rng, m) if rng.random() < 0.5 else m


def random_values(rng: random.Random, n: int) -> list[int]:
    scale = rng.choice((3, 1000, 10**6, 2**40))
    zero_share = rng.choice((0.0, 0.3, 0.8))
    return [0 if rng.random() < zero_share else rng.randint(-scale, scale) for _ in range(n)]


# --- comparing a report with the reference ----------------------------------------------------------


def report_key(row: dict) -> tuple:
    return (row["row"] is not None, row["row"] or 0, ref.CODE_ORDER.index(row["code"]))


def cycle_detail(detail: str) -> tuple[str, int, list[str], int]:
    """``(tree, length, named ids as text, abbreviated count)`` of a cycle finding's detail."""
    match = re.fullmatch(r"(sponsor|placement) cycle of (\d+) member\(s\): (.*)", detail, flags=re.S)
    assert match, detail
    names = match.group(3).split(" -> ")
    abbreviated = 0
    if len(names) >= 2 and (more := re.fullmatch(r"…\((\d+) more\)", names[-2])):
        abbreviated = int(more.group(1))
        names = names[:-2] + names[-1:]
    return match.group(1), int(match.group(2)), names, abbreviated


def display(key, id_kind: str) -> str:
    return str(key) if id_kind != "str" else f"'{key}'"


def assert_report_matches(report: pa.Table, m: Members, expected: ref.Report) -> None:
    assert report.column_names == ["row", "member_id", "code", "severity", "detail"]
    assert report.schema.field("row").type == pa.int64()
    rows = report.to_pylist()
    got = Counter((r["row"], r["code"]) for r in rows)
    want = Counter(expected.pairs())
    assert got == want, f"missing {want - got}, unexpected {got - want}"
    keys = [report_key(r) for r in rows]
    assert keys == sorted(keys), "report is not sorted by (row, code)"
    for r in rows:
        assert r["severity"] == ref.severity(r["code"])
        assert r["member_id"] == (None if r["row"] is None else m.member_id[r["row"]])
        assert isinstance(r["detail"], str) and r["detail"]
    # Each cycle: its tree and its members, as named in the detail.
    got_cycles = Counter()
    for r in rows:
        if r["code"] != "cycle":
            continue
        tree, length, names, abbreviated = cycle_detail(r["detail"])
        assert names[0] == names[-1], r["detail"]  # the cycle closes on its first member
        named = names[:-1]
        assert len(named) == min(length, DETAIL_IDS) and abbreviated == length - len(named), r["detail"]
        got_cycles[(r["row"], tree, length, frozenset(named))] += 1
    want_cycles = Counter()
    for f in expected.findings:
        if f.code == "cycle":
            ids = [display(m.member_id[x], m.id_kind) for x in f.cycle_rows]
            if len(ids) > DETAIL_IDS:  # the detail names only some of a long cycle: take what it names
                named = next(k[3] for k in got_cycles if k[0] == f.row and k[1] == f.tree)
                assert named <= set(ids)
                ids = list(named)
            want_cycles[(f.row, f.tree, len(f.cycle_rows), frozenset(ids))] += 1
    assert got_cycles == want_cycles


def check_table(m: Members, table: pa.Table, allow_multiple_roots: bool) -> ref.Report:
    """Validation report and build outcome of ``table`` against the reference; returns the reference."""
    expected = m.validate(allow_multiple_roots)
    report = mlm_core.validate_genealogy(table, allow_multiple_roots=allow_multiple_roots)
    assert_report_matches(report, m, expected)
    if expected.has_error:
        with pytest.raises(mlm_core.GenealogyError) as caught:
            mlm_core.Genealogy.from_arrow(table, allow_multiple_roots=allow_multiple_roots)
        assert caught.value.report is not None
        assert caught.value.report.to_pylist() == report.to_pylist()
    else:
        g = mlm_core.Genealogy.from_arrow(table, allow_multiple_roots=allow_multiple_roots)
        assert len(g) == len(m)
        assert g.warnings.to_pylist() == report.to_pylist()
        assert all(r["severity"] == "warning" for r in report.to_pylist())
    return expected


# --- comparing a genealogy with the reference --------------------------------------------------------


def assert_topological(order: list[int], parent: list[int | None]) -> None:
    assert sorted(order) == list(range(len(parent)))
    position = {row: i for i, row in enumerate(order)}
    for row, p in enumerate(parent):
        if p is not None:
            assert position[p] < position[row], f"row {row} comes before its parent {p}"


def assert_genealogy_matches(g: mlm_core.Genealogy, expected: ref.Report, values: list[int]) -> None:
    parents = {"sponsor": expected.sponsor_parent, "placement": expected.placement_parent}
    assert g.sponsor_parent.to_pylist() == expected.sponsor_parent
    assert g.placement_parent.to_pylist() == expected.placement_parent
    array = pa.array(values, pa.int64())
    for tree, parent in parents.items():
        assert g.parent(tree).to_pylist() == parent
        assert g.depth(tree).to_pylist() == ref.depths(parent)
        histogram = ref.level_histogram(parent)
        assert g.level_histogram(tree).to_pylist() == [
            {"level": level, "members": count} for level, count in enumerate(histogram)
        ]
        assert_topological(g.topological_order(tree).to_pylist(), parent)
        assert g.rollup(tree=tree, op="count").to_pylist() == ref.rollup(parent, None, "count")
        for op in ("sum", "max", "count"):
            result = g.rollup(array, tree=tree, op=op)
            assert result.type == pa.int64()
            assert result.to_pylist() == ref.rollup(parent, values, op), (tree, op)
    assert g.rollup(values).to_pylist() == ref.rollup(expected.sponsor_parent, values, "sum")  # a plain list
    left, right = ref.leg_volumes(expected.placement_parent, expected.legs, values)
    assert g.leg_volumes(array).to_pylist() == [{"left": a, "right": b} for a, b in zip(left, right, strict=True)]


# --- the properties ----------------------------------------------------------------------------------

id_kinds = st.sampled_from(("int", "str"))


@settings(BASE, max_examples=2000)
@given(rng=st.randoms(use_true_random=False), id_kind=id_kinds, allow_multiple_roots=st.booleans())
def test_damaged_tables_match_reference(rng: random.Random, id_kind: str, allow_multiple_roots: bool) -> None:
    m = damaged_members(rng, id_kind)
    note(repr(m))
    expected = check_table(m, m.table(rng), allow_multiple_roots)
    if not expected.has_error:  # still sound (or empty): the trees must be the reference's too
        g = mlm_core.Genealogy.from_arrow(m.table(), allow_multiple_roots=allow_multiple_roots)
        assert_genealogy_matches(g, expected, random_values(rng, len(m)))


@settings(BASE, max_examples=300)
@given(rng=st.randoms(use_true_random=False), sound=st.booleans())
def test_int32_id_columns(rng: random.Random, sound: bool) -> None:
    m = sound_members(rng, "int32", 1) if sound else damaged_members(rng, "int32")
    note(repr(m))
    expected = check_table(m, m.table(), False)
    # A mix of int32 and int64 id columns is read the same way.
    mixed = m.table().set_column(1, "sponsor_id", pa.array(m.sponsor_id, pa.int64()))
    assert_report_matches(mlm_core.validate_genealogy(mixed), m, expected)
    if not expected.has_error:
        g = mlm_core.Genealogy.from_arrow(m.table())
        assert g.member_ids.type == pa.int64()
        assert_genealogy_matches(g, expected, random_values(rng, len(m)))


@settings(BASE, max_examples=800)
@given(rng=st.randoms(use_true_random=False), id_kind=id_kinds, roots=st.sampled_from((1, 1, 2, 5)))
def test_sound_tables_roll_up_like_reference(rng: random.Random, id_kind: str, roots: int) -> None:
    m = sound_members(rng, id_kind, roots)
    note(repr(m))
    allow = roots > 1
    expected = check_table(m, m.table(rng), allow)
    assert not expected.has_error
    g = mlm_core.Genealogy.from_arrow(m.table(rng), allow_multiple_roots=allow)
    for _ in range(2):
        assert_genealogy_matches(g, expected, random_values(rng, len(m)))
    if roots > 1 and len(m) > 1:
        with pytest.raises(mlm_core.GenealogyError):
            mlm_core.Genealogy.from_arrow(m.table())


@pytest.mark.parametrize(
    ("n", "seed", "shuffle", "id_kind"),
    [(1, 0, False, "string"), (2, 3, True, "int"), (137, 1, True, "string"), (500, 2, False, "int"),
     (1000, 5, True, "int"), (3000, 7, False, "string"), (3000, 8, True, "string")],
)
def test_synth_network_matches_reference(n: int, seed: int, shuffle: bool, id_kind: str) -> None:
    table = synth.network(n, seed=seed, shuffle=shuffle, id_kind=id_kind)
    m = Members(
        *(table.column(c).to_pylist() for c in ("member_id", "sponsor_id", "placement_id", "leg")),
        "int" if id_kind == "int" else "str",
    )
    expected = check_table(m, table, False)
    assert not expected.has_error
    g = mlm_core.Genealogy.from_arrow(table)
    assert_genealogy_matches(g, expected, random_values(random.Random(seed), n))


@pytest.mark.parametrize("id_kind", ["int", "str"])
@pytest.mark.parametrize("ring", [2, DETAIL_IDS, DETAIL_IDS + 1, 57])
def test_long_cycles(ring: int, id_kind: str) -> None:
    """A root with one child, plus a ring of ``ring`` members in both trees: the detail names up to
    DETAIL_IDS of them and counts the rest."""
    n = ring + 2
    parent = [None, 0] + [2 + (k + 1) % ring for k in range(ring)]
    rng = random.Random(ring)
    m = to_members(rng, parent, parent, [None] + ["L"] * (n - 1), id_kind)
    m = shuffled(rng, m)
    expected = check_table(m, m.table(), False)
    assert [f.code for f in expected.findings].count("cycle") == 2
    assert sorted(len(f.cycle_rows) for f in expected.findings if f.code == "cycle") == [ring, ring]


# --- the reference itself, on hand-checked cases -----------------------------------------------------


def test_reference_on_documented_examples() -> None:
    report = ref.validate(["A", "B", "C"], [None, "A", "X"], [None, "A", "A"], [None, "L", "L"])
    assert report.pairs() == [(2, "orphan_sponsor"), (2, "slot_taken")]
    sound = ref.validate([1, 2, 3], [None, 1, 2], [None, 1, 1], [None, "L", "R"])
    assert sound.pairs() == [(2, "placement_outside_sponsor_line")]  # 3's sponsor 2 is beside it
    assert ref.rollup(sound.sponsor_parent, [10, 20, 30], "sum") == [60, 50, 30]
    assert ref.leg_volumes(sound.placement_parent, sound.legs, [10, 20, 30]) == ([20, 0, 0], [30, 0, 0])
    assert ref.rollup(sound.sponsor_parent, [0, -5, 7], "max") == [7, 7, 7]
    assert ref.rollup(sound.sponsor_parent, [0, -5, 7], "count") == [2, 2, 1]
    assert ref.depths(sound.sponsor_parent) == [0, 1, 2]
    assert ref.level_histogram(sound.placement_parent) == [1, 2]


def test_reference_on_cycles_and_roots() -> None:
    # B and C sponsor each other; D names itself twice; there is no root... but A is one.
    report = ref.validate(
        ["A", "B", "C", "D", "E"],
        [None, "C", "B", "D", None],
        [None, "C", "B", "D", None],
        [None, "L", "L", None, "R"],
    )
    assert report.pairs() == [
        (0, "multiple_roots"), (1, "cycle"), (1, "cycle"), (3, "self_reference"), (3, "self_reference"),
        (4, "bad_leg"), (4, "multiple_roots"),
    ]
    assert {f.tree for f in report.findings if f.code == "cycle"} == {"sponsor", "placement"}
    assert ref.validate(["A"], ["A"], ["A"], ["L"]).pairs() == [
        (None, "no_root"), (0, "self_reference"), (0, "self_reference")
    ]
    inside = ref.validate([1, 2, 3], [None, 1, 2], [None, 1, 2], [None, "L", "R"])
    assert inside.pairs() == []
    warned = ref.validate([1, 2, 3, 4], [None, 1, 1, 2], [None, 1, 1, 3], [None, "L", "R", "L"])
    assert warned.pairs() == [(3, "placement_outside_sponsor_line")]
    assert ref.cycles([1, 2, 0, 0, None, 4]) == [[0, 1, 2]]
