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


def test_demo_writes_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--members", "3000", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "genealogy whole: 0 errors, 0 warnings" in out
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM members").fetchall() == [(3000,)]
    root_group_pv, total_pv = con.sql(
        "SELECT (SELECT group_pv FROM member_rollups WHERE member_id = 'M00000001'), "
        "(SELECT sum(pv) FROM volumes)"
    ).fetchall()[0]
    assert root_group_pv == total_pv
    downline, members = con.sql(
        "SELECT (SELECT downline FROM member_rollups WHERE member_id = 'M00000001'), count(*) - 1 FROM members"
    ).fetchall()[0]
    assert downline == members
    # Three periods of the example plan, chained: lines add up to each period's summary total.
    periods = con.sql("SELECT DISTINCT period FROM commission_lines ORDER BY period").fetchall()
    assert periods == [("2026-09",), ("2026-10",), ("2026-11",)]
    mismatched = con.sql(
        "SELECT s.period FROM period_summary s JOIN (SELECT period, sum(amount) AS paid FROM commission_lines "
        "GROUP BY period) l USING (period) WHERE s.bonus = 'total' AND s.paid <> l.paid"
    ).fetchall()
    assert mismatched == []
    assert con.sql("SELECT count(*) FROM period_state").fetchall() == [(3000,)]
    assert "period 2026-11: paid" in out


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
    assert main(["reconcile", "--legacy", str(tmp_path / "legacy.csv")]) == 2
    assert "--legacy and --ours" in capsys.readouterr().err
    assert main(["reconcile", "--store", str(tmp_path / "none.duckdb"), "--plan", str(PLAN)]) == 2
    assert "mlm-core ingest" in capsys.readouterr().err
    assert main(["synth", "--legacy", "--members", "10", "--out", str(tmp_path / "x"), "--quirk", "colour=red"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
