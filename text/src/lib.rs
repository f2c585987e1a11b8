//! Documentation text to passages, the first half of ingestion: [`markdown`] reduces a
//! Markdown/MDX file to titled sections, [`chunk`] splits them into passages counted in the
//! embedding model's tokens.
//!
//! A crate of its own because it reads untrusted files and is fuzzed (`fuzz/`): a fuzz build
//! instruments every crate it compiles, and this one needs only `regex` and `tokenizers`, not
//! the server's dependency set.

pub mod chunk;
pub mod markdown;

pub use chunk::Chunker;
