"""The ledger reference itself, checked against every test vector of ledger-hashing.md and a few tamper cases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import reference_ledger as ref

T1_CANONICAL = (
    "4d4c4d54580100000002543100000003572d4100000000000030395553440000000a636f6d6d697373696f6e"
    "00065eb958151000010000001252554e2d323032362d31302f62696e617279"
)
#: tx_id -> (seq, leaf, chain), from the spec.
VECTORS = {
    "T1": (
        1,
        "f17845f16d00fe9536fc310ffd5febb9043b976d1ea918c201ef6dcd5e35e266",
        "b1f82d252e776fbef4fbb74ca3a673490b6bd7565d64563019371c129d447b21",
    ),
    "T2": (
        2,
        "4c49f503de4cebce54d511361f7fcbd8f03cc737e979a0214c3c59708a182e48",
        "6b3739b3f3ae1dd4c9bf4a519926b857a71b00327147b32f8fd7c818a0038323",
    ),
    "T3": (
        1,
        "b9a656a16e9894a92b60dc55008e5971528af6cedce6f3d32e80712d04a4e85a",
        "18eb2cdb7d7b31c4b86f66102f11371958733dc0aadcff0a0c87782808177723",
    ),
    "T4": (
        3,
        "54b349284669471392d1b48ae5a212e5dc50271ce94a5ba2728eafb232f6f289",
        "566e453a83109fa6a28aeadb889c6228db99146fa501e2757d1f43b1bd046f45",
    ),
    "T5": (
        2,
        "da404d14241bbe85d0b1eff6475f691e4f0326bb74811c9afe83b800e4155e16",
        "d318fbcb63e91bc5f9f869e0ac7f5e43a8d6fface6b4452202fa045d0f141ceb",
    ),
}
#: number of rows T1..Tn -> batch root, from the spec.
ROOTS = {
    1: "f17845f16d00fe9536fc310ffd5febb9043b976d1ea918c201ef6dcd5e35e266",
    2: "b921a3483880268703c00827d26dca53cb33a57c306b36d776df222e42e3207c",
    3: "fb2c83beeda32e62138589e3835c9ecae7503796ed69c06e3f74186d04b3eb68",
    4: "356095c792ca8dfc317fda204526b7cf92cf4bc9e74a0a3e25b389157955e4f9",
    5: "4a50e00d10db46e710e0883e6dbc8eef47e5ff1c567b138ee87d1cf09ca4fbd1",
}


def row(
    tx_id: str, wallet_id: str, amount: int, currency: str, kind: str, created_at: int, reference: str | None
) -> dict[str, Any]:
    return dict(
        tx_id=tx_id,
        wallet_id=wallet_id,
        amount=amount,
        currency=currency,
        kind=kind,
        created_at=created_at,
        reference=reference,
    )


def spec_rows() -> list[dict[str, Any]]:
    return [
        row("T1", "W-A", 12345, "USD", "commission", 1793000000000000, "RUN-2026-10/binary"),
        row("T2", "W-A", -5000, "USD", "withdrawal", 1793000000000001, None),
        row("T3", "W-B", 0, "USD", "adjustment", 1793000000000002, ""),
        row("T4", "W-A", -9223372036854775808, "EUR", "migration_opening", -1, "Zürich ✓"),
        row("T5", "W-B", 1, "USD", "commission", 1793000000000003, "e\u0301"),
    ]


def test_t1_canonical_bytes() -> None:
    assert ref.canonical(spec_rows()[0]).hex() == T1_CANONICAL


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_vectors_seq_leaf_chain_and_root(n: int) -> None:
    sealed = ref.seal(spec_rows()[:n])
    assert [r["tx_id"] for r in sealed] == ["T1", "T2", "T3", "T4", "T5"][:n]  # never reordered
    for r in sealed:
        seq, leaf, chain = VECTORS[r["tx_id"]]
        assert (r["seq"], r["leaf"].hex(), r["chain"].hex()) == (seq, leaf, chain)
        assert ref.leaf_hash(r).hex() == leaf
    assert ref.merkle_root([r["leaf"] for r in sealed]).hex() == ROOTS[n]
    report = ref.verify(sealed, published_root=bytes.fromhex(ROOTS[n]))
    assert ref.ok(report) and report["root"].hex() == ROOTS[n]


def test_t5_is_not_normalised() -> None:
    t5 = spec_rows()[4]
    nfc = dict(t5, reference="\u00e9")
    assert ref.leaf_hash(t5).hex() == VECTORS["T5"][1]
    assert ref.leaf_hash(nfc) != ref.leaf_hash(t5)


def test_empty_root_and_empty_leaf() -> None:
    empty_root = hashlib.sha256(b"").hexdigest()
    empty_leaf = hashlib.sha256(b"\x00").hexdigest()
    assert empty_root == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert empty_root.startswith("e3b0c442") and empty_root.endswith("b855")
    assert empty_leaf.startswith("6e340b9c") and empty_leaf.endswith("a01d")
    assert ref.merkle_root([]).hex() == empty_root
    assert ref.merkle_root([bytes.fromhex(empty_leaf)]).hex() == empty_leaf != empty_root


def bottom_up_root(leaves: list[bytes]) -> bytes:
    """A second Merkle root: pair neighbours level by level, promoting an odd last node unchanged."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def test_merkle_root_matches_bottom_up_for_n_up_to_40() -> None:
    leaves = [hashlib.sha256(b"\x00" + bytes([i])).digest() for i in range(41)]
    for n in range(41):
        assert ref.merkle_root(leaves[:n]) == bottom_up_root(leaves[:n]), n


