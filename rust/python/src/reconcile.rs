//! The parallel run's pairing over Arrow: `reconcile_pairs`.
use arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, Int8Array, LargeStringArray, UInt64Array};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Int32Type};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::reconcile::{self, KeyCol, Lines, Text, Values};
use mlm_kernel::StrKeys;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrow_in::{import_array, int64_values, validity};
use crate::errors::{input_error, run_detached, to_py_err};

fn text<'a>(py: Python<'_>, array: &'a dyn Array, what: &str) -> PyResult<Text<'a>> {
    let err = |e| to_py_err(py, e);
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Ok(Text::Narrow(StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(err)?))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Ok(Text::Wide(StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(err)?))
        }
        other => Err(input_error(py, format!("{what} must be string or large_string, not {other}"))),
    }
}

/// A key column: string, large_string, or a dictionary of them with int32 indices (nulls are checked by
/// the caller).
fn keys<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str) -> PyResult<KeyCol<'a>> {
    match array.data_type() {
        DataType::Dictionary(index, _) if **index == DataType::Int32 => {
            let d = array.as_dictionary::<Int32Type>();
            if d.keys().null_count() > 0 {
                return Err(input_error(py, format!("{what} has nulls")));
            }
            Ok(KeyCol::Dict { indices: d.keys().values(), values: text(py, d.values().as_ref(), what)? })
        }
        _ => Ok(KeyCol::Text(text(py, array.as_ref(), what)?)),
    }
}

fn side<'a>(py: Python<'_>, arrays: &'a [ArrayRef], what: &str) -> PyResult<Lines<'a>> {
    if arrays.len() != 4 {
        return Err(input_error(py, format!("{what} lines take period, member_id, bonus, amount")));
    }
    Ok(Lines {
        period: keys(py, &arrays[0], &format!("{what} period"))?,
        member_id: keys(py, &arrays[1], &format!("{what} member_id"))?,
        bonus: keys(py, &arrays[2], &format!("{what} bonus"))?,
        amount: int64_values(py, &arrays[3], &format!("{what} amount"))?,
    })
}

fn strings(values: Values) -> LargeStringArray {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(values.offsets));
    // SAFETY: the values are copies of the input's key bytes, between offsets the kernel wrote in order;
    // they are valid UTF-8 whenever the input was (a large_string array the caller built).
    unsafe { LargeStringArray::new_unchecked(offsets, Buffer::from_vec(values.data), None) }
}

fn codes(py: Python<'_>, v: Vec<u32>) -> PyResult<Int32Array> {
    if v.iter().any(|&c| c > i32::MAX as u32) {
        return Err(input_error(py, "more than 2^31 distinct values in one key column"));
    }
    // u32 codes below 2^31 have the same bits as i32: reinterpret the buffer instead of copying it.
    Ok(Int32Array::new(ScalarBuffer::from(Buffer::from_vec(v)), None))
}

/// Pairs the two sides by key with the GIL released. Returns a dict: per pair `period`, `member_id`,
/// `bonus` (int32 codes into `periods`, `members`, `bonuses`), `legacy_amount`, `our_amount` (null: no
/// line), `difference`, `status` (int8: 0 match, 1 amount_differs, 2 only_legacy, 3 only_ours), in
/// first-appearance order; and `totals`: per (period, bonus) codes, `legacy_total`, `our_total`,
/// `difference` and the four class counts.
#[pyfunction]
pub fn reconcile_pairs<'py>(
    py: Python<'py>,
    legacy: &Bound<'py, PyList>,
    ours: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyDict>> {
    let import = |list: &Bound<'_, PyList>, what: &str| -> PyResult<Vec<ArrayRef>> {
        list.iter().enumerate().map(|(i, c)| import_array(py, &c, &format!("{what} column {i}"))).collect()
    };
    let (la, oa) = (import(legacy, "legacy")?, import(ours, "new")?);
    let (l, o) = (side(py, &la, "legacy")?, side(py, &oa, "new")?);
    let p = run_detached(py, || reconcile::pair(&l, &o))?;
    let out = PyDict::new(py);
    let t = p.totals;
    let count = |k: usize| UInt64Array::from(t.counts.iter().map(|c| c[k]).collect::<Vec<_>>()).into_data();
    out.set_item("period", codes(py, p.period)?.into_data().to_pyarrow(py)?)?;
    out.set_item("member_id", codes(py, p.member)?.into_data().to_pyarrow(py)?)?;
    out.set_item("bonus", codes(py, p.bonus)?.into_data().to_pyarrow(py)?)?;
    let nullable = |values: Vec<i64>, present: Vec<bool>| {
        Int64Array::new(ScalarBuffer::from(values), Some(NullBuffer::from(present))).into_data()
    };
    out.set_item("legacy_amount", nullable(p.legacy, p.has_legacy).to_pyarrow(py)?)?;
    out.set_item("our_amount", nullable(p.ours, p.has_ours).to_pyarrow(py)?)?;
    out.set_item("difference", Int64Array::from(p.difference).into_data().to_pyarrow(py)?)?;
    out.set_item("status", Int8Array::new(ScalarBuffer::from(Buffer::from_vec(p.status)), None).into_data().to_pyarrow(py)?)?;
    out.set_item("periods", strings(p.periods).into_data().to_pyarrow(py)?)?;
    out.set_item("members", strings(p.members).into_data().to_pyarrow(py)?)?;
    out.set_item("bonuses", strings(p.bonuses).into_data().to_pyarrow(py)?)?;
    let totals = PyDict::new(py);
    totals.set_item("period", codes(py, t.period.clone())?.into_data().to_pyarrow(py)?)?;
    totals.set_item("bonus", codes(py, t.bonus.clone())?.into_data().to_pyarrow(py)?)?;
    totals.set_item("legacy_total", Int64Array::from(t.legacy.clone()).into_data().to_pyarrow(py)?)?;
    totals.set_item("our_total", Int64Array::from(t.ours.clone()).into_data().to_pyarrow(py)?)?;
    totals.set_item("difference", Int64Array::from(t.difference.clone()).into_data().to_pyarrow(py)?)?;
    for (k, name) in ["match", "amount_differs", "only_legacy", "only_ours"].iter().enumerate() {
        totals.set_item(*name, count(k).to_pyarrow(py)?)?;
    }
    out.set_item("totals", totals)?;
    Ok(out)
}
