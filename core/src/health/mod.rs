//! Wire types of the health API, shared by the server (which serializes them) and the app
//! (which deserializes and renders them).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{
    Calendar, ClosedReason, IST_OFFSET, MarketSession, PhaseChange, TradingDay, View,
    ist_wall_clock,
};
use crate::display::{day_label, hh_mm};
use crate::{AuthHealth, BrokerKind, FeedHealth, MarketPhase, Segment, format_countdown};

/// The `market` object of the health API (`GET /api/system/health/market`): the primary
/// segment (NSE cash unless `--market-segment` says otherwise) in the specification's four
/// phases and grid, its exchange phase, and every segment in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketHealth {
    /// The phase now, one of the specification's four: PRE_OPEN, AUCTION_FREEZE, LIVE, CLOSED.
    pub phase: MarketPhase,
    /// The exchange's own phase of the primary segment now, which may also be CLOSING_AUCTION
    /// or POST_CLOSE (both CLOSED in `phase`).
    #[serde(default = "closed")]
    pub exchange_phase: MarketPhase,
    /// The specification's heading: "Pre-Open Session", "Auction Freeze", "Market Live" or
    /// "Market Closed" (the description says why: a weekend, a holiday by name).
    pub title: String,
    /// One or two sentences: what the phase means and what comes next, with its IST time.
    pub description: String,
    /// The specification's emoji for the phase: 🟢 LIVE, 🔵 PRE_OPEN and AUCTION_FREEZE,
    /// 🔴 CLOSED; always shown next to words, never alone.
    pub icon: String,
    /// True in PRE_OPEN, AUCTION_FREEZE and LIVE.
    pub is_trading_hours: bool,
    /// Whole seconds until the next phase change, rounded up; `null` when none is known.
    pub seconds_to_next_phase: Option<u64>,
    /// The phase that comes next; `null` when none is known.
    pub next_phase: Option<MarketPhase>,
    /// When the next phase starts (RFC 3339 in IST, +05:30); `null` when none is known.
    pub next_change_at: Option<DateTime<FixedOffset>>,
    /// The trading holiday today, if any.
    pub holiday_name: Option<String>,
    /// The special session today (weekend session, Muhurat), if any.
    pub session_name: Option<String>,
    /// Something the trader should know about today, e.g. unpublished session timings.
    pub note: Option<String>,
    /// The last date the primary segment's holiday data covers; `null` when none is loaded.
    pub calendar_coverage_ends: Option<NaiveDate>,
    /// Set when the answer rests on weekday rules alone ("NSE holiday list for 2027 not
    /// loaded"), and from 30 days before the holiday list runs out.
    pub calendar_warning: Option<String>,
    /// Set by the server when the operator's calendar file could not be loaded; the last good
    /// calendar is still in use.
    pub calendar_error: Option<String>,
    /// The primary segment and every segment of a subscribed instrument, each in the exchange's
    /// full vocabulary.
    #[serde(default)]
    pub segments: Vec<SegmentHealth>,
}

fn closed() -> MarketPhase {
    MarketPhase::Closed
}

/// One segment in the `market` object's `segments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHealth {
    /// `nse-cm`, `nse-fo`, `bse-cm`, `bse-fo`, `cds` or `mcx`.
    pub segment: Segment,
    /// A name for people, e.g. "NSE F&O".
    pub label: String,
    /// The exchange's phase now (all six).
    pub phase: MarketPhase,
    /// The phase in words, e.g. "Closing Auction".
    pub title: String,
    /// True in PRE_OPEN, AUCTION_FREEZE, LIVE and CLOSING_AUCTION.
    pub is_trading_hours: bool,
    /// Whole seconds until the next phase change, rounded up.
    pub seconds_to_next_phase: Option<u64>,
    /// The phase that comes next.
    pub next_phase: Option<MarketPhase>,
    /// When it starts (RFC 3339 in IST).
    pub next_change_at: Option<DateTime<FixedOffset>>,
    /// The trading holiday today in this segment, if any.
    pub holiday_name: Option<String>,
    /// The special session today in this segment, if any.
    pub session_name: Option<String>,
    /// The last date the segment's holiday data covers; `null` when none is loaded.
    pub calendar_coverage_ends: Option<NaiveDate>,
    /// "MCX holiday list for 2026 not loaded", and the heads-up before a list runs out.
    pub calendar_warning: Option<String>,
}

