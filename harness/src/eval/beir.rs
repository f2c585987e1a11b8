//! A user's labeled set in the BEIR layout: a folder with `queries.jsonl` and `qrels/*.tsv`.
//!
//! - `queries.jsonl`: one JSON object per line, `{"_id": "q1", "text": "how do I ..."}`
//!   (`_id` a string or a number; other fields are ignored).
//! - `qrels/test.tsv` (or, when there is none, every `qrels/*.tsv` in name order): lines of
//!   `query-id<TAB>corpus-id<TAB>score`, an optional `query-id corpus-id score` header first;
//!   a score above 0 marks the page relevant. Here a corpus-id is a page: its path relative to
//!   the corpus root (`guides/install.mdx`), as `/v1/search` reports it.
//!
//! Queries without a relevant page are left out (BEIR scores only the queries its qrels
//! name), in `queries.jsonl` order. A malformed line is an error naming its file and line.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;
use super::labels::{LabeledQuery, LabeledSet, normalize_page};

/// The set's name in summaries.
pub const SET_NAME: &str = "beir";

/// Loads the BEIR set in `dir`.
pub fn load(dir: &Path) -> Result<LabeledSet, EvalError> {
    let queries_file = dir.join("queries.jsonl");
    let queries = read_queries(&queries_file)?;
    let known: HashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
    let mut relevant: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in qrels_files(dir)? {
        for (query, page) in read_qrels(&file, &known)? {
            relevant.entry(query).or_default().insert(page);
        }
    }
    let queries: Vec<LabeledQuery> = queries
        .into_iter()
        .filter_map(|(id, text)| {
            let relevant = relevant.remove(&id)?;
            Some(LabeledQuery { id, text, relevant })
        })
        .collect();
    if queries.is_empty() {
        return Err(EvalError::Labels {
            path: dir.to_path_buf(),
            line: None,
            message: "no query of queries.jsonl has a relevant page (score > 0) in qrels: \
                      nothing to evaluate"
                .into(),
        });
    }
    Ok(LabeledSet {
        name: SET_NAME.into(),
        origin: format!("BEIR layout in {}", dir.display()),
        queries,
    })
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: IdValue,
    text: String,
}

/// BEIR ids are strings, but some sets write numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Text(String),
    Number(serde_json::Number),
}

impl IdValue {
    fn into_string(self) -> String {
        match self {
            IdValue::Text(s) => s,
            IdValue::Number(n) => n.to_string(),
        }
    }
}

fn bad(path: &Path, line: usize, message: impl Into<String>) -> EvalError {
    EvalError::Labels {
        path: path.to_path_buf(),
        line: Some(line),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `(id, text)` of each query, in file order.
fn read_queries(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let text = read(path)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(line).map_err(|e| {
            bad(
                path,
                i + 1,
                format!("expected {{\"_id\": \"...\", \"text\": \"...\"}}: {e}"),
            )
        })?;
        let id = q.id.into_string();
        if q.text.trim().is_empty() {
            return Err(bad(path, i + 1, format!("query {id:?} has an empty text")));
        }
        if !seen.insert(id.clone()) {
            return Err(bad(path, i + 1, format!("query id {id:?} appears twice")));
        }
        out.push((id, q.text));
    }
    Ok(out)
}

/// `qrels/test.tsv`, or every `qrels/*.tsv` in name order.
fn qrels_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let qrels = dir.join("qrels");
    let test = qrels.join("test.tsv");
    if test.is_file() {
        return Ok(vec![test]);
    }
    let entries = std::fs::read_dir(&qrels).map_err(|source| EvalError::Read {
        path: qrels.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EvalError::Labels {
            path: qrels,
            line: None,
            message: "no .tsv file: put the relevance judgements in qrels/test.tsv".into(),
        });
    }
    Ok(files)
}

