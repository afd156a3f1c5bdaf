"""The genealogy gate of a members batch: staged members join the stored ones and must form whole trees.

Every error of :func:`mlm_core.validate_genealogy` (cycles, slot conflicts, bad legs, self references,
orphans, extra roots) puts its staged member in quarantine. Members below a quarantined one lose their
line: under ``policy.orphans = "quarantine"`` their whole downline follows (reason ``orphan_cascade``, naming
the quarantined ancestor); under ``"attach"`` every orphan (a parent that is missing or quarantined, or a
second root) is attached to the house account, and each attachment is recorded. Downlines are found by
one kernel pass per tree (``downline_causes``): O(n), no recursion, a 10M-deep chain included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import _mlm_core
from ..errors import GenealogyError, MigrationError
from ..genealogy import Genealogy, validate_genealogy
from .cleanse import QUARANTINE_SCHEMA, quarantine_rows
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


def _flat(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.cast(pa.string())


class _Links:
    """The staged members' links as Arrow arrays, plus the few rows attachments change: no Python object
    per member, so the slow path stays Arrow work at 10M members."""

    COLUMNS = ("sponsor_id", "placement_id", "leg")

    def __init__(self, staged: pa.Table) -> None:
        self.ids = _flat(staged.column("member_id"))
        self.base = {c: _flat(staged.column(c)) for c in self.COLUMNS}
        self.changes: dict[str, dict[int, str | None]] = {c: {} for c in self.COLUMNS}

    def get(self, column: str, row: int) -> str | None:
        if row in self.changes[column]:
            return self.changes[column][row]
        value: str | None = self.base[column][row].as_py()
        return value

    def set(self, column: str, row: int, value: str | None) -> None:
        self.changes[column][row] = value

    def column(self, name: str) -> pa.Array:
        if name == "member_id":
            return self.ids
        changes = self.changes[name]
        if not changes:
            return self.base[name]
        mask = np.zeros(len(self.ids), dtype=bool)
        rows = sorted(changes)
        mask[rows] = True
        return pc.replace_with_mask(self.base[name], pa.array(mask),
                                    pa.array([changes[r] for r in rows], pa.string()))

    def table(self) -> pa.Table:
        return pa.table({c: self.column(c) for c in ("member_id", *self.COLUMNS)})


def check(staged: pa.Table, stored: pa.Table, raw: Raw, policy: Policy,
          excluded: dict[str, str] | None = None, *, known_broken: bool = False) -> Checked:
    """``staged``: the batch's cleansed members (with ``_mlm_line``/``_mlm_record``, duplicates already removed);
    ``stored``: the members already in the store (``member_id, sponsor_id, placement_id, leg``);
    ``excluded``: member ids of this batch already quarantined by earlier checks, with their reason;
    ``known_broken``: the caller already knows :func:`whole` fails (it is not tried again)."""
    excluded = excluded or {}
    cols = ["member_id", "sponsor_id", "placement_id", "leg"]
    n_stored = stored.num_rows
    if not known_broken:
        built = whole(staged, stored)
        if built is not None:
            return Checked(staged, QUARANTINE_SCHEMA.empty_table(), ATTACH_SCHEMA.empty_table(), built.warnings,
                           built)
    links = _Links(staged)
    n = len(links.ids)
    stored_text = stored.select(cols).cast(pa.schema([(c, pa.string()) for c in cols]))
    quarantined: dict[int, tuple[str, str]] = {}  # staged row -> (reason, detail)
    attachments: list[dict[str, str | None]] = []
    house = policy.house_account
    warnings: pa.Table | None = None
    for _round in range(5):
        keep = np.ones(n, dtype=bool)
        keep[list(quarantined)] = False
        everyone = pa.concat_tables([stored_text, links.table().filter(pa.array(keep))])
        staged_rows = np.flatnonzero(keep)
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
                parent = links.get(f"{tree}_id", s)
                if parent in excluded:
                    code, detail = "orphan_cascade", (f"its {tree} parent {parent!r} is quarantined "
                                                      f"({excluded[parent]})")
            quarantined.setdefault(s, (code, detail))
        if policy.orphans == "attach":
            # Children of members quarantined in this round become orphans: the next round attaches them.
            _attach({r: t for r, t in orphans.items() if r not in quarantined}, links, stored_text, house or "",
                    quarantined, attachments, set(excluded))
        else:
            _cascade(links, stored_text, quarantined)
    else:
        raise MigrationError("the genealogy did not settle after 5 rounds of quarantine and attachment; "
                             "this is a bug, please report it")
    assert warnings is not None
    keep = np.ones(n, dtype=bool)
    keep[list(quarantined)] = False
    accepted = staged
    for name in _Links.COLUMNS:
        accepted = accepted.set_column(accepted.schema.get_field_index(name), name, links.column(name))
    quarantine = quarantine_rows(staged, raw, quarantined)
    return Checked(accepted.filter(pa.array(keep)), quarantine,
                   pa.Table.from_pylist(attachments, schema=ATTACH_SCHEMA), warnings)


def _kept_root(everyone: pa.Table, roots: list[int], house: str | None) -> int | None:
    if not roots:
        return None
    for r in roots:
        if house is not None and everyone.column("member_id")[r].as_py() == house:
            return r
    return min(roots)


def _cascade(links: _Links, stored: pa.Table, quarantined: dict[int, tuple[str, str]]) -> None:
    """Quarantines every staged member whose sponsor or placement line reaches a quarantined one."""
    if not quarantined:
        return
    all_ids = pa.concat_arrays([_flat(stored.column("member_id")), links.ids])
    offset = stored.num_rows
    seed = np.zeros(len(all_ids), dtype=bool)
    seed[[offset + r for r in quarantined]] = True
    parents = {tree: pa.concat_arrays([_flat(stored.column(f"{tree}_id")), links.column(f"{tree}_id")])
               for tree in ("sponsor", "placement")}
    causes = _mlm_core.downline_causes(all_ids, parents["sponsor"], parents["placement"], pa.array(seed))
    for tree, found in zip(("sponsor", "placement"), causes, strict=True):
        cause = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        rows = np.flatnonzero(cause[offset:] >= 0)
        fresh = [int(r) for r in rows if int(r) not in quarantined]
        if not fresh:
            continue
        ancestors = all_ids.take(pa.array(cause[[offset + r for r in fresh]])).to_pylist()
        for s, ancestor in zip(fresh, ancestors, strict=True):
            quarantined[s] = ("orphan_cascade", f"its {tree} line reaches {ancestor!r}, which is quarantined")


def _attach(orphans: dict[int, set[str]], links: _Links, stored: pa.Table, house: str,
            quarantined: dict[int, tuple[str, str]], attachments: list[dict[str, str | None]],
            excluded: set[str]) -> None:
    """Sponsor orphans go directly under the house account; placement orphans one after another at the
    bottom of the house's outer left leg (the only slots that are always free)."""
    if not orphans:
        return
    all_ids = pa.concat_arrays([_flat(stored.column("member_id")), links.ids])
    offset = stored.num_rows
    gone = np.zeros(len(all_ids), dtype=bool)
    gone[[offset + r for r in quarantined]] = True
    house_row = pc.index(all_ids, house).as_py()
    if house_row < 0 or gone[house_row]:
        raise MigrationError(f"policy.house_account {house!r} is no member (or is quarantined): orphans cannot "
                             f"be attached to it")
    # Each member's left child (a row, or -1), for the walk down the outer left leg: one vectorised lookup.
    parents = pa.concat_arrays([_flat(stored.column("placement_id")), links.column("placement_id")])
    legs = pa.concat_arrays([_flat(stored.column("leg")), links.column("leg")])
    is_left = pc.and_(pc.fill_null(pc.equal(legs, "L"), False), pa.array(~gone))
    left_rows = np.flatnonzero(is_left.to_numpy(zero_copy_only=False))
    position = np.asarray(pc.fill_null(pc.index_in(all_ids, value_set=parents.take(pa.array(left_rows))), -1)
                          .to_numpy(zero_copy_only=False), dtype=np.int64)
    left_child = np.where(position >= 0, left_rows[np.maximum(position, 0)], -1) if len(left_rows) else \
        np.full(len(all_ids), -1, dtype=np.int64)
    overrides: dict[int, int] = {}  # left children set by the attachments of this call

    def child(row: int) -> int:
        return overrides.get(row, int(left_child[row]))

    # Why each orphan lost its parent: one membership test for all of them.
    todo = [(row, tree, links.get(f"{tree}_id", row)) for row in sorted(orphans)
            for tree in ("sponsor", "placement") if tree in orphans[row]]
    present = pc.is_in(pa.array([legacy for _, _, legacy in todo], pa.string()), value_set=all_ids).to_pylist()
    bottom = house_row
    for (row, tree, legacy), exists in zip(todo, present, strict=True):
        member = links.ids[row].as_py()
        if member == house:
            raise MigrationError(f"policy.house_account {house!r} is itself an orphan ({tree} {legacy!r} is no "
                                 f"member): give it a valid line, or no parents at all, in the export")
        if links.get("sponsor_id", row) is None and links.get("placement_id", row) is None:
            why = "extra_root"
        elif legacy is None:
            why = "parent_missing"
        elif legacy in excluded or exists:
            why = "parent_quarantined"
        else:
            why = "parent_missing"
        if tree == "sponsor":
            attachments.append({"member_id": member, "tree": "sponsor", "legacy_parent": legacy,
                                "attached_to": house, "leg": None, "reason": why})
            links.set("sponsor_id", row, house)
            continue
        while child(bottom) >= 0:
            bottom = child(bottom)
        target = all_ids[bottom].as_py()
        attachments.append({"member_id": member, "tree": "placement", "legacy_parent": legacy,
                            "attached_to": target, "leg": "L", "reason": why})
        links.set("placement_id", row, target)
        links.set("leg", row, "L")
        overrides[bottom] = offset + row
        bottom = offset + row
