"""The DuckDB e-wallet store: idempotent posting, balances, reversals, tamper detection, threads and processes."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import reference_ledger as ref

import mlm_core
import mlm_core.store
from mlm_core.engine import PeriodResult
from mlm_core.errors import InputError, LedgerError, StoreError
from mlm_core.store import PostResult, Store

PLAN = Path(__file__).resolve().parents[1] / ".." / "shared" / "spec" / "example-plan.toml"
T0 = 1_793_000_000_000_000  # 2026-10-26, microseconds since the epoch


def rows(*specs: tuple[Any, ...]) -> pa.Table:
    """A batch from (tx_id, wallet_id, amount[, kind[, reference[, currency]]]) tuples; created_at counts up."""
    full = [(s + ("commission", None, "USD")[len(s) - 3:]) for s in specs]
    return pa.table({
        "tx_id": pa.array([s[0] for s in full], pa.string()),
        "wallet_id": pa.array([s[1] for s in full], pa.string()),
        "amount": pa.array([s[2] for s in full], pa.int64()),
        "currency": pa.array([s[5] for s in full], pa.string()),
        "kind": pa.array([s[3] for s in full], pa.string()),
        "created_at": pa.array([T0 + i for i in range(len(full))], pa.int64()),
        "reference": pa.array([s[4] for s in full], pa.string()),
    })


def balance(store: Store, wallet_id: str, currency: str = "USD") -> int | None:
    found = [r["balance_minor"] for r in store.balances(wallet_id).to_pylist() if r["currency"] == currency]
    return found[0] if found else None


def count(store: Store) -> tuple[int, int]:
    """(transaction rows, checkpoints)."""
    return store.transactions().num_rows, store.checkpoints().num_rows


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store(tmp_path / "ledger.duckdb") as opened:
        yield opened


@pytest.fixture
def period_result() -> PeriodResult:
    """The README's quick-start company and volumes: A and B earn unilevel commissions."""
    members = pa.table({
        "member_id": ["A", "B", "C", "D"],
        "sponsor_id": [None, "A", "A", "B"],
        "placement_id": [None, "A", "A", "B"],
        "leg": [None, "L", "R", "L"],
        "status": ["active", "active", "inactive", "active"],
    })
    volumes = pa.table({"member_id": ["A", "B", "D", "D"], "pv": [10000, 10000, 20000, -2000],
                        "bv": [10000, 10000, 20000, -2000]})
    plan = mlm_core.Plan.from_toml(PLAN.read_text())
    return mlm_core.run_period(plan, mlm_core.Genealogy.from_arrow(members), volumes, period="2026-11")


# -- commission runs ------------------------------------------------------------------------------


def test_post_run_twice_changes_nothing(store: Store, period_result: PeriodResult) -> None:
    lines = period_result.lines.to_pylist()
    assert lines, "the fixture run must pay someone"
    first = store.post_run(period_result, run_id="RUN-2026-11", created_at=T0, currency="USD")
    assert (first.batch_id, first.posted, first.skipped) == (1, len(lines), 0)
    stored = store.transactions()
    assert stored.column("tx_id").to_pylist() == [f"RUN-2026-11/{x['member_id']}/{x['bonus']}" for x in lines]
    assert stored.column("reference").to_pylist() == [f"RUN-2026-11/{x['bonus']}" for x in lines]
    assert set(stored.column("kind").to_pylist()) == {"commission"}
    before = store.balances()

    second = store.post_run(period_result, run_id="RUN-2026-11", created_at=T0, currency="USD")
    assert second == PostResult(None, 0, len(lines), ref.merkle_root([]))
    assert store.transactions().equals(stored)
    assert store.balances().equals(before)
    assert store.checkpoints().num_rows == 1
    expected: dict[str, int] = {}
    for line in lines:
        expected[line["member_id"]] = expected.get(line["member_id"], 0) + line["amount"]
    assert {r["wallet_id"]: r["balance_minor"] for r in before.to_pylist()} == expected


def test_post_run_negative_lines_are_clawbacks(store: Store, period_result: PeriodResult) -> None:
    store.post_run(period_result, run_id="R1", created_at=T0, currency="USD")
    lines = period_result.lines
    negated = lines.set_column(3, "amount", pa.array([-a for a in lines.column("amount").to_pylist()], pa.int64()))
    clawback = dataclasses.replace(period_result, lines=negated)
    result = store.post_run(clawback, run_id="R2", created_at=T0 + 1, currency="USD")
    assert result.posted == lines.num_rows
    second = store.transactions().filter(pc.starts_with(store.transactions().column("tx_id"), "R2/"))
    assert set(second.column("kind").to_pylist()) == {"clawback"}
    assert {r["balance_minor"] for r in store.balances().to_pylist()} == {0}


# -- idempotency and validation -------------------------------------------------------------------


