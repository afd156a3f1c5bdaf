"""The ``mlm-core`` command line. Exit codes: 0 ok, 1 findings (a genealogy with errors), 2 usage or input
errors. A user's mistake gets a message, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from . import synth
from .errors import MlmCoreError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlm-core", description="Commission compute core: tools and demo.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="synthesise a company into an embedded DuckDB file, validate, roll up")
    demo.add_argument("--members", type=int, default=100_000, help="network size (default 100000)")
    demo.add_argument("--db", type=Path, default=Path("data/demo.duckdb"), help="DuckDB file to write")
    demo.add_argument("--seed", type=int, default=42)
    gen = sub.add_parser("synth", help="write a synthetic company as legacy exports (CSV/Parquet)")
    gen.add_argument("--members", type=int, default=100_000)
    gen.add_argument("--shape", choices=("network", "chain", "star"), default="network")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--format", dest="formats", default="csv,parquet", help="csv, parquet or both")
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    check = sub.add_parser("validate", help="validate a members file (CSV or Parquet, canonical columns)")
    check.add_argument("path", type=Path)
    check.add_argument("--allow-multiple-roots", action="store_true")
    check.add_argument("--limit", type=int, default=20, help="findings to print (default 20)")
    return parser


def _validate(path: Path, allow_multiple_roots: bool, limit: int) -> int:
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
    print(f"{path}: {errors} error(s), {report.num_rows - errors} warning(s)")
    for row in report.slice(0, limit).to_pylist():
        print(f"  row {row['row']}: {row['code']} ({row['severity']}): {row['detail']}")
    if report.num_rows > limit:
        print(f"  … {report.num_rows - limit} more")
    return EXIT_FINDINGS if errors else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.members, db_path=args.db, seed=args.seed)
            return EXIT_OK
        if args.command == "synth":
            shapes = {"network": synth.network, "chain": synth.chain, "star": synth.star}
            members = shapes[args.shape](args.members, seed=args.seed)
            orders = synth.volumes(members, seed=args.seed)
            formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
            for name, path in synth.write_exports(args.out, members, orders, formats=formats).items():
                print(f"wrote {path} ({name})")
            return EXIT_OK
        if args.command == "validate":
            return _validate(args.path, args.allow_multiple_roots, args.limit)
    except (MlmCoreError, OSError, duckdb.Error) as exc:
        print(f"mlm-core {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
