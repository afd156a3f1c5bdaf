"""The genealogy gate of a members batch: staged members join the stored ones and must form whole trees.

Every error of :func:`mlm_core.validate_genealogy` (cycles, slot conflicts, bad legs, self references,
orphans, extra roots) puts its staged member in quarantine. Members below a quarantined one lose their
line: under ``policy.orphans = "quarantine"`` their whole downline follows (reason ``orphan_cascade``, naming
the quarantined ancestor); under ``"attach"`` every orphan (a parent that is missing or quarantined, or a
second root) is attached to the house account, and each attachment is recorded. Downlines are found by
pointer doubling over parent indices: O(n log depth), no recursion, a 10M-deep chain included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import GenealogyError, MigrationError
from ..genealogy import Genealogy, validate_genealogy
from .cleanse import QUARANTINE_SCHEMA, raw_json
from .mapping import Policy
from .sources import Raw

ORPHAN_CODES = {"orphan_sponsor": "sponsor", "orphan_placement": "placement"}
ATTACH_SCHEMA = pa.schema([("member_id", pa.string()), ("tree", pa.string()), ("legacy_parent", pa.string()),
                           ("attached_to", pa.string()), ("leg", pa.string()), ("reason", pa.string())])


@dataclass
class Checked:
    accepted: pa.Table
    quarantine: pa.Table
    attachments: pa.Table
    warnings: pa.Table
    # Stored and accepted members as one genealogy, when the fast path built it.
    genealogy: Genealogy | None = None


def _parents(ids: pa.Array, parent_ids: pa.Array) -> np.ndarray:
    """Row of each member's parent; -1 for no parent (a root) and -2 for a parent id that is no member."""
    index = pc.index_in(parent_ids, value_set=ids)
    rows: np.ndarray = np.asarray(pc.fill_null(index, -2).to_numpy(zero_copy_only=False), dtype=np.int64)
    rows[pc.is_null(parent_ids).to_numpy(zero_copy_only=False)] = -1
    return rows


