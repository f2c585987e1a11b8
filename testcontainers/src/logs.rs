//! A container's log in a file: testcontainers hands each frame of stdout and stderr to a
//! consumer from the container's creation until its removal, so the file is complete even
//! when the container fails to start or the run is interrupted.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use futures::FutureExt;
use futures::future::BoxFuture;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::logs::consumer::LogConsumer;

/// Writes every frame, stdout and stderr interleaved as they arrive, to one file.
#[derive(Debug)]
pub struct FileLog {
    // std's Mutex: a write is short and never held across an await.
    file: Mutex<File>,
}

impl FileLog {
    /// Creates (or truncates) the file, and its folder.
    pub fn create(path: &Path) -> Result<FileLog, std::io::Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(FileLog {
            file: Mutex::new(File::create(path)?),
        })
    }

    fn write(&self, frame: &LogFrame) {
        let bytes = match frame {
            LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
        };
        if let Ok(mut file) = self.file.lock() {
            // A full disk loses log lines, never the run.
            let _ = file.write_all(bytes);
        }
    }
}

impl LogConsumer for FileLog {
    fn accept<'a>(&'a self, record: &'a LogFrame) -> BoxFuture<'a, ()> {
        async move { self.write(record) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_from_both_streams_land_in_the_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers").join("qdrant.log");
        let log = FileLog::create(&path).unwrap();
        log.accept(&LogFrame::StdOut("starting\n".into())).await;
        log.accept(&LogFrame::StdErr("warning: x\n".into())).await;
        log.accept(&LogFrame::StdOut("ready\n".into())).await;
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "starting\nwarning: x\nready\n");
    }
}