def test_same_tx_id_with_other_amount_is_refused_and_nothing_written(store: Store) -> None:
    store.post(rows(("T1", "W-A", 100), ("T2", "W-A", 200)))
    before = count(store)
    with pytest.raises(LedgerError, match=r"'T2'.*amount \(stored 200, given 250\)") as info:
        store.post(rows(("T3", "W-A", 5), ("T2", "W-A", 250)))
    assert info.value.tx_id == "T2"
    assert count(store) == before
    assert "T3" not in store.transactions().column("tx_id").to_pylist()


def test_repeat_with_identical_fields_is_skipped_and_new_rows_posted(store: Store) -> None:
    store.post(rows(("T1", "W-A", 100)))
    result = store.post(rows(("T1", "W-A", 100), ("T2", "W-A", 7)))
    assert (result.batch_id, result.posted, result.skipped) == (2, 1, 1)
    assert store.transactions().column("seq").to_pylist() == [1, 2]
    assert balance(store, "W-A") == 107


def test_unknown_currency_and_repeated_tx_id_name_the_tx_id(store: Store) -> None:
    with pytest.raises(LedgerError, match=r"'T2'.*'ABC'"):
        store.post(rows(("T1", "W-A", 1), ("T2", "W-A", 1, "commission", None, "ABC")))
    store.post(rows(("T1", "W-A", 1)))
    with pytest.raises(LedgerError, match=r"'T1'.*repeated"):
        store.post(rows(("T1", "W-A", 1), ("T1", "W-A", 1)))
    assert count(store) == (1, 1)


def test_bad_columns_are_input_errors(store: Store) -> None:
    table = rows(("T1", "W-A", 1))
    with pytest.raises(InputError, match="amount"):
        store.post(table.set_column(2, "amount", pa.array([1.5])))
    with pytest.raises(InputError, match="wallet_id"):
        store.post(table.set_column(1, "wallet_id", pa.array([None], pa.string())))
    with pytest.raises(InputError, match="extra"):
        store.post(table.append_column("extra", pa.array([1])))
    assert count(store) == (0, 0)


def test_nfc_normalisation_at_posting(store: Store) -> None:
    nfd = "Cafe\u0301"
    store.post(rows(("T\u0301", nfd, 10, "commission", "e\u0301")))
    row = store.transactions().to_pylist()[0]
    assert (row["tx_id"], row["wallet_id"], row["reference"]) == ("T\u0301", "Caf\u00e9", "\u00e9")
    # the NFC strings are what got hashed, and the NFD tx_id finds the stored row again
    plain = {k: row[k] for k in ref.FIELDS}
    assert row["leaf"] == ref.leaf_hash(plain)
    assert store.post(rows(("T\u0301", nfd, 10, "commission", "e\u0301"))).skipped == 1
    assert balance(store, nfd) == 10


# -- balances, withdrawals, reversals -------------------------------------------------------------


def test_withdrawal_beyond_balance_refused_unless_allowed(store: Store) -> None:
    store.post(rows(("C1", "W-A", 1000)))
    with pytest.raises(LedgerError, match=r"'X1'.*'W-A' has 1000 USD") as info:
        store.withdraw("W-A", 1500, "USD", tx_id="X1", created_at=T0 + 10)
    assert info.value.tx_id == "X1"
    assert balance(store, "W-A") == 1000 and count(store) == (1, 1)
    store.withdraw("W-A", 1000, "USD", tx_id="X0", created_at=T0 + 10)  # down to exactly zero is fine
    assert balance(store, "W-A") == 0

    store.set_wallet("W-A", allow_negative=True)
    result = store.withdraw("W-A", 1500, "USD", tx_id="X1", created_at=T0 + 11)
    assert result.posted == 1
    assert balance(store, "W-A") == -1500
    assert store.transactions("W-A").column("kind").to_pylist()[-1] == "withdrawal"
    store.set_wallet("W-A", allow_negative=False)
    with pytest.raises(LedgerError, match="X2"):
        store.withdraw("W-A", 1, "USD", tx_id="X2", created_at=T0 + 12)


def test_balance_rules_follow_posting_order_and_currency(store: Store) -> None:
    store.post(rows(("C1", "W-A", 500), ("D1", "W-A", -500, "transfer")))
    with pytest.raises(LedgerError, match="'D2'"):
        store.post(rows(("D2", "W-B", -500, "transfer"), ("C2", "W-B", 500)))
    with pytest.raises(LedgerError, match="'D3'"):  # USD money does not pay a EUR debit
        store.post(rows(("C3", "W-C", 500), ("D3", "W-C", -1, "transfer", None, "EUR")))
    assert balance(store, "W-A") == 0 and balance(store, "W-B") is None and balance(store, "W-C") is None


