//! `[stack] kind = "containers"`: which images, the GPU, and where the server runs, checked
//! into a [`ContainersSpec`]. The images default to the pins in `ragbench-containers` (the
//! same tags `deploy/compose.yaml` deploys); a scenario names another only to measure another
//! release.

use std::collections::BTreeMap;

use ragbench_containers::{ImageRef, pins};
use serde::Deserialize;

/// Where the server runs beside the containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerMode {
    /// A child process of the harness, as in the embedded stack (default).
    #[default]
    Process,
    /// A container of `server_image` (built from `deploy/Dockerfile`).
    Image,
}

/// The containers stack, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainersSpec {
    /// `qdrant/qdrant:TAG`.
    pub qdrant_image: ImageRef,
    /// `ollama/ollama:TAG`.
    pub ollama_image: ImageRef,
    /// Request the GPU for Ollama (and for a server container).
    pub use_gpu: bool,
    /// Where the server runs.
    pub server: ServerMode,
    /// The server's image when `server = "image"`.
    pub server_image: ImageRef,
}

/// The `[stack]` keys of the containers stack, as written.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainersKeys<'a> {
    /// `qdrant_image`.
    pub qdrant_image: Option<&'a str>,
    /// `ollama_image`.
    pub ollama_image: Option<&'a str>,
    /// `use_gpu`.
    pub use_gpu: Option<bool>,
    /// `server`.
    pub server: Option<ServerMode>,
    /// `server_image`.
    pub server_image: Option<&'a str>,
}

impl ContainersKeys<'_> {
    /// The first key that is set (for "only the containers stack reads it").
    fn first_set(&self) -> Option<&'static str> {
        [
            ("qdrant_image", self.qdrant_image.is_some()),
            ("ollama_image", self.ollama_image.is_some()),
            ("use_gpu", self.use_gpu.is_some()),
            ("server", self.server.is_some()),
            ("server_image", self.server_image.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
    }
}

/// The containers keys of a `[stack]` table.
pub fn keys(section: &crate::scenario::StackSection) -> ContainersKeys<'_> {
    ContainersKeys {
        qdrant_image: section.qdrant_image.as_deref(),
        ollama_image: section.ollama_image.as_deref(),
        use_gpu: section.use_gpu,
        server: section.server,
        server_image: section.server_image.as_deref(),
    }
}

/// The environment keys the containers stack sets itself (the containers' mapped ports).
pub const HARNESS_SET: [&str; 2] = ["RAGBENCH_STORE__URL", "RAGBENCH_GENERATOR__URL"];

/// A bad key: the dotted field and what to write instead.
pub type KeyError = (String, String);

/// Checks the keys of a containers stack, and the server environment against it.
pub fn resolve(
    keys: ContainersKeys<'_>,
    server_env: &BTreeMap<String, String>,
) -> Result<ContainersSpec, KeyError> {
    let server = keys.server.unwrap_or_default();
    if server == ServerMode::Process && keys.server_image.is_some() {
        return Err(key(
            "server_image",
            "is used only with `server = \"image\"`: remove it, or run the server in a container",
        ));
    }
    for var in HARNESS_SET {
        if server_env.contains_key(var) {
            return Err((
                "server.env".into(),
                format!(
                    "{var} is set by the containers stack (the container's mapped port); remove it"
                ),
            ));
        }
    }
    if let Some(backend) = server_env.get("RAGBENCH_STORE__BACKEND")
        && backend != "qdrant"
    {
        return Err((
            "server.env".into(),
            format!(
                "RAGBENCH_STORE__BACKEND = \"{backend}\": the containers stack stores vectors in \
                 its Qdrant container; write \"qdrant\" or remove it"
            ),
        ));
    }
    Ok(ContainersSpec {
        qdrant_image: image("qdrant_image", keys.qdrant_image, pins::qdrant)?,
        ollama_image: image("ollama_image", keys.ollama_image, pins::ollama)?,
        use_gpu: keys.use_gpu.unwrap_or(false),
        server,
        server_image: image("server_image", keys.server_image, pins::server)?,
    })
}

/// Refuses containers keys on another stack, where nothing would read them.
pub fn reject_elsewhere(keys: ContainersKeys<'_>, kind: &str) -> Result<(), KeyError> {
    match keys.first_set() {
        Some(k) => Err(key(
            k,
            format!(
                "only the containers stack reads it, and this one is `{kind}`: remove it, or \
                 set `kind = \"containers\"`"
            ),
        )),
        None => Ok(()),
    }
}

fn image(field: &str, value: Option<&str>, pinned: fn() -> ImageRef) -> Result<ImageRef, KeyError> {
    match value {
        None => Ok(pinned()),
        Some(v) => ImageRef::parse(v).map_err(|e| key(field, e.to_string())),
    }
}

