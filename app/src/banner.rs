//! The sticky status banner: the market session, and a login button when the Kite token needs
//! one. The feed's state joins it with the feed watchdog.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server::SharedValue;
use marketwarden_core::{
    AuthState, BrokerKind, MarketHealth, MarketSnapshot, hh_mm_ss, ist_wall_clock,
};

use crate::browser_clock::ServerClockAnchor;

/// The banner at the top of every page, rendered with the right state in the first byte of HTML.
///
/// The server renders it synchronously from its own snapshot, which travels inside the page;
/// the browser hydrates from that same snapshot, so both render the same HTML, with or without
/// JavaScript.
#[component]
pub fn MarketBanner() -> impl IntoView {
    match SharedValue::new(server_snapshot).into_inner() {
        Some(snapshot) => view! { <SessionBanner snapshot /> }.into_any(),
        None => view! { <BannerMessage text="Market status unavailable." /> }.into_any(),
    }
}

/// The snapshot the server provides through context; never called in the browser, which reads
/// the serialized value instead.
fn server_snapshot() -> Option<MarketSnapshot> {
    #[cfg(feature = "ssr")]
    {
        use_context::<crate::SnapshotSource>().map(|source| (source.0)())
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// The market session, kept current every second from the server's clock.
#[component]
fn SessionBanner(snapshot: MarketSnapshot) -> impl IntoView {
    let anchor = ServerClockAnchor::from_page(snapshot.server_time);
    // Starts at the server's instant, so the first render in the browser matches the server's
    // HTML exactly; the ticker moves it on once the page is hydrated.
    let now = RwSignal::new(snapshot.server_time);
    let hydrated = RwSignal::new(false);
    let calendar = Arc::new(snapshot.calendar());
    let simulated = snapshot.broker == BrokerKind::Simulated;
    let login_needed = snapshot
        .auth
        .as_ref()
        .filter(|auth| auth.requires_login)
        .map(|auth| login_message(auth.state));
    let calendar_error = snapshot.market.calendar_error.clone();
    let market = Memo::new(move |_| MarketHealth {
        calendar_error: calendar_error.clone(),
        ..MarketHealth::at(&calendar, now.get())
    });

    #[cfg(feature = "hydrate")]
    start_ticking(anchor, now, hydrated);
    #[cfg(not(feature = "hydrate"))]
    let _ = anchor;

    let phase = move || market.with(|m| m.phase.as_str());
    view! {
        <header
            class=move || {
                format!(
                    "status-banner phase-{}{}",
                    phase().to_ascii_lowercase(),
                    if login_needed.is_some() { " auth-required" } else { "" },
                )
            }
            role="status"
            data-testid="status-banner"
            data-phase=phase
            data-hydrated=move || hydrated.get().then_some("true")
        >
            <span class="status-icon" aria-hidden="true">
                {move || market.with(|m| m.icon.clone())}
            </span>
            <div class="status-text">
                <strong class="status-title" data-testid="banner-title">
                    {move || market.with(|m| m.title.clone())}
                </strong>
                <span class="status-description" data-testid="banner-description">
                    {move || market.with(|m| m.description.clone())}
                </span>
                {move || {
                    market
                        .with(calendar_notices)
                        .map(|text| {
                            view! {
                                <span class="status-notice" data-testid="calendar-notice">
                                    <span aria-hidden="true">"⚠ "</span>
                                    {text}
                                </span>
                            }
                        })
                }}
                {login_needed
                    .map(|message| {
                        view! {
                            <span class="status-auth" role="alert" data-testid="auth-notice">
                                <span aria-hidden="true">"🔒 "</span>
                                {message}
                            </span>
                        }
                    })}
            </div>
            {login_needed
                .is_some()
                .then(|| {
                    view! {
                        <a
                            class="login-button"
                            href="/auth/login"
                            rel="external"
                            data-testid="login-button"
                        >
                            "Log in to Kite"
                        </a>
                    }
                })}
            <div class="status-side">
                {simulated
                    .then(|| {
                        view! {
                            <span class="broker-badge" data-testid="broker-badge">
                                "Simulated broker"
                            </span>
                        }
                    })}
                <span class="status-countdown" role="timer" data-testid="countdown">
                    {move || market.with(MarketHealth::countdown_label)}
                </span>
                <time
                    class="status-clock"
                    data-testid="exchange-clock"
                    datetime=move || now.get().to_rfc3339()
                >
                    {move || exchange_clock_label(now.get())}
                </time>
            </div>
        </header>
    }
}

#[component]
fn BannerMessage(text: &'static str) -> impl IntoView {
    view! {
        <header class="status-banner phase-unknown" role="status" data-testid="status-banner">
            <span class="status-text">{text}</span>
        </header>
    }
}

/// What the trader should know about the calendar itself: unpublished timings, data that does
/// not cover the date, an operator's file that failed to load.
fn calendar_notices(market: &MarketHealth) -> Option<String> {
    let notices: Vec<&str> = [
        &market.note,
        &market.calendar_warning,
        &market.calendar_error,
    ]
    .into_iter()
    .filter_map(|notice| notice.as_deref())
    .collect();
    (!notices.is_empty()).then(|| notices.join(" · "))
}

/// What the banner says when the Kite token needs a login.
fn login_message(state: AuthState) -> &'static str {
    match state {
        AuthState::Expired => "Kite session expired — log in to resume live data",
        _ => "Kite login required — log in to start live data",
    }
}

/// "14:03:21 IST": the exchange's wall clock.
fn exchange_clock_label(now: DateTime<Utc>) -> String {
    format!("{} IST", hh_mm_ss(ist_wall_clock(now).time()))
}

/// Moves `now` on every second from the monotonic clock, and marks the banner hydrated.
#[cfg(feature = "hydrate")]
fn start_ticking(
    anchor: ServerClockAnchor,
    now: RwSignal<DateTime<Utc>>,
    hydrated: RwSignal<bool>,
) {
    use crate::browser_clock::monotonic_now_ms;
    use send_wrapper::SendWrapper;

    const TICK_MS: u32 = 1000;

    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        let tick = move || now.set(anchor.server_time_at(monotonic_now_ms()));
        tick();
        hydrated.set(true);
        let interval = gloo_timers::callback::Interval::new(TICK_MS, tick);
        let interval = SendWrapper::new(interval);
        on_cleanup(move || drop(interval));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn exchange_clock_shows_ist_whatever_the_instant_zone() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 23, 47, 3).unwrap();
        assert_eq!(exchange_clock_label(now), "05:17:03 IST");
    }
}