def test_withdraw_takes_a_positive_int(store: Store) -> None:
    for bad in (0, -5, True, 1.5):
        with pytest.raises(InputError, match="amount_minor"):
            store.withdraw("W-A", bad, "USD", tx_id="X", created_at=T0)  # type: ignore[arg-type]
    assert count(store) == (0, 0)


def test_reversal_restores_balance_and_is_idempotent(store: Store) -> None:
    store.post(rows(("C1", "W-A", 1000, "commission", None, "EUR"), ("C2", "W-A", 300)))
    first = store.reverse("C1", created_at=T0 + 5, reason="posted to the wrong member")
    assert first.posted == 1
    reversal = store.transactions().to_pylist()[-1]
    assert {k: reversal[k] for k in ("tx_id", "wallet_id", "amount", "currency", "kind", "reference")} == {
        "tx_id": "C1/reversal", "wallet_id": "W-A", "amount": -1000, "currency": "EUR", "kind": "reversal",
        "reference": "posted to the wrong member"}
    assert balance(store, "W-A", "EUR") == 0 and balance(store, "W-A", "USD") == 300

    again = store.reverse("C1", created_at=T0 + 5, reason="posted to the wrong member")
    assert (again.posted, again.skipped) == (0, 1)
    assert balance(store, "W-A", "EUR") == 0 and count(store) == (3, 2)
    with pytest.raises(LedgerError, match="is a reversal"):
        store.reverse("C1/reversal", created_at=T0 + 6, reason="undo")
    with pytest.raises(LedgerError, match="'NOPE' is not in the ledger"):
        store.reverse("NOPE", created_at=T0 + 6, reason="?")
    assert count(store) == (3, 2)


# -- verification and checkpoints -----------------------------------------------------------------


def _three_batches(store: Store) -> None:
    store.post(rows(("A1", "W-A", 10), ("B1", "W-B", 20)), run_id="first")
    store.post(rows(("A2", "W-A", 11), ("A3", "W-A", 12), ("B2", "W-B", 21)))
    store.post(rows(("A4", "W-A", 13)), run_id="third")


