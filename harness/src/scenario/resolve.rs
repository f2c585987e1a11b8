//! From a [`ScenarioFile`] as written to a [`Scenario`] ready to run: defaults filled in,
//! command-line overrides applied, every value checked. One function per table, in the order
//! errors are reported: thresholds first (a bad rule is reported before anything is read or
//! started), then stack, load, workload, server and corpus.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Arrival, LoadMode, Loop, Mix, Overrides, Scenario, ScenarioError, ScenarioFile, Stack,
    StackKind, WorkloadSection, parse,
};
use crate::stack::containers::settings as containers;
use crate::units::parse_duration;
use crate::verdict::rules::{self, Rule};

/// Applies defaults and overrides, and validates.
pub fn resolve(
    path: &Path,
    file: ScenarioFile,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let rel = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base_dir.join(p) }
    };
    let name = resolve_name(path, &file)?;
    let rules = resolve_rules(path, &file, overrides)?;
    let (stack, startup_timeout) = resolve_stack(path, &file, overrides)?;
    let load = resolve_load(path, &file, overrides)?;
    let questions_file = rel(file
        .workload
        .questions
        .as_deref()
        .unwrap_or("questions.txt"));
    let workload = resolve_workload(path, &file.workload, &questions_file)?;
    let corpus = resolve_server_and_corpus(path, &file, overrides, &stack)?;
    let eval = resolve_eval(path, file.eval.as_ref(), &rel)?;
    let sweep = resolve_sweep(path, file.sweep.as_ref())?;

    Ok(Scenario {
        name,
        description: file.description,
        file: path.to_path_buf(),
        stack,
        jwt_secret_env: file
            .stack
            .jwt_secret_env
            .unwrap_or_else(|| "RAGBENCH_JWT_SECRET".into()),
        startup_timeout,
        generator: corpus.generator,
        server_config: file.server.config.as_deref().map(rel),
        server_env: file.server.env,
        corpus_path: file.corpus.path.as_deref().map(rel),
        corpus_prefix: overrides
            .corpus_prefix
            .clone()
            .or(file.corpus.prefix.clone()),
        corpus_limit: corpus.limit,
        ingest: corpus.ingest,
        ingest_timeout: corpus.ingest_timeout,
        reuse_store: !overrides.fresh_store && file.corpus.reuse_store.unwrap_or(true),
        mode: load.mode,
        duration: load.duration,
        warmup: load.warmup,
        request_timeout: load.request_timeout,
        mix: workload.mix,
        questions: workload.questions,
        query_questions: workload.query_questions,
        top_k: file.workload.top_k,
        fresh_share: workload.fresh_share,
        bad_token_share: workload.bad_token_share,
        prime: workload.prime,
        rules,
        eval,
        sweep,
    })
}

/// `[sweep]`: its values over the defaults, checked as `harness sweep`'s flags are.
fn resolve_sweep(
    path: &Path,
    section: Option<&crate::sweep::SweepSection>,
) -> Result<Option<crate::sweep::SweepSettings>, ScenarioError> {
    section
        .map(|s| crate::sweep::SweepSettings::default().apply(s))
        .transpose()
        .map_err(|e| invalid(path, &format!("sweep.{}", e.key), e.message))
}

/// `[eval]`: the built-in sets by name, and a BEIR folder relative to the file.
fn resolve_eval(
    path: &Path,
    section: Option<&super::EvalSection>,
    rel: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<crate::eval::EvalPlan>, ScenarioError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let mut descriptions = section.sets.is_none();
    for name in section.sets.iter().flatten() {
        match name.as_str() {
            crate::eval::descriptions::SET_NAME => descriptions = true,
            other => {
                return Err(invalid(
                    path,
                    "eval.sets",
                    format!(
                        "unknown set `{other}`: the built-in set is `descriptions`; give a \
                         labeled set of your own with `beir = \"DIR\"`"
                    ),
                ));
            }
        }
    }
    let beir = section.beir.as_deref().map(rel);
    if !descriptions && beir.is_none() {
        return Err(invalid(
            path,
            "eval.sets",
            "no labeled set: list `descriptions`, or give `beir = \"DIR\"`",
        ));
    }
    Ok(Some(crate::eval::EvalPlan { descriptions, beir }))
}

/// The scenario's name: it names the run's folder.
fn resolve_name(path: &Path, file: &ScenarioFile) -> Result<String, ScenarioError> {
    let name = file.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(invalid(
            path,
            "name",
            format!(
                "`{name}` must be non-empty and use only letters, digits, `-`, `_` and `.`: it names the run's folder"
            ),
        ));
    }
    Ok(name)
}

/// The file's threshold rules (unless `--no-thresholds`) and `--threshold`'s, parsed.
fn resolve_rules(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
) -> Result<Vec<Rule>, ScenarioError> {
    let mut rule_texts: Vec<String> = if overrides.no_thresholds {
        Vec::new()
    } else {
        file.thresholds.clone()
    };
    rule_texts.extend(overrides.thresholds.iter().cloned());
    rule_texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            rules::parse_rule(text)
                .map_err(|e| invalid(path, &format!("thresholds[{i}]"), format!("`{text}`: {e}")))
        })
        .collect()
}

