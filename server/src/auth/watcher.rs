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
    // A symlink's target may live in another folder: watch both, so an edit of the target and a
    // replaced link are both noticed.
    let linked = std::fs::symlink_metadata(path)
        .ok()
        .filter(|metadata| metadata.file_type().is_symlink())
        .and_then(|_| std::fs::canonicalize(path).ok());
    let watched: Vec<PathBuf> = std::iter::once(path.to_path_buf()).chain(linked).collect();
    let names: Vec<_> = watched
        .iter()
        .filter_map(|file| file.file_name().map(ToOwned::to_owned))
        .collect();
    let files = watched.clone();
    let (sender, receiver) = mpsc::channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            // An overflow or a watch error: read the file again to be safe.
            let _ = sender.try_send(());
            return;
        };
        let concerns_file = event.need_rescan()
            || event.paths.iter().any(|changed| {
                files.contains(changed)
                    || changed
                        .file_name()
                        .is_some_and(|name| names.iter().any(|ours| ours == name))
            });
        if concerns_file && !event.kind.is_access() {
            // A full channel already holds a pending change: nothing is lost.
            let _ = sender.try_send(());
        }
    })?;
    let mut folders: Vec<PathBuf> = watched.iter().map(|file| folder_of(file)).collect();
    folders.dedup();
    for folder in folders {
        watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    }
    Ok(FileChanges {
        receiver,
        _watcher: watcher,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// An edit of a symlink's target, in another folder, is noticed.
    #[tokio::test]
    async fn an_edit_of_a_symlinks_target_in_another_folder_is_noticed() {
        let folder = tempfile::tempdir().unwrap();
        let secrets = folder.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        let real = secrets.join("kite.env");
        std::fs::write(&real, "A=1\n").unwrap();
        let app = folder.path().join("app");
        std::fs::create_dir(&app).unwrap();
        let link = app.join(".env");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut changes = watch_file(&link).unwrap();
        std::fs::write(&real, "A=2\n").unwrap();
        let noticed = tokio::time::timeout(std::time::Duration::from_secs(5), changes.next()).await;
        assert_eq!(noticed, Ok(true), "the target's edit was not noticed");
    }
}
