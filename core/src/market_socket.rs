//! The messages of `/ws/market`, defined once: the server writes them, the page reads them.
//!
//! The page reads only what it shows (token, price, change, snapshot mark); the other fields are
//! marked `skip_deserializing`, so the browser bundle carries no decoder for them.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// One frame: `{"type":"ticks","ticks":[…]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarketFrame {
    /// The kind of frame; `"ticks"`, the only one so far.
    #[serde(rename = "type", skip_deserializing, default = "ticks_kind")]
    pub kind: &'static str,
    /// One tick per instrument in the ticker frame.
    pub ticks: Vec<MarketTick>,
}

fn ticks_kind() -> &'static str {
    "ticks"
}

impl MarketFrame {
    /// A frame of `ticks`.
    pub fn ticks(ticks: Vec<MarketTick>) -> Self {
        Self {
            kind: ticks_kind(),
            ticks,
        }
    }
}

/// One instrument's tick, prices in rupees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarketTick {
    /// Kite's instrument token.
    pub instrument_token: u32,
    /// The name the operator gave it (`FEED_INSTRUMENTS`), if any.
    #[serde(skip_deserializing)]
    pub name: Option<String>,
    /// `ltp`, `quote` or `full`.
    #[serde(skip_deserializing)]
    pub mode: &'static str,
    /// The last traded price.
    pub last_price: f64,
    /// The previous close, when the mode carries it.
    #[serde(skip_deserializing)]
    pub close: Option<f64>,
    /// Change from the previous close, in percent.
    #[serde(default)]
    pub change_percent: Option<f64>,
    /// The exchange's time of the tick, Unix seconds, when the mode carries it.
    #[serde(skip_deserializing)]
    pub exchange_timestamp: Option<u32>,
    /// The last known values (sent after a subscription, and to a new socket), not fresh market
    /// data.
    #[serde(default)]
    pub snapshot: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_what_the_page_shows() {
        let frame = MarketFrame::ticks(alloc::vec![MarketTick {
            instrument_token: 256265,
            name: Some("NIFTY 50".into()),
            mode: "full",
            last_price: 24_000.5,
            close: Some(23_900.0),
            change_percent: Some(0.42),
            exchange_timestamp: Some(1_796_000_000),
            snapshot: true,
        }]);
        let text = serde_json::to_string(&frame).unwrap();
        assert!(text.starts_with(r#"{"type":"ticks","ticks":[{"instrument_token":256265,"name":"NIFTY 50","mode":"full""#), "{text}");
        let read: MarketFrame = serde_json::from_str(&text).unwrap();
        let tick = &read.ticks[0];
        assert_eq!((tick.instrument_token, tick.last_price), (256265, 24_000.5));
        assert_eq!((tick.change_percent, tick.snapshot), (Some(0.42), true));
        assert_eq!(tick.name, None, "not decoded in the page");
    }
}
