//! `mlm_core._mlm_core`: the thin PyO3 layer over `mlm_kernel`. Each function extracts its Arrow inputs
//! first, runs the kernel with the GIL released (`py.detach`), and hands Arrow results back to pyarrow.
use pyo3::prelude::*;

mod arrow_in;
mod errors;
mod genealogy;
mod synth;

#[pymodule]
fn _mlm_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_MEMBERS", mlm_kernel::genealogy::MAX_MEMBERS)?;
    m.add_class::<genealogy::GenealogyCore>()?;
    m.add_function(wrap_pyfunction!(genealogy::build_genealogy, m)?)?;
    m.add_function(wrap_pyfunction!(genealogy::validate_genealogy, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_sponsors, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_placement, m)?)?;
    Ok(())
}