/// The `(query id, page)` pairs with a score above 0.
fn read_qrels(path: &Path, known: &HashSet<&str>) -> Result<Vec<(String, String)>, EvalError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        if i == 0 && fields.first() == Some(&"query-id") {
            continue;
        }
        let [query, page, score] = fields[..] else {
            return Err(bad(
                path,
                i + 1,
                format!(
                    "expected 3 tab-separated fields (query-id, corpus-id, score), found {}",
                    fields.len()
                ),
            ));
        };
        let score: f64 = score
            .parse()
            .map_err(|_| bad(path, i + 1, format!("score {score:?} is not a number")))?;
        if !known.contains(query) {
            return Err(bad(
                path,
                i + 1,
                format!("query-id {query:?} is not in queries.jsonl"),
            ));
        }
        let page = normalize_page(page);
        if page.is_empty() {
            return Err(bad(path, i + 1, "empty corpus-id"));
        }
        if score > 0.0 {
            out.push((query.to_string(), page));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(queries: &str, qrels: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("queries.jsonl"), queries).unwrap();
        std::fs::create_dir_all(dir.path().join("qrels")).unwrap();
        for (name, text) in qrels {
            std::fs::write(dir.path().join("qrels").join(name), text).unwrap();
        }
        dir
    }

    fn error(dir: &tempfile::TempDir) -> String {
        load(dir.path()).unwrap_err().to_string()
    }

    #[test]
    fn queries_with_relevant_pages_in_file_order() {
        let dir = folder(
            "{\"_id\": \"q2\", \"text\": \"install on linux\", \"metadata\": {}}\n\n\
             {\"_id\": 7, \"text\": \"bundle css\"}\n\
             {\"_id\": \"q3\", \"text\": \"no judgement\"}\n",
            &[(
                "test.tsv",
                "query-id\tcorpus-id\tscore\n\
                 q2\tguides/install.mdx\t1\n\
                 q2\t./guides/linux.mdx\t2\n\
                 7\tbundler/css.mdx\t1\n\
                 7\tbundler/index.mdx\t0\n",
            )],
        );
        let set = load(dir.path()).unwrap();
        let rows: Vec<(&str, &str, Vec<&str>)> = set
            .queries
            .iter()
            .map(|q| {
                (
                    q.id.as_str(),
                    q.text.as_str(),
                    q.relevant.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "q2",
                    "install on linux",
                    vec!["guides/install.mdx", "guides/linux.mdx"]
                ),
                ("7", "bundle css", vec!["bundler/css.mdx"]),
            ]
        );
        assert_eq!(set.name, SET_NAME);
    }

    #[test]
    fn without_test_tsv_every_qrels_file_counts() {
        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n{\"_id\": \"b\", \"text\": \"two\"}\n",
            &[("dev.tsv", "a\tx.md\t1\n"), ("extra.tsv", "b\ty.md\t1\n")],
        );
        assert_eq!(load(dir.path()).unwrap().queries.len(), 2);
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\nnot json\n",
            &[("test.tsv", "a\tx.md\t1\n")],
        );
        let e = error(&dir);
        assert!(e.contains("queries.jsonl:2:"), "{e}");
        assert!(e.contains("_id"), "{e}");

        let dir = folder("{\"text\": \"no id\"}\n", &[("test.tsv", "a\tx.md\t1\n")]);
        assert!(error(&dir).contains("queries.jsonl:1:"), "{}", error(&dir));

        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n",
            &[("test.tsv", "query-id\tcorpus-id\tscore\na x.md 1\n")],
        );
        let e = error(&dir);
        assert!(e.contains("test.tsv:2:"), "{e}");
        assert!(e.contains("3 tab-separated fields"), "{e}");

        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n",
            &[("test.tsv", "a\tx.md\thigh\n")],
        );
        let e = error(&dir);
        assert!(
            e.contains("test.tsv:1:") && e.contains("\"high\" is not a number"),
            "{e}"
        );

        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n",
            &[("test.tsv", "a\tx.md\t1\nb\ty.md\t1\n")],
        );
        let e = error(&dir);
        assert!(
            e.contains("test.tsv:2:") && e.contains("\"b\" is not in queries.jsonl"),
            "{e}"
        );

        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n{\"_id\": \"a\", \"text\": \"two\"}\n",
            &[("test.tsv", "a\tx.md\t1\n")],
        );
        assert!(error(&dir).contains("queries.jsonl:2: query id \"a\" appears twice"));
    }

    #[test]
    fn missing_files_and_empty_sets_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("queries.jsonl"), "{e}");

        let dir = folder("{\"_id\": \"a\", \"text\": \"one\"}\n", &[]);
        let e = error(&dir);
        assert!(e.contains("qrels") && e.contains("qrels/test.tsv"), "{e}");

        let dir = folder(
            "{\"_id\": \"a\", \"text\": \"one\"}\n",
            &[("test.tsv", "a\tx.md\t0\n")],
        );
        assert!(
            error(&dir).contains("nothing to evaluate"),
            "{}",
            error(&dir)
        );
    }
}
