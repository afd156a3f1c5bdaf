//! Genealogy building, validation and rollups.
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::pyarrow::ToPyArrow;
use mlm_kernel::genealogy::{downline_causes as downline, NONE};
use mlm_kernel::{BuildOptions, Finding, Genealogy, KernelError, KeyColumn, RollupOp, StrKeys, Tree};
use pyo3::prelude::*;

use crate::arrow_in::{id_column, import_array, int64_values, leg_column, trusted_id_column, IdColumn};
use crate::errors::{input_error, run_detached};

fn tree_arg(py: Python<'_>, tree: &str) -> PyResult<Tree> {
    match tree {
        "sponsor" => Ok(Tree::Sponsor),
        "placement" => Ok(Tree::Placement),
        other => Err(input_error(py, format!("tree must be 'sponsor' or 'placement', not {other:?}"))),
    }
}

fn op_arg(py: Python<'_>, op: &str) -> PyResult<RollupOp> {
    match op {
        "sum" => Ok(RollupOp::Sum),
        "max" => Ok(RollupOp::Max),
        "count" => Ok(RollupOp::Count),
        other => Err(input_error(py, format!("op must be 'sum', 'max' or 'count', not {other:?}"))),
    }
}

fn findings_batch(py: Python<'_>, findings: &[Finding]) -> PyResult<Py<PyAny>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("row", DataType::Int64, true),
        Field::new("code", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(findings.iter().map(|f| f.row.map(|r| r as i64)).collect::<Int64Array>()),
        Arc::new(findings.iter().map(|f| Some(f.code.as_str())).collect::<StringArray>()),
        Arc::new(findings.iter().map(|f| Some(f.code.severity().as_str())).collect::<StringArray>()),
        Arc::new(findings.iter().map(|f| Some(f.detail.as_str())).collect::<StringArray>()),
    ];
    let batch = RecordBatch::try_new(schema, columns).map_err(|e| input_error(py, e.to_string()))?;
    Ok(batch.to_pyarrow(py)?.unbind())
}

type Analysis = Result<(Option<Genealogy>, Vec<Finding>), KernelError>;

fn run<K: KeyColumn, O: mlm_kernel::keys::Offset>(
    m: &K,
    s: &K,
    p: &K,
    leg: &StrKeys<'_, O>,
    options: BuildOptions,
    build: bool,
) -> Analysis {
    if build {
        match mlm_kernel::build_genealogy(m, s, p, leg, options) {
            Ok((g, warnings)) => Ok((Some(g), warnings)),
            Err(KernelError::Genealogy { findings }) => Ok((None, findings)),
            Err(e) => Err(e),
        }
    } else {
        mlm_kernel::validate_genealogy(m, s, p, leg, options).map(|f| (None, f))
    }
}

type Analysed = (Option<(Genealogy, ArrayRef)>, Py<PyAny>);

fn analyse(
    py: Python<'_>,
    member_id: &Bound<'_, PyAny>,
    sponsor_id: &Bound<'_, PyAny>,
    placement_id: &Bound<'_, PyAny>,
    leg: &Bound<'_, PyAny>,
    allow_multiple_roots: bool,
    build: bool,
) -> PyResult<Analysed> {
    let arrays = [
        import_array(py, member_id, "member_id")?,
        import_array(py, sponsor_id, "sponsor_id")?,
        import_array(py, placement_id, "placement_id")?,
    ];
    let leg_array = import_array(py, leg, "leg")?;
    let leg_keys = leg_column(py, &leg_array)?;
    let m = id_column(py, &arrays[0], "member_id")?;
    let s = id_column(py, &arrays[1], "sponsor_id")?;
    let p = id_column(py, &arrays[2], "placement_id")?;
    let options = BuildOptions { allow_multiple_roots };
    let outcome = run_detached(py, || match (&m, &s, &p) {
        (IdColumn::Int(m), IdColumn::Int(s), IdColumn::Int(p)) => run(m, s, p, &leg_keys, options, build).map(Some),
        (IdColumn::Str(m), IdColumn::Str(s), IdColumn::Str(p)) => run(m, s, p, &leg_keys, options, build).map(Some),
        (IdColumn::LargeStr(m), IdColumn::LargeStr(s), IdColumn::LargeStr(p)) => {
            run(m, s, p, &leg_keys, options, build).map(Some)
        }
        _ => Ok(None),
    })?;
    let Some(outcome) = outcome else {
        return Err(input_error(
            py,
            format!(
                "member_id, sponsor_id and placement_id must have one type, not {}, {}, {}",
                arrays[0].data_type(),
                arrays[1].data_type(),
                arrays[2].data_type()
            ),
        ));
    };
    let (genealogy, findings) = outcome;
    let [member_array, _, _] = arrays;
    Ok((genealogy.map(|g| (g, member_array)), findings_batch(py, &findings)?))
}

