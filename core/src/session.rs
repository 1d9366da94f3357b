//! From an instant to the market session: the phase now and the next phase change.
//!
//! This first version knows the regular NSE day on weekdays only; holidays and special sessions
//! come with the full calendar.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::MarketPhase;

/// The exchange's time zone. Every phase boundary is a wall-clock time here.
pub const IST: Tz = chrono_tz::Asia::Kolkata;

/// How many days ahead the next phase change is searched for. Far longer than any run of
/// closed days NSE has had, so the search only gives up on a broken calendar.
const NEXT_CHANGE_SEARCH_DAYS: u32 = 31;

/// The market session at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketSession {
    /// The phase at the instant.
    pub phase: MarketPhase,
    /// Why the market is closed; `None` unless `phase` is CLOSED.
    pub closed_reason: Option<ClosedReason>,
    /// The local (IST) date the instant falls on.
    pub date: NaiveDate,
    /// The next phase change, if one is known.
    pub next_change: Option<PhaseChange>,
}

/// Why the market is CLOSED at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedReason {
    /// A Saturday or Sunday without a session.
    Weekend,
    /// A trading day, before its first phase.
    BeforeOpen,
    /// A trading day, after its last phase.
    AfterClose,
}

/// A change of phase at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseChange {
    /// The first instant of the new phase.
    pub at: DateTime<Utc>,
    /// The phase that starts at `at`.
    pub phase: MarketPhase,
}

impl MarketSession {
    /// Whole seconds from `now` to the next phase change, rounded up, so the count reaches zero
    /// exactly when the phase changes. `None` when no change is known.
    pub fn seconds_to_next_phase(&self, now: DateTime<Utc>) -> Option<u64> {
        let change = self.next_change?;
        let remaining = change.at.signed_duration_since(now);
        let whole = remaining.num_seconds();
        let partial = remaining.subsec_nanos() > 0;
        u64::try_from(whole).ok().map(|s| s + u64::from(partial))
    }
}

/// The market session at `now`: the phase, why it is closed, and the next phase change.
///
/// Phases are half-open intervals in IST: PRE_OPEN [09:00, 09:07), AUCTION_FREEZE
/// [09:07, 09:15), LIVE [09:15, 15:30), CLOSED otherwise. The answer depends only on `now`,
/// never on the host's time zone.
///
/// # Examples
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use marketwarden_core::{MarketPhase, session_at};
///
/// // Monday 2026-11-30 at 09:07 IST (03:37 UTC): the auction freeze has just begun.
/// let now = Utc.with_ymd_and_hms(2026, 11, 30, 3, 37, 0).unwrap();
/// let session = session_at(now);
/// assert_eq!(session.phase, MarketPhase::AuctionFreeze);
/// assert_eq!(session.next_change.unwrap().phase, MarketPhase::Live);
/// assert_eq!(session.seconds_to_next_phase(now), Some(8 * 60));
/// ```
pub fn session_at(now: DateTime<Utc>) -> MarketSession {
    let local = ist_wall_clock(now);
    let date = local.date();
    let time = local.time();
    let plan = day_plan(date);

    let current = plan
        .windows
        .iter()
        .position(|w| w.start <= time && time < w.end);
    let (phase, closed_reason) = match current {
        Some(index) => (plan.windows[index].phase, None),
        None => {
            let reason = match plan.windows.first() {
                None => ClosedReason::Weekend,
                Some(first) if time < first.start => ClosedReason::BeforeOpen,
                Some(_) => ClosedReason::AfterClose,
            };
            (MarketPhase::Closed, Some(reason))
        }
    };

    MarketSession {
        phase,
        closed_reason,
        date,
        next_change: next_change(date, time, phase),
    }
}

/// One phase on one local date: [start, end) in IST.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: NaiveTime,
    end: NaiveTime,
    phase: MarketPhase,
}

/// The phases of one local date, sorted and not overlapping.
struct DayPlan {
    windows: &'static [Window],
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid phase boundary"),
    }
}

const REGULAR_DAY: [Window; 3] = [
    Window {
        start: hm(9, 0),
        end: hm(9, 7),
        phase: MarketPhase::PreOpen,
    },
    Window {
        start: hm(9, 7),
        end: hm(9, 15),
        phase: MarketPhase::AuctionFreeze,
    },
    Window {
        start: hm(9, 15),
        end: hm(15, 30),
        phase: MarketPhase::Live,
    },
];

fn day_plan(date: NaiveDate) -> DayPlan {
    match date.weekday() {
        Weekday::Sat | Weekday::Sun => DayPlan { windows: &[] },
        _ => DayPlan {
            windows: &REGULAR_DAY,
        },
    }
}

