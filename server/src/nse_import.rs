//! `marketwarden calendar import-nse FILE`: NSE's holiday-master JSON (the website's
//! `holiday-master?type=trading` answer) turned into calendar-file rows, so next year's holidays
//! arrive without a rebuild.
//!
//! The answer is an object keyed by segment (`CM`, `FO`, `CD`, `COM`, … in any order), each an
//! array of rows like `{"tradingDate":"26-Jan-2026","weekDay":"Monday","description":"Republic
//! Day","Sr_no":2,"morning_session":null,"evening_session":null}`; key casing varies. It is the
//! site's internal API, not a published contract, so everything is checked: known segment keys,
//! the date format, one calendar year, weekday names that match the dates, no date twice in a
//! segment. A holiday on a weekend is kept as a comment (it changes nothing). A special session
//! (Muhurat) comes as free text such as "6:15 PM to 7:15 PM": it becomes a `session` row with
//! exactly that trading window, and text that does not parse becomes an `unpublished` row with
//! the text in its name — never a guessed window.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use marketwarden_core::{Calendar, Segment, TradingDay, hh_mm};
use serde_json::Value;

/// NSE's keys, and the segments their rows apply to here. NSE's equity list also serves BSE's
/// equity segments: their holidays coincided on every 2024–2026 date (see core/data).
const IMPORTED: [(&str, &[Segment]); 3] = [
    ("CM", &[Segment::NseCm, Segment::BseCm]),
    ("FO", &[Segment::NseFo, Segment::BseFo]),
    ("CD", &[Segment::Cds]),
];

/// NSE's other keys: known, and left out (said in the output).
const NOT_IMPORTED: [(&str, &str); 9] = [
    ("COM", "NSE's commodity segment: MCX keeps its own list"),
    ("CBM", "corporate bonds"),
    ("CMOT", "the CM segment's other markets"),
    ("EGR", "electronic gold receipts"),
    ("IRD", "interest-rate derivatives"),
    ("MF", "mutual funds"),
    ("NDM", "NSE debt market"),
    ("NTRP", "tri-party repo"),
    ("SLBS", "securities lending and borrowing"),
];

/// An imported day of one NSE segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Imported {
    /// Closed all day.
    Closed { name: String },
    /// A session in this window only (a Muhurat hour).
    Session {
        name: String,
        start: NaiveTime,
        end: NaiveTime,
    },
    /// Open in part, or at times the text does not give: closed with a note until known.
    Unpublished { name: String },
    /// A holiday on a Saturday or Sunday: no effect.
    Weekend { name: String },
}

/// The import: per NSE key, its year and its days.
#[derive(Debug, PartialEq, Eq)]
pub struct Import {
    year: i32,
    days: BTreeMap<&'static str, BTreeMap<NaiveDate, Imported>>,
    skipped: Vec<String>,
}