/// Builds the two trees; returns `(core, findings)` where `core` is None when a finding is fatal.
#[pyfunction]
#[pyo3(signature = (member_id, sponsor_id, placement_id, leg, *, allow_multiple_roots = false))]
pub fn build_genealogy(
    py: Python<'_>,
    member_id: &Bound<'_, PyAny>,
    sponsor_id: &Bound<'_, PyAny>,
    placement_id: &Bound<'_, PyAny>,
    leg: &Bound<'_, PyAny>,
    allow_multiple_roots: bool,
) -> PyResult<(Option<GenealogyCore>, Py<PyAny>)> {
    let (genealogy, findings) = analyse(py, member_id, sponsor_id, placement_id, leg, allow_multiple_roots, true)?;
    Ok((genealogy.map(|(g, member_id)| GenealogyCore { inner: Arc::new(g), member_id }), findings))
}

/// Every finding, fatal or not, as a record batch `(row, code, severity, detail)`.
#[pyfunction]
#[pyo3(signature = (member_id, sponsor_id, placement_id, leg, *, allow_multiple_roots = false))]
pub fn validate_genealogy(
    py: Python<'_>,
    member_id: &Bound<'_, PyAny>,
    sponsor_id: &Bound<'_, PyAny>,
    placement_id: &Bound<'_, PyAny>,
    leg: &Bound<'_, PyAny>,
    allow_multiple_roots: bool,
) -> PyResult<Py<PyAny>> {
    Ok(analyse(py, member_id, sponsor_id, placement_id, leg, allow_multiple_roots, false)?.1)
}

pub(crate) fn int64_array(py: Python<'_>, values: Vec<i64>) -> PyResult<Py<PyAny>> {
    Ok(Int64Array::from(values).into_data().to_pyarrow(py)?.unbind())
}

pub(crate) fn index_array(py: Python<'_>, values: &[u32]) -> PyResult<Py<PyAny>> {
    let array: Int64Array = values.iter().map(|&v| if v == NONE { None } else { Some(v as i64) }).collect();
    Ok(array.into_data().to_pyarrow(py)?.unbind())
}

/// A built genealogy held in Rust; `mlm_core.Genealogy` wraps it with the ids.
#[pyclass(frozen, module = "mlm_core._mlm_core")]
pub struct GenealogyCore {
    pub(crate) inner: Arc<Genealogy>,
    /// The member id column the genealogy (and its id index) was built from.
    pub(crate) member_id: ArrayRef,
}

