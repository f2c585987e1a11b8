//! Markdown and MDX to plain sections: front matter, ESM lines, JSX tags and expressions
//! removed; text split at headings with the heading trail kept for each section.

use std::sync::LazyLock;

use regex::Regex;

/// A document reduced to its title and sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Front matter `title`, else the first `#` heading, else the file stem.
    pub title: String,
    /// Sections in order.
    pub sections: Vec<Section>,
}

/// Text under one heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Heading trail, e.g. `Install > Linux` (empty before the first heading).
    pub heading: String,
    /// Cleaned text of the section, code blocks included.
    pub text: String,
}

// JSX/HTML tags, possibly spanning lines (attributes), e.g. `<Note>`, `<Tab title="x">`, `</Tabs>`.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"</?[A-Za-z][\w.:-]*(?:\s+[^<>]*?)?/?>"#).expect("valid tag regex")
});
// JSX expressions that are comments: `{/* ... */}`.
static JSX_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{/\*.*?\*/\}").expect("valid comment regex"));
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(#{1,6})\s+(.+?)\s*#*\s*$").expect("valid heading regex"));

/// Parses a markdown/MDX file. `stem` names the document when it has no title.
pub fn parse(source: &str, stem: &str) -> Document {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let (front_title, body) = split_front_matter(source);
    let mut title = front_title;
    let mut sections = Vec::new();
    let mut trail: Vec<(usize, String)> = Vec::new();
    let mut current = String::new();
    let mut prose = String::new();
    let mut fence: Option<String> = None;

    let flush_section = |trail: &[(usize, String)], text: &mut String, out: &mut Vec<Section>| {
        let cleaned = collapse_blank_lines(text);
        if !cleaned.trim().is_empty() {
            out.push(Section {
                heading: trail
                    .iter()
                    .map(|(_, h)| h.as_str())
                    // A heading that cleans to nothing (`## <Badge />`) still ends a section
                    // but adds no empty step to the trail.
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<_>>()
                    .join(" > "),
                text: cleaned,
            });
        }
        text.clear();
    };

    for line in body.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            current.push_str(line);
            current.push('\n');
            if trimmed.starts_with(open.as_str()) && trimmed.trim_end() == open.as_str() {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            current.push_str(&clean_prose(&std::mem::take(&mut prose)));
            let marker: String = trimmed
                .chars()
                .take_while(|c| *c == '`' || *c == '~')
                .collect();
            fence = Some(marker);
            current.push_str(trimmed);
            current.push('\n');
            continue;
        }
        if let Some(caps) = HEADING.captures(trimmed) {
            current.push_str(&clean_prose(&std::mem::take(&mut prose)));
            flush_section(&trail, &mut current, &mut sections);
            let level = caps[1].len();
            let text = clean_inline(&caps[2]);
            if level == 1 && title.is_none() && !text.is_empty() {
                title = Some(text.clone());
            }
            while trail.last().is_some_and(|(l, _)| *l >= level) {
                trail.pop();
            }
            trail.push((level, text));
            continue;
        }
        if trimmed.starts_with("import ") || trimmed.starts_with("export ") {
            continue; // MDX module lines, not prose
        }
        prose.push_str(line);
        prose.push('\n');
    }
    current.push_str(&clean_prose(&prose));
    flush_section(&trail, &mut current, &mut sections);
    Document {
        title: title.unwrap_or_else(|| stem.to_string()),
        sections,
    }
}

/// The front matter block of a document (the lines between an opening `---` on the first
/// line and the next `---` line, without either) and the body after it; `None` when the
/// document has none, or an unterminated one (which is then text). Ingestion drops the block,
/// so what it says (a page's `description`, say) is not in any passage.
pub fn front_matter(source: &str) -> Option<(&str, &str)> {
    let rest = source.strip_prefix("---")?;
    let rest = rest
        .strip_prefix('\n')
        .or_else(|| rest.strip_prefix("\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Returns (title from front matter, body after it).
fn split_front_matter(source: &str) -> (Option<String>, &str) {
    let Some((front, body)) = front_matter(source) else {
        return (None, source);
    };
    let title = front.lines().find_map(|l| {
        l.strip_prefix("title:")
            .map(|t| t.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|t| !t.is_empty())
    });
    (title, body)
}

/// Removes JSX tags and comments from prose, leaving inline code spans untouched.
fn clean_prose(prose: &str) -> String {
    if prose.is_empty() {
        return String::new();
    }
    let without_comments = JSX_COMMENT.replace_all(prose, "");
    // Odd segments between backticks are inline code: `<div>` there is content.
    without_comments
        .split('`')
        .enumerate()
        .map(|(i, seg)| {
            if i % 2 == 1 {
                seg.to_string()
            } else {
                TAG.replace_all(seg, "").into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// Cleans a heading: tags gone, link syntax reduced to its text.
fn clean_inline(text: &str) -> String {
    let text = TAG.replace_all(text, "");
    text.replace(['`', '*'], "").trim().to_string()
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_front_matter_jsx_and_splits_at_headings() {
        let src = "---\ntitle: \"Install Bun\"\ndescription: x\n---\nimport Foo from './foo';\n\n\
                   Intro text.\n\n<Note>\n  Bun needs `<script>` tags? No.\n</Note>\n\n## Linux\n\n\
                   <Tabs items={['a']}>\nRun this:\n```sh\n# not a heading\ncurl <url>\n```\n</Tabs>\n\n\
                   ### Arch\n\n{/* hidden */}pacman\n\n## macOS\n\nbrew install bun\n";
        let doc = parse(src, "installation");
        assert_eq!(doc.title, "Install Bun");
        let headings: Vec<_> = doc.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, vec!["", "Linux", "Linux > Arch", "macOS"]);
        assert!(doc.sections[0].text.contains("Intro text."));
        assert!(
            doc.sections[0].text.contains("`<script>`"),
            "inline code kept"
        );
        assert!(!doc.sections[0].text.contains("<Note>"));
        assert!(!doc.sections[0].text.contains("import Foo"));
        assert!(
            doc.sections[1].text.contains("# not a heading"),
            "code kept verbatim"
        );
        assert!(
            doc.sections[1].text.contains("curl <url>"),
            "tags in code kept"
        );
        assert!(!doc.sections[1].text.contains("<Tabs"));
        assert_eq!(doc.sections[2].text, "pacman");
    }

    #[test]
    fn title_falls_back_to_h1_then_stem() {
        assert_eq!(parse("# Hello\n\ntext", "x").title, "Hello");
        assert_eq!(parse("text only", "stem").title, "stem");
        assert_eq!(parse("---\nunterminated", "s").sections.len(), 1);
    }

    #[test]
    fn a_heading_of_only_tags_is_no_title_and_no_empty_trail_step() {
        // Found by tests/properties_ingest.rs: `# <br/>` gave the document an empty title.
        let doc = parse("# <br/>\n\n## Usage\n\ntext\n\n# <Badge />\n\nmore", "stem");
        assert_eq!(doc.title, "stem");
        let headings: Vec<_> = doc.sections.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(headings, vec!["Usage", ""]);
    }
}
