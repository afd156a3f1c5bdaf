"""From legacy text to canonical values, one vectorised pass per field; every failing row keeps a reason.

Each field's text is trimmed and NFC-normalised; empty text is a missing value. Then, by kind: value maps
(``leg``, ``status`` and any mapped column), exact decimals into minor units (the currency's, or hundredths
for volume), timestamps into UTC microseconds (an offset in the text, or the mapping's time zone), e-mail
validation (lower-cased), ISO 3166 country codes, E.164 phone numbers. A row's first problem, in field
order, is its reason; the row goes to quarantine with it, never silently away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .. import _mlm_core
from ..errors import MigrationError
from ..store import registered
from .canonical import TABLES, Field
from .mapping import Source
from .sources import RESERVED, Raw
from .standards import COUNTRIES, CURRENCIES, minor_unit

EMAIL = (r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
         r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
PHONE = r"^\+[1-9][0-9]{6,14}$"
LEGS = {"l": "L", "left": "L", "r": "R", "right": "R"}
DECIMAL_CODES = {2: "missing_value", 3: "not_a_decimal", 4: "not_finite", 5: "too_many_decimals", 6: "overflow"}


@dataclass
class Cleansed:
    """``accepted``: canonical columns (typed) plus ``_mlm_line``/``_mlm_record``; ``quarantine``: one row per
    rejected record with ``line, record, member_id, reason, detail, raw``."""

    accepted: pa.Table
    quarantine: pa.Table
    ignored_columns: list[str]


QUARANTINE_SCHEMA = pa.schema([("line", pa.int64()), ("record", pa.int64()), ("member_id", pa.string()),
                               ("reason", pa.string()), ("detail", pa.string()), ("raw", pa.string())])


class _Verdicts:
    """The first failure of each row: its reason code and the canonical field it concerns."""

    def __init__(self, n: int) -> None:
        self.reason = pa.nulls(n, pa.string())
        self.field = pa.nulls(n, pa.string())

    def fail(self, mask: pa.Array, reason: str, field: str) -> None:
        mask = pc.and_(pc.fill_null(mask, False), pc.is_null(self.reason))
        if not pc.any(mask).as_py():
            return
        self.reason = pc.if_else(mask, pa.scalar(reason, pa.string()), self.reason)
        self.field = pc.if_else(mask, pa.scalar(field, pa.string()), self.field)

    def fail_codes(self, codes: pa.Array, names: dict[int, str], field: str) -> None:
        for code, reason in names.items():
            self.fail(pc.equal(codes, code), reason, field)

    @property
    def none_failed(self) -> bool:
        return bool(self.reason.null_count == len(self.reason))

    @property
    def ok(self) -> pa.Array:
        return pc.is_null(self.reason)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(column)
    # ASCII text is NFC already: the costly normalisation runs only when some value is not ASCII.
    if not pc.all(pc.fill_null(pc.string_is_ascii(trimmed), True), min_count=0).as_py():
        trimmed = pc.utf8_normalize(trimmed, "NFC")
    return pc.if_else(pc.equal(pc.utf8_length(trimmed), 0), pa.scalar(None, trimmed.type), trimmed)


def _mapped(values: pa.Array, mapping: dict[str, str]) -> tuple[pa.Array, pa.Array]:
    """Values replaced through ``mapping``; also whether each was a key of it."""
    keys = pa.array(list(mapping), pa.large_string())
    index = pc.index_in(values, value_set=keys)
    replaced = pc.take(pa.array(list(mapping.values()), pa.large_string()), index)
    hit = pc.is_valid(index)
    return pc.if_else(hit, replaced, values), hit


def _iso_timestamps(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The strict ISO 8601 kernel: microseconds and its codes (0 zoned, 1 null, 2 invalid, 3 naive)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    parts = [_mlm_core.parse_timestamps(c) for c in chunks]
    us = pa.chunked_array([p[0] for p in parts], pa.int64()).combine_chunks()
    return us, pa.chunked_array([p[1] for p in parts], pa.uint8()).combine_chunks()


def _strptime(con: duckdb.DuckDBPyConnection, values: pa.Array, fmt: str) -> tuple[pa.Array, pa.Array]:
    """The mapping's ``timestamp_format`` through DuckDB's strptime, with the kernel's codes."""
    zoned = "%z" in fmt or "%Z" in fmt
    with registered(con, "_mlm_ts", pa.table({"s": values})):
        out = con.sql("SELECT epoch_us(try_strptime(s, ?)) AS us, CASE WHEN s IS NULL THEN 1 "
                      "WHEN try_strptime(s, ?) IS NULL THEN 2 ELSE ? END AS code FROM _mlm_ts",
                      params=[fmt, fmt, 0 if zoned else 3]).to_arrow_table()
    return out.column("us").combine_chunks().cast(pa.int64()), out.column("code").combine_chunks().cast(pa.uint8())


