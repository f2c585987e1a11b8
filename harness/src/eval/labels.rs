//! A labeled set: queries, each with the pages that answer it. The two sources of one
//! ([`super::descriptions`], [`super::beir`]) build this, and the scoring reads only this.

use std::collections::BTreeSet;

/// One query and the pages (paths relative to the corpus root, `/`-separated, as the server
/// stores them) that answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledQuery {
    /// The query's id: a page path (descriptions) or the set's own `_id` (BEIR).
    pub id: String,
    /// The text sent to `/v1/search`.
    pub text: String,
    /// The relevant pages; never empty.
    pub relevant: BTreeSet<String>,
}

/// A named, ordered list of labeled queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledSet {
    /// `descriptions`, or `beir`.
    pub name: String,
    /// Where it came from, for the report (a folder, or the rule that built it).
    pub origin: String,
    /// The queries, in a deterministic order.
    pub queries: Vec<LabeledQuery>,
}

/// A page path as the server stores it: `/`-separated, without a leading `./` or `/`.
pub fn normalize_page(path: &str) -> String {
    let path = path.trim().replace('\\', "/");
    let mut rest = path.as_str();
    loop {
        let next = rest.trim_start_matches('/');
        let next = next.strip_prefix("./").unwrap_or(next);
        if next == rest {
            break;
        }
        rest = next;
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_normalized_to_the_stored_form() {
        assert_eq!(normalize_page("./guides/a.mdx"), "guides/a.mdx");
        assert_eq!(normalize_page("/guides/a.mdx"), "guides/a.mdx");
        assert_eq!(normalize_page(" .//guides\\a.mdx "), "guides/a.mdx");
        assert_eq!(normalize_page("index.md"), "index.md");
    }
}
