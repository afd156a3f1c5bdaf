//! Arrow arrays in, kernel views out: type checks, null checks and zero-copy slices.
use arrow::array::{Array, ArrayData, ArrayRef, AsArray, make_array};
use arrow::datatypes::{DataType, Int64Type};
use arrow::pyarrow::FromPyArrowUnchecked;
use mlm_kernel::{IntKeys, StrKeys, Validity};
use pyo3::prelude::*;

use crate::errors::input_error;

/// An array from any object with `__arrow_c_array__` (or a pyarrow Array). The structure is checked
/// here; string offsets are checked by the kernel views, and ids are compared as bytes, so the costly
/// full UTF-8 validation is not needed.
pub fn import_array(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<ArrayRef> {
    // SAFETY: the unchecked import skips `validate_full`; we run its parts the kernels rely on below:
    // buffer sizes (`validate`) and the null count against the bitmap (`validate_nulls`). String
    // offsets are checked by `StrKeys::new` before any slicing, and id bytes are never read as `str`,
    // so UTF-8 validity (the costly part of the full check on 10M ids) is not needed.
    let data: ArrayData = unsafe { ArrayData::from_pyarrow_bound_unchecked(value) }?;
    data.validate().map_err(|e| input_error(py, format!("{what}: invalid Arrow array: {e}")))?;
    data.validate_nulls().map_err(|e| input_error(py, format!("{what}: invalid Arrow array: {e}")))?;
    Ok(make_array(data))
}

pub fn validity(array: &dyn Array) -> Option<Validity<'_>> {
    array.nulls().filter(|n| n.null_count() > 0).map(|n| Validity {
        bits: n.buffer().as_slice(),
        offset: n.offset(),
    })
}

/// An id column as the kernel sees it; all three id columns of one table have one variant.
pub enum IdColumn<'a> {
    Int(IntKeys<'a>),
    Str(StrKeys<'a, i32>),
    LargeStr(StrKeys<'a, i64>),
}

pub fn id_column<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str) -> PyResult<IdColumn<'a>> {
    id_column_checked(py, array, what, true)
}

/// The id column a genealogy was built from, without checking its offsets again: `id_column` checks
/// them in O(n), too slow for point lookups, and the build checked these already.
pub fn trusted_id_column<'a>(py: Python<'_>, array: &'a ArrayRef) -> PyResult<IdColumn<'a>> {
    id_column_checked(py, array, "member ids", false)
}

fn id_column_checked<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str, check: bool) -> PyResult<IdColumn<'a>> {
    fn keys<'a, O: mlm_kernel::keys::Offset>(
        py: Python<'_>,
        offsets: &'a [O],
        data: &'a [u8],
        validity: Option<Validity<'a>>,
        check: bool,
    ) -> PyResult<StrKeys<'a, O>> {
        if check {
            StrKeys::new(offsets, data, validity).map_err(|e| crate::errors::to_py_err(py, e))
        } else {
            Ok(StrKeys { offsets, data, validity })
        }
    }
    match array.data_type() {
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            Ok(IdColumn::Int(IntKeys { values: a.values(), validity: validity(a) }))
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Ok(IdColumn::Str(keys(py, a.value_offsets(), a.value_data(), validity(a), check)?))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Ok(IdColumn::LargeStr(keys(py, a.value_offsets(), a.value_data(), validity(a), check)?))
        }
        other => Err(input_error(py, format!("{what} must be int64, string or large_string, not {other}"))),
    }
}

pub fn leg_column<'a>(py: Python<'_>, array: &'a ArrayRef) -> PyResult<StrKeys<'a, i32>> {
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| crate::errors::to_py_err(py, e))
        }
        other => Err(input_error(py, format!("leg must be a string column, not {other}"))),
    }
}

/// An int64 column without nulls, as a slice.
pub fn int64_values<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str) -> PyResult<&'a [i64]> {
    if array.data_type() != &DataType::Int64 {
        return Err(input_error(py, format!("{what} must be int64, not {}", array.data_type())));
    }
    if array.null_count() > 0 {
        let a = array.as_primitive::<Int64Type>();
        let rows: Vec<String> = (0..a.len()).filter(|&i| a.is_null(i)).take(10).map(|i| i.to_string()).collect();
        return Err(input_error(
            py,
            format!("{what} has {} null(s), at rows {}{}", array.null_count(), rows.join(", "),
                if array.null_count() > 10 { ", …" } else { "" }),
        ));
    }
    Ok(array.as_primitive::<Int64Type>().values())
}
