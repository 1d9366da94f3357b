//! Plain-text formatting shared by the server and the browser. Hand-written rather than
//! chrono's `format`, whose format-string machinery would add to the browser bundle.

use alloc::format;
use alloc::string::String;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

/// `"09:15"`.
pub fn hh_mm(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// `"09:15:07"`.
pub fn hh_mm_ss(time: NaiveTime) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// The English abbreviation of `month` (1–12): "Jan" … "Dec"; "?" for another number.
pub(crate) fn month_abbreviation(month: u32) -> &'static str {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    month
        .checked_sub(1)
        .and_then(|index| MONTHS.get(index as usize))
        .copied()
        .unwrap_or("?")
}

/// `"Mon 30 Nov"`.
pub fn day_label(date: NaiveDate) -> String {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let weekday = WEEKDAYS[date.weekday().num_days_from_monday() as usize];
    let month = month_abbreviation(date.month());
    format!("{weekday} {} {month}", date.day())
}

/// Parses `"HH:MM"` (00:00 to 23:59), exactly five characters.
pub(crate) fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let (hour, minute) = text.split_once(':')?;
    if hour.len() != 2 || minute.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(two_digits(hour)?, two_digits(minute)?, 0)
}

/// Parses `"YYYY-MM-DD"`.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, two_digits(month)?, two_digits(day)?)
}

fn two_digits(text: &str) -> Option<u32> {
    match text.as_bytes() {
        [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => {
            Some(u32::from(tens - b'0') * 10 + u32::from(ones - b'0'))
        }
        _ => None,
    }
}

/// A countdown as a trader reads it: `"04:05"` under an hour, `"3:04:05"` under a day,
/// `"2d 03:04:05"` beyond.
///
/// # Examples
///
/// ```
/// use marketwarden_core::format_countdown;
///
/// assert_eq!(format_countdown(65), "01:05");
/// assert_eq!(format_countdown(3 * 3600 + 4 * 60 + 5), "3:04:05");
/// assert_eq!(format_countdown(2 * 86_400 + 3 * 3600), "2d 03:00:00");
/// ```
pub fn format_countdown(total_seconds: u64) -> String {
    let days = total_seconds / 86_400;
    let hours = total_seconds / 3600 % 24;
    let minutes = total_seconds / 60 % 60;
    let seconds = total_seconds % 60;
    match (days, hours) {
        (0, 0) => format!("{minutes:02}:{seconds:02}"),
        (0, _) => format!("{hours}:{minutes:02}:{seconds:02}"),
        _ => format!("{days}d {hours:02}:{minutes:02}:{seconds:02}"),
    }
}

/// `text` with the five HTML-special characters escaped, for element content and attributes of
/// the few pages written by hand (the server's login pages, the simulator's).
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_days_read_as_traders_write_them() {
        let time = NaiveTime::from_hms_opt(9, 5, 7).unwrap();
        assert_eq!(hh_mm(time), "09:05");
        assert_eq!(hh_mm_ss(time), "09:05:07");
        assert_eq!(
            day_label(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
            "Mon 30 Nov"
        );
        assert_eq!(
            day_label(NaiveDate::from_ymd_opt(2027, 1, 3).unwrap()),
            "Sun 3 Jan"
        );
    }

    #[test]
    fn parsers_take_only_the_exact_forms() {
        assert_eq!(parse_hh_mm("09:15"), NaiveTime::from_hms_opt(9, 15, 0));
        assert_eq!(parse_hh_mm("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        for bad in [
            "9:15",
            "24:00",
            "09:60",
            "09:15:00",
            "0915",
            "+9:15",
            "09:1",
            "",
            "٠٩:١٥",
        ] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
        assert_eq!(
            parse_date("2026-11-30"),
            NaiveDate::from_ymd_opt(2026, 11, 30)
        );
        for bad in [
            "2026-11-31",
            "2026-2-01",
            "26-11-30",
            "2026-11-30-1",
            "+202-11-30",
            "2026/11/30",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn countdown_formats_at_each_magnitude() {
        let cases = [
            (0, "00:00"),
            (59, "00:59"),
            (3599, "59:59"),
            (3600, "1:00:00"),
            (86_399, "23:59:59"),
            (86_400, "1d 00:00:00"),
            (u64::MAX, "213503982334601d 07:00:15"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(format_countdown(seconds), expected);
        }
    }
}
