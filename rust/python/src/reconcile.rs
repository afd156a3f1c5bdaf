//! The parallel run's pairing over Arrow: `reconcile_pairs`.
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::datatypes::DataType;
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::reconcile::{self, Lines};
use mlm_kernel::StrKeys;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::arrow_in::{import_array, int64_values, validity};
use crate::errors::{input_error, run_detached, to_py_err};

fn keys<'a>(py: Python<'_>, array: &'a ArrayRef, what: &str) -> PyResult<StrKeys<'a, i64>> {
    if array.data_type() != &DataType::LargeUtf8 {
        return Err(input_error(py, format!("{what} must be large_string, not {}", array.data_type())));
    }
    let a = array.as_string::<i64>();
    StrKeys::new(a.value_offsets(), a.value_data(), validity(a)).map_err(|e| to_py_err(py, e))
}

fn side<'a>(py: Python<'_>, arrays: &'a [ArrayRef], what: &str) -> PyResult<Lines<'a, i64>> {
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

type Paired = (Py<PyAny>, Py<PyAny>, Py<PyAny>, Py<PyAny>);

/// Pairs the two sides by key with the GIL released: `(from_ours, row, legacy_amount, our_amount)`, one
/// element per key in first-appearance order; `row` is the key's first line on its side.
#[pyfunction]
pub fn reconcile_pairs(
    py: Python<'_>,
    legacy: &Bound<'_, PyList>,
    ours: &Bound<'_, PyList>,
) -> PyResult<Paired> {
    let import = |list: &Bound<'_, PyList>, what: &str| -> PyResult<Vec<ArrayRef>> {
        list.iter().enumerate().map(|(i, c)| import_array(py, &c, &format!("{what} column {i}"))).collect()
    };
    let (la, oa) = (import(legacy, "legacy")?, import(ours, "new")?);
    let (l, o) = (side(py, &la, "legacy")?, side(py, &oa, "new")?);
    let pairs = run_detached(py, || reconcile::pair(&l, &o))?;
    let from_ours: BooleanArray = pairs.first.iter().map(|&f| Some(f >> 63 == 1)).collect();
    let row = Int64Array::from(pairs.first.iter().map(|&f| (f & !(1u64 << 63)) as i64).collect::<Vec<_>>());
    Ok((
        from_ours.into_data().to_pyarrow(py)?.unbind(),
        row.into_data().to_pyarrow(py)?.unbind(),
        Int64Array::from(pairs.legacy).into_data().to_pyarrow(py)?.unbind(),
        Int64Array::from(pairs.ours).into_data().to_pyarrow(py)?.unbind(),
    ))
}