impl SegmentHealth {
    /// `segment` at `now`, in the exchange's vocabulary.
    pub fn at(calendar: &Calendar, segment: Segment, now: DateTime<Utc>) -> Self {
        let session = calendar.session(segment, now, View::Exchange);
        let (holiday_name, session_name) = match session.day {
            TradingDay::Holiday { name } => (Some(name), None),
            TradingDay::Special { name } | TradingDay::TimingsNotPublished { name } => {
                (None, Some(name))
            }
            TradingDay::Regular | TradingDay::Weekend => (None, None),
        };
        Self {
            segment,
            label: segment.label().to_string(),
            phase: session.phase,
            title: phase_title(session.phase).to_string(),
            is_trading_hours: session.phase.is_trading_hours(),
            seconds_to_next_phase: session.seconds_to_next_phase(now),
            next_phase: session.next_change.map(|change| change.phase),
            next_change_at: session.next_change.map(|change| in_ist(change.at)),
            holiday_name: holiday_name.map(str::to_string),
            session_name: session_name.map(str::to_string),
            calendar_coverage_ends: session.coverage.map(|coverage| coverage.ends),
            calendar_warning: session.coverage_warning(),
        }
    }
}

impl MarketHealth {
    /// The market object at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use marketwarden_core::{Calendar, MarketHealth, MarketPhase};
    ///
    /// // Saturday 2026-11-28, 12:00 IST.
    /// let now = Utc.with_ymd_and_hms(2026, 11, 28, 6, 30, 0).unwrap();
    /// let market = MarketHealth::at(&Calendar::builtin(), now);
    /// assert_eq!(market.phase, MarketPhase::Closed);
    /// assert_eq!(market.title, "Market Closed");
    /// assert_eq!(market.description, "Weekend. Pre-open starts Mon 30 Nov at 09:00 IST.");
    /// ```
    pub fn at(calendar: &Calendar, now: DateTime<Utc>) -> Self {
        Self::for_segments(calendar, Segment::NseCm, &[], now)
    }

    /// The market object with `primary` as the market, and `in_use` (the segments of the
    /// subscribed instruments) listed beside it in `segments`.
    pub fn for_segments(
        calendar: &Calendar,
        primary: Segment,
        in_use: &[Segment],
        now: DateTime<Utc>,
    ) -> Self {
        let mut market =
            Self::from_session(&calendar.session(primary, now, View::Specification), now);
        market.exchange_phase = calendar.session(primary, now, View::Exchange).phase;
        let mut listed = alloc::vec![primary];
        for segment in Segment::ALL {
            if in_use.contains(&segment) && !listed.contains(&segment) {
                listed.push(segment);
            }
        }
        market.segments = listed
            .into_iter()
            .map(|segment| SegmentHealth::at(calendar, segment, now))
            .collect();
        market
    }

    /// When the next change of any phase shown (the market's or a segment's) comes, if known.
    pub fn next_change_anywhere(&self) -> Option<DateTime<FixedOffset>> {
        core::iter::once(self.next_change_at)
            .chain(self.segments.iter().map(|segment| segment.next_change_at))
            .flatten()
            .min()
    }

    /// True when the primary segment or any segment in use is in trading hours (PRE_OPEN,
    /// AUCTION_FREEZE, LIVE, CLOSING_AUCTION): what the priority rule asks.
    pub fn any_trading_hours(&self) -> bool {
        self.is_trading_hours || self.segments.iter().any(|segment| segment.is_trading_hours)
    }

