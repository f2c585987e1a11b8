//! ragbench's reference RAG server.
//!
//! One request's path: `auth (JWT) -> cache -> embed -> vector search -> [generate] -> cache`.
//! Each stage is a trait with backends chosen by configuration:
//! [`embed::Embedder`], [`store::VectorStore`], [`generate::Generator`].
//! [`api`] holds the HTTP layer, [`ingest`] turns markdown into passages, [`assets`] fetches
//! and verifies the models, [`cli`] is the command line the binary and the harness share,
//! [`probe`] times an embedder outside a load run, [`remote`] is what the backends on other
//! servers (OpenAI-compatible, Ollama) share.

pub mod api;
pub mod assets;
pub mod backend;
pub mod cli;
pub mod config;
pub mod embed;
pub mod generate;
pub mod ingest;
pub mod probe;
pub mod remote;
pub mod state;
pub mod store;
