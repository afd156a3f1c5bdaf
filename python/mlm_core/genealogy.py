"""The genealogy: a member table proved whole in both trees, and rollups up either tree.

Members are rows of an Arrow table with ``member_id`` (int64 or string), ``sponsor_id`` and
``placement_id`` (null for the root), ``leg`` (``"L"``/``"R"``, null for the root) and optionally
``status``. Inside, members are dense row numbers; every result comes back aligned to the input rows.
"""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow, _mlm_core
from .errors import AmountOverflowError, GenealogyError, InputError

TreeName = Literal["sponsor", "placement"]
RollupOp = Literal["sum", "max", "count"]

REQUIRED_COLUMNS = ("member_id", "sponsor_id", "placement_id", "leg")
REPORT_SCHEMA_NAMES = ("row", "member_id", "code", "severity", "detail")


class _Columns:
    """The member table's columns, normalised to the types the kernel reads. Only ``member_id`` is kept as
    one contiguous array (the id index compares against it); the other columns stay the caller's chunks
    and are made contiguous just for the build, so a chunked table is not held twice."""

    def __init__(self, members: Any) -> None:
        table = _arrow.as_table(members, "members")
        missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
        if missing:
            raise InputError(
                f"members table lacks column(s) {', '.join(missing)}; it has {', '.join(table.column_names)}",
                column=missing[0],
            )
        self.id_type = _id_type({name: table.column(name) for name in ("member_id", "sponsor_id", "placement_id")})
        self.table = table
        self.member_id = self.ids("member_id")
        self.status = _string_column(table.column("status"), "status") if "status" in table.column_names else None
        self.leg()  # type errors surface here, before any work

    def ids(self, name: str) -> pa.Array:
        column = self.table.column(name)
        try:
            column = column if column.type == self.id_type else column.cast(self.id_type, safe=True)
        except pa.ArrowInvalid as exc:
            raise InputError(f"{name} cannot be read as {self.id_type}: {exc}", column=name) from None
        return _arrow.as_array(column, name)

    def leg(self) -> pa.Array:
        return _arrow.as_array(_string_column(self.table.column("leg"), "leg"), "leg")

    def kernel_args(self) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        return self.member_id, self.ids("sponsor_id"), self.ids("placement_id"), self.leg()

    def report(self, findings: pa.RecordBatch) -> pa.Table:
        """The kernel's findings with each row's member id beside it."""
        rows = findings.column(0)
        return pa.table(
            {
                "row": rows,
                "member_id": self.member_id.take(rows),
                "code": findings.column(1),
                "severity": findings.column(2),
                "detail": findings.column(3),
            }
        )


def _id_family(array: Any, name: str) -> str:
    kind = array.type
    if pa.types.is_null(kind):
        return "null"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_dictionary(kind) and kind.value_type in _arrow.STRING_TYPES:
        return "str"
    if kind in _arrow.STRING_TYPES:
        return "str"
    hint = ""
    if pa.types.is_floating(kind):
        hint = " (a float id column usually means a reader turned missing ids into NaN: read ids as text)"
    raise InputError(f"{name} must be int64 or string ids, not {kind}{hint}", column=name)


def _id_type(ids: dict[str, Any]) -> pa.DataType:
    """The one type all three id columns are read as: int64, or string (large_string if any is large)."""
    families = {name: _id_family(column, name) for name, column in ids.items()}
    present = {f for f in families.values() if f != "null"}
    if len(present) > 1:
        described = ", ".join(f"{name} is {ids[name].type}" for name in ids)
        raise InputError(f"mixed id types: {described}; ids must all be integers or all strings")
    family = present.pop() if present else "int"
    if family == "int":
        return pa.int64()
    if all(column.type == pa.string() or pa.types.is_null(column.type) for column in ids.values()):
        return pa.string()
    return pa.large_string()


def _string_column(array: Any, name: str) -> Any:
    kind = array.type
    if kind == pa.string():
        return array
    if pa.types.is_null(kind) or kind in _arrow.STRING_TYPES or (
        pa.types.is_dictionary(kind) and kind.value_type in _arrow.STRING_TYPES
    ):
        return array.cast(pa.string())
    raise InputError(f"{name} must be a string column, not {kind}", column=name)


