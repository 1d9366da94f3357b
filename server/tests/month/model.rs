//! The test's own model of the market and of Kite's token rules, written from the NSE list and
//! Kite's documentation rather than from the server's code, and a deterministic random source.

use super::*;

pub fn is_trading_day(day: NaiveDate) -> bool {
    let text = day.format("%Y-%m-%d").to_string();
    if SPECIAL_SESSIONS.contains(&text.as_str()) {
        return true;
    }
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !HOLIDAYS.contains(&text.as_str())
}

pub use marketwarden_testkit::ist;

pub fn ist_date(at: DateTime<Utc>) -> NaiveDate {
    (at + TimeDelta::minutes(330)).date_naive()
}

/// `at` as a reader of the report wants it.
pub fn in_ist(at: DateTime<Utc>) -> String {
    (at + TimeDelta::minutes(330))
        .format("%a %Y-%m-%d %H:%M:%S IST")
        .to_string()
}

pub fn expected_phase(at: DateTime<Utc>) -> MarketPhase {
    let day = ist_date(at);
    if !is_trading_day(day) {
        return MarketPhase::Closed;
    }
    if at < ist(day, 9, 0) {
        MarketPhase::Closed
    } else if at < ist(day, 9, 7) {
        MarketPhase::PreOpen
    } else if at < ist(day, 9, 15) {
        MarketPhase::AuctionFreeze
    } else if at < ist(day, 15, 30) {
        MarketPhase::Live
    } else {
        MarketPhase::Closed
    }
}

/// The states in which the banner asks the trader to log in.
pub fn needs_login(state: AuthState) -> bool {
    matches!(state, AuthState::Expired | AuthState::Required)
}

/// 06:00 IST after `issued`, when Kite expires every token.
pub fn next_six_am(issued: DateTime<Utc>) -> DateTime<Utc> {
    let six = ist(ist_date(issued), 6, 0);
    if issued < six {
        six
    } else {
        six + TimeDelta::days(1)
    }
}

/// When a token issued at `issued` is over by the auth machine's rule: the earlier of 06:00
/// the next day and 20 hours.
pub fn local_expiry(issued: DateTime<Utc>) -> DateTime<Utc> {
    next_six_am(issued).min(issued + TimeDelta::hours(20))
}

/// True while the feed is wanted: trading hours, opened [`PRE_OPEN_LEAD`] early.
pub fn feed_window(at: DateTime<Utc>) -> bool {
    expected_phase(at) != MarketPhase::Closed
        || expected_phase(at + PRE_OPEN_LEAD) != MarketPhase::Closed
}

/// The instants at which the phase or the feed window changes on `day`.
pub fn boundaries(day: NaiveDate) -> Vec<DateTime<Utc>> {
    if !is_trading_day(day) {
        return Vec::new();
    }
    vec![
        ist(day, 8, 55),
        ist(day, 9, 0),
        ist(day, 9, 7),
        ist(day, 9, 15),
        ist(day, 15, 30),
    ]
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A draw in `low..high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low) as u64) as i64
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