/// Reads the holiday-master JSON `text`.
///
/// # Errors
///
/// Every problem found, one per line: not JSON, an unknown segment key, a row without a date,
/// a date not in `DD-Mon-YYYY`, more than one year, a weekday that does not match its date, a
/// date given twice.
pub fn parse(text: &str) -> Result<Import, String> {
    let json: Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    let Value::Object(segments) = json else {
        return Err("expected an object keyed by segment (CM, FO, CD, COM, …)".into());
    };
    let mut problems = Vec::new();
    let mut import = Import {
        year: 0,
        days: BTreeMap::new(),
        skipped: Vec::new(),
    };
    let mut years = BTreeSet::new();
    for (key, rows) in &segments {
        let upper = key.trim().to_ascii_uppercase();
        if let Some((name, why)) = NOT_IMPORTED.iter().find(|(name, _)| *name == upper) {
            import.skipped.push(format!("{name} ({why})"));
            continue;
        }
        let Some((name, _)) = IMPORTED.iter().find(|(name, _)| *name == upper) else {
            problems.push(format!(
                "unknown segment key `{key}`: expected CM, FO, CD, COM, CBM, CMOT, EGR, IRD, MF, \
                 NDM, NTRP or SLBS"
            ));
            continue;
        };
        let Value::Array(rows) = rows else {
            problems.push(format!("{name}: expected an array of rows"));
            continue;
        };
        let days = import.days.entry(name).or_default();
        for (index, row) in rows.iter().enumerate() {
            let at = format!("{name} row {}", index + 1);
            match parse_row(row) {
                Ok((date, day)) => {
                    years.insert(date.year());
                    if days.insert(date, day).is_some() {
                        problems.push(format!("{at}: {date} is given twice"));
                    }
                }
                Err(problem) => problems.push(format!("{at}: {problem}")),
            }
        }
    }
    match years.len() {
        0 if problems.is_empty() => problems.push("no rows of CM, FO or CD".into()),
        0 | 1 => {}
        _ => problems.push(format!(
            "the rows span {} years ({}): the list covers one calendar year",
            years.len(),
            years
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    import.year = years.first().copied().unwrap_or_default();
    Ok(import)
}

/// One row: its date and what the day is.
fn parse_row(row: &Value) -> Result<(NaiveDate, Imported), String> {
    let Value::Object(fields) = row else {
        return Err("not an object".into());
    };
    // Key casing varies between answers (`Sr_no`, `sr_no`): look names up without it.
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let text = |name: &str| field(name).and_then(Value::as_str).map(str::trim);
    let raw_date = text("tradingDate").ok_or("no tradingDate")?;
    let date = NaiveDate::parse_from_str(raw_date, "%d-%b-%Y")
        .ok()
        .filter(|date| (1990..=2200).contains(&date.year()))
        .ok_or_else(|| format!("`{raw_date}` is not a date like 26-Jan-2026"))?;
    if let Some(weekday) = text("weekDay") {
        let named =
            parse_weekday(weekday).ok_or_else(|| format!("`{weekday}` is not a weekday name"))?;
        if named != date.weekday() {
            return Err(format!("{date} is a {:?}, not a {weekday}", date.weekday()));
        }
    }
    // One line of plain words: the name goes into a line-based file.
    let name = text("description")
        .map(|name| name.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "Trading holiday".to_string());
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return Ok((date, Imported::Weekend { name }));
    }
    // A session on the holiday: a window in a session field or in the description.
    let sessions: Vec<&str> = ["morning_session", "evening_session"]
        .into_iter()
        .filter_map(text)
        .filter(|value| !value.is_empty() && !value.eq_ignore_ascii_case("closed"))
        .collect();
    let window_in_name = parse_window(&name);
    let day = match (sessions.as_slice(), window_in_name) {
        ([], None) => Imported::Closed { name },
        ([], Some((start, end))) => Imported::Session { name, start, end },
        ([one], _) => match parse_window(one) {
            Some((start, end)) => Imported::Session { name, start, end },
            None => Imported::Unpublished {
                name: format!("{name}: session \"{}\" (timings not given)", one_line(one)),
            },
        },
        (several, _) => Imported::Unpublished {
            name: format!(
                "{name}: sessions \"{}\"",
                several
                    .iter()
                    .map(|text| one_line(text))
                    .collect::<Vec<_>>()
                    .join("\", \"")
            ),
        },
    };
    Ok((date, day))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.trim().to_ascii_lowercase();
    [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ]
    .into_iter()
    .find(|(name, _)| *name == lower || name[..3] == lower)
    .map(|(_, weekday)| weekday)
}

/// "6:15 PM to 7:15 PM" (also "6.15 pm - 7.15 pm") anywhere in `text`: the window, or `None`.
/// AM and PM are read with care: 12 PM is noon, 12 AM midnight.
fn parse_window(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let lower = text.to_ascii_lowercase().replace('.', ":");
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|word| !word.is_empty())
        .collect();
    let times: Vec<NaiveTime> = words
        .windows(2)
        .filter_map(|pair| clock_time(pair[0], pair[1]))
        .chain(words.iter().filter_map(|word| glued_clock_time(word)))
        .collect();
    match times.as_slice() {
        [start, end] if start < end => Some((*start, *end)),
        _ => None,
    }
}

/// `6:15` followed by `pm`.
fn clock_time(time: &str, meridiem: &str) -> Option<NaiveTime> {
    let meridiem = meridiem.trim_end_matches(['-', ':']);
    let pm = match meridiem {
        "am" | "a:m:" => false,
        "pm" | "p:m:" => true,
        _ => return None,
    };
    let (hour, minute) = match time.split_once(':') {
        Some((hour, minute)) => (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?),
        None => (time.parse::<u32>().ok()?, 0),
    };
    if !(1..=12).contains(&hour) || minute > 59 {
        return None;
    }
    let hour = match (hour, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (hour, true) => hour + 12,
        (hour, false) => hour,
    };
    NaiveTime::from_hms_opt(hour, minute, 0)
}

/// `6:15pm`, written together. (Found by the fuzzer: the word may be any text, so it is split
/// by its suffix, never at a byte count.)
fn glued_clock_time(word: &str) -> Option<NaiveTime> {
    let (time, meridiem) = ["am", "pm"]
        .into_iter()
        .find_map(|meridiem| word.strip_suffix(meridiem).map(|time| (time, meridiem)))?;
    if !time.chars().next()?.is_ascii_digit() {
        return None;
    }
    clock_time(time, meridiem)
}

impl Import {
    /// The calendar-file rows (with a `segments` column), comments included.
    pub fn rows(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# NSE holiday list {}, imported by `marketwarden calendar import-nse`.",
            self.year
        );
        let _ = writeln!(
            out,
            "# CM applies to nse-cm and bse-cm, FO to nse-fo and bse-fo (BSE's equity holidays \
             have matched NSE's), CD to cds."
        );
        for skipped in &self.skipped {
            let _ = writeln!(out, "# Not imported: {skipped}.");
        }
        out.push_str("date,kind,hours,name,segments\n");
        for (key, days) in &self.days {
            let segments = segments_of(key);
            let _ = writeln!(
                out,
                "{}-01-01,coverage-starts,,NSE holiday list {} ({key}),{segments}",
                self.year, self.year
            );
            let _ = writeln!(
                out,
                "{}-12-31,coverage-ends,,NSE holiday list {} ({key}),{segments}",
                self.year, self.year
            );
            for (date, day) in days {
                let _ = match day {
                    Imported::Closed { name } => {
                        writeln!(out, "{date},closed,,{},{segments}", csv(name))
                    }
                    Imported::Session { name, start, end } => writeln!(
                        out,
                        "{date},session,trading {}-{},{},{segments}",
                        hh_mm(*start),
                        hh_mm(*end),
                        csv(name)
                    ),
                    Imported::Unpublished { name } => {
                        writeln!(out, "{date},unpublished,,{},{segments}", csv(name))
                    }
                    Imported::Weekend { name } => writeln!(
                        out,
                        "# {date} ({:?}) {name}: a weekend holiday, no effect ({key})",
                        date.weekday()
                    ),
                };
            }
        }
        out
    }

    /// What the import would change in `calendar`: one line per date whose day differs, and the
    /// coverage each segment would gain.
    pub fn diff(&self, calendar: &Calendar) -> String {
        let mut out = String::new();
        let rows = self.rows();
        let Ok(imported) = calendar.with_overrides(&rows) else {
            return "the import does not load as a calendar file\n".into();
        };
        for (key, days) in &self.days {
            for segment in IMPORTED
                .iter()
                .find(|(name, _)| name == key)
                .map_or(&[][..], |(_, segments)| *segments)
            {
                let before = calendar.coverage(*segment);
                let after = imported.coverage(*segment);
                if before != after {
                    let _ = writeln!(
                        out,
                        "{segment}: coverage {} → {}",
                        before.map_or_else(
                            || "none".to_string(),
                            |c| format!("{} to {}", c.starts, c.ends)
                        ),
                        after.map_or_else(
                            || "none".to_string(),
                            |c| format!("{} to {}", c.starts, c.ends)
                        ),
                    );
                }
                for date in days.keys() {
                    let old = describe(calendar, *segment, *date);
                    let new = describe(&imported, *segment, *date);
                    if old != new {
                        let _ = writeln!(out, "{date} {segment}: {old} → {new}");
                    }
                }
            }
        }
        if out.is_empty() {
            out.push_str("no change\n");
        }
        out
    }
}