/// Member rows of `ids` (same Arrow type as `member_id`, the column `genealogy` was built from); null
/// ids become `NONE`. An id that is no member is an `InputError` listing them, or with `unknown_ok`
/// the row `UNKNOWN_ROW`.
pub(crate) fn member_rows(
    py: Python<'_>,
    genealogy: &Genealogy,
    member_id: &ArrayRef,
    ids: &ArrayRef,
    what: &str,
    unknown_ok: bool,
) -> PyResult<Vec<u32>> {
    if ids.data_type() != member_id.data_type() {
        return Err(input_error(py, format!("{what} are {}, the member ids {}", ids.data_type(), member_id.data_type())));
    }
    // The build checked the member column's offsets: not again on every lookup.
    let members = trusted_id_column(py, member_id)?;
    let query = id_column(py, ids, what)?;
    run_detached(py, || match (&members, &query) {
        (IdColumn::Int(m), IdColumn::Int(q)) if unknown_ok => genealogy.rows_or_unknown(m, q),
        (IdColumn::Int(m), IdColumn::Int(q)) => genealogy.rows_of(m, q),
        (IdColumn::Str(m), IdColumn::Str(q)) if unknown_ok => genealogy.rows_or_unknown(m, q),
        (IdColumn::Str(m), IdColumn::Str(q)) => genealogy.rows_of(m, q),
        (IdColumn::LargeStr(m), IdColumn::LargeStr(q)) if unknown_ok => genealogy.rows_or_unknown(m, q),
        (IdColumn::LargeStr(m), IdColumn::LargeStr(q)) => genealogy.rows_of(m, q),
        _ => Err(mlm_kernel::KernelError::InvalidInput { message: "id types differ".into() }),
    })
}

impl GenealogyCore {
    /// Member rows of `ids` (same Arrow type as the member ids); null ids become `NONE`.
    pub(crate) fn rows(&self, py: Python<'_>, ids: &ArrayRef, what: &str) -> PyResult<Vec<u32>> {
        member_rows(py, &self.inner, &self.member_id, ids, what, false)
    }
}

#[pymethods]
impl GenealogyCore {
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Subtree aggregate `op` of `values` (int64, no nulls; None for a plain count) on `tree`.
    #[pyo3(signature = (tree, op, values = None))]
    fn rollup(&self, py: Python<'_>, tree: &str, op: &str, values: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let tree = tree_arg(py, tree)?;
        let op = op_arg(py, op)?;
        let array = values.map(|v| import_array(py, v, "values")).transpose()?;
        let slice = array.as_ref().map(|a| int64_values(py, a, "values")).transpose()?;
        let inner = &self.inner;
        let result = run_detached(py, || inner.rollup(tree, op, slice))?;
        int64_array(py, result)
    }

    /// `(left, right)`: placement-subtree totals of `values` under each member's L and R child.
    fn leg_volumes(&self, py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let array = import_array(py, values, "values")?;
        let slice = int64_values(py, &array, "values")?;
        let inner = &self.inner;
        let (left, right) = run_detached(py, || inner.leg_volumes(slice))?;
        Ok((int64_array(py, left)?, int64_array(py, right)?))
    }

    /// Parent row of every member (null for a root).
    fn parent(&self, py: Python<'_>, tree: &str) -> PyResult<Py<PyAny>> {
        index_array(py, self.inner.tree(tree_arg(py, tree)?).parent())
    }

    /// Member rows in breadth-first order: every parent before its children.
    fn order(&self, py: Python<'_>, tree: &str) -> PyResult<Py<PyAny>> {
        index_array(py, self.inner.tree(tree_arg(py, tree)?).order())
    }

    fn depth(&self, py: Python<'_>, tree: &str) -> PyResult<Py<PyAny>> {
        let depth = self.inner.tree(tree_arg(py, tree)?).depth();
        int64_array(py, depth.iter().map(|&d| d as i64).collect())
    }

    fn level_histogram(&self, py: Python<'_>, tree: &str) -> PyResult<Py<PyAny>> {
        let counts = self.inner.tree(tree_arg(py, tree)?).level_histogram();
        int64_array(py, counts.into_iter().map(|c| c as i64).collect())
    }

    fn children(&self, py: Python<'_>, tree: &str, row: usize) -> PyResult<Py<PyAny>> {
        let index = self.inner.tree(tree_arg(py, tree)?);
        if row >= index.len() {
            return Err(input_error(py, format!("row {row} is out of range for {} members", index.len())));
        }
        index_array(py, index.children(row))
    }

