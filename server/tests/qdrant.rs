//! The Qdrant server backend. Against a real server only when `RAGBENCH_TEST_QDRANT_URL` names
//! one (its gRPC URL, e.g. `http://127.0.0.1:6334`; `RAGBENCH_TEST_QDRANT_API_KEY` if it wants
//! a key): the same passages go into the embedded engine and into the server, and every
//! operation must give the same answer. Without it, that test says it was skipped.

mod remote_common;

use qdrant_client::Qdrant;
use ragbench_server::config::{Secret, StoreBackend, StoreConfig};
use ragbench_server::store::{
    CollectionStatus, EdgeStore, Passage, QdrantStore, SearchFilter, SearchMethod, StoreError,
    VectorStore,
};
use remote_common::{closed_port, skip};

const URL_VAR: &str = "RAGBENCH_TEST_QDRANT_URL";

fn qdrant_config(url: &str, collection: &str) -> StoreConfig {
    StoreConfig {
        backend: StoreBackend::Qdrant,
        url: url.into(),
        api_key: std::env::var("RAGBENCH_TEST_QDRANT_API_KEY")
            .ok()
            .map(|k| Secret::from(k.as_str())),
        collection: collection.into(),
        shards: 2,
        ..StoreConfig::default()
    }
}

fn passage(source: &str, path: &str, index: u32, text: &str) -> Passage {
    Passage {
        id: ragbench_server::ingest::passage_id(source, path, index, text),
        source: source.into(),
        path: path.into(),
        title: format!("Title of {path}"),
        heading: "Install > Linux".into(),
        text: text.into(),
        chunk_index: index,
    }
}

/// Six passages in two sources, with vectors far enough apart that every ranking is strict.
fn corpus() -> Vec<(Passage, Vec<f32>)> {
    vec![
        (
            passage("alpha", "guides/install.mdx", 0, "curl the installer"),
            vec![1.0, 0.1, 0.0, 0.0],
        ),
        (
            passage("alpha", "guides/install.mdx", 1, "or use npm"),
            vec![0.9, 0.3, 0.1, 0.0],
        ),
        (
            passage("alpha", "guides/test/run.mdx", 0, "bun test runs tests"),
            vec![0.2, 1.0, 0.0, 0.1],
        ),
        (
            passage("alpha", "api/sqlite.mdx", 0, "bun:sqlite opens a database"),
            vec![0.0, 0.2, 1.0, 0.0],
        ),
        (
            passage("beta", "index.mdx", 0, "beta's front page"),
            vec![0.5, 0.5, 0.5, 0.1],
        ),
        (
            passage("beta", "guides/install.mdx", 0, "beta installs differently"),
            vec![0.8, 0.0, 0.2, 0.4],
        ),
    ]
}

type Row = (String, String, String, String, String, String);

/// Hits as comparable rows (id, path, source, title, heading, text), and their scores.
async fn hits(store: &dyn VectorStore, filter: &SearchFilter) -> (Vec<Row>, Vec<f32>) {
    store
        .search(
            "passage",
            vec![0.7, 0.4, 0.2, 0.1],
            10,
            filter,
            SearchMethod::Index,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            (
                (h.id, h.path, h.source, h.title, h.heading, h.text),
                h.score,
            )
        })
        .unzip()
}

