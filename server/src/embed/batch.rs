//! Dynamic batching: concurrent embedding requests share one forward pass.
//!
//! A GPU runs one query in about the time it runs sixty-four, so requests that arrive together
//! should ride together. The shape is text-embeddings-inference's (`core/src/queue.rs`,
//! `core/src/infer.rs`): requests wait in a bounded queue (full: [`EmbedError::Overloaded`],
//! a 429); a queue thread takes whatever is waiting, up to `max_batch_requests` sequences and
//! `max_batch_tokens` padded tokens, into one batch; the model runs on its own thread, and a
//! channel of capacity one lets the next batch form while the current one runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::EmbedError;

/// A model that embeds a batch of tokenized sequences (unpadded token ids), in order.
pub trait BatchModel: Send + 'static {
    /// One forward pass over `batch`; one unit vector per sequence.
    fn embed(&mut self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// How big a batch may grow and how many requests may wait.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Sequences in one forward pass.
    pub max_batch_requests: usize,
    /// Padded tokens in one forward pass (longest sequence x sequences).
    pub max_batch_tokens: usize,
    /// Requests waiting for a batch; beyond it a query is refused with 429.
    pub max_queue: usize,
}

/// One request: a query (one sequence) or an ingestion chunk (several).
struct Entry {
    sequences: Vec<Vec<u32>>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

impl Entry {
    fn longest(&self) -> usize {
        self.sequences.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// The queue's front door; the threads behind it stop when it is dropped.
pub struct Batcher {
    queue: mpsc::Sender<Entry>,
    waiting: Arc<AtomicUsize>,
}

impl Batcher {
    /// Starts the queue thread and the model thread.
    pub fn start(model: impl BatchModel, limits: BatchLimits) -> Self {
        let (queue, requests) = mpsc::channel(limits.max_queue.max(1));
        // Capacity one: the next batch forms while the model runs the current one.
        let (batches, model_inbox) = std_mpsc::sync_channel::<Vec<Entry>>(1);
        let waiting = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&waiting);
        std::thread::Builder::new()
            .name("embed-queue".into())
            .spawn(move || form_batches(requests, batches, limits, counter))
            .expect("spawning the embedding queue thread");
        std::thread::Builder::new()
            .name("embed-model".into())
            .spawn(move || run_batches(model, model_inbox))
            .expect("spawning the embedding model thread");
        metrics::gauge!("ragbench_embed_queue_depth").set(0.0);
        Self { queue, waiting }
    }

    /// Embeds one query; refused at once with [`EmbedError::Overloaded`] when the queue is full.
    pub async fn embed_one(&self, sequence: Vec<u32>) -> Result<Vec<f32>, EmbedError> {
        let (reply, answer) = oneshot::channel();
        let entry = Entry {
            sequences: vec![sequence],
            reply,
        };
        self.queue.try_send(entry).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!("ragbench_embed_rejected_total").increment(1);
                EmbedError::Overloaded(format!(
                    "{} embedding requests are already waiting ([embedder] max_queue)",
                    self.queue.max_capacity()
                ))
            }
            mpsc::error::TrySendError::Closed(_) => stopped(),
        })?;
        self.enqueued();
        let mut vectors = answer.await.map_err(|_| stopped())??;
        vectors
            .pop()
            .ok_or_else(|| EmbedError::Inference("the model returned no vector".into()))
    }

    /// Embeds several sequences as one request; waits for room in the queue (ingestion is
    /// back-pressured, not refused).
    pub async fn embed_many(&self, sequences: Vec<Vec<u32>>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Entry { sequences, reply })
            .await
            .map_err(|_| stopped())?;
        self.enqueued();
        answer.await.map_err(|_| stopped())?
    }

    fn enqueued(&self) {
        let depth = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("ragbench_embed_queue_depth").set(depth as f64);
    }
}

fn stopped() -> EmbedError {
    EmbedError::Inference("the embedding model thread has stopped (see the server log)".into())
}

/// The queue thread: takes what is waiting into batches within the limits.
fn form_batches(
    mut requests: mpsc::Receiver<Entry>,
    batches: std_mpsc::SyncSender<Vec<Entry>>,
    limits: BatchLimits,
    waiting: Arc<AtomicUsize>,
) {
    let mut held: Option<Entry> = None;
    loop {
        let Some(first) = held.take().or_else(|| requests.blocking_recv()) else {
            return; // every sender dropped: the embedder is gone
        };
        let mut sequences = first.sequences.len();
        let mut longest = first.longest();
        let mut batch = vec![first];
        while let Ok(next) = requests.try_recv() {
            let grown_longest = longest.max(next.longest());
            let grown_sequences = sequences + next.sequences.len();
            if grown_sequences > limits.max_batch_requests
                || grown_sequences * grown_longest > limits.max_batch_tokens
            {
                held = Some(next);
                break;
            }
            (sequences, longest) = (grown_sequences, grown_longest);
            batch.push(next);
        }
        // A held entry left the channel but still waits, so only the batch leaves the count.
        let depth = waiting
            .fetch_sub(batch.len(), Ordering::Relaxed)
            .saturating_sub(batch.len());
        metrics::gauge!("ragbench_embed_queue_depth").set(depth as f64);
        metrics::histogram!("ragbench_embed_batch_sequences").record(sequences as f64);
        metrics::histogram!("ragbench_embed_batch_padded_tokens")
            .record((sequences * longest) as f64);
        if batches.send(batch).is_err() {
            return; // the model thread died; its replies already said so
        }
    }
}

