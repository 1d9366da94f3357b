//! The calendar file: a small CSV that people edit by hand.
//!
//! ```text
//! # comments and blank lines are ignored
//! date,kind,hours,name,segments
//! 2027-12-31,coverage-ends,,NSE holiday list 2027,equity
//! 2027-01-26,closed,,Republic Day,equity
//! 2027-02-01,session,,Union Budget session,nse-cm nse-fo
//! 2021-02-24,session,pre-open 09:00 trading 09:15-11:40; pre-open 15:30 trading 15:45-17:00,Trading halt,nse-cm
//! 2027-10-29,unpublished,,Muhurat trading,all
//! 2026-08-03,template,pre-open 09:00 trading 09:15-15:30 closing-auction 15:30-15:35 post-close 15:50-16:00,Closing auction,nse-cm
//! ```
//!
//! The `segments` column may be left out (the header then ends at `name`): every row then
//! applies to the equity segments, which share NSE's equity holiday list. Parsing collects every
//! error with its line number, so one run shows all that is wrong.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use chrono::{NaiveDate, NaiveTime, TimeDelta};

use super::{Day, DayKind, PhaseWindow, Template};
use crate::display::{hh_mm, parse_date, parse_hh_mm};
use crate::{MarketPhase, Segment};

/// The header of a calendar file whose rows all apply to the equity segments.
pub const HEADER: &str = "date,kind,hours,name";

/// The header of a calendar file with a `segments` column.
pub const HEADER_WITH_SEGMENTS: &str = "date,kind,hours,name,segments";

/// The PRE_OPEN part of a pre-open: order entry, before the auction freeze.
const PRE_OPEN_ORDER_ENTRY: TimeDelta = TimeDelta::minutes(7);

/// At most this many errors are reported; a file with more is probably not a calendar.
const MAX_ERRORS: usize = 50;

/// A parsed calendar file: dated entries, templates and the coverage it declares, per segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CalendarFile {
    pub days: Vec<(Segment, NaiveDate, Day)>,
    pub templates: Vec<(Segment, NaiveDate, Template)>,
    /// Indexed by [`Segment::index`].
    pub coverage_starts: [Option<NaiveDate>; Segment::ALL.len()],
    /// Indexed by [`Segment::index`].
    pub coverage_ends: [Option<NaiveDate>; Segment::ALL.len()],
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
    let mut header: Option<bool> = None;
    // Where each (template or not, segment, date) was first given, and each coverage bound
    // (ends or not, segment). Plain lists: files are small, and each map type would add its own
    // code to the browser bundle.
    let mut first_line_of: Vec<((bool, Segment, NaiveDate), usize)> = Vec::new();
    let mut coverage_lines: Vec<((bool, Segment), usize)> = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        if problems.len() >= MAX_ERRORS {
            break;
        }
        let line = index + 1;
        let content = raw.trim_start_matches('\u{feff}').trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let Some(with_segments) = header else {
            let compact = content.replace(' ', "");
            header = Some(compact == HEADER_WITH_SEGMENTS);
            if compact != HEADER && compact != HEADER_WITH_SEGMENTS {
                problems.push(problem(
                    line,
                    format!(
                        "expected the header `{HEADER}` or `{HEADER_WITH_SEGMENTS}`, found \
                         `{content}`"
                    ),
                ));
            }
            continue;
        };
        let row = match parse_row(content, with_segments) {
            Ok(row) => row,
            Err(message) => {
                problems.push(problem(line, message));
                continue;
            }
        };
        // A row that repeats an earlier one (for any of its segments) is one problem, and none
        // of it is taken.
        let coverage_kind = match row.entry {
            Entry::CoverageStarts => Some((false, "coverage-starts")),
            Entry::CoverageEnds => Some((true, "coverage-ends")),
            _ => None,
        };
        let template = matches!(row.entry, Entry::Template(_));
        let repeated = row.segments.iter().find_map(|segment| match coverage_kind {
            Some((ends, kind)) => line_of(&coverage_lines, (ends, *segment))
                .map(|first| format!("{kind} of {segment} is already given on line {first}")),
            None => line_of(&first_line_of, (template, *segment, row.date)).map(|first| {
                let what = if template { "a template of " } else { "" };
                format!(
                    "{} {what}{segment} is already given on line {first}",
                    row.date
                )
            }),
        });
        if let Some(message) = repeated {
            problems.push(problem(line, message));
            continue;
        }
        for segment in row.segments {
            match &row.entry {
                Entry::CoverageStarts => {
                    coverage_lines.push(((false, segment), line));
                    file.coverage_starts[segment.index()] = Some(row.date);
                }
                Entry::CoverageEnds => {
                    coverage_lines.push(((true, segment), line));
                    file.coverage_ends[segment.index()] = Some(row.date);
                }
                Entry::Template(day) => {
                    first_line_of.push(((true, segment, row.date), line));
                    if let DayKind::Session(Some(windows)) = &day.kind {
                        file.templates.push((
                            segment,
                            row.date,
                            Template {
                                windows: windows.clone(),
                                name: day.name.clone(),
                            },
                        ));
                    }
                }
                Entry::Day(day) => {
                    first_line_of.push(((false, segment, row.date), line));
                    file.days.push((segment, row.date, day.clone()));
                }
            }
        }
    }
    if header.is_none() && problems.is_empty() {
        problems.push(problem(
            0,
            format!("the file is empty: it needs at least the header `{HEADER}`"),
        ));
    }
    for segment in Segment::ALL {
        if let (Some(starts), Some(ends)) = (
            file.coverage_starts[segment.index()],
            file.coverage_ends[segment.index()],
        ) && starts > ends
        {
            problems.push(problem(
                0,
                format!("{segment}: coverage-starts {starts} is after coverage-ends {ends}"),
            ));
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(CalendarFileError { problems })
    }
}

