//! `/ws/market`: ticks relayed to browsers. Every browser reads from a bounded broadcast
//! channel; one that falls [`super::RELAY_BACKLOG`] frames behind, or takes longer than
//! [`SEND_TIMEOUT`] to take one frame, is disconnected. The feed never waits for a browser.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast;

use crate::AppState;
use crate::kite::packet::Tick;

/// The longest one frame may take to reach a browser.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The close code for a browser that cannot keep up (1013, "try again later").
pub const TOO_SLOW: u16 = 1013;

/// `GET /ws/market`: upgrades to a WebSocket of tick frames.
pub async fn market_socket(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let Some(feed) = state.feed.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the feed is not running").into_response();
    };
    let ticks = feed.subscribe_ticks();
    upgrade.on_upgrade(move |socket| relay(socket, ticks))
}

async fn relay(mut socket: WebSocket, mut ticks: broadcast::Receiver<Arc<str>>) {
    loop {
        tokio::select! {
            frame = ticks.recv() => match frame {
                Ok(text) => {
                    let sent = tokio::time::timeout(
                        SEND_TIMEOUT,
                        socket.send(Message::Text(text.as_ref().into())),
                    )
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "a browser fell behind the feed and was dropped");
                    let frame = CloseFrame {
                        code: TOO_SLOW,
                        reason: "too slow for the feed".into(),
                    };
                    let _ = tokio::time::timeout(
                        SEND_TIMEOUT,
                        socket.send(Message::Close(Some(frame))),
                    )
                    .await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// One tick frame as the browser reads it: `{"type":"ticks","ticks":[{…}]}`, prices in rupees.
pub fn ticks_json(ticks: &[Tick], names: &HashMap<u32, &str>) -> String {
    let ticks: Vec<serde_json::Value> = ticks
        .iter()
        .map(|tick| {
            let close = tick.ohlc.map(|ohlc| tick.price(ohlc.close));
            let last = tick.price(tick.last_price);
            json!({
                "instrument_token": tick.instrument_token,
                "name": names.get(&tick.instrument_token),
                "mode": super::instruments::mode_name(tick.mode),
                "last_price": last,
                "close": close,
                "change_percent": close.filter(|close| *close != 0.0).map(|close| (last - close) / close * 100.0),
                "exchange_timestamp": tick.exchange_timestamp,
            })
        })
        .collect();
    json!({ "type": "ticks", "ticks": ticks }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kite::packet::Ohlc;

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
        let json: serde_json::Value = serde_json::from_str(&ticks_json(&[tick], &names)).unwrap();
        let first = &json["ticks"][0];
        assert_eq!(json["type"], "ticks");
        assert_eq!(first["name"], "NIFTY 50");
        assert_eq!(first["last_price"], 24150.35);
        assert!((first["change_percent"].as_f64().unwrap() - 0.626_458).abs() < 1e-5);
    }
}
