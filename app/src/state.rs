//! The page's state: the server's snapshot as rendered, and the live state that follows it in
//! the browser (the server's clock, the machines' objects, the calendar, the contact). The
//! banner and the dashboard read it; `live.rs` writes it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use marketwarden_core::{Calendar, MarketSnapshot};

use crate::browser_clock::ServerClockAnchor;
use crate::status::{Contact, MachineStates};

/// What every part of the page reads: the server's snapshot (as rendered) and the live state
/// that follows it.
#[derive(Clone)]
pub struct PageState {
    pub snapshot: Option<MarketSnapshot>,
    pub live: Option<LiveState>,
}

/// The page's live state, shared by the banner and the dashboard.
#[derive(Clone, Copy)]
pub struct LiveState {
    /// The server's clock as this page estimates it, moved on every second.
    pub now: RwSignal<DateTime<Utc>>,
    pub machines: RwSignal<MachineStates>,
    pub contact: RwSignal<Contact>,
    pub anchor: RwSignal<ServerClockAnchor>,
    pub hydrated: RwSignal<bool>,
    /// The calendar the page computes the market with: the server's, replaced whenever the
    /// server sends a new snapshot (after it reloads its calendar file).
    pub calendar: RwSignal<Arc<CalendarInUse>>,
}

/// The server's calendar as its last snapshot gave it.
pub struct CalendarInUse {
    pub calendar: Calendar,
    /// Why the server's calendar file is not in use, if it is not.
    pub error: Option<String>,
}

impl CalendarInUse {
    fn of(snapshot: &MarketSnapshot) -> Arc<Self> {
        Arc::new(Self {
            calendar: snapshot.calendar(),
            error: snapshot.calendar_error.clone(),
        })
    }
}

impl LiveState {
    /// The live state starting from the page's snapshot, exactly as the server rendered it.
    pub fn from_snapshot(snapshot: &MarketSnapshot) -> Self {
        Self {
            now: RwSignal::new(snapshot.server_time),
            machines: RwSignal::new(MachineStates {
                auth: snapshot.auth.clone(),
                feed: snapshot.feed.clone(),
                reported_at: snapshot.server_time,
            }),
            contact: RwSignal::new(Contact::Connected),
            anchor: RwSignal::new(ServerClockAnchor::from_page(snapshot.server_time)),
            hydrated: RwSignal::new(false),
            calendar: RwSignal::new(CalendarInUse::of(snapshot)),
        }
    }

    /// Takes the calendar of a newer snapshot from the server (its `snapshot` event).
    pub fn apply_calendar(&self, snapshot: &MarketSnapshot) {
        self.calendar.set(CalendarInUse::of(snapshot));
    }
}
