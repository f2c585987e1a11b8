//! The labeled set built from the corpus itself: every page whose front matter has a
//! `description` gives one query (the description) answered by that page.
//!
//! Front matter is not indexed (ingestion drops it), so the description's words are not in
//! the store: the query has to be found by meaning, as a user's question would. The set is
//! deterministic: pages in path order (byte order of the `/`-separated path relative to the
//! corpus root), each page at most once; pages without front matter, without a
//! `description`, or with an empty one are skipped.
//!
//! The front matter is read as the YAML subset documentation sites write: a top-level
//! `description:` key with a plain, single- or double-quoted value, or a `|` / `>` block
//! scalar; a value over several lines is joined with single spaces (a query's line breaks do
//! not matter). Nothing else of YAML is needed here, so no YAML parser is.

use std::collections::BTreeSet;
use std::path::Path;

use super::EvalError;
use super::labels::{LabeledQuery, LabeledSet};
use crate::stack::corpus;

/// The set's name in summaries and scenarios.
pub const SET_NAME: &str = "descriptions";

/// The description set of the corpus under `root`.
pub fn build(root: &Path) -> Result<LabeledSet, EvalError> {
    let mut pages: Vec<(String, String)> = Vec::new();
    for file in corpus::markdown_files(root)? {
        let text = std::fs::read_to_string(&file).map_err(|source| EvalError::Read {
            path: file.clone(),
            source,
        })?;
        let rel = file.strip_prefix(root).unwrap_or(&file);
        let page = super::labels::normalize_page(&rel.to_string_lossy());
        if let Some(description) = description(&text) {
            pages.push((page, description));
        }
    }
    pages.sort();
    Ok(LabeledSet {
        name: SET_NAME.into(),
        origin: format!(
            "front-matter descriptions of the pages under {}",
            root.display()
        ),
        queries: pages
            .into_iter()
            .map(|(page, text)| LabeledQuery {
                id: page.clone(),
                text,
                relevant: BTreeSet::from([page]),
            })
            .collect(),
    })
}

/// A document's front-matter `description`, if it has a non-empty one.
pub fn description(source: &str) -> Option<String> {
    let (front, _) = ragbench_server::ingest::markdown::front_matter(source)?;
    let mut lines = front.lines();
    let first = lines.find_map(|l| l.strip_prefix("description:"))?.trim();
    // Lines indented under the key continue its value; the next top-level key ends it.
    let more: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.starts_with([' ', '\t']))
        .map(str::trim)
        .collect();
    let value = if is_block_indicator(first) {
        join(more.iter().copied())
    } else if let Some(quoted) = first.strip_prefix('"') {
        let text = join(std::iter::once(quoted).chain(more.iter().copied()));
        unescape_double(text.strip_suffix('"').unwrap_or(&text))
    } else if let Some(quoted) = first.strip_prefix('\'') {
        let text = join(std::iter::once(quoted).chain(more.iter().copied()));
        text.strip_suffix('\'').unwrap_or(&text).replace("''", "'")
    } else {
        let plain = join(std::iter::once(first).chain(more.iter().copied()));
        match plain.find(" #") {
            Some(comment) => plain[..comment].trim_end().to_string(),
            None => plain,
        }
    };
    Some(value).filter(|v| !v.is_empty())
}

/// `|`, `>`, with an optional chomping indicator or indentation digit (`|-`, `>+`, `|2`).
fn is_block_indicator(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some('|' | '>'))
        && chars.all(|c| c == '-' || c == '+' || c.is_ascii_digit())
}

/// Non-empty pieces joined with single spaces.
fn join<'a>(pieces: impl Iterator<Item = &'a str>) -> String {
    pieces
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The escapes a description uses in double quotes: `\"`, `\\`, `\n`, `\t`.
fn unescape_double(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 't') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(front: &str) -> String {
        format!("---\n{front}---\n\n# Body\n\ndescription: not front matter\n")
    }

    #[test]
    fn plain_and_quoted_values() {
        assert_eq!(
            description(&page("title: T\ndescription: Speed up startup\n")).as_deref(),
            Some("Speed up startup")
        );
        assert_eq!(
            description(&page("description: \"Run \\\"bun x\\\" \\\\ fast\"\n")).as_deref(),
            Some("Run \"bun x\" \\ fast")
        );
        assert_eq!(
            description(&page("description: 'Bun''s cache'\n")).as_deref(),
            Some("Bun's cache")
        );
        assert_eq!(
            description(&page("description: Trailing comment # not this\n")).as_deref(),
            Some("Trailing comment")
        );
        assert_eq!(
            description("---\r\ntitle: T\r\ndescription: Windows lines\r\n---\r\nbody").as_deref(),
            Some("Windows lines")
        );
    }

    #[test]
    fn values_over_several_lines_are_joined() {
        assert_eq!(
            description(&page(
                "description: |\n  First line\n  second line\ntitle: T\n"
            ))
            .as_deref(),
            Some("First line second line")
        );
        assert_eq!(
            description(&page("description: >-\n  Folded\n\n  text\n")).as_deref(),
            Some("Folded text")
        );
        assert_eq!(
            description(&page("description: A plain\n  continuation\ntitle: T\n")).as_deref(),
            Some("A plain continuation")
        );
    }

    #[test]
    fn pages_without_a_description_give_none() {
        // No front matter: a `description:` line in the body is text.
        assert_eq!(description("# Title\n\ndescription: body text\n"), None);
        // Unterminated front matter is text too.
        assert_eq!(description("---\ndescription: never closed\n"), None);
        // Empty, blank, or an empty block.
        assert_eq!(description(&page("title: T\ndescription:\n")), None);
        assert_eq!(description(&page("description: \"\"\n")), None);
        assert_eq!(description(&page("description: |\ntitle: T\n")), None);
        // Another key that starts the same, or a nested one, is not the description.
        assert_eq!(description(&page("descriptions: many\n")), None);
        assert_eq!(description(&page("seo:\n  description: nested\n")), None);
    }

    #[test]
    fn the_set_is_in_path_order_and_skips_pages_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("b/z.mdx", &page("description: Zed\n"));
        write("a.md", &page("description: Alpha\n"));
        write("b/a.mdx", "# No front matter\n");
        write("b/m.md", &page("title: Only a title\n"));
        write("b-c.md", &page("description: Dash\n"));
        write("notes.txt", &page("description: Not markdown\n"));
        let set = build(dir.path()).unwrap();
        let rows: Vec<(&str, &str)> = set
            .queries
            .iter()
            .map(|q| (q.id.as_str(), q.text.as_str()))
            .collect();
        assert_eq!(
            rows,
            [("a.md", "Alpha"), ("b-c.md", "Dash"), ("b/z.mdx", "Zed")]
        );
        for q in &set.queries {
            assert_eq!(q.relevant, BTreeSet::from([q.id.clone()]));
        }
        assert_eq!(set.name, SET_NAME);
        // The same input gives the same set.
        assert_eq!(build(dir.path()).unwrap(), set);
    }
}