fn segments_of(key: &str) -> String {
    IMPORTED
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, segments)| {
            segments
                .iter()
                .map(|segment| segment.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A day in words: "regular day", "closed (Holi)", "session 18:15-19:15 (Muhurat)", …
fn describe(calendar: &Calendar, segment: Segment, date: NaiveDate) -> String {
    let (day, windows) = calendar.day(segment, date);
    let hours = || {
        windows
            .iter()
            .map(|window| {
                format!(
                    "{} {}-{}",
                    window.phase,
                    hh_mm(window.start),
                    hh_mm(window.end)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match day {
        TradingDay::Regular => "regular day".into(),
        TradingDay::Weekend => "weekend".into(),
        TradingDay::Holiday { name } => format!("closed ({name})"),
        TradingDay::Special { name } => format!("session {} ({name})", hours()),
        TradingDay::TimingsNotPublished { name } => format!("unpublished ({name})"),
    }
}

fn csv(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented shape: segments in any order (CBM first), mixed key casing, a Muhurat
    /// window as text, a weekend holiday, a non-CM "Open"/"Closed" pair.
    const FIXTURE: &str = r#"{
      "CBM": [{"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Republic Day","Sr_no":1}],
      "CM": [
        {"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Republic Day","Sr_no":1,"morning_session":null,"evening_session":null},
        {"tradingdate":"15-Aug-2027","weekday":"Sunday","description":"Independence Day","sr_no":2},
        {"TRADINGDATE":"29-Oct-2027","WEEKDAY":"Friday","DESCRIPTION":"Diwali Laxmi Pujan*","evening_session":"6:15 PM to 7:15 PM"},
        {"tradingDate":"25-Dec-2027","weekDay":"Saturday","description":"Christmas"}
      ],
      "FO": [
        {"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Republic Day"},
        {"tradingDate":"29-Oct-2027","weekDay":"Friday","description":"Diwali Laxmi Pujan","evening_session":"Muhurat timings to be notified"}
      ],
      "CD": [
        {"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Republic Day","morning_session":"Closed","evening_session":"Open"}
      ],
      "COM": [{"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Republic Day","morning_session":"Closed","evening_session":"Open"}]
    }"#;

    #[test]
    fn the_documented_shape_becomes_calendar_rows() {
        let import = parse(FIXTURE).expect("valid");
        let rows = import.rows();
        for line in [
            "2027-01-01,coverage-starts,,NSE holiday list 2027 (CM),nse-cm bse-cm",
            "2027-12-31,coverage-ends,,NSE holiday list 2027 (CM),nse-cm bse-cm",
            "2027-01-26,closed,,Republic Day,nse-cm bse-cm",
            "2027-10-29,session,trading 18:15-19:15,Diwali Laxmi Pujan*,nse-cm bse-cm",
            "# 2027-08-15 (Sun) Independence Day: a weekend holiday, no effect (CM)",
            "2027-01-26,closed,,Republic Day,nse-fo bse-fo",
            "2027-10-29,unpublished,,\"Diwali Laxmi Pujan: session \"\"Muhurat timings to be notified\"\" (timings not given)\",nse-fo bse-fo",
            "2027-01-26,unpublished,,\"Republic Day: session \"\"Open\"\" (timings not given)\",cds",
            "# Not imported: COM (NSE's commodity segment: MCX keeps its own list).",
            "# Not imported: CBM (corporate bonds).",
        ] {
            assert!(
                rows.lines().any(|row| row == line),
                "missing {line:?} in\n{rows}"
            );
        }
        // The rows load as a calendar file over the built-in one.
        let calendar = Calendar::builtin().with_overrides(&rows).expect("loads");
        assert_eq!(
            calendar.coverage(Segment::NseCm).map(|c| c.ends),
            NaiveDate::from_ymd_opt(2027, 12, 31)
        );
    }

    #[test]
    fn bad_dates_weekdays_years_keys_and_duplicates_are_each_refused() {
        let text = r#"{
          "CM": [
            {"tradingDate":"2027-01-26","weekDay":"Tuesday","description":"ISO date"},
            {"tradingDate":"27-Jan-2027","weekDay":"Tuesday","description":"Wrong weekday"},
            {"tradingDate":"01-Mar-2027","weekDay":"Monday","description":"Holi"},
            {"tradingDate":"01-Mar-2027","weekDay":"Monday","description":"Holi again"},
            {"tradingDate":"01-Jan-2028","weekDay":"Saturday","description":"Next year"}
          ],
          "XYZ": []
        }"#;
        let problems = parse(text).expect_err("invalid");
        for needle in [
            "CM row 1: `2027-01-26` is not a date like 26-Jan-2026",
            "CM row 2: 2027-01-27 is a Wed, not a Tuesday",
            "CM row 4: 2027-03-01 is given twice",
            "the rows span 2 years (2027, 2028)",
            "unknown segment key `XYZ`",
        ] {
            assert!(
                problems.contains(needle),
                "missing {needle:?} in\n{problems}"
            );
        }
        assert!(parse("[]").is_err());
        assert!(parse("not json").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn hostile_text_never_breaks_the_rows() {
        let text = r#"{"CM": [
          {"tradingDate":"26-Jan-2027","weekDay":"Tuesday","description":"Line\nbreak, \"quoted\"\n# comment"},
          {"tradingDate":"27-Jan-2027","weekDay":"Wednesday","description":"x","evening_session":"a\nb"},
          {"tradingDate":"28-Jan-99999","weekDay":"Thursday","description":"far"}
        ]}"#;
        assert!(
            parse(text)
                .unwrap_err()
                .contains("`28-Jan-99999` is not a date")
        );
        let text = text.replace(
            r#",
          {"tradingDate":"28-Jan-99999","weekDay":"Thursday","description":"far"}"#,
            "",
        );
        let import = parse(&text).expect("valid");
        let rows = import.rows();
        Calendar::builtin().with_overrides(&rows).expect("loads");
        assert_eq!(
            rows.lines()
                .filter(|line| line.starts_with("2027-01-2"))
                .count(),
            2,
            "{rows}"
        );
    }

    #[test]
    fn session_text_is_read_with_care_for_am_and_pm() {
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(
            parse_window("6:15 PM to 7:15 PM"),
            Some((at(18, 15), at(19, 15)))
        );
        assert_eq!(
            parse_window("Muhurat 1:45 pm - 2:45 pm"),
            Some((at(13, 45), at(14, 45)))
        );
        assert_eq!(
            parse_window("11:30 AM to 12:30 PM"),
            Some((at(11, 30), at(12, 30)))
        );
        assert_eq!(
            parse_window("6.15pm to 7.15pm"),
            Some((at(18, 15), at(19, 15)))
        );
        assert_eq!(parse_window("Open"), None);
        assert_eq!(parse_window("Republic ƞy"), None, "any text, never a panic");
        assert_eq!(parse_window("6:15 to 7:15"), None, "no AM/PM: not guessed");
        assert_eq!(parse_window("7:15 PM to 6:15 PM"), None, "backwards");
    }

    #[test]
    fn the_diff_says_what_changes_against_the_calendar_in_use() {
        let import = parse(FIXTURE).expect("valid");
        let diff = import.diff(&Calendar::builtin());
        for line in [
            "nse-cm: coverage 2024-01-01 to 2026-12-31 → 2024-01-01 to 2027-12-31",
            "cds: coverage none → 2027-01-01 to 2027-12-31",
            "2027-01-26 nse-cm: regular day → closed (Republic Day)",
            "2027-10-29 nse-cm: regular day → session LIVE 18:15-19:15 (Diwali Laxmi Pujan*)",
        ] {
            assert!(
                diff.lines().any(|row| row == line),
                "missing {line:?} in\n{diff}"
            );
        }
        let again = Calendar::builtin().with_overrides(&import.rows()).unwrap();
        assert_eq!(import.diff(&again), "no change\n");
    }
}
