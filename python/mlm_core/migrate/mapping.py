"""The migration mapping: which legacy file fills which canonical table, and how its columns and values map.

A mapping is a TOML file::

    [defaults]                  # every table's settings unless the table overrides them
    timezone = "America/New_York"   # for timestamps without an offset; without it they are rejected
    currency = "USD"            # for money rows whose export has no currency column
    decimal_separator = "."     # "," for 1.234,56
    group_separator = ","       # optional thousands separator, checked in groups of three
    strict_decimals = false     # true: "1.230" at 2 decimals is rejected too
    timestamp_format = "%Y-%m-%d %H:%M:%S"   # optional; ISO 8601 (with or without offset) by default
    phone_country_code = "1"    # prefixed to phone numbers written without +/00

    [policy]
    orphans = "quarantine"      # or "attach": orphans go under house_account, every attachment recorded
    house_account = "HOUSE"
    duplicate_emails = "quarantine"   # or "allow"

    [tables.members]
    file = "members.csv"        # relative to the mapping file
    format = "csv"              # csv, parquet or json; by default from the suffix
    [tables.members.columns]    # canonical name = legacy column name
    member_id = "MemberID"
    [tables.members.values.leg] # legacy value = canonical value
    "1" = "L"

Every key is checked: an unknown key, table or canonical column is a :class:`MappingError` naming it.
"""

from __future__ import annotations

import os
import sys
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from ..store import ISO_4217
from .canonical import TABLES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

FORMATS = ("csv", "parquet", "json")
DEFAULT_KEYS = {"timezone", "currency", "decimal_separator", "group_separator", "strict_decimals",
                "timestamp_format", "phone_country_code", "delimiter", "quote", "encoding"}
TABLE_KEYS = {"file", "format", "columns", "values", "batch_rows"} | DEFAULT_KEYS
POLICY_KEYS = {"orphans", "house_account", "duplicate_emails"}


@dataclass(frozen=True)
class Settings:
    timezone: str | None = None
    currency: str | None = None
    decimal_separator: str = "."
    group_separator: str | None = None
    strict_decimals: bool = False
    timestamp_format: str | None = None
    phone_country_code: str | None = None
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Source:
    table: str
    file: Path
    format: str
    columns: dict[str, str]
    values: dict[str, dict[str, str]]
    settings: Settings
    batch_rows: int | None = None


@dataclass(frozen=True)
class Policy:
    orphans: str = "quarantine"
    house_account: str | None = None
    duplicate_emails: str = "quarantine"


@dataclass(frozen=True)
class Mapping:
    sources: dict[str, Source]
    policy: Policy = field(default_factory=Policy)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Mapping:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MappingError(f"cannot read mapping {path}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise MappingError(f"mapping {path} is not UTF-8: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, base=path.parent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: str | os.PathLike[str] = ".") -> Mapping:
        _only(data, {"defaults", "policy", "tables"}, "")
        defaults = _settings(data.get("defaults", {}), Settings(), "defaults")
        policy = _policy(data.get("policy", {}))
        tables = data.get("tables")
        if not isinstance(tables, dict) or not tables:
            raise MappingError("the mapping has no [tables.<name>] section", key="tables")
        sources = {}
        for name, spec in tables.items():
            key = f"tables.{name}"
            if name not in TABLES:
                raise MappingError(f"{key}: unknown table {name!r}; the tables are {', '.join(TABLES)}", key=key)
            if not isinstance(spec, dict):
                raise MappingError(f"{key} must be a table", key=key)
            _only(spec, TABLE_KEYS, key)
            sources[name] = _source(name, spec, defaults, Path(base), key)
        return cls(sources, policy)


def _only(spec: dict[str, Any], allowed: set[str], key: str) -> None:
    for k in spec:
        if k not in allowed:
            where = f"{key}.{k}" if key else k
            raise MappingError(f"{where}: unknown key; allowed: {', '.join(sorted(allowed))}", key=where)


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise MappingError(f"{key} must be a string, not {type(value).__name__}", key=key)
    return value


def _settings(spec: dict[str, Any], base: Settings, key: str) -> Settings:
    if not isinstance(spec, dict):
        raise MappingError(f"{key} must be a table", key=key)
    values = {k: v for k, v in base.__dict__.items()}
    for k, v in spec.items():
        if k not in DEFAULT_KEYS:
            if key == "defaults":
                _only({k: v}, DEFAULT_KEYS, key)
            continue
        where = f"{key}.{k}"
        if k == "strict_decimals":
            if not isinstance(v, bool):
                raise MappingError(f"{where} must be true or false", key=where)
        else:
            v = _string(v, where)
        if k == "timezone":
            _check_zone(v, where)
        if k == "timestamp_format":
            _check_format(v, where)
        if k == "currency":
            v = v.strip().upper()
            if v not in ISO_4217:
                raise MappingError(f"{where}: {v!r} is not an active ISO 4217 currency code", key=where)
        if k in ("decimal_separator", "group_separator", "delimiter", "quote") and (len(v) != 1 or not v.isascii()):
            raise MappingError(f"{where} must be one ASCII character, not {v!r}", key=where)
        if k == "phone_country_code" and not (v.isdigit() and 1 <= len(v) <= 3):
            raise MappingError(f"{where} must be 1 to 3 digits (the calling code without +), not {v!r}", key=where)
        if k == "encoding" and v.lower().replace("-", "") not in ("utf8", "utf8sig"):
            raise MappingError(f"{where}: only UTF-8 exports are read; convert {v!r} files first", key=where)
        values[k] = v
    if values["group_separator"] is not None and values["group_separator"] == values["decimal_separator"]:
        raise MappingError(f"{key}: group_separator and decimal_separator are the same", key=key)
    return Settings(**values)


