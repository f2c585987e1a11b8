//! A local GGUF model through llama.cpp (SmolLM2-135M-Instruct by default).

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;

use super::{GenerateError, Generation, Generator, render_prompt};
use crate::assets::AssetCache;
use crate::backend::{BackendInfo, BackendState};
use crate::config::GeneratorConfig;
use crate::store::Hit;

/// llama.cpp may be initialised once per process.
static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend, GenerateError> {
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| GenerateError::Load(format!("llama.cpp backend: {e}")))
}

/// The default generator.
pub struct LlamaGenerator {
    inner: Arc<Inner>,
    detail: String,
}

struct Inner {
    model: LlamaModel,
    template: LlamaChatTemplate,
    cfg: GeneratorConfig,
    threads: i32,
    // CPU inference already uses every core: running two at once only slows both, so
    // requests take turns (the handler's queue bounds how many wait).
    turn: Mutex<()>,
}

impl LlamaGenerator {
    /// Loads the GGUF named by `cfg`, or the cached SmolLM2.
    pub fn load(cfg: &GeneratorConfig, assets: &AssetCache) -> Result<Self, GenerateError> {
        let path: PathBuf = match &cfg.model_path {
            Some(path) => path.clone(),
            None => assets
                .answer_model()
                .map_err(|e| GenerateError::Load(e.to_string()))?,
        };
        if !path.is_file() {
            return Err(GenerateError::Load(format!(
                "{} does not exist; set [generator] model_path to a GGUF file",
                path.display()
            )));
        }
        let model = LlamaModel::load_from_file(backend()?, &path, &LlamaModelParams::default())
            .map_err(|e| GenerateError::Load(format!("{}: {e}", path.display())))?;
        let template = model.chat_template(None).map_err(|e| {
            GenerateError::Load(format!("{} has no chat template: {e}", path.display()))
        })?;
        let threads = cfg
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            as i32;
        Ok(Self {
            detail: format!(
                "{} (llama.cpp, {} threads)",
                path.file_name().unwrap_or_default().to_string_lossy(),
                threads
            ),
            inner: Arc::new(Inner {
                model,
                template,
                cfg: cfg.clone(),
                threads,
                turn: Mutex::new(()),
            }),
        })
    }
}

impl Inner {
    /// Builds the chat prompt with as many passages as fit the token budget.
    fn prompt(&self, question: &str, passages: &[Hit]) -> Result<(String, usize), GenerateError> {
        let budget = self.cfg.context_budget_tokens as usize;
        let mut used = passages.len();
        loop {
            let user = render_prompt(&self.cfg.prompt_template, question, &passages[..used]);
            let chat = [
                LlamaChatMessage::new("system".into(), self.cfg.system_prompt.clone()),
                LlamaChatMessage::new("user".into(), user),
            ]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| GenerateError::Inference(format!("prompt: {e}")))?;
            let text = self
                .model
                .apply_chat_template(&self.template, &chat, true)
                .map_err(|e| GenerateError::Inference(format!("chat template: {e}")))?;
            let tokens = self
                .model
                .vocab()
                .tokenize(text.as_bytes(), false, true)
                .len();
            if tokens <= budget + 256 || used <= 1 {
                return Ok((text, used));
            }
            used -= 1;
        }
    }

    /// Writes the answer; stops early (an error nobody reads) once `cancel` is set, i.e. when
    /// the caller gave up waiting.
    fn generate(
        &self,
        question: &str,
        passages: &[Hit],
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        let cancelled = || GenerateError::Inference("cancelled: the caller stopped waiting".into());
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let infer = |what: &str, e: &dyn std::fmt::Display| {
            GenerateError::Inference(format!("{what}: {e}"))
        };
        let (prompt, passages_used) = self.prompt(question, passages)?;
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(prompt.as_bytes(), false, true);
        let n_ctx = self.cfg.context_tokens.max(256);
        let max_new = self.cfg.max_tokens.max(1);
        // Keep the end of the prompt (the question) when it would not fit.
        let room = (n_ctx - max_new.min(n_ctx / 2)) as usize;
        if tokens.len() > room {
            tokens.drain(..tokens.len() - room);
        }
        let prompt_tokens = tokens.len() as u32;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_ctx)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let mut ctx = self
            .model
            .new_context(backend()?, params)
            .map_err(|e| infer("context", &e))?;
        let mut batch = LlamaBatch::new(n_ctx as usize, 1);
        let last = tokens.len() - 1;
        for (i, token) in tokens.iter().enumerate() {
            batch
                .add(*token, i as i32, &[0], i == last)
                .map_err(|e| infer("batch", &e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| infer("prompt decode", &e))?;
        let mut sampler = if self.cfg.temperature <= 0.0 {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([
                LlamaSampler::temp(self.cfg.temperature),
                LlamaSampler::dist(self.cfg.seed),
            ])
        };
        let mut out = Vec::<u8>::new();
        let mut generated = 0u32;
        let mut pos = tokens.len() as i32;
        while generated < max_new && (pos as u32) < n_ctx {
            if cancel.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            sampler.accept(token);
            if vocab.is_eog(token) {
                break;
            }
            out.extend(vocab.token_to_piece(token, false, None));
            generated += 1;
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| infer("batch", &e))?;
            pos += 1;
            ctx.decode(&mut batch).map_err(|e| infer("decode", &e))?;
        }
        Ok(Generation {
            text: String::from_utf8_lossy(&out).trim().to_string(),
            tokens: generated,
            prompt_tokens,
            passages_used,
        })
    }
}

#[async_trait::async_trait]
impl Generator for LlamaGenerator {
    async fn generate(
        &self,
        question: &str,
        passages: &[Hit],
    ) -> Result<Generation, GenerateError> {
        let inner = Arc::clone(&self.inner);
        let question = question.to_string();
        let passages = passages.to_vec();
        // The blocking task cannot be aborted; when this future is dropped (the deadline of
        // `GuardedGenerator` passed) the flag tells it to stop at the next token and free
        // the model for the requests behind it.
        let cancel = Arc::new(AtomicBool::new(false));
        let _on_drop = CancelOnDrop(Arc::clone(&cancel));
        tokio::task::spawn_blocking(move || inner.generate(&question, &passages, &cancel))
            .await
            .map_err(|e| GenerateError::Inference(e.to_string()))?
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "llama.cpp".into(),
            state: BackendState::Up,
            detail: self.detail.clone(),
        }
    }
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
