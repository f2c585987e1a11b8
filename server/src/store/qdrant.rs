//! A Qdrant server or cluster, over gRPC with qdrant-client: the store for deployments that
//! outgrow one process (the server itself is then stateless and scales out).
//!
//! The collection is the embedded engine's: the unnamed vector with Cosine distance (and with
//! `[store] hybrid` the `bm25` sparse vector with the IDF modifier, computed in this process:
//! [`sparse`]), the same HNSW settings, the same point ids and payload ([`Passage::payload`])
//! and keyword indexes, so a corpus ingested through either backend reads the same. Only what Qdrant 1.18 servers
//! offer is used (collections, keyword indexes, upsert, retrieve, scroll, count, facet and the
//! query API), and the client's own version check is off: it prints to stdout, where the
//! harness reads the server's address, and warns about every server two minor versions older.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FacetCountsBuilder, FieldType, Filter, GetPointsBuilder,
    HnswConfigDiffBuilder, Modifier, OptimizersConfigDiffBuilder, PointId, PointStruct,
    PointsIdsList, PrefetchQueryBuilder, Query, QueryPointsBuilder, Rrf, ScrollPointsBuilder,
    SearchParamsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpdateCollectionBuilder, UpsertPointsBuilder, Value, Vector, VectorInput, VectorParamsBuilder,
    facet_value, point_id::PointIdOptions, vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::{
    CollectionStatus, FULL_SCAN_THRESHOLD_KB, Hit, MAX_SOURCES, Passage, SearchFilter,
    SearchMethod, SourceCount, StoreError, StoreHealth, VectorStore, field, sparse,
};
use crate::backend::{BackendInfo, BackendState};
use crate::config::StoreConfig;

/// Points per upsert request: large enough to amortize a round trip, small enough to stay far
/// below the server's 32 MB gRPC message limit with long passages.
const UPSERT_BATCH: usize = 256;
/// Points per scroll page when looking for stale passages.
const SCROLL_PAGE: u32 = 1_000;
/// How long `optimize` waits for the server to finish indexing.
const OPTIMIZE_WAIT: Duration = Duration::from_secs(300);