/// The model thread: runs each batch and answers every request in it.
fn run_batches(mut model: impl BatchModel, batches: std_mpsc::Receiver<Vec<Entry>>) {
    for batch in batches {
        let started = Instant::now();
        let all: Vec<Vec<u32>> = batch
            .iter()
            .flat_map(|entry| entry.sequences.iter().cloned())
            .collect();
        let result = model.embed(&all);
        metrics::histogram!("ragbench_embed_batch_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(vectors) if vectors.len() == all.len() => {
                let mut vectors = vectors.into_iter();
                for entry in batch {
                    let mine = vectors.by_ref().take(entry.sequences.len()).collect();
                    let _ = entry.reply.send(Ok(mine));
                }
            }
            Ok(vectors) => {
                let message = format!(
                    "the model returned {} vectors for {}",
                    vectors.len(),
                    all.len()
                );
                for entry in batch {
                    let _ = entry
                        .reply
                        .send(Err(EmbedError::Inference(message.clone())));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for entry in batch {
                    let _ = entry
                        .reply
                        .send(Err(EmbedError::Inference(message.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Test double: records each batch's size and embeds a sequence as [its length, first id],
    /// after a fixed service time so requests pile up behind a running batch.
    struct RecordingModel {
        batches: Arc<Mutex<Vec<usize>>>,
        service: Duration,
    }

    impl BatchModel for RecordingModel {
        fn embed(&mut self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
            std::thread::sleep(self.service);
            self.batches.lock().unwrap().push(batch.len());
            Ok(batch
                .iter()
                .map(|s| vec![s.len() as f32, s.first().copied().unwrap_or(0) as f32])
                .collect())
        }
    }

    fn batcher(limits: BatchLimits, service_ms: u64) -> (Arc<Batcher>, Arc<Mutex<Vec<usize>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let model = RecordingModel {
            batches: Arc::clone(&batches),
            service: Duration::from_millis(service_ms),
        };
        (Arc::new(Batcher::start(model, limits)), batches)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_queries_share_batches_and_get_their_own_vectors() {
        let limits = BatchLimits {
            max_batch_requests: 8,
            max_batch_tokens: 10_000,
            max_queue: 1_000,
        };
        let (batcher, batches) = batcher(limits, 20);
        let tasks: Vec<_> = (1..=40u32)
            .map(|i| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move {
                    let v = batcher.embed_one(vec![i; i as usize]).await.unwrap();
                    (i, v)
                })
            })
            .collect();
        for task in tasks {
            let (i, v) = task.await.unwrap();
            assert_eq!(
                v,
                vec![i as f32, i as f32],
                "request {i} got another's vector"
            );
        }
        let sizes = batches.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(
            sizes.iter().all(|&n| n <= 8),
            "a batch over the limit: {sizes:?}"
        );
        assert!(
            sizes.len() < 40,
            "no request was batched with another: {sizes:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn padded_tokens_bound_a_batch() {
        let limits = BatchLimits {
            max_batch_requests: 64,
            max_batch_tokens: 100,
            max_queue: 1_000,
        };
        let (batcher, batches) = batcher(limits, 10);
        // Each is 40 tokens: two fit in 100 padded tokens, three do not.
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { batcher.embed_one(vec![7; 40]).await.unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let sizes = batches.lock().unwrap().clone();
        assert!(
            sizes.iter().all(|&n| n <= 2),
            "padded-token limit broken: {sizes:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_queries_but_ingestion_waits() {
        let limits = BatchLimits {
            max_batch_requests: 1,
            max_batch_tokens: 1_000,
            max_queue: 2,
        };
        let (batcher, _) = batcher(limits, 200);
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { batcher.embed_one(vec![i]).await })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => {}
                Err(EmbedError::Overloaded(message)) => {
                    assert!(message.contains("max_queue"), "{message}");
                    refused += 1;
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert!(
            refused > 0,
            "12 requests into a queue of 2 were all accepted"
        );
        let many = batcher
            .embed_many((0..5).map(|i| vec![i; 3]).collect())
            .await
            .unwrap();
        assert_eq!(many.len(), 5);
        assert_eq!(many[4], vec![3.0, 4.0]);
    }
}
