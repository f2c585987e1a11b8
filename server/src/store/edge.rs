//! qdrant-edge: Qdrant's storage engine in process, persisted on disk with its WAL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use qdrant_edge::external::serde_json::{Map, Value};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, DEFAULT_VECTOR_NAME, Distance, EdgeConfigBuilder,
    EdgeOptimizersConfig, EdgeShard, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations,
    Filter, HnswIndexConfig, JsonPath, Match, NamedQuery, PayloadFieldSchema, PayloadSchemaType,
    PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum, QueryRequest,
    ScoringQuery, ScrollRequest, SearchParams, UpdateOperation, VectorInternal,
    WithPayloadInterface, WithVector,
};

use super::{Hit, Passage, SearchFilter, StoreError, VectorStore, normalize_prefix};
use crate::backend::{BackendInfo, BackendState};
use crate::config::StoreConfig;

const PATH_FIELD: &str = "path";
const PREFIXES_FIELD: &str = "path_prefixes";

/// The default store: one `EdgeShard` holding the collection.
pub struct EdgeStore {
    shard: Arc<EdgeShard>,
    // Held for the store's life: two processes writing one shard would corrupt it.
    _lock: std::fs::File,
    path: PathBuf,
    hnsw_ef: Option<usize>,
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
                // Below this many KB per segment Qdrant scans instead of walking the graph; a
                // docs corpus is a few MB, so the default (10 MB) would never use the index.
                full_scan_threshold: 10,
                max_indexing_threads: 0,
                on_disk: None,
                payload_m: None,
                inline_storage: None,
            };
            let config = EdgeConfigBuilder::new()
                .vector(
                    DEFAULT_VECTOR_NAME,
                    EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
                )
                .hnsw_config(hnsw)
                .optimizers(EdgeOptimizersConfig {
                    indexing_threshold: Some(cfg.indexing_threshold_kb),
                    ..Default::default()
                })
                .build();
            let shard = EdgeShard::new(&path, config).map_err(|e| open_err(e.to_string()))?;
            for field in [PATH_FIELD, PREFIXES_FIELD] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: json_path(field),
                            field_schema: Some(PayloadFieldSchema::FieldType(
                                PayloadSchemaType::Keyword,
                            )),
                        }),
                    ))
                    .map_err(|e| open_err(e.to_string()))?;
            }
            shard
        };
        Ok(Self {
            shard: Arc::new(shard),
            _lock: lock,
            path,
            hnsw_ef: cfg.hnsw_ef,
        })
    }

    /// Runs a blocking engine call off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&EdgeShard) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shard = Arc::clone(&self.shard);
        tokio::task::spawn_blocking(move || f(&shard))
            .await
            .map_err(|e| StoreError::Operation {
                operation,
                message: e.to_string(),
            })?
    }
}

fn json_path(field: &'static str) -> JsonPath {
    field
        .parse()
        .expect("payload field names are valid JSON paths")
}

fn keyword(field: &'static str, value: String) -> Condition {
    Condition::Field(FieldCondition::new_match(
        json_path(field),
        Match::from(value),
    ))
}

fn payload_str(payload: &Map<String, Value>, key: &str) -> String {
    payload
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    async fn upsert(&self, points: Vec<(Passage, Vec<f32>)>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        self.blocking("upsert", move |shard| {
            let points = points
                .into_iter()
                .map(|(p, vector)| {
                    let payload = qdrant_edge::external::serde_json::json!({
                        PATH_FIELD: p.path,
                        PREFIXES_FIELD: super::path_prefixes(&p.path),
                        "title": p.title,
                        "heading": p.heading,
                        "text": p.text,
                        "chunk_index": p.chunk_index,
                    });
                    PointStruct::new(PointId::Uuid(p.id), vector, payload).into()
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

    async fn delete_by_path(&self, path: &str, keep: &[uuid::Uuid]) -> Result<usize, StoreError> {
        let path = path.to_string();
        let keep: std::collections::HashSet<uuid::Uuid> = keep.iter().copied().collect();
        self.blocking("delete", move |shard| {
            let mut stale = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: Some(Filter::new_must(keyword(PATH_FIELD, path.clone()))),
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
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, StoreError> {
        let filter = filter
            .path_prefix
            .as_deref()
            .map(normalize_prefix)
            .filter(|p| !p.is_empty())
            .map(|p| Filter::new_must(keyword(PREFIXES_FIELD, p)));
        let hnsw_ef = self.hnsw_ef;
        self.blocking("search", move |shard| {
            let request = QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                    VectorInternal::from(vector),
                    DEFAULT_VECTOR_NAME,
                )))),
                filter,
                score_threshold: None,
                limit: top_k,
                offset: 0,
                params: hnsw_ef.map(|ef| SearchParams {
                    hnsw_ef: Some(ef),
                    ..Default::default()
                }),
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(true),
            };
            let points = shard.query(request).map_err(op_err("search"))?;
            Ok(points
                .into_iter()
                .map(|p| {
                    let payload = p.payload.map(|p| p.0).unwrap_or_default();
                    Hit {
                        score: p.score,
                        path: payload_str(&payload, PATH_FIELD),
                        title: payload_str(&payload, "title"),
                        heading: payload_str(&payload, "heading"),
                        text: payload_str(&payload, "text"),
                    }
                })
                .collect())
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

    async fn optimize(&self) -> Result<(), StoreError> {
        self.blocking("optimize", |shard| {
            shard.optimize().map(|_| ()).map_err(op_err("optimize"))
        })
        .await
    }

    fn collection_exists(&self) -> bool {
        self.path.join("segments").is_dir()
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "qdrant-edge".into(),
            state: if self.collection_exists() {
                BackendState::Up
            } else {
                BackendState::Down
            },
            detail: format!("in-process Qdrant engine at {}", self.path.display()),
        }
    }
}