/// `[stack]`: where the load goes, and how long an embedded server may take to start.
fn resolve_stack(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
) -> Result<(StackKind, Duration), ScenarioError> {
    let base_url = overrides
        .base_url
        .clone()
        .or_else(|| file.stack.base_url.clone());
    let stack = match (file.stack.kind, &overrides.base_url) {
        (_, Some(url)) => StackKind::External {
            base_url: url.clone(),
        },
        (Stack::Embedded, None) => StackKind::Embedded,
        (Stack::External, None) => match base_url {
            Some(url) => StackKind::External { base_url: url },
            None => {
                return Err(invalid(
                    path,
                    "stack.base_url",
                    "an external stack needs the server's URL: set `base_url = \"http://host:port\"` or pass --base-url",
                ));
            }
        },
        (Stack::Containers, None) => StackKind::Containers(
            containers::resolve(containers::keys(&file.stack), &file.server.env)
                .map_err(|(field, message)| invalid(path, &field, message))?,
        ),
    };
    if file.stack.kind != Stack::Containers {
        containers::reject_elsewhere(containers::keys(&file.stack), file.stack.kind.name())
            .map_err(|(field, message)| invalid(path, &field, message))?;
    }
    if let StackKind::External { base_url } = &stack
        && !(base_url.starts_with("http://") || base_url.starts_with("https://"))
    {
        return Err(invalid(
            path,
            "stack.base_url",
            format!("`{base_url}` is not an http(s) URL: write e.g. http://127.0.0.1:8080"),
        ));
    }
    let startup_timeout = duration_field(
        path,
        "stack.startup_timeout",
        file.stack.startup_timeout.as_deref(),
        Duration::from_secs(15 * 60),
    )?;
    Ok((stack, startup_timeout))
}

/// `[load]`, resolved.
struct Load {
    mode: LoadMode,
    duration: Duration,
    warmup: Duration,
    request_timeout: Duration,
}

/// `[load]`: the window's durations and the load shape.
fn resolve_load(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
) -> Result<Load, ScenarioError> {
    let l = &file.load;
    let duration = duration_field(
        path,
        "load.duration",
        overrides.duration.as_deref().or(l.duration.as_deref()),
        Duration::from_secs(30),
    )?;
    if duration < Duration::from_secs(1) {
        return Err(invalid(
            path,
            "load.duration",
            "the measured window must be at least 1s",
        ));
    }
    let warmup = duration_field(
        path,
        "load.warmup",
        overrides.warmup.as_deref().or(l.warmup.as_deref()),
        Duration::from_secs(5),
    )?;
    let request_timeout = duration_field(
        path,
        "load.request_timeout",
        l.request_timeout.as_deref(),
        Duration::from_secs(60),
    )?;
    Ok(Load {
        mode: resolve_mode(path, file, overrides)?,
        duration,
        warmup,
        request_timeout,
    })
}

/// Closed loop (virtual users) or open loop (arrival rate), from the file and the flags.
fn resolve_mode(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
) -> Result<LoadMode, ScenarioError> {
    let l = &file.load;
    let think_time = duration_field(
        path,
        "load.think_time",
        overrides.think_time.as_deref().or(l.think_time.as_deref()),
        Duration::ZERO,
    )?;
    if overrides.vus.is_some() && overrides.rate.is_some() {
        return Err(invalid(
            path,
            "load",
            "--vus (closed loop) and --rate (open loop) exclude each other: pass one",
        ));
    }
    let mode = if overrides.vus.is_some() {
        Loop::Closed
    } else if overrides.rate.is_some() {
        Loop::Open
    } else {
        l.mode.unwrap_or(if l.rate.is_some() {
            Loop::Open
        } else {
            Loop::Closed
        })
    };
    match mode {
        Loop::Closed => {
            let vus = overrides.vus.or(l.vus).unwrap_or(10);
            if vus == 0 {
                return Err(invalid(path, "load.vus", "needs at least 1 virtual user"));
            }
            Ok(LoadMode::Closed { vus, think_time })
        }
        Loop::Open => resolve_open(path, file, overrides),
    }
}

/// The open loop's rate, arrival process and in-flight cap.
fn resolve_open(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
) -> Result<LoadMode, ScenarioError> {
    let l = &file.load;
    let rate = overrides.rate.or(l.rate).ok_or_else(|| {
        invalid(
            path,
            "load.rate",
            "open-loop mode needs a rate: `rate = 200.0` (requests per second) or --rate",
        )
    })?;
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(invalid(
            path,
            "load.rate",
            format!("{rate} is not a rate: give requests per second above 0"),
        ));
    }
    let arrival = match &overrides.arrival {
        Some(flag) => {
            parse::variant("load.arrival", flag).map_err(|m| invalid(path, "load.arrival", m))?
        }
        None => l.arrival.unwrap_or(Arrival::Constant),
    };
    let max_in_flight = overrides.max_in_flight.or(l.max_in_flight).unwrap_or(256);
    if max_in_flight == 0 {
        return Err(invalid(path, "load.max_in_flight", "must be at least 1"));
    }
    Ok(LoadMode::Open {
        rate,
        arrival,
        max_in_flight,
    })
}

