//! qdrant-edge: Qdrant's storage engine in process, persisted on disk.
//!
//! Durability is ours to provide: qdrant-edge 0.7 writes every update to its write-ahead log
//! but does not replay the log when a shard is loaded, and its segments reach the disk only
//! when flushed (on drop, or by an optimization). A process killed after an acknowledged
//! write would come back without it (found by `tests/crash.rs`: a SIGKILL mid-ingest left an
//! empty collection). So every write is flushed before it returns: what a caller was told is
//! stored survives a crash.
//!
//! Nor does the engine recover from a write that failed on the disk: once a flush has failed
//! (a folder removed under the server, a full disk), every later operation answers "Not
//! recovered from previous error", even after the disk is back (found by `tests/faults.rs`).
//! Since everything acknowledged is on disk, the next write after a failure reloads the shard
//! from there first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use qdrant_edge::{
    Condition, CountRequest, CreateIndex, DEFAULT_VECTOR_NAME, Distance, EdgeConfigBuilder,
    EdgeOptimizersConfig, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder,
    FacetRequest, FacetValue, FieldCondition, FieldIndexOperations, Filter, Fusion,
    HnswIndexConfig, IsEmptyCondition, JsonPath, Match, Modifier, NamedQuery, PayloadFieldSchema,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, Prefetch,
    QueryEnum, QueryRequest, ScoringQuery, ScrollRequest, SearchParams, UpdateOperation, Vector,
    VectorInternal, Vectors, WithPayloadInterface, WithVector,
};

use super::{
    FULL_SCAN_THRESHOLD_KB, Hit, MAX_SOURCES, Passage, SearchFilter, SearchMethod, SourceCount,
    StoreError, VectorStore, field, sparse,
};
use crate::backend::{BackendInfo, BackendState};
use crate::config::StoreConfig;

/// The default store: one `EdgeShard` holding the collection.
pub struct EdgeStore {
    // `None` only after a reload failed (see `write`) or while dropping. Reads hold the read
    // lock for the whole engine call, so a reload (write lock) never has a second shard open
    // on the same files.
    shard: Arc<std::sync::RwLock<Option<EdgeShard>>>,
    // One write (and its flush) at a time: `EdgeShard::flush` panics when another thread
    // holds the WAL or the segments' write lock, which only writes and optimizations take.
    // std Mutex, not tokio's: it is taken on the blocking thread that does the work. It holds
    // why the last write could not reach the disk, if it could not: until a write does, the
    // store reports itself down.
    writes: Arc<std::sync::Mutex<Option<String>>>,
    // Held for the store's life: two processes writing one shard would corrupt it.
    _lock: std::fs::File,
    path: PathBuf,
    hnsw_ef: Option<usize>,
    // `[store] hybrid`: points carry a BM25 sparse vector and searches fuse both rankings.
    hybrid: bool,
}

fn op_err(operation: &'static str) -> impl Fn(qdrant_edge::OperationError) -> StoreError {
    move |e| StoreError::Operation {
        operation,
        message: e.to_string(),
    }
}