def validate_genealogy(members: Any, *, allow_multiple_roots: bool = False) -> pa.Table:
    """Every problem of a member table, one row each: ``(row, member_id, code, severity, detail)``.

    Codes with severity ``error``: ``missing_id``, ``duplicate_id``, ``self_reference``,
    ``orphan_sponsor``, ``orphan_placement``, ``bad_leg``, ``slot_taken``, ``multiple_roots``, ``no_root``,
    ``cycle`` (the detail lists the cycle). Warning: ``placement_outside_sponsor_line`` (only checked once
    no error is found, as it needs whole trees). An empty table means the genealogy is sound.

    Examples
    --------
    >>> import pyarrow as pa, mlm_core
    >>> members = pa.table({"member_id": ["A", "B", "C"], "sponsor_id": [None, "A", "X"],
    ...                     "placement_id": [None, "A", "A"], "leg": [None, "L", "L"]})
    >>> mlm_core.validate_genealogy(members).select(["member_id", "code"]).to_pylist()
    [{'member_id': 'C', 'code': 'orphan_sponsor'}, {'member_id': 'C', 'code': 'slot_taken'}]
    """
    columns = _Columns(members)
    findings = _mlm_core.validate_genealogy(*columns.kernel_args(), allow_multiple_roots=allow_multiple_roots)
    return columns.report(findings)