def _check_zone(zone: str, where: str) -> None:
    """An IANA zone the timestamp conversion can use (``posix/...``, ``right/...`` and ``localtime`` load in
    zoneinfo but not in Arrow, or depend on the host)."""
    try:
        zoneinfo.ZoneInfo(zone)
        pc.assume_timezone(pa.array([0], pa.timestamp("us")), zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, pa.ArrowException):
        raise MappingError(f"{where}: {zone!r} is not an IANA time zone (e.g. 'Europe/Paris')", key=where) from None
    if zone == "localtime" or zone.startswith(("posix/", "right/")):
        raise MappingError(f"{where}: {zone!r} is not an IANA time zone (e.g. 'Europe/Paris')", key=where)


def _check_format(fmt: str, where: str) -> None:
    try:
        duckdb.execute("SELECT try_strptime('2000-01-01', ?)", [fmt]).fetchall()
    except duckdb.Error as exc:
        raise MappingError(f"{where}: {fmt!r} is not a strptime format: {exc}", key=where) from None


def _policy(spec: dict[str, Any]) -> Policy:
    if not isinstance(spec, dict):
        raise MappingError("policy must be a table", key="policy")
    _only(spec, POLICY_KEYS, "policy")
    orphans = _string(spec.get("orphans", "quarantine"), "policy.orphans")
    if orphans not in ("quarantine", "attach"):
        raise MappingError(f"policy.orphans must be 'quarantine' or 'attach', not {orphans!r}", key="policy.orphans")
    house = spec.get("house_account")
    if house is not None:
        house = _string(house, "policy.house_account").strip()
    if orphans == "attach" and not house:
        raise MappingError("policy.orphans = 'attach' needs policy.house_account, the member orphans go under",
                           key="policy.house_account")
    emails = _string(spec.get("duplicate_emails", "quarantine"), "policy.duplicate_emails")
    if emails not in ("quarantine", "allow"):
        raise MappingError(f"policy.duplicate_emails must be 'quarantine' or 'allow', not {emails!r}",
                           key="policy.duplicate_emails")
    return Policy(orphans, house, emails)


def _source(name: str, spec: dict[str, Any], defaults: Settings, base: Path, key: str) -> Source:
    if "file" not in spec:
        raise MappingError(f"{key}.file is missing: which export fills {name}?", key=f"{key}.file")
    file = base / _string(spec["file"], f"{key}.file")
    fmt = spec.get("format") or file.suffix.lower().lstrip(".").replace("ndjson", "json").replace("jsonl", "json")
    fmt = _string(fmt, f"{key}.format")
    if fmt not in FORMATS:
        raise MappingError(f"{key}.format must be one of {', '.join(FORMATS)}, not {fmt!r}", key=f"{key}.format")
    table = TABLES[name]
    canonical = {f.name for f in table.fields}
    columns_spec = spec.get("columns", {})
    if not isinstance(columns_spec, dict):
        raise MappingError(f"{key}.columns must be a table", key=f"{key}.columns")
    columns = {}
    for canon, legacy in columns_spec.items():
        where = f"{key}.columns.{canon}"
        if canon not in canonical:
            raise MappingError(f"{where}: {name} has no column {canon!r}; its columns are "
                               f"{', '.join(f.name for f in table.fields)}", key=where)
        columns[canon] = _string(legacy, where)
    if len(set(columns.values())) != len(columns):
        raise MappingError(f"{key}.columns maps one legacy column to two canonical ones", key=f"{key}.columns")
    values_spec = spec.get("values", {})
    if not isinstance(values_spec, dict):
        raise MappingError(f"{key}.values must be a table", key=f"{key}.values")
    values = {}
    for canon, pairs in values_spec.items():
        where = f"{key}.values.{canon}"
        if canon not in canonical:
            raise MappingError(f"{where}: {name} has no column {canon!r}", key=where)
        if not isinstance(pairs, dict):
            raise MappingError(f"{where} must map legacy values to canonical ones", key=where)
        values[canon] = {str(k): _string(v, f"{where}.{k}") for k, v in pairs.items()}
    batch_rows = spec.get("batch_rows")
    if batch_rows is not None and (not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1):
        raise MappingError(f"{key}.batch_rows must be a positive integer", key=f"{key}.batch_rows")
    if name == "members" and batch_rows is not None:
        raise MappingError(f"{key}.batch_rows: members load in one batch, as the genealogy is checked whole",
                           key=f"{key}.batch_rows")
    return Source(name, file, fmt, columns, values, _settings(spec, defaults, key), batch_rows)
