//! The report in a real browser: headless Chromium loads it from a loopback HTTP server, takes a
//! screenshot and writes a NetLog (every network request the browser made, with the page or
//! browser service that made it). The page must load with exactly one request, itself, served
//! 200, and no failed one; external hosts do not resolve (`--host-resolver-rules`), so anything
//! the page tried to fetch from outside shows up as a failed request of the page.
//!
//! Needs Chromium (`apt-get install chromium`; `$CHROMIUM` names another binary). Without it the
//! test fails when `CI` is set and is skipped with a printed reason otherwise.
//! Set `RAGBENCH_REPORT_SCREENSHOT=path.png` to keep the screenshot (and the page, as
//! `path.html`).

mod report_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use report_common::{render_gpu_vs_cpu, temp_dir};

const PAGE: &str = "/report.html";

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    // Debian's /usr/bin/chromium is a wrapper that adds flags (remote extension updates) and
    // Google API keys (account sign-in), each of which makes background requests: run the
    // browser itself.
    let debian = Path::new("/usr/lib/chromium/chromium");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Serve `page` at `/report.html`, recording every request line; anything else gets a 404.
fn serve(listener: TcpListener, page: Vec<u8>, log: Arc<Mutex<Vec<String>>>) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let page = page.clone();
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let _ = handle(stream, &page, &log);
        });
    }
}

fn handle(stream: TcpStream, page: &[u8], log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue;
        }
        // Skip the headers (and any body: none is expected from a page load).
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        if length > 0 {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
        }
        log.lock().unwrap().push(line.clone());
        let ok = line == format!("GET {PAGE} HTTP/1.1");
        let (status, ctype, body): (&str, &str, &[u8]) = if ok {
            ("200 OK", "text/html; charset=utf-8", page)
        } else {
            ("404 Not Found", "text/plain", b"not found")
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        stream.flush()?;
        if !ok {
            return Ok(());
        }
    }
}

/// Width and height from a PNG's IHDR chunk, when `bytes` is a PNG.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    if bytes.len() < 33 || bytes[..8] != SIG || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}

fn run_chromium(chromium: &Path, url: &str, png: &Path, netlog: &Path, profile: &Path) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-breakpad",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--window-size=1280,4000",
            // No name resolves except loopback: nothing can be fetched from outside.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GOOGLE_DEFAULT_CLIENT_ID")
        .env_remove("GOOGLE_DEFAULT_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", chromium.display()));
    // A guard against a hung browser, not a timing check.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    assert!(status.success(), "chromium failed ({status}):\n{out}");
    out
}

/// One URL request from Chromium's NetLog.
#[derive(Debug, Default)]
struct NetRequest {
    url: String,
    /// `"main frame"`, `"other"`, ...
    request_type: String,
    /// The origin that asked for it (`"not an origin"` for the browser itself).
    initiator: String,
    /// `"<top frame site> <frame site>"`: the page a request belongs to.
    isolation_key: String,
    /// The response's status line, when one came.
    status: Option<String>,
    /// A net error code (negative) when the request failed.
    net_error: Option<i64>,
}

/// The URL requests in a NetLog file (`--log-net-log`).
fn read_netlog(path: &Path) -> Vec<NetRequest> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no NetLog at {}: {e}", path.display()));
    // A log cut short (browser killed) lacks its closing brackets.
    let log: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        let t = text.trim_end().trim_end_matches(',');
        serde_json::from_str(&format!("{t}]}}")).expect("the NetLog is not JSON")
    });
    let c = &log["constants"];
    let id = |table: &str, name: &str| c[table][name].as_i64().unwrap_or(-1);
    let url_request = id("logSourceType", "URL_REQUEST");
    let alive = id("logEventTypes", "REQUEST_ALIVE");
    let start_job = id("logEventTypes", "URL_REQUEST_START_JOB");
    let headers = id("logEventTypes", "HTTP_TRANSACTION_READ_RESPONSE_HEADERS");
    let mut by_id: std::collections::BTreeMap<i64, NetRequest> = Default::default();
    for e in log["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if e["source"]["type"].as_i64() != Some(url_request) {
            continue;
        }
        let r = by_id
            .entry(e["source"]["id"].as_i64().unwrap_or(-1))
            .or_default();
        let p = &e["params"];
        let t = e["type"].as_i64();
        let s = |k: &str| p[k].as_str().map(str::to_string);
        if t == Some(alive) || t == Some(start_job) {
            if let Some(u) = s("url") {
                r.url = u;
            }
            if let Some(v) = s("request_type") {
                r.request_type = v;
            }
            if let Some(v) = s("initiator") {
                r.initiator = v;
            }
            if let Some(v) = s("network_isolation_key") {
                r.isolation_key = v;
            }
        }
        if t == Some(headers) {
            r.status = p["headers"][0].as_str().map(str::to_string);
        }
        if let Some(n) = p["net_error"].as_i64() {
            r.net_error = Some(n);
        }
    }
    by_id.into_values().filter(|r| !r.url.is_empty()).collect()
}

/// What one page load in Chromium gave.
struct Loaded {
    /// The page's URL.
    url: String,
    /// Requests the page made (itself included), to any host, from the NetLog.
    page_requests: Vec<NetRequest>,
    /// Requests of the browser's own services (updates, time, accounts): not the page's.
    browser_requests: usize,
    /// Request lines the loopback server received.
    served: Vec<String>,
    /// The screenshot.
    png: PathBuf,
    /// Chromium's stderr.
    stderr: String,
}

