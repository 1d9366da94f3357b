//! Notices edits of the `.env` file from outside: it watches the folder, because editors and
//! our own writer replace the file rather than write into it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::envfile::folder_of;

/// Changes closer together than this are one change: an editor's save is several events, and
/// a file written in place is read only once the writing is over.
pub const QUIET_PERIOD: Duration = Duration::from_millis(250);

/// A stream of "the file changed" signals, debounced by [`QUIET_PERIOD`].
pub struct FileChanges {
    receiver: mpsc::Receiver<()>,
    /// Dropping the watcher stops it.
    _watcher: RecommendedWatcher,
}

impl FileChanges {
    /// Waits for the next change, then for a quiet period; false when the watcher stopped.
    pub async fn next(&mut self) -> bool {
        if self.receiver.recv().await.is_none() {
            return false;
        }
        loop {
            match tokio::time::timeout(QUIET_PERIOD, self.receiver.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return false,
                Err(_quiet) => return true,
            }
        }
    }
}

/// Starts watching `path` (which need not exist yet; its folder must).
///
/// # Errors
///
/// The folder cannot be watched (missing, or no inotify watches left).
pub fn watch_file(path: &Path) -> notify::Result<FileChanges> {
    let folder = folder_of(path);
    let name = path.file_name().map(ToOwned::to_owned);
    let target: PathBuf = path.to_path_buf();
    let (sender, receiver) = mpsc::channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            // An overflow or a watch error: read the file again to be safe.
            let _ = sender.try_send(());
            return;
        };
        let concerns_file = event.need_rescan()
            || event.paths.iter().any(|changed| {
                changed == &target || (name.is_some() && changed.file_name() == name.as_deref())
            });
        if concerns_file && !event.kind.is_access() {
            // A full channel already holds a pending change: nothing is lost.
            let _ = sender.try_send(());
        }
    })?;
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    Ok(FileChanges {
        receiver,
        _watcher: watcher,
    })
}