class Genealogy:
    """Both trees of a validated member table: dense indices, parents, children, a cached topological
    order, and the rollups of :meth:`rollup` and :meth:`leg_volumes`. Build it with :meth:`from_arrow`."""

    def __init__(self, core: _mlm_core.GenealogyCore, columns: _Columns, warnings: pa.Table) -> None:
        self._core = core
        self._columns = columns
        self._warnings = warnings
        self._active_cache: pa.Array | None = None

    @classmethod
    def from_arrow(cls, members: Any, *, allow_multiple_roots: bool = False) -> Genealogy:
        """Builds the genealogy, or raises :class:`GenealogyError` carrying the validation report.

        ``members`` is anything Arrow-shaped: a pyarrow Table, a polars DataFrame, a DuckDB relation.
        Several roots (house accounts) are accepted only with ``allow_multiple_roots=True``.

        Examples
        --------
        >>> import pyarrow as pa, mlm_core
        >>> g = mlm_core.Genealogy.from_arrow(pa.table({
        ...     "member_id": [1, 2, 3], "sponsor_id": [None, 1, 2],
        ...     "placement_id": [None, 1, 1], "leg": [None, "L", "R"]}))
        >>> g.rollup([10, 20, 30]).to_pylist()
        [60, 50, 30]
        >>> g.leg_volumes([10, 20, 30]).to_pylist()[0]
        {'left': 20, 'right': 30}
        """
        columns = _Columns(members)
        core, findings = _mlm_core.build_genealogy(
            *columns.kernel_args(), allow_multiple_roots=allow_multiple_roots
        )
        report = columns.report(findings)
        if core is None:
            errors = report.filter(pc.equal(report.column("severity"), "error"))
            first = errors.slice(0, 1).to_pylist()[0]
            codes = pc.value_counts(errors.column("code")).to_pylist()
            summary = ", ".join(f"{c['counts']} {c['values']}" for c in codes)
            raise GenealogyError(
                f"genealogy is not whole: {summary}; first at row {first['row']}: {first['detail']}", report
            )
        return cls(core, columns, report)

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return f"<Genealogy of {len(self)} members>"

    @property
    def member_ids(self) -> pa.Array:
        return self._columns.member_id

    @property
    def status(self) -> pa.ChunkedArray | None:
        return self._columns.status

    @property
    def warnings(self) -> pa.Table:
        """The non-fatal findings of the build (same columns as the validation report)."""
        return self._warnings

    def to_arrow(self) -> pa.Table:
        """The member table as it was built from (normalised column types)."""
        data = {
            "member_id": self._columns.member_id,
            "sponsor_id": self._columns.ids("sponsor_id"),
            "placement_id": self._columns.ids("placement_id"),
            "leg": self._columns.leg(),
        }
        if self._columns.status is not None:
            data["status"] = self._columns.status
        return pa.table(data)

    def index_of(self, member_ids: Any) -> pa.Array:
        """Row of each given id (null where the id is not a member)."""
        ids = _arrow.as_array(member_ids, "member_ids")
        if ids.type != self.member_ids.type:
            try:
                ids = ids.cast(self.member_ids.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(
                    f"member_ids of type {ids.type} cannot match ids of type {self.member_ids.type}"
                ) from None
        return pc.index_in(ids, value_set=self.member_ids).cast(pa.int64())

    def parent(self, tree: TreeName = "sponsor") -> pa.Array:
        """Parent row of each member in ``tree`` (null for a root)."""
        return self._core.parent(tree)

    @property
    def sponsor_parent(self) -> pa.Array:
        return self._core.parent("sponsor")

    @property
    def placement_parent(self) -> pa.Array:
        return self._core.parent("placement")

    @property
    def leg(self) -> pa.Array:
        return self._columns.leg()

    def topological_order(self, tree: TreeName = "sponsor") -> pa.Array:
        """Member rows, every parent before its children (breadth-first from the roots)."""
        return self._core.order(tree)

    def children(self, member_id: Any, tree: TreeName = "sponsor") -> pa.Array:
        """The member ids directly below ``member_id`` in ``tree``, in row order."""
        row = self.index_of(pa.array([member_id], type=self.member_ids.type))[0].as_py()
        if row is None:
            raise InputError(f"{member_id!r} is not a member")
        return self.member_ids.take(self._core.children(tree, row))

    def rollup(self, values: Any = None, *, tree: TreeName = "sponsor", op: RollupOp = "sum") -> pa.Array:
        """Subtree aggregate of an int64 column (aligned to the member rows), the member included.

        ``op="sum"`` (overflow raises :class:`AmountOverflowError`), ``"max"``, or ``"count"``: members of
        the subtree whose value is non-zero, or every member of the subtree when ``values`` is None.
        """
        try:
            return self._core.rollup(tree, op, None if values is None else self._aligned(values))
        except AmountOverflowError as exc:
            raise self._name_member(exc) from None

    def leg_volumes(self, values: Any) -> pa.Table:
        """``(left, right)``: total of ``values`` in the placement subtree under each member's L and R child."""
        try:
            left, right = self._core.leg_volumes(self._aligned(values))
        except AmountOverflowError as exc:
            raise self._name_member(exc) from None
        return pa.table({"left": left, "right": right})

    def depth(self, tree: TreeName = "sponsor") -> pa.Array:
        """Levels below the root (the root is 0)."""
        return self._core.depth(tree)

    def level_histogram(self, tree: TreeName = "sponsor") -> pa.Table:
        """Members per level: ``(level, members)``."""
        counts = self._core.level_histogram(tree)
        return pa.table({"level": pa.array(range(len(counts)), pa.int64()), "members": counts})

    def _status_active(self) -> pa.Array:
        """Whether each member's status is ``active`` (computed once; the genealogy does not change)."""
        if self._columns.status is None:
            raise InputError("the genealogy has no status column: activity needs it", column="status")
        if self._active_cache is None:
            active = pc.fill_null(pc.equal(self._columns.status, "active"), False)
            self._active_cache = _arrow.as_array(active, "status")
        return self._active_cache

    def _sum_by_member(self, ids: Any, values: list[pa.Array], what: str) -> list[pa.Array]:
        """Per-member sums of each column, rows matched by id (unknown ids raise InputError)."""
        try:
            return list(self._core.sum_by_member(self._ids_like_members(ids, what), values))
        except InputError as exc:
            raise InputError(f"{what}: {exc}", column=what, rows=exc.rows) from None

    def _ids_like_members(self, ids: Any, what: str) -> pa.Array:
        array = _arrow.as_array(ids, what)
        target = self.member_ids.type
        if array.type != target:
            family = _id_family(array, what)
            if (family == "int") != pa.types.is_integer(target) and family != "null":
                raise InputError(f"{what} are {array.type} but member ids are {target}", column=what)
            array = array.cast(target)
        return array

    def _rows_of(self, ids: Any, what: str) -> pa.Array:
        """Member row of each id (int64); an id that is no member raises InputError listing them."""
        array = self._ids_like_members(ids, what)
        try:
            return self._core.rows_of(array)
        except InputError as exc:
            raise InputError(f"{what}: {exc}", column=what, rows=exc.rows) from None

    def _name_member(self, exc: AmountOverflowError) -> AmountOverflowError:
        if exc.row is None:
            return exc
        return AmountOverflowError(f"{exc} (member {self.member_ids[exc.row].as_py()!r})", row=exc.row)

    def _aligned(self, values: Any) -> pa.Array:
        array = _arrow.int64_array(values, "values")
        if len(array) != len(self):
            raise InputError(f"values have {len(array)} rows, the genealogy has {len(self)} members")
        rows = _arrow.null_rows(array)
        if rows:
            raise InputError(
                f"values has {array.null_count} null(s), first at rows {rows}", column="values", rows=rows
            )
        return array
