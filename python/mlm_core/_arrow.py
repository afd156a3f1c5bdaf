"""Turning what callers pass (pyarrow, polars, DuckDB results, numpy, lists) into pyarrow objects.

Everything with the Arrow PyCapsule interface (``__arrow_c_stream__`` / ``__arrow_c_array__``) is read
without copying; chunked columns are combined once (a no-op for one chunk) before a kernel sees them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .errors import InputError

STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


def as_table(data: Any, what: str) -> pa.Table:
    """A pyarrow Table from a Table, RecordBatch, Arrow stream (polars, DuckDB), dict or pandas frame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__") or isinstance(data, pa.RecordBatchReader):
        return pa.table(data) if not isinstance(data, pa.RecordBatchReader) else data.read_all()
    if isinstance(data, dict):
        return pa.table(data)
    if hasattr(data, "arrow") and callable(data.arrow):  # a DuckDB relation of an older duckdb
        result = data.arrow()
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    if type(data).__name__ == "DataFrame" and hasattr(data, "to_numpy"):  # pandas, without importing it
        return pa.Table.from_pandas(data, preserve_index=False)
    raise InputError(f"{what} must be an Arrow table (pyarrow, polars, DuckDB result), not {type(data).__name__}")


def as_array(data: Any, what: str) -> pa.Array:
    """One contiguous pyarrow Array from an Array, ChunkedArray, Arrow array/stream object, numpy or list."""
    if isinstance(data, pa.ChunkedArray):
        return data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
    if isinstance(data, pa.Array):
        return data
    if hasattr(data, "__arrow_c_array__"):
        return pa.array(data)
    if hasattr(data, "__arrow_c_stream__"):
        return as_array(pa.chunked_array(data), what)
    if isinstance(data, np.ndarray):
        return pa.array(data)
    if isinstance(data, (list, tuple, range)):
        return pa.array(data)
    raise InputError(f"{what} must be an Arrow array, numpy array or list, not {type(data).__name__}")


def column(table: pa.Table, name: str) -> pa.Array:
    return as_array(table.column(name), name)


def int64_array(data: Any, what: str, *, allow_bool: bool = True) -> pa.Array:
    """An int64 array: other integer types are cast (a value out of range is an error); floats, decimals
    and strings are rejected, because amounts and volumes are integers in minor units or hundredths.
    Booleans read as 0/1 only where ``allow_bool`` (flags for counting), never as money or volume."""
    array = as_array(data, what)
    kind = array.type
    if pa.types.is_int64(kind):
        return array
    if pa.types.is_integer(kind) or (allow_bool and pa.types.is_boolean(kind)):
        try:
            return array.cast(pa.int64(), safe=True)
        except pa.ArrowInvalid as exc:
            raise InputError(f"{what} does not fit int64: {exc}", column=what) from None
    if pa.types.is_null(kind):
        return array.cast(pa.int64())
    hint = ""
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        hint = " (money and volume are integers: minor units, hundredths of a point)"
    raise InputError(f"{what} must be an integer column, not {kind}{hint}", column=what)


def null_rows(array: pa.Array, limit: int = 10) -> list[int]:
    if array.null_count == 0:
        return []
    mask = np.asarray(array.is_null().to_numpy(zero_copy_only=False))
    return [int(i) for i in np.flatnonzero(mask)[:limit]]
