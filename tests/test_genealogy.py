"""Genealogy API: hand-checked examples, input handling and bad input. The random comparison with the
slow reference lives in test_genealogy_reference.py."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import mlm_core
from mlm_core import Genealogy, GenealogyError, InputError, synth, validate_genealogy

# small_members (conftest):           sponsor = placement tree
#            A                         values  A=1 B=2 C=3 D=4 E=5 F=6 G=7
#        L /   \\ R
#         B     C
#      L / \\ R  \\ L
#       D   E    F
#        \\ R
#         G
VALUES = [1, 2, 3, 4, 5, 6, 7]


def test_rollups_by_hand(small_members: pa.Table) -> None:
    g = Genealogy.from_arrow(small_members)
    assert len(g) == 7
    assert g.rollup(VALUES).to_pylist() == [28, 18, 9, 11, 5, 6, 7]
    assert g.rollup(VALUES, tree="placement").to_pylist() == [28, 18, 9, 11, 5, 6, 7]
    assert g.rollup(op="count").to_pylist() == [7, 4, 2, 2, 1, 1, 1]
    assert g.rollup([0, 1, 0, 0, 1, 1, 0], op="count").to_pylist() == [3, 2, 1, 0, 1, 1, 0]
    assert g.rollup([5, -2, 3, -9, -1, 0, -4], op="max").to_pylist() == [5, -1, 3, -4, -1, 0, -4]
    legs = g.leg_volumes(VALUES)
    assert legs.column("left").to_pylist() == [18, 11, 6, 0, 0, 0, 0]
    assert legs.column("right").to_pylist() == [9, 5, 0, 7, 0, 0, 0]
    assert g.depth().to_pylist() == [0, 1, 1, 2, 2, 2, 3]
    assert g.level_histogram().to_pylist() == [
        {"level": 0, "members": 1}, {"level": 1, "members": 2}, {"level": 2, "members": 3},
        {"level": 3, "members": 1},
    ]
    assert g.children("B").to_pylist() == ["D", "E"]
    assert g.children("F", tree="placement").to_pylist() == []
    assert g.sponsor_parent.to_pylist() == [None, 0, 0, 1, 1, 2, 3]
    assert g.topological_order().to_pylist() == [0, 1, 2, 3, 4, 5, 6]
    assert g.index_of(["C", "Z", "A"]).to_pylist() == [2, None, 0]
    assert g.warnings.num_rows == 0
    assert g.status is not None and g.status.to_pylist()[4] == "terminated"


def test_rows_in_any_order_give_row_aligned_results(small_members: pa.Table) -> None:
    permutation = [6, 3, 5, 0, 2, 4, 1]
    shuffled = small_members.take(permutation)
    g = Genealogy.from_arrow(shuffled)
    values = [VALUES[i] for i in permutation]
    expected = [[28, 18, 9, 11, 5, 6, 7][i] for i in permutation]
    assert g.rollup(values).to_pylist() == expected
    order = g.topological_order().to_pylist()
    position = {row: k for k, row in enumerate(order)}
    parents = g.sponsor_parent.to_pylist()
    assert sorted(order) == list(range(7))
    assert all(p is None or position[p] < position[row] for row, p in enumerate(parents))


def test_int_ids_of_any_width_and_chunked_columns() -> None:
    members = pa.table(
        {
            "member_id": pa.chunked_array([pa.array([10, 11], pa.int32()), pa.array([12], pa.int32())]),
            "sponsor_id": pa.array([None, 10, 11], pa.int16()),
            "placement_id": pa.array([None, 10, 10], pa.uint8()),
            "leg": ["", "L", "R"],
        }
    ).set_column(3, "leg", pa.array([None, "L", "R"]))
    g = Genealogy.from_arrow(members)
    assert g.member_ids.type == pa.int64()
    assert g.rollup(np.array([1, 2, 4])).to_pylist() == [7, 6, 4]
    assert g.warnings.column("code").to_pylist() == ["placement_outside_sponsor_line"]
    assert g.warnings.column("member_id").to_pylist() == [12]


def test_duckdb_relation_and_record_batch_inputs(small_members: pa.Table) -> None:
    con = duckdb.connect()
    con.register("members", small_members)
    relation = con.sql("SELECT * FROM members ORDER BY member_id")
    g = Genealogy.from_arrow(relation)
    assert g.rollup(VALUES).to_pylist() == [28, 18, 9, 11, 5, 6, 7]
    batch = small_members.to_batches()[0]
    assert validate_genealogy(batch).num_rows == 0
    assert Genealogy.from_arrow(small_members.to_pydict()).rollup(op="count")[0].as_py() == 7


def test_fatal_findings_raise_with_the_report() -> None:
    members = pa.table(
        {
            "member_id": ["A", "B", "C", None, "B"],
            "sponsor_id": [None, "A", "Q", "A", "A"],
            "placement_id": [None, "A", "A", "A", "B"],
            "leg": [None, "L", "L", "R", "X"],
        }
    )
    with pytest.raises(GenealogyError) as caught:
        Genealogy.from_arrow(members)
    report = caught.value.report
    assert report is not None
    assert isinstance(caught.value, ValueError)
    assert [(r["row"], r["code"]) for r in report.select(["row", "code"]).to_pylist()] == [
        (2, "orphan_sponsor"), (2, "slot_taken"), (3, "missing_id"), (4, "duplicate_id"), (4, "bad_leg"),
    ]
    assert report.column("member_id").to_pylist() == ["C", "C", None, "B", "B"]
    assert "orphan_sponsor" in str(caught.value) and "row 2" in str(caught.value)
    assert report.equals(validate_genealogy(members))


def test_cycle_detail_lists_the_cycle() -> None:
    members = pa.table(
        {
            "member_id": [1, 2, 3, 4],
            "sponsor_id": [None, 4, 2, 3],
            "placement_id": [None, 1, 2, 3],
            "leg": [None, "L", "L", "L"],
        }
    )
    report = validate_genealogy(members)
    assert report.select(["row", "code"]).to_pylist() == [{"row": 1, "code": "cycle"}]
    assert report.column("detail")[0].as_py() == "sponsor cycle of 3 member(s): 2 -> 4 -> 3 -> 2"


def test_multiple_roots_are_fatal_unless_allowed() -> None:
    members = pa.table(
        {"member_id": ["A", "H"], "sponsor_id": [None, None], "placement_id": [None, None], "leg": [None, None]}
    )
    assert validate_genealogy(members).column("code").to_pylist() == ["multiple_roots", "multiple_roots"]
    with pytest.raises(GenealogyError):
        Genealogy.from_arrow(members)
    assert len(Genealogy.from_arrow(members, allow_multiple_roots=True)) == 2


def test_empty_table_is_a_valid_empty_genealogy() -> None:
    empty = pa.table({n: pa.array([], pa.string()) for n in ("member_id", "sponsor_id", "placement_id", "leg")})
    g = Genealogy.from_arrow(empty)
    assert len(g) == 0
    assert g.rollup([]).to_pylist() == []
    assert g.level_histogram().num_rows == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"member_id": pa.array([1.0, 2.0])}, "member_id must be int64 or string ids, not double"),
        ({"sponsor_id": pa.array([None, 1])}, "mixed id types"),
        ({"leg": pa.array([None, 1])}, "leg must be a string column"),
    ],
)
def test_bad_column_types_are_named(change: dict[str, pa.Array], message: str) -> None:
    data = {"member_id": pa.array(["A", "B"]), "sponsor_id": pa.array([None, "A"]),
            "placement_id": pa.array([None, "A"]), "leg": pa.array([None, "L"])}
    data.update(change)
    with pytest.raises(InputError, match=message):
        Genealogy.from_arrow(pa.table(data))


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputError, match="lacks column\\(s\\) placement_id, leg"):
        Genealogy.from_arrow(pa.table({"member_id": [1], "sponsor_id": [None]}))


def test_bad_rollup_values_are_rejected(small_members: pa.Table) -> None:
    g = Genealogy.from_arrow(small_members)
    with pytest.raises(InputError, match="integers"):
        g.rollup([1.5] * 7)
    with pytest.raises(InputError, match="rows \\[2\\]"):
        g.rollup([1, 2, None, 4, 5, 6, 7])
    with pytest.raises(InputError, match="3 rows, the genealogy has 7"):
        g.rollup([1, 2, 3])
    with pytest.raises(InputError, match="tree must be"):
        g.rollup(VALUES, tree="binary")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="op must be"):
        g.rollup(VALUES, op="mean")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="does not fit int64"):
        g.rollup(pa.array([2**63] * 7, pa.uint64()))


def test_sum_overflow_is_an_error_not_a_wrap(small_members: pa.Table) -> None:
    g = Genealogy.from_arrow(small_members)
    values = [0, 2**62, 0, 2**62, 0, 0, 0]
    # B's subtree (B, D, E, G) holds 2 * 2**62 = 2**63, one past int64.
    with pytest.raises(mlm_core.AmountOverflowError, match="row 1 \\(member 'B'\\)") as caught:
        g.rollup(values)
    assert caught.value.row == 1
    with pytest.raises(mlm_core.AmountOverflowError):
        g.leg_volumes(values)
    assert g.rollup(values, op="max").to_pylist()[0] == 2**62


@pytest.mark.slow
def test_million_deep_chain_builds_and_rolls_up() -> None:
    n = 1_000_000
    chain = synth.chain(n, id_kind="int")
    g = Genealogy.from_arrow(chain)
    count = g.rollup(op="count", tree="placement").to_numpy()
    assert count[0] == n and count[-1] == 1
    assert g.depth().to_numpy()[-1] == n - 1
    sums = g.rollup(np.ones(n, dtype=np.int64)).to_numpy()
    assert np.array_equal(sums, np.arange(n, 0, -1))
    legs = g.leg_volumes(np.ones(n, dtype=np.int64))
    assert legs.column("left")[0].as_py() == n - 1 and legs.column("right")[0].as_py() == 0


@pytest.mark.slow
def test_million_deep_cycle_is_reported_not_recursed() -> None:
    n = 1_000_000
    ids = np.arange(n, dtype=np.int64)
    parent = np.roll(ids, 1)  # 0 <- n-1, a single cycle through every member
    members = pa.table({"member_id": ids, "sponsor_id": parent, "placement_id": parent,
                        "leg": pa.array(["L"] * n)})
    report = validate_genealogy(members)
    codes = report.column("code").to_pylist()
    assert codes.count("cycle") == 2 and codes.count("no_root") == 1
    assert f"cycle of {n} member(s)" in report.column("detail").to_pylist()[-1]


@pytest.mark.slow
def test_star_with_a_million_recruits() -> None:
    n = 1_000_000
    g = Genealogy.from_arrow(synth.star(n, id_kind="int"))
    assert len(g.children(1)) == n - 1
    assert g.level_histogram().column("members").to_pylist() == [1, n - 1]
    assert g.rollup(op="count", tree="placement")[0].as_py() == n


def test_any_arrow_stream_object_is_accepted(small_members: pa.Table) -> None:
    class StreamOnly:
        """Like a polars DataFrame: only the Arrow PyCapsule stream interface."""

        def __arrow_c_stream__(self, requested_schema: object = None) -> object:
            return small_members.__arrow_c_stream__(requested_schema)

    g = Genealogy.from_arrow(StreamOnly())
    assert g.rollup(VALUES).to_pylist() == [28, 18, 9, 11, 5, 6, 7]
    assert g.rollup(pa.chunked_array([VALUES[:3], VALUES[3:]])).to_pylist() == [28, 18, 9, 11, 5, 6, 7]


def test_a_kernel_panic_is_an_internal_error_not_a_crash() -> None:
    from mlm_core import _mlm_core
    from mlm_core.errors import InternalError

    with pytest.raises(InternalError, match="panic guard self-test"):
        _mlm_core.panic_guard_selftest()
