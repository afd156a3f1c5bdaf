//! `mlm_core._mlm_core`: the thin PyO3 layer over `mlm_kernel`. Each function extracts its Arrow inputs
//! first, runs the kernel with the GIL released (`py.detach`), and hands Arrow results back to pyarrow.
use pyo3::prelude::*;

mod arrow_in;
mod engine;
mod errors;
mod genealogy;
mod huge_pages;
mod ingest;
mod ledger;
mod live;
mod reconcile;
mod synth;

#[global_allocator]
static ALLOCATOR: huge_pages::HugePages = huge_pages::HugePages;

/// Panics inside `run_detached`, for the test that proves a kernel panic reaches Python as
/// `mlm_core.errors.InternalError` rather than unwinding across the FFI boundary.
#[pyfunction]
fn panic_guard_selftest(py: Python<'_>) -> PyResult<()> {
    errors::run_detached(py, || -> Result<(), mlm_kernel::KernelError> { panic!("panic guard self-test") })
}

#[pymodule]
fn _mlm_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_MEMBERS", mlm_kernel::genealogy::MAX_MEMBERS)?;
    m.add_class::<genealogy::GenealogyCore>()?;
    m.add_class::<engine::PlanCore>()?;
    m.add_class::<live::LiveCore>()?;
    m.add_function(wrap_pyfunction!(engine::run_period, m)?)?;
    m.add_function(wrap_pyfunction!(engine::explain_level, m)?)?;
    m.add_function(wrap_pyfunction!(genealogy::build_genealogy, m)?)?;
    m.add_function(wrap_pyfunction!(genealogy::validate_genealogy, m)?)?;
    m.add_function(wrap_pyfunction!(genealogy::downline_causes, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_sponsors, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_placement, m)?)?;
    m.add_function(wrap_pyfunction!(ledger::ledger_seal, m)?)?;
    m.add_function(wrap_pyfunction!(ledger::ledger_verify, m)?)?;
    m.add_function(wrap_pyfunction!(ledger::ledger_merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::read_csv, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::parse_decimal, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::parse_timestamps, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile::reconcile_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(panic_guard_selftest, m)?)?;
    Ok(())
}
