use alloc::format;
use alloc::string::String;

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

#[cfg(test)]
mod tests {
    use super::*;

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