impl EdgeStore {
    /// Opens the collection under `data_dir/qdrant/<collection>`, creating it when absent.
    pub fn open(cfg: &StoreConfig, data_dir: &Path, dimension: usize) -> Result<Self, StoreError> {
        let path = data_dir.join("qdrant").join(&cfg.collection);
        let open_err = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(&path).map_err(|e| open_err(e.to_string()))?;
        let lock = std::fs::File::create(path.join(".ragbench.lock"))
            .map_err(|e| open_err(e.to_string()))?;
        lock.try_lock().map_err(|_| {
            open_err(
                "another ragbench process has this store open; stop it, use a different \
                 data_dir, or ingest through its POST /v1/ingest"
                    .into(),
            )
        })?;
        let existing = path.join("segments").is_dir();
        let shard = if existing {
            EdgeShard::load(&path, None).map_err(|e| open_err(e.to_string()))?
        } else {
            let hnsw = HnswIndexConfig {
                m: cfg.hnsw_m,
                ef_construct: cfg.hnsw_ef_construct,
                full_scan_threshold: FULL_SCAN_THRESHOLD_KB,
                max_indexing_threads: 0,
                on_disk: None,
                payload_m: None,
                inline_storage: None,
            };
            let mut config = EdgeConfigBuilder::new().vector(
                DEFAULT_VECTOR_NAME,
                EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
            );
            if cfg.hybrid {
                config = config.sparse_vector(
                    sparse::VECTOR_NAME,
                    EdgeSparseVectorParamsBuilder::new()
                        .modifier(Modifier::Idf)
                        .build(),
                );
            }
            let config = config
                .hnsw_config(hnsw)
                .optimizers(EdgeOptimizersConfig {
                    indexing_threshold: Some(cfg.indexing_threshold_kb),
                    ..Default::default()
                })
                .build();
            EdgeShard::new(&path, config).map_err(|e| open_err(e.to_string()))?
        };
        let stored_hybrid = shard
            .config()
            .sparse_vectors
            .contains_key(sparse::VECTOR_NAME);
        sparse::check_layout(&cfg.collection, stored_hybrid, cfg.hybrid)?;
        // Created with the collection; a collection from an older version gains the ones it
        // lacks (the `source` index) when opened.
        let indexed = shard.info().payload_schema;
        for name in field::INDEXED {
            if indexed.contains_key(&json_path(name)) {
                continue;
            }
            shard
                .update(UpdateOperation::FieldIndexOperation(
                    FieldIndexOperations::CreateIndex(CreateIndex {
                        field_name: json_path(name),
                        field_schema: Some(PayloadFieldSchema::FieldType(
                            PayloadSchemaType::Keyword,
                        )),
                    }),
                ))
                .map_err(|e| open_err(e.to_string()))?;
        }
        flush(&shard).map_err(open_err)?;
        Ok(Self {
            shard: Arc::new(std::sync::RwLock::new(Some(shard))),
            writes: Arc::new(std::sync::Mutex::new(None)),
            _lock: lock,
            path,
            hnsw_ef: cfg.hnsw_ef,
            hybrid: cfg.hybrid,
        })
    }

    /// Runs a blocking engine call off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&EdgeShard) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let slot = Arc::clone(&self.shard);
        tokio::task::spawn_blocking(move || {
            let shard = slot.read().unwrap_or_else(|p| p.into_inner());
            f(shard.as_ref().ok_or_else(|| unloaded(operation))?)
        })
        .await
        .map_err(|e| {
            // The panic's message went to the log (the panic hook); the client gets none
            // of the engine's internals.
            tracing::error!(operation, error = %e, "vector store call failed");
            StoreError::Operation {
                operation,
                message: "the engine stopped on an internal error (see the server's log)".into(),
            }
        })?
    }

    /// Why writes are failing, if they are.
    fn write_failure(&self) -> Option<String> {
        self.writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Flushes the shard's WAL and segments to disk. `EdgeShard::flush` panics on an I/O error
/// (a full disk, a folder removed under the server); that becomes the error it stands for.
fn flush(shard: &EdgeShard) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush()))
        .map_err(|panic| engine_panic_message(panic.as_ref()))
}

/// The engine's own description from a panic's payload (`"...: ServiceError { description:
/// \"...\", backtrace: ... }"`), without the backtrace.
fn engine_panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown error");
    let described = text
        .split_once("description: \"")
        .and_then(|(_, rest)| rest.split_once("\", backtrace").map(|(d, _)| d))
        .unwrap_or(text);
    described.replace("\\\"", "\"")
}

/// The error of a call made while the shard is not loaded (its last reload failed).
fn unloaded(operation: &'static str) -> StoreError {
    StoreError::Operation {
        operation,
        message: "the store is not loaded after a disk failure (see the server's log); the \
                  next write tries to load it again"
            .into(),
    }
}

/// Drops a shard without letting its flush-on-drop panic (a failed disk) end the thread.
fn close(shard: EdgeShard) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(shard)))
    {
        tracing::error!(
            "vector store could not be flushed on close: {}",
            engine_panic_message(panic.as_ref())
        );
    }
}

