//! Kernels of the migration pipeline: a strict CSV reader that keeps every record it cannot read (with its
//! line and raw bytes) and an exact decimal-text parser into integer minor units.
pub mod csv;
pub mod decimal;
pub mod timestamp;