def _tamper(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


def test_verify_ledger_clean(store: Store) -> None:
    _three_batches(store)
    report = store.verify_ledger()
    assert report.ok and report.problems.num_rows == 0
    assert report.root == ref.merkle_root(store.transactions().column("leaf").to_pylist())
    assert store.verify_ledger(published_heads=store.heads()).ok


def _problems(report: Any) -> list[tuple[Any, str]]:
    return [(p["tx_id"], p["code"]) for p in report.problems.to_pylist()]


@pytest.mark.parametrize(
    ("sql", "expected", "broken_batches"),
    [
        # an edited amount leaves the stored leaves, hence the batch root, as they were: the leaf shows it
        ("UPDATE wallet_transactions SET amount = 99 WHERE tx_id = 'A2'", ("A2", "leaf_mismatch"), []),
        ("DELETE FROM wallet_transactions WHERE tx_id = 'A2'", ("A3", "sequence_gap"), ["batch 2"]),
    ],
)
def test_verify_ledger_finds_a_tampered_row(tmp_path: Path, sql: str, expected: tuple[str, str],
                                            broken_batches: list[str]) -> None:
    path = tmp_path / "ledger.duckdb"
    with Store(path) as store:
        _three_batches(store)
    _tamper(path, sql)
    with Store(path) as store:
        report = store.verify_ledger()
    assert not report.ok
    chains = [p for p in _problems(report) if p[1] != "root_mismatch"]
    assert chains == [expected]  # the first bad row of W-A, and nothing of W-B
    roots = [p["detail"] for p in report.problems.to_pylist() if p["code"] == "root_mismatch"]
    assert [d.split(":")[0] for d in roots] == broken_batches


def test_verify_ledger_finds_an_altered_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    with Store(path) as store:
        _three_batches(store)
    _tamper(path, "UPDATE ledger_checkpoints SET merkle_root = sha256('forged')::BLOB WHERE batch_id = 3")
    with Store(path) as store:
        report = store.verify_ledger()
    assert not report.ok
    assert [(p["tx_id"], p["wallet_id"], p["code"]) for p in report.problems.to_pylist()] == [
        (None, None, "root_mismatch")]
    assert "batch 3" in report.problems.column("detail")[0].as_py()


def test_export_checkpoints_matches_the_tables(store: Store, tmp_path: Path) -> None:
    _three_batches(store)
    out = tmp_path / "published.json"
    store.export_checkpoints(out)
    document = json.loads(out.read_text())
    assert document["checkpoints"] == [
        {"batch_id": c["batch_id"], "run_id": c["run_id"], "rows": c["rows"], "merkle_root": c["merkle_root"].hex()}
        for c in store.checkpoints().to_pylist()
    ]
    assert [c["run_id"] for c in document["checkpoints"]] == ["first", None, "third"]
    assert [c["rows"] for c in document["checkpoints"]] == [2, 3, 1]
    last = {}
    for row in store.transactions().to_pylist():
        last[row["wallet_id"]] = {"wallet_id": row["wallet_id"], "seq": row["seq"], "chain": row["chain"].hex()}
    assert document["heads"] == [last["W-A"], last["W-B"]]
    batch_two = [r["leaf"] for r in store.transactions().to_pylist() if r["batch_id"] == 2]
    assert document["checkpoints"][1]["merkle_root"] == ref.merkle_root(batch_two).hex()


def test_tables_keep_money_integer(store: Store) -> None:
    store.post(rows(("T1", "W-A", 2**62), ("T2", "W-A", 2**62 - 1)))
    assert store.balances().schema.field("balance_minor").type == pa.int64()
    assert balance(store, "W-A") == 2**63 - 1
    schema = store.transactions().schema
    assert all(schema.field(name).type == pa.int64() for name in ("amount", "created_at", "seq", "posted_order"))
    assert schema.field("leaf").type == pa.binary()
    with pytest.raises(mlm_core.AmountOverflowError, match="'T3'"):
        store.post(rows(("T3", "W-A", 1)))


# -- concurrency ----------------------------------------------------------------------------------


def test_threads_posting_at_once_lose_and_duplicate_nothing(store: Store) -> None:
    threads, posts, wallets = 8, 50, [f"W-{i:02d}" for i in range(20)]
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    posted: list[list[tuple[str, str, int]]] = [[] for _ in range(threads)]

    def work(worker: int) -> None:
        rng = random.Random(worker)
        start.wait()
        try:
            for n in range(posts):
                batch = [(f"t{worker}-{n}-{k}", rng.choice(wallets), rng.randint(1, 10_000))
                         for k in range(rng.randint(1, 4))]
                result = store.post(rows(*batch))
                assert result.posted == len(batch)
                posted[worker].extend(batch)
        except BaseException as exc:  # collected: an exception in a thread would not fail the test
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert not errors, errors[0]

    everything = [row for batch in posted for row in batch]
    stored = store.transactions().to_pylist()
    assert sorted(r["tx_id"] for r in stored) == sorted(r[0] for r in everything)
    assert [r["posted_order"] for r in stored] == list(range(1, len(everything) + 1))
    by_wallet: dict[str, list[dict[str, Any]]] = {}
    for row in stored:
        by_wallet.setdefault(row["wallet_id"], []).append(row)
    for wallet_rows in by_wallet.values():
        assert [r["seq"] for r in wallet_rows] == list(range(1, len(wallet_rows) + 1))
    # the chains are recomputed independently of mlm_core, in posting order
    resealed = ref.seal([{k: r[k] for k in ref.FIELDS} for r in stored])
    assert [r["chain"] for r in resealed] == [r["chain"] for r in stored]
    assert store.verify_ledger().ok
    expected: dict[str, int] = {}
    for _, wallet, amount in everything:
        expected[wallet] = expected.get(wallet, 0) + amount
    assert {r["wallet_id"]: r["balance_minor"] for r in store.balances().to_pylist()} == expected
    assert store.checkpoints().num_rows == threads * posts


def test_second_process_gets_a_clear_store_error(store: Store) -> None:
    store.post(rows(("T1", "W-A", 1)))
    script = (
        "import sys\n"
        "from mlm_core.errors import StoreError\n"
        "from mlm_core.store import Store\n"
        "try:\n"
        "    Store(sys.argv[1]).close()\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(store.path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert "is open by another writer process" in done.stdout
    assert str(store.path) in done.stdout
    assert "Traceback" not in done.stderr
    assert balance(store, "W-A") == 1  # the first process is untouched


def test_store_error_is_an_mlm_core_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("hello")
    with pytest.raises(StoreError, match="cannot open"):
        Store(tmp_path / "not-a-db")
    assert issubclass(StoreError, mlm_core.MlmCoreError)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "ledger.duckdb")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.balances()
    with pytest.raises(StoreError, match="closed"):
        store.post(rows(("T1", "W-A", 1)))


def test_a_failure_after_the_rows_are_written_rolls_everything_back(store: Store,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store.post(rows(("T1", "W-A", 1)))

    def broken(leaves: Any) -> bytes:
        raise RuntimeError("disk on fire")

    # the batch root is computed after the rows are inserted, before the checkpoint: the last moment to fail
    monkeypatch.setattr(mlm_core.store.ledger, "merkle_root", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.post(rows(("T2", "W-A", 2), ("T3", "W-B", 3)))
    monkeypatch.undo()
    assert count(store) == (1, 1)
    assert store.post(rows(("T2", "W-A", 2))).batch_id == 2
    assert store.verify_ledger().ok
