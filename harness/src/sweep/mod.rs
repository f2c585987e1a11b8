//! `harness sweep`: how much traffic one machine takes, beside how fast it answers.
//!
//! One load level says how a server behaves at that level; a user sizing a deployment needs
//! the highest rate at which it still meets its latency thresholds. The sweep brings the
//! stack up once and runs short open-loop steps at rising offered rates (the run's own open
//! loop and recorder), searching in the manner of MLPerf LoadGen's FindPeakPerformance: a
//! coarse ramp until a step fails, then a bisection to a set precision. Each step is judged
//! by the scenario's latency and error-rate upper bounds and by whether it achieved the
//! offered rate; a step the instrument could not offer is reported as the instrument's.
//!
//! - [`settings`]: `[sweep]` and the flags, onto the defaults.
//! - [`search`]: which rate next (a state machine, tested without a server).
//! - [`judge`]: whether a step passed, and whose doing a miss was.
//! - [`record`]: a step as `summary.json` keeps it, and its console line.
//! - `driver`: the stack up, one step after the other, the knee's summary written.

mod driver;
pub mod judge;
pub mod record;
pub mod search;
pub mod settings;

pub use driver::sweep;
pub use settings::{SettingError, SweepSection, SweepSettings};