/// Replaces the shard in `slot` by one loaded from `path`, where every acknowledged write is,
/// when the folder is there; the failed shard is closed first, so no two shards have the
/// same files open.
fn reload(slot: &std::sync::RwLock<Option<EdgeShard>>, path: &Path) -> Result<(), String> {
    if !path.join("segments").is_dir() {
        return Err(format!("{} is not there", path.join("segments").display()));
    }
    let mut shard = slot.write().unwrap_or_else(|p| p.into_inner());
    if let Some(failed) = shard.take() {
        close(failed);
    }
    let loaded = EdgeShard::load(path, None).map_err(|e| e.to_string())?;
    tracing::info!(path = %path.display(), "vector store reloaded from disk after a failed write");
    *shard = Some(loaded);
    Ok(())
}

impl Drop for EdgeStore {
    fn drop(&mut self) {
        // Dropping the shard flushes it, and a flush that fails panics: at shutdown that would
        // end the process with a backtrace instead of a line in the log.
        let shard = self.shard.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(shard) = shard {
            close(shard);
        }
    }
}

impl EdgeStore {
    /// Runs a write off the async workers, alone, and flushes it to disk before returning.
    /// After a failed one, the shard is reloaded from disk first.
    async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&EdgeShard) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writes = Arc::clone(&self.writes);
        let slot = Arc::clone(&self.shard);
        let path = self.path.clone();
        let not_persisted = || StoreError::Operation {
            operation,
            message: "the change could not be written to disk (see the server's log); reads \
                      still work, writes fail until the disk takes them again"
                .into(),
        };
        tokio::task::spawn_blocking(move || {
            let mut failure = writes.lock().unwrap_or_else(|p| p.into_inner());
            if failure.is_some()
                && let Err(message) = reload(&slot, &path)
            {
                tracing::error!(operation, error = %message, "vector store not reloaded");
                *failure = Some(message);
                return Err(not_persisted());
            }
            let shard = slot.read().unwrap_or_else(|p| p.into_inner());
            let shard = shard.as_ref().ok_or_else(|| unloaded(operation))?;
            let out = f(shard);
            // Flushed even after a failure: a write may have applied part of its points.
            match flush(shard) {
                Ok(()) => {
                    if out.is_ok() && failure.take().is_some() {
                        tracing::info!("vector store writes reach the disk again");
                    }
                    out
                }
                Err(message) => {
                    tracing::error!(operation, error = %message, "vector store write not persisted");
                    *failure = Some(message);
                    Err(not_persisted())
                }
            }
        })
        .await
        .map_err(|e| {
            tracing::error!(operation, error = %e, "vector store write failed");
            StoreError::Operation {
                operation,
                message: "the engine stopped on an internal error (see the server's log)".into(),
            }
        })?
    }
}

fn json_path(name: &'static str) -> JsonPath {
    name.parse()
        .expect("payload field names are valid JSON paths")
}

