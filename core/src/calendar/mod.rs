//! The trading calendar of every segment: which days trade, in which phase windows, and what
//! the holiday data covers.
//!
//! Per segment ([`Segment`]) the calendar holds dated *templates* of the regular weekday (the
//! day's windows from a date on: NSE cash gained its closing auction on 2026-08-03), dated
//! entries (holidays, special sessions, unpublished sessions), and the dates its holiday list
//! covers, if any. A weekday without an entry follows the template in force on that date.

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

use crate::{MarketPhase, Segment};

/// The exchange's time zone. Every phase boundary is a wall-clock time here.
pub const IST: Tz = chrono_tz::Asia::Kolkata;

/// The compiled-in session templates and coverage of every segment: `core/data/sessions.csv`
/// (which cites the sources) without its comments (`build.rs`).
const BUILTIN_SESSIONS: &str = include_str!(concat!(env!("OUT_DIR"), "/sessions.csv"));

/// The compiled-in NSE equity holidays and special sessions, 2024–2026:
/// `core/data/nse-equity.csv` without its comments.
const BUILTIN_EQUITY: &str = include_str!(concat!(env!("OUT_DIR"), "/nse-equity.csv"));

/// How many days ahead the next phase change is searched for. Far longer than any run of
/// closed days NSE has had, so the search only gives up on a calendar that closes for a month.
const NEXT_CHANGE_SEARCH_DAYS: u32 = 31;

/// How many days before a holiday list runs out the answers start saying so.
pub const COVERAGE_HEADS_UP_DAYS: i64 = 30;

/// One phase on one IST date: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseWindow {
    /// First instant of the phase (IST wall clock).
    pub start: NaiveTime,
    /// First instant after the phase.
    pub end: NaiveTime,
    /// PRE_OPEN, AUCTION_FREEZE, LIVE, CLOSING_AUCTION or POST_CLOSE.
    pub phase: MarketPhase,
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid phase boundary"),
    }
}

/// The specification's regular NSE day: PRE_OPEN [09:00, 09:07), AUCTION_FREEZE [09:07, 09:15),
/// LIVE [09:15, 15:30).
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
    /// Trading in these windows; `None`: the regular day's (the template in force).
    Session(Option<Vec<PhaseWindow>>),
    /// A session is announced but its timings are not: closed, with a note.
    Unpublished,
}

/// The regular weekday of a segment from a date on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    pub windows: Vec<PhaseWindow>,
    pub name: String,
}

/// One segment's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SegmentData {
    days: BTreeMap<NaiveDate, Day>,
    /// Sorted by date, each date once.
    templates: Vec<(NaiveDate, Template)>,
    coverage: Option<Coverage>,
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

/// The first and last dates a segment's holiday data covers.
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

/// Which phases an answer speaks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The exchange's own: CLOSING_AUCTION and POST_CLOSE included.
    Exchange,
    /// The specification's four phases: the closing auction and post-close are CLOSED.
    Specification,
}

impl View {
    const fn phase(self, phase: MarketPhase) -> MarketPhase {
        match self {
            Self::Exchange => phase,
            Self::Specification => phase.specification_view(),
        }
    }
}

/// The trading calendar of every segment: dated templates of the regular day, holidays and
/// special sessions, over weekday rules.
///
/// Built from calendar-file text (see [`Calendar::from_file_text`]); validated once, after which
/// every query is total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// Indexed by [`Segment::index`].
    segments: [SegmentData; Segment::ALL.len()],
}

impl Calendar {
    /// The calendar compiled into marketwarden: the session templates of every segment with
    /// their dated changes, and every NSE equity closure, weekend session and Muhurat session of
    /// 2024–2026.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use marketwarden_core::{Calendar, Segment};
    ///
    /// let calendar = Calendar::builtin();
    /// let ends = calendar.coverage(Segment::NseCm).unwrap().ends;
    /// assert_eq!(ends, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    /// assert_eq!(calendar.coverage(Segment::Mcx), None, "no MCX holiday list is compiled in");
    /// ```
    pub fn builtin() -> Self {
        let built = Self::from_file_text(BUILTIN_SESSIONS)
            .and_then(|sessions| sessions.with_overrides(BUILTIN_EQUITY));
        match built {
            Ok(calendar) => calendar,
            // The built-in files are parsed by a unit test; this cannot happen in a release.
            Err(error) => panic!("built-in calendar is invalid: {error}"),
        }
    }

