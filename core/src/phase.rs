use serde::{Deserialize, Serialize};

/// The phase of a segment, from the clock alone.
///
/// Serialized in upper snake case (`"PRE_OPEN"`), as the health API shows it. The
/// specification's four phases are PRE_OPEN, AUCTION_FREEZE, LIVE and CLOSED; the exchanges
/// also run a closing auction and a post-close session in some segments, which the
/// specification's view counts as CLOSED ([`MarketPhase::specification_view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarketPhase {
    /// Order entry for the opening call auction, e.g. 09:00–09:07 IST.
    PreOpen,
    /// Order entry closed while the opening price is matched, e.g. 09:07–09:15 IST.
    AuctionFreeze,
    /// Continuous trading, e.g. 09:15–15:30 IST.
    Live,
    /// The closing auction's matching after continuous trading (NSE cash from 2026-08-03:
    /// 15:30–15:35 IST).
    ClosingAuction,
    /// Trades at the closing price only (NSE cash: 15:50–16:00 IST from 2026-08-03, 15:40–16:00
    /// before). Shown, but not trading hours.
    PostClose,
    /// No trading: nights, weekends and holidays.
    Closed,
}

impl MarketPhase {
    /// The specification's four phases, the only ones of the market object's `phase`.
    pub const SPECIFICATION: [Self; 4] =
        [Self::PreOpen, Self::AuctionFreeze, Self::Live, Self::Closed];

    /// Every phase an exchange runs, in the order of a day.
    pub const ALL: [Self; 6] = [
        Self::PreOpen,
        Self::AuctionFreeze,
        Self::Live,
        Self::ClosingAuction,
        Self::PostClose,
        Self::Closed,
    ];

    /// The name used on the wire and in logs, e.g. `"AUCTION_FREEZE"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PreOpen => "PRE_OPEN",
            Self::AuctionFreeze => "AUCTION_FREEZE",
            Self::Live => "LIVE",
            Self::ClosingAuction => "CLOSING_AUCTION",
            Self::PostClose => "POST_CLOSE",
            Self::Closed => "CLOSED",
        }
    }

    /// True in PRE_OPEN, AUCTION_FREEZE, LIVE and CLOSING_AUCTION: the hours in which the feed
    /// must be up and its alarms count.
    pub const fn is_trading_hours(self) -> bool {
        matches!(
            self,
            Self::PreOpen | Self::AuctionFreeze | Self::Live | Self::ClosingAuction
        )
    }

    /// The phase in the specification's four: the closing auction and the post-close session
    /// are CLOSED there (its grid ends at 15:30).
    pub const fn specification_view(self) -> Self {
        match self {
            Self::ClosingAuction | Self::PostClose => Self::Closed,
            other => other,
        }
    }
}

impl core::fmt::Display for MarketPhase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
