use serde::{Deserialize, Serialize};

/// The phase of the NSE equity market, from the clock alone.
///
/// Serialized in upper snake case (`"PRE_OPEN"`), as the health API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarketPhase {
    /// Order entry for the opening call auction, 09:00–09:07 IST.
    PreOpen,
    /// Order entry closed while the opening price is matched, 09:07–09:15 IST.
    AuctionFreeze,
    /// Continuous trading, 09:15–15:30 IST.
    Live,
    /// No trading: nights, weekends and holidays.
    Closed,
}

impl MarketPhase {
    /// The name used on the wire and in logs, e.g. `"AUCTION_FREEZE"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PreOpen => "PRE_OPEN",
            Self::AuctionFreeze => "AUCTION_FREEZE",
            Self::Live => "LIVE",
            Self::Closed => "CLOSED",
        }
    }

    /// True in PRE_OPEN, AUCTION_FREEZE and LIVE: the hours in which the feed must be up.
    pub const fn is_trading_hours(self) -> bool {
        !matches!(self, Self::Closed)
    }
}

impl core::fmt::Display for MarketPhase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
