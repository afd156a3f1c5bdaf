//! Synthetic network shapes for `mlm_core.synth`.
use arrow::array::{Array, Int64Array, UInt8Array};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::genealogy::NONE;
use pyo3::prelude::*;

use crate::arrow_in::import_array;
use crate::errors::{input_error, run_detached};

/// Sponsor row of each of `n` members in join order (null for the root, row 0).
#[pyfunction]
pub fn synth_sponsors(py: Python<'_>, n: usize, seed: u64) -> PyResult<Py<PyAny>> {
    let sponsors = run_detached(py, || mlm_kernel::synth::sponsors(n, seed))?;
    let array: Int64Array = sponsors.iter().map(|&s| if s == NONE { None } else { Some(s as i64) }).collect();
    Ok(array.into_data().to_pyarrow(py)?.unbind())
}

/// `(placement_parent_row, leg_code)` for members whose sponsor rows (int64, null for roots) come first.
#[pyfunction]
pub fn synth_placement(py: Python<'_>, sponsor_row: &Bound<'_, PyAny>, seed: u64) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let array = import_array(py, sponsor_row, "sponsor_row")?;
    let Some(rows) = array.as_any().downcast_ref::<Int64Array>() else {
        return Err(input_error(py, format!("sponsor_row must be int64, not {}", array.data_type())));
    };
    let mut sponsors = Vec::with_capacity(rows.len());
    for (j, row) in rows.iter().enumerate() {
        sponsors.push(match row {
            None => NONE,
            Some(r) if r >= 0 && (r as usize) < j => r as u32,
            Some(r) => return Err(input_error(py, format!("sponsor_row {r} at row {j} must be an earlier row"))),
        });
    }
    let (parent, leg) = run_detached(py, || mlm_kernel::synth::spillover_placement(&sponsors, seed))?;
    let parent: Int64Array = parent.iter().map(|&s| if s == NONE { None } else { Some(s as i64) }).collect();
    Ok((
        parent.into_data().to_pyarrow(py)?.unbind(),
        UInt8Array::from(leg).into_data().to_pyarrow(py)?.unbind(),
    ))
}
