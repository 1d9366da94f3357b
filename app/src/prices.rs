//! The dashboard's live prices: one row per subscribed instrument, fed by `/ws/market`, each
//! with its last tick time and a stale marker, so the feed's health shows in the data itself.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use marketwarden_core::{InstrumentHealth, Segment, SegmentHealth, hh_mm_ss, ist_wall_clock};

use crate::state::LiveState;

/// One instrument's latest tick, as the browser received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    pub last_price: f64,
    pub change_percent: Option<f64>,
    /// The server's time when the last fresh tick arrived (the page's estimate); `None` while
    /// only the last known values Kite sends after a subscription came.
    pub at: Option<DateTime<Utc>>,
}

/// What a row shows about freshness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Live,
    Stale,
    /// A price, but only the last known one (after hours, or before the first tick).
    LastKnown,
    NoData,
}

impl Freshness {
    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Stale => "stale",
            Self::LastKnown => "last known",
            Self::NoData => "no data yet",
        }
    }
}

/// Freshness of an instrument at `now`: from the browser's last tick, else from the server's
/// report of its age when the page was made.
pub fn freshness(
    price: Option<&Price>,
    reported_age: Option<f64>,
    reported_at: DateTime<Utc>,
    now: DateTime<Utc>,
    threshold_seconds: f64,
) -> Freshness {
    let age = match price.and_then(|price| price.at) {
        Some(at) => Some((now - at).num_milliseconds() as f64 / 1000.0),
        None => {
            reported_age.map(|age| age + (now - reported_at).num_milliseconds() as f64 / 1000.0)
        }
    };
    match age {
        None if price.is_some() => Freshness::LastKnown,
        None => Freshness::NoData,
        Some(age) if age > threshold_seconds => Freshness::Stale,
        Some(_) => Freshness::Live,
    }
}

/// "24,150.35"-style: two decimals, thousands grouped.
pub fn rupees(value: f64) -> String {
    let text = format!("{value:.2}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{fraction}")
}