impl Loaded {
    /// The page's requests other than the page itself, and any that failed.
    fn bad_requests(&self) -> Vec<&NetRequest> {
        self.page_requests
            .iter()
            .filter(|r| {
                r.url != self.url
                    || r.net_error.is_some()
                    || !r.status.as_deref().is_some_and(|s| s.contains(" 200"))
            })
            .collect()
    }
}

/// Chromium, or `None` after printing why the test is skipped (only when `CI` is unset).
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        let reason = "chromium is not installed (apt-get install chromium, or set CHROMIUM)";
        if std::env::var_os("CI").is_some() {
            panic!("{reason}");
        }
        eprintln!("SKIPPED {test}: {reason}");
    }
    found
}

/// Serve `page` on loopback, open it in headless Chromium, and sort out what it requested.
fn load(chromium: &Path, page: Vec<u8>, dir: &Path) -> Loaded {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    {
        let log = Arc::clone(&log);
        std::thread::spawn(move || serve(listener, page, log));
    }
    let png = dir.join("page.png");
    let netlog = dir.join("netlog.json");
    let origin = format!("http://{addr}");
    let url = format!("{origin}{PAGE}");
    let stderr = run_chromium(chromium, &url, &png, &netlog, &dir.join("profile"));

    // A request is the page's when it is the page, the page initiated it, or it belongs to the
    // page's network partition (any subresource, from any host).
    let site = "http://127.0.0.1";
    let (page_requests, browser): (Vec<NetRequest>, Vec<NetRequest>) =
        read_netlog(&netlog).into_iter().partition(|r| {
            r.url.starts_with(&origin)
                || r.initiator.starts_with(site)
                || r.isolation_key.starts_with(site)
        });
    assert!(
        page_requests
            .iter()
            .any(|r| r.url == url && r.request_type == "main frame"),
        "the page was never loaded: {page_requests:#?}\n{stderr}"
    );
    let served = log.lock().unwrap().clone();
    Loaded {
        url,
        page_requests,
        browser_requests: browser.len(),
        served,
        png,
        stderr,
    }
}

#[test]
fn report_loads_in_headless_chromium_with_no_other_request() {
    let Some(chromium) =
        chromium_or_skip("report_loads_in_headless_chromium_with_no_other_request")
    else {
        return;
    };
    let dir = temp_dir("report-browser");
    let report = render_gpu_vs_cpu(&dir);
    let loaded = load(&chromium, std::fs::read(&report).unwrap(), &dir);
    eprintln!(
        "NetLog: {} request(s) of the page, {} of the browser's own services",
        loaded.page_requests.len(),
        loaded.browser_requests
    );

    let bad = loaded.bad_requests();
    assert!(
        bad.is_empty(),
        "the report must load nothing but itself, and that without error: {bad:#?}"
    );
    assert!(
        !loaded.served.is_empty()
            && loaded
                .served
                .iter()
                .all(|l| l == &format!("GET {PAGE} HTTP/1.1")),
        "the loopback server saw other requests: {:?}",
        loaded.served
    );

    let png = &loaded.png;
    let bytes = std::fs::read(png)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", png.display(), loaded.stderr));
    let (w, h) = png_size(&bytes).expect("the screenshot is not a PNG");
    assert_eq!((w, h), (1280, 4000), "screenshot size");
    // A blank 1280x4000 page compresses to a few KB; charts and tables make it far larger.
    assert!(
        bytes.len() > 100_000,
        "screenshot is only {} bytes",
        bytes.len()
    );

    if let Some(keep) = std::env::var_os("RAGBENCH_REPORT_SCREENSHOT") {
        let keep = PathBuf::from(keep);
        std::fs::copy(png, &keep).unwrap();
        std::fs::copy(&report, keep.with_extension("html")).unwrap();
        eprintln!(
            "screenshot kept at {} (page: {})",
            keep.display(),
            keep.with_extension("html").display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check above would see a page that fetches anything: a stylesheet from another host, an
/// image from the same server.
#[test]
fn a_page_that_fetches_anything_else_is_caught() {
    let Some(chromium) = chromium_or_skip("a_page_that_fetches_anything_else_is_caught") else {
        return;
    };
    let dir = temp_dir("report-browser-leak");
    let page = concat!(
        "<!DOCTYPE html><html><head><link rel=\"icon\" href=\"data:,\">",
        "<link rel=\"stylesheet\" href=\"https://cdn.example.com/style.css\"></head>",
        "<body><p>leaky</p><img src=\"/logo.png\"></body></html>"
    );
    let loaded = load(&chromium, page.as_bytes().to_vec(), &dir);
    let bad: Vec<&str> = loaded
        .bad_requests()
        .iter()
        .map(|r| r.url.as_str())
        .collect();
    assert!(
        bad.iter()
            .any(|u| u.starts_with("https://cdn.example.com/")),
        "the external stylesheet was not seen: {bad:?}"
    );
    assert!(
        bad.iter().any(|u| u.ends_with("/logo.png")),
        "the image was not seen: {bad:?}"
    );
    assert!(loaded.served.iter().any(|l| l.contains("/logo.png")));
    let _ = std::fs::remove_dir_all(&dir);
}
