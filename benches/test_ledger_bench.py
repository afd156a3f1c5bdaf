"""Ledger hashing: seal and verify on MLM_BENCH_LEDGER_ROWS rows (default 100k; the issue measures 10M)
against a Python ``hashlib`` loop over the same rows (MLM_BENCH_HASHLIB_ROWS, default 20k), in one run.

    MLM_BENCH_LEDGER_ROWS=10000000 MLM_BENCH_HASHLIB_ROWS=500000 \\
        .venv/bin/python -m pytest benches/test_ledger_bench.py --benchmark-enable
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from mlm_core import ledger

ROWS = int(os.environ.get("MLM_BENCH_LEDGER_ROWS", 100_000))
HASHLIB_ROWS = int(os.environ.get("MLM_BENCH_HASHLIB_ROWS", 20_000))


def commission_batch(n: int) -> pa.Table:
    """A commission run's shape: one to three lines per member wallet, ids and references as strings."""
    rng = np.random.default_rng(5)
    member = np.sort(rng.integers(0, max(n // 2, 1), size=n))
    ids = pa.array(np.arange(n)).cast(pa.string())
    wallets = pc.binary_join_element_wise("M", pa.array(member).cast(pa.string()), "")
    return pa.table({
        "tx_id": pc.binary_join_element_wise("RUN-2026-11/", ids, ""),
        "wallet_id": wallets,
        "amount": pa.array(rng.integers(1, 5_000_000, size=n), pa.int64()),
        "currency": pa.array(np.full(n, "USD")),
        "kind": pa.array(np.full(n, "commission")),
        "created_at": pa.array(np.full(n, 1_796_000_000_000_000, dtype=np.int64)),
        "reference": pa.array(np.full(n, "RUN-2026-11/binary")),
    })


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def canonical(r: dict[str, Any]) -> bytes:
    """The spec's canonical bytes, written as a user would with the standard library."""
    reference = b"\x00" if r["reference"] is None else b"\x01" + _string(r["reference"])
    return (b"MLMTX\x01" + _string(r["tx_id"]) + _string(r["wallet_id"]) + r["amount"].to_bytes(8, "big", signed=True)
            + r["currency"].encode() + _string(r["kind"]) + r["created_at"].to_bytes(8, "big", signed=True)
            + reference)


def hashlib_seal(rows: list[dict[str, Any]]) -> list[bytes]:
    """What a user would write in Python: canonical bytes, leaf and chain per row."""
    heads: dict[str, tuple[int, bytes]] = {}
    chains = []
    for r in rows:
        leaf = hashlib.sha256(b"\x00" + canonical(r)).digest()
        seq, previous = heads.get(r["wallet_id"], (0, bytes(32)))
        chain = hashlib.sha256(b"\x02" + (seq + 1).to_bytes(8, "big") + previous + leaf).digest()
        heads[r["wallet_id"]] = (seq + 1, chain)
        chains.append(chain)
    return chains


def hashlib_verify(rows: list[dict[str, Any]]) -> int:
    """The Python check an auditor would write: recompute each leaf and chain and compare; bad rows."""
    heads: dict[str, bytes] = {}
    bad = 0
    for r in rows:
        leaf = hashlib.sha256(b"\x00" + canonical(r)).digest()
        previous = heads.get(r["wallet_id"], bytes(32))
        chain = hashlib.sha256(b"\x02" + r["seq"].to_bytes(8, "big") + previous + leaf).digest()
        bad += leaf != r["leaf"] or chain != r["chain"]
        heads[r["wallet_id"]] = r["chain"]
    return bad


@pytest.fixture(scope="module")
def batch() -> pa.Table:
    return commission_batch(ROWS)


@pytest.fixture(scope="module")
def sealed(batch: pa.Table) -> pa.Table:
    return ledger.seal(batch)


@pytest.mark.benchmark(group="ledger")
def test_seal(benchmark: BenchmarkFixture, batch: pa.Table) -> None:
    out = benchmark.pedantic(ledger.seal, args=(batch,), rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(rows=batch.num_rows)
    small = batch.slice(0, min(ROWS, 2_000))
    assert out.column("chain").slice(0, small.num_rows).to_pylist() == hashlib_seal(small.to_pylist())


@pytest.mark.benchmark(group="ledger")
def test_verify(benchmark: BenchmarkFixture, sealed: pa.Table) -> None:
    report = benchmark.pedantic(ledger.verify, args=(sealed,), rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(rows=sealed.num_rows)
    assert report.ok and report.root == ledger.merkle_root(sealed.column("leaf"))


@pytest.mark.benchmark(group="ledger")
def test_merkle_root(benchmark: BenchmarkFixture, sealed: pa.Table) -> None:
    leaves = sealed.column("leaf")
    root = benchmark.pedantic(ledger.merkle_root, args=(leaves,), rounds=5, iterations=1)
    benchmark.extra_info.update(rows=len(leaves))
    assert len(root) == 32


@pytest.mark.benchmark(group="ledger")
def test_hashlib_loop_baseline(benchmark: BenchmarkFixture) -> None:
    rows = commission_batch(HASHLIB_ROWS).to_pylist()
    chains = benchmark.pedantic(hashlib_seal, args=(rows,), rounds=3, iterations=1)
    benchmark.extra_info.update(rows=len(rows))
    assert chains == ledger.seal(commission_batch(HASHLIB_ROWS)).column("chain").to_pylist()


@pytest.mark.benchmark(group="ledger")
def test_hashlib_verify_baseline(benchmark: BenchmarkFixture) -> None:
    rows = ledger.seal(commission_batch(HASHLIB_ROWS)).to_pylist()
    assert benchmark.pedantic(hashlib_verify, args=(rows,), rounds=3, iterations=1) == 0
    benchmark.extra_info.update(rows=len(rows))