    /// A calendar from the text of a complete calendar file, which must give the regular day
    /// (a `template` row) of at least one segment.
    ///
    /// # Errors
    ///
    /// Every malformed line, with its number, and a file without a template.
    ///
    /// # Examples
    ///
    /// ```
    /// use marketwarden_core::Calendar;
    ///
    /// let text = "date,kind,hours,name,segments\n\
    ///             2027-01-01,template,pre-open 09:00 trading 09:15-15:30,Regular day,nse-cm\n\
    ///             2027-01-01,coverage-starts,,,nse-cm\n\
    ///             2027-12-31,coverage-ends,,,nse-cm\n\
    ///             2027-01-26,closed,,Republic Day,nse-cm\n";
    /// assert!(Calendar::from_file_text(text).is_ok());
    ///
    /// let error = Calendar::from_file_text("date,kind,hours,name\n2027-01-26,clsoed,,Republic Day\n")
    ///     .unwrap_err();
    /// assert!(error.to_string().starts_with("line 2: unknown kind `clsoed`"));
    /// ```
    pub fn from_file_text(text: &str) -> Result<Self, CalendarFileError> {
        let parsed = file::parse(text)?;
        if parsed.templates.is_empty() {
            return Err(CalendarFileError {
                problems: alloc::vec![LineProblem {
                    line: 0,
                    message: "a complete calendar needs a template row: without the regular day \
                              no day trades"
                        .into(),
                }],
            });
        }
        let empty = Self {
            segments: Default::default(),
        };
        empty.merged(parsed)
    }

