"""A slow, plain-Python reference of genealogy validation and rollups, to check ``mlm_core`` against.

Everything here works on Python lists (ids are ``int``/``str``/``None``, legs ``str``/``None``) and uses
only dicts, lists and loops: no numpy, no pyarrow, and no recursion on tree depth (a chain may be 100k
deep), so every function is a direct transcription of one rule of the specification:

1. index the ids (``missing_id``, ``duplicate_id``; a repeated id means its first row);
2. resolve each row's sponsor and placement link (``orphan_sponsor``, ``orphan_placement``,
   ``self_reference``, ``bad_leg``);
3. one member per placement slot (``slot_taken``);
4. exactly one root, or any number with ``allow_multiple_roots`` (``no_root``, ``multiple_roots``);
5. no cycle in either tree (``cycle``, one finding per cycle at its smallest row);
6. once no error is found: each member placed inside its sponsor's placement subtree
   (warning ``placement_outside_sponsor_line``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CODE_ORDER = (
    "missing_id",
    "duplicate_id",
    "self_reference",
    "orphan_sponsor",
    "orphan_placement",
    "bad_leg",
    "slot_taken",
    "multiple_roots",
    "no_root",
    "cycle",
    "placement_outside_sponsor_line",
)
WARNING_CODES = frozenset({"placement_outside_sponsor_line"})
LEGS = ("L", "R")

#: A link whose id is not null but names no member.
UNKNOWN = "unknown"


def severity(code: str) -> str:
    """Every code is an error except ``placement_outside_sponsor_line``."""
    return "warning" if code in WARNING_CODES else "error"


@dataclass(frozen=True)
class Finding:
    """One finding: ``row`` (None for ``no_root``) and ``code``; a cycle also has its tree and rows."""

    row: int | None
    code: str
    tree: str | None = None
    cycle_rows: tuple[int, ...] = ()

    @property
    def severity(self) -> str:
        return severity(self.code)


@dataclass
class Report:
    """The reference's verdict on a member table."""

    findings: list[Finding]
    sponsor_parent: list[int | None]
    placement_parent: list[int | None]
    legs: list[str | None] = field(default_factory=list)

    @property
    def has_error(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def pairs(self) -> list[tuple[int | None, str]]:
        return [(f.row, f.code) for f in self.findings]


# --- rule 1 ------------------------------------------------------------------------------------------


def index_ids(member_id: list, findings: list[Finding]) -> dict:
    """Rule 1: id -> its FIRST row; a null id is ``missing_id``, a repeat ``duplicate_id``."""
    index: dict = {}
    for row, key in enumerate(member_id):
        if key is None:
            findings.append(Finding(row, "missing_id"))
        elif key in index:
            findings.append(Finding(row, "duplicate_id"))
        else:
            index[key] = row
    return index


def resolve(key, index: dict):
    """Rule 2: a link is None (null id), UNKNOWN (id of no member) or the row of the member it names."""
    if key is None:
        return None
    return index.get(key, UNKNOWN)


# --- rule 2 ------------------------------------------------------------------------------------------


def check_sponsor_link(row: int, s, p, findings: list[Finding]) -> int | None:
    """Rule 2, sponsor side: returns the kept sponsor parent (or None)."""
    if s is None:
        if p is not None:
            findings.append(Finding(row, "orphan_sponsor"))
        return None
    if s == UNKNOWN:
        findings.append(Finding(row, "orphan_sponsor"))
        return None
    if s == row:
        findings.append(Finding(row, "self_reference"))
        return None
    return s


def check_leg_value(row: int, leg: str | None, findings: list[Finding]) -> None:
    """Rule 2, leg: a non-null leg other than exactly "L" or "R" is ``bad_leg`` whatever the placement."""
    if leg is not None and leg not in LEGS:
        findings.append(Finding(row, "bad_leg"))


def check_placement_link(row: int, s, p, leg: str | None, findings: list[Finding]) -> int | None:
    """Rule 2, placement side: returns the kept placement parent (or None)."""
    if p is None:
        if s is not None:
            findings.append(Finding(row, "orphan_placement"))
        elif leg in LEGS:
            findings.append(Finding(row, "bad_leg"))  # a root has no leg
        return None
    if p == UNKNOWN:
        findings.append(Finding(row, "orphan_placement"))
        return None
    if p == row:
        findings.append(Finding(row, "self_reference"))
        return None
    if leg is None:
        findings.append(Finding(row, "bad_leg"))  # placed, but on no leg
    return p


# --- rules 3 to 5 ------------------------------------------------------------------------------------


def check_slots(placement_parent: list, legs: list, findings: list[Finding]) -> None:
    """Rule 3: in row order, the first row placed on (parent, leg) holds it; later ones are ``slot_taken``."""
    holder: dict = {}
    for row, parent in enumerate(placement_parent):
        if parent is None or legs[row] not in LEGS:
            continue
        slot = (parent, legs[row])
        if slot in holder:
            findings.append(Finding(row, "slot_taken"))
        else:
            holder[slot] = row


def check_roots(roots: list[int], n: int, allow_multiple_roots: bool, findings: list[Finding]) -> None:
    """Rule 4: some root when there are members; several only when allowed (each one reported)."""
    if n > 0 and not roots:
        findings.append(Finding(None, "no_root"))
    if len(roots) > 1 and not allow_multiple_roots:
        for row in roots:
            findings.append(Finding(row, "multiple_roots"))


def cycles(parent: list[int | None]) -> list[list[int]]:
    """Every cycle of a parent array (each node has at most one parent), as lists of rows.

    Peels off, again and again, every node that nobody has as parent: what never gets peeled is exactly
    the nodes on cycles (a cycle node is always the parent of its predecessor on the cycle, and the
    nodes hanging below a non-cycle node are finitely many and acyclic, so it goes eventually)."""
    n = len(parent)
    child_count = [0] * n
    for p in parent:
        if p is not None:
            child_count[p] += 1
    removed = [False] * n
    queue = deque(row for row in range(n) if child_count[row] == 0)
    while queue:
        row = queue.popleft()
        removed[row] = True
        p = parent[row]
        if p is not None:
            child_count[p] -= 1
            if child_count[p] == 0:
                queue.append(p)
    found = []
    seen = [False] * n
    for start in range(n):
        if removed[start] or seen[start]:
            continue
        cycle = []
        row = start
        while not seen[row]:
            seen[row] = True
            cycle.append(row)
            row = parent[row]
        found.append(cycle)
    return found


def check_cycles(parent: list[int | None], tree: str, findings: list[Finding]) -> None:
    """Rule 5: one ``cycle`` finding per cycle of the tree, on the cycle's smallest row."""
    for cycle in cycles(parent):
        findings.append(Finding(min(cycle), "cycle", tree=tree, cycle_rows=tuple(sorted(cycle))))


# --- rule 6 ------------------------------------------------------------------------------------------


def is_ancestor_or_self(upper: int, row: int, parent: list[int | None], depth: list[int]) -> bool:
    """Whether ``upper`` is ``row`` or above it, walking up from ``row`` to ``upper``'s level."""
    while depth[row] > depth[upper]:
        row = parent[row]
    return row == upper


def check_sponsor_line(
    sponsor_parent: list, placement_parent: list, findings: list[Finding]
) -> None:
    """Rule 6: a member whose sponsor is not its placement parent or above it is a warning."""
    placement_depth = depths(placement_parent)
    for row, (s, p) in enumerate(zip(sponsor_parent, placement_parent, strict=True)):
        if s is not None and p is not None and not is_ancestor_or_self(s, p, placement_parent, placement_depth):
            findings.append(Finding(row, "placement_outside_sponsor_line"))


# --- validation --------------------------------------------------------------------------------------


def sort_key(finding: Finding) -> tuple:
    """Report order: row (null first), then code in CODE_ORDER."""
    return (finding.row is not None, finding.row or 0, CODE_ORDER.index(finding.code))


def validate(
    member_id: list, sponsor_id: list, placement_id: list, leg: list, *, allow_multiple_roots: bool = False
) -> Report:
    """All six rules over a member table given as four equal-length lists."""
    n = len(member_id)
    assert len(sponsor_id) == len(placement_id) == len(leg) == n
    findings: list[Finding] = []
    index = index_ids(member_id, findings)
    sponsor_parent: list[int | None] = [None] * n
    placement_parent: list[int | None] = [None] * n
    roots = []
    for row in range(n):
        s = resolve(sponsor_id[row], index)
        p = resolve(placement_id[row], index)
        if sponsor_id[row] is None and placement_id[row] is None:
            roots.append(row)
        sponsor_parent[row] = check_sponsor_link(row, s, p, findings)
        check_leg_value(row, leg[row], findings)
        placement_parent[row] = check_placement_link(row, s, p, leg[row], findings)
    check_slots(placement_parent, leg, findings)
    check_roots(roots, n, allow_multiple_roots, findings)
    check_cycles(sponsor_parent, "sponsor", findings)
    check_cycles(placement_parent, "placement", findings)
    if not any(f.severity == "error" for f in findings):
        check_sponsor_line(sponsor_parent, placement_parent, findings)
    findings.sort(key=sort_key)
    return Report(findings, sponsor_parent, placement_parent, list(leg))


# --- trees and rollups (only for a table without errors) ---------------------------------------------


def children_lists(parent: list[int | None]) -> list[list[int]]:
    """Children of each row, in row order."""
    children: list[list[int]] = [[] for _ in parent]
    for row, p in enumerate(parent):
        if p is not None:
            children[p].append(row)
    return children


def breadth_first(parent: list[int | None]) -> list[int]:
    """Every row, parents before children: breadth-first from the roots (rows without a parent)."""
    children = children_lists(parent)
    order = [row for row, p in enumerate(parent) if p is None]
    i = 0
    while i < len(order):
        order.extend(children[order[i]])
        i += 1
    assert len(order) == len(parent), "not a forest: some rows are on a cycle"
    return order


def depths(parent: list[int | None]) -> list[int]:
    """Levels below the root (a root is 0)."""
    depth = [0] * len(parent)
    for row in breadth_first(parent):
        if parent[row] is not None:
            depth[row] = depth[parent[row]] + 1
    return depth


def level_histogram(parent: list[int | None]) -> list[int]:
    """Members on each level 0, 1, ... up to the deepest one."""
    counts: list[int] = []
    for d in depths(parent):
        while len(counts) <= d:
            counts.append(0)
        counts[d] += 1
    return counts


def rollup(parent: list[int | None], values: list[int] | None, op: str) -> list[int]:
    """Subtree aggregate, the member included: ``sum``, ``max``, or ``count`` of the members whose value
    is not 0 (every member when ``values`` is None). Children are folded into their parent in reverse
    breadth-first order, so each subtree is complete before it is added to the one above."""
    n = len(parent)
    if values is None:
        assert op == "count"
        values = [1] * n
    if op == "sum":
        result = list(values)
    elif op == "max":
        result = list(values)
    elif op == "count":
        result = [1 if v != 0 else 0 for v in values]
    else:
        raise ValueError(op)
    for row in reversed(breadth_first(parent)):
        p = parent[row]
        if p is None:
            continue
        if op == "max":
            result[p] = max(result[p], result[row])
        else:
            result[p] += result[row]
    return result


def leg_volumes(
    placement_parent: list[int | None], legs: list[str | None], values: list[int]
) -> tuple[list[int], list[int]]:
    """Placement-subtree sum under each member's L child and R child (0 where there is none)."""
    totals = rollup(placement_parent, values, "sum")
    left = [0] * len(values)
    right = [0] * len(values)
    for row, p in enumerate(placement_parent):
        if p is None:
            continue
        if legs[row] == "L":
            left[p] += totals[row]
        elif legs[row] == "R":
            right[p] += totals[row]
    return left, right
