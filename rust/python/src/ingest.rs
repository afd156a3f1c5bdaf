//! Migration kernels over Arrow: the strict CSV reader and exact decimal parsing.
use arrow::array::{Array, AsArray, Int64Array, LargeBinaryArray, LargeStringArray, StringArray, UInt8Array};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, UInt8Type};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::ingest::csv::{self, CsvOptions, TextColumn};
use mlm_kernel::ingest::decimal::{self, DecimalFormat, MAX_SCALE};
use mlm_kernel::ingest::timestamp;
use mlm_kernel::{KernelError, StrKeys};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrow_in::{import_array, validity};
use crate::errors::{input_error, run_detached, to_py_err};

fn one_byte(py: Python<'_>, text: &str, what: &str) -> PyResult<u8> {
    match text.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(input_error(py, format!("{what} must be one ASCII character, not {text:?}"))),
    }
}

/// The column as a large_string array in which empty values are null (a missing value, once cleansed).
fn text_array(column: TextColumn) -> LargeStringArray {
    let nulls = column.empty.then(|| NullBuffer::from_iter(column.offsets.windows(2).map(|w| w[1] > w[0])));
    // SAFETY: the reader checked every record as UTF-8 and cuts fields only at ASCII bytes, and its
    // offsets are monotone from 0 to data.len().
    unsafe {
        LargeStringArray::new_unchecked(
            OffsetBuffer::new_unchecked(ScalarBuffer::from(column.offsets)),
            Buffer::from_vec(column.data),
            nulls,
        )
    }
}

