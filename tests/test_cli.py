"""The mlm-core command line: exit codes, messages without tracebacks, the demo on a DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mlm_core.cli import main


def test_synth_then_validate_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--members", "500", "--out", str(tmp_path), "--format", "csv"]) == 0
    assert (tmp_path / "members.csv").exists() and (tmp_path / "orders.csv").exists()
    members = pacsv.read_csv(tmp_path / "members.csv")
    canonical = members.rename_columns(["member_id", "sponsor_id", "placement_id", "leg", "status", "join_date"])
    pacsv.write_csv(canonical, tmp_path / "canonical.csv")
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "canonical.csv")]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


def test_validate_reports_findings_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = pa.table({"member_id": ["1", "2", "3"], "sponsor_id": [None, "1", "9"],
                    "placement_id": [None, "1", "1"], "leg": [None, "L", "R"]})
    pacsv.write_csv(bad, tmp_path / "bad.csv")
    assert main(["validate", str(tmp_path / "bad.csv")]) == 1
    out = capsys.readouterr().out
    assert "1 error(s)" in out and "row 2: orphan_sponsor (error): sponsor_id '9'" in out
    import json

    assert main(["validate", str(tmp_path / "bad.csv"), "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["errors"] == 1 and found["findings"][0]["code"] == "orphan_sponsor"


def test_user_mistakes_exit_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    pacsv.write_csv(pa.table({"id": [1]}), tmp_path / "x.csv")
    assert main(["validate", str(tmp_path / "x.csv")]) == 2
    assert "lacks column(s) member_id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["frobnicate"])
    assert usage.value.code == 2


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo migrates, runs, posts, verifies, reconciles (finding exactly the seeded errors and the
    rounding quirk) and writes the report; its JSON summary says so and the store agrees."""
    import json

    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--members", "3000", "--db", str(db), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["audit_ok"] and summary["ledger_ok"] and summary["rows_quarantined"] == 0
    assert summary["go_live"] is False and summary["seeded_errors_found"] is True
    assert summary["diagnosis"][0].startswith("likely cause: rounding = 'half_up'")
    assert Path(summary["report"]).exists()
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM members").fetchall() == [(3000,)]
    paid = dict(con.sql("SELECT period, sum(amount) FROM commission_lines GROUP BY 1").fetchall())
    assert paid == {k: v for k, v in summary["paid"].items()}
    # Every line was posted to its member's wallet: the ledger holds the same money.
    assert con.sql("SELECT sum(amount) FROM wallet_transactions").fetchall()[0][0] == sum(paid.values())
    con.close()
    # A rerun replaces the database and gives the same summary.
    assert main(["demo", "--members", "3000", "--db", str(db), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == summary


def test_run_ledger_and_report_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    folder = tmp_path / "legacy"
    assert main(["synth", "--legacy", "--members", "800", "--out", str(folder)]) == 0
    store = folder / "store.duckdb"
    assert main(["ingest", str(folder / "mapping.toml"), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["run", "--store", str(store), "--plan", str(PLAN), "--run-id", "r1", "--post",
                 "--allow-negative", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted({r["period"] for r in rows}) == ["2026-09", "2026-10", "2026-11"]
    assert main(["run", "--store", str(store), "--plan", str(PLAN), "--run-id", "r1"]) == 2  # recorded already
    assert "already recorded" in capsys.readouterr().err
    assert main(["ledger", "verify", "--store", str(store)]) == 0
    assert "ledger verifies" in capsys.readouterr().out
    assert main(["ledger", "export-roots", "--store", str(store), "--out", str(tmp_path / "roots.json")]) == 0
    assert json.loads((tmp_path / "roots.json").read_text())["checkpoints"]
    # Seal a file, verify it, tamper with it: exit 1.
    con = duckdb.connect(str(store), read_only=True)
    tx = con.sql("SELECT tx_id, wallet_id, amount, currency, kind, created_at, reference FROM wallet_transactions "
                 "ORDER BY rowid LIMIT 50").to_arrow_table()
    con.close()
    pacsv.write_csv(tx, tmp_path / "tx.csv")
    assert main(["ledger", "seal", str(tmp_path / "tx.csv"), "--out", str(tmp_path / "sealed.parquet")]) == 0
    assert main(["ledger", "verify", str(tmp_path / "sealed.parquet")]) == 0
    import pyarrow.parquet as pq

    sealed = pq.read_table(tmp_path / "sealed.parquet")
    amounts = sealed["amount"].to_pylist()
    pq.write_table(sealed.set_column(2, "amount", pa.array([amounts[0] + 1, *amounts[1:]])), tmp_path / "bad.parquet")
    capsys.readouterr()
    assert main(["ledger", "verify", str(tmp_path / "bad.parquet"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"][0]["code"] == "leaf_mismatch"
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").exists() and (tmp_path / "report" / "payouts.parquet").exists()
    assert main(["report", "--store", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "r2")]) == 2
    assert "does not exist" in capsys.readouterr().err


PLAN = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"


def test_legacy_company_ingest_and_the_go_live_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """synth --legacy, ingest, reconcile: exit 1 with the seeded errors and the quirk named; exit 0 for a
    faithful legacy; the HTML page and CSV carry the same numbers as the JSON."""
    import json

    faulty, faithful = tmp_path / "faulty", tmp_path / "faithful"
    assert main(["synth", "--legacy", "--members", "1500", "--out", str(faulty), "--quirk", "rounding=half_up",
                 "--quirk", "wrong_lines=2"]) == 0
    assert main(["synth", "--legacy", "--members", "1500", "--out", str(faithful)]) == 0
    for folder in (faulty, faithful):
        assert main(["ingest", str(folder / "mapping.toml"), "--store", str(folder / "store.duckdb")]) == 0
    capsys.readouterr()
    assert main(["reconcile", "--store", str(faithful / "store.duckdb"), "--plan", str(PLAN)]) == 0
    assert "GO-LIVE" in capsys.readouterr().out
    html = tmp_path / "rec.html"
    code = main(["reconcile", "--store", str(faulty / "store.duckdb"), "--plan", str(PLAN), "--diagnose", "--json",
                 "--run-id", "gate-1", "--csv", str(tmp_path / "diff.csv"), "--html", str(html)])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["go_live"] is False and [p["period"] for p in out["periods"]] == ["2026-09", "2026-10", "2026-11"]
    assert out["diagnosis"][0].startswith("likely cause: rounding = 'half_up'")
    assert "6 isolated difference(s)" in out["diagnosis"][1]
    assert pacsv.read_csv(tmp_path / "diff.csv").num_rows == out["differing"]
    page = html.read_text(encoding="utf-8")
    assert 'data-go-live="false"' in page and "<svg" in page and "rounding = &#x27;half_up&#x27;" in page
    for p in out["periods"]:
        assert f'data-value="{p["legacy_total"]}"' in page and f'data-value="{p["our_total"]}"' in page
    con = duckdb.connect(str(faulty / "store.duckdb"), read_only=True)
    assert con.sql("SELECT count(*), sum(differing) FROM reconciliation_periods WHERE run_id = 'gate-1'").fetchall() \
        == [(3, out["differing"])]
    assert con.sql("SELECT count(*) FROM reconciliation_diagnosis WHERE run_id = 'gate-1' AND taken").fetchall() \
        == [(1,)]


def test_reconcile_of_two_files_and_its_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = pa.table({"period": ["2026-11"] * 2, "member_id": ["007", "8"], "bonus": ["binary"] * 2,
                       "amount": [100, 5]})
    pacsv.write_csv(legacy, tmp_path / "legacy.csv")
    pacsv.write_csv(legacy, tmp_path / "ours.csv")
    assert main(["reconcile", "--legacy", str(tmp_path / "legacy.csv"), "--ours", str(tmp_path / "ours.csv")]) == 0
    assert "GO-LIVE" in capsys.readouterr().out
    pacsv.write_csv(legacy.set_column(3, "amount", pa.array([1.5, 5.0])), tmp_path / "float.csv")
    assert main(["reconcile", "--legacy", str(tmp_path / "legacy.csv"), "--ours", str(tmp_path / "float.csv")]) == 2
    err = capsys.readouterr().err
    assert "integer minor units" in err and "Traceback" not in err
    (tmp_path / "empty.csv").write_text("period,member_id,bonus,amount\n")
    assert main(["reconcile", "--legacy", str(tmp_path / "empty.csv"), "--ours", str(tmp_path / "empty.csv")]) == 1
    assert "NOT READY" in capsys.readouterr().out  # nothing compared is no go-live
    assert main(["reconcile", "--legacy", str(tmp_path / "legacy.csv"), "--ours", str(tmp_path / "ours.csv"),
                 "--limit", "-1"]) == 2
    assert "--limit" in capsys.readouterr().err
    assert main(["reconcile", "--legacy", str(tmp_path / "legacy.csv")]) == 2
    assert "--legacy and --ours" in capsys.readouterr().err
    assert main(["reconcile", "--store", str(tmp_path / "none.duckdb"), "--plan", str(PLAN)]) == 2
    assert "mlm-core ingest" in capsys.readouterr().err
    assert main(["synth", "--legacy", "--members", "10", "--out", str(tmp_path / "x"), "--quirk", "colour=red"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["synth", "--legacy", "--members", "0", "--out", str(tmp_path / "y")]) == 2
    assert "at least 1 member" in capsys.readouterr().err