    /// The market object for a session already computed at `now`, in the specification's view
    /// (`exchange_phase` is the same phase, `segments` empty).
    pub fn from_session(session: &MarketSession<'_>, now: DateTime<Utc>) -> Self {
        let phase = session.phase;
        let (holiday_name, session_name, unpublished) = match session.day {
            TradingDay::Holiday { name } => (Some(name), None, false),
            TradingDay::Special { name } => (None, Some(name), false),
            TradingDay::TimingsNotPublished { name } => (None, Some(name), true),
            TradingDay::Regular | TradingDay::Weekend => (None, None, false),
        };
        // The specification's titles; a closed day says why in the description.
        let title = phase_title(phase).to_string();
        let situation = match (phase, session.closed_reason, session_name) {
            (MarketPhase::PreOpen, _, _) => "Order entry for the opening call auction.".to_string(),
            (MarketPhase::ClosingAuction, _, _) => {
                "The closing auction's orders are matched.".to_string()
            }
            (MarketPhase::PostClose, _, _) => "Trades at the closing price only.".to_string(),
            (MarketPhase::AuctionFreeze, _, _) => {
                "Order entry is closed while the opening price is matched.".to_string()
            }
            (MarketPhase::Live, _, Some(name)) => format!("{name}."),
            (MarketPhase::Live, _, None) => "Continuous trading.".to_string(),
            (_, Some(ClosedReason::Weekend), _) => "Weekend.".to_string(),
            (_, Some(ClosedReason::Holiday), _) => match holiday_name {
                Some(name) => format!("Trading holiday: {name}."),
                None => "Trading holiday.".to_string(),
            },
            (_, Some(ClosedReason::TimingsNotPublished), name) => format!(
                "{}: session timings are not published yet.",
                name.unwrap_or("Special session")
            ),
            (_, Some(ClosedReason::BeforeOpen), Some(name)) => format!("{name} later today."),
            (_, Some(ClosedReason::BeforeOpen), None) => "Before the pre-open.".to_string(),
            (_, Some(ClosedReason::BetweenSessions), _) => "Between sessions.".to_string(),
            (_, _, _) => "Trading has ended for the day.".to_string(),
        };
        let description = match session.next_change {
            Some(change) => format!("{situation} {}", next_change_sentence(session, change)),
            None => format!("{situation} No upcoming session is known."),
        };
        let note = unpublished.then(|| {
            format!(
                "{}: NSE has not published the timings; shown as closed until they are loaded",
                session_name.unwrap_or("Special session")
            )
        });
        Self {
            phase,
            exchange_phase: phase,
            title,
            description,
            icon: icon(phase).to_string(),
            is_trading_hours: phase.is_trading_hours(),
            seconds_to_next_phase: session.seconds_to_next_phase(now),
            next_phase: session.next_change.map(|change| change.phase),
            next_change_at: session.next_change.map(|change| in_ist(change.at)),
            holiday_name: holiday_name.map(str::to_string),
            session_name: session_name.map(str::to_string),
            note,
            calendar_coverage_ends: session.coverage.map(|coverage| coverage.ends),
            calendar_warning: session.coverage_warning(),
            calendar_error: None,
            segments: Vec::new(),
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

/// What the page carries: the server's clock, the operator's calendar overrides and the
/// segments, from which the page computes the market itself ([`MarketSnapshot::market_at`]),
/// at `server_time` first and then by the second, not from the PC's clock, with the same
/// calendar as the server. (Not the market object itself: the browser would only compute it
/// again, and its decoder would weigh on the bundle.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// The server's clock when the snapshot was taken.
    pub server_time: DateTime<Utc>,
    /// Set when the operator's calendar file could not be loaded; the last good calendar is
    /// still in use.
    #[serde(default)]
    pub calendar_error: Option<String>,
    /// The text of the operator's calendar file laid over the built-in calendar, if any.
    pub calendar_overrides: Option<String>,
    /// The broker the server talks to: the page says plainly when it is the simulator.
    pub broker: BrokerKind,
    /// The Kite access token's state, when the server runs the auth machine: the banner offers
    /// a login when it requires one.
    #[serde(default)]
    pub auth: Option<AuthHealth>,
    /// The ticker feed's state, when the server runs the feed watchdog.
    #[serde(default)]
    pub feed: Option<FeedHealth>,
    /// The server's primary segment (`--market-segment`).
    #[serde(default)]
    pub primary_segment: Segment,
    /// The segments of the subscribed instruments.
    #[serde(default)]
    pub segments_in_use: Vec<Segment>,
}

impl MarketSnapshot {
    /// The snapshot at `now`, no overrides, the simulated broker, NSE cash alone.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            server_time: now,
            calendar_error: None,
            calendar_overrides: None,
            broker: BrokerKind::Simulated,
            auth: None,
            feed: None,
            primary_segment: Segment::NseCm,
            segments_in_use: Vec::new(),
        }
    }

