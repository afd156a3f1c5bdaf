"""mlm_core.ledger against the spec's vectors and the hashlib reference (tests/reference_ledger.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa
import pytest
import reference_ledger as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_core import LedgerError, ledger

I64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # no lone surrogates: not UTF-8


def table(rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema([("tx_id", pa.string()), ("wallet_id", pa.string()), ("amount", pa.int64()),
                        ("currency", pa.string()), ("kind", pa.string()), ("created_at", pa.int64()),
                        ("reference", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def sealed_table(rows: list[dict[str, Any]]) -> pa.Table:
    schema = table([]).schema.append(pa.field("seq", pa.int64())).append(pa.field("leaf", pa.binary())) \
        .append(pa.field("chain", pa.binary()))
    return pa.Table.from_pylist(rows, schema=schema)


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    wallets = draw(st.lists(TEXT, min_size=1, max_size=6, unique=True))
    n = draw(st.integers(0, 40))
    ids = draw(st.lists(TEXT, min_size=n, max_size=n, unique=True))
    return [{
        "tx_id": tx_id,
        "wallet_id": draw(st.sampled_from(wallets)),
        "amount": draw(I64),
        "currency": draw(st.sampled_from(["USD", "EUR", "IDR", "ZZZ"])),
        "kind": draw(st.sampled_from(["commission", "withdrawal", "", "ümlaut ✓"])),
        "created_at": draw(I64),
        "reference": draw(st.one_of(st.none(), st.just(""), TEXT)),
    } for tx_id in ids]


def spec_rows() -> list[dict[str, Any]]:
    rows = [("T1", "W-A", 12345, "USD", "commission", 1793000000000000, "RUN-2026-10/binary"),
            ("T2", "W-A", -5000, "USD", "withdrawal", 1793000000000001, None),
            ("T3", "W-B", 0, "USD", "adjustment", 1793000000000002, ""),
            ("T4", "W-A", -(2**63), "EUR", "migration_opening", -1, "Zürich ✓"),
            ("T5", "W-B", 1, "USD", "commission", 1793000000000003, "e\u0301")]
    return [dict(zip(ref.FIELDS, row, strict=True)) for row in rows]


def test_spec_vectors_byte_for_byte() -> None:
    sealed = ledger.seal(table(spec_rows()))
    assert sealed.column("seq").to_pylist() == [1, 2, 1, 3, 2]
    hexes = [b.hex() for b in sealed.column("chain").to_pylist()]
    assert hexes[3] == "566e453a83109fa6a28aeadb889c6228db99146fa501e2757d1f43b1bd046f45"
    assert hexes[4] == "d318fbcb63e91bc5f9f869e0ac7f5e43a8d6fface6b4452202fa045d0f141ceb"
    leaves = sealed.column("leaf")
    assert leaves[4].as_py().hex() == "da404d14241bbe85d0b1eff6475f691e4f0326bb74811c9afe83b800e4155e16"
    assert ledger.merkle_root(leaves).hex() == "4a50e00d10db46e710e0883e6dbc8eef47e5ff1c567b138ee87d1cf09ca4fbd1"
    assert ledger.merkle_root(leaves.slice(0, 2)).hex() == \
        "b921a3483880268703c00827d26dca53cb33a57c306b36d776df222e42e3207c"
    assert ledger.merkle_root(pa.array([], pa.binary())) == hashlib.sha256(b"").digest()
    assert ledger.merkle_root([]) == hashlib.sha256(b"").digest()


@settings(max_examples=300, deadline=None)
@given(batches(), st.integers(0, 40))
def test_seal_and_verify_agree_with_the_hashlib_reference(rows: list[dict[str, Any]], split: int) -> None:
    expected = ref.seal(rows)
    sealed = ledger.seal(table(rows))
    assert sealed.to_pylist() == expected
    assert ledger.merkle_root(sealed.column("leaf")) == ref.merkle_root([r["leaf"] for r in expected])
    # Continuing from heads: the second part sealed alone equals the tail of the whole.
    first, rest = rows[:split], rows[split:]
    heads = ledger.verify(ledger.seal(table(first))).heads
    assert ledger.seal(table(rest), heads=heads).to_pylist() == expected[split:]
    report = ledger.verify(sealed)
    assert report.ok and report.root == ref.verify(expected)["root"]
    assert {h["wallet_id"]: (h["seq"], h["chain"]) for h in report.heads.to_pylist()} == ref.verify(expected)["heads"]


def tamper(rows: list[dict[str, Any]], how: str, at: int) -> list[dict[str, Any]]:
    rows = [dict(r) for r in rows]
    at = at % len(rows)
    if how == "field":
        rows[at]["amount"] = rows[at]["amount"] ^ 1
    elif how == "leaf":
        rows[at]["leaf"] = bytes([rows[at]["leaf"][0] ^ 1]) + rows[at]["leaf"][1:]
    elif how == "chain":
        rows[at]["chain"] = bytes(32)
    elif how == "delete":
        del rows[at]
    elif how == "insert":
        forged = dict(rows[at], tx_id=rows[at]["tx_id"] + "-forged")
        rows.insert(at, forged)
    elif how == "swap" and at + 1 < len(rows):
        rows[at], rows[at + 1] = rows[at + 1], rows[at]
    elif how == "truncate":
        del rows[at:]
    elif how == "duplicate":
        rows.insert(at, dict(rows[at]))
    return rows


@settings(max_examples=300, deadline=None)
@given(batches(), st.sampled_from(["field", "leaf", "chain", "delete", "insert", "swap", "truncate", "duplicate"]),
       st.integers(0, 100))
def test_tampering_is_found_and_pinned_like_the_reference(rows: list[dict[str, Any]], how: str, at: int) -> None:
    if not rows:
        return
    sealed = ref.seal(rows)
    published = ref.verify(sealed)
    bad = tamper(sealed, how, at)
    expected = ref.verify(bad, published_heads=published["heads"], published_root=published["root"])
    heads = pa.table({"wallet_id": list(published["heads"]), "seq": [h[0] for h in published["heads"].values()],
                      "chain": pa.array([h[1] for h in published["heads"].values()], pa.binary())})
    report = ledger.verify(sealed_table(bad), published_heads=heads, published_root=published["root"])
    assert report.problems.to_pylist() == expected["problems"]
    changed = bad != sealed
    assert report.ok == (not changed)


def test_each_tampering_is_pinned_to_its_tx_id() -> None:
    rows = [dict(r, wallet_id="W") for r in spec_rows()] + [dict(spec_rows()[0], tx_id="T6", wallet_id="V")]
    sealed = ref.seal(rows)
    heads = ledger.verify(sealed_table(sealed)).heads
    root = ref.merkle_root([r["leaf"] for r in sealed])

    def found(bad: list[dict[str, Any]]) -> list[tuple[Any, str]]:
        problems = ledger.verify(sealed_table(bad), published_heads=heads, published_root=root).problems
        return [(p["tx_id"], p["code"]) for p in problems.to_pylist()]

    # An edited field leaves the stored leaves (and so the root) as they were: the leaf check catches it.
    assert found(tamper(sealed, "field", 2)) == [("T3", "leaf_mismatch")]
    assert found(tamper(sealed, "leaf", 2)) == [("T3", "leaf_mismatch"), (None, "root_mismatch")]
    assert found(tamper(sealed, "chain", 1)) == [("T2", "chain_mismatch")]
    assert found(tamper(sealed, "delete", 1)) == [("T3", "sequence_gap"), (None, "root_mismatch")]
    assert found(tamper(sealed, "insert", 2))[0] == ("T3-forged", "leaf_mismatch")
    assert found(tamper(sealed, "swap", 1)) == [("T3", "sequence_gap"), (None, "root_mismatch")]
    # A truncated tail looks sound row by row: only the published head and root catch it.
    assert found(tamper(sealed, "truncate", 4)) == [("T4", "head_mismatch"), (None, "head_mismatch"),
                                                    (None, "root_mismatch")]
    assert ledger.verify(sealed_table(tamper(sealed, "truncate", 4))).ok


def test_seal_refuses_repeats_and_broken_field_rules_naming_the_tx_id() -> None:
    rows = spec_rows()
    with pytest.raises(LedgerError, match=r"'T1'.*row 0") as info:
        ledger.seal(table([*rows, dict(rows[0], wallet_id="W-C")]))
    assert info.value.row == 5
    with pytest.raises(LedgerError, match=r"'T2'.*currency"):
        ledger.seal(table([rows[0], dict(rows[1], currency="usd")]))
    with pytest.raises(Exception, match="tx_id is null"):
        ledger.seal(table([dict(rows[0], tx_id=None)]))


def test_timestamps_need_a_time_zone() -> None:
    rows = table(spec_rows()[:1])
    aware = rows.set_column(5, "created_at", pa.array([1793000000000000], pa.timestamp("us", tz="UTC")))
    assert ledger.seal(aware).column("leaf") == ledger.seal(rows).column("leaf")
    naive = rows.set_column(5, "created_at", pa.array([1793000000000000], pa.timestamp("us")))
    with pytest.raises(Exception, match="without a time zone"):
        ledger.seal(naive)


def test_many_wallets_in_parallel_shards_match_the_reference() -> None:
    rows = [{"tx_id": f"t{i}", "wallet_id": f"w{i % 997}", "amount": i * 7 - 3000, "currency": "USD",
             "kind": "commission", "created_at": i, "reference": None if i % 3 else f"r{i}"} for i in range(20_000)]
    assert ledger.seal(table(rows)).to_pylist() == ref.seal(rows)
