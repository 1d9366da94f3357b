//! When the feed should be up: trading hours (PRE_OPEN, AUCTION_FREEZE, LIVE), opened `lead`
//! early so the connection is ready before pre-open. Worked out from the calendar's next phase
//! change, never by polling.

use chrono::{DateTime, TimeDelta, Utc};
use marketwarden_core::{Calendar, MarketPhase};

/// The feed's view of the market at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketWindow {
    /// The feed is wanted: trading hours, or the lead before them.
    pub open: bool,
    /// The phase is LIVE: subscribed instruments are expected to tick.
    pub live: bool,
    /// When either of those next changes, if the calendar knows.
    pub next_change: Option<DateTime<Utc>>,
}

/// Whether the feed is wanted at `now`, whether ticks are expected, and when that next changes.
pub fn market_window(calendar: &Calendar, now: DateTime<Utc>, lead: TimeDelta) -> MarketWindow {
    let here = calendar.session_at(now);
    let ahead = now
        .checked_add_signed(lead)
        .map(|later| calendar.session_at(later));
    let open = here.phase.is_trading_hours()
        || ahead
            .as_ref()
            .is_some_and(|session| session.phase.is_trading_hours());
    let changes = [
        here.next_change.map(|change| change.at),
        ahead
            .and_then(|session| session.next_change)
            .and_then(|change| change.at.checked_sub_signed(lead)),
    ];
    let next_change = changes.into_iter().flatten().filter(|at| *at > now).min();
    MarketWindow {
        open,
        live: here.phase == MarketPhase::Live,
        next_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Monday 2026-11-30 at `h:m:s` IST.
    fn ist(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap() - TimeDelta::minutes(330)
    }

    const LEAD: TimeDelta = TimeDelta::minutes(5);

    #[test]
    fn the_window_opens_at_the_lead_before_pre_open_and_closes_at_the_close() {
        let calendar = Calendar::builtin();
        let cases = [
            (ist(8, 54, 59), false, Some(ist(8, 55, 0))),
            (ist(8, 55, 0), true, Some(ist(9, 0, 0))),
            (ist(9, 10, 0), true, Some(ist(9, 15, 0))),
            (ist(15, 29, 59), true, Some(ist(15, 30, 0))),
            (
                ist(15, 30, 0),
                false,
                Some(ist(8, 55, 0) + TimeDelta::days(1)),
            ),
        ];
        for (now, open, next) in cases {
            let window = market_window(&calendar, now, LEAD);
            assert_eq!((window.open, window.next_change), (open, next), "{now}");
        }
    }

    #[test]
    fn ticks_are_expected_in_live_only() {
        let calendar = Calendar::builtin();
        for (now, live) in [
            (ist(9, 0, 0), false),
            (ist(9, 14, 59), false),
            (ist(9, 15, 0), true),
            (ist(15, 29, 59), true),
            (ist(15, 30, 0), false),
        ] {
            assert_eq!(market_window(&calendar, now, LEAD).live, live, "{now}");
        }
    }

    #[test]
    fn weekends_and_holidays_stay_closed_until_the_next_session() {
        let calendar = Calendar::builtin();
        // Friday 2026-11-27 after the close: next window Monday 08:55.
        let friday = ist(16, 0, 0) - TimeDelta::days(3);
        let window = market_window(&calendar, friday, LEAD);
        let next = window.next_change;
        assert!(!window.open);
        assert_eq!(next.map(|at| at > friday), Some(true));
        // Every next change is in the future: the shell never spins.
        let mut at = friday;
        for _ in 0..20 {
            let next = market_window(&calendar, at, LEAD)
                .next_change
                .expect("the calendar knows");
            assert!(next > at);
            at = next;
        }
        assert!(at > ist(15, 30, 0) + TimeDelta::days(1));
    }
}