/// The first boundary after local `time` on `date` (or on a later date) where the phase becomes
/// different from `current`.
fn next_change(date: NaiveDate, time: NaiveTime, current: MarketPhase) -> Option<PhaseChange> {
    let mut day = date;
    let mut after = Some(time);
    for _ in 0..=NEXT_CHANGE_SEARCH_DAYS {
        let plan = day_plan(day);
        for boundary in boundaries(plan.windows) {
            if after.is_some_and(|t| boundary.at <= t) || boundary.phase == current {
                continue;
            }
            let at = ist_to_utc(day, boundary.at)?;
            return Some(PhaseChange {
                at,
                phase: boundary.phase,
            });
        }
        day = day.succ_opt()?;
        after = None;
    }
    None
}

/// A local time at which some phase starts.
struct Boundary {
    at: NaiveTime,
    phase: MarketPhase,
}

/// Every instant of a day at which the phase may change, with the phase that starts there:
/// each window's start, and its end where no window follows at once (the market closes).
fn boundaries(windows: &[Window]) -> impl Iterator<Item = Boundary> + '_ {
    windows.iter().enumerate().flat_map(move |(index, window)| {
        let start = Boundary {
            at: window.start,
            phase: window.phase,
        };
        let followed = windows
            .get(index + 1)
            .is_some_and(|next| next.start == window.end);
        let close = (!followed).then_some(Boundary {
            at: window.end,
            phase: MarketPhase::Closed,
        });
        core::iter::once(start).chain(close)
    })
}

/// The IST wall-clock reading of `now`. At the very ends of chrono's range, where it cannot be
/// represented, the UTC reading stands in (those instants are 262,000 years away).
///
/// # Examples
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use marketwarden_core::ist_wall_clock;
///
/// let now = Utc.with_ymd_and_hms(2026, 11, 28, 23, 47, 3).unwrap();
/// assert_eq!(ist_wall_clock(now).to_string(), "2026-11-29 05:17:03");
/// ```
pub fn ist_wall_clock(now: DateTime<Utc>) -> NaiveDateTime {
    let utc = now.naive_utc();
    let offset = IST.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset).unwrap_or(utc)
}

