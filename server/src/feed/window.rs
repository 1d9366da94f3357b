//! When the feed should be up: the union of the trading hours (PRE_OPEN, AUCTION_FREEZE, LIVE,
//! CLOSING_AUCTION) of the subscribed instruments' segments, opened `lead` early so the
//! connection is ready before the earliest pre-open. An NSE F&O instrument keeps the ticker open
//! to 15:40, an MCX one into the night. Worked out from the calendar's next phase changes,
//! never by polling.

use chrono::{DateTime, TimeDelta, Utc};
use marketwarden_core::{Calendar, MarketPhase, Segment, View};

/// The feed's view of the market at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketWindow {
    /// The feed is wanted: a segment's trading hours, or the lead before them.
    pub open: bool,
    /// A segment is LIVE: its subscribed instruments are expected to tick.
    pub live: bool,
    /// When either of those next changes, if the calendar knows.
    pub next_change: Option<DateTime<Utc>>,
}

/// Whether the feed is wanted at `now` for instruments of `segments` (NSE cash when none), whether
/// ticks are expected, and when that next changes.
pub fn market_window(
    calendar: &Calendar,
    segments: &[Segment],
    now: DateTime<Utc>,
    lead: TimeDelta,
) -> MarketWindow {
    let segments = if segments.is_empty() {
        &[Segment::NseCm][..]
    } else {
        segments
    };
    let mut window = MarketWindow {
        open: false,
        live: false,
        next_change: None,
    };
    for segment in segments {
        let here = calendar.session(*segment, now, View::Exchange);
        let ahead = now
            .checked_add_signed(lead)
            .map(|later| calendar.session(*segment, later, View::Exchange));
        window.open |= here.phase.is_trading_hours()
            || ahead
                .as_ref()
                .is_some_and(|session| session.phase.is_trading_hours());
        window.live |= here.phase == MarketPhase::Live;
        let changes = [
            here.next_change.map(|change| change.at),
            ahead
                .and_then(|session| session.next_change)
                .and_then(|change| change.at.checked_sub_signed(lead)),
        ];
        let next = changes.into_iter().flatten().filter(|at| *at > now).min();
        window.next_change = [window.next_change, next].into_iter().flatten().min();
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-30 at `h:m:s` IST.
    fn ist(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        marketwarden_testkit::ist_hms(marketwarden_testkit::monday(), h, m, s)
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
            // NSE cash's closing auction (from 2026-08-03) is trading hours: open to 15:35.
            (ist(15, 30, 0), true, Some(ist(15, 35, 0))),
            (ist(15, 35, 0), false, Some(ist(15, 45, 0))),
            // After the post-close nothing is left today.
            (
                ist(16, 0, 0),
                false,
                Some(ist(8, 55, 0) + TimeDelta::days(1)),
            ),
        ];
        for (now, open, next) in cases {
            let window = market_window(&calendar, &[], now, LEAD);
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
            assert_eq!(market_window(&calendar, &[], now, LEAD).live, live, "{now}");
        }
    }

    #[test]
    fn the_window_is_the_union_of_the_segments_in_use() {
        let calendar = Calendar::builtin();
        let window = |segments: &[Segment], now| market_window(&calendar, segments, now, LEAD);
        // 15:37 on Monday 2026-11-30: cash has closed, F&O trades until 15:40.
        assert!(!window(&[Segment::NseCm], ist(15, 37, 0)).open);
        let both = window(&[Segment::NseCm, Segment::NseFo], ist(15, 37, 0));
        assert!(both.open && both.live);
        assert_eq!(both.next_change, Some(ist(15, 40, 0)));
        assert!(!window(&[Segment::NseFo], ist(15, 40, 0)).open);
        // MCX keeps it open into the night (23:55 in US standard time), CDS until 17:00.
        assert!(window(&[Segment::NseCm, Segment::Mcx], ist(21, 0, 0)).open);
        assert!(window(&[Segment::Cds], ist(16, 59, 0)).open);
        assert!(!window(&[Segment::Cds], ist(17, 0, 0)).open);
        // The lead comes before the earliest pre-open: MCX's at 08:45.
        assert!(window(&[Segment::NseCm, Segment::Mcx], ist(8, 40, 0)).open);
        assert!(!window(&[Segment::NseCm], ist(8, 40, 0)).open);
    }

    #[test]
    fn weekends_and_holidays_stay_closed_until_the_next_session() {
        let calendar = Calendar::builtin();
        // Friday 2026-11-27 after the close: next window Monday 08:55.
        let friday = ist(16, 0, 0) - TimeDelta::days(3);
        let window = market_window(&calendar, &[], friday, LEAD);
        let next = window.next_change;
        assert!(!window.open);
        assert_eq!(next.map(|at| at > friday), Some(true));
        // Every next change is in the future: the shell never spins.
        let mut at = friday;
        for _ in 0..60 {
            let next = market_window(&calendar, &[], at, LEAD)
                .next_change
                .expect("the calendar knows");
            assert!(next > at);
            at = next;
        }
        assert!(at > ist(15, 30, 0) + TimeDelta::days(1));
    }
}
