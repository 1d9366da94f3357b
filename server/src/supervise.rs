//! Supervised background tasks: the auth machine's timekeeper and file watcher, the feed
//! watchdog. A server whose feed task died would go on answering "connected" from a frozen
//! report, so a task that panics (or ends before the shutdown, when it must run for the life of
//! the server) is logged and stops the whole server cleanly; systemd then restarts it.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Spawns and watches the server's long-lived tasks; [`Supervisor::wait`] waits for them.
#[derive(Clone, Debug)]
pub struct Supervisor {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Supervisor {
    /// A supervisor whose tasks stop with `shutdown`, and which cancels it when one fails.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
        }
    }

    /// The shutdown its tasks stop with.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Runs `task` for the life of the server: a panic, or an end before the shutdown, stops the
    /// server.
    pub fn spawn_essential<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_watched(name, true, task);
    }

    /// Runs `task`, which may end on its own (a file watcher whose folder went away): only a
    /// panic stops the server.
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_watched(name, false, task);
    }

    fn spawn_watched<F>(&self, name: &'static str, essential: bool, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = tokio::spawn(task);
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            match inner.await {
                Ok(()) if essential && !shutdown.is_cancelled() => {
                    tracing::error!(task = name, "a task ended on its own; stopping the server");
                    shutdown.cancel();
                }
                Ok(()) => {}
                Err(error) if error.is_panic() => {
                    let panic = error.into_panic();
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    tracing::error!(
                        task = name,
                        panic = %message,
                        "a task panicked; stopping the server"
                    );
                    shutdown.cancel();
                }
                Err(_) => {}
            }
        });
    }

    /// Waits, at most `deadline`, for every task to end (call it after the shutdown). False when
    /// some did not end in time.
    pub async fn wait(&self, deadline: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_stops_the_server() {
        let supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("doomed", async { panic!("the feed broke") });
        supervisor.shutdown().cancelled().await;
        assert!(supervisor.wait(Duration::from_secs(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn an_essential_task_that_ends_early_stops_the_server_and_others_may_end() {
        let supervisor = Supervisor::new(CancellationToken::new());
        supervisor.spawn("watcher", async {});
        // Paused time: the sleep only lets the spawned tasks run to their end.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!supervisor.shutdown().is_cancelled(), "a watcher may end");
        supervisor.spawn_essential("feed", async {});
        supervisor.shutdown().cancelled().await;
    }

    #[tokio::test(start_paused = true)]
    async fn wait_gives_up_at_its_deadline_and_succeeds_once_tasks_stop() {
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("stubborn", std::future::pending());
        let stops = shutdown.clone();
        supervisor.spawn_essential("polite", async move { stops.cancelled().await });
        shutdown.cancel();
        assert!(!supervisor.wait(Duration::from_secs(1)).await);
    }
}
