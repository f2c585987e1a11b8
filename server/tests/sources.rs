//! Named sources: two documentation sets with the same relative file names live side by side
//! in one collection; re-ingesting one never touches the other; sources are listed, searched
//! and deleted one at a time.

mod common;

use common::{client, ingest_token, scratch, start_with_env, token};
use serde_json::{Value, json};

const WIDGETS: &str = "---\ntitle: Widgets\n---\n# Widgets\n\nWidgets are configured with \
    `widget.toml` and reloaded on save.\n\n## Colors\n\nA widget can be red, green or blue.\n";
const GADGETS: &str = "# Gadgets\n\nGadgets plug into the serial port and report their \
    temperature every second.\n";
const GADGET_POWER: &str = "# Power\n\nA gadget draws 5 volts from the port; batteries last \
    a week.\n";

struct Api {
    base: String,
    reader: String,
    writer: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        route: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{route}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ingest(&self, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/v1/ingest",
            Some(&self.writer),
            Some(body),
        )
        .await
    }

    async fn search(&self, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/v1/search",
            Some(&self.reader),
            Some(body),
        )
        .await
    }

    async fn sources(&self) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                "/v1/sources",
                Some(&self.reader),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["sources"].clone()
    }

    async fn vectors(&self) -> u64 {
        let (_, health) = self.call(reqwest::Method::GET, "/health", None, None).await;
        health["vectors"].as_u64().unwrap()
    }
}

