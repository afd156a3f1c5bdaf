//! One error type for every kernel, and the findings a genealogy validation reports.
use std::fmt;

/// What a finding means for the build: errors stop `build_genealogy`, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// The validation codes of the genealogy report (issue 2). Their `as_str` names are the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    MissingId,
    DuplicateId,
    SelfReference,
    OrphanSponsor,
    OrphanPlacement,
    BadLeg,
    SlotTaken,
    MultipleRoots,
    NoRoot,
    Cycle,
    PlacementOutsideSponsorLine,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::MissingId,
        Code::DuplicateId,
        Code::SelfReference,
        Code::OrphanSponsor,
        Code::OrphanPlacement,
        Code::BadLeg,
        Code::SlotTaken,
        Code::MultipleRoots,
        Code::NoRoot,
        Code::Cycle,
        Code::PlacementOutsideSponsorLine,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingId => "missing_id",
            Code::DuplicateId => "duplicate_id",
            Code::SelfReference => "self_reference",
            Code::OrphanSponsor => "orphan_sponsor",
            Code::OrphanPlacement => "orphan_placement",
            Code::BadLeg => "bad_leg",
            Code::SlotTaken => "slot_taken",
            Code::MultipleRoots => "multiple_roots",
            Code::NoRoot => "no_root",
            Code::Cycle => "cycle",
            Code::PlacementOutsideSponsorLine => "placement_outside_sponsor_line",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::PlacementOutsideSponsorLine => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One line of a validation report: the input row it concerns (`None` for a finding about the table as
/// a whole), its code, and a sentence naming the member ids involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub row: Option<usize>,
    pub code: Code,
    pub detail: String,
}

impl Finding {
    pub fn new(row: usize, code: Code, detail: String) -> Self {
        Finding { row: Some(row), code, detail }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// The genealogy has fatal findings; all findings (warnings included) are carried.
    Genealogy { findings: Vec<Finding> },
    /// Input of the wrong shape: lengths that differ, a null where none is allowed, an out-of-range index.
    InvalidInput { message: String },
    /// Ids that are no member (volume rows, state, attributes): nothing is ignored.
    UnknownIds { message: String, rows: Vec<usize> },
    /// A plan that cannot run (checked again in the kernel; plans are validated when loaded).
    Plan { message: String },
    /// A ledger row breaks a rule of `ledger-hashing.md` (field rules, a repeated tx_id); `row` is its row.
    Ledger { message: String, row: Option<usize> },
    /// A sum left the int64 range; `context` names what, `row` the member row where it happened.
    Overflow { context: String, row: Option<usize> },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Genealogy { findings } => {
                let errors = findings.iter().filter(|x| x.code.severity() == Severity::Error).count();
                write!(f, "genealogy has {errors} fatal problem(s)")?;
                if let Some(first) = findings.iter().find(|x| x.code.severity() == Severity::Error) {
                    write!(f, "; first: {}: {}", first.code.as_str(), first.detail)?;
                }
                Ok(())
            }
            KernelError::InvalidInput { message } => f.write_str(message),
            KernelError::UnknownIds { message, .. } => f.write_str(message),
            KernelError::Plan { message } => f.write_str(message),
            KernelError::Ledger { message, .. } => f.write_str(message),
            KernelError::Overflow { context, row: Some(row) } => write!(f, "int64 overflow: {context} at member row {row}"),
            KernelError::Overflow { context, row: None } => write!(f, "int64 overflow: {context}"),
        }
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;

pub(crate) fn invalid(message: impl Into<String>) -> KernelError {
    KernelError::InvalidInput { message: message.into() }
}
