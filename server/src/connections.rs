//! The HTTP server loop, with the limits a deployment needs: a cap on open connections, a
//! deadline for request headers (which also closes idle keep-alive connections), caps on the
//! long-lived answers (event streams, tick sockets), and a stop that never waits more than a
//! few seconds for clients.
//!
//! `axum::serve` has none of these: measured on it, 1,100 idle connections used up the unit's
//! 1,024 file descriptors, slowloris connections stayed open for minutes, and one half-sent
//! request kept SIGTERM from finishing.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request's headers, and how long a keep-alive connection
/// may sit idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stop waits for requests in flight before it drops every connection.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(3);

/// The answer to a connection over the cap: sent as is, then the connection is closed.
const FULL_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 48\r\n\r\n{\"error\":\"too many connections, try again soon\"}";

/// How many clients the server takes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open TCP connections; one more is answered 503 and closed.
    pub connections: usize,
    /// Open `/api/system/events` streams; one more is answered 503.
    pub event_streams: usize,
    /// Open `/ws/market` sockets; one more is answered 503.
    pub market_sockets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: 4096,
            event_streams: 2048,
            market_sockets: 512,
        }
    }
}

/// The places left for long-lived answers, shared by every request.
#[derive(Clone, Debug)]
pub struct StreamSlots {
    event_streams: Arc<Semaphore>,
    market_sockets: Arc<Semaphore>,
}

impl StreamSlots {
    /// Slots as `limits` says.
    pub fn new(limits: Limits) -> Self {
        Self {
            event_streams: Arc::new(Semaphore::new(limits.event_streams)),
            market_sockets: Arc::new(Semaphore::new(limits.market_sockets)),
        }
    }

    /// A place for one more event stream, held until the stream ends; `None` when all are taken.
    pub fn event_stream(&self) -> Option<OwnedSemaphorePermit> {
        self.event_streams.clone().try_acquire_owned().ok()
    }

    /// A place for one more tick socket, held until it closes; `None` when all are taken.
    pub fn market_socket(&self) -> Option<OwnedSemaphorePermit> {
        self.market_sockets.clone().try_acquire_owned().ok()
    }
}

impl Default for StreamSlots {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled. Then it stops accepting, lets
/// requests in flight finish for at most [`SHUTDOWN_DEADLINE`], and drops what is left.
///
/// # Errors
///
/// Never today: accept errors (out of file descriptors, a connection reset before it was
/// accepted) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // EMFILE and friends: wait a little rather than spin.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match open.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(serve_connection(
                            stream,
                            router.clone(),
                            shutdown.clone(),
                            permit,
                        ));
                    }
                    Err(_) => {
                        tracing::debug!("connection refused: at the cap of open connections");
                        connections.spawn(refuse(stream));
                    }
                }
            }
        }
    }
    drop(listener);
    let finished = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!(
            left = connections.len(),
            "stop deadline reached: dropping the connections still open"
        );
        connections.abort_all();
    }
    Ok(())
}

/// One connection: HTTP/1.1 with upgrades (WebSockets), the header deadline, and a graceful
/// close when the server stops.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = shutdown.cancelled() => {
            // Finish the request in flight, then close; the caller's deadline bounds the wait.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Answers 503 to a connection over the cap and closes it within a second. What the client
/// sent is read and dropped first: closing with unread input would reset the connection, and
/// the client could lose the answer.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(FULL_ANSWER).await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_answer_declares_its_body_length() {
        let text = std::str::from_utf8(FULL_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{text}"
        );
    }

    #[test]
    fn stream_slots_run_out_and_come_back() {
        let slots = StreamSlots::new(Limits {
            connections: 1,
            event_streams: 1,
            market_sockets: 2,
        });
        let first = slots.event_stream().expect("one place");
        assert!(slots.event_stream().is_none());
        drop(first);
        assert!(slots.event_stream().is_some());
        let _a = slots.market_socket().unwrap();
        let _b = slots.market_socket().unwrap();
        assert!(slots.market_socket().is_none());
    }
}
