//! Closed-loop load with goose 0.19: `vus` virtual users, each sending its next request when
//! the previous one returned (after an optional think time), like k6's VUs.
//!
//! Goose is driven fully in code (`GooseAttack::initialize_with_config`, argv never read),
//! with its telnet and WebSocket controllers off. Each user runs one transaction that picks
//! an endpoint from the workload mix, so the mix holds request by request. The harness's own
//! HDR histograms are fed from inside the transaction (goose's metrics are kept for its own
//! reports only): latency runs from just before the request to the end of the body.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use goose::config::GooseConfiguration;
use goose::goose::{GooseMethod, GooseRequest, GooseUser, Transaction, TransactionFunction};
use goose::prelude::{GooseAttack, Scenario, TransactionResult};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use super::{LoadContext, LoadError, LoadOutcome, Window, timeline};
use crate::load::client::read_response;
use crate::measure::recorder::Outcome;

struct UserCtx {
    ctx: LoadContext,
    think_time: Duration,
}

/// Runs the closed loop.
pub async fn run(
    ctx: &LoadContext,
    vus: u32,
    think_time: Duration,
) -> Result<(Window, LoadOutcome), LoadError> {
    let reports = [
        ctx.run_dir.join("goose-report.json"),
        ctx.run_dir.join("goose-report.md"),
    ];
    let attack = attack(ctx, vus, think_time, &reports)?;

    let load_started = Instant::now();
    let load_started_at = Utc::now();
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let goose = tokio::spawn(async move {
        let result = attack.execute().await;
        let _ = done_tx.send(true);
        result
    });
    let stop = async move {
        let _ = done_rx.wait_for(|done| *done).await;
    };
    let (window, stopped_early) = timeline(ctx, load_started, load_started_at, stop).await;
    let result = goose
        .await
        .map_err(|e| LoadError::Generator(format!("the goose task failed: {e}")))?;
    let metrics = match result {
        Ok(m) => m,
        Err(e) => return Err(LoadError::Generator(e.to_string())),
    };
    let goose_requests: u64 = metrics
        .requests
        .values()
        .map(|r| r.raw_data.counter as u64)
        .sum();
    Ok((
        window,
        LoadOutcome {
            planned: None,
            dropped: None,
            goose_requests: Some(goose_requests),
            goose_reports: written(&reports),
            stopped_early: stopped_early
                .then(|| "goose stopped before the window ended (ctrl-c or an error)".into()),
        },
    ))
}

/// The goose attack: `vus` users, each running the mix transaction, writing its own reports
/// to `reports`.
fn attack(
    ctx: &LoadContext,
    vus: u32,
    think_time: Duration,
    reports: &[PathBuf],
) -> Result<GooseAttack, LoadError> {
    // Users start within about a second; goose's run time counts from when all have
    // started, so it outlasts the harness's own window, which closes the measurement.
    let run_secs = (ctx.warmup + ctx.duration).as_secs_f64().ceil() as u64 + 2;
    let mut args: Vec<String> = vec![
        "--host".into(),
        ctx.base_url.clone(),
        "--users".into(),
        vus.to_string(),
        "--increase-rate".into(),
        (vus.max(1) * 4).to_string(),
        "--run-time".into(),
        run_secs.to_string(),
        "--timeout".into(),
        format!("{:.3}", ctx.request_timeout.as_secs_f64()),
        "--no-telnet".into(),
        "--no-print-metrics".into(),
        "--no-error-summary".into(),
        "--quiet".into(),
    ];
    for report in reports {
        args.extend(["--report-file".into(), report.display().to_string()]);
    }
    let config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| LoadError::Generator(format!("configuration refused: {e}")))?;

    let user_ctx = Arc::new(UserCtx {
        ctx: ctx.clone(),
        think_time,
    });
    let function: TransactionFunction = Arc::new(move |user: &mut GooseUser| {
        let uc = user_ctx.clone();
        Box::pin(async move { one_request(&uc, user).await })
    });
    let transaction = Transaction::new(function).set_name("mix");
    Ok(GooseAttack::initialize_with_config(config)
        .map_err(|e| LoadError::Generator(e.to_string()))?
        .register_scenario(Scenario::new("ragbench").register_transaction(transaction)))
}

/// The names of the report files goose wrote (relative to the run folder).
fn written(reports: &[PathBuf]) -> Vec<String> {
    reports
        .iter()
        .filter(|p| p.exists())
        .filter_map(|p| p.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

async fn one_request(uc: &UserCtx, user: &mut GooseUser) -> TransactionResult {
    let ctx = &uc.ctx;
    let plan = {
        let mut rng = rand::rng();
        ctx.workload.next(&mut rng)
    };
    let token = if plan.bad_token {
        ctx.bad_token.as_str()
    } else {
        ctx.tokens[user.weighted_users_index % ctx.tokens.len()].as_str()
    };
    let method = if plan.endpoint.is_post() {
        GooseMethod::Post
    } else {
        GooseMethod::Get
    };
    let path = plan.endpoint.path();
    let mut builder = user.get_request_builder(&method, path)?;
    if plan.endpoint.authenticated() {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(body) = plan.body.clone() {
        builder = builder.header(CONTENT_TYPE, "application/json").body(body);
    }
    let mut request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(plan.endpoint.name())
        .set_request_builder(builder);
    if plan.bad_token {
        request = request.expect_status_code(401);
    }
    let started = Instant::now();
    let goose = user.request(request.build()).await?;
    let sent = read_response(goose.response).await;
    ctx.recorder.record(&Outcome {
        endpoint: plan.endpoint,
        bad_token: plan.bad_token,
        started,
        latency: started.elapsed(),
        status: sent.status,
        server_timing: sent.server_timing.as_deref(),
    });
    if !uc.think_time.is_zero() {
        tokio::time::sleep(uc.think_time).await;
    }
    Ok(())
}