fn keyword(name: &'static str, value: String) -> Condition {
    Condition::Field(FieldCondition::new_match(
        json_path(name),
        Match::from(value),
    ))
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    async fn upsert(&self, points: Vec<(Passage, Vec<f32>)>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let hybrid = self.hybrid;
        self.write("upsert", move |shard| {
            let points = points
                .into_iter()
                .map(|(p, vector)| {
                    let vectors = if hybrid {
                        Vectors::from(vec![
                            (DEFAULT_VECTOR_NAME, Vector::new_dense(vector)),
                            (
                                sparse::VECTOR_NAME,
                                Vector(VectorInternal::Sparse(sparse::document(&p))),
                            ),
                        ])
                    } else {
                        Vectors::from(vector)
                    };
                    PointStruct::new(PointId::Uuid(p.id), vectors, p.payload()).into()
                })
                .collect();
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
                ))
                .map_err(op_err("upsert"))
        })
        .await
    }

    async fn existing(
        &self,
        ids: Vec<uuid::Uuid>,
    ) -> Result<std::collections::HashSet<uuid::Uuid>, StoreError> {
        self.blocking("retrieve", move |shard| {
            let ids: Vec<PointId> = ids.into_iter().map(PointId::Uuid).collect();
            let records = shard
                .retrieve(
                    &ids,
                    Some(WithPayloadInterface::Bool(false)),
                    Some(WithVector::Bool(false)),
                )
                .map_err(op_err("retrieve"))?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r.id {
                    PointId::Uuid(u) => Some(u),
                    PointId::NumId(_) => None,
                })
                .collect())
        })
        .await
    }

    async fn delete_by_path(
        &self,
        source: &str,
        path: &str,
        keep: &[uuid::Uuid],
    ) -> Result<usize, StoreError> {
        // This source's passages of `path`, and passages stored before sources existed (no
        // `source` field): the first source to re-ingest a path replaces them.
        let filter = Filter {
            must: Some(vec![keyword(field::PATH, path.to_string())]),
            should: Some(vec![
                keyword(field::SOURCE, source.to_string()),
                Condition::IsEmpty(IsEmptyCondition::from(json_path(field::SOURCE))),
            ]),
            ..Default::default()
        };
        let keep: std::collections::HashSet<uuid::Uuid> = keep.iter().copied().collect();
        self.write("delete", move |shard| {
            let mut stale = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: Some(filter.clone()),
                        with_payload: Some(WithPayloadInterface::Bool(false)),
                        with_vector: WithVector::Bool(false),
                        order_by: None,
                    })
                    .map_err(op_err("scroll"))?;
                stale.extend(records.into_iter().map(|r| r.id).filter(|id| match id {
                    PointId::Uuid(u) => !keep.contains(u),
                    PointId::NumId(_) => true,
                }));
                match next {
                    Some(next) => offset = Some(next),
                    None => break,
                }
            }
            let n = stale.len();
            if n > 0 {
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::DeletePoints { ids: stale },
                    ))
                    .map_err(op_err("delete"))?;
            }
            Ok(n)
        })
        .await
    }

    async fn search(
        &self,
        text: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
        method: SearchMethod,
    ) -> Result<Vec<Hit>, StoreError> {
        let must: Vec<Condition> = filter
            .terms()
            .into_iter()
            .map(|(name, value)| keyword(name, value))
            .collect();
        let filter = (!must.is_empty()).then(|| Filter {
            must: Some(must),
            ..Default::default()
        });
        let exact = method == SearchMethod::Exact;
        let params = (exact || self.hnsw_ef.is_some()).then(|| SearchParams {
            hnsw_ef: self.hnsw_ef,
            exact,
            ..Default::default()
        });
        let keywords = self
            .hybrid
            .then(|| sparse::query(text))
            .filter(|q| !q.indices.is_empty());
        self.blocking("search", move |shard| {
            let dense = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                VectorInternal::from(vector),
                DEFAULT_VECTOR_NAME,
            )));
            let request = match keywords {
                // Dense only: no sparse vectors, or a query of stop words only.
                None => QueryRequest {
                    prefetches: Vec::new(),
                    query: Some(dense),
                    filter,
                    score_threshold: None,
                    limit: top_k,
                    offset: 0,
                    params,
                    with_vector: WithVector::Bool(false),
                    with_payload: WithPayloadInterface::Bool(true),
                },
                // Both rankings, each under the filter, fused; `exact` concerns the dense one.
                Some(keywords) => {
                    let limit = sparse::prefetch_limit(top_k);
                    let keyword = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                        VectorInternal::Sparse(keywords),
                        sparse::VECTOR_NAME,
                    )));
                    let prefetch = |query, params| Prefetch {
                        prefetches: Vec::new(),
                        query: Some(query),
                        limit,
                        params,
                        filter: filter.clone(),
                        score_threshold: None,
                    };
                    QueryRequest {
                        prefetches: vec![prefetch(dense, params), prefetch(keyword, None)],
                        query: Some(ScoringQuery::Fusion(Fusion::Rrf {
                            k: sparse::RRF_K,
                            weights: None,
                        })),
                        filter: None,
                        score_threshold: None,
                        limit: top_k,
                        offset: 0,
                        params: None,
                        with_vector: WithVector::Bool(false),
                        with_payload: WithPayloadInterface::Bool(true),
                    }
                }
            };
            let points = shard.query(request).map_err(op_err("search"))?;
            Ok(super::in_rank_order(
                points
                    .into_iter()
                    .map(|p| {
                        let id = match p.id {
                            PointId::Uuid(u) => u.to_string(),
                            PointId::NumId(n) => n.to_string(),
                        };
                        Hit::from_payload(id, p.score, &p.payload.map(|p| p.0).unwrap_or_default())
                    })
                    .collect(),
            ))
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking("count", |shard| {
            shard
                .count(CountRequest {
                    filter: None,
                    exact: true,
                })
                .map(|n| n as u64)
                .map_err(op_err("count"))
        })
        .await
    }

    async fn sources(&self) -> Result<Vec<SourceCount>, StoreError> {
        self.blocking("facet", |shard| {
            let response = shard
                .facet(FacetRequest {
                    key: json_path(field::SOURCE),
                    limit: MAX_SOURCES,
                    filter: None,
                    exact: true,
                })
                .map_err(op_err("facet"))?;
            let mut out: Vec<SourceCount> = response
                .hits
                .into_iter()
                .filter_map(|hit| match hit.value {
                    FacetValue::Keyword(name) => Some(SourceCount {
                        name,
                        passages: hit.count as u64,
                    }),
                    _ => None,
                })
                .collect();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn delete_source(&self, source: &str) -> Result<usize, StoreError> {
        let filter = Filter::new_must(keyword(field::SOURCE, source.to_string()));
        self.write("delete", move |shard| {
            let n = shard
                .count(CountRequest {
                    filter: Some(filter.clone()),
                    exact: true,
                })
                .map_err(op_err("count"))?;
            if n > 0 {
                shard
                    .update(UpdateOperation::PointOperation(
                        PointOperations::DeletePointsByFilter(filter),
                    ))
                    .map_err(op_err("delete"))?;
            }
            Ok(n)
        })
        .await
    }

    async fn optimize(&self) -> Result<(), StoreError> {
        self.write("optimize", |shard| {
            shard.optimize().map(|_| ()).map_err(op_err("optimize"))
        })
        .await
    }

    fn collection_exists(&self) -> bool {
        self.path.join("segments").is_dir()
    }

    fn info(&self) -> BackendInfo {
        let at = format!("in-process Qdrant engine at {}", self.path.display());
        let (state, detail) = if !self.collection_exists() {
            (
                BackendState::Down,
                format!(
                    "{at}: the collection's folder is gone; writes fail, and what is in memory \
                     is lost on a restart (which starts an empty collection)"
                ),
            )
        } else if let Some(why) = self.write_failure() {
            (
                BackendState::Down,
                format!("{at}: writes are not reaching the disk: {why}"),
            )
        } else {
            (BackendState::Up, at)
        };
        BackendInfo {
            name: "qdrant-edge".into(),
            state,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(source: &str, path: &str, text: &str) -> (Passage, Vec<f32>) {
        let p = Passage {
            id: crate::ingest::passage_id(source, path, 0, text),
            source: source.into(),
            path: path.into(),
            title: String::new(),
            heading: String::new(),
            text: text.into(),
            chunk_index: 0,
        };
        (p, vec![1.0, 0.0, 0.0, 0.0])
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!(
            "ragbench-edge-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
    }

    fn dense() -> StoreConfig {
        StoreConfig {
            hybrid: false,
            ..StoreConfig::default()
        }
    }

    fn hybrid() -> StoreConfig {
        StoreConfig {
            hybrid: true,
            ..StoreConfig::default()
        }
    }

    async fn paths(store: &EdgeStore, text: &str, filter: &SearchFilter) -> Vec<String> {
        store
            .search(
                text,
                vec![1.0, 0.0, 0.0, 0.0],
                3,
                filter,
                SearchMethod::Index,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.path)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hybrid_search_lifts_the_passage_with_the_query_keyword() {
        let dir = temp_dir();
        let store = EdgeStore::open(&hybrid(), &dir, 4).unwrap();
        // Dense vectors rank `far.md` last; only its text holds the query's rare keyword.
        let mut points = vec![
            passage("docs", "near.md", "installing packages"),
            passage("docs", "middle.md", "running scripts"),
            passage("docs", "far.md", "the hideConsole option of executables"),
            passage(
                "other",
                "far.md",
                "hideConsole in another documentation set",
            ),
        ];
        points[1].1 = vec![0.9, 0.3, 0.0, 0.0];
        points[2].1 = vec![0.0, 0.0, 1.0, 0.0];
        points[3].1 = vec![0.0, 0.0, 0.0, 1.0];
        store.upsert(points).await.unwrap();
        let docs = SearchFilter {
            source: Some("docs".into()),
            ..SearchFilter::default()
        };
        let found = paths(&store, "hideConsole", &docs).await;
        assert_eq!(found[0], "far.md", "{found:?}");
        assert_eq!(found.len(), 3, "the filter holds on both sides: {found:?}");
        // Without a keyword the store has (stop words only) the search is the dense one.
        assert_eq!(paths(&store, "the of", &docs).await[0], "near.md");
        drop(store);

        let dense_dir = temp_dir();
        let dense = EdgeStore::open(&dense(), &dense_dir, 4).unwrap();
        let mut points = vec![
            passage("docs", "near.md", "installing packages"),
            passage("docs", "far.md", "the hideConsole option of executables"),
        ];
        points[1].1 = vec![0.0, 0.0, 1.0, 0.0];
        dense.upsert(points).await.unwrap();
        assert_eq!(paths(&dense, "hideConsole", &docs).await[0], "near.md");
        drop(dense);
        let _ = std::fs::remove_dir_all(&dense_dir);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_store_opened_with_the_other_hybrid_setting_is_refused_saying_what_to_do() {
        let dir = temp_dir();
        drop(EdgeStore::open(&dense(), &dir, 4).unwrap());
        let refused = EdgeStore::open(&hybrid(), &dir, 4)
            .err()
            .unwrap()
            .to_string();
        assert!(
            refused.contains("built without BM25 sparse vectors")
                && refused.contains("hybrid = true")
                && refused.contains("another [store] collection"),
            "{refused}"
        );
        let dir2 = temp_dir();
        drop(EdgeStore::open(&hybrid(), &dir2, 4).unwrap());
        let refused = EdgeStore::open(&dense(), &dir2, 4)
            .err()
            .unwrap()
            .to_string();
        assert!(
            refused.contains("built with BM25 sparse vectors")
                && refused.contains("hybrid = false"),
            "{refused}"
        );
        assert!(
            EdgeStore::open(&hybrid(), &dir2, 4).is_ok(),
            "the same setting opens it"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&dir2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_deletion_stays_within_a_source_and_takes_unnamed_passages() {
        let dir = temp_dir();
        let store = EdgeStore::open(&StoreConfig::default(), &dir, 4).unwrap();
        store
            .upsert(vec![
                passage("alpha", "index.mdx", "a"),
                passage("beta", "index.mdx", "b"),
            ])
            .await
            .unwrap();
        // A passage written before sources existed: no `source` in its payload.
        let legacy = qdrant_edge::external::serde_json::json!({ field::PATH: "index.mdx" });
        store
            .shard
            .read()
            .unwrap()
            .as_ref()
            .unwrap()
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(vec![
                    PointStruct::new(
                        PointId::Uuid(uuid::Uuid::from_u128(7)),
                        vec![0.0, 1.0, 0.0, 0.0],
                        legacy,
                    )
                    .into(),
                ])),
            ))
            .unwrap();
        assert_eq!(store.count().await.unwrap(), 3);
        let keep = [passage("alpha", "index.mdx", "a").0.id];
        assert_eq!(
            store
                .delete_by_path("alpha", "index.mdx", &keep)
                .await
                .unwrap(),
            1,
            "only the unnamed passage goes"
        );
        assert_eq!(
            store
                .delete_by_path("alpha", "index.mdx", &[])
                .await
                .unwrap(),
            1
        );
        let sources = store.sources().await.unwrap();
        assert_eq!(
            sources,
            vec![SourceCount {
                name: "beta".into(),
                passages: 1
            }]
        );
        assert_eq!(store.delete_source("beta").await.unwrap(), 1);
        assert_eq!(store.delete_source("beta").await.unwrap(), 0);
        assert_eq!(store.count().await.unwrap(), 0);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
