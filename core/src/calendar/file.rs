//! The calendar file: a small CSV that people edit by hand.
//!
//! ```text
//! # comments and blank lines are ignored
//! date,kind,hours,name
//! 2027-12-31,coverage-ends,,NSE holiday list 2027
//! 2027-01-26,closed,,Republic Day
//! 2027-02-01,session,,Union Budget session
//! 2021-02-24,session,pre-open 09:00 trading 09:15-11:40; pre-open 15:30 trading 15:45-17:00,Trading halt
//! 2027-10-29,unpublished,,Muhurat trading
//! ```
//!
//! Parsing collects every error with its line number, so one run shows all that is wrong.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use chrono::{NaiveDate, NaiveTime, TimeDelta};

use super::{Day, DayKind, PhaseWindow, REGULAR_DAY};
use crate::MarketPhase;
use crate::display::{hh_mm, parse_date, parse_hh_mm};

/// The header every calendar file starts with (after comments).
pub const HEADER: &str = "date,kind,hours,name";

/// The PRE_OPEN part of a pre-open: order entry, before the auction freeze.
const PRE_OPEN_ORDER_ENTRY: TimeDelta = TimeDelta::minutes(7);

/// At most this many errors are reported; a file with more is probably not a calendar.
const MAX_ERRORS: usize = 50;

/// A parsed calendar file: dated entries and the coverage it declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CalendarFile {
    pub days: Vec<(NaiveDate, Day)>,
    pub coverage_starts: Option<NaiveDate>,
    pub coverage_ends: Option<NaiveDate>,
}

/// What is wrong with a calendar file: one entry per bad line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarFileError {
    /// The problems, in line order.
    pub problems: Vec<LineProblem>,
}

/// One problem in a calendar file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based line number; 0 for a problem with the file as a whole.
    pub line: usize,
    /// What is wrong, in lower case without a final period.
    pub message: String,
}

impl core::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl core::fmt::Display for CalendarFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CalendarFileError {}

pub(crate) fn parse(text: &str) -> Result<CalendarFile, CalendarFileError> {
    let mut file = CalendarFile::default();
    let mut problems = Vec::new();
    let mut seen_header = false;
    let mut first_line_of: Vec<(NaiveDate, usize)> = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        if problems.len() >= MAX_ERRORS {
            break;
        }
        let line = index + 1;
        let content = raw.trim_start_matches('\u{feff}').trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if !seen_header {
            seen_header = true;
            if content.replace(' ', "") != HEADER {
                problems.push(problem(
                    line,
                    format!("expected the header `{HEADER}`, found `{content}`"),
                ));
            }
            continue;
        }
        match parse_row(content) {
            Ok(Row::CoverageStarts(date)) => set_once(
                &mut file.coverage_starts,
                date,
                "coverage-starts",
                line,
                &mut problems,
            ),
            Ok(Row::CoverageEnds(date)) => set_once(
                &mut file.coverage_ends,
                date,
                "coverage-ends",
                line,
                &mut problems,
            ),
            Ok(Row::Day(date, day)) => {
                if let Some((_, first)) = first_line_of.iter().find(|(d, _)| *d == date) {
                    problems.push(problem(
                        line,
                        format!("{date} is already given on line {first}"),
                    ));
                } else {
                    first_line_of.push((date, line));
                    file.days.push((date, day));
                }
            }
            Err(message) => problems.push(problem(line, message)),
        }
    }
    if !seen_header && problems.is_empty() {
        problems.push(problem(
            0,
            format!("the file is empty: it needs at least the header `{HEADER}`"),
        ));
    }
    if let (Some(starts), Some(ends)) = (file.coverage_starts, file.coverage_ends)
        && starts > ends
    {
        problems.push(problem(
            0,
            format!("coverage-starts {starts} is after coverage-ends {ends}"),
        ));
    }
    if problems.is_empty() {
        file.days.sort_by_key(|(date, _)| *date);
        Ok(file)
    } else {
        Err(CalendarFileError { problems })
    }
}

enum Row {
    CoverageStarts(NaiveDate),
    CoverageEnds(NaiveDate),
    Day(NaiveDate, Day),
}

