//! Wire types of the health API, shared by the server (which serializes them) and the app
//! (which deserializes and renders them).

use alloc::format;
use alloc::string::{String, ToString};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::session::{ClosedReason, IST, MarketSession, PhaseChange, session_at};
use crate::{MarketPhase, format_countdown};

/// The `market` object of the health API (`GET /api/system/health/market`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketHealth {
    /// The phase now.
    pub phase: MarketPhase,
    /// A short heading, e.g. "Market live".
    pub title: String,
    /// One or two sentences: what the phase means and what comes next, with its IST time.
    pub description: String,
    /// An emoji that stands for the phase; always shown next to words, never alone.
    pub icon: String,
    /// True in PRE_OPEN, AUCTION_FREEZE and LIVE.
    pub is_trading_hours: bool,
    /// Whole seconds until the next phase change, rounded up; `null` when none is known.
    pub seconds_to_next_phase: Option<u64>,
    /// The phase that comes next; `null` when none is known.
    pub next_phase: Option<MarketPhase>,
    /// When the next phase starts (RFC 3339, UTC); `null` when none is known.
    pub next_change_at: Option<DateTime<Utc>>,
}

impl MarketHealth {
    /// The market object at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use marketwarden_core::{MarketHealth, MarketPhase};
    ///
    /// // Saturday 2026-11-28, 12:00 IST.
    /// let now = Utc.with_ymd_and_hms(2026, 11, 28, 6, 30, 0).unwrap();
    /// let market = MarketHealth::at(now);
    /// assert_eq!(market.phase, MarketPhase::Closed);
    /// assert_eq!(market.title, "Closed — Weekend");
    /// assert_eq!(market.description, "Weekend. Pre-open starts Mon 30 Nov at 09:00 IST.");
    /// ```
    pub fn at(now: DateTime<Utc>) -> Self {
        Self::from_session(&session_at(now), now)
    }

    /// The market object for a session already computed at `now`.
    pub fn from_session(session: &MarketSession, now: DateTime<Utc>) -> Self {
        let phase = session.phase;
        let (title, situation) = match (phase, session.closed_reason) {
            (MarketPhase::PreOpen, _) => ("Pre-open", "Order entry for the opening call auction."),
            (MarketPhase::AuctionFreeze, _) => (
                "Auction freeze",
                "Order entry is closed while the opening price is matched.",
            ),
            (MarketPhase::Live, _) => ("Market live", "Continuous trading."),
            (MarketPhase::Closed, Some(ClosedReason::Weekend)) => ("Closed — Weekend", "Weekend."),
            (MarketPhase::Closed, Some(ClosedReason::BeforeOpen)) => {
                ("Market closed", "Before the pre-open.")
            }
            (MarketPhase::Closed, _) => ("Market closed", "Trading has ended for the day."),
        };
        let description = match session.next_change {
            Some(change) => format!("{situation} {}", next_change_sentence(session, change)),
            None => format!("{situation} No upcoming session is known."),
        };
        Self {
            phase,
            title: title.to_string(),
            description,
            icon: icon(phase).to_string(),
            is_trading_hours: phase.is_trading_hours(),
            seconds_to_next_phase: session.seconds_to_next_phase(now),
            next_phase: session.next_change.map(|change| change.phase),
            next_change_at: session.next_change.map(|change| change.at),
        }
    }

    /// The countdown line, e.g. "Trading starts in 05:00", or `None` when no change is known.
    pub fn countdown_label(&self) -> Option<String> {
        let seconds = self.seconds_to_next_phase?;
        let next = self.next_phase?;
        Some(format!(
            "{} in {}",
            next_change_verb(next),
            format_countdown(seconds)
        ))
    }
}

/// What the health API and the page carry together: the server's clock and the market at that
/// instant. The browser continues the countdown from `server_time`, not from its own clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// The server's clock when the snapshot was taken.
    pub server_time: DateTime<Utc>,
    /// The market at `server_time`.
    pub market: MarketHealth,
}

impl MarketSnapshot {
    /// The snapshot at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            server_time: now,
            market: MarketHealth::at(now),
        }
    }
}