def _timestamps(con: duckdb.DuckDBPyConnection, values: pa.Array, source: Source) -> tuple[pa.Array, pa.Array]:
    """UTC microseconds and a code per row: 0 ok, 1 unreadable, 2 no time zone (and none in the mapping),
    3 a local time the zone makes ambiguous (the repeated hour when clocks go back) or nonexistent (the
    skipped hour): placing it would be a guess."""
    tz = source.settings.timezone
    fmt = source.settings.timestamp_format
    us, kernel = _iso_timestamps(values) if fmt is None else _strptime(con, values, fmt)
    naive = pc.equal(kernel, 3)
    codes = pc.if_else(pc.equal(kernel, 2), 1, 0).cast(pa.uint8())
    if not pc.any(naive).as_py():
        return us, codes
    if tz is None:
        return us, pc.if_else(naive, 2, codes).cast(pa.uint8())
    if tz in ("UTC", "Etc/UTC"):
        return us, codes
    local = pc.if_else(naive, us, pa.scalar(None, pa.int64())).cast(pa.timestamp("us"))
    early = pc.assume_timezone(local, tz, ambiguous="earliest", nonexistent="earliest").cast(pa.int64())
    late = pc.assume_timezone(local, tz, ambiguous="latest", nonexistent="latest").cast(pa.int64())
    unclear = pc.fill_null(pc.not_equal(early, late), False)
    return pc.if_else(naive, early, us), pc.if_else(unclear, 3, codes).cast(pa.uint8())