def downline_cause(parent: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """For each row, the nearest ancestor-or-self row that is a seed, or -1: pointer doubling, no recursion.

    ``parent`` holds row numbers or a negative number for none.
    """
    n = len(parent)
    rows = np.arange(n, dtype=np.int64)
    cause = np.where(seed, rows, -1)
    up = np.where(parent >= 0, parent, rows)  # roots and orphans point at themselves
    for _ in range(64):
        unresolved = cause < 0
        if not unresolved.any():
            break
        cause = np.where(unresolved, cause[up], cause)
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    return cause


def whole(staged: pa.Table, stored: pa.Table) -> Genealogy | None:
    """The stored and staged members as one genealogy, or None when they do not form whole trees. The
    common case costs one build over Arrow columns (it validates as it goes), no Python object per member."""
    cols = ["member_id", "sponsor_id", "placement_id", "leg"]
    schema = pa.schema([(c, pa.string()) for c in cols])
    try:
        return Genealogy.from_arrow(pa.concat_tables([stored.select(cols).cast(schema),
                                                      staged.select(cols).cast(schema)]))
    except GenealogyError:
        return None


def check(staged: pa.Table, stored: pa.Table, raw: Raw, policy: Policy,
          excluded: dict[str, str] | None = None) -> Checked:
    """``staged``: the batch's cleansed members (with ``_line``/``_record``, duplicates already removed);
    ``stored``: the members already in the store (``member_id, sponsor_id, placement_id, leg``);
    ``excluded``: member ids of this batch already quarantined by earlier checks, with their reason."""
    excluded = excluded or {}
    cols = ["member_id", "sponsor_id", "placement_id", "leg"]
    n_stored = stored.num_rows
    built = whole(staged, stored)
    if built is not None:
        return Checked(staged, QUARANTINE_SCHEMA.empty_table(), ATTACH_SCHEMA.empty_table(), built.warnings, built)
    quarantined: dict[int, tuple[str, str]] = {}  # staged row -> (reason, detail)
    attachments: list[dict[str, str | None]] = []
    sponsor = staged.column("sponsor_id").to_pylist()
    placement = staged.column("placement_id").to_pylist()
    leg = staged.column("leg").to_pylist()
    ids = staged.column("member_id").to_pylist()
    house = policy.house_account
    warnings: pa.Table | None = None
    for _round in range(5):
        current = pa.table({"member_id": pa.array(ids, pa.string()), "sponsor_id": pa.array(sponsor, pa.string()),
                            "placement_id": pa.array(placement, pa.string()), "leg": pa.array(leg, pa.string())})
        keep = pa.array([i not in quarantined for i in range(len(ids))])
        everyone = pa.concat_tables([stored.select(cols).cast(current.schema), current.filter(keep)])
        staged_rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
        findings = validate_genealogy(everyone, allow_multiple_roots=False)
        errors = findings.filter(pc.equal(findings.column("severity"), "error"))
        if errors.num_rows == 0:
            warnings = findings
            break
        roots = [r for r, c in zip(errors.column("row").to_pylist(), errors.column("code").to_pylist(), strict=True)
                 if c == "multiple_roots"]
        keep_root = _kept_root(everyone, roots, house)
        orphans: dict[int, set[str]] = {}
        for row, code, detail in zip(errors.column("row").to_pylist(), errors.column("code").to_pylist(),
                                     errors.column("detail").to_pylist(), strict=True):
            if row is None:
                raise MigrationError(f"the genealogy cannot be loaded: {code}: {detail}")
            if code == "multiple_roots" and row == keep_root:
                continue
            if row < n_stored:
                raise MigrationError(f"stored member {everyone.column('member_id')[row].as_py()!r} fails {code} "
                                     f"with this batch: {detail}")
            s = int(staged_rows[row - n_stored])
            is_orphan = code in ORPHAN_CODES or code == "multiple_roots"
            if is_orphan and policy.orphans == "attach":
                orphans.setdefault(s, set()).update(
                    [ORPHAN_CODES[code]] if code in ORPHAN_CODES else ["sponsor", "placement"])
                continue
            if code == "multiple_roots":
                kept = everyone.column("member_id")[keep_root].as_py()
                code, detail = "extra_root", f"{detail}; {kept!r} is kept as the root"
            elif code in ORPHAN_CODES:
                tree = ORPHAN_CODES[code]
                parent = (sponsor if tree == "sponsor" else placement)[s]
                if parent in excluded:
                    code, detail = "orphan_cascade", (f"its {tree} parent {parent!r} is quarantined "
                                                      f"({excluded[parent]})")
            quarantined.setdefault(s, (code, detail))
        if policy.orphans == "attach":
            # Children of members quarantined in this round become orphans: the next round attaches them.
            _attach({r: t for r, t in orphans.items() if r not in quarantined}, ids, sponsor, placement, leg,
                    stored, house or "", quarantined, attachments, set(excluded))
        else:
            _cascade(ids, sponsor, placement, stored, quarantined)
    else:
        raise MigrationError("the genealogy did not settle after 5 rounds of quarantine and attachment; "
                             "this is a bug, please report it")
    assert warnings is not None
    keep = np.array([i not in quarantined for i in range(len(ids))], dtype=bool)
    accepted = staged.set_column(staged.schema.get_field_index("sponsor_id"), "sponsor_id",
                                 pa.array(sponsor, pa.string()))
    accepted = accepted.set_column(accepted.schema.get_field_index("placement_id"), "placement_id",
                                   pa.array(placement, pa.string()))
    accepted = accepted.set_column(accepted.schema.get_field_index("leg"), "leg", pa.array(leg, pa.string()))
    rows = sorted(quarantined)
    quarantine = _quarantine(staged, raw, rows, [quarantined[r] for r in rows])
    return Checked(accepted.filter(pa.array(keep)), quarantine,
                   pa.Table.from_pylist(attachments, schema=ATTACH_SCHEMA), warnings)


def _kept_root(everyone: pa.Table, roots: list[int], house: str | None) -> int | None:
    if not roots:
        return None
    ids = everyone.column("member_id").to_pylist()
    for r in roots:
        if house is not None and ids[r] == house:
            return r
    return min(roots)


def _cascade(ids: list[str], sponsor: list[str | None], placement: list[str | None], stored: pa.Table,
             quarantined: dict[int, tuple[str, str]]) -> None:
    """Quarantines every staged member whose sponsor or placement line reaches a quarantined one."""
    if not quarantined:
        return
    all_ids = pa.array([*stored.column("member_id").to_pylist(), *ids], pa.string())
    offset = stored.num_rows
    seed = np.zeros(len(all_ids), dtype=bool)
    seed[[offset + r for r in quarantined]] = True
    for tree, parents in (("sponsor", [*stored.column("sponsor_id").to_pylist(), *sponsor]),
                          ("placement", [*stored.column("placement_id").to_pylist(), *placement])):
        cause = downline_cause(_parents(all_ids, pa.array(parents, pa.string())), seed)
        for row in np.flatnonzero(cause >= 0):
            s = int(row) - offset
            if s >= 0 and s not in quarantined:
                ancestor = all_ids[int(cause[row])].as_py()
                quarantined[s] = ("orphan_cascade", f"its {tree} line reaches {ancestor!r}, which is quarantined")


def _attach(orphans: dict[int, set[str]], ids: list[str], sponsor: list[str | None], placement: list[str | None],
            leg: list[str | None], stored: pa.Table, house: str, quarantined: dict[int, tuple[str, str]],
            attachments: list[dict[str, str | None]], excluded: set[str]) -> None:
    """Sponsor orphans go directly under the house account; placement orphans one after another at the
    bottom of the house's outer left leg (the only slots that are always free)."""
    if not orphans:
        return
    all_ids = set(stored.column("member_id").to_pylist()) | set(ids)
    known = all_ids | excluded
    if house not in all_ids or house in {ids[r] for r in quarantined}:
        raise MigrationError(f"policy.house_account {house!r} is no member (or is quarantined): orphans cannot "
                             f"be attached to it")
    quarantined_ids = {ids[r] for r in quarantined}
    left_child: dict[str, str] = {}
    for p, lg, m in zip([*stored.column("placement_id").to_pylist(), *placement],
                        [*stored.column("leg").to_pylist(), *leg],
                        [*stored.column("member_id").to_pylist(), *ids], strict=True):
        if p is not None and lg == "L" and m not in quarantined_ids:
            left_child[p] = m
    bottom = house
    for row in sorted(orphans):
        trees = orphans[row]
        if ids[row] == house:
            continue
        if "sponsor" in trees:
            attachments.append({"member_id": ids[row], "tree": "sponsor", "legacy_parent": sponsor[row],
                                "attached_to": house, "leg": None, "reason": _why(sponsor[row], known)})
            sponsor[row] = house
        if "placement" in trees:
            while bottom in left_child:
                bottom = left_child[bottom]
            attachments.append({"member_id": ids[row], "tree": "placement", "legacy_parent": placement[row],
                                "attached_to": bottom, "leg": "L", "reason": _why(placement[row], known)})
            placement[row], leg[row] = bottom, "L"
            left_child[bottom] = ids[row]
            bottom = ids[row]


def _why(parent: str | None, ids: set[str]) -> str:
    if parent is None:
        return "extra_root"
    return "parent_quarantined" if parent in ids else "parent_missing"



def _quarantine(staged: pa.Table, raw: Raw, rows: list[int], verdicts: list[tuple[str, str]]) -> pa.Table:
    if not rows:
        return QUARANTINE_SCHEMA.empty_table()
    take = pa.array(rows, pa.int64())
    records = staged.column("_record").take(take)
    raw_rows = pc.index_in(records, value_set=raw.table.column("_record").combine_chunks())
    return pa.table({
        "line": staged.column("_line").take(take), "record": records,
        "member_id": staged.column("member_id").take(take).cast(pa.string()),
        "reason": pa.array([v[0] for v in verdicts], pa.string()),
        "detail": pa.array([v[1] for v in verdicts], pa.string()),
        "raw": pa.array(raw_json(raw, raw_rows), pa.string()),
    }, schema=QUARANTINE_SCHEMA)
