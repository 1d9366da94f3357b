//! The sticky status banner: the most important state first — a login needed, the feed down in
//! trading hours, else the market session — with expandable details.
//!
//! The server renders it from its own snapshot, which travels inside the page; the browser
//! hydrates from that same snapshot and then reads the live state (`state.rs`) that `live.rs`
//! keeps: the market phase and countdown run from the calendar compiled to WASM even when the
//! server is gone.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use marketwarden_core::{BrokerKind, MarketHealth, MarketSnapshot, hh_mm_ss, ist_wall_clock};

use crate::state::LiveState;
use crate::status::{BannerModel, banner_model};

/// The banner at the top of every page.
#[component]
pub fn SystemStatusBanner(
    snapshot: Option<MarketSnapshot>,
    live: Option<LiveState>,
) -> impl IntoView {
    match snapshot.zip(live) {
        Some((snapshot, live)) => view! { <StatusBanner snapshot live /> }.into_any(),
        None => view! { <BannerMessage text="Market status unavailable." /> }.into_any(),
    }
}

#[component]
fn StatusBanner(snapshot: MarketSnapshot, live: LiveState) -> impl IntoView {
    let simulated = snapshot.broker == BrokerKind::Simulated;
    let LiveState {
        now,
        machines,
        contact,
        hydrated,
        calendar,
        ..
    } = live;
    let segments = snapshot.clone();
    let market = Memo::new(move |_| {
        calendar.with(|in_use| MarketHealth {
            calendar_error: in_use.error.clone(),
            ..segments.market_at(&in_use.calendar, now.get())
        })
    });
    let model = Memo::new(move |_| {
        machines.with(|machines| banner_model(&market.get(), machines, contact.get(), now.get()))
    });

    let field = move |pick: fn(&BannerModel) -> String| move || model.with(pick);
    view! {
        <header
            class=move || model.with(|m| format!("status-banner {}", m.tone))
            role=move || model.with(|m| m.role)
            aria-live=move || model.with(|m| if m.role == "alert" { "assertive" } else { "polite" })
            data-testid="status-banner"
            data-phase=move || market.with(|m| m.phase.as_str())
            data-priority=move || model.with(priority_name)
            data-hydrated=move || hydrated.get().then_some("true")
        >
            <span
                class=move || {
                    model.with(|m| if m.reconnecting { "status-icon spinning" } else { "status-icon" })
                }
                aria-hidden="true"
            >
                {field(|m| m.icon.clone())}
            </span>
            <div class="status-text">
                <strong class="status-title" data-testid="banner-title">
                    {field(|m| m.title.clone())}
                </strong>
                <span class="status-description" data-testid="banner-description">
                    {field(|m| m.description.clone())}
                </span>
                {move || {
                    model
                        .with(|m| m.segments_line.clone())
                        .map(|text| {
                            view! {
                                <span class="status-segments" data-testid="segments-line">
                                    {text}
                                </span>
                            }
                        })
                }}
                {move || {
                    model
                        .with(|m| m.market_line.clone())
                        .map(|text| {
                            view! {
                                <span class="status-market" data-testid="market-line">
                                    {text}
                                </span>
                            }
                        })
                }}
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
                {move || {
                    model
                        .with(|m| m.token_notice.clone())
                        .map(|text| {
                            view! {
                                <span class="status-notice" data-testid="token-notice">
                                    <span aria-hidden="true">"⚠ "</span>
                                    {text}
                                </span>
                            }
                        })
                }}
                {move || {
                    model
                        .with(|m| m.offline_notice.clone())
                        .map(|text| {
                            view! {
                                <span class="status-notice offline" data-testid="offline-notice">
                                    <span aria-hidden="true">"⚡ "</span>
                                    {text}
                                </span>
                            }
                        })
                }}
                <Details model />
            </div>
            {move || {
                model
                    .with(|m| m.show_login)
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
                    })
            }}
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

/// The three machines' fields, behind a native disclosure (keyboard reachable, works without
/// JavaScript).
#[component]
fn Details(model: Memo<BannerModel>) -> impl IntoView {
    view! {
        <details class="status-details" data-testid="status-details">
            <summary>"Details"</summary>
            <div class="details-grid">
                {move || {
                    model
                        .with(|m| m.details.clone())
                        .into_iter()
                        .map(|section| {
                            view! {
                                <section>
                                    <h2>{section.heading}</h2>
                                    <dl>
                                        {section
                                            .rows
                                            .into_iter()
                                            .map(|(label, value)| {
                                                view! {
                                                    <dt>{label}</dt>
                                                    <dd>{value}</dd>
                                                }
                                            })
                                            .collect_view()}
                                    </dl>
                                </section>
                            }
                        })
                        .collect_view()
                }}
            </div>
        </details>
    }
}

fn priority_name(model: &BannerModel) -> &'static str {
    match model.priority {
        marketwarden_core::PriorityStatus::AuthRequired => "AUTH_REQUIRED",
        marketwarden_core::PriorityStatus::FeedDisconnected => "FEED_DISCONNECTED",
        marketwarden_core::PriorityStatus::MarketSession => "MARKET_SESSION",
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

/// "14:03:21 IST": the exchange's wall clock.
fn exchange_clock_label(now: DateTime<Utc>) -> String {
    format!("{} IST", hh_mm_ss(ist_wall_clock(now).time()))
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
