//! Ingesting the run's corpus as a server job: `POST /v1/ingest` with `"wait": false`, then
//! `GET /v1/ingest/{id}` every half second until it has finished, with a progress line; the
//! job's failure (its status, code and message) is the run's error. A long ingest then needs
//! no HTTP request held open for minutes, and a run shows how far it has got.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::StackError;
use crate::load::client::{ClientError, IngestReport, decode, fetch, truncate};
use crate::output::console;

/// How often the job is polled.
const POLL: Duration = Duration::from_millis(500);

/// `GET /v1/ingest/{id}`, the parts the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct JobView {
    /// queued, running, done or failed.
    pub state: String,
    /// How far it has got.
    #[serde(default)]
    pub progress: JobProgress,
    /// What it did, once done.
    #[serde(default)]
    pub summary: Option<IngestReport>,
    /// Why it failed, once failed.
    #[serde(default)]
    pub error: Option<JobFailure>,
}

/// A job's progress counters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobProgress {
    /// waiting, reading, embedding, removing_stale, indexing, finished.
    #[serde(default)]
    pub stage: String,
    /// Files read and chunked.
    #[serde(default)]
    pub files_read: u64,
    /// Passages in all.
    #[serde(default)]
    pub passages: u64,
    /// Passages already stored unchanged.
    #[serde(default)]
    pub unchanged: u64,
    /// Passages to embed.
    #[serde(default)]
    pub to_embed: u64,
    /// Passages embedded and written so far.
    #[serde(default)]
    pub embedded: u64,
}

/// A failed job's error.
#[derive(Debug, Clone, Deserialize)]
pub struct JobFailure {
    /// The status the synchronous call would have answered.
    pub status: u16,
    /// Machine-readable code.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `202 Accepted`'s body.
#[derive(Debug, Deserialize)]
struct Started {
    job: String,
    status_url: String,
}

impl JobView {
    /// One line for a spinner: where the job is.
    pub fn line(&self) -> String {
        let p = &self.progress;
        match (self.state.as_str(), p.stage.as_str()) {
            ("queued", _) => "queued behind another ingest on the server".into(),
            (_, "reading") => format!("reading files ({} so far)", p.files_read),
            (_, "embedding") => format!(
                "embedding {}/{} passages ({} unchanged)",
                p.embedded, p.to_embed, p.unchanged
            ),
            (_, "removing_stale") => "removing stale passages".into(),
            (_, "indexing") => "building the index".into(),
            (state, _) => state.to_string(),
        }
    }
}

/// Ingests `dir` on the server at `base` as a job with `token` (which carries the `ingest`
/// scope), calling `on_progress` at every poll; gives up after `timeout`.
pub async fn ingest_job(
    base: &str,
    dir: &str,
    token: &str,
    timeout: Duration,
    mut on_progress: impl FnMut(&JobView),
) -> Result<IngestReport, StackError> {
    let base = base.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a default reqwest client builds");
    let url = format!("{base}/v1/ingest");
    let req = http
        .post(&url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .json(&serde_json::json!({ "path": dir, "wait": false }));
    let (status, body) = fetch(req, "ingest", &url).await?;
    let started: Started = match status {
        202 => decode(&body, "ingest", &url)?,
        // A server that ran it to the end anyway.
        200 => return Ok(decode(&body, "ingest", &url)?),
        _ => {
            return Err(ClientError::Status {
                what: "ingest",
                url,
                status,
                body: truncate(&body),
            }
            .into());
        }
    };
    let url = format!("{base}{}", started.status_url);
    let deadline = Instant::now() + timeout;
    loop {
        let req = http
            .get(&url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        let (status, body) = fetch(req, "ingest job", &url).await?;
        if status != 200 {
            return Err(ClientError::Status {
                what: "ingest job",
                url,
                status,
                body: truncate(&body),
            }
            .into());
        }
        let view: JobView = decode(&body, "ingest job", &url)?;
        on_progress(&view);
        match (view.state.as_str(), view.summary, view.error) {
            ("done", Some(summary), _) => return Ok(summary),
            ("failed", _, Some(e)) => {
                return Err(StackError::IngestFailed {
                    job: started.job,
                    status: e.status,
                    code: e.code,
                    message: e.message,
                });
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let progress = JobView {
                state: view.state,
                progress: view.progress,
                summary: None,
                error: None,
            }
            .line();
            return Err(StackError::IngestTimeout {
                job: started.job,
                waited: timeout.as_secs(),
                progress,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A progress callback for [`ingest_job`] in the console's style: the job's line as the
/// spinner's message after `prefix` on a terminal, else a step line every 10 s.
pub fn spinner_progress(spin: &ProgressBar, prefix: String) -> impl FnMut(&JobView) + '_ {
    let tty = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    move |view| {
        let msg = format!("{prefix}: {}", view.line());
        if tty {
            spin.set_message(msg);
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            console::step(msg);
            last_line = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_say_where_the_job_is() {
        let view = |state: &str, stage: &str| JobView {
            state: state.into(),
            progress: JobProgress {
                stage: stage.into(),
                files_read: 7,
                passages: 30,
                unchanged: 10,
                to_embed: 20,
                embedded: 12,
            },
            summary: None,
            error: None,
        };
        assert_eq!(
            view("queued", "waiting").line(),
            "queued behind another ingest on the server"
        );
        assert_eq!(
            view("running", "reading").line(),
            "reading files (7 so far)"
        );
        assert_eq!(
            view("running", "embedding").line(),
            "embedding 12/20 passages (10 unchanged)"
        );
        assert_eq!(view("running", "indexing").line(), "building the index");
    }

    #[tokio::test]
    async fn a_server_that_cannot_be_reached_is_a_call_error() {
        // Nothing listens on port 1 of loopback: the start call fails at once.
        let spin = ProgressBar::hidden();
        let result = ingest_job(
            "http://127.0.0.1:1/",
            "docs",
            "token",
            Duration::from_secs(5),
            spinner_progress(&spin, "ingesting 3 files".into()),
        )
        .await;
        spin.finish_and_clear();
        match result {
            Err(StackError::IngestCall(ClientError::Transport { what, url, .. })) => {
                assert_eq!(what, "ingest");
                assert_eq!(url, "http://127.0.0.1:1/v1/ingest");
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
    }
}