fn key(field: &str, message: impl Into<String>) -> KeyError {
    (format!("stack.{field}"), message.into())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::{Overrides, Stack, StackKind};

    /// Loads a scenario file written into a fresh folder (with its question set).
    fn load(text: &str) -> Result<crate::scenario::Scenario, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("questions.txt"), "how?\n").unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        crate::scenario::load(&path, &Overrides::default()).map_err(|e| e.to_string())
    }

    fn spec(text: &str) -> ContainersSpec {
        match load(text).unwrap().stack {
            StackKind::Containers(spec) => spec,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_pinned_images_no_gpu_and_a_server_process() {
        let s = spec("[stack]\nkind = \"containers\"\n");
        assert_eq!(s.qdrant_image, pins::qdrant());
        assert_eq!(s.ollama_image, pins::ollama());
        assert!(!s.use_gpu);
        assert_eq!(s.server, ServerMode::Process);
        assert_eq!(s.server_image, pins::server());
        let scenario = load("[stack]\nkind = \"containers\"\n").unwrap();
        assert_eq!(scenario.stack.kind(), Stack::Containers);
        assert!(
            scenario.ingest,
            "a fresh Qdrant is ingested into by default"
        );
    }

    #[test]
    fn every_key_is_read() {
        let s = spec(
            "[stack]\nkind = \"containers\"\nqdrant_image = \"qdrant/qdrant:v1.17.1\"\n\
             ollama_image = \"ollama/ollama:0.19.0\"\nuse_gpu = true\nserver = \"image\"\n\
             server_image = \"ragbench-server:0.1.0-cuda\"\n",
        );
        assert_eq!(s.qdrant_image.to_string(), "qdrant/qdrant:v1.17.1");
        assert_eq!(s.ollama_image.to_string(), "ollama/ollama:0.19.0");
        assert!(s.use_gpu);
        assert_eq!(s.server, ServerMode::Image);
        assert_eq!(s.server_image.to_string(), "ragbench-server:0.1.0-cuda");
    }

    #[test]
    fn the_shipped_scenario_resolves() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/phase2-containers.toml");
        let scenario = crate::scenario::load(&path, &Overrides::default()).unwrap();
        assert!(matches!(scenario.stack, StackKind::Containers(_)));
        assert_eq!(scenario.rules.len(), 6);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "qdrant_image = \"qdrant/qdrant\"",
                "stack.qdrant_image: `qdrant/qdrant` has no tag",
            ),
            (
                "ollama_image = \"ollama/ollama:latest\"",
                "stack.ollama_image: `ollama/ollama:latest` is not pinned",
            ),
            ("use_gpu = \"yes\"", "stack.use_gpu: invalid type"),
            (
                "server = \"vm\"",
                "stack.server: unknown value `vm`: use `process` or `image`",
            ),
            (
                "server_image = \"ragbench-server:0.1.0\"",
                "stack.server_image: is used only with `server = \"image\"`",
            ),
            (
                "server = \"image\"\nserver_image = \"ragbench server\"",
                "stack.server_image: `ragbench server` is not an image reference",
            ),
        ];
        for (line, expected) in cases {
            let e = load(&format!("[stack]\nkind = \"containers\"\n{line}\n")).unwrap_err();
            assert!(e.contains(expected), "{line}: {e}");
        }
    }

    #[test]
    fn the_environment_the_stack_sets_is_refused() {
        let e = load(
            "[stack]\nkind = \"containers\"\n[server.env]\nRAGBENCH_STORE__URL = \"http://x:6334\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("server.env: RAGBENCH_STORE__URL is set by the containers stack"),
            "{e}"
        );
        let e = load(
            "[stack]\nkind = \"containers\"\n[server.env]\nRAGBENCH_STORE__BACKEND = \"edge\"\n",
        )
        .unwrap_err();
        assert!(e.contains("RAGBENCH_STORE__BACKEND = \"edge\""), "{e}");
    }

    #[test]
    fn containers_keys_on_another_stack_are_refused() {
        let e = load("[stack]\nuse_gpu = true\n").unwrap_err();
        assert!(
            e.contains(
                "stack.use_gpu: only the containers stack reads it, and this one is `embedded`"
            ),
            "{e}"
        );
        let e = load("[stack]\nkind = \"external\"\nbase_url = \"http://h:1\"\nqdrant_image = \"qdrant/qdrant:v1\"\n")
            .unwrap_err();
        assert!(
            e.contains("stack.qdrant_image: only the containers stack"),
            "{e}"
        );
    }
}
