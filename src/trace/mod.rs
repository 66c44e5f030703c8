//! Records → spans: trace context, deterministic ids, times and invariants, span shape.

pub mod build;
pub mod carrier;
pub mod context;
pub(crate) mod ids;
pub mod metrics;
pub(crate) mod semconv;
pub(crate) mod timeline;

use context::{ContextError, ContextOrigin};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid trace context in {0}: {1}")]
    Context(ContextOrigin, ContextError),
    // The run id is in every caller's prefix (`<system> run <id>: `), so not repeated here.
    #[error("no timestamps recorded anywhere, nothing to place spans on")]
    NoTimes { run_id: String },
    #[error("a time lies before 1970, which OTLP cannot carry")]
    BeforeEpoch { run_id: String },
    #[error("step {step:?} names parent {parent:?}, which is not in the run")]
    UnknownParent { step: String, parent: String },
    #[error("step {step:?} is its own ancestor")]
    ParentCycle { step: String },
    #[error("step {step:?} attempt {attempt} appears twice in the run")]
    DuplicateStep { step: String, attempt: u32 },
}