/// `[workload]`, resolved.
struct Workload {
    mix: Mix,
    questions: Vec<String>,
    query_questions: usize,
    fresh_share: f64,
    bad_token_share: f64,
    prime: bool,
}

/// `[workload]`: the mix, the question set (read from `questions_file`) and the shares.
fn resolve_workload(
    path: &Path,
    w: &WorkloadSection,
    questions_file: &Path,
) -> Result<Workload, ScenarioError> {
    let mix = if w.search.is_none() && w.query.is_none() && w.health.is_none() {
        Mix {
            search: 100,
            query: 0,
            health: 0,
        }
    } else {
        Mix {
            search: w.search.unwrap_or(0),
            query: w.query.unwrap_or(0),
            health: w.health.unwrap_or(0),
        }
    };
    if mix.search + mix.query + mix.health == 0 {
        return Err(invalid(
            path,
            "workload",
            "every weight is 0: give at least one of search, query, health a weight",
        ));
    }
    let questions = read_questions(path, questions_file)?;
    let query_questions = w
        .query_questions
        .unwrap_or(questions.len())
        .clamp(1, questions.len());
    if let Some(k) = w.top_k
        && !(1..=50).contains(&k)
    {
        return Err(invalid(
            path,
            "workload.top_k",
            format!("{k} is out of range: the server accepts 1..=50"),
        ));
    }
    Ok(Workload {
        mix,
        questions,
        query_questions,
        fresh_share: share(path, "workload.fresh_share", w.fresh_share)?,
        bad_token_share: share(path, "workload.bad_token_share", w.bad_token_share)?,
        prime: w.prime.unwrap_or(mix.query > 0),
    })
}

/// The question set: one a line, blank lines and `#` comments skipped.
fn read_questions(path: &Path, questions_file: &Path) -> Result<Vec<String>, ScenarioError> {
    let questions_text =
        std::fs::read_to_string(questions_file).map_err(|source| ScenarioError::Referenced {
            path: path.display().to_string(),
            field: "workload.questions".into(),
            file: questions_file.display().to_string(),
            source,
        })?;
    let questions: Vec<String> = questions_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if questions.is_empty() {
        return Err(invalid(
            path,
            "workload.questions",
            format!(
                "{} has no questions: write one per line",
                questions_file.display()
            ),
        ));
    }
    Ok(questions)
}

/// `[server]` and `[corpus]`, resolved.
struct Corpus {
    generator: bool,
    ingest: bool,
    ingest_timeout: Duration,
    limit: Option<usize>,
}

/// `[server]` and `[corpus]`: the generator, the environment check and what to ingest.
fn resolve_server_and_corpus(
    path: &Path,
    file: &ScenarioFile,
    overrides: &Overrides,
    stack: &StackKind,
) -> Result<Corpus, ScenarioError> {
    let generator = if overrides.no_generator {
        false
    } else {
        file.server.generator.unwrap_or(true)
    };
    if file.server.env.contains_key("RAGBENCH_JWT_SECRET") {
        return Err(invalid(
            path,
            "server.env",
            "RAGBENCH_JWT_SECRET is set by the harness (a fresh secret per run); remove it",
        ));
    }
    let ingest = file.corpus.ingest.unwrap_or(matches!(
        stack,
        StackKind::Embedded | StackKind::Containers(_)
    ));
    let ingest_timeout = duration_field(
        path,
        "corpus.ingest_timeout",
        file.corpus.ingest_timeout.as_deref(),
        Duration::from_secs(30 * 60),
    )?;
    let limit = overrides.corpus_limit.or(file.corpus.limit);
    if limit == Some(0) {
        return Err(invalid(
            path,
            "corpus.limit",
            "0 files would ingest nothing: give at least 1, or remove the key for the whole corpus",
        ));
    }
    Ok(Corpus {
        generator,
        ingest,
        ingest_timeout,
        limit,
    })
}

fn invalid(path: &Path, field: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.display().to_string(),
        field: field.into(),
        message: message.into(),
    }
}

fn duration_field(
    path: &Path,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ScenarioError> {
    match value {
        None => Ok(default),
        Some(v) => parse_duration(v).map_err(|m| invalid(path, field, m)),
    }
}

fn share(path: &Path, field: &str, value: Option<f64>) -> Result<f64, ScenarioError> {
    let v = value.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&v) || !v.is_finite() {
        return Err(invalid(
            path,
            field,
            format!("{v} is not a share: write a fraction between 0 and 1 (0.05 = 5 %)"),
        ));
    }
    Ok(v)
}