    /// This calendar with an operator's calendar file laid over it: each dated row replaces
    /// this calendar's entry for that date in the segments it names, a `template` row adds a
    /// dated change of the regular day, and `coverage-starts` / `coverage-ends` rows set a
    /// segment's coverage: a whole range that meets the one in use extends it (next year's
    /// list), a single bound replaces that bound. A bad file changes nothing.
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
        self.merged(file::parse(text)?)
    }

    fn merged(&self, parsed: file::CalendarFile) -> Result<Self, CalendarFileError> {
        let mut merged = self.clone();
        for (segment, date, day) in parsed.days {
            merged.data_mut(segment).days.insert(date, day);
        }
        for (segment, date, template) in parsed.templates {
            let templates = &mut merged.data_mut(segment).templates;
            match templates.binary_search_by_key(&date, |(at, _)| *at) {
                Ok(index) => templates[index] = (date, template),
                Err(index) => templates.insert(index, (date, template)),
            }
        }
        let mut problems = Vec::new();
        for segment in Segment::ALL {
            let starts = parsed.coverage_starts[segment.index()];
            let ends = parsed.coverage_ends[segment.index()];
            if starts.is_none() && ends.is_none() {
                continue;
            }
            let data = merged.data_mut(segment);
            let old = data.coverage;
            // A range that meets or overlaps the one in use extends it (next year's list);
            // a single bound replaces that bound.
            if let (Some(starts), Some(ends), Some(old)) = (starts, ends, old) {
                let meets = starts <= old.ends.succ_opt().unwrap_or(old.ends)
                    && ends >= old.starts.pred_opt().unwrap_or(old.starts);
                if meets && starts <= ends {
                    data.coverage = Some(Coverage {
                        starts: starts.min(old.starts),
                        ends: ends.max(old.ends),
                    });
                    continue;
                }
            }
            let coverage = match (
                starts.or(old.map(|c| c.starts)),
                ends.or(old.map(|c| c.ends)),
            ) {
                (Some(starts), Some(ends)) => Coverage { starts, ends },
                (Some(_), None) => {
                    problems.push(whole_file(format!(
                        "{segment} has a coverage-starts row but no coverage-ends row"
                    )));
                    continue;
                }
                (None, _) => {
                    problems.push(whole_file(format!(
                        "{segment} has a coverage-ends row but no coverage-starts row"
                    )));
                    continue;
                }
            };
            if coverage.starts > coverage.ends {
                problems.push(whole_file(format!(
                    "{segment}: coverage would start on {} after it ends on {}",
                    coverage.starts, coverage.ends
                )));
                continue;
            }
            data.coverage = Some(coverage);
        }
        if problems.is_empty() {
            Ok(merged)
        } else {
            Err(CalendarFileError { problems })
        }
    }

    fn data(&self, segment: Segment) -> Option<&SegmentData> {
        self.segments.get(segment.index())
    }

    fn data_mut(&mut self, segment: Segment) -> &mut SegmentData {
        &mut self.segments[segment.index()]
    }

    /// The dates a segment's holiday data covers; `None` when no holiday list of it is loaded.
    pub fn coverage(&self, segment: Segment) -> Option<Coverage> {
        self.data(segment)?.coverage
    }

    /// The regular day of `segment` on `date` (the template in force), whatever the date is.
    pub fn regular_day(&self, segment: Segment, date: NaiveDate) -> &[PhaseWindow] {
        self.data(segment)
            .and_then(|data| {
                let in_force = data.templates.partition_point(|(at, _)| *at <= date);
                in_force.checked_sub(1).map(|index| &data.templates[index])
            })
            .map_or(&[], |(_, template)| template.windows.as_slice())
    }

    /// What kind of day `date` is in `segment`, and its phase windows, sorted and not
    /// overlapping.
    pub fn day(&self, segment: Segment, date: NaiveDate) -> (TradingDay<'_>, &[PhaseWindow]) {
        let entry = self.data(segment).and_then(|data| data.days.get(&date));
        match entry {
            Some(Day {
                kind: DayKind::Closed,
                name,
            }) => (TradingDay::Holiday { name }, &[]),
            Some(Day {
                kind: DayKind::Session(windows),
                name,
            }) => (
                TradingDay::Special { name },
                match windows {
                    Some(windows) => windows.as_slice(),
                    None => self.regular_day(segment, date),
                },
            ),
            Some(Day {
                kind: DayKind::Unpublished,
                name,
            }) => (TradingDay::TimingsNotPublished { name }, &[]),
            None if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) => {
                (TradingDay::Weekend, &[])
            }
            None => (TradingDay::Regular, self.regular_day(segment, date)),
        }
    }

    /// The NSE cash market at `now` in the specification's four phases: the market object of
    /// the health answer. Same as `session(Segment::NseCm, now, View::Specification)`.
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
        self.session(Segment::NseCm, now, View::Specification)
    }

    /// `segment` at `now`: the phase in `view`, why it is closed, and the next change.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use marketwarden_core::{Calendar, MarketPhase, Segment, View};
    ///
    /// // Tuesday 2026-12-01 at 15:35 IST: NSE cash has closed, F&O trades until 15:40.
    /// let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 5, 0).unwrap();
    /// let calendar = Calendar::builtin();
    /// assert_eq!(calendar.session(Segment::NseCm, now, View::Exchange).phase, MarketPhase::Closed);
    /// assert_eq!(calendar.session(Segment::NseFo, now, View::Exchange).phase, MarketPhase::Live);
    /// ```
    pub fn session(&self, segment: Segment, now: DateTime<Utc>, view: View) -> MarketSession<'_> {
        let local = ist_wall_clock(now);
        let date = local.date();
        let time = local.time();
        let (day, windows) = self.day(segment, date);

        let current = windows
            .iter()
            .find(|w| w.start <= time && time < w.end)
            .map(|window| view.phase(window.phase))
            .filter(|phase| *phase != MarketPhase::Closed);
        let (phase, closed_reason) = match current {
            Some(phase) => (phase, None),
            None => (
                MarketPhase::Closed,
                Some(closed_reason(day, windows, time, view)),
            ),
        };
        MarketSession {
            segment,
            phase,
            closed_reason,
            date,
            day,
            next_change: self.next_change(segment, date, time, phase, view),
            coverage: self.coverage(segment),
        }
    }

    /// The first boundary after IST `time` on `date`, or on a later date, where the phase (in
    /// `view`) becomes different from `current`.
    fn next_change(
        &self,
        segment: Segment,
        date: NaiveDate,
        time: NaiveTime,
        current: MarketPhase,
        view: View,
    ) -> Option<PhaseChange> {
        let mut day = date;
        let mut after = Some(time);
        for _ in 0..=NEXT_CHANGE_SEARCH_DAYS {
            let (_, windows) = self.day(segment, day);
            for boundary in boundaries(windows) {
                // A boundary between two phases that look the same in this view changes
                // nothing (the specification's view: closing auction, then closed).
                let phase = view.phase(boundary.phase);
                if after.is_some_and(|t| boundary.at <= t) || phase == current {
                    continue;
                }
                return Some(PhaseChange {
                    at: ist_to_utc(day, boundary.at)?,
                    phase,
                });
            }
            day = day.succ_opt()?;
            after = None;
        }
        None
    }
}

