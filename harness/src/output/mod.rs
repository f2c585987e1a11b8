//! What a run leaves behind, all views of one [`Summary`](crate::summary::Summary): the
//! console table ([`console`]), `junit.xml` ([`junit`]) and `report.html` ([`report`]); and
//! what is made from finished runs: [`merge`] (runs made at once from several machines) and
//! [`compare`] (runs side by side).

pub mod compare;
pub mod console;
pub mod junit;
pub mod merge;
pub mod report;
