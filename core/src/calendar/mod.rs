//! The NSE trading calendar: which days trade, in which phase windows, and what the data covers.

mod file;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

pub use file::{CalendarFileError, HEADER as CALENDAR_FILE_HEADER, LineProblem};

use crate::MarketPhase;

/// The exchange's time zone. Every phase boundary is a wall-clock time here.
pub const IST: Tz = chrono_tz::Asia::Kolkata;

/// The calendar compiled into marketwarden: NSE equity, 2024–2026.
const BUILTIN_CALENDAR: &str = include_str!("../../data/nse-equity.csv");

/// How many days ahead the next phase change is searched for. Far longer than any run of
/// closed days NSE has had, so the search only gives up on a calendar that closes for a month.
const NEXT_CHANGE_SEARCH_DAYS: u32 = 31;

/// One phase on one IST date: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseWindow {
    /// First instant of the phase (IST wall clock).
    pub start: NaiveTime,
    /// First instant after the phase.
    pub end: NaiveTime,
    /// PRE_OPEN, AUCTION_FREEZE or LIVE.
    pub phase: MarketPhase,
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid phase boundary"),
    }
}

/// The regular NSE day: PRE_OPEN [09:00, 09:07), AUCTION_FREEZE [09:07, 09:15), LIVE
/// [09:15, 15:30).
pub const REGULAR_DAY: [PhaseWindow; 3] = [
    PhaseWindow {
        start: hm(9, 0),
        end: hm(9, 7),
        phase: MarketPhase::PreOpen,
    },
    PhaseWindow {
        start: hm(9, 7),
        end: hm(9, 15),
        phase: MarketPhase::AuctionFreeze,
    },
    PhaseWindow {
        start: hm(9, 15),
        end: hm(15, 30),
        phase: MarketPhase::Live,
    },
];

/// A dated entry of the calendar data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Day {
    pub kind: DayKind,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DayKind {
    /// No trading all day.
    Closed,
    /// Trading in these windows instead of the regular day.
    Session(Vec<PhaseWindow>),
    /// A session is announced but its timings are not: closed, with a note.
    Unpublished,
}

/// What kind of day a date is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TradingDay<'c> {
    /// A weekday with the regular session.
    Regular,
    /// A Saturday or Sunday without a session.
    Weekend,
    /// A weekday trading holiday.
    Holiday {
        /// The holiday's name, e.g. "Diwali Balipratipada".
        name: &'c str,
    },
    /// A day with its own windows: a weekend session, Muhurat trading, an override.
    Special {
        /// The session's name, e.g. "Diwali Laxmi Pujan: Muhurat trading".
        name: &'c str,
    },
    /// A session is announced but its timings are not published: closed until they are.
    TimingsNotPublished {
        /// The session's name.
        name: &'c str,
    },
}

/// The first and last dates the calendar's holiday data covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// First covered date.
    pub starts: NaiveDate,
    /// Last covered date.
    pub ends: NaiveDate,
}

impl Coverage {
    /// True if `date` is inside the covered range.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.starts <= date && date <= self.ends
    }
}

/// The trading calendar: dated holidays and special sessions over weekday rules.
///
/// Built from calendar-file text (see [`Calendar::from_file_text`]); validated once, after which
/// every query is total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, Day>,
    coverage: Coverage,
}

impl Calendar {
    /// The calendar compiled into marketwarden: every NSE equity closure, weekend session and
    /// Muhurat session of 2024–2026.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use marketwarden_core::Calendar;
    ///
    /// let calendar = Calendar::builtin();
    /// assert_eq!(calendar.coverage().ends, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    /// ```
    pub fn builtin() -> Self {
        match Self::from_file_text(BUILTIN_CALENDAR) {
            Ok(calendar) => calendar,
            // The built-in file is parsed by a unit test; this cannot happen in a release.
            Err(error) => panic!("built-in calendar is invalid: {error}"),
        }
    }

    /// A calendar from the text of a complete calendar file, which must declare its coverage
    /// with `coverage-starts` and `coverage-ends` rows.
    ///
    /// # Errors
    ///
    /// Every malformed line, with its number, and a missing coverage.
    ///
    /// # Examples
    ///
    /// ```
    /// use marketwarden_core::Calendar;
    ///
    /// let text = "date,kind,hours,name\n\
    ///             2027-01-01,coverage-starts,,\n\
    ///             2027-12-31,coverage-ends,,\n\
    ///             2027-01-26,closed,,Republic Day\n";
    /// assert!(Calendar::from_file_text(text).is_ok());
    ///
    /// let error = Calendar::from_file_text("date,kind,hours,name\n2027-01-26,clsoed,,Republic Day\n")
    ///     .unwrap_err();
    /// assert!(error.to_string().starts_with("line 2: unknown kind `clsoed`"));
    /// ```
    pub fn from_file_text(text: &str) -> Result<Self, CalendarFileError> {
        let parsed = file::parse(text)?;
        let mut missing = Vec::new();
        if parsed.coverage_starts.is_none() {
            missing.push("coverage-starts");
        }
        if parsed.coverage_ends.is_none() {
            missing.push("coverage-ends");
        }
        match (parsed.coverage_starts, parsed.coverage_ends) {
            (Some(starts), Some(ends)) => Ok(Self {
                days: parsed.days.into_iter().collect(),
                coverage: Coverage { starts, ends },
            }),
            _ => Err(CalendarFileError {
                problems: alloc::vec![LineProblem {
                    line: 0,
                    message: format!(
                        "a complete calendar needs a {} row",
                        missing.join(" and a ")
                    ),
                }],
            }),
        }
    }

