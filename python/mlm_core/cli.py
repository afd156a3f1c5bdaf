"""The ``mlm-core`` command line. Exit codes: 0 ok, 1 findings (a genealogy with errors, a parallel run that
does not match), 2 usage or input errors. A user's mistake gets a message, never a traceback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import synth
from .errors import MlmCoreError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlm-core", description="Commission compute core: tools and demo.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="end to end: a legacy company migrated into an embedded DuckDB file, "
                                       "three periods run and posted, ledger verified, parallel run, report")
    demo.add_argument("--members", type=int, default=100_000, help="company size (default 100000)")
    demo.add_argument("--db", type=Path, default=Path("data/demo.duckdb"),
                      help="DuckDB file to write (replaced); exports and report go to <db>-files/")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    run = sub.add_parser("run", help="run commission periods over a migrated store, record them, optionally post")
    run.add_argument("--store", type=Path, required=True, help="DuckDB file of the store")
    run.add_argument("--plan", type=Path, required=True, help="the compensation plan (TOML)")
    run.add_argument("--periods", help="comma-separated periods, in order (default: every order period after "
                                       "the carry-forward cutover)")
    run.add_argument("--run-id", required=True, help="names the run in the store and in the wallets' tx ids")
    run.add_argument("--post", action="store_true", help="credit the lines to the members' e-wallets")
    run.add_argument("--allow-negative", action="store_true",
                     help="with --post: a clawback may take a wallet below zero (else it is refused)")
    run.add_argument("--json", action="store_true", help="print the period summaries as JSON")
    ledger = sub.add_parser("ledger", help="e-wallet ledger: seal a file, verify a store or a sealed file, "
                                           "export the roots and heads to publish")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    seal = lsub.add_parser("seal", help="seal a transactions file (CSV/Parquet) into a Parquet file")
    seal.add_argument("path", type=Path)
    seal.add_argument("--out", type=Path, required=True, help="sealed Parquet file to write")
    verify = lsub.add_parser("verify", help="verify a store's ledger or a sealed Parquet file (exit 1 when not)")
    verify.add_argument("path", type=Path, nargs="?", help="a sealed Parquet file")
    verify.add_argument("--store", type=Path, help="verify this store's ledger instead")
    verify.add_argument("--json", action="store_true")
    roots = lsub.add_parser("export-roots", help="write the store's checkpoints and wallet heads as JSON")
    roots.add_argument("--store", type=Path, required=True)
    roots.add_argument("--out", type=Path, required=True)
    report = sub.add_parser("report", help="write the report: HTML with charts, and every table as CSV/Parquet")
    report.add_argument("--store", type=Path, required=True)
    report.add_argument("--out", type=Path, required=True, help="directory to write to")
    report.add_argument("--run-id", help="commission run to report (default: the latest)")
    report.add_argument("--format", dest="formats", default="csv,parquet", help="csv, parquet or both")
    gen = sub.add_parser("synth", help="write a synthetic company as legacy exports (CSV/Parquet)")
    gen.add_argument("--members", type=int, default=100_000)
    gen.add_argument("--shape", choices=("network", "chain", "star"), default="network")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--format", dest="formats", default="csv,parquet", help="csv, parquet or both")
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    gen.add_argument("--legacy", action="store_true",
                     help="write a legacy company with commissions, carry-forward, rank history and mapping.toml "
                          "(computed by mlm_core.legacy, 4 periods, cutover after the first)")
    gen.add_argument("--quirk", action="append", default=[], metavar="KEY=VALUE",
                     help="with --legacy, a legacy quirk: rounding=half_up, compression=false, depth_by_rank=false, "
                          "binary_cap=false, wrong_lines=N, missing_lines=N, extra_lines=N (repeatable)")
    ingest = sub.add_parser("ingest", help="migrate legacy exports into a store through a mapping (TOML)")
    ingest.add_argument("mapping", type=Path, help="mapping.toml (see mlm_core.migrate.mapping)")
    ingest.add_argument("--store", type=Path, required=True, help="DuckDB file of the store (created if missing)")
    ingest.add_argument("--json", action="store_true", help="print the batches as JSON")
    rec = sub.add_parser("reconcile", help="the parallel run: our payouts against the legacy's; exit 0 only when "
                                           "every compared period matches to the minor unit")
    rec.add_argument("--store", type=Path, help="a migrated store: run the periods after the carry-forward "
                                                "cutover and compare with its commission_history")
    rec.add_argument("--plan", type=Path, help="the compensation plan (with --store)")
    rec.add_argument("--periods", help="comma-separated periods to compare (default: all after the cutover)")
    rec.add_argument("--legacy", type=Path, help="instead of a store: legacy lines (CSV/Parquet: period, "
                                                 "member_id, bonus, amount in minor units)")
    rec.add_argument("--ours", type=Path, help="with --legacy: our lines, same columns")
    rec.add_argument("--diagnose", action="store_true", help="(with --store) name the likely causes by re-running "
                                                             "the periods with candidate plan changes")
    rec.add_argument("--run-id", help="store the reconciliation under this run id (reconciliation_* tables)")
    rec.add_argument("--csv", type=Path, help="write the differing pairs to this CSV file")
    rec.add_argument("--html", type=Path, help="write the reconciliation as a self-contained HTML page")
    rec.add_argument("--json", action="store_true", help="print the result as JSON")
    rec.add_argument("--limit", type=int, default=10, help="differences to print (default 10)")
    rec.add_argument("--currency", default="USD", help="with --legacy/--ours: the currency the amounts are in "
                                                       "(for the HTML page; default USD)")
    check = sub.add_parser("validate", help="validate a members file (CSV or Parquet, canonical columns)")
    check.add_argument("path", type=Path)
    check.add_argument("--allow-multiple-roots", action="store_true")
    check.add_argument("--limit", type=int, default=20, help="findings to print (default 20)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser


def _validate(path: Path, allow_multiple_roots: bool, limit: int, as_json: bool = False) -> int:
    from .genealogy import validate_genealogy

    if not path.exists():
        raise MlmCoreError(f"{path} does not exist")
    reader = "read_parquet" if path.suffix.lower() == ".parquet" else "read_csv"
    con = duckdb.connect()
    # Ids are read as text so that a CSV reader never turns them into numbers or floats.
    options = ", all_varchar = true" if reader == "read_csv" else ""
    relation = con.sql(f"SELECT * FROM {reader}(?{options})", params=[str(path)])
    report = validate_genealogy(relation, allow_multiple_roots=allow_multiple_roots)
    errors = report.filter(pc.equal(report.column("severity"), "error")).num_rows
    if as_json:
        print(json.dumps({"errors": errors, "warnings": report.num_rows - errors,
                          "findings": report.slice(0, limit).to_pylist()}, indent=2, default=str))
        return EXIT_FINDINGS if errors else EXIT_OK
    print(f"{path}: {errors} error(s), {report.num_rows - errors} warning(s)")
    for row in report.slice(0, limit).to_pylist():
        print(f"  row {row['row']}: {row['code']} ({row['severity']}): {row['detail']}")
    if report.num_rows > limit:
        print(f"  … {report.num_rows - limit} more")
    return EXIT_FINDINGS if errors else EXIT_OK


def _quirks(pairs: list[str]) -> object:
    from .legacy import Quirks

    fields = {f.name: f for f in dataclasses.fields(Quirks)}
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in fields or key == "seed":
            raise MlmCoreError(f"--quirk {pair!r}: use KEY=VALUE with KEY one of "
                               f"{', '.join(k for k in fields if k != 'seed')}")
        if key == "rounding":
            values[key] = text
        elif key in ("compression", "depth_by_rank", "binary_cap"):
            if text.lower() not in ("true", "false"):
                raise MlmCoreError(f"--quirk {pair!r}: {key} is true or false")
            values[key] = text.lower() == "true"
        else:
            if not text.isdigit():
                raise MlmCoreError(f"--quirk {pair!r}: {key} is a count")
            values[key] = int(text)
    return Quirks(**values)  # type: ignore[arg-type]


def _ingest(mapping_path: Path, store_path: Path, as_json: bool) -> int:
    from .migrate.mapping import Mapping
    from .migrate.run import Migration
    from .pii import ENV_VAR, KeyRing
    from .store import Store

    mapping = Mapping.from_toml(mapping_path)
    keys = KeyRing.from_env() if os.environ.get(ENV_VAR) else None
    with Store(store_path) as store, _console().status("migrating") as status:
        batches = Migration(store, mapping, keys=keys).run(progress=lambda m: status.update(f"migrating: {m}"))
    if as_json:
        print(json.dumps([dataclasses.asdict(b) for b in batches], indent=2))
    else:
        for b in batches:
            print(f"batch {b.batch_id} {b.table:<20} read {b.rows_read:>10,}  accepted {b.rows_accepted:>10,}  "
                  f"quarantined {b.rows_quarantined:>8,}{'  (already committed)' if b.resumed else ''}")
    return EXIT_OK


def _read_lines(path: Path) -> object:
    if not path.exists():
        raise MlmCoreError(f"{path} does not exist")
    con = duckdb.connect()
    if path.suffix.lower() == ".parquet":
        return con.sql("SELECT * FROM read_parquet(?)", params=[str(path)]).to_arrow_table()
    # Keys as text (ids must never become numbers), the amount as an exact integer or a refusal.
    # Every column as text: DuckDB would round "1.5" into a BIGINT; the amount is parsed exactly below.
    table = con.sql("SELECT * FROM read_csv(?, all_varchar = true)", params=[str(path)]).to_arrow_table()
    if "amount" in table.column_names:
        text = table.column("amount")
        bad = pc.invert(pc.fill_null(pc.match_substring_regex(text, r"^\s*-?[0-9]+\s*$"), True))
        if pc.any(bad, min_count=0).as_py():
            row = pc.indices_nonzero(bad.combine_chunks())[0].as_py()
            raise MlmCoreError(f"{path}: amount must be integer minor units; line {row + 2} has "
                               f"{text[row].as_py()!r}")
        table = table.set_column(table.column_names.index("amount"), "amount",
                                 pc.cast(pc.utf8_trim_whitespace(text), pa.int64()))
    return table


def _reconcile(args: argparse.Namespace) -> int:
    from .parallel import ParallelRun
    from .plan import Plan
    from .reconciliation import reconcile
    from .report_html import page, reconciliation_section
    from .store import Store

    diagnosis = None
    if args.limit < 0:
        raise MlmCoreError(f"--limit must be 0 or more, not {args.limit}")
    if args.store is not None:
        if args.legacy or args.ours:
            raise MlmCoreError("give either --store (with --plan) or --legacy and --ours, not both")
        if args.plan is None:
            raise MlmCoreError("--store needs --plan: the plan to run the compared periods with")
        if not args.store.exists():
            raise MlmCoreError(f"{args.store} does not exist: migrate the legacy exports first (mlm-core ingest)")
        plan = Plan.from_toml(args.plan)
        with Store(args.store) as store:
            periods = [p.strip() for p in args.periods.split(",") if p.strip()] if args.periods else None
            run = ParallelRun.from_store(store, plan, periods=periods)
            diagnosis = run.diagnose() if args.diagnose else None
            if args.run_id:
                run.to_store(store, run_id=args.run_id, diagnosis=diagnosis)
        result, currency = run.reconciliation, plan.currency
    else:
        if args.legacy is None or args.ours is None:
            raise MlmCoreError("give --store and --plan, or --legacy and --ours")
        if args.diagnose or args.run_id:
            raise MlmCoreError("--diagnose and --run-id need --store")
        result, currency = reconcile(_read_lines(args.legacy), _read_lines(args.ours)), args.currency.upper()
    if args.csv:
        result.write_csv(args.csv)
    if args.html:
        section = reconciliation_section(result, diagnosis.summary() if diagnosis else None,
                                         diagnosis.tried if diagnosis else None, currency=currency)
        args.html.write_text(page("Parallel run", [section]), encoding="utf-8")
    differences = result.differences()
    if args.json:
        print(json.dumps({
            "go_live": result.go_live,
            "periods": result.periods.to_pylist(),
            "totals": result.totals.to_pylist(),
            "differences": differences.slice(0, args.limit).to_pylist(),
            "differing": differences.num_rows,
            "diagnosis": diagnosis.summary() if diagnosis else None,
        }, indent=2))
    else:
        for p in result.periods.to_pylist():
            print(f"{p['period']}: {p['verdict']:<8} {p['pairs']:>10,} pairs, {p['differing']:>8,} differing  "
                  f"legacy {p['legacy_total']:>16,}  ours {p['our_total']:>16,}")
        for d in differences.slice(0, args.limit).to_pylist():
            print(f"  {d['period']} {d['member_id']} {d['bonus']}: legacy {d['legacy_amount']} ours "
                  f"{d['our_amount']} ({d['status']}, {d['difference']:+,})")
        if differences.num_rows > args.limit:
            print(f"  … {differences.num_rows - args.limit:,} more")
        for line in diagnosis.summary() if diagnosis else []:
            print(f"diagnosis: {line}")
        print("GO-LIVE: every compared period matches exactly" if result.go_live else
              "NOT READY: the parallel run differs (exit 1)")
    return EXIT_OK if result.go_live else EXIT_FINDINGS


def _console() -> Console:
    return Console(stderr=True)


def _existing_store(path: Path) -> Path:
    if not path.exists():
        raise MlmCoreError(f"{path} does not exist: migrate the legacy exports first (mlm-core ingest)")
    return path


def _demo(args: argparse.Namespace) -> int:
    from .demo import DEMO_STEPS, run_demo

    console = _console()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    task = progress.add_task("demo", total=DEMO_STEPS)

    def step(label: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        progress.update(task, description=label)
        result = work()
        progress.advance(task)
        progress.console.print(f"  [green]✓[/green] {label:<60} {time.perf_counter() - start:6.2f} s")
        return result

    say: Callable[[str], None] = (lambda m: console.print(m, highlight=False)) if args.json else print
    with progress:
        summary = run_demo(args.members, db_path=args.db, seed=args.seed, say=say, step=step)
    if args.json:
        print(json.dumps(summary, indent=2))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from .plan import Plan
    from .runs import run_periods
    from .store import Store

    plan = Plan.from_toml(args.plan)
    periods = [p.strip() for p in args.periods.split(",") if p.strip()] if args.periods else None
    with Store(_existing_store(args.store)) as store, _console().status("running periods"):
        results = run_periods(store, plan, periods=periods, run_id=args.run_id, post=args.post,
                              clawbacks="allow_negative" if args.allow_negative else "refuse")
    rows = [r for result in results for r in result.summary.to_pylist()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['period']} {r['bonus']:<12} paid {r['paid']:>16,}  breakage {r['breakage']:>14,}  "
                  f"payout {r['payout_ratio_bp'] if r['payout_ratio_bp'] is not None else '-'} bp")
        print(f"recorded {len(results)} period(s) as run {args.run_id!r}" + (", posted" if args.post else ""))
    return EXIT_OK


def _ledger(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from . import ledger
    from .store import Store

    if args.ledger_command == "seal":
        sealed = ledger.seal(_read_table(args.path))
        pq.write_table(sealed, args.out)
        print(f"sealed {sealed.num_rows:,} transactions into {args.out}; Merkle root "
              f"{ledger.merkle_root(sealed.column('leaf')).hex()}")
        return EXIT_OK
    if args.ledger_command == "export-roots":
        with Store(_existing_store(args.store)) as store:
            store.export_checkpoints(args.out)
        print(f"wrote checkpoints and wallet heads to {args.out}")
        return EXIT_OK
    if (args.store is None) == (args.path is None):
        raise MlmCoreError("give a sealed Parquet file or --store, not both and not neither")
    if args.store is not None:
        with Store(_existing_store(args.store)) as store:
            report = store.verify_ledger()
    else:
        report = ledger.verify(_read_table(args.path))
    problems = report.problems.to_pylist()
    if args.json:
        print(json.dumps({"ok": report.ok, "root": report.root.hex(), "problems": problems}, indent=2))
    else:
        for p in problems[:20]:
            print(f"  {p['code']}: tx {p['tx_id']} wallet {p['wallet_id']}: {p['detail']}")
        print(f"ledger {'verifies' if report.ok else 'does NOT verify'}: {len(problems)} problem(s), "
              f"root {report.root.hex()}")
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .store import Store

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if set(formats) - {"csv", "parquet"}:
        raise MlmCoreError(f"--format takes csv and/or parquet, not {args.formats!r}")
    with Store(_existing_store(args.store)) as store, _console().status("writing the report"):
        written = write_report(store, args.out, formats=formats, run_id=args.run_id)
    print(f"wrote {len(written)} files to {args.out}; open {written['report.html']}")
    return EXIT_OK


def _read_table(path: Path) -> Any:
    if not path.exists():
        raise MlmCoreError(f"{path} does not exist")
    con = duckdb.connect()
    reader = "read_parquet(?)" if path.suffix.lower() == ".parquet" else "read_csv(?, all_varchar = false)"
    return con.sql(f"SELECT * FROM {reader}", params=[str(path)]).to_arrow_table()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "run":
            return _run(args)
        if args.command == "ledger":
            return _ledger(args)
        if args.command == "report":
            return _report(args)
        if args.command == "synth" and args.legacy:
            if args.shape != "network":
                raise MlmCoreError("--legacy writes a network company; --shape does not apply")
            company = synth.legacy_company(args.out, args.members, seed=args.seed, quirks=_quirks(args.quirk))
            print(f"wrote a legacy company of {args.members:,} members to {company.directory}: periods "
                  f"{', '.join(company.history)} (history) and {', '.join(company.parallel)} (to compare); "
                  f"{company.seeded.num_rows} seeded error(s); mapping {company.mapping}")
            return EXIT_OK
        if args.command == "synth" and args.quirk:
            raise MlmCoreError("--quirk needs --legacy")
        if args.command == "ingest":
            return _ingest(args.mapping, args.store, args.json)
        if args.command == "reconcile":
            return _reconcile(args)
        if args.command == "synth":
            shapes = {"network": synth.network, "chain": synth.chain, "star": synth.star}
            members = shapes[args.shape](args.members, seed=args.seed)
            orders = synth.volumes(members, seed=args.seed)
            formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
            for name, path in synth.write_exports(args.out, members, orders, formats=formats).items():
                print(f"wrote {path} ({name})")
            return EXIT_OK
        if args.command == "validate":
            return _validate(args.path, args.allow_multiple_roots, args.limit, args.json)
    except (MlmCoreError, OSError, duckdb.Error, pa.ArrowException) as exc:
        print(f"mlm-core {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
