//! What the tests of the remote backends share: a line saying what was not run, and a
//! stand-in server that answers with recorded bodies and records what it was sent.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Says what a test did not run and how to run it: on the process's stderr, which the test
/// harness does not capture, so a skip is never silent.
pub fn skip(what: &str, how: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {what} ({how})");
}

/// One recorded answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// 200 with one JSON object a line (a stream), from JSON values written any way.
    pub fn ndjson(objects: &[&str]) -> Self {
        let lines: Vec<String> = objects
            .iter()
            .map(|o| serde_json::from_str::<Value>(o).unwrap().to_string())
            .collect();
        Self {
            status: 200,
            content_type: "application/x-ndjson",
            body: lines.join("\n") + "\n",
        }
    }

    /// 200 with server-sent events, one `data:` line each.
    pub fn sse(events: &[&str]) -> Self {
        Self {
            status: 200,
            content_type: "text/event-stream",
            body: events
                .iter()
                .map(|e| format!("data: {e}\r\n\r\n"))
                .collect(),
        }
    }

    /// An error status with a JSON body.
    pub fn error(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

/// A request the stand-in received: method and path, and the JSON body (`null` when none).
pub type Seen = (String, Value);

/// A stand-in server on loopback.
pub struct StandIn {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    served: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl StandIn {
    /// Serves `routes` ("POST /api/chat" -> answers, given in turn, the last repeated).
    pub async fn start(routes: Vec<(&str, Vec<Reply>)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, routes)
    }

    /// Serves `routes` on `listener`.
    pub fn serve(listener: tokio::net::TcpListener, routes: Vec<(&str, Vec<Reply>)>) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let routes: Arc<Mutex<HashMap<String, Vec<Reply>>>> = Arc::new(Mutex::new(
            routes
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ));
        let record = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let (record, routes) = (Arc::clone(&record), Arc::clone(&routes));
            async move {
                let key = format!("{method} {}", uri.path());
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                record.lock().unwrap().push((key.clone(), json));
                let reply = {
                    let mut routes = routes.lock().unwrap();
                    match routes.get_mut(&key) {
                        Some(replies) if replies.len() > 1 => Some(replies.remove(0)),
                        Some(replies) => replies.first().cloned(),
                        None => None,
                    }
                };
                match reply {
                    Some(reply) => respond(reply),
                    None => {
                        (StatusCode::NOT_FOUND, format!("no stand-in for {key}")).into_response()
                    }
                }
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            base,
            seen,
            stop: Mutex::new(Some(stop)),
            served: Mutex::new(Some(served)),
        }
    }

    /// Stops listening and closes its connections: the server is down.
    pub async fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        let served = self.served.lock().unwrap().take();
        if let Some(served) = served {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), served).await;
        }
    }

    /// What was received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The paths received so far, in order ("POST /api/chat").
    pub fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|(path, _)| path).collect()
    }
}

fn respond(reply: Reply) -> Response {
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    response
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A passage for a prompt.
pub fn hit(path: &str, text: &str) -> ragbench_server::store::Hit {
    ragbench_server::store::Hit {
        id: String::new(),
        score: 0.9,
        source: "docs".into(),
        path: path.into(),
        title: "Bun".into(),
        heading: "Install".into(),
        text: text.into(),
    }
}