/// The line `key` was first given on.
fn line_of<K: PartialEq>(list: &[(K, usize)], key: K) -> Option<usize> {
    list.iter()
        .find(|(found, _)| *found == key)
        .map(|(_, line)| *line)
}

enum Entry {
    CoverageStarts,
    CoverageEnds,
    Day(Day),
    /// A template, held as a session day with its windows.
    Template(Day),
}

struct Row {
    date: NaiveDate,
    entry: Entry,
    segments: Vec<Segment>,
}

fn parse_row(content: &str, with_segments: bool) -> Result<Row, String> {
    let fields = split_csv(content)?;
    let (date, kind, hours, name, segments) = match (fields.as_slice(), with_segments) {
        ([date, kind, hours, name], _) => (date, kind, hours, name, None),
        ([date, kind, hours, name, segments], true) => (date, kind, hours, name, Some(segments)),
        (_, false) => {
            return Err(format!(
                "expected 4 fields ({HEADER}), found {}",
                fields.len()
            ));
        }
        (_, true) => {
            return Err(format!(
                "expected 5 fields ({HEADER_WITH_SEGMENTS}), found {}",
                fields.len()
            ));
        }
    };
    let date = parse_date(date.trim())
        .ok_or_else(|| format!("`{}` is not a date in the form YYYY-MM-DD", date.trim()))?;
    let segments = parse_segments(segments.map_or("", |text| text.as_str()))?;
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
    let entry = match kind {
        "coverage-starts" => no_hours(kind).map(|()| Entry::CoverageStarts)?,
        "coverage-ends" => no_hours(kind).map(|()| Entry::CoverageEnds)?,
        "closed" => {
            no_hours(kind)?;
            needs_name(kind)?;
            Entry::Day(Day {
                kind: DayKind::Closed,
                name,
            })
        }
        "unpublished" => {
            no_hours(kind)?;
            needs_name(kind)?;
            Entry::Day(Day {
                kind: DayKind::Unpublished,
                name,
            })
        }
        "session" => {
            needs_name(kind)?;
            let windows = if hours.is_empty() {
                None
            } else {
                Some(parse_hours(hours)?)
            };
            Entry::Day(Day {
                kind: DayKind::Session(windows),
                name,
            })
        }
        "template" => {
            needs_name(kind)?;
            if hours.is_empty() {
                return Err("`template` needs the regular day's hours".to_string());
            }
            Entry::Template(Day {
                kind: DayKind::Session(Some(parse_hours(hours)?)),
                name,
            })
        }
        other => {
            return Err(format!(
                "unknown kind `{other}`: expected closed, session, unpublished, template, \
                 coverage-starts or coverage-ends"
            ));
        }
    };
    Ok(Row {
        date,
        entry,
        segments,
    })
}

