"""The migration kernels against independent references: Python's ``decimal`` and ``csv`` modules."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_core import _mlm_core
from mlm_core.errors import InputError

CODES = {0: "ok", 2: "empty", 3: "not_a_decimal", 4: "not_finite", 5: "too_many_decimals", 6: "overflow"}


def reference_minor(text: str, scale: int) -> tuple[int | None, str]:
    """The slow definition: Decimal parses the text, the value must be exact at ``scale`` and fit int64."""
    if text == "":
        return None, "empty"
    if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return None, "not_finite"
    body = text.lstrip("+-")
    if (len(text) - len(body) > 1 or not body or any(c not in "0123456789." for c in body)
            or body.count(".") > 1 or body == "."):
        return None, "not_a_decimal"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, "not_a_decimal"
    # Precedence (documented in the kernel): an integer part beyond 2**63 (the magnitude of int64's minimum)
    # is overflow whatever the scale; then digits beyond the scale; then the scaled value's range.
    if abs(int(value)) > 2**63:
        return None, "overflow"
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        return None, "too_many_decimals"
    minor = int(scaled)
    if not -(2**63) <= minor < 2**63:
        return None, "overflow"
    return minor, "ok"


decimal_text = st.one_of(
    st.from_regex(r"[+-]?[0-9]{0,22}(\.[0-9]{0,8})?", fullmatch=True),
    st.sampled_from(["NaN", "-inf", "1e5", "1,5", " 1", "--2", ".", "+.", "9223372036854775807",
                     "92233720368547758.07", "92233720368547758.08", "-92233720368547758.08", "0.000", "\u0661"]),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(decimal_text, min_size=1, max_size=30), st.integers(0, 4))
def test_parse_decimal_matches_decimal_module(texts: list[str], scale: int) -> None:
    values, codes = _mlm_core.parse_decimal(pa.array(texts, pa.string()), scale)
    for text, value, code in zip(texts, values.to_pylist(), codes.to_pylist(), strict=True):
        expect_value, expect_code = reference_minor(text, scale)
        assert (value, CODES[code]) == (expect_value, expect_code), text


def test_parse_decimal_per_row_scales_and_grouping() -> None:
    text = pa.array(["1.234,5", "12", "1.000.000", "7,125", None], pa.large_string())
    scales = pa.array([2, 0, 0, 3, 2], pa.uint8())
    values, codes = _mlm_core.parse_decimal(text, scales, ",", ".")
    assert values.to_pylist() == [123450, 12, 1_000_000, 7125, None]
    assert codes.to_pylist() == [0, 0, 0, 0, 1]
    with pytest.raises(InputError, match="one per row"):
        _mlm_core.parse_decimal(text, pa.array([2], pa.uint8()))
    with pytest.raises(InputError, match="must differ"):
        _mlm_core.parse_decimal(text, 2, ".", ".")


# No lone "\r": the csv module writes it unquoted when its line terminator is "\n", which is ambiguous.
field_text = st.text(alphabet=st.sampled_from([*'ab ,"\n\té€', "x"]), max_size=8)


def write_csv(rows: list[list[str]], newline: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue().encode()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(field_text, min_size=w, max_size=w), max_size=12)),
       st.sampled_from(["\n", "\r\n"]))
def test_read_csv_matches_csv_module(tmp_path_factory: pytest.TempPathFactory, body: list[list[str]],
                                     newline: str) -> None:
    width = len(body[0]) if body else 2
    header = [f"c{k}" for k in range(width)]
    # A record that is one empty field is an empty line: not a record (for either reader).
    body = [r for r in body if r != [""]]
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(write_csv([header, *body], newline))
    parsed = _mlm_core.read_csv(str(path))
    assert parsed["header"] == header
    # An empty field comes back null (a missing value); the csv module gives "".
    got = [["" if v is None else v for v in row]
           for chunk in parsed["chunks"] for row in zip(*(a.to_pylist() for a in chunk[:width]), strict=True)]
    with path.open(newline="") as f:
        expect = list(csv.reader(f))[1:]
    assert got == expect
    assert parsed["records"] == len(expect)
    assert len(parsed["rejects"]["line"]) == 0


def test_read_csv_bad_input_suite(tmp_path: Path) -> None:
    """BOM, CRLF, bad quoting, ragged rows, invalid UTF-8: each bad record is kept with its line and text."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b'\xef\xbb\xbfid,name\r\n1,"Ann ""A"""\r\n2,Bo"b\r\n3,x,y\r\n4,\xc3(\r\n5,"multi\r\nline"\r\n'
                     b'6,"open\r\n7,ok\r\n')
    parsed = _mlm_core.read_csv(str(path))
    assert parsed["had_bom"] and parsed["header"] == ["id", "name"]
    rows = [list(r) for chunk in parsed["chunks"] for r in zip(chunk[0].to_pylist(), chunk[1].to_pylist(),
                                                                 strict=True)]
    assert rows == [["1", 'Ann "A"'], ["5", "multi\r\nline"], ["7", "ok"]]
    lines = [x for chunk in parsed["chunks"] for x in chunk[2].to_pylist()]
    assert lines == [2, 6, 9]
    r = parsed["rejects"]
    assert list(zip(r["line"].to_pylist(), r["code"].to_pylist(), r["raw"].to_pylist(), strict=True)) == [
        (3, "bad_quoting", b'2,Bo"b'), (4, "ragged_row", b"3,x,y"), (5, "invalid_utf8", b"4,\xc3("),
        (8, "bad_quoting", b'6,"open')]
    assert parsed["records"] == len(rows) + len(r["line"]) == 7


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"), (b"\xef\xbb\xbf", "empty"), (b"\r\n\r\n", "empty"), (b"a,a\n", "twice"),
    (b'a,"b\n', "cannot be read"), (b"\xff,b\n", "not valid UTF-8"), (b"a,,b\n", "no name")])
def test_read_csv_unreadable_header(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        _mlm_core.read_csv(str(path))


def test_read_csv_header_only_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"a,b\r\n")
    parsed = _mlm_core.read_csv(str(path))
    assert parsed["records"] == 0 and sum(len(c[0]) for c in parsed["chunks"]) == 0
    with pytest.raises(InputError, match="cannot read"):
        _mlm_core.read_csv(str(tmp_path / "absent.csv"))


def test_read_csv_large_file_in_parallel_pieces_equals_one_piece(tmp_path: Path) -> None:
    """Over 1 MiB the body is read in pieces; quoted newlines near every cut must not change the result."""
    rows = [[str(i), f'"v\n{i}"' if i % 7 == 0 else f"v{i}"] for i in range(120_000)]
    text = "id,v\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path = tmp_path / "big.csv"
    path.write_text(text)
    parsed = _mlm_core.read_csv(str(path))
    assert len(parsed["chunks"]) >= 1
    got = [v for chunk in parsed["chunks"] for v in chunk[1].to_pylist()]
    assert got == [f"v\n{i}" if i % 7 == 0 else f"v{i}" for i in range(120_000)]
    lines = [x for chunk in parsed["chunks"] for x in chunk[2].to_pylist()]
    expect, line = [], 2
    for i in range(120_000):
        expect.append(line)
        line += 2 if i % 7 == 0 else 1
    assert lines == expect


@settings(max_examples=400, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
       st.sampled_from(["date", "minutes", "seconds", "micros"]), st.sampled_from(["T", " "]),
       st.one_of(st.none(), st.integers(-23 * 60 - 59, 23 * 60 + 59)),
       st.sampled_from(["colon", "plain", "hours", "Z"]))
def test_parse_timestamps_matches_datetime(when: dt.datetime, precision: str, sep: str, offset: int | None,
                                           style: str) -> None:
    """The ISO kernel against datetime arithmetic on generated valid timestamps of every accepted form."""
    if precision == "date":
        when, offset = dt.datetime(when.year, when.month, when.day), None
        text = f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
    else:
        fmt = {"minutes": "%H:%M", "seconds": "%H:%M:%S", "micros": "%H:%M:%S.%f"}[precision]
        when = when.replace(second=0, microsecond=0) if precision == "minutes" else (
            when.replace(microsecond=0) if precision == "seconds" else when)
        text = f"{when.year:04d}-{when.month:02d}-{when.day:02d}{sep}{when.strftime(fmt)}"
    expect = (when - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    if offset is not None:
        if style == "Z":
            offset = 0
            text += "Z"
        elif style == "hours":
            offset = (abs(offset) // 60) * 60 * (1 if offset >= 0 else -1)
            text += f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}"
        else:
            sign = "+" if offset >= 0 else "-"
            text += f"{sign}{abs(offset) // 60:02d}{':' if style == 'colon' else ''}{abs(offset) % 60:02d}"
        expect -= offset * 60_000_000
    values, codes = _mlm_core.parse_timestamps(pa.array([text]))
    assert (values[0].as_py(), codes[0].as_py()) == (expect, 3 if offset is None else 0), text


def test_parse_timestamps_rejects_what_datetime_would_have_to_guess() -> None:
    texts = ["2024-02-30", "2024-01-05T24:00", "2024-01-05T10:00:00.1234567", "2024-01-05 10", None, "2024-01-05Z"]
    values, codes = _mlm_core.parse_timestamps(pa.array(texts))
    assert codes.to_pylist() == [2, 2, 2, 2, 1, 2]
    assert values.null_count == 6
