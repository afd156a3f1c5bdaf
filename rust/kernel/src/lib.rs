//! Pure-Rust kernels of `mlm_core`.
//!
//! Nothing here knows Python or Arrow: functions take slices (and the small borrowed column views of
//! [`keys`]) and return owned vectors or a [`KernelError`]. No function recurses on tree depth; a
//! 10M-deep chain is valid input.

// An eager `ok_or(format!(…))` on a hot path allocates per element: lazy forms only.
#![warn(clippy::or_fun_call)]

pub mod engine;
pub mod error;
pub mod genealogy;
pub mod ingest;
mod id_index;
pub mod keys;
pub mod reconcile;
pub mod ledger;
pub mod live;
pub mod rng;
pub mod rollup;
pub mod synth;

pub use error::{Code, Finding, KernelError, Severity};
pub use genealogy::{build_genealogy, validate_genealogy, BuildOptions, Genealogy, Leg, Tree, NONE, UNKNOWN_ROW};
pub use keys::{IntKeys, KeyColumn, StrKeys, Validity};
pub use rollup::RollupOp;