fn parse_row(content: &str) -> Result<Row, String> {
    let fields = split_csv(content)?;
    let [date, kind, hours, name] = fields.as_slice() else {
        return Err(format!(
            "expected 4 fields ({HEADER}), found {}",
            fields.len()
        ));
    };
    let date = parse_date(date.trim())
        .ok_or_else(|| format!("`{}` is not a date in the form YYYY-MM-DD", date.trim()))?;
    let kind = kind.trim();
    let hours = hours.trim();
    let name = name.trim().to_string();
    let no_hours = |kind: &str| {
        if hours.is_empty() {
            Ok(())
        } else {
            Err(format!("`{kind}` takes no hours, found `{hours}`"))
        }
    };
    let needs_name = |kind: &str| {
        if name.is_empty() {
            Err(format!("`{kind}` needs a name: the trader sees it"))
        } else {
            Ok(())
        }
    };
    match kind {
        "coverage-starts" => no_hours(kind).map(|()| Row::CoverageStarts(date)),
        "coverage-ends" => no_hours(kind).map(|()| Row::CoverageEnds(date)),
        "closed" => {
            no_hours(kind)?;
            needs_name(kind)?;
            Ok(Row::Day(
                date,
                Day {
                    kind: DayKind::Closed,
                    name,
                },
            ))
        }
        "unpublished" => {
            no_hours(kind)?;
            needs_name(kind)?;
            Ok(Row::Day(
                date,
                Day {
                    kind: DayKind::Unpublished,
                    name,
                },
            ))
        }
        "session" => {
            needs_name(kind)?;
            let windows = if hours.is_empty() {
                REGULAR_DAY.to_vec()
            } else {
                parse_hours(hours)?
            };
            Ok(Row::Day(
                date,
                Day {
                    kind: DayKind::Session(windows),
                    name,
                },
            ))
        }
        other => Err(format!(
            "unknown kind `{other}`: expected closed, session, unpublished, coverage-starts or coverage-ends"
        )),
    }
}

/// `[pre-open HH:MM] trading HH:MM-HH:MM; ...` into sorted, non-overlapping phase windows.
fn parse_hours(hours: &str) -> Result<Vec<PhaseWindow>, String> {
    let mut windows: Vec<PhaseWindow> = Vec::new();
    for segment in hours.split(';') {
        let words: Vec<&str> = segment.split_whitespace().collect();
        let (pre_open, trading) = match words.as_slice() {
            ["trading", range] => (None, *range),
            ["pre-open", start, "trading", range] => (Some(parse_time(start)?), *range),
            _ => {
                return Err(format!(
                    "hours segment `{}` is not `[pre-open HH:MM] trading HH:MM-HH:MM`",
                    segment.trim()
                ));
            }
        };
        let (open, close) = trading
            .split_once('-')
            .ok_or_else(|| format!("`{trading}` is not a range HH:MM-HH:MM"))?;
        let (open, close) = (parse_time(open)?, parse_time(close)?);
        if open >= close {
            return Err(format!("trading {trading} ends before it starts"));
        }
        let first_start = pre_open.unwrap_or(open);
        if let Some(last) = windows.last()
            && first_start < last.end
        {
            return Err(format!(
                "segment `{}` starts before the previous one ends ({})",
                segment.trim(),
                hh_mm(last.end)
            ));
        }
        if let Some(start) = pre_open {
            let freeze = start + PRE_OPEN_ORDER_ENTRY;
            if start >= open || freeze > open || freeze < start {
                return Err(format!(
                    "pre-open at {} must start at least 7 minutes before trading at {}",
                    hh_mm(start),
                    hh_mm(open)
                ));
            }
            windows.push(PhaseWindow {
                start,
                end: freeze,
                phase: MarketPhase::PreOpen,
            });
            if freeze < open {
                windows.push(PhaseWindow {
                    start: freeze,
                    end: open,
                    phase: MarketPhase::AuctionFreeze,
                });
            }
        }
        windows.push(PhaseWindow {
            start: open,
            end: close,
            phase: MarketPhase::Live,
        });
    }
    Ok(windows)
}

fn parse_time(text: &str) -> Result<NaiveTime, String> {
    parse_hh_mm(text).ok_or_else(|| format!("`{text}` is not a time HH:MM (00:00 to 23:59)"))
}

/// Splits one CSV line: fields separated by commas, optionally in double quotes with `""` for a
/// quote inside.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => {
                return Err("a quote inside an unquoted field: quote the whole field".to_string());
            }
            (false, ',') => {
                fields.push(core::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) if was_quoted && !c.is_whitespace() => {
                return Err("text after a closing quote".to_string());
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_string());
    }
    fields.push(field);
    Ok(fields)
}

fn set_once(
    slot: &mut Option<NaiveDate>,
    date: NaiveDate,
    kind: &str,
    line: usize,
    problems: &mut Vec<LineProblem>,
) {
    if slot.is_some() {
        problems.push(problem(line, format!("{kind} is given twice")));
    } else {
        *slot = Some(date);
    }
}

fn problem(line: usize, message: String) -> LineProblem {
    LineProblem { line, message }
}