    /// Member row of each id (null for a null id); unknown ids raise InputError listing them.
    fn rows_of(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ids = import_array(py, ids, "ids")?;
        let rows = self.rows(py, &ids, "ids")?;
        index_array(py, &rows)
    }

    /// Per-member sums of each int64 column of `values`, matching rows by `ids` (volume rows to period
    /// totals in one call): unknown or null ids raise InputError listing them.
    fn sum_by_member(&self, py: Python<'_>, ids: &Bound<'_, PyAny>, values: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Py<PyAny>>> {
        let ids = import_array(py, ids, "member_id")?;
        let rows = self.rows(py, &ids, "member_id")?;
        if ids.null_count() > 0 {
            let nulls: Vec<usize> = (0..ids.len()).filter(|&i| ids.is_null(i)).take(10).collect();
            return Err(input_error(py, format!("{} row(s) have no member_id, first at rows {nulls:?}", ids.null_count())));
        }
        let arrays: Vec<ArrayRef> = values.iter().map(|v| import_array(py, v, "values")).collect::<PyResult<_>>()?;
        let slices: Vec<&[i64]> = arrays.iter().map(|a| int64_values(py, a, "values")).collect::<PyResult<_>>()?;
        let n = self.inner.len();
        let sums = run_detached(py, || mlm_kernel::rollup::sum_columns_by_row(&rows, &slices, n))?;
        sums.into_iter().map(|s| int64_array(py, s)).collect()
    }

    /// 0 for a root, 1 for L, 2 for R.
    fn leg_codes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(UInt8Array::from(self.inner.leg().to_vec()).into_data().to_pyarrow(py)?.unbind())
    }

    fn rows_topological(&self, py: Python<'_>, tree: &str) -> PyResult<bool> {
        Ok(self.inner.tree(tree_arg(py, tree)?).rows_topological())
    }
}

/// Per tree, each member's nearest ancestor-or-self row marked in `seed` (-1 for none), on any member
/// table, whole or not: `(sponsor_cause, placement_cause)` as int64 arrays.
#[pyfunction]
pub fn downline_causes(
    py: Python<'_>,
    member_id: &Bound<'_, PyAny>,
    sponsor_id: &Bound<'_, PyAny>,
    placement_id: &Bound<'_, PyAny>,
    seed: &Bound<'_, PyAny>,
) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let arrays = [
        import_array(py, member_id, "member_id")?,
        import_array(py, sponsor_id, "sponsor_id")?,
        import_array(py, placement_id, "placement_id")?,
    ];
    let seed_array = import_array(py, seed, "seed")?;
    if seed_array.data_type() != &DataType::Boolean || seed_array.null_count() > 0 {
        return Err(input_error(py, "seed must be a boolean array without nulls"));
    }
    let seeds: Vec<bool> = seed_array.as_boolean().values().iter().collect();
    let m = id_column(py, &arrays[0], "member_id")?;
    let s = id_column(py, &arrays[1], "sponsor_id")?;
    let p = id_column(py, &arrays[2], "placement_id")?;
    let outcome = run_detached(py, || match (&m, &s, &p) {
        (IdColumn::Int(m), IdColumn::Int(s), IdColumn::Int(p)) => downline(m, s, p, &seeds).map(Some),
        (IdColumn::Str(m), IdColumn::Str(s), IdColumn::Str(p)) => downline(m, s, p, &seeds).map(Some),
        (IdColumn::LargeStr(m), IdColumn::LargeStr(s), IdColumn::LargeStr(p)) => downline(m, s, p, &seeds).map(Some),
        _ => Ok(None),
    })?;
    let Some((sponsor, placement)) = outcome else {
        return Err(input_error(py, "member_id, sponsor_id and placement_id must have one type"));
    };
    Ok((int64_array(py, sponsor)?, int64_array(py, placement)?))
}
