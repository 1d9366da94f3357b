//! The frames `/ws/market` sends browsers: `{"type":"ticks","ticks":[{…}]}`, prices in rupees,
//! each tick marked fresh or a snapshot (the last known values Kite sends after a subscription).

use std::collections::HashMap;

use marketwarden_core::{MarketFrame, MarketTick};
use marketwarden_kite::packet::Tick;

/// One tick frame as the browser reads it ([`MarketFrame`]), prices in rupees, each tick marked
/// `snapshot` unless `fresh` says it is fresh market data.
pub fn ticks_json(ticks: &[Tick], fresh: &[bool], names: &HashMap<u32, &str>) -> String {
    let ticks = ticks
        .iter()
        .enumerate()
        .map(|(index, tick)| {
            let close = tick.ohlc.map(|ohlc| tick.price(ohlc.close));
            let last = tick.price(tick.last_price);
            MarketTick {
                instrument_token: tick.instrument_token,
                name: names
                    .get(&tick.instrument_token)
                    .map(|name| name.to_string()),
                mode: super::instruments::mode_name(tick.mode),
                last_price: last,
                close,
                change_percent: close
                    .filter(|close| *close != 0.0)
                    .map(|close| (last - close) / close * 100.0),
                exchange_timestamp: tick.exchange_timestamp,
                snapshot: !fresh.get(index).copied().unwrap_or(true),
            }
        })
        .collect();
    // Serializing plain data into a String cannot fail.
    serde_json::to_string(&MarketFrame::ticks(ticks)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketwarden_kite::packet::Ohlc;

    #[test]
    fn ticks_become_rupees_with_names() {
        let mut tick = Tick::ltp(256_265, 2_415_035);
        tick.ohlc = Some(Ohlc {
            open: 0,
            high: 0,
            low: 0,
            close: 2_400_000,
        });
        let names = HashMap::from([(256_265, "NIFTY 50")]);
        let frame = ticks_json(&[tick, tick], &[true, false], &names);
        let json: serde_json::Value = serde_json::from_str(&frame).unwrap();
        let first = &json["ticks"][0];
        assert_eq!(json["type"], "ticks");
        assert_eq!(first["name"], "NIFTY 50");
        assert_eq!(first["last_price"], 24150.35);
        assert!((first["change_percent"].as_f64().unwrap() - 0.626_458).abs() < 1e-5);
        assert_eq!(first["snapshot"], false);
        assert_eq!(
            json["ticks"][1]["snapshot"], true,
            "the last known values, said so"
        );
    }
}
