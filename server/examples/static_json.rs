//! The cached path's yardstick: a trivial axum server that answers every POST with the same
//! JSON body, on the same runtime and `axum::serve` as ragbench-server. A load tool's rate
//! against it, beside its rate against cached `/v1/search` answers of the same size, says
//! what ragbench's own work per request (JWT check, cache lookup, metrics, Server-Timing)
//! costs.
//!
//! ```sh
//! curl -s -X POST -H "authorization: Bearer $TOKEN" -d '{"query":"bun install"}' \
//!     http://127.0.0.1:8080/v1/search > body.json
//! cargo run --release -p ragbench-server --example static_json -- body.json 127.0.0.1:8081
//! oha -z 20s -c 50 -m POST -d '{"query":"bun install"}' http://127.0.0.1:8081/v1/search
//! ```

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::post;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(body), Some(listen)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: static_json BODY.json ADDRESS (e.g. body.json 127.0.0.1:8081)");
    };
    let body = Bytes::from(std::fs::read(&body).with_context(|| format!("reading {body}"))?);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new().fallback(post(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }));
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!("static_json listening on http://{}", listener.local_addr()?);
            axum::serve(listener, app).await?;
            Ok(())
        })
}