async fn same_hits(edge: &dyn VectorStore, server: &dyn VectorStore, filter: &SearchFilter) {
    let (rows, scores) = hits(edge, filter).await;
    assert!(!rows.is_empty(), "{filter:?} matches something");
    let (server_rows, server_scores) = hits(server, filter).await;
    assert_eq!(server_rows, rows, "search with {filter:?}");
    for (a, b) in server_scores.iter().zip(&scores) {
        assert!(
            (a - b).abs() < 1e-4,
            "scores {server_scores:?} vs {scores:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qdrant_server_answers_as_the_embedded_engine_does() {
    let Ok(url) = std::env::var(URL_VAR) else {
        skip(
            "the Qdrant server backend against a real server",
            "set RAGBENCH_TEST_QDRANT_URL to a Qdrant 1.18+ gRPC URL, e.g. http://127.0.0.1:6334",
        );
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let collection = format!("ragbench-test-{}-{nanos}", std::process::id());
    let cfg = qdrant_config(&url, &collection);
    let dir = std::env::temp_dir().join(format!("ragbench-qdrant-edge-{collection}"));
    let edge = EdgeStore::open(&StoreConfig::default(), &dir, 4).unwrap();
    let server = QdrantStore::connect(&cfg, 4)
        .await
        .expect("connects and creates the collection");
    assert!(server.collection_exists());

    for store in [&edge as &dyn VectorStore, &server] {
        store.upsert(corpus()).await.unwrap();
        store.upsert(corpus()).await.unwrap(); // idempotent: same ids, same points
        assert_eq!(store.count().await.unwrap(), 6);
    }
    let ids: Vec<uuid::Uuid> = corpus().iter().map(|(p, _)| p.id).collect();
    let mut asked = ids.clone();
    asked.push(uuid::Uuid::from_u128(42));
    assert_eq!(
        server.existing(asked.clone()).await.unwrap(),
        edge.existing(asked).await.unwrap()
    );

    let filters = [
        SearchFilter::default(),
        SearchFilter {
            path_prefix: Some("guides/".into()),
            source: None,
        },
        SearchFilter {
            path_prefix: Some("/guides/test".into()),
            source: None,
        },
        SearchFilter {
            path_prefix: Some("guides".into()),
            source: Some("beta".into()),
        },
    ];
    for filter in &filters {
        same_hits(&edge, &server, filter).await;
    }
    assert_eq!(
        server.sources().await.unwrap(),
        edge.sources().await.unwrap()
    );

    // Stale passages of one file of one source: the other source's file of the same path stays.
    let keep = [ids[0]];
    for store in [&edge as &dyn VectorStore, &server] {
        assert_eq!(
            store
                .delete_by_path("alpha", "guides/install.mdx", &keep)
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.delete_source("beta").await.unwrap(), 2);
        assert_eq!(store.delete_source("beta").await.unwrap(), 0);
        assert_eq!(store.count().await.unwrap(), 3);
    }
    same_hits(&edge, &server, &SearchFilter::default()).await;

    server.optimize().await.unwrap();
    let health = server.health().await;
    assert_eq!(
        health.collection,
        Some(CollectionStatus::Green),
        "{:?}",
        health.info
    );
    assert!(
        health.info.detail.contains(&collection),
        "{}",
        health.info.detail
    );

    // The collection now holds 4-dimensional vectors: another embedder is refused by name.
    let Err(err) = QdrantStore::connect(&cfg, 8).await else {
        panic!("a collection of another dimension must be refused");
    };
    let message = err.to_string();
    assert!(
        message.contains("4-dimensional") && message.contains("8-dimensional"),
        "{message}"
    );
    // Reopening with the right one works and finds what was stored.
    let again = QdrantStore::connect(&cfg, 4).await.unwrap();
    assert_eq!(again.count().await.unwrap(), 3);

    let mut client = Qdrant::from_url(&url).skip_compatibility_check();
    if let Some(key) = &cfg.api_key {
        client = client.api_key(key.expose().to_string());
    }
    client
        .build()
        .unwrap()
        .delete_collection(&collection)
        .await
        .unwrap();
    drop(edge);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreachable_qdrant_server_is_a_clear_error_at_start() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let Err(err) = QdrantStore::connect(&qdrant_config(&url, "documentation"), 384).await else {
        panic!("nothing listens there");
    };
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&url) && message.contains("cannot reach the Qdrant server"),
        "{message}"
    );
    assert!(message.contains("6334"), "names the gRPC port: {message}");
}