def _decimals(values: pa.Array | pa.ChunkedArray, scales: int | pa.Array | pa.ChunkedArray,
              source: Source) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The decimal kernel over each chunk (per-row scales are aligned with the values first)."""
    s = source.settings
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if not isinstance(scales, int):
        values = pa.chunked_array([values.combine_chunks()])
        scales = scales.combine_chunks() if isinstance(scales, pa.ChunkedArray) else scales
        chunk_scales: list[int | pa.Array] = [scales]
    else:
        chunk_scales = [scales] * values.num_chunks
    parts = [_mlm_core.parse_decimal(chunk, scale, s.decimal_separator, s.group_separator, s.strict_decimals)
             for chunk, scale in zip(values.chunks, chunk_scales, strict=True)]
    return (pa.chunked_array([p[0] for p in parts], pa.int64()), pa.chunked_array([p[1] for p in parts], pa.uint8()))


def _phones(values: pa.Array, country_code: str | None) -> pa.Array:
    """E.164 candidates: separators dropped, ``00`` read as ``+``. A number without either gets the
    mapping's country code, after its trunk ``0``; one that already starts with that code (``1-212-...``
    in the US) is read as international: no national number starts with its own country code."""
    digits = pc.replace_substring_regex(values, r"[\s().\-/]", "")
    digits = pc.replace_substring_regex(digits, r"^00", "+")
    if country_code is not None:
        national = pc.invert(pc.starts_with(digits, "+"))
        has_code = pc.starts_with(digits, country_code)
        local = pc.if_else(has_code, pc.utf8_slice_codeunits(digits, len(country_code)),
                           pc.replace_substring_regex(digits, r"^0", ""))
        digits = pc.if_else(national, pc.binary_join_element_wise(pa.scalar("+" + country_code, local.type), local,
                                                                  pa.scalar("", local.type)), digits)
    return digits


def legacy_columns(source: Source, header: list[str]) -> dict[str, str]:
    """Each canonical field's legacy column: the mapped one, or a column with the field's own name when no
    mapping claims that column for another field. One legacy column never fills two fields."""
    claimed = set(source.columns.values())
    out = dict(source.columns)
    for field in TABLES[source.table].fields:
        if field.name not in out and field.name in header and field.name not in claimed:
            out[field.name] = field.name
    return out


def _column(raw: Raw, source: Source, field: Field, legacy_of: dict[str, str]) -> pa.Array | None:
    legacy = legacy_of.get(field.name)
    if legacy is None:
        return None
    if legacy in raw.clean_columns:
        return raw.table.column(legacy)
    if legacy in raw.table.column_names:
        return _text(raw.table.column(legacy))
    if raw.sparse:  # JSON leaves out null keys: a key no row has is a column of nulls
        return pa.nulls(raw.table.num_rows, pa.large_string())
    columns = ", ".join(c for c in raw.table.column_names if c not in RESERVED)
    raise MigrationError(f"{source.table}: {source.file.name} has no column {legacy!r} (mapped to "
                         f"{field.name}); its columns are {columns}")


def cleanse(con: duckdb.DuckDBPyConnection, source: Source, raw: Raw) -> Cleansed:
    table = TABLES[source.table]
    n = raw.table.num_rows
    verdicts = _Verdicts(n)
    out: dict[str, pa.Array] = {}
    used: set[str] = set()
    texts: dict[str, pa.Array | None] = {}
    legacy_of = legacy_columns(source, [c for c in raw.table.column_names if c not in RESERVED])
    for field in table.fields:
        texts[field.name] = _column(raw, source, field, legacy_of)
        if texts[field.name] is not None:
            used.add(legacy_of[field.name])
        elif field.required and not (field.kind == "currency" and source.settings.currency) and not (
                raw.sparse and n == 0):
            raise MigrationError(f"{source.table}: required column {field.name} is not mapped and "
                                 f"{source.file.name} has no column {field.name!r}")
    # The currency first: it gives each money field its scale.
    currency = texts.get("currency")
    if "currency" in texts:
        default = source.settings.currency
        if currency is None:
            currency = pa.array([default] * n, pa.large_string()) if default else pa.nulls(n, pa.large_string())
        else:
            if "currency" in source.values:
                currency, _ = _mapped(currency, source.values["currency"])
            currency = pc.utf8_upper(currency)
            if default:
                currency = pc.fill_null(currency, pa.scalar(default, pa.large_string()))
        texts["currency"] = currency
        # Checked before any money field: an unknown code has no minor unit to read amounts with.
        verdicts.fail(pc.and_(pc.is_valid(currency), pc.invert(pc.is_in(currency, value_set=_CODES))),
                      "bad_currency", "currency")
    for field in table.fields:
        values = texts[field.name]
        name = field.name
        if values is None:
            out[name] = pa.nulls(n, pa.string() if field.kind not in ("money", "volume", "int", "timestamp")
                                 else pa.int64())
            continue
        if name in source.values and field.kind != "currency":
            values, _ = _mapped(values, source.values[name])
        if field.required:
            verdicts.fail(pc.is_null(values), "missing_value", name)
        kind = field.kind
        if kind in ("money", "volume", "int"):
            if legacy_of[name] in raw.float_columns:
                raise MigrationError(f"{source.table}: column {legacy_of[name]!r} of "
                                     f"{source.file.name} is floating point; {name} needs exact decimals "
                                     f"(DECIMAL, integer or text in the export)")
            if kind == "money":
                assert currency is not None
                scales = pc.fill_null(pc.take(pa.array(_SCALES, pa.uint8()),
                                              pc.index_in(currency, value_set=_CODES)), 2)
                verdicts.fail(pc.and_(pc.is_valid(values), pc.is_null(currency)), "missing_value", "currency")
            else:
                scales = 2 if kind == "volume" else 0
            parsed, codes = _decimals(values, scales, source)
            verdicts.fail_codes(codes, DECIMAL_CODES, name)
            out[name] = parsed
        elif kind == "timestamp":
            us, codes = _timestamps(con, values, source)
            verdicts.fail(pc.equal(codes, 1), "bad_timestamp", name)
            verdicts.fail(pc.equal(codes, 2), "timestamp_without_zone", name)
            verdicts.fail(pc.equal(codes, 3), "ambiguous_local_time", name)
            out[name] = us
        elif kind == "leg":
            if name not in source.values:
                values, _ = _mapped(pc.utf8_lower(values), LEGS)
            verdicts.fail(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(["L", "R"])))),
                          "bad_value", name)
            out[name] = values.cast(pa.string())
        elif kind == "currency":
            verdicts.fail(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=_CODES))),
                          "bad_currency", name)
            out[name] = values.cast(pa.string())
        elif kind == "email":
            lowered = pc.utf8_lower(values)
            bad = pc.or_(pc.invert(pc.match_substring_regex(lowered, EMAIL)), pc.greater(pc.utf8_length(lowered), 254))
            verdicts.fail(pc.and_(pc.is_valid(values), bad), "bad_email", name)
            out[name] = lowered.cast(pa.string())
        elif kind == "country":
            upper = pc.utf8_upper(values)
            verdicts.fail(pc.and_(pc.is_valid(upper), pc.invert(pc.is_in(upper, value_set=COUNTRIES))),
                          "bad_country", name)
            out[name] = upper.cast(pa.string())
        elif kind == "phone":
            phones = _phones(values, source.settings.phone_country_code)
            verdicts.fail(pc.and_(pc.is_valid(phones), pc.invert(pc.match_substring_regex(phones, PHONE))),
                          "bad_phone", name)
            out[name] = phones.cast(pa.string())
        elif kind == "date":
            # Exactly YYYY-MM-DD and a real calendar day (the ISO kernel checks the day of the month).
            shaped = pc.match_substring_regex(values, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
            _, day_codes = _iso_timestamps(values)
            good = pc.and_(shaped, pc.equal(day_codes, 3))
            verdicts.fail(pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(good, False))), "bad_date", name)
            out[name] = values.cast(pa.string())
        elif kind == "status":
            out[name] = pc.utf8_lower(values).cast(pa.string())
        else:
            out[name] = values.cast(pa.string())
    out["_mlm_line"] = raw.table.column("_mlm_line")
    out["_mlm_record"] = raw.table.column("_mlm_record")
    typed = pa.table(out)
    ok = verdicts.ok
    accepted = typed if verdicts.none_failed else typed.filter(ok)
    bad_rows = pc.indices_nonzero(pc.invert(ok))
    quarantine = _quarantine_rows(raw, typed, verdicts, bad_rows, source)
    ignored = [c for c in raw.table.column_names if c not in RESERVED and c not in used]
    return Cleansed(accepted, quarantine, ignored)


MESSAGES = {
    "missing_value": "is missing",
    "not_a_decimal": "is not a decimal number",
    "not_finite": "is not a finite number",
    "too_many_decimals": "has more decimals than its unit allows",
    "overflow": "is outside the int64 range of minor units",
    "bad_timestamp": "is not a readable timestamp",
    "timestamp_without_zone": "has no time zone offset and the mapping names no timezone",
    "ambiguous_local_time": "is a local time the mapping's timezone repeats or skips (a clock change)",
    "bad_value": "is not a known value (map it under [tables.<table>.values])",
    "bad_currency": "is not an active ISO 4217 currency code",
    "bad_email": "is not a valid e-mail address",
    "bad_country": "is not an ISO 3166-1 alpha-2 country code",
    "bad_phone": "is not a phone number in E.164 form (+ and 7 to 15 digits)",
    "bad_date": "is not a date (YYYY-MM-DD)",
}


def quarantine_rows(staged: pa.Table, raw: Raw, verdicts: dict[int, tuple[str, str]], *,
                    aligned: bool = False) -> pa.Table:
    """Quarantine rows for ``verdicts`` (staged row -> reason, detail): line, record, member and the raw row
    read back from ``raw`` by record (or by row, when ``staged`` is ``aligned`` with ``raw``)."""
    if not verdicts:
        return QUARANTINE_SCHEMA.empty_table()
    rows = sorted(verdicts)
    take = pa.array(rows, pa.int64())
    records = staged.column("_mlm_record").take(take)
    raw_rows = take if aligned else pc.index_in(records, value_set=raw.table.column("_mlm_record").combine_chunks())
    member = staged.column("member_id").take(take).cast(pa.string()) if "member_id" in staged.column_names \
        else pa.nulls(len(rows), pa.string())
    return pa.table({
        "line": staged.column("_mlm_line").take(take), "record": records, "member_id": member,
        "reason": pa.array([verdicts[r][0] for r in rows], pa.string()),
        "detail": pa.array([verdicts[r][1] for r in rows], pa.string()),
        "raw": pa.array(raw_json(raw, raw_rows), pa.string()),
    }, schema=QUARANTINE_SCHEMA)


def raw_json(raw: Raw, rows: pa.Array) -> list[str]:
    """The legacy fields of ``rows`` as JSON objects: the raw row as it was read."""
    legacy = raw.table.drop_columns(["_mlm_line", "_mlm_record"]).take(rows).to_pylist()
    return [json.dumps(r, ensure_ascii=False) for r in legacy]


def _quarantine_rows(raw: Raw, typed: pa.Table, verdicts: _Verdicts, rows: pa.Array, source: Source) -> pa.Table:
    if len(rows) == 0:
        return QUARANTINE_SCHEMA.empty_table()
    reasons = verdicts.reason.take(rows).to_pylist()
    fields = verdicts.field.take(rows).to_pylist()
    legacy_rows = raw.table.take(rows).to_pylist()
    personal = set(TABLES[source.table].pii)
    legacy_of = legacy_columns(source, [c for c in raw.table.column_names if c not in RESERVED])
    found: dict[int, tuple[str, str]] = {}
    for row, reason, field, legacy in zip(rows.to_pylist(), reasons, fields, legacy_rows, strict=True):
        column = legacy_of.get(field, field)
        value = legacy.get(column)
        if field in personal:  # personal data never goes into a readable detail
            shown = f" ({column}, value withheld: personal data)" if value is not None else ""
        else:
            shown = f" ({column}={value!r})" if value is not None else ""
        found[row] = (reason, f"{field} {MESSAGES.get(reason, reason)}{shown}")
    return quarantine_rows(typed, raw, found, aligned=True)


_CODES = pa.array(sorted(CURRENCIES), pa.large_string())
_SCALES = [minor_unit(c) for c in sorted(CURRENCIES)]