def test_merkle_root_rfc6962_reference_roots() -> None:
    # RFC 6962 / certificate-transparency reference inputs and roots, leaves given as SHA256(0x00 || d).
    data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(d)).digest() for d in data]
    for n in range(1, 9):
        assert ref.merkle_root(leaves[:n]).hex() == roots[n - 1], n


@pytest.mark.parametrize("split", [0, 1, 2, 3, 4, 5])
def test_seal_continuing_from_heads_equals_sealing_at_once(split: int) -> None:
    rows = spec_rows()
    whole = ref.seal(rows)
    first = ref.seal(rows[:split])
    heads = ref.verify(first)["heads"]
    rest = ref.seal(rows[split:], heads)
    assert first + rest == whole
    published = {w: h for w, h in ref.verify(whole)["heads"].items() if any(r["wallet_id"] == w for r in rest)}
    assert ref.ok(ref.verify(rest, start_heads=heads, published_heads=published))


def test_a_wallet_without_rows_ends_at_its_start_head() -> None:
    # A continuation batch that does not touch a wallet leaves it at its start head: no mismatch there,
    # but a published head beyond it (rows missing from this batch) is one.
    whole = ref.seal(spec_rows())
    heads = ref.verify(whole)["heads"]
    assert ref.ok(ref.verify([], start_heads=heads, published_heads=heads))
    report = ref.verify([], published_heads=heads)
    assert codes(report) == [(None, "head_mismatch"), (None, "head_mismatch")]


def test_seal_refuses_repeats_and_bad_fields() -> None:
    rows = spec_rows()
    with pytest.raises(ValueError, match="T1"):
        ref.seal([*rows, dict(rows[0])])
    for field, value in [
        ("currency", "usd"),
        ("currency", "US"),
        ("currency", "ÜSD"),
        ("amount", 2**63),
        ("amount", True),
        ("created_at", -(2**63) - 1),
        ("kind", None),
        ("reference", 5),
    ]:
        with pytest.raises(ValueError, match="T3"):
            ref.seal([dict(rows[2], **{field: value})])
    assert rows == spec_rows()  # inputs untouched


# ---- tamper tests of verify --------------------------------------------------------------------------------


def longer_ledger() -> list[dict[str, Any]]:
    rows = spec_rows() + [
        row(f"T{i}", "W-A" if i % 2 else "W-B", i, "USD", "transfer", 1793000000000000 + i, None) for i in range(6, 12)
    ]
    return ref.seal(rows)


def codes(report: dict[str, Any]) -> list[tuple[Any, str]]:
    return [(p["tx_id"], p["code"]) for p in report["problems"]]