fn ist_to_utc(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = IST.from_local_datetime(&date.and_time(time)).earliest()?;
    Some(local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn shifted(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
        at.checked_add_signed(delta).expect("instant in range")
    }

    /// An instant given as an IST wall-clock time with nanoseconds.
    fn ist(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
        let naive = NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|date| date.and_hms_nano_opt(h, mi, s, nanos))
            .expect("valid local time");
        IST.from_local_datetime(&naive)
            .single()
            .expect("IST has no gaps")
            .with_timezone(&Utc)
    }

    const NS_BEFORE: u32 = 999_999_999;

    #[test]
    fn phases_are_half_open_at_every_edge() {
        // Monday 2026-11-30.
        let cases = [
            (ist(2026, 11, 30, 8, 59, 59, NS_BEFORE), MarketPhase::Closed),
            (ist(2026, 11, 30, 9, 0, 0, 0), MarketPhase::PreOpen),
            (
                ist(2026, 11, 30, 9, 6, 59, 999_000_000),
                MarketPhase::PreOpen,
            ),
            (ist(2026, 11, 30, 9, 6, 59, NS_BEFORE), MarketPhase::PreOpen),
            (ist(2026, 11, 30, 9, 7, 0, 0), MarketPhase::AuctionFreeze),
            (
                ist(2026, 11, 30, 9, 14, 59, NS_BEFORE),
                MarketPhase::AuctionFreeze,
            ),
            (ist(2026, 11, 30, 9, 15, 0, 0), MarketPhase::Live),
            (ist(2026, 11, 30, 15, 29, 59, NS_BEFORE), MarketPhase::Live),
            (ist(2026, 11, 30, 15, 30, 0, 0), MarketPhase::Closed),
            (
                ist(2026, 11, 30, 23, 59, 59, NS_BEFORE),
                MarketPhase::Closed,
            ),
            (ist(2026, 12, 1, 0, 0, 0, 0), MarketPhase::Closed),
        ];
        for (now, expected) in cases {
            assert_eq!(session_at(now).phase, expected, "at {now}");
        }
    }

    #[test]
    fn weekends_are_closed_all_day() {
        // Saturday 2026-11-28 and Sunday 2026-11-29.
        for day in [28, 29] {
            for (h, m) in [(0, 0), (9, 0), (9, 10), (12, 0), (15, 29), (23, 59)] {
                let session = session_at(ist(2026, 11, day, h, m, 0, 0));
                assert_eq!(session.phase, MarketPhase::Closed);
                assert_eq!(session.closed_reason, Some(ClosedReason::Weekend));
            }
        }
    }

    #[test]
    fn closed_reason_tells_before_open_from_after_close() {
        let before = session_at(ist(2026, 11, 30, 8, 0, 0, 0));
        assert_eq!(before.closed_reason, Some(ClosedReason::BeforeOpen));
        let after = session_at(ist(2026, 11, 30, 15, 30, 0, 0));
        assert_eq!(after.closed_reason, Some(ClosedReason::AfterClose));
        assert_eq!(
            session_at(ist(2026, 11, 30, 10, 0, 0, 0)).closed_reason,
            None
        );
    }

    #[test]
    fn next_change_walks_through_the_day() {
        let steps = [
            (
                ist(2026, 11, 30, 3, 0, 0, 0),
                ist(2026, 11, 30, 9, 0, 0, 0),
                MarketPhase::PreOpen,
            ),
            (
                ist(2026, 11, 30, 9, 0, 0, 0),
                ist(2026, 11, 30, 9, 7, 0, 0),
                MarketPhase::AuctionFreeze,
            ),
            (
                ist(2026, 11, 30, 9, 7, 0, 0),
                ist(2026, 11, 30, 9, 15, 0, 0),
                MarketPhase::Live,
            ),
            (
                ist(2026, 11, 30, 9, 15, 0, 0),
                ist(2026, 11, 30, 15, 30, 0, 0),
                MarketPhase::Closed,
            ),
            (
                ist(2026, 11, 30, 15, 30, 0, 0),
                ist(2026, 12, 1, 9, 0, 0, 0),
                MarketPhase::PreOpen,
            ),
        ];
        for (now, at, phase) in steps {
            assert_eq!(
                session_at(now).next_change,
                Some(PhaseChange { at, phase }),
                "from {now}"
            );
        }
    }

    #[test]
    fn next_change_crosses_the_weekend() {
        // Friday 2026-11-27 after the close, and all through the weekend: Monday's pre-open.
        let monday_open = ist(2026, 11, 30, 9, 0, 0, 0);
        for now in [
            ist(2026, 11, 27, 15, 30, 0, 0),
            ist(2026, 11, 28, 9, 0, 0, 0),
            ist(2026, 11, 29, 23, 59, 59, NS_BEFORE),
        ] {
            let next = session_at(now).next_change.expect("a next change");
            assert_eq!((next.at, next.phase), (monday_open, MarketPhase::PreOpen));
        }
    }

    #[test]
    fn seconds_to_next_phase_rounds_up_and_reaches_zero_at_the_change() {
        let open = ist(2026, 11, 30, 9, 0, 0, 0);
        let cases = [
            (shifted(open, TimeDelta::seconds(-90)), 90),
            (shifted(open, TimeDelta::milliseconds(-1500)), 2),
            (shifted(open, TimeDelta::nanoseconds(-1)), 1),
        ];
        for (now, expected) in cases {
            assert_eq!(session_at(now).seconds_to_next_phase(now), Some(expected));
        }
        // Weekend: Friday 15:30 to Monday 09:00 is 2 days 17 h 30 min.
        let friday_close = ist(2026, 11, 27, 15, 30, 0, 0);
        let expected = ((2 * 24 + 17) * 60 + 30) * 60;
        assert_eq!(
            session_at(friday_close).seconds_to_next_phase(friday_close),
            Some(expected)
        );
    }

    #[test]
    fn answer_is_the_same_for_the_same_instant_in_any_offset() {
        use chrono::FixedOffset;
        let instant = ist(2026, 11, 30, 9, 15, 0, 0);
        for offset_hours in [-11, -5, 0, 1, 9, 14] {
            let offset = FixedOffset::east_opt(offset_hours * 3600).expect("valid offset");
            let elsewhere = instant.with_timezone(&offset).with_timezone(&Utc);
            assert_eq!(session_at(elsewhere), session_at(instant));
        }
    }

    /// Every minute of three weeks: the phase holds until the next change, and changes there.
    #[test]
    fn phase_is_constant_until_the_next_change_and_changes_there() {
        let start = ist(2026, 11, 16, 0, 0, 30, 0);
        for minute in 0..(21 * 24 * 60) {
            let now = shifted(start, TimeDelta::minutes(minute));
            let session = session_at(now);
            let next = session
                .next_change
                .expect("weekday rules always have a next change");
            assert!(next.at > now, "next change {} not after {now}", next.at);
            assert_ne!(next.phase, session.phase);
            let just_before = shifted(next.at, TimeDelta::nanoseconds(-1));
            assert_eq!(session_at(just_before).phase, session.phase, "from {now}");
            assert_eq!(session_at(next.at).phase, next.phase, "at {}", next.at);
        }
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for now in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::UNIX_EPOCH,
        ] {
            let session = session_at(now);
            let _ = session.seconds_to_next_phase(now);
        }
    }
}
