//! Which instruments the feed subscribes, and in which mode (`FEED_INSTRUMENTS`).

use marketwarden_kite::MAX_INSTRUMENTS_PER_CONNECTION;
use marketwarden_kite::packet::Mode;

/// NIFTY 50 and NIFTY BANK in full mode, and a few liquid NSE equities in quote mode.
pub const DEFAULT_INSTRUMENTS: &str =
    "256265:full,260105:full,738561:quote,341249:quote,408065:quote,2953217:quote";

/// Names of the instruments marketwarden knows without the instruments file.
const KNOWN_NAMES: [(u32, &str); 6] = [
    (256_265, "NIFTY 50"),
    (260_105, "NIFTY BANK"),
    (738_561, "RELIANCE"),
    (341_249, "HDFCBANK"),
    (408_065, "INFY"),
    (2_953_217, "TCS"),
];

/// One subscribed instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    pub token: u32,
    pub name: String,
    pub mode: Mode,
}

/// The wire name of a mode: `ltp`, `quote`, `full`.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Ltp => "ltp",
        Mode::Quote => "quote",
        Mode::Full => "full",
    }
}

/// Parses `TOKEN[:MODE][=NAME],…`, e.g. `256265:full=NIFTY 50,738561`. The mode defaults to
/// `quote`; the name to the known one, else `instrument TOKEN`.
///
/// # Errors
///
/// A token that is not a number, an unknown mode, an empty list, a token twice, or more than
/// Kite's 3000 instruments per connection.
pub fn parse_instruments(text: &str) -> Result<Vec<Instrument>, String> {
    let mut instruments: Vec<Instrument> = Vec::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (spec, name) = match entry.split_once('=') {
            Some((spec, name)) => (spec.trim(), Some(name.trim())),
            None => (entry, None),
        };
        let (token, mode) = match spec.split_once(':') {
            Some((token, mode)) => (token.trim(), mode.trim()),
            None => (spec, "quote"),
        };
        let token: u32 = token
            .parse()
            .map_err(|_| format!("`{entry}`: the instrument token must be a number"))?;
        let mode = match mode.to_ascii_lowercase().as_str() {
            "ltp" => Mode::Ltp,
            "quote" => Mode::Quote,
            "full" => Mode::Full,
            _ => return Err(format!("`{entry}`: the mode must be ltp, quote or full")),
        };
        if instruments.iter().any(|known| known.token == token) {
            return Err(format!("`{entry}`: instrument {token} is listed twice"));
        }
        let name = name
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .or_else(|| {
                KNOWN_NAMES
                    .iter()
                    .find(|(known, _)| *known == token)
                    .map(|(_, name)| (*name).to_string())
            })
            .unwrap_or_else(|| format!("instrument {token}"));
        instruments.push(Instrument { token, name, mode });
    }
    if instruments.is_empty() {
        return Err("no instruments: list at least one as TOKEN[:MODE]".into());
    }
    if instruments.len() > MAX_INSTRUMENTS_PER_CONNECTION {
        return Err(format!(
            "{} instruments: Kite allows {} per connection",
            instruments.len(),
            MAX_INSTRUMENTS_PER_CONNECTION
        ));
    }
    Ok(instruments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_is_the_two_indices_in_full_and_four_equities() {
        let instruments = parse_instruments(DEFAULT_INSTRUMENTS).unwrap();
        let names: Vec<&str> = instruments.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "NIFTY 50",
                "NIFTY BANK",
                "RELIANCE",
                "HDFCBANK",
                "INFY",
                "TCS"
            ]
        );
        assert_eq!(instruments[0].mode, Mode::Full);
        assert_eq!(instruments[2].mode, Mode::Quote);
    }

    #[test]
    fn modes_default_to_quote_and_names_can_be_given() {
        let instruments = parse_instruments(" 738561 , 12345:LTP=My future ").unwrap();
        assert_eq!(instruments[0].mode, Mode::Quote);
        assert_eq!(
            instruments[1],
            Instrument {
                token: 12345,
                name: "My future".into(),
                mode: Mode::Ltp
            }
        );
        assert_eq!(parse_instruments("99").unwrap()[0].name, "instrument 99");
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (text, needle) in [
            ("", "no instruments"),
            ("abc", "must be a number"),
            ("1:depth", "ltp, quote or full"),
            ("1,1:full", "listed twice"),
        ] {
            let error = parse_instruments(text).expect_err(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