/// The passage collection on a Qdrant server.
pub struct QdrantStore {
    client: Qdrant,
    collection: String,
    url: String,
    server_version: String,
    hnsw_ef: Option<u64>,
    indexing_threshold_kb: u64,
    // `[store] hybrid`: points carry a BM25 sparse vector and searches fuse both rankings.
    hybrid: bool,
    // What the last health check found: whether the collection was there, and why the server
    // could not be used if it could not. std Mutex: held only to copy a string.
    exists: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl QdrantStore {
    /// Connects to the server at `cfg.url` and opens the collection, creating it (with its
    /// indexes) for vectors of `dimension` when absent; a collection of another dimension is
    /// an error naming both.
    pub async fn connect(cfg: &StoreConfig, dimension: usize) -> Result<Self, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: format!("{} (collection {:?})", cfg.url, cfg.collection),
            message,
        };
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let client = Qdrant::from_url(&cfg.url)
            .api_key(cfg.api_key.as_ref().map(|k| k.expose().to_string()))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .skip_compatibility_check()
            .build()
            .map_err(|e| open_err(describe(&e)))?;
        let server_version = client
            .health_check()
            .await
            .map_err(|e| {
                open_err(format!(
                    "cannot reach the Qdrant server: {}; is it running, and is [store] url its \
                     gRPC port (6334 by default, not REST's 6333)?",
                    describe(&e)
                ))
            })?
            .version;
        let store = Self {
            client,
            collection: cfg.collection.clone(),
            url: cfg.url.clone(),
            server_version,
            hnsw_ef: cfg.hnsw_ef.map(|ef| ef as u64),
            indexing_threshold_kb: cfg.indexing_threshold_kb as u64,
            hybrid: cfg.hybrid,
            exists: AtomicBool::new(true),
            failure: Mutex::new(None),
        };
        store
            .open_collection(cfg, dimension)
            .await
            .map_err(open_err)?;
        tracing::info!(
            collection = %store.collection,
            "vector store: Qdrant {} at {}",
            store.server_version,
            store.url
        );
        Ok(store)
    }

    /// Creates the collection when absent, checks its vectors when present, and adds the
    /// keyword indexes it lacks.
    async fn open_collection(&self, cfg: &StoreConfig, dimension: usize) -> Result<(), String> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(|e| describe(&e))?;
        if !exists {
            let mut create = CreateCollectionBuilder::new(&self.collection);
            if cfg.hybrid {
                let mut sparse_config = SparseVectorsConfigBuilder::default();
                sparse_config.add_named_vector_params(
                    sparse::VECTOR_NAME,
                    SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
                );
                create = create.sparse_vectors_config(sparse_config);
            }
            let created = self
                .client
                .create_collection(
                    create
                        .vectors_config(VectorParamsBuilder::new(
                            dimension as u64,
                            Distance::Cosine,
                        ))
                        .shard_number(cfg.shards.max(1))
                        .replication_factor(cfg.replicas.max(1))
                        .hnsw_config(
                            HnswConfigDiffBuilder::default()
                                .m(cfg.hnsw_m as u64)
                                .ef_construct(cfg.hnsw_ef_construct as u64)
                                .full_scan_threshold(FULL_SCAN_THRESHOLD_KB as u64),
                        )
                        .optimizers_config(
                            OptimizersConfigDiffBuilder::default()
                                .indexing_threshold(self.indexing_threshold_kb),
                        ),
                )
                .await;
            // Another server of a scaled-out deployment may have created it meanwhile.
            if let Err(e) = created
                && !self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .unwrap_or(false)
            {
                return Err(format!("creating the collection: {}", describe(&e)));
            }
            tracing::info!(
                collection = %self.collection,
                dimension,
                shards = cfg.shards,
                replicas = cfg.replicas,
                "created the collection"
            );
        }
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(|e| describe(&e))?
            .result
            .unwrap_or_default();
        let vectors = info
            .config
            .as_ref()
            .and_then(|c| c.params.as_ref())
            .and_then(|p| p.vectors_config.as_ref())
            .and_then(|v| v.config.as_ref());
        match vectors {
            Some(vectors_config::Config::Params(params)) => {
                if params.size != dimension as u64 {
                    return Err(StoreError::DimensionMismatch {
                        collection: self.collection.clone(),
                        stored: params.size,
                        embedder: dimension,
                    }
                    .to_string());
                }
                if params.distance != Distance::Cosine as i32 {
                    tracing::warn!(
                        collection = %self.collection,
                        "the collection does not use Cosine distance: scores differ from the \
                         embedded engine's"
                    );
                }
            }
            _ => {
                return Err(
                    "the collection has named vectors; ragbench stores one unnamed vector per \
                     point: use another [store] collection"
                        .into(),
                );
            }
        }
        let stored_hybrid = info
            .config
            .as_ref()
            .and_then(|c| c.params.as_ref())
            .and_then(|p| p.sparse_vectors_config.as_ref())
            .is_some_and(|s| s.map.contains_key(sparse::VECTOR_NAME));
        sparse::check_layout(&self.collection, stored_hybrid, self.hybrid)
            .map_err(|e| e.to_string())?;
        for name in field::INDEXED {
            if info.payload_schema.contains_key(name) {
                continue;
            }
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        &self.collection,
                        name,
                        FieldType::Keyword,
                    )
                    .wait(true),
                )
                .await
                .map_err(|e| format!("indexing the payload field {name}: {}", describe(&e)))?;
        }
        Ok(())
    }

    fn detail(&self) -> String {
        format!(
            "Qdrant {} at {}, collection {:?}",
            self.server_version, self.url, self.collection
        )
    }

    fn note_failure(&self, failure: Option<String>) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    /// The ids of every point `filter` matches, page by page.
    async fn scroll_ids(&self, filter: Filter) -> Result<Vec<PointId>, StoreError> {
        let mut ids = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .filter(filter.clone())
                .limit(SCROLL_PAGE)
                .with_payload(false)
                .with_vectors(false);
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let page = self.client.scroll(request).await.map_err(op("scroll"))?;
            ids.extend(page.result.into_iter().filter_map(|p| p.id));
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(ids),
            }
        }
    }
}

/// A qdrant-client error as one line: the server's status message, not its metadata.
fn describe(e: &QdrantError) -> String {
    match e {
        QdrantError::ResponseError { status } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        other => other.to_string(),
    }
}

fn op(operation: &'static str) -> impl Fn(QdrantError) -> StoreError {
    move |e| StoreError::Operation {
        operation,
        message: describe(&e),
    }
}

fn point_id(id: &uuid::Uuid) -> PointId {
    PointId::from(id.to_string())
}

fn id_text(id: Option<PointId>) -> String {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(u)) => u,
        Some(PointIdOptions::Num(n)) => n.to_string(),
        None => String::new(),
    }
}

fn keyword(name: &str, value: String) -> Condition {
    Condition::matches(name, value)
}

fn json(payload: HashMap<String, Value>) -> serde_json::Map<String, serde_json::Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect()
}

