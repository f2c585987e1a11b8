//! The workload: which endpoint each request goes to, with which question and which token.
//! Shared by the closed-loop (goose) and open-loop generators so both send the same mix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use serde_json::json;

use crate::scenario::{Mix, Scenario};

/// An endpoint of the server the load can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /v1/search`.
    Search,
    /// `POST /v1/query`.
    Query,
    /// `GET /health`.
    Health,
}

impl Endpoint {
    /// All endpoints, in index order.
    pub const ALL: [Endpoint; 3] = [Endpoint::Search, Endpoint::Query, Endpoint::Health];

    /// Short name used in summaries and threshold rules.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Search => "search",
            Endpoint::Query => "query",
            Endpoint::Health => "health",
        }
    }

    /// Index into per-endpoint arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Search => "/v1/search",
            Endpoint::Query => "/v1/query",
            Endpoint::Health => "/health",
        }
    }

    /// Whether the request is a POST with a JSON body (else a GET).
    pub fn is_post(self) -> bool {
        !matches!(self, Endpoint::Health)
    }

    /// Whether the endpoint checks the JWT (only those get bad tokens).
    pub fn authenticated(self) -> bool {
        !matches!(self, Endpoint::Health)
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub endpoint: Endpoint,
    /// JSON body for POSTs.
    pub body: Option<Vec<u8>>,
    /// Sent with a bad token on purpose (a 401 is the expected answer).
    pub bad_token: bool,
}

/// Picks requests according to a scenario's mix.
#[derive(Debug)]
pub struct Workload {
    mix: Mix,
    questions: Arc<Vec<String>>,
    query_questions: usize,
    top_k: Option<u32>,
    fresh_share: f64,
    bad_token_share: f64,
    fresh_counter: AtomicU64,
}

impl Workload {
    /// Builds the workload of a scenario.
    pub fn new(scenario: &Scenario) -> Workload {
        Workload {
            mix: scenario.mix,
            questions: Arc::new(scenario.questions.clone()),
            query_questions: scenario.query_questions,
            top_k: scenario.top_k,
            fresh_share: scenario.fresh_share,
            bad_token_share: scenario.bad_token_share,
            fresh_counter: AtomicU64::new(0),
        }
    }

    /// Endpoints with a weight above zero.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .filter(|e| self.weight(*e) > 0)
            .collect()
    }

    fn weight(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Search => self.mix.search,
            Endpoint::Query => self.mix.query,
            Endpoint::Health => self.mix.health,
        }
    }

    /// Picks the next request.
    pub fn next(&self, rng: &mut impl Rng) -> RequestPlan {
        let total = self.mix.search + self.mix.query + self.mix.health;
        let mut pick = rng.random_range(0..total);
        let mut endpoint = Endpoint::Search;
        for e in Endpoint::ALL {
            let w = self.weight(e);
            if pick < w {
                endpoint = e;
                break;
            }
            pick -= w;
        }
        let bad_token = endpoint.authenticated()
            && self.bad_token_share > 0.0
            && rng.random_bool(self.bad_token_share);
        let body = match endpoint {
            Endpoint::Search => {
                let q = &self.questions[rng.random_range(0..self.questions.len())];
                let query = if self.fresh_share > 0.0 && rng.random_bool(self.fresh_share) {
                    let n = self.fresh_counter.fetch_add(1, Ordering::Relaxed);
                    format!("{q} (variant {n})")
                } else {
                    q.clone()
                };
                Some(self.search_body(&query))
            }
            Endpoint::Query => {
                let q = &self.questions[rng.random_range(0..self.query_questions)];
                Some(query_body(q))
            }
            Endpoint::Health => None,
        };
        RequestPlan {
            endpoint,
            body,
            bad_token,
        }
    }

    fn search_body(&self, query: &str) -> Vec<u8> {
        let v = match self.top_k {
            Some(k) => json!({ "query": query, "top_k": k }),
            None => json!({ "query": query }),
        };
        serde_json::to_vec(&v).expect("a JSON value serializes")
    }

    /// The requests that prime the cache: every question once per weighted cacheable endpoint.
    pub fn priming_plans(&self) -> Vec<RequestPlan> {
        let mut plans = Vec::new();
        if self.mix.search > 0 {
            for q in self.questions.iter() {
                plans.push(RequestPlan {
                    endpoint: Endpoint::Search,
                    body: Some(self.search_body(q)),
                    bad_token: false,
                });
            }
        }
        if self.mix.query > 0 {
            for q in self.questions.iter().take(self.query_questions) {
                plans.push(RequestPlan {
                    endpoint: Endpoint::Query,
                    body: Some(query_body(q)),
                    bad_token: false,
                });
            }
        }
        plans
    }
}

fn query_body(question: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "question": question })).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(mix: Mix, bad: f64) -> Workload {
        Workload {
            mix,
            questions: Arc::new(vec!["a".into(), "b".into(), "c".into()]),
            query_questions: 1,
            top_k: None,
            fresh_share: 0.0,
            bad_token_share: bad,
            fresh_counter: AtomicU64::new(0),
        }
    }

    #[test]
    fn mix_is_respected() {
        let w = workload(
            Mix {
                search: 3,
                query: 0,
                health: 1,
            },
            0.0,
        );
        let mut rng = rand::rng();
        let mut counts = [0u32; 3];
        for _ in 0..4000 {
            counts[w.next(&mut rng).endpoint.index()] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[0] > counts[2] * 2, "{counts:?}");
        assert_eq!(w.endpoints(), vec![Endpoint::Search, Endpoint::Health]);
    }

    #[test]
    fn health_never_gets_bad_tokens() {
        let w = workload(
            Mix {
                search: 0,
                query: 0,
                health: 1,
            },
            1.0,
        );
        let mut rng = rand::rng();
        assert!(!w.next(&mut rng).bad_token);
    }

    #[test]
    fn query_uses_its_subset() {
        let w = workload(
            Mix {
                search: 0,
                query: 1,
                health: 0,
            },
            0.0,
        );
        let mut rng = rand::rng();
        for _ in 0..50 {
            let body = String::from_utf8(w.next(&mut rng).body.unwrap()).unwrap();
            assert_eq!(body, r#"{"question":"a"}"#);
        }
        assert_eq!(w.priming_plans().len(), 1);
    }
}
