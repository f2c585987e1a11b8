//! Retrieval quality beside latency: a faster index that finds the wrong pages is not
//! better, so a run can measure what its searches find, on the server it measures.
//!
//! For each labeled set ([`descriptions`]: built from the corpus; [`beir`]: a user's), every
//! query is searched through the HNSW index and exactly (`"exact": true`, every vector
//! compared), and scored over pages ([`metrics`]): recall@1/5/10 and MRR@10 for each method,
//! the index's agreement with exact search, and the client-side latency of the same searches.
//! [`record`] is what `summary.json` keeps, with the [`settings`] in effect.
//!
//! Each search asks for [`search::MAX_CANDIDATES`] passages, so 10 distinct pages can be
//! counted when one page has several passages near the top. The index searches with a beam of
//! `max(ef, limit)`, and its default ef is `[store] hnsw_ef_construct` (100), so asking for 50
//! instead of 10 does not widen the default beam: the index is measured as users get it.

pub mod beir;
pub mod descriptions;
pub mod labels;
pub mod metrics;
pub mod record;
pub mod search;
pub mod settings;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::load::client::ClientError;
use crate::measure::histogram::{latency_stats, new_histogram, record as record_us};
use crate::output::console;
use labels::LabeledSet;
use metrics::QueryScores;
pub use record::{EvalSettings, EvalSummary, MethodResult, SetResult};
use search::{Answer, Method, Searcher};

/// Why the evaluation could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file of a labeled set (or the corpus) could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A labeled set is malformed.
    #[error("{}: {message}", location(path, *line))]
    Labels {
        /// The file (or folder).
        path: PathBuf,
        /// 1-based line, when the problem is on one.
        line: Option<usize>,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The corpus could not be listed.
    #[error(transparent)]
    Corpus(#[from] crate::stack::corpus::CorpusError),
    /// A search failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The corpus has no page with a description and no other set was given.
    #[error(
        "nothing to evaluate: no page under {0} has a front-matter `description` (give a set \
         in the BEIR layout with --beir DIR, or [eval] beir = \"DIR\")"
    )]
    NoQueries(PathBuf),
}

fn location(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    }
}

/// What to evaluate: a scenario's `[eval]`, or `harness eval`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPlan {
    /// Build the [`descriptions`] set from the corpus.
    pub descriptions: bool,
    /// A set in the BEIR layout in this folder.
    pub beir: Option<PathBuf>,
}

impl Default for EvalPlan {
    fn default() -> Self {
        EvalPlan {
            descriptions: true,
            beir: None,
        }
    }
}

/// Reads the user's labeled set `plan` names, if any, so a malformed one stops a run before
/// its stack starts.
pub fn check(plan: &EvalPlan) -> Result<(), EvalError> {
    match &plan.beir {
        Some(dir) => beir::load(dir).map(|_| ()),
        None => Ok(()),
    }
}

/// The labeled sets `plan` names; `corpus` is the folder the server ingested.
pub fn labeled_sets(plan: &EvalPlan, corpus: &Path) -> Result<Vec<LabeledSet>, EvalError> {
    let mut sets = Vec::new();
    if plan.descriptions {
        let set = descriptions::build(corpus)?;
        if !set.queries.is_empty() {
            sets.push(set);
        } else if plan.beir.is_none() {
            return Err(EvalError::NoQueries(corpus.to_path_buf()));
        }
    }
    if let Some(dir) = &plan.beir {
        sets.push(beir::load(dir)?);
    }
    Ok(sets)
}

/// Searches every query of every set with both methods, one search at a time (the latency
/// of a search alone, not under load), and scores them.
pub async fn evaluate(
    searcher: &Searcher,
    sets: &[LabeledSet],
    settings: EvalSettings,
) -> Result<EvalSummary, EvalError> {
    let started = Instant::now();
    // One unmeasured search per method first: the connection and the server's first-use
    // costs are not a query's.
    for method in [Method::Hnsw, Method::Exact] {
        searcher.search("harness eval warm-up", method).await?;
    }
    let mut results = Vec::new();
    for set in sets {
        results.push(evaluate_set(searcher, set).await?);
    }
    Ok(EvalSummary {
        settings,
        candidates: searcher.candidates(),
        sets: results,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// One method's running figures over a set.
struct Tally {
    scores: Vec<QueryScores>,
    latency: Histogram<u64>,
    cached: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            scores: Vec::new(),
            latency: new_histogram(),
            cached: 0,
        }
    }

    fn add(&mut self, answer: &Answer, relevant: &std::collections::BTreeSet<String>) {
        self.scores.push(QueryScores::of(
            answer.paths.iter().map(String::as_str),
            relevant,
        ));
        if answer.cached {
            self.cached += 1;
        } else {
            record_us(&mut self.latency, answer.elapsed.as_micros() as u64);
        }
    }

    fn result(&self) -> MethodResult {
        let mean = metrics::mean(&self.scores);
        MethodResult {
            recall_at_1: mean.recall_at_1,
            recall_at_5: mean.recall_at_5,
            recall_at_10: mean.recall_at_10,
            mrr_at_10: mean.rr_at_10,
            latency: latency_stats(&self.latency),
            cached: self.cached,
        }
    }
}

async fn evaluate_set(searcher: &Searcher, set: &LabeledSet) -> Result<SetResult, EvalError> {
    let spin = console::spinner(format!(
        "eval: {} queries of the {} set, HNSW and exact",
        set.queries.len(),
        set.name
    ));
    let (mut hnsw, mut exact) = (Tally::new(), Tally::new());
    let mut agreement = Vec::with_capacity(set.queries.len());
    for (i, query) in set.queries.iter().enumerate() {
        let by_index = searcher.search(&query.text, Method::Hnsw).await?;
        let by_exact = searcher.search(&query.text, Method::Exact).await?;
        hnsw.add(&by_index, &query.relevant);
        exact.add(&by_exact, &query.relevant);
        agreement.push(metrics::agreement_at(&ids(&by_index), &ids(&by_exact), 10));
        spin.set_message(format!(
            "eval: {} of {} queries of the {} set",
            i + 1,
            set.queries.len(),
            set.name
        ));
    }
    spin.finish_and_clear();
    let n = agreement.len().max(1) as f64;
    Ok(SetResult {
        name: set.name.clone(),
        origin: set.origin.clone(),
        queries: set.queries.len(),
        hnsw: hnsw.result(),
        exact: exact.result(),
        hnsw_vs_exact_at_10: agreement.iter().sum::<f64>() / n,
    })
}

/// An answer's passage ids, best first.
fn ids(answer: &Answer) -> Vec<&str> {
    answer.ids.iter().map(String::as_str).collect()
}
