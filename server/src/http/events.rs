//! `GET /api/system/events`: the health answer pushed on every change, for the page and for any
//! program that wants to hear of a reconnection or a login without polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::sync::watch;

use super::error::ApiError;
use super::health::health_json;
use crate::AppState;
use crate::clock::{MAX_SLEEP, Timers};

/// How often an idle event stream sends a keep-alive comment.
pub const EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/system/events`: Server-Sent Events, one `health` event with the whole answer at
/// once and after every change of the market phase, the auth state, the feed state or the
/// calendar, `snapshot` events for the calendar (see [`event_stream`]), and a keep-alive
/// comment every 15 s. The stream ends when the server stops (browsers reconnect).
/// 503 when `--max-event-streams` streams are open already.
pub async fn events(State(state): State<AppState>) -> Result<Response, ApiError> {
    let slot = state
        .slots
        .event_stream()
        .ok_or(ApiError::ServerFull("too many event streams are open"))?;
    Ok(event_stream(state, slot).into_response())
}

/// The stream of [`events`], holding its `slot` until it ends. It opens with a `snapshot` event
/// (what the page embeds: the calendar in use and its load error) and a `health` event; after a
/// reload of the calendar file it sends a new `snapshot` before the `health` event, so an open
/// page computes the market with the server's new calendar.
fn event_stream(
    state: AppState,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watched = Watched {
        auth: Some(state.reports.auth.changes()),
        feed: Some(state.reports.feed.changes()),
        calendar: Some(state.calendar.reloads()),
    };
    let stream = futures_util::stream::unfold(
        (state, watched, true, slot),
        |(state, mut watched, first, slot)| async move {
            let mut calendar_changed = first;
            if !first {
                let (market, _) = state.market_now();
                let market_change = market.next_change_anywhere().map(|at| {
                    state.clock.until(at.with_timezone(&chrono::Utc)) + Duration::from_millis(5)
                });
                let shutdown = state.shutdown.clone();
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = changed(&mut watched.auth) => {}
                    () = changed(&mut watched.feed) => {}
                    () = changed(&mut watched.calendar) => calendar_changed = true,
                    () = sleep_for(market_change) => {}
                }
            }
            let mut events = Vec::with_capacity(2);
            if calendar_changed {
                events.push(json_event(
                    "snapshot",
                    serde_json::to_vec(&state.market_snapshot()).ok(),
                ));
            }
            // One serialization shared by every subscriber of the same change.
            events.push(json_event("health", health_json(&state)));
            Some((events, (state, watched, false, slot)))
        },
    )
    .flat_map(|events| futures_util::stream::iter(events.into_iter().map(Ok)));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(EVENTS_KEEP_ALIVE))
}

/// What an event stream waits on besides the market's next change; each becomes `None` once
/// its sender is gone.
struct Watched {
    auth: Option<watch::Receiver<u64>>,
    feed: Option<watch::Receiver<u64>>,
    calendar: Option<watch::Receiver<u64>>,
}

/// An event named `name` carrying `json`, or a comment when it could not be encoded.
fn json_event(name: &str, json: Option<impl AsRef<[u8]>>) -> Event {
    match json {
        Some(json) => Event::default()
            .event(name)
            .data(String::from_utf8_lossy(json.as_ref())),
        None => Event::default().comment("unencodable"),
    }
}

/// Resolves at the next change; never when there is no machine (or it is gone).
async fn changed(changes: &mut Option<watch::Receiver<u64>>) {
    match changes {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                *changes = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn sleep_for(wait: Option<Duration>) {
    match wait {
        // The phase changes on the second: one second past it, the answer has moved on. A
        // long wait is cut short so a calendar reload is seen within a minute.
        Some(wait) => tokio::time::sleep(wait.min(MAX_SLEEP)).await,
        None => tokio::time::sleep(MAX_SLEEP).await,
    }
}
