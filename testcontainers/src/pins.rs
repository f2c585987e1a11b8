//! The images' pinned tags: the one place they are written in Rust. `deploy/compose.yaml`
//! pins the same tags for the compose stacks, and a test below keeps the two equal, so the
//! harness measures the stack people deploy.

use std::fmt;

/// An image reference, `name:tag`, with a tag that names one release (never `latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The repository, e.g. `qdrant/qdrant`.
    pub name: String,
    /// The tag, e.g. `v1.18.3`.
    pub tag: String,
}

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// No `:tag`.
    #[error("`{0}` has no tag: pin one release, e.g. `{0}:1.2.3`")]
    NoTag(String),
    /// `latest` changes under a run; results would not be repeatable.
    #[error("`{0}` is not pinned: `latest` changes between runs; name one release instead")]
    Latest(String),
    /// Empty name or tag, or whitespace.
    #[error("`{0}` is not an image reference: write `name:tag`, e.g. `qdrant/qdrant:v1.18.3`")]
    Malformed(String),
}

impl ImageRef {
    /// Parses `name:tag` (a registry host with a port, `host:5000/name:tag`, is fine).
    pub fn parse(text: &str) -> Result<ImageRef, ImageRefError> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains('@') {
            return Err(ImageRefError::Malformed(text.into()));
        }
        // The tag follows the last `:` after the last `/` (a `:` before it is a port).
        let last_part = text.rsplit('/').next().unwrap_or(text);
        let Some((_, tag)) = last_part.rsplit_once(':') else {
            return Err(ImageRefError::NoTag(text.into()));
        };
        let name = &text[..text.len() - tag.len() - 1];
        if name.is_empty() || tag.is_empty() {
            return Err(ImageRefError::Malformed(text.into()));
        }
        if tag == "latest" {
            return Err(ImageRefError::Latest(text.into()));
        }
        Ok(ImageRef {
            name: name.into(),
            tag: tag.into(),
        })
    }

    fn pinned(name: &str, tag: &str) -> ImageRef {
        ImageRef {
            name: name.into(),
            tag: tag.into(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Qdrant's repository.
pub const QDRANT_NAME: &str = "qdrant/qdrant";
/// Qdrant's pinned tag: the server line the `qdrant-client` backend is written against.
pub const QDRANT_TAG: &str = "v1.18.3";
/// Ollama's repository.
pub const OLLAMA_NAME: &str = "ollama/ollama";
/// Ollama's pinned tag.
pub const OLLAMA_TAG: &str = "0.20.3";
/// The server image's repository, as `deploy/compose.yaml` tags the build of
/// `deploy/Dockerfile`.
pub const SERVER_NAME: &str = "ragbench-server";

/// `qdrant/qdrant` at its pinned tag.
pub fn qdrant() -> ImageRef {
    ImageRef::pinned(QDRANT_NAME, QDRANT_TAG)
}

/// `ollama/ollama` at its pinned tag.
pub fn ollama() -> ImageRef {
    ImageRef::pinned(OLLAMA_NAME, OLLAMA_TAG)
}

/// `ragbench-server` tagged with this workspace's version (what `docker compose build` tags).
pub fn server() -> ImageRef {
    ImageRef::pinned(SERVER_NAME, env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compose files deploy the same tags the harness measures.
    #[test]
    fn the_pins_are_the_compose_files_pins() {
        let compose = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        for file in ["compose.yaml", "compose.gpu.yaml"] {
            let text = std::fs::read_to_string(compose.join(file)).unwrap();
            let images: Vec<&str> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("image: "))
                .collect();
            for pinned in [qdrant(), ollama()] {
                let same_repo: Vec<&&str> = images
                    .iter()
                    .filter(|i| i.starts_with(&format!("{}:", pinned.name)))
                    .collect();
                assert!(!same_repo.is_empty(), "{file} has no {}", pinned.name);
                for image in same_repo {
                    assert_eq!(*image, pinned.to_string(), "{file} pins another tag");
                }
            }
            if file == "compose.yaml" {
                assert!(
                    images.contains(&server().to_string().as_str()),
                    "{images:?}"
                );
            }
        }
    }

    #[test]
    fn references_parse_with_their_tag_and_refuse_unpinned_ones() {
        assert_eq!(ImageRef::parse("qdrant/qdrant:v1.18.3").unwrap(), qdrant());
        let local = ImageRef::parse("localhost:5000/team/ollama:0.20.3").unwrap();
        assert_eq!(local.name, "localhost:5000/team/ollama");
        assert_eq!(local.tag, "0.20.3");
        assert_eq!(
            ImageRef::parse("qdrant/qdrant"),
            Err(ImageRefError::NoTag("qdrant/qdrant".into()))
        );
        assert_eq!(
            ImageRef::parse("localhost:5000/qdrant"),
            Err(ImageRefError::NoTag("localhost:5000/qdrant".into()))
        );
        assert!(matches!(
            ImageRef::parse("ollama/ollama:latest"),
            Err(ImageRefError::Latest(_))
        ));
        for bad in ["", ":v1", "qdrant/qdrant:", "a b:1", "qdrant@sha256:ab"] {
            assert!(
                matches!(ImageRef::parse(bad), Err(ImageRefError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(server().to_string(), "ragbench-server:0.1.0");
    }
}
