//! `ConcurrencyLimitedDouble`: a server of known capacity for the capacity sweep. It answers
//! `/v1/search` with at most `workers` requests served at once, each holding its worker for a
//! fixed `service` time, so it completes at most `workers / service` requests per second;
//! above that, requests queue and their latency grows without bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::Semaphore;

use super::{authorized, health, unauthorized};

/// A server with `workers` concurrent slots and a fixed service time per search.
pub struct ConcurrencyLimitedDouble {
    /// Its base URL.
    pub base_url: String,
    /// Requests per second it can complete: `workers / service`.
    pub capacity_rps: f64,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _thread: std::thread::JoinHandle<()>,
}

#[derive(Clone)]
struct Limits {
    workers: Arc<Semaphore>,
    service: Duration,
}

impl ConcurrencyLimitedDouble {
    /// Starts the double on a free loopback port.
    pub fn start(workers: usize, service: Duration) -> ConcurrencyLimitedDouble {
        let limits = Limits {
            workers: Arc::new(Semaphore::new(workers)),
            service,
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/health", get(health))
                    .route("/metrics", get(|| async { "" }))
                    .route("/v1/search", post(search))
                    .with_state(limits);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        ConcurrencyLimitedDouble {
            base_url: format!("http://{addr}"),
            capacity_rps: workers as f64 / service.as_secs_f64(),
            _shutdown: shutdown_tx,
            _thread: thread,
        }
    }
}

async fn search(State(limits): State<Limits>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let _worker = limits
        .workers
        .acquire()
        .await
        .expect("the double never closes its semaphore");
    tokio::time::sleep(limits.service).await;
    axum::Json(json!({"hits": [{"score": 0.9, "path": "a.md", "title": "A", "heading": "H", "text": "t"}], "cached": false}))
        .into_response()
}