fn status_of(code: i32) -> CollectionStatus {
    use qdrant_client::qdrant::CollectionStatus as Server;
    match Server::try_from(code) {
        Ok(Server::Green) => CollectionStatus::Green,
        Ok(Server::Yellow) => CollectionStatus::Yellow,
        Ok(Server::Grey) => CollectionStatus::Grey,
        _ => CollectionStatus::Red,
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    async fn upsert(&self, points: Vec<(Passage, Vec<f32>)>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        let points = points
            .into_iter()
            .map(|(p, vector)| {
                let payload =
                    Payload::try_from(p.payload()).map_err(|e| StoreError::Operation {
                        operation: "upsert",
                        message: e.to_string(),
                    })?;
                if !self.hybrid {
                    return Ok(PointStruct::new(point_id(&p.id), vector, payload));
                }
                let keywords = sparse::document(&p);
                let vectors = HashMap::from([
                    (String::new(), Vector::new_dense(vector)),
                    (
                        sparse::VECTOR_NAME.to_string(),
                        Vector::new_sparse(keywords.indices, keywords.values),
                    ),
                ]);
                Ok(PointStruct::new(point_id(&p.id), vectors, payload))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.client
            .upsert_points_chunked(
                UpsertPointsBuilder::new(&self.collection, points).wait(true),
                UPSERT_BATCH,
            )
            .await
            .map(drop)
            .map_err(op("upsert"))
    }

    async fn existing(&self, ids: Vec<uuid::Uuid>) -> Result<HashSet<uuid::Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let ids: Vec<PointId> = ids.iter().map(point_id).collect();
        let found = self
            .client
            .get_points(
                GetPointsBuilder::new(&self.collection, ids)
                    .with_payload(false)
                    .with_vectors(false),
            )
            .await
            .map_err(op("retrieve"))?;
        Ok(found
            .result
            .into_iter()
            .filter_map(|p| id_text(p.id).parse().ok())
            .collect())
    }

    async fn delete_by_path(
        &self,
        source: &str,
        path: &str,
        keep: &[uuid::Uuid],
    ) -> Result<usize, StoreError> {
        // As in the embedded engine: this source's passages of `path`, and those stored before
        // sources existed (no `source` field).
        let filter = Filter {
            must: vec![keyword(field::PATH, path.to_string())],
            should: vec![
                keyword(field::SOURCE, source.to_string()),
                Condition::is_empty(field::SOURCE),
            ],
            ..Default::default()
        };
        let keep: HashSet<String> = keep.iter().map(uuid::Uuid::to_string).collect();
        let stale: Vec<PointId> = self
            .scroll_ids(filter)
            .await?
            .into_iter()
            .filter(|id| !keep.contains(&id_text(Some(id.clone()))))
            .collect();
        let n = stale.len();
        if n > 0 {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(PointsIdsList { ids: stale })
                        .wait(true),
                )
                .await
                .map_err(op("delete"))?;
        }
        Ok(n)
    }

    async fn sources(&self) -> Result<Vec<SourceCount>, StoreError> {
        let facets = self
            .client
            .facet(
                FacetCountsBuilder::new(&self.collection, field::SOURCE)
                    .limit(MAX_SOURCES as u64)
                    .exact(true),
            )
            .await
            .map_err(op("facet"))?;
        let mut out: Vec<SourceCount> = facets
            .hits
            .into_iter()
            .filter_map(|hit| match hit.value?.variant? {
                facet_value::Variant::StringValue(name) => Some(SourceCount {
                    name,
                    passages: hit.count,
                }),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete_source(&self, source: &str) -> Result<usize, StoreError> {
        let filter = Filter::must([keyword(field::SOURCE, source.to_string())]);
        let n = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(filter.clone())
                    .exact(true),
            )
            .await
            .map_err(op("count"))?
            .result
            .map_or(0, |r| r.count);
        if n > 0 {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(filter)
                        .wait(true),
                )
                .await
                .map_err(op("delete"))?;
        }
        Ok(n as usize)
    }

    async fn search(
        &self,
        text: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
        method: SearchMethod,
    ) -> Result<Vec<Hit>, StoreError> {
        let terms = filter.terms();
        let filter = (!terms.is_empty())
            .then(|| Filter::must(terms.into_iter().map(|(name, value)| keyword(name, value))));
        let exact = method == SearchMethod::Exact;
        let params = (exact || self.hnsw_ef.is_some()).then(|| {
            let mut params = SearchParamsBuilder::default().exact(exact);
            if let Some(ef) = self.hnsw_ef {
                params = params.hnsw_ef(ef);
            }
            params
        });
        let keywords = self
            .hybrid
            .then(|| sparse::query(text))
            .filter(|q| !q.indices.is_empty());
        let mut request = QueryPointsBuilder::new(&self.collection)
            .limit(top_k as u64)
            .with_payload(true);
        match keywords {
            // Dense only: no sparse vectors, or a query of stop words only.
            None => {
                request = request.query(Query::new_nearest(vector));
                if let Some(filter) = filter {
                    request = request.filter(filter);
                }
                if let Some(params) = params {
                    request = request.params(params);
                }
            }
            // As the embedded engine: both rankings under the filter, fused with RRF.
            Some(keywords) => {
                let limit = sparse::prefetch_limit(top_k) as u64;
                let mut dense = PrefetchQueryBuilder::default()
                    .query(Query::new_nearest(vector))
                    .limit(limit);
                let mut sparse_side = PrefetchQueryBuilder::default()
                    .query(Query::new_nearest(VectorInput::new_sparse(
                        keywords.indices,
                        keywords.values,
                    )))
                    .using(sparse::VECTOR_NAME)
                    .limit(limit);
                if let Some(filter) = filter {
                    dense = dense.filter(filter.clone());
                    sparse_side = sparse_side.filter(filter);
                }
                if let Some(params) = params {
                    dense = dense.params(params);
                }
                request =
                    request
                        .add_prefetch(dense)
                        .add_prefetch(sparse_side)
                        .query(Query::new_rrf(Rrf {
                            k: Some(sparse::RRF_K as u32),
                            weights: Vec::new(),
                        }));
            }
        }
        let found = self.client.query(request).await.map_err(op("search"))?;
        Ok(super::in_rank_order(
            found
                .result
                .into_iter()
                .map(|p| Hit::from_payload(id_text(p.id), p.score, &json(p.payload)))
                .collect(),
        ))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.client
            .count(CountPointsBuilder::new(&self.collection).exact(true))
            .await
            .map(|r| r.result.map_or(0, |r| r.count))
            .map_err(op("count"))
    }

    /// Qdrant indexes in the background. Setting the optimizer config starts any pending
    /// optimization (a collection left grey after a restart); then this waits, a bounded time,
    /// until the collection is green so a finished ingestion searches with its index.
    async fn optimize(&self) -> Result<(), StoreError> {
        self.client
            .update_collection(
                UpdateCollectionBuilder::new(&self.collection).optimizers_config(
                    OptimizersConfigDiffBuilder::default()
                        .indexing_threshold(self.indexing_threshold_kb),
                ),
            )
            .await
            .map_err(op("optimize"))?;
        let started = Instant::now();
        loop {
            let info = self
                .client
                .collection_info(&self.collection)
                .await
                .map_err(op("optimize"))?
                .result
                .unwrap_or_default();
            match status_of(info.status) {
                CollectionStatus::Green => return Ok(()),
                CollectionStatus::Red => {
                    return Err(StoreError::Operation {
                        operation: "optimize",
                        message: format!(
                            "the server reports the collection red: {}",
                            info.optimizer_status.map(|s| s.error).unwrap_or_default()
                        ),
                    });
                }
                _ if started.elapsed() > OPTIMIZE_WAIT => {
                    tracing::warn!(
                        collection = %self.collection,
                        "still indexing after {}s; the server goes on in the background",
                        OPTIMIZE_WAIT.as_secs()
                    );
                    return Ok(());
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    fn collection_exists(&self) -> bool {
        self.exists.load(Ordering::Relaxed)
    }

    fn info(&self) -> BackendInfo {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (state, detail) = match failure {
            Some(why) => (BackendState::Down, format!("{}: {why}", self.detail())),
            None => (BackendState::Up, self.detail()),
        };
        BackendInfo {
            name: "qdrant".into(),
            state,
            detail,
        }
    }

    async fn health(&self) -> StoreHealth {
        match self.client.collection_info(&self.collection).await {
            Ok(response) => {
                let info = response.result.unwrap_or_default();
                let status = status_of(info.status);
                self.exists.store(true, Ordering::Relaxed);
                let optimizer = info
                    .optimizer_status
                    .filter(|s| !s.ok)
                    .map(|s| format!(", optimizer error: {}", s.error))
                    .unwrap_or_default();
                let failure = (status == CollectionStatus::Red)
                    .then(|| format!("the collection is red{optimizer}"));
                self.note_failure(failure);
                let mut health = StoreHealth {
                    info: self.info(),
                    collection: Some(status),
                };
                if status != CollectionStatus::Red {
                    health.info.detail = format!(
                        "{}: {status:?}, {} points in {} segments{optimizer}",
                        health.info.detail,
                        info.points_count.unwrap_or(0),
                        info.segments_count
                    );
                }
                health
            }
            Err(e) => {
                let gone = matches!(
                    self.client.collection_exists(&self.collection).await,
                    Ok(false)
                );
                self.exists.store(!gone, Ordering::Relaxed);
                self.note_failure(Some(describe(&e)));
                StoreHealth {
                    info: self.info(),
                    collection: None,
                }
            }
        }
    }
}