/// The table of live prices.
#[component]
pub fn LivePrices(
    instruments: Vec<InstrumentHealth>,
    threshold_seconds: f64,
    /// Also the calendar each row computes its segment's phase with.
    live: LiveState,
) -> impl IntoView {
    let prices: RwSignal<HashMap<u32, Price>> = RwSignal::new(HashMap::new());
    #[cfg(feature = "hydrate")]
    follow_ticks(prices, live);
    let reported_at = live.machines.with_untracked(|m| m.reported_at);
    let rows = instruments
        .into_iter()
        .map(|instrument| {
            let token = instrument.instrument_token;
            let segment = Segment::of_instrument(token).unwrap_or(Segment::NseCm);
            let session = move || {
                let segment = live
                    .calendar
                    .with(|in_use| SegmentHealth::at(&in_use.calendar, segment, live.now.get()));
                format!("{} · {}", segment.label, segment.title)
            };
            let reported_age = instrument.last_tick_seconds_ago;
            let price = move || prices.with(|prices| prices.get(&token).cloned());
            let state = move || {
                freshness(
                    price().as_ref(),
                    reported_age,
                    reported_at,
                    live.now.get(),
                    threshold_seconds,
                )
            };
            view! {
                <tr data-testid="price-row" data-token=token data-freshness=move || state().label()>
                    <th scope="row">{instrument.name.clone()}</th>
                    <td class="numeric" data-testid="last-price">
                        {move || price().map_or_else(|| "—".to_string(), |p| rupees(p.last_price))}
                    </td>
                    <td class=move || {
                        match price().and_then(|p| p.change_percent) {
                            Some(change) if change > 0.0 => "numeric up",
                            Some(change) if change < 0.0 => "numeric down",
                            _ => "numeric",
                        }
                    }>
                        {move || {
                            price()
                                .and_then(|p| p.change_percent)
                                .map_or_else(
                                    || "—".to_string(),
                                    |change| {
                                        let arrow = if change > 0.0 { "▲" } else if change < 0.0 { "▼" } else { "" };
                                        format!("{arrow} {change:+.2} %")
                                    },
                                )
                        }}
                    </td>
                    <td class="numeric">
                        {move || {
                            price()
                                .and_then(|p| p.at)
                                .map_or_else(
                                    || "—".to_string(),
                                    |at| hh_mm_ss(ist_wall_clock(at).time()),
                                )
                        }}
                    </td>
                    <td>
                        <span class=move || format!("freshness {}", state().label().replace(' ', "-"))>
                            {move || state().label()}
                        </span>
                    </td>
                    <td class="mode">{instrument.mode.clone()}</td>
                    <td data-testid="segment-phase">{session}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="prices" data-testid="prices">
            <caption>"Live prices from the Kite ticker"</caption>
            <thead>
                <tr>
                    <th scope="col">"Instrument"</th>
                    <th scope="col" class="numeric">"Last"</th>
                    <th scope="col" class="numeric">"Change"</th>
                    <th scope="col" class="numeric">"Last tick (IST)"</th>
                    <th scope="col">"Data"</th>
                    <th scope="col">"Mode"</th>
                    <th scope="col">"Session"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Reads `/ws/market`, reconnecting two seconds after it closes.
#[cfg(feature = "hydrate")]
fn follow_ticks(prices: RwSignal<HashMap<u32, Price>>, live: LiveState) {
    Effect::new(move |_| connect(prices, live));
}

#[cfg(feature = "hydrate")]
fn connect(prices: RwSignal<HashMap<u32, Price>>, live: LiveState) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;

    let Some(location) = web_sys::window().map(|window| window.location()) else {
        return;
    };
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    let Ok(host) = location.host() else {
        return;
    };
    let Ok(socket) = web_sys::WebSocket::new(&format!("{scheme}://{host}/ws/market")) else {
        return;
    };
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            let Ok(frame) = serde_json::from_str::<marketwarden_core::MarketFrame>(&text) else {
                return;
            };
            let at = live.now.get_untracked();
            prices.update(|prices| {
                for tick in frame.ticks {
                    // A snapshot updates the price, not the time of the last fresh tick.
                    let fresh_at = if tick.snapshot {
                        prices
                            .get(&tick.instrument_token)
                            .and_then(|price| price.at)
                    } else {
                        Some(at)
                    };
                    prices.insert(
                        tick.instrument_token,
                        Price {
                            last_price: tick.last_price,
                            change_percent: tick.change_percent,
                            at: fresh_at,
                        },
                    );
                }
            });
        });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |_| {
        gloo_timers::callback::Timeout::new(2_000, move || connect(prices, live)).forget();
    });
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn rupees_group_thousands_with_two_decimals() {
        assert_eq!(rupees(24150.35), "24,150.35");
        assert_eq!(rupees(2500.0), "2,500.00");
        assert_eq!(rupees(99.5), "99.50");
        assert_eq!(rupees(-1234567.891), "-1,234,567.89");
    }

    #[test]
    fn an_instrument_is_stale_past_the_threshold_and_without_data_until_a_tick() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap();
        let price = Price {
            last_price: 1.0,
            change_percent: None,
            at: Some(t0),
        };
        let at = |s| t0 + TimeDelta::seconds(s);
        assert_eq!(
            freshness(Some(&price), None, t0, at(10), 10.0),
            Freshness::Live
        );
        assert_eq!(
            freshness(Some(&price), None, t0, at(11), 10.0),
            Freshness::Stale
        );
        assert_eq!(freshness(None, None, t0, at(0), 10.0), Freshness::NoData);
        // From the server's report: 4 s old then, 7 s later it is 11 s old.
        assert_eq!(
            freshness(None, Some(4.0), t0, at(7), 10.0),
            Freshness::Stale
        );
        assert_eq!(freshness(None, Some(4.0), t0, at(5), 10.0), Freshness::Live);
        // Only the snapshot after a subscription: a price, but no fresh data.
        let snapshot = Price { at: None, ..price };
        assert_eq!(
            freshness(Some(&snapshot), None, t0, at(1), 10.0),
            Freshness::LastKnown
        );
        assert_eq!(
            freshness(Some(&snapshot), Some(4.0), t0, at(1), 10.0),
            Freshness::Live,
            "the server's report of a fresh tick still counts"
        );
    }
}