    /// This calendar with an operator's calendar file laid over it: each dated row replaces
    /// this calendar's entry for that date, and `coverage-starts` / `coverage-ends` rows, when
    /// present, replace the coverage. A bad file changes nothing.
    ///
    /// # Errors
    ///
    /// Every malformed line, with its number.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use marketwarden_core::{Calendar, MarketPhase};
    ///
    /// // NSE closes on Friday 2027-01-29 at short notice; the 2027 list is loaded.
    /// let overrides = "date,kind,hours,name\n\
    ///                  2027-12-31,coverage-ends,,NSE holiday list 2027\n\
    ///                  2027-01-29,closed,,Municipal elections\n";
    /// let calendar = Calendar::builtin().with_overrides(overrides).unwrap();
    /// let noon = Utc.with_ymd_and_hms(2027, 1, 29, 6, 30, 0).unwrap();
    /// let session = calendar.session_at(noon);
    /// assert_eq!(session.phase, MarketPhase::Closed);
    /// assert_eq!(session.coverage_warning(), None);
    /// ```
    pub fn with_overrides(&self, text: &str) -> Result<Self, CalendarFileError> {
        let parsed = file::parse(text)?;
        let mut merged = self.clone();
        merged.days.extend(parsed.days);
        merged.coverage = Coverage {
            starts: parsed.coverage_starts.unwrap_or(self.coverage.starts),
            ends: parsed.coverage_ends.unwrap_or(self.coverage.ends),
        };
        if merged.coverage.starts > merged.coverage.ends {
            return Err(CalendarFileError {
                problems: alloc::vec![LineProblem {
                    line: 0,
                    message: format!(
                        "coverage would start on {} after it ends on {}",
                        merged.coverage.starts, merged.coverage.ends
                    ),
                }],
            });
        }
        Ok(merged)
    }

    /// The dates the holiday data covers.
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }

    /// What kind of day `date` is and its phase windows, sorted and not overlapping.
    pub fn day(&self, date: NaiveDate) -> (TradingDay<'_>, &[PhaseWindow]) {
        match self.days.get(&date) {
            Some(Day {
                kind: DayKind::Closed,
                name,
            }) => (TradingDay::Holiday { name }, &[]),
            Some(Day {
                kind: DayKind::Session(windows),
                name,
            }) => (TradingDay::Special { name }, windows),
            Some(Day {
                kind: DayKind::Unpublished,
                name,
            }) => (TradingDay::TimingsNotPublished { name }, &[]),
            None if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) => {
                (TradingDay::Weekend, &[])
            }
            None => (TradingDay::Regular, &REGULAR_DAY),
        }
    }

    /// The market session at `now`: the phase, why it is closed, and the next phase change.
    ///
    /// Phases are half-open intervals of IST wall-clock time. The answer depends only on `now`
    /// and the calendar, never on the host's time zone.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use marketwarden_core::{Calendar, MarketPhase};
    ///
    /// // Monday 2026-11-30 at 09:07 IST (03:37 UTC): the auction freeze has just begun.
    /// let now = Utc.with_ymd_and_hms(2026, 11, 30, 3, 37, 0).unwrap();
    /// let calendar = Calendar::builtin();
    /// let session = calendar.session_at(now);
    /// assert_eq!(session.phase, MarketPhase::AuctionFreeze);
    /// assert_eq!(session.next_change.unwrap().phase, MarketPhase::Live);
    /// assert_eq!(session.seconds_to_next_phase(now), Some(8 * 60));
    /// ```
    pub fn session_at(&self, now: DateTime<Utc>) -> MarketSession<'_> {
        let local = ist_wall_clock(now);
        let date = local.date();
        let time = local.time();
        let (day, windows) = self.day(date);

        let current = windows.iter().find(|w| w.start <= time && time < w.end);
        let (phase, closed_reason) = match current {
            Some(window) => (window.phase, None),
            None => (MarketPhase::Closed, Some(closed_reason(day, windows, time))),
        };
        MarketSession {
            phase,
            closed_reason,
            date,
            day,
            next_change: self.next_change(date, time, phase),
            coverage: self.coverage,
        }
    }

    /// The first boundary after IST `time` on `date`, or on a later date, where the phase
    /// becomes different from `current`.
    fn next_change(
        &self,
        date: NaiveDate,
        time: NaiveTime,
        current: MarketPhase,
    ) -> Option<PhaseChange> {
        let mut day = date;
        let mut after = Some(time);
        for _ in 0..=NEXT_CHANGE_SEARCH_DAYS {
            let (_, windows) = self.day(day);
            for boundary in boundaries(windows) {
                if after.is_some_and(|t| boundary.at <= t) || boundary.phase == current {
                    continue;
                }
                return Some(PhaseChange {
                    at: ist_to_utc(day, boundary.at)?,
                    phase: boundary.phase,
                });
            }
            day = day.succ_opt()?;
            after = None;
        }
        None
    }
}