/// Reads a CSV file with the GIL released: the header, one large_string array per column, the line and
/// record of each row, and every record that could not be read.
#[pyfunction]
#[pyo3(signature = (path, delimiter = ",", quote = "\""))]
pub fn read_csv(py: Python<'_>, path: std::path::PathBuf, delimiter: &str, quote: &str) -> PyResult<Py<PyAny>> {
    let opts = CsvOptions { delimiter: one_byte(py, delimiter, "delimiter")?, quote: one_byte(py, quote, "quote")? };
    let parsed = run_detached(py, move || {
        let bytes = std::fs::read(&path)
            .map_err(|e| KernelError::InvalidInput { message: format!("cannot read {}: {e}", path.display()) })?;
        csv::parse_csv(&bytes, opts).map_err(|e| KernelError::InvalidInput { message: format!("{}: {e}", path.display()) })
    })?;
    let out = PyDict::new(py);
    out.set_item("header", PyList::new(py, &parsed.header)?)?;
    // One list per chunk: [column arrays..., line, record]; Python makes chunked arrays of them.
    let width = parsed.header.len();
    let all = |f: fn(&TextColumn) -> bool| -> Vec<bool> {
        (0..width).map(|c| parsed.chunks.iter().all(|ch| f(&ch.columns[c]))).collect()
    };
    let any = |f: fn(&TextColumn) -> bool| -> Vec<bool> {
        (0..width).map(|c| parsed.chunks.iter().any(|ch| f(&ch.columns[c]))).collect()
    };
    // Per column: every value ASCII; none with leading or trailing ASCII whitespace.
    out.set_item("ascii", all(|c| c.ascii))?;
    out.set_item("padded", any(|c| c.padded))?;
    let chunks = PyList::empty(py);
    for chunk in parsed.chunks {
        let arrays = PyList::empty(py);
        for column in chunk.columns {
            arrays.append(text_array(column).into_data().to_pyarrow(py)?)?;
        }
        arrays.append(Int64Array::from(chunk.line).into_data().to_pyarrow(py)?)?;
        arrays.append(Int64Array::from(chunk.record).into_data().to_pyarrow(py)?)?;
        chunks.append(arrays)?;
    }
    out.set_item("chunks", chunks)?;
    let rejects = PyDict::new(py);
    let r = &parsed.rejects;
    rejects.set_item("line", Int64Array::from(r.iter().map(|x| x.line as i64).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    rejects.set_item("record", Int64Array::from(r.iter().map(|x| x.record as i64).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    rejects.set_item("raw", LargeBinaryArray::from(r.iter().map(|x| x.raw.as_slice()).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    rejects.set_item("code", StringArray::from(r.iter().map(|x| x.code.as_str()).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    rejects.set_item("detail", StringArray::from(r.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>()).into_data().to_pyarrow(py)?)?;
    out.set_item("rejects", rejects)?;
    out.set_item("records", parsed.records)?;
    out.set_item("blank_lines", parsed.blank_lines)?;
    out.set_item("had_bom", parsed.had_bom)?;
    Ok(out.into_any().unbind())
}

/// Decimal text to int64 minor units: `(values, codes)`; a value is null unless its code is 0 (ok).
/// `scales` is a uint8 array (one scale per row) or a single int.
#[pyfunction]
#[pyo3(signature = (text, scales, decimal_separator = ".", group_separator = None, strict = false))]
pub fn parse_decimal(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    scales: &Bound<'_, PyAny>,
    decimal_separator: &str,
    group_separator: Option<&str>,
    strict: bool,
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let format = DecimalFormat {
        decimal: one_byte(py, decimal_separator, "decimal_separator")?,
        group: group_separator.map(|g| one_byte(py, g, "group_separator")).transpose()?,
        strict,
    };
    if format.group == Some(format.decimal) {
        return Err(input_error(py, "the group separator must differ from the decimal separator"));
    }
    let array = import_array(py, text, "decimal text")?;
    let scale_values: Vec<u8> = if let Ok(one) = scales.extract::<u8>() {
        vec![one]
    } else {
        let s = import_array(py, scales, "scales")?;
        if s.data_type() != &DataType::UInt8 || s.null_count() > 0 || s.len() != array.len() {
            return Err(input_error(py, "scales must be one int or a uint8 array without nulls, one per row"));
        }
        s.as_primitive::<UInt8Type>().values().to_vec()
    };
    if let Some(bad) = scale_values.iter().find(|&&s| s > MAX_SCALE) {
        return Err(input_error(py, format!("scale {bad} is above the maximum of {MAX_SCALE}")));
    }
    let kernel_err = |e| to_py_err(py, e);
    let (values, codes) = match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            let keys = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(kernel_err)?;
            run_detached(py, || Ok(decimal::parse_minor_column(&keys, &scale_values, format)))?
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            let keys = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(kernel_err)?;
            run_detached(py, || Ok(decimal::parse_minor_column(&keys, &scale_values, format)))?
        }
        other => return Err(input_error(py, format!("decimal text must be a string column, not {other}"))),
    };
    let nulls = NullBuffer::from(codes.iter().map(|&c| c == 0).collect::<Vec<bool>>());
    let values = Int64Array::new(ScalarBuffer::from(values), Some(nulls));
    Ok((values.into_data().to_pyarrow(py)?.unbind(), UInt8Array::from(codes).into_data().to_pyarrow(py)?.unbind()))
}

/// ISO 8601 text to microseconds: `(values, codes)` with codes 0 zoned (UTC), 1 null, 2 invalid, 3 naive
/// (wall-clock time read as UTC; the caller applies the mapping's zone). Values are null unless 0 or 3.
#[pyfunction]
pub fn parse_timestamps(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let array = import_array(py, text, "timestamp text")?;
    let kernel_err = |e| to_py_err(py, e);
    let (values, codes) = match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            let keys = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(kernel_err)?;
            run_detached(py, || Ok(timestamp::parse_iso_column(&keys)))?
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            let keys = StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(kernel_err)?;
            run_detached(py, || Ok(timestamp::parse_iso_column(&keys)))?
        }
        other => return Err(input_error(py, format!("timestamp text must be a string column, not {other}"))),
    };
    let nulls = NullBuffer::from(codes.iter().map(|&c| c == 0 || c == 3).collect::<Vec<bool>>());
    let values = Int64Array::new(ScalarBuffer::from(values), Some(nulls));
    Ok((values.into_data().to_pyarrow(py)?.unbind(), UInt8Array::from(codes).into_data().to_pyarrow(py)?.unbind()))
}