fn icon(phase: MarketPhase) -> &'static str {
    match phase {
        MarketPhase::PreOpen => "🔔",
        MarketPhase::AuctionFreeze => "⏳",
        MarketPhase::Live => "📈",
        MarketPhase::Closed => "🌙",
    }
}

fn next_change_verb(next: MarketPhase) -> &'static str {
    match next {
        MarketPhase::PreOpen => "Pre-open starts",
        MarketPhase::AuctionFreeze => "Order entry closes",
        MarketPhase::Live => "Trading starts",
        MarketPhase::Closed => "Market closes",
    }
}

/// "Market closes at 15:30 IST." on the same day; "Pre-open starts Mon 30 Nov at 09:00 IST."
/// on a later one.
fn next_change_sentence(session: &MarketSession, change: PhaseChange) -> String {
    let local = change.at.with_timezone(&IST);
    let verb = next_change_verb(change.phase);
    let time = local.format("%H:%M");
    if local.date_naive() == session.date {
        format!("{verb} at {time} IST.")
    } else {
        format!("{verb} {} at {time} IST.", local.format("%a %-d %b"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid instant")
    }

    #[test]
    fn live_market_object_has_the_seed_fields_and_values() {
        // Monday 2026-11-30, 14:00:00 IST = 08:30 UTC; the close is 90 minutes away.
        let market = MarketHealth::at(utc(2026, 11, 30, 8, 30, 0));
        let json = serde_json::to_value(&market).expect("serializable");
        assert_eq!(
            json,
            serde_json::json!({
                "phase": "LIVE",
                "title": "Market live",
                "description": "Continuous trading. Market closes at 15:30 IST.",
                "icon": "📈",
                "is_trading_hours": true,
                "seconds_to_next_phase": 5400,
                "next_phase": "CLOSED",
                "next_change_at": "2026-11-30T10:00:00Z",
            })
        );
    }

    #[test]
    fn every_phase_has_its_own_title_icon_and_trading_flag() {
        let cases = [
            (
                utc(2026, 11, 30, 3, 31, 0),
                "PRE_OPEN",
                "Pre-open",
                "🔔",
                true,
            ),
            (
                utc(2026, 11, 30, 3, 40, 0),
                "AUCTION_FREEZE",
                "Auction freeze",
                "⏳",
                true,
            ),
            (
                utc(2026, 11, 30, 4, 0, 0),
                "LIVE",
                "Market live",
                "📈",
                true,
            ),
            (
                utc(2026, 11, 30, 1, 0, 0),
                "CLOSED",
                "Market closed",
                "🌙",
                false,
            ),
            (
                utc(2026, 11, 29, 4, 0, 0),
                "CLOSED",
                "Closed — Weekend",
                "🌙",
                false,
            ),
        ];
        for (now, phase, title, icon, trading) in cases {
            let market = MarketHealth::at(now);
            assert_eq!(market.phase.as_str(), phase, "at {now}");
            assert_eq!(market.title, title, "at {now}");
            assert_eq!(market.icon, icon, "at {now}");
            assert_eq!(market.is_trading_hours, trading, "at {now}");
        }
    }

    #[test]
    fn description_names_the_day_when_the_change_is_not_today() {
        // Monday 2026-11-30 after the close: Tuesday's pre-open.
        let market = MarketHealth::at(utc(2026, 11, 30, 12, 0, 0));
        assert_eq!(
            market.description,
            "Trading has ended for the day. Pre-open starts Tue 1 Dec at 09:00 IST."
        );
        // Before the open on the same day.
        let market = MarketHealth::at(utc(2026, 11, 30, 2, 0, 0));
        assert_eq!(
            market.description,
            "Before the pre-open. Pre-open starts at 09:00 IST."
        );
    }

    #[test]
    fn countdown_label_names_the_next_phase() {
        // 09:10 IST: five minutes to the open.
        let market = MarketHealth::at(utc(2026, 11, 30, 3, 40, 0));
        assert_eq!(
            market.countdown_label().as_deref(),
            Some("Trading starts in 05:00")
        );
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let snapshot = MarketSnapshot::at(utc(2026, 11, 28, 23, 47, 3));
        let json = serde_json::to_string(&snapshot).expect("serializable");
        let back: MarketSnapshot = serde_json::from_str(&json).expect("deserializable");
        assert_eq!(back, snapshot);
    }
}
