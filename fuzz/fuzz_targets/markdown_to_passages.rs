//! Any bytes as a documentation file: the markdown cleaner and the chunker never panic, and
//! every passage is trimmed and within its token budget (the promises ingestion relies on).
//!
//! The first byte picks the passage size (16 to 512 tokens), so small windows that split often
//! and the default 512 are both explored; the rest is the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ragbench_text::{Chunker, markdown};

/// all-MiniLM-L6-v2's tokenizer, where the server's asset cache keeps it.
fn tokenizer_json() -> PathBuf {
    if let Some(path) = std::env::var_os("RAGBENCH_TOKENIZER") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("RAGBENCH_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/ragbench"),
        PathBuf::from,
    );
    cache.join("minilm/tokenizer.json")
}

/// Passage sizes explored, in tokens.
const WINDOWS: [usize; 7] = [16, 32, 48, 64, 128, 256, 512];

fn chunkers() -> &'static Vec<Chunker> {
    static CHUNKERS: OnceLock<Vec<Chunker>> = OnceLock::new();
    CHUNKERS.get_or_init(|| {
        let path = tokenizer_json();
        WINDOWS
            .iter()
            .map(|&window| {
                Chunker::load(&path, window, 8).unwrap_or_else(|e| {
                    panic!(
                        "{e}: run the server's tests once to cache the model, or set \
                         RAGBENCH_TOKENIZER to a tokenizer.json"
                    )
                })
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let Ok(source) = std::str::from_utf8(rest) else {
        return;
    };
    let pick = size as usize % WINDOWS.len();
    let (chunker, window) = (&chunkers()[pick], WINDOWS[pick]);
    let doc = markdown::parse(source, "fuzz");
    for section in &doc.sections {
        let heading = format!("{} > {}", doc.title, section.heading);
        let reserved = chunker.count(&heading);
        let budget = window.saturating_sub(reserved + 2).max(32);
        for passage in chunker.split(&section.text, reserved) {
            assert_eq!(passage, passage.trim(), "passages are trimmed");
            let n = chunker.count(&passage);
            assert!(n <= budget, "passage of {n} tokens > budget {budget}: {passage:?}");
        }
    }
});