fn hit_sources(body: &Value) -> Vec<(String, String)> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["source"].as_str().unwrap().to_string(),
                h["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn two_sources_with_the_same_file_names_live_side_by_side() {
    let root = scratch("sources");
    let one = root.join("one");
    let two = root.join("two");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    std::fs::write(one.join("index.mdx"), WIDGETS).unwrap();
    std::fs::write(two.join("index.mdx"), GADGETS).unwrap();
    std::fs::write(two.join("power.md"), GADGET_POWER).unwrap();
    let secret = "sources-secret";
    let roots = root.display().to_string();
    let (_child, _stdin, base) = start_with_env(
        &scratch("sources-data"),
        secret,
        &["--no-generator"],
        &[("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots)],
    );
    let api = Api {
        base,
        reader: token(secret, 3600),
        writer: ingest_token(secret, 3600),
        http: client(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The first set under a given name, the second under its folder's name.
        let (status, a) = api.ingest(json!({ "path": one, "source": "alpha" })).await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["source"], "alpha");
        let n_alpha = a["upserted"].as_u64().unwrap();
        assert!(n_alpha >= 2, "{a}");
        let (status, b) = api.ingest(json!({ "path": two })).await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(b["source"], "two");
        assert_eq!(b["deleted"], 0, "the other set's index.mdx survives: {b}");
        let n_two = b["upserted"].as_u64().unwrap();
        assert!(n_two >= 2, "{b}");
        assert_eq!(b["vectors"].as_u64().unwrap(), n_alpha + n_two, "{b}");

        assert_eq!(
            api.sources().await,
            json!([
                { "name": "alpha", "passages": n_alpha },
                { "name": "two", "passages": n_two },
            ])
        );

        // Re-ingesting an unchanged set is idempotent.
        let (status, again) = api.ingest(json!({ "path": one, "source": "alpha" })).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            (&again["upserted"], &again["deleted"]),
            (&json!(0), &json!(0))
        );
        assert_eq!(again["vectors"].as_u64().unwrap(), n_alpha + n_two);

        // Search filtered by each source finds only its own passages.
        let (status, hits) = api
            .search(json!({ "query": "widget colors", "top_k": 10, "source": "alpha" }))
            .await;
        assert_eq!(status, 200, "{hits}");
        let found = hit_sources(&hits);
        assert_eq!(found.len() as u64, n_alpha, "{hits}");
        assert!(found.iter().all(|(s, p)| s == "alpha" && p == "index.mdx"));
        let (status, hits) = api
            .search(json!({ "query": "widget colors", "top_k": 10, "source": "two" }))
            .await;
        assert_eq!(status, 200, "{hits}");
        let found = hit_sources(&hits);
        assert_eq!(found.len() as u64, n_two, "{hits}");
        assert!(found.iter().all(|(s, _)| s == "two"), "{hits}");
        // Combined with the path-prefix filter; `filter.source` is the same as `source`.
        let (status, hits) = api
            .search(json!({
                "query": "temperature",
                "top_k": 10,
                "filter": { "path_prefix": "index.mdx", "source": "two" },
            }))
            .await;
        assert_eq!(status, 200, "{hits}");
        let found = hit_sources(&hits);
        assert!(!found.is_empty());
        assert!(
            found.iter().all(|(s, p)| s == "two" && p == "index.mdx"),
            "{hits}"
        );
        // Unfiltered search sees both.
        let (_, hits) = api.search(json!({ "query": "index", "top_k": 20 })).await;
        assert_eq!(hit_sources(&hits).len() as u64, n_alpha + n_two, "{hits}");

        // An edited file: its stale passages go, within its own source only.
        std::fs::write(one.join("index.mdx"), "# Widgets\n\nWidgets are gone.\n").unwrap();
        let (status, edited) = api.ingest(json!({ "path": one, "source": "alpha" })).await;
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["upserted"], 1, "{edited}");
        assert_eq!(edited["deleted"].as_u64().unwrap(), n_alpha, "{edited}");
        assert_eq!(
            api.sources().await,
            json!([
                { "name": "alpha", "passages": 1 },
                { "name": "two", "passages": n_two },
            ])
        );

        // Bad names are 400s, everywhere a source is named.
        for bad in ["", "a b", "../etc", "x".repeat(65).as_str(), "ünï"] {
            let (status, body) = api.ingest(json!({ "path": one, "source": bad })).await;
            assert_eq!(status, 400, "{bad:?}: {body}");
            assert_eq!(body["error"]["code"], "bad_request", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("source"),
                "{body}"
            );
            let (status, body) = api.search(json!({ "query": "q", "source": bad })).await;
            assert_eq!(status, 400, "{bad:?}: {body}");
        }
        let (status, body) = api
            .call(
                reqwest::Method::POST,
                "/v1/query",
                Some(&api.reader),
                Some(json!({ "question": "q", "source": "a b" })),
            )
            .await;
        assert_eq!(status, 400, "{body}");

        // Listing needs a token; deleting needs the ingest scope.
        let (status, _) = api
            .call(reqwest::Method::GET, "/v1/sources", None, None)
            .await;
        assert_eq!(status, 401);
        let (status, body) = api
            .call(
                reqwest::Method::DELETE,
                "/v1/sources/alpha",
                Some(&api.reader),
                None,
            )
            .await;
        assert_eq!(status, 403, "{body}");

        // A cached answer for alpha, then alpha deleted: the cache follows.
        let query = json!({ "query": "widgets", "source": "alpha" });
        let _ = api.search(query.clone()).await;
        let (_, cached) = api.search(query.clone()).await;
        assert_eq!(cached["cached"], true);
        let (status, body) = api
            .call(
                reqwest::Method::DELETE,
                "/v1/sources/alpha",
                Some(&api.writer),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["deleted"], 1, "{body}");
        assert_eq!(body["vectors"].as_u64().unwrap(), n_two, "{body}");
        let (_, after) = api.search(query).await;
        assert_eq!(after["cached"], false, "{after}");
        assert_eq!(after["hits"], json!([]), "{after}");
        assert_eq!(
            api.sources().await,
            json!([{ "name": "two", "passages": n_two }])
        );
        assert_eq!(api.vectors().await, n_two);

        // Unknown (or already deleted) sources are 404s.
        for name in ["alpha", "nope"] {
            let (status, body) = api
                .call(
                    reqwest::Method::DELETE,
                    &format!("/v1/sources/{name}"),
                    Some(&api.writer),
                    None,
                )
                .await;
            assert_eq!(status, 404, "{body}");
            assert_eq!(body["error"]["code"], "not_found", "{body}");
        }
    });
}