    /// The market object at `now` with this snapshot's calendar and segments, as the browser
    /// computes it between answers from the server.
    pub fn market_at(&self, calendar: &Calendar, now: DateTime<Utc>) -> MarketHealth {
        MarketHealth::for_segments(calendar, self.primary_segment, &self.segments_in_use, now)
    }

    /// The calendar the snapshot was computed with: the built-in one with the overrides laid
    /// over it. Overrides that do not parse (the server never sends such) are ignored.
    pub fn calendar(&self) -> Calendar {
        let builtin = Calendar::builtin();
        match &self.calendar_overrides {
            Some(text) => builtin.with_overrides(text).unwrap_or(builtin),
            None => builtin,
        }
    }
}

/// An instant with the IST offset, as traders read it: `2026-11-30T09:15:00+05:30`.
pub fn in_ist(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&IST_OFFSET)
}

/// The specification's titles, and the same style for the exchange's two extra phases.
fn phase_title(phase: MarketPhase) -> &'static str {
    match phase {
        MarketPhase::PreOpen => "Pre-Open Session",
        MarketPhase::AuctionFreeze => "Auction Freeze",
        MarketPhase::Live => "Market Live",
        MarketPhase::ClosingAuction => "Closing Auction",
        MarketPhase::PostClose => "Post-Close Session",
        MarketPhase::Closed => "Market Closed",
    }
}

fn icon(phase: MarketPhase) -> &'static str {
    match phase {
        MarketPhase::PreOpen | MarketPhase::AuctionFreeze | MarketPhase::ClosingAuction => "🔵",
        MarketPhase::Live => "🟢",
        MarketPhase::PostClose | MarketPhase::Closed => "🔴",
    }
}

fn next_change_verb(next: MarketPhase) -> &'static str {
    match next {
        MarketPhase::PreOpen => "Pre-open starts",
        MarketPhase::AuctionFreeze => "Order entry closes",
        MarketPhase::Live => "Trading starts",
        MarketPhase::ClosingAuction => "Closing auction starts",
        MarketPhase::PostClose => "Post-close starts",
        MarketPhase::Closed => "Market closes",
    }
}

/// "Market closes at 15:30 IST." on the same day; "Pre-open starts Mon 30 Nov at 09:00 IST."
/// on a later one.
fn next_change_sentence(session: &MarketSession<'_>, change: PhaseChange) -> String {
    let local = ist_wall_clock(change.at);
    let verb = next_change_verb(change.phase);
    let time = hh_mm(local.time());
    if local.date() == session.date {
        format!("{verb} at {time} IST.")
    } else {
        format!("{verb} {} at {time} IST.", day_label(local.date()))
    }
}

#[cfg(test)]
mod tests;