fn whole_file(message: String) -> LineProblem {
    LineProblem { line: 0, message }
}

fn closed_reason(
    day: TradingDay<'_>,
    windows: &[PhaseWindow],
    time: NaiveTime,
    view: View,
) -> ClosedReason {
    match day {
        TradingDay::Weekend => ClosedReason::Weekend,
        TradingDay::Holiday { .. } => ClosedReason::Holiday,
        TradingDay::TimingsNotPublished { .. } => ClosedReason::TimingsNotPublished,
        TradingDay::Regular | TradingDay::Special { .. } => {
            // Only the windows that are open in this view count: in the specification's, the
            // post-close session is after the close.
            let is_open = |window: &&PhaseWindow| view.phase(window.phase) != MarketPhase::Closed;
            let first = windows.iter().find(is_open);
            let last = windows.iter().rev().find(is_open);
            match (first, last) {
                (Some(first), _) if time < first.start => ClosedReason::BeforeOpen,
                (_, Some(last)) if time >= last.end => ClosedReason::AfterClose,
                (Some(_), Some(_)) => ClosedReason::BetweenSessions,
                // A special day whose file gave no windows cannot be built; treat it as a
                // holiday.
                _ => ClosedReason::Holiday,
            }
        }
    }
}

/// A segment at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketSession<'c> {
    /// The segment.
    pub segment: Segment,
    /// The phase at the instant.
    pub phase: MarketPhase,
    /// Why the segment is closed; `None` unless `phase` is CLOSED.
    pub closed_reason: Option<ClosedReason>,
    /// The IST date the instant falls on.
    pub date: NaiveDate,
    /// What kind of day that date is.
    pub day: TradingDay<'c>,
    /// The next phase change, if one is known.
    pub next_change: Option<PhaseChange>,
    /// The dates the segment's holiday data covers; `None` when none is loaded.
    pub coverage: Option<Coverage>,
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

    /// A warning when the answer rests on weekday rules alone: the segment has no holiday list
    /// ("MCX holiday list for 2026 not loaded"), or the date or the date of the next change is
    /// outside it ("NSE holiday list for 2027 not loaded"); and, from
    /// [`COVERAGE_HEADS_UP_DAYS`] before the list ends, a heads-up ("NSE holiday list for 2027
    /// not loaded — coverage ends 31 Dec").
    pub fn coverage_warning(&self) -> Option<String> {
        let list = self.segment.holiday_list();
        let Some(coverage) = self.coverage else {
            return Some(format!(
                "{list} holiday list for {} not loaded",
                self.date.year()
            ));
        };
        let next_date = self
            .next_change
            .map(|change| ist_wall_clock(change.at).date());
        if let Some(uncovered) = core::iter::once(self.date)
            .chain(next_date)
            .find(|date| !coverage.covers(*date))
        {
            return Some(format!(
                "{list} holiday list for {} not loaded",
                uncovered.year()
            ));
        }
        let days_left = coverage.ends.signed_duration_since(self.date).num_days();
        (days_left <= COVERAGE_HEADS_UP_DAYS).then(|| {
            format!(
                "{list} holiday list for {} not loaded — coverage ends {} {}",
                coverage.ends.year() + 1,
                coverage.ends.day(),
                crate::display::month_abbreviation(coverage.ends.month()),
            )
        })
    }
}

/// A local time at which some phase starts.
struct Boundary {
    at: NaiveTime,
    phase: MarketPhase,
}

/// Every instant of a day at which the phase may change, with the phase that starts there:
/// each window's start, and its end where no window follows at once (the segment closes).
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
