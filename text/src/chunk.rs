//! Sections to passages of about `chunk_tokens` embedding-model tokens, with overlap.
//!
//! Counting with the embedding model's own tokenizer means a passage is never silently
//! truncated by the model; windows end at word starts so no word is cut in two.

use std::path::Path;

use tokenizers::Tokenizer;

/// Splits text by token count.
pub struct Chunker {
    tokenizer: Tokenizer,
    chunk_tokens: usize,
    overlap_tokens: usize,
}

impl Chunker {
    /// Loads `tokenizer.json` (the embedding model's).
    pub fn load(
        tokenizer_json: &Path,
        chunk_tokens: usize,
        overlap_tokens: usize,
    ) -> Result<Self, String> {
        let mut tokenizer = Tokenizer::from_file(tokenizer_json)
            .map_err(|e| format!("{}: {e}", tokenizer_json.display()))?;
        // The file carries the model's truncation and padding: counting needs neither.
        tokenizer
            .with_truncation(None)
            .map_err(|e| format!("tokenizer: {e}"))?;
        tokenizer.with_padding(None);
        Ok(Self {
            tokenizer,
            chunk_tokens: chunk_tokens.max(16),
            overlap_tokens: overlap_tokens.min(chunk_tokens / 2),
        })
    }

    /// Token count of `text` (no special tokens).
    pub fn count(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.len())
            .unwrap_or_else(|_| text.split_whitespace().count())
    }

    /// Splits `text` into windows; `reserved` tokens of each window go to a prefix (heading).
    pub fn split(&self, text: &str, reserved: usize) -> Vec<String> {
        let budget = self.chunk_tokens.saturating_sub(reserved + 2).max(32);
        let Ok(encoding) = self.tokenizer.encode(text, false) else {
            return vec![text.to_string()];
        };
        let offsets = encoding.get_offsets();
        let n = offsets.len();
        if n <= budget {
            return vec![text.trim().to_string()];
        }
        let starts_word = |i: usize| {
            let at = offsets[i].0;
            at == 0 || text[..at].ends_with(char::is_whitespace)
        };
        let mut out = Vec::new();
        let mut start = 0;
        while start < n {
            let mut end = (start + budget).min(n);
            if end < n {
                // Back off to a word start, but never below half a window.
                let floor = start + budget / 2;
                if let Some(e) = (floor..=end).rev().find(|&e| starts_word(e)) {
                    end = e;
                }
            }
            let mut piece = text[offsets[start].0..offsets[end - 1].1].trim();
            // A window that starts inside what the tokenizer takes for one word (after a
            // control character it drops) can count more on its own: shrink it to fit.
            while end > start + 1 && self.count(piece) > budget {
                end -= 1;
                piece = text[offsets[start].0..offsets[end - 1].1].trim();
            }
            if !piece.is_empty() {
                out.push(piece.to_string());
            }
            if end >= n {
                break;
            }
            let mut next = end.saturating_sub(self.overlap_tokens).max(start + 1);
            while next < end && !starts_word(next) {
                next += 1;
            }
            start = next;
        }
        out
    }
}
