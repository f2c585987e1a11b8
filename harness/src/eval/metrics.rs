//! The scores, over pages: a search answers with passages, several of them from one page, and
//! a user is helped by the page, so passages of one page count once, at the rank of the first
//! (dedupe by `path`, keeping rank order). The agreement of the index with exact search is
//! the other way round, over passages: both searched the same vectors.

use std::collections::{BTreeSet, HashSet};

/// The pages of ranked passages, each once, in the rank order of its first passage.
pub fn pages<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    paths.into_iter().filter(|p| seen.insert(*p)).collect()
}

/// The share of the relevant pages among the first `k` ranked pages (0 without relevant ones).
pub fn recall_at(ranked: &[&str], relevant: &BTreeSet<String>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|p| relevant.contains(**p))
        .count();
    found as f64 / relevant.len() as f64
}

/// 1 / the rank of the first relevant page within the first `k`, or 0.
pub fn reciprocal_rank(ranked: &[&str], relevant: &BTreeSet<String>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|p| relevant.contains(*p))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Recall@k of the index against exact search: the share of exact search's first `k`
/// passages that the index's first `k` also hold (1 when exact search found nothing).
pub fn agreement_at(index_ids: &[&str], exact_ids: &[&str], k: usize) -> f64 {
    let truth: HashSet<&str> = exact_ids.iter().take(k).copied().collect();
    if truth.is_empty() {
        return 1.0;
    }
    let found = index_ids
        .iter()
        .take(k)
        .filter(|id| truth.contains(**id))
        .count();
    found as f64 / truth.len() as f64
}

/// One query's scores against its relevant pages.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryScores {
    /// Recall@1 over pages.
    pub recall_at_1: f64,
    /// Recall@5 over pages.
    pub recall_at_5: f64,
    /// Recall@10 over pages.
    pub recall_at_10: f64,
    /// Reciprocal rank of the first relevant page within 10.
    pub rr_at_10: f64,
}

impl QueryScores {
    /// The scores of a ranking of passages' page `paths` for `relevant` pages.
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a str>, relevant: &BTreeSet<String>) -> Self {
        let ranked = pages(paths);
        QueryScores {
            recall_at_1: recall_at(&ranked, relevant, 1),
            recall_at_5: recall_at(&ranked, relevant, 5),
            recall_at_10: recall_at(&ranked, relevant, 10),
            rr_at_10: reciprocal_rank(&ranked, relevant, 10),
        }
    }
}

/// The mean of each score over queries (all 0 for none): recall@k and MRR@10.
pub fn mean(scores: &[QueryScores]) -> QueryScores {
    if scores.is_empty() {
        return QueryScores::default();
    }
    let n = scores.len() as f64;
    let sum = |f: fn(&QueryScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
    QueryScores {
        recall_at_1: sum(|s| s.recall_at_1),
        recall_at_5: sum(|s| s.recall_at_5),
        recall_at_10: sum(|s| s.recall_at_10),
        rr_at_10: sum(|s| s.rr_at_10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pages: &[&str]) -> BTreeSet<String> {
        pages.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn passages_of_one_page_count_once_at_their_first_rank() {
        assert_eq!(
            pages(["a", "b", "a", "c", "b", "d"]),
            vec!["a", "b", "c", "d"]
        );
        assert!(pages([]).is_empty());
    }

    #[test]
    fn recall_and_reciprocal_rank_by_hand() {
        // Passages a a b c a d e f g h i j k: pages a b c d e f g h i j k.
        let passages = [
            "a", "a", "b", "c", "a", "d", "e", "f", "g", "h", "i", "j", "k",
        ];
        let ranked = pages(passages);
        // One relevant page: `c`, the 3rd page (4th passage).
        let c = set(&["c"]);
        assert_eq!(recall_at(&ranked, &c, 1), 0.0);
        assert_eq!(recall_at(&ranked, &c, 5), 1.0);
        assert_eq!(reciprocal_rank(&ranked, &c, 10), 1.0 / 3.0);
        // Two relevant pages, one at rank 2, one at rank 11 (outside the first 10 pages).
        let bk = set(&["b", "k"]);
        assert_eq!(recall_at(&ranked, &bk, 1), 0.0);
        assert_eq!(recall_at(&ranked, &bk, 5), 0.5);
        assert_eq!(recall_at(&ranked, &bk, 10), 0.5);
        assert_eq!(recall_at(&ranked, &bk, 11), 1.0);
        assert_eq!(reciprocal_rank(&ranked, &bk, 10), 0.5);
        // Only beyond rank 10: no reciprocal rank.
        assert_eq!(reciprocal_rank(&ranked, &set(&["k"]), 10), 0.0);
        assert_eq!(recall_at(&ranked, &set(&[]), 10), 0.0);
    }

    #[test]
    fn the_mean_of_hand_computed_queries() {
        let q1 = QueryScores::of(["x", "x", "y"], &set(&["x"]));
        let q2 = QueryScores::of(["y", "z", "x"], &set(&["x"]));
        let q3 = QueryScores::of(["y", "z"], &set(&["x"]));
        assert_eq!(
            q1,
            QueryScores {
                recall_at_1: 1.0,
                recall_at_5: 1.0,
                recall_at_10: 1.0,
                rr_at_10: 1.0
            }
        );
        assert_eq!(q2.rr_at_10, 1.0 / 3.0);
        let m = mean(&[q1, q2, q3]);
        assert!((m.recall_at_1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.recall_at_5 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall_at_10 - 2.0 / 3.0).abs() < 1e-12);
        // MRR@10 = (1 + 1/3 + 0) / 3 = 4/9.
        assert!((m.rr_at_10 - 4.0 / 9.0).abs() < 1e-12);
        assert_eq!(mean(&[]), QueryScores::default());
    }

    #[test]
    fn agreement_counts_passages_not_pages() {
        let exact = ["p1", "p2", "p3", "p4"];
        assert_eq!(agreement_at(&["p2", "p1", "p4", "p3"], &exact, 4), 1.0);
        assert_eq!(agreement_at(&["p1", "p2", "p3", "p9"], &exact, 4), 0.75);
        // Only the first k of each count.
        assert_eq!(agreement_at(&["p9", "p1", "p2"], &exact, 2), 0.5);
        assert_eq!(agreement_at(&["p1"], &[], 10), 1.0);
    }
}
