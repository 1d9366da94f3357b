//! The browser side of freshness: a one-second tick from the monotonic clock, the server's
//! event stream (`/api/system/events`: `health` events for the machines, `snapshot` events for
//! the calendar), a 10 s poll of `/api/system/health` as the fallback, and the contact state
//! (reachable or lost since when). Started by `App`; browser build only.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use marketwarden_core::{AuthHealth, FeedHealth, MarketSnapshot};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::browser_clock::{ServerClockAnchor, monotonic_now_ms};
use crate::state::LiveState;
use crate::status::{Contact, MachineStates};

/// How often the banner moves on.
const TICK_MS: u32 = 1_000;
/// How often the health answer is polled, whatever the event stream does.
const POLL_MS: u32 = 10_000;

/// Starts the tick, the event stream and the poll once the page is hydrated.
pub fn start(live: LiveState) {
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        let tick = move || {
            let anchor = live.anchor.get_untracked();
            live.now.set(anchor.server_time_at(monotonic_now_ms()));
        };
        tick();
        live.hydrated.set(true);
        gloo_timers::callback::Interval::new(TICK_MS, tick).forget();
        follow_events(live);
        gloo_timers::callback::Interval::new(POLL_MS, move || poll(live)).forget();
    });
}

/// What the page reads of a health answer: the machines' objects and the server's clock. The
/// market it computes itself; the rest of the answer is skipped unread.
#[derive(serde::Deserialize)]
struct MachinesAnswer {
    auth: AuthHealth,
    feed: FeedHealth,
    server_time: DateTime<Utc>,
}

/// Takes a health answer from the server: the machines' objects, and a fresh clock anchor.
fn apply(live: LiveState, text: &str) {
    let Ok(health) = serde_json::from_str::<MachinesAnswer>(text) else {
        return;
    };
    let anchor = ServerClockAnchor {
        server_time: health.server_time,
        monotonic_ms: monotonic_now_ms(),
    };
    live.anchor.set(anchor);
    live.now.set(health.server_time);
    live.machines.set(MachineStates {
        auth: Some(health.auth),
        feed: Some(health.feed),
        reported_at: health.server_time,
    });
    live.contact.set(Contact::Connected);
}

/// The server is unreachable: remember since when (the first failure counts).
fn lost(live: LiveState) {
    if live.contact.get_untracked() == Contact::Connected {
        live.contact
            .set(Contact::LostSince(live.now.get_untracked()));
    }
}

fn follow_events(live: LiveState) {
    let Ok(source) = web_sys::EventSource::new("/api/system/events") else {
        return;
    };
    let on_health =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(text) = event.data().as_string() {
                apply(live, &text);
            }
        });
    let _ = source.add_event_listener_with_callback("health", on_health.as_ref().unchecked_ref());
    on_health.forget();
    // The server's calendar, first when the stream opens and again after every reload of its
    // calendar file: the page computes the market with what the server uses.
    let on_snapshot =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let snapshot = event
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str::<MarketSnapshot>(&text).ok());
            if let Some(snapshot) = snapshot {
                live.apply_calendar(&snapshot);
            }
        });
    let _ =
        source.add_event_listener_with_callback("snapshot", on_snapshot.as_ref().unchecked_ref());
    on_snapshot.forget();
    let watched = source.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        // The browser retries by itself; while it is not open, the server counts as lost.
        if watched.ready_state() != web_sys::EventSource::OPEN {
            lost(live);
        }
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    // Open for the life of the page.
    std::mem::forget(source);
}

fn poll(live: LiveState) {
    wasm_bindgen_futures::spawn_local(async move {
        match fetch_text("/api/system/health").await {
            Some(text) => apply(live, &text),
            None => lost(live),
        }
    });
}

async fn fetch_text(url: &str) -> Option<String> {
    let window = web_sys::window()?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    if !response.ok() {
        return None;
    }
    wasm_bindgen_futures::JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}