fn closed_reason(day: TradingDay<'_>, windows: &[PhaseWindow], time: NaiveTime) -> ClosedReason {
    match day {
        TradingDay::Weekend => ClosedReason::Weekend,
        TradingDay::Holiday { .. } => ClosedReason::Holiday,
        TradingDay::TimingsNotPublished { .. } => ClosedReason::TimingsNotPublished,
        TradingDay::Regular | TradingDay::Special { .. } => match (windows.first(), windows.last())
        {
            (Some(first), _) if time < first.start => ClosedReason::BeforeOpen,
            (_, Some(last)) if time >= last.end => ClosedReason::AfterClose,
            (Some(_), Some(_)) => ClosedReason::BetweenSessions,
            // A special day whose file gave no windows cannot be built; treat it as a holiday.
            _ => ClosedReason::Holiday,
        },
    }
}

/// The market session at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketSession<'c> {
    /// The phase at the instant.
    pub phase: MarketPhase,
    /// Why the market is closed; `None` unless `phase` is CLOSED.
    pub closed_reason: Option<ClosedReason>,
    /// The IST date the instant falls on.
    pub date: NaiveDate,
    /// What kind of day that date is.
    pub day: TradingDay<'c>,
    /// The next phase change, if one is known.
    pub next_change: Option<PhaseChange>,
    /// The dates the calendar's data covers.
    pub coverage: Coverage,
}

/// Why the market is CLOSED at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedReason {
    /// A Saturday or Sunday without a session.
    Weekend,
    /// A trading holiday.
    Holiday,
    /// A session is announced but its timings are not published.
    TimingsNotPublished,
    /// A trading day, before its first phase.
    BeforeOpen,
    /// A trading day with two sessions, between them.
    BetweenSessions,
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

impl MarketSession<'_> {
    /// Whole seconds from `now` to the next phase change, rounded up, so the count reaches zero
    /// exactly when the phase changes. `None` when no change is known.
    pub fn seconds_to_next_phase(&self, now: DateTime<Utc>) -> Option<u64> {
        let change = self.next_change?;
        let remaining = change.at.signed_duration_since(now);
        let whole = u64::try_from(remaining.num_seconds()).ok()?;
        Some(whole + u64::from(remaining.subsec_nanos() > 0))
    }

    /// A warning when the answer rests on weekday rules alone because the date, or the date of
    /// the next change, is outside the calendar's coverage: "holiday list for 2027 not loaded".
    pub fn coverage_warning(&self) -> Option<String> {
        let next_date = self
            .next_change
            .map(|change| ist_wall_clock(change.at).date());
        let uncovered = core::iter::once(self.date)
            .chain(next_date)
            .find(|date| !self.coverage.covers(*date))?;
        Some(format!("holiday list for {} not loaded", uncovered.year()))
    }
}

/// A local time at which some phase starts.
struct Boundary {
    at: NaiveTime,
    phase: MarketPhase,
}

/// Every instant of a day at which the phase may change, with the phase that starts there:
/// each window's start, and its end where no window follows at once (the market closes).
fn boundaries(windows: &[PhaseWindow]) -> impl Iterator<Item = Boundary> + '_ {
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
    let offset = if utc >= FIXED_OFFSET_SINCE {
        IST_OFFSET
    } else {
        IST.offset_from_utc_datetime(&utc).fix()
    };
    utc.checked_add_offset(offset).unwrap_or(utc)
}

/// The UTC instant of an IST wall-clock time, or `None` if it does not exist.
pub fn ist_to_utc(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = date.and_time(time);
    let utc = local.checked_sub_offset(IST_OFFSET)?;
    if utc >= FIXED_OFFSET_SINCE {
        return Some(utc.and_utc());
    }
    let local = IST.from_local_datetime(&local).earliest()?;
    Some(local.with_timezone(&Utc))
}

/// IST is UTC+05:30.
pub(crate) const IST_OFFSET: FixedOffset = match FixedOffset::east_opt(5 * 3600 + 30 * 60) {
    Some(offset) => offset,
    None => panic!("+05:30 is a valid offset"),
};

/// Asia/Kolkata has kept UTC+05:30 without a change since October 1945; from this instant on
/// the fixed offset gives the same answers as the time-zone database, without its lookups (a
/// test checks both agree). Earlier instants use the database.
const FIXED_OFFSET_SINCE: NaiveDateTime = match NaiveDate::from_ymd_opt(1946, 1, 1) {
    Some(date) => date.and_time(NaiveTime::MIN),
    None => panic!("valid date"),
};

#[cfg(test)]
mod tests;
