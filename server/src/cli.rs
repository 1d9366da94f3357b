//! The offline commands: `phase` and `calendar sessions | check`. They read files and the clock
//! here, and leave every rule to core.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use marketwarden_core::{
    Calendar, MarketHealth, MarketPhase, Segment, SegmentHealth, TradingDay, hh_mm,
};

use crate::calendar::{indent_problems, read_overrides};

/// Longest range `calendar sessions` lists: ten years.
const MAX_SESSION_DAYS: i64 = 3660;

/// An error of an offline command, printed as it is.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandError(pub String);

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

/// The built-in calendar, with `file` laid over it when given.
///
/// # Errors
///
/// The file cannot be read, or has problems (each with its line).
pub fn load_calendar(file: Option<&Path>) -> Result<Calendar, CommandError> {
    let builtin = Calendar::builtin();
    let Some(path) = file else {
        return Ok(builtin);
    };
    let text = read_overrides(path).map_err(CommandError)?;
    builtin
        .with_overrides(&text)
        .map_err(|error| CommandError(indent_problems(path, &error.to_string())))
}

/// `marketwarden phase`: the market object at `at` (NSE cash, the specification's view), or with
/// `segment` that segment in the exchange's phases, as pretty JSON.
pub fn phase_json(calendar: &Calendar, at: DateTime<Utc>, segment: Option<Segment>) -> String {
    let answer = match segment {
        None => serde_json::to_string_pretty(&MarketHealth::at(calendar, at)),
        Some(segment) => serde_json::to_string_pretty(&SegmentHealth::at(calendar, segment, at)),
    };
    let mut json = answer.unwrap_or_else(|error| {
        // Serializing plain data cannot fail; say so rather than panic if it ever does.
        format!("{{\"error\": \"{error}\"}}")
    });
    json.push('\n');
    json
}

/// `marketwarden calendar sessions`: one CSV row per non-CLOSED phase window of every trading
/// day from `from` to `to`, included: of NSE cash in the specification's phases, or with
/// `segment` of that segment in the exchange's (CLOSING_AUCTION and POST_CLOSE included).
///
/// # Errors
///
/// `to` before `from`, or a range over ten years.
pub fn sessions_csv(
    calendar: &Calendar,
    from: NaiveDate,
    to: NaiveDate,
    segment: Option<Segment>,
) -> Result<String, CommandError> {
    if to < from {
        return Err(CommandError(format!("--to {to} is before --from {from}")));
    }
    if (to - from).num_days() > MAX_SESSION_DAYS {
        return Err(CommandError(format!(
            "the range {from} to {to} is over ten years: ask for less"
        )));
    }
    let mut csv = String::from("date,phase,start,end,name\n");
    for date in from.iter_days().take_while(|date| *date <= to) {
        let (day, windows) = calendar.day(segment.unwrap_or(Segment::NseCm), date);
        let name = match day {
            TradingDay::Special { name } => csv_field(name),
            _ => String::new(),
        };
        for window in windows {
            if segment.is_none() && window.phase.specification_view() == MarketPhase::Closed {
                continue;
            }
            let _ = writeln!(
                csv,
                "{date},{},{},{},{name}",
                window.phase,
                hh_mm(window.start),
                hh_mm(window.end),
            );
        }
    }
    Ok(csv)
}

/// `marketwarden calendar check FILE`: a one-line summary when the file loads.
///
/// # Errors
///
/// Every problem, one per line, prefixed with the file's path.
pub fn check_file(path: &Path) -> Result<String, CommandError> {
    let calendar = load_calendar(Some(path))?;
    let mut summary = format!("{}: ok;", path.display());
    let mut first = true;
    for segment in Segment::ALL {
        let separator = if first { "" } else { "," };
        first = false;
        let _ = match calendar.coverage(segment) {
            Some(coverage) => write!(
                summary,
                "{separator} {segment} coverage {} to {}",
                coverage.starts, coverage.ends
            ),
            None => write!(summary, "{separator} {segment} no holiday list"),
        };
    }
    summary.push('\n');
    Ok(summary)
}

