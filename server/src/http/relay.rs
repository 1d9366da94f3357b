//! `/ws/market`: ticks relayed to browsers. Every browser reads from a bounded broadcast
//! channel; one that falls [`crate::feed::RELAY_BACKLOG`] frames behind, or takes longer than
//! [`SEND_TIMEOUT`] to take one frame, is disconnected. The feed never waits for a browser.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::admin::Refusal;
use super::error::ApiError;
use crate::AppState;

/// The longest one frame may take to reach a browser.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The close code for a browser that cannot keep up (1013, "try again later").
pub const TOO_SLOW: u16 = 1013;

/// The largest message or frame a browser may send on `/ws/market`. It has nothing to say but
/// a close; without a cap, one unfinished 60 MiB message pinned ~75 MB per socket.
pub const MAX_INCOMING_MESSAGE: usize = 4096;

/// `GET /ws/market`: upgrades to a WebSocket of tick frames. Refuses a page of another site
/// (403, by its `Origin`), and more than `--max-market-sockets` sockets at once (503).
pub async fn market_socket(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !state.hosts.allows_origin_of(&headers) && state.hosts.cors_origin_of(&headers).is_none() {
        return ApiError::Refused(Refusal::CrossOrigin).into_response();
    }
    let feed = state.feed.clone();
    let Some(slot) = state.slots.market_socket() else {
        return ApiError::ServerFull("too many tick sockets are open").into_response();
    };
    let ticks = feed.subscribe_ticks();
    // Like Kite to a new subscriber: the last known tick of every instrument at once, marked as
    // such, so a page opened after the close still shows prices.
    let last_known = feed.last_known_frame();
    let shutdown = state.shutdown.clone();
    upgrade
        .max_message_size(MAX_INCOMING_MESSAGE)
        .max_frame_size(MAX_INCOMING_MESSAGE)
        .on_upgrade(move |socket| async move {
            relay(socket, last_known, ticks, shutdown).await;
            drop(slot);
        })
}

/// The close code for a server that stops (1001, "going away").
pub const GOING_AWAY: u16 = 1001;

/// Pumps tick frames into one browser's socket until it closes, falls behind or stalls, or
/// the server stops.
async fn relay<S>(
    mut socket: S,
    first: Option<String>,
    mut ticks: broadcast::Receiver<Arc<str>>,
    shutdown: CancellationToken,
) where
    S: Sink<Message> + Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    if let Some(frame) = first {
        let sent =
            tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(frame.into()))).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let frame = CloseFrame {
                    code: GOING_AWAY,
                    reason: "the server is stopping".into(),
                };
                let _ = tokio::time::timeout(
                    SEND_TIMEOUT,
                    socket.send(Message::Close(Some(frame))),
                )
                .await;
                return;
            }
            frame = ticks.recv() => match frame {
                Ok(text) => {
                    let sent = tokio::time::timeout(
                        SEND_TIMEOUT,
                        socket.send(Message::Text(text.as_ref().into())),
                    )
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tracing::info!("a browser stopped taking ticks and was dropped");
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "a browser fell behind the feed and was dropped");
                    let frame = CloseFrame {
                        code: TOO_SLOW,
                        reason: "too slow for the feed".into(),
                    };
                    let _ = tokio::time::timeout(
                        SEND_TIMEOUT,
                        socket.send(Message::Close(Some(frame))),
                    )
                    .await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A browser socket whose sends each take `delay` (forever when `None`); it never sends.
    struct SlowBrowser {
        delay: Option<std::time::Duration>,
        sending: Option<Pin<Box<tokio::time::Sleep>>>,
        received: Arc<std::sync::Mutex<Vec<Message>>>,
    }

    impl Sink<Message> for SlowBrowser {
        type Error = axum::Error;
        fn poll_ready(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            let Some(delay) = self.delay else {
                return Poll::Pending;
            };
            let sending = self
                .sending
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            match sending.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.sending = None;
                    Poll::Ready(Ok(()))
                }
                Poll::Pending => Poll::Pending,
            }
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.received.lock().unwrap().push(item);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Stream for SlowBrowser {
        type Item = Result<Message, axum::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    use std::future::Future;

    fn browser(
        delay: Option<std::time::Duration>,
    ) -> (SlowBrowser, Arc<std::sync::Mutex<Vec<Message>>>) {
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        (
            SlowBrowser {
                delay,
                sending: None,
                received: received.clone(),
            },
            received,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_browser_that_falls_behind_is_closed_with_1013_and_the_feed_never_waits() {
        let (feed, ticks) = broadcast::channel::<Arc<str>>(crate::feed::RELAY_BACKLOG);
        let (socket, received) = browser(Some(std::time::Duration::from_millis(100)));
        let relay = tokio::spawn(relay(socket, None, ticks, CancellationToken::new()));
        // The feed sends 1000 frames at once: it never blocks on the slow browser.
        for n in 0..1000 {
            let _ = feed.send(format!("frame {n}").into());
        }
        relay.await.unwrap();
        let received = received.lock().unwrap();
        let Some(Message::Close(Some(close))) = received.last() else {
            panic!("closed: {:?}", received.last());
        };
        assert_eq!(close.code, TOO_SLOW);
        assert!(received.len() < 10, "dropped early: {}", received.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_browser_that_stops_reading_is_dropped_after_the_send_timeout() {
        let (feed, ticks) = broadcast::channel::<Arc<str>>(crate::feed::RELAY_BACKLOG);
        let (socket, _) = browser(None);
        let started = tokio::time::Instant::now();
        let relay = tokio::spawn(relay(socket, None, ticks, CancellationToken::new()));
        feed.send("frame".into()).unwrap();
        relay.await.unwrap();
        assert_eq!(started.elapsed(), SEND_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_server_says_going_away_to_every_browser() {
        let (_feed, ticks) = broadcast::channel::<Arc<str>>(crate::feed::RELAY_BACKLOG);
        let (socket, received) = browser(Some(std::time::Duration::from_millis(1)));
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(relay(socket, None, ticks, shutdown.clone()));
        shutdown.cancel();
        relay.await.unwrap();
        let received = received.lock().unwrap();
        let Some(Message::Close(Some(close))) = received.last() else {
            panic!("closed: {:?}", received.last());
        };
        assert_eq!(close.code, GOING_AWAY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_browser_that_keeps_up_gets_every_frame_in_order() {
        let (feed, ticks) = broadcast::channel::<Arc<str>>(crate::feed::RELAY_BACKLOG);
        let (socket, received) = browser(Some(std::time::Duration::from_millis(1)));
        let relay = tokio::spawn(relay(socket, None, ticks, CancellationToken::new()));
        for n in 0..5 {
            feed.send(format!("frame {n}").into()).unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(feed);
        relay.await.unwrap();
        let texts: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|message| match message {
                Message::Text(text) => Some(text.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts,
            ["frame 0", "frame 1", "frame 2", "frame 3", "frame 4"]
        );
    }
}
