"""Reading legacy exports into text columns, keeping every record that cannot be read.

Every source becomes a :class:`Raw`: the legacy columns as strings (exact text: numbers are never parsed
here; an empty CSV field is null), each row's ``_mlm_line`` (physical line where it starts; the record ordinal
for Parquet) and ``_mlm_record`` (1-based ordinal among the file's data records), and ``rejects``, the records
that could not be read at all, with their raw text. ``records == rows + len(rejects)`` always.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import _mlm_core
from ..errors import InputError, MigrationError
from .mapping import Source

REJECT_SCHEMA = pa.schema([("line", pa.int64()), ("record", pa.int64()), ("raw", pa.string()),
                           ("reason", pa.string()), ("detail", pa.string())])


@dataclass
class Raw:
    table: pa.Table
    rejects: pa.Table
    records: int
    sha256: str
    blank_lines: int = 0
    float_columns: list[str] = dataclasses.field(default_factory=list)
    # Columns known to need no trimming or normalisation (all ASCII, no padding; empty already null).
    clean_columns: set[str] = dataclasses.field(default_factory=set)
    # A format that leaves absent keys out (JSON): a mapped column missing from the file is all null.
    sparse: bool = False


def file_sha256(path: Path) -> str:
    if not path.is_file():
        raise MigrationError(f"source file {path} does not exist")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _shown(raw: bytes) -> str:
    """Raw bytes as text: valid UTF-8 as is, other bytes as \\xNN escapes (so nothing is lost)."""
    return raw.decode("utf-8", errors="backslashreplace")


def read(source: Source, sha: str | None = None) -> Raw:
    """Reads ``source``; ``sha`` is its file's SHA-256 when the caller has it already."""
    path = source.file
    if not path.is_file():
        raise MigrationError(f"{source.table}: source file {path} does not exist")
    sha = sha or file_sha256(path)
    if source.format == "csv":
        return _read_csv(source, sha)
    if source.format == "json":
        return _read_json(source, sha)
    return _read_parquet(source, sha)


def _read_csv(source: Source, sha: str) -> Raw:
    try:
        parsed = _mlm_core.read_csv(str(source.file), source.settings.delimiter, source.settings.quote)
    except InputError as exc:
        raise MigrationError(f"{source.table}: {exc}") from None
    header: list[str] = parsed["header"]
    _check_names(header, source)
    names = [*header, "_mlm_line", "_mlm_record"]
    batches = [pa.record_batch(arrays, names=names) for arrays in parsed["chunks"]]
    schema = pa.schema([*(pa.field(h, pa.large_string()) for h in header),
                        pa.field("_mlm_line", pa.int64()), pa.field("_mlm_record", pa.int64())])
    table = pa.Table.from_batches(batches, schema=schema)
    r = parsed["rejects"]
    rejects = pa.table({
        "line": r["line"], "record": r["record"],
        "raw": pa.array([_shown(b) for b in r["raw"].to_pylist()], pa.string()),
        "reason": r["code"], "detail": r["detail"],
    }, schema=REJECT_SCHEMA)
    clean = {h for h, ascii, padded in zip(header, parsed["ascii"], parsed["padded"], strict=True)
             if ascii and not padded}
    return Raw(table, rejects, int(parsed["records"]), sha, int(parsed["blank_lines"]), clean_columns=clean)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _read_json(source: Source, sha: str) -> Raw:
    """Newline-delimited JSON (one object per line) or one JSON array of objects. Numbers keep their text."""
    data = source.file.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    keep = {"parse_float": str, "parse_int": str, "parse_constant": str}
    rows: list[tuple[int, int, dict[str, object]]] = []
    rejects: list[tuple[int, int, str, str, str]] = []
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        try:
            items = json.loads(data.decode("utf-8"), **keep)  # type: ignore[arg-type]
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MigrationError(f"{source.table}: {source.file} is not a readable JSON array: "
                                 f"{'nested too deeply' if isinstance(exc, RecursionError) else exc}") from None
        for k, item in enumerate(items, start=1):
            if isinstance(item, dict):
                rows.append((k, k, item))
            else:
                rejects.append((k, k, _text(item) or "null", "not_an_object", f"element {k} is not a JSON object"))
        records = len(items)
    else:
        records = 0
        for line_no, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            records += 1
            try:
                item = json.loads(line.decode("utf-8"), **keep)  # type: ignore[arg-type]
            except UnicodeDecodeError:
                rejects.append((line_no, records, _shown(line), "invalid_utf8", "the line is not valid UTF-8"))
                continue
            except json.JSONDecodeError as exc:
                rejects.append((line_no, records, _shown(line), "bad_json", f"not valid JSON: {exc.msg} "
                                f"at column {exc.colno}"))
                continue
            except RecursionError:
                rejects.append((line_no, records, _shown(line), "bad_json", "not readable: nested too deeply"))
                continue
            if not isinstance(item, dict):
                rejects.append((line_no, records, _shown(line), "not_an_object", "the line is not a JSON object"))
                continue
            rows.append((line_no, records, item))
    header: list[str] = []
    for _, _, item in rows:
        for key in item:
            if key not in header:
                header.append(key)
    _check_names(header, source)
    columns = {h: pa.array([_text(item.get(h)) for _, _, item in rows], pa.large_string()) for h in header}
    columns["_mlm_line"] = pa.array([r[0] for r in rows], pa.int64())
    columns["_mlm_record"] = pa.array([r[1] for r in rows], pa.int64())
    reject_table = pa.Table.from_pylist([dict(zip(REJECT_SCHEMA.names, r, strict=True)) for r in rejects],
                                        schema=REJECT_SCHEMA)
    # JSON omits keys whose value is null: a mapped key that no row has is a column of nulls, not an error.
    return Raw(pa.table(columns), reject_table, records, sha, sparse=True)


def _parquet_text(column: pa.ChunkedArray, name: str, source: Source) -> pa.ChunkedArray:
    """One Parquet column as exact text, by Arrow (no SQL is built from the file's column names):
    decimals keep their digits, timestamps render in UTC (``Z``) or naive, nested values as JSON."""
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
    if pa.types.is_nested(kind) or (pa.types.is_dictionary(kind) and pa.types.is_nested(kind.value_type)):
        return pa.chunked_array([pa.array([_text(v) for v in column.to_pylist()], pa.large_string())])
    try:
        return column.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise MigrationError(f"{source.table}: column {name!r} of {source.file.name} has type {kind}, which has "
                             f"no exact text form: {exc}") from None


def _read_parquet(source: Source, sha: str) -> Raw:
    """Every column as text. Floating-point columns are named in ``float_columns``: money or volume read
    from them is refused."""
    try:
        table = pq.read_table(source.file)
    except (OSError, pa.ArrowException) as exc:
        raise MigrationError(f"{source.table}: {source.file} is not a readable Parquet file: {exc}") from None
    _check_names(table.column_names, source)
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    columns = {name: _parquet_text(table.column(name), name, source) for name in table.column_names}
    ordinal = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    columns["_mlm_line"] = ordinal
    columns["_mlm_record"] = ordinal
    return Raw(pa.table(columns), REJECT_SCHEMA.empty_table(), table.num_rows, sha, float_columns=floats)


RESERVED = ("_mlm_line", "_mlm_record")


def _check_names(names: list[str], source: Source) -> None:
    clash = [n for n in names if n in RESERVED]
    if clash:
        raise MigrationError(f"{source.table}: {source.file.name} has a column named {clash[0]!r}, a name the "
                             f"migration reserves; rename it in the export")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise MigrationError(f"{source.table}: {source.file.name} names column {twice!r} twice")