/// `marketwarden calendar import-nse FILE [--diff]`: NSE's holiday-master JSON as calendar-file
/// rows, or what they would change in `calendar`.
///
/// # Errors
///
/// The file cannot be read, or its JSON has problems (each on its own line).
pub fn import_nse(path: &Path, diff: bool, calendar: &Calendar) -> Result<String, CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CommandError(format!("cannot read {}: {error}", path.display())))?;
    let import = crate::nse_import::parse(&text).map_err(|problems| {
        CommandError(format!(
            "{}: not imported:\n{}",
            path.display(),
            indent(&problems)
        ))
    })?;
    Ok(if diff {
        import.diff(calendar)
    } else {
        import.rows()
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `text` to standard output, ignoring a closed pipe (`| head`).
pub fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn sessions_lists_trading_windows_in_order_and_skips_closed_days() {
        // Thu 2024-10-31, Fri 11-01 (Muhurat), Sat, Sun, Mon 11-04.
        let csv = sessions_csv(
            &Calendar::builtin(),
            date(2024, 10, 31),
            date(2024, 11, 4),
            None,
        )
        .unwrap();
        assert_eq!(
            csv,
            "date,phase,start,end,name\n\
             2024-10-31,PRE_OPEN,09:00,09:07,\n\
             2024-10-31,AUCTION_FREEZE,09:07,09:15,\n\
             2024-10-31,LIVE,09:15,15:30,\n\
             2024-11-01,PRE_OPEN,17:45,17:52,Diwali Laxmi Pujan: Muhurat trading\n\
             2024-11-01,AUCTION_FREEZE,17:52,18:00,Diwali Laxmi Pujan: Muhurat trading\n\
             2024-11-01,LIVE,18:00,19:00,Diwali Laxmi Pujan: Muhurat trading\n\
             2024-11-04,PRE_OPEN,09:00,09:07,\n\
             2024-11-04,AUCTION_FREEZE,09:07,09:15,\n\
             2024-11-04,LIVE,09:15,15:30,\n"
        );
    }

    #[test]
    fn sessions_refuses_a_backwards_or_huge_range() {
        let calendar = Calendar::builtin();
        let error =
            sessions_csv(&calendar, date(2024, 11, 4), date(2024, 11, 1), None).unwrap_err();
        assert_eq!(error.0, "--to 2024-11-01 is before --from 2024-11-04");
        assert!(sessions_csv(&calendar, date(2000, 1, 1), date(2024, 1, 1), None).is_err());
    }

    #[test]
    fn phase_json_has_the_cli_contract_fields() {
        let at = Utc.with_ymd_and_hms(2024, 11, 1, 12, 30, 0).unwrap(); // 18:00 IST
        let json: serde_json::Value =
            serde_json::from_str(&phase_json(&Calendar::builtin(), at, None)).unwrap();
        assert_eq!(json["phase"], "LIVE");
        assert_eq!(json["next_phase"], "CLOSED");
        assert_eq!(json["next_change_at"], "2024-11-01T19:00:00+05:30");
        assert_eq!(json["session_name"], "Diwali Laxmi Pujan: Muhurat trading");
        assert_eq!(json["calendar_coverage_ends"], "2026-12-31");
    }

    #[test]
    fn sessions_of_a_segment_list_the_exchanges_phases() {
        // Tuesday 2026-12-01.
        let day = date(2026, 12, 1);
        let cash = sessions_csv(&Calendar::builtin(), day, day, None).unwrap();
        assert!(
            !cash.contains("CLOSING_AUCTION") && !cash.contains("POST_CLOSE"),
            "{cash}"
        );
        let cash = sessions_csv(&Calendar::builtin(), day, day, Some(Segment::NseCm)).unwrap();
        assert_eq!(
            cash,
            "date,phase,start,end,name\n\
             2026-12-01,PRE_OPEN,09:00,09:07,\n\
             2026-12-01,AUCTION_FREEZE,09:07,09:15,\n\
             2026-12-01,LIVE,09:15,15:30,\n\
             2026-12-01,CLOSING_AUCTION,15:30,15:35,\n\
             2026-12-01,POST_CLOSE,15:50,16:00,\n"
        );
        let fo = sessions_csv(&Calendar::builtin(), day, day, Some(Segment::NseFo)).unwrap();
        assert!(fo.ends_with("2026-12-01,LIVE,09:15,15:40,\n"), "{fo}");
    }

    #[test]
    fn phase_of_a_segment_is_in_the_exchanges_phases() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 2, 0).unwrap(); // 15:32 IST
        let market: serde_json::Value =
            serde_json::from_str(&phase_json(&Calendar::builtin(), at, None)).unwrap();
        assert_eq!(market["phase"], "CLOSED");
        assert_eq!(market["exchange_phase"], "CLOSING_AUCTION");
        let fo: serde_json::Value =
            serde_json::from_str(&phase_json(&Calendar::builtin(), at, Some(Segment::NseFo)))
                .unwrap();
        assert_eq!(fo["segment"], "nse-fo");
        assert_eq!(fo["phase"], "LIVE");
        assert_eq!(fo["next_change_at"], "2026-12-01T15:40:00+05:30");
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