def test_untampered_ledger_verifies() -> None:
    sealed = longer_ledger()
    report = ref.verify(sealed)
    assert ref.ok(report)
    assert list(report["heads"]) == ["W-A", "W-B"]
    assert report["heads"]["W-A"] == (sealed[-1]["seq"], sealed[-1]["chain"])  # T11 is the last W-A row
    assert ref.ok(ref.verify(sealed, published_heads=report["heads"], published_root=report["root"]))


def test_edited_amount_is_a_leaf_mismatch_and_later_rows_of_the_wallet_are_not_reported() -> None:
    sealed = longer_ledger()
    sealed[1] = dict(sealed[1], amount=-4999)
    sealed[3] = dict(sealed[3], amount=0)  # a second edit on W-A: only the first is reported
    assert codes(ref.verify(sealed)) == [("T2", "leaf_mismatch")]


def test_edited_chain_is_a_chain_mismatch() -> None:
    sealed = longer_ledger()
    chain = bytearray(sealed[2]["chain"])
    chain[0] ^= 1
    sealed[2] = dict(sealed[2], chain=bytes(chain))
    # T3's chain is wrong; T5 continues from T3's stored chain, so it would also fail, but W-B already failed.
    assert codes(ref.verify(sealed)) == [("T3", "chain_mismatch")]


def test_deleted_middle_row_is_a_sequence_gap_at_the_next_row_of_that_wallet() -> None:
    sealed = longer_ledger()
    del sealed[1]  # T2 (W-A seq 2); next W-A row is T4 with seq 3
    report = ref.verify(sealed)
    assert codes(report) == [("T4", "sequence_gap")]
    assert report["problems"][0]["detail"] == "expected seq 2, found 3"


def test_truncated_tail_is_a_head_mismatch() -> None:
    sealed = longer_ledger()
    published = ref.verify(sealed)["heads"]
    truncated = sealed[:-2]  # drops T10 (W-B) and T11 (W-A)
    report = ref.verify(truncated, published_heads=published)
    assert codes(report) == [("T9", "head_mismatch"), ("T8", "head_mismatch")]
    assert report["problems"][0]["detail"] == "ledger ends at seq 5, published head is seq 6"
    empty = ref.verify([], published_heads=published)
    assert codes(empty) == [(None, "head_mismatch"), (None, "head_mismatch")]
    assert empty["problems"][0]["detail"] == "wallet has no rows; published head is seq 6"


def test_same_seq_different_chain_is_a_head_mismatch() -> None:
    sealed = longer_ledger()
    published = dict(ref.verify(sealed)["heads"])
    published["W-B"] = (published["W-B"][0], bytes(32))
    report = ref.verify(sealed, published_heads=published)
    assert codes(report) == [("T10", "head_mismatch")]
    assert report["problems"][0]["detail"] == "chain differs from the published head at seq 5"


def test_swapped_rows_of_one_wallet_are_a_sequence_gap_at_the_first_of_the_two() -> None:
    sealed = longer_ledger()
    sealed[0], sealed[1] = sealed[1], sealed[0]  # T2 (seq 2) now comes before T1 (seq 1)
    report = ref.verify(sealed)
    assert codes(report) == [("T2", "sequence_gap")]
    assert report["problems"][0]["detail"] == "expected seq 1, found 2"


def test_changed_published_root_is_a_root_mismatch() -> None:
    sealed = longer_ledger()
    report = ref.verify(sealed)
    wrong = bytearray(report["root"])
    wrong[-1] ^= 0x80
    assert codes(ref.verify(sealed, published_root=bytes(wrong))) == [(None, "root_mismatch")]


def test_duplicate_bad_field_and_problem_order() -> None:
    sealed = longer_ledger()
    sealed[5] = dict(sealed[5], tx_id="T1")  # T6 (W-B) renamed to T1: duplicate_tx_id, before any hash check
    sealed[6] = dict(sealed[6], currency="usd")  # T7 (W-A): bad_field
    report = ref.verify(sealed, published_root=bytes(32))
    assert codes(report) == [("T1", "duplicate_tx_id"), ("T7", "bad_field"), (None, "root_mismatch")]
    assert report["problems"][0]["detail"] == "tx_id also on row 0"
    assert report["problems"][0]["wallet_id"] == "W-B"
    assert report["root"] == ref.merkle_root([r["leaf"] for r in sealed])