/// `nse-cm nse-fo`, `equity`, `all`; empty: the equity segments.
fn parse_segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ';' || c == '|') {
        let chosen: Vec<Segment> = match word.trim() {
            "" => continue,
            "all" => Segment::ALL.to_vec(),
            "equity" => Segment::EQUITY.to_vec(),
            other => match Segment::parse(other) {
                Some(segment) => alloc::vec![segment],
                None => {
                    return Err(format!(
                        "unknown segment `{other}`: expected nse-cm, nse-fo, bse-cm, bse-fo, \
                         cds, mcx, equity or all"
                    ));
                }
            },
        };
        for segment in chosen {
            if !segments.contains(&segment) {
                segments.push(segment);
            }
        }
    }
    if segments.is_empty() {
        segments.extend(Segment::EQUITY);
    }
    Ok(segments)
}

/// Parts separated by `;`, each `[pre-open HH:MM] trading HH:MM-HH:MM [closing-auction
/// HH:MM-HH:MM] [post-close HH:MM-HH:MM]`, into sorted, non-overlapping phase windows.
fn parse_hours(hours: &str) -> Result<Vec<PhaseWindow>, String> {
    let mut windows: Vec<PhaseWindow> = Vec::new();
    for part in hours.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let shape = || {
            format!(
                "hours `{}` are not `[pre-open HH:MM] trading HH:MM-HH:MM [closing-auction \
                 HH:MM-HH:MM] [post-close HH:MM-HH:MM]`",
                part.trim()
            )
        };
        let mut rest = words.as_slice();
        let mut pre_open = None;
        if let ["pre-open", start, tail @ ..] = rest {
            pre_open = Some(parse_time(start)?);
            rest = tail;
        }
        let ["trading", range, tail @ ..] = rest else {
            return Err(shape());
        };
        rest = tail;
        let (open, close) = parse_range("trading", range)?;
        let mut part_windows = Vec::new();
        if let Some(start) = pre_open {
            let freeze = start + PRE_OPEN_ORDER_ENTRY;
            if start >= open || freeze > open || freeze < start {
                return Err(format!(
                    "pre-open at {} must start at least 7 minutes before trading at {}",
                    hh_mm(start),
                    hh_mm(open)
                ));
            }
            part_windows.push(window(start, freeze, MarketPhase::PreOpen));
            if freeze < open {
                part_windows.push(window(freeze, open, MarketPhase::AuctionFreeze));
            }
        }
        part_windows.push(window(open, close, MarketPhase::Live));
        for (word, phase) in [
            ("closing-auction", MarketPhase::ClosingAuction),
            ("post-close", MarketPhase::PostClose),
        ] {
            if let [found, range, tail @ ..] = rest
                && *found == word
            {
                let (start, end) = parse_range(word, range)?;
                part_windows.push(window(start, end, phase));
                rest = tail;
            }
        }
        if !rest.is_empty() {
            return Err(shape());
        }
        for next in part_windows {
            if let Some(last) = windows.last()
                && next.start < last.end
            {
                return Err(format!(
                    "{} at {} starts before the previous phase ends ({})",
                    next.phase.as_str().to_ascii_lowercase().replace('_', "-"),
                    hh_mm(next.start),
                    hh_mm(last.end)
                ));
            }
            windows.push(next);
        }
    }
    Ok(windows)
}

fn window(start: NaiveTime, end: NaiveTime, phase: MarketPhase) -> PhaseWindow {
    PhaseWindow { start, end, phase }
}

/// `HH:MM-HH:MM` after `word`, ending after it starts.
fn parse_range(word: &str, range: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (start, end) = range
        .split_once('-')
        .ok_or_else(|| format!("`{range}` is not a range HH:MM-HH:MM"))?;
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    if start >= end {
        return Err(format!("{word} {range} ends before it starts"));
    }
    Ok((start, end))
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

fn problem(line: usize, message: String) -> LineProblem {
    LineProblem { line, message }
}
