//! The simulator's Kite Ticker: the WebSocket at the root URL.
//!
//! The handshake checks `api_key` and `access_token` and answers 403 before upgrading when they
//! are wrong, as Kite does. Once open, the connection answers every `subscribe` and `mode`
//! message with one tick per instrument named, from the last known values — also when the market
//! is closed, as Kite does. It streams one binary frame per tick interval with every subscribed
//! instrument in its mode while the market trades (by the core calendar and the simulator's
//! clock), and a 1-byte heartbeat otherwise. Injected faults stall it, reduce it to heartbeats
//! (snapshots still answer subscriptions), or drop it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Simulator, TickerCommand};
use marketwarden_kite::packet::{
    ClientRequest, Depth, DepthEntry, HEARTBEAT_FRAME, Mode, Ohlc, OpenInterest, Segment,
    TextFrame, Tick, TradeStats, encode_binary_frame,
};

pub use marketwarden_kite::{MAX_CONNECTIONS_PER_API_KEY, MAX_INSTRUMENTS_PER_CONNECTION};

#[derive(serde::Deserialize)]
pub(super) struct HandshakeQuery {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    access_token: String,
}

/// `GET /?api_key=…&access_token=…` with an upgrade: 403 for bad credentials, before upgrading.
pub(super) async fn upgrade(
    State(sim): State<Arc<Simulator>>,
    Query(query): Query<HandshakeQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let faults = sim.faults();
    if faults.slow_upgrade_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.slow_upgrade_ms)).await;
    }
    if faults.refuse_connections {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable").into_response();
    }
    if faults.forbid_upgrades
        || query.api_key != sim.config.api_key
        || !sim.access_token_is_valid(&query.access_token)
    {
        return (StatusCode::FORBIDDEN, "Authentication failed").into_response();
    }
    ws.on_upgrade(move |socket| serve_connection(socket, sim))
}

async fn serve_connection(mut socket: WebSocket, sim: Arc<Simulator>) {
    let open = sim.open_connections.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = ConnectionGuard(sim.clone());
    if open > MAX_CONNECTIONS_PER_API_KEY {
        // The real failure is not documented; an error frame and a close keep 403 meaning
        // "bad token" only.
        let _ = send_text(
            &mut socket,
            TextFrame::Error("Maximum connections limit exceeded".into()),
        )
        .await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    }
    let calendar = &sim.config.calendar;
    let mut commands = sim.commands.subscribe();
    let mut last_ping = tokio::time::Instant::now();
    let mut instruments: HashMap<u32, Instrument> = HashMap::new();
    let mut interval = tokio::time::interval(sim.config.tick_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Ok(TickerCommand::Drop) => return, // abrupt: no close frame
                Ok(TickerCommand::Close(code)) => {
                    let frame = CloseFrame { code, reason: "closed by the simulator".into() };
                    if socket.send(Message::Close(Some(frame))).await.is_ok() {
                        finish_closing_handshake(&mut socket).await;
                    }
                    return;
                }
                Ok(TickerCommand::Send(frame)) => {
                    if send_text(&mut socket, frame).await.is_err() {
                        return;
                    }
                }
                Err(_) => {} // lagged or closed: nothing to replay
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let applied = apply_request(&mut instruments, text.as_str(), |token| {
                        sim.last_known_of(token)
                    });
                    if let Some(error) = applied.error
                        && send_text(&mut socket, TextFrame::Error(error)).await.is_err()
                    {
                        return;
                    }
                    if !applied.snapshot.is_empty() && !sim.faults().stall {
                        let timestamp = u32::try_from(sim.clock.now().timestamp()).unwrap_or(0);
                        let ticks: Vec<Tick> = applied
                            .snapshot
                            .iter()
                            .filter_map(|token| {
                                instruments
                                    .get(token)
                                    .map(|instrument| instrument.snapshot(*token, timestamp))
                            })
                            .collect();
                        let frame = encode_binary_frame(&ticks);
                        if socket.send(Message::Binary(frame.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // Completes the closing handshake: the reply is queued, this flushes it.
                    let _ = futures_util::SinkExt::close(&mut socket).await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = interval.tick() => {
                let faults = sim.faults();
                if faults.stall {
                    continue; // silent: socket open, nothing sent
                }
                let ping_every = std::time::Duration::from_millis(faults.ping_interval_ms);
                if faults.ping_interval_ms > 0 && last_ping.elapsed() >= ping_every {
                    last_ping = tokio::time::Instant::now();
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return;
                    }
                }
                let now = sim.clock.now();
                // Each instrument trades in its own segment's hours (F&O to 15:40, MCX into
                // the night).
                let trading = |token: u32| {
                    let segment = marketwarden_core::Segment::of_instrument(token)
                        .unwrap_or(marketwarden_core::Segment::NseCm);
                    calendar
                        .session(segment, now, marketwarden_core::View::Exchange)
                        .phase
                        .is_trading_hours()
                };
                let timestamp = u32::try_from(now.timestamp()).unwrap_or(0);
                let ticks: Vec<Tick> = if faults.heartbeats_only {
                    Vec::new()
                } else {
                    instruments
                        .iter_mut()
                        .filter(|(token, _)| trading(**token))
                        .map(|(token, instrument)| instrument.next_tick(*token, timestamp))
                        .collect()
                };
                let frame = if ticks.is_empty() {
                    HEARTBEAT_FRAME.to_vec()
                } else {
                    sim.remember(&instruments);
                    encode_binary_frame(&ticks)
                };
                if socket.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// How long a clean close waits for the client's close frame.
const CLOSING_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads until the client answers the close frame, so the TCP connection ends with FIN rather
/// than a reset that could overtake the close frame.
async fn finish_closing_handshake(socket: &mut WebSocket) {
    let drain = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSING_HANDSHAKE_TIMEOUT, drain).await;
}

struct ConnectionGuard(Arc<Simulator>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn send_text(socket: &mut WebSocket, frame: TextFrame) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&frame).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}

/// What a client request did: the error text to send, if any, and the instruments whose last
/// known tick answers it (every instrument a `subscribe` or `mode` names that is subscribed).
#[derive(Debug, Default, PartialEq)]
struct Applied {
    error: Option<String>,
    snapshot: Vec<u32>,
}

/// Applies a client request; a new subscription starts from `last_known(token)`.
fn apply_request(
    instruments: &mut HashMap<u32, Instrument>,
    text: &str,
    last_known: impl Fn(u32) -> Instrument,
) -> Applied {
    let Ok(request) = ClientRequest::parse(text) else {
        return Applied {
            error: Some("Error parsing instrument tokens".into()),
            snapshot: Vec::new(),
        };
    };
    let mut applied = Applied::default();
    match request {
        ClientRequest::Subscribe(tokens) => {
            let mut refused = false;
            for token in tokens {
                if instruments.len() >= MAX_INSTRUMENTS_PER_CONNECTION
                    && !instruments.contains_key(&token)
                {
                    refused = true;
                    continue;
                }
                // New subscriptions start in quote mode, as Kite's do.
                instruments.entry(token).or_insert_with(|| {
                    let mut instrument = last_known(token);
                    instrument.mode = Mode::Quote;
                    instrument
                });
                applied.snapshot.push(token);
            }
            applied.error = refused.then(|| "Maximum tokens limit exceeded".into());
        }
        ClientRequest::Unsubscribe(tokens) => {
            for token in tokens {
                instruments.remove(&token);
            }
        }
        ClientRequest::SetMode(mode, tokens) => {
            for token in tokens {
                if let Some(instrument) = instruments.get_mut(&token) {
                    instrument.mode = mode;
                    applied.snapshot.push(token);
                }
            }
        }
    }
    applied
}

impl Simulator {
    /// The instrument's market as last streamed on any connection, or a fresh one.
    fn last_known_of(&self, token: u32) -> Instrument {
        self.last_known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&token)
            .cloned()
            .unwrap_or_else(|| Instrument::new(token))
    }

    /// Keeps the markets just streamed for the next subscription, on any connection.
    fn remember(&self, instruments: &HashMap<u32, Instrument>) {
        let mut last_known = self
            .last_known
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for (token, instrument) in instruments {
            last_known.insert(*token, instrument.clone());
        }
    }
}

/// One subscribed instrument's simulated market: a random walk around a plausible price.
#[derive(Clone)]
pub(super) struct Instrument {
    mode: Mode,
    rng: u64,
    last: i32,
    ohlc: Ohlc,
    volume: u32,
}

impl Instrument {
    fn new(token: u32) -> Self {
        let rupees: i64 = match token {
            256_265 => 24_000, // NIFTY 50
            260_105 => 52_000, // NIFTY BANK
            738_561 => 1_300,  // RELIANCE
            _ => 100 + i64::from(token % 4_900),
        };
        let divisor = Segment::of(token).price_divisor() as i64;
        let price = i32::try_from(rupees * divisor).unwrap_or(i32::MAX / 2);
        Self {
            mode: Mode::Quote,
            rng: u64::from(token) ^ 0x9e37_79b9_7f4a_7c15,
            last: price,
            ohlc: Ohlc {
                open: price,
                high: price,
                low: price,
                close: price,
            },
            volume: 0,
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The next tick: the price moves a step and some volume trades.
    fn next_tick(&mut self, token: u32, timestamp: u32) -> Tick {
        // A step of up to ±0.05 %, on the price grid of 5 paise.
        let step = (self.random() % 11) as i32 - 5;
        let move_by = (self.last / 10_000).max(1) * step;
        self.last = (self.last + move_by).max(5);
        self.ohlc.high = self.ohlc.high.max(self.last);
        self.ohlc.low = self.ohlc.low.min(self.last);
        let quantity = 1 + (self.random() % 500) as u32;
        self.volume = self.volume.saturating_add(quantity);
        self.tick(token, timestamp, quantity)
    }

    /// The last known values in the instrument's mode, nothing moved: what answers a
    /// subscription.
    fn snapshot(&self, token: u32, timestamp: u32) -> Tick {
        self.tick(token, timestamp, 0)
    }

    fn tick(&self, token: u32, timestamp: u32, quantity: u32) -> Tick {
        let mut tick = Tick::ltp(token, self.last);
        tick.mode = self.mode;
        if self.mode == Mode::Ltp {
            return tick;
        }
        tick.ohlc = Some(self.ohlc);
        let full = self.mode == Mode::Full;
        if !Segment::of(token).is_tradable() {
            tick.index_change = Some(self.last - self.ohlc.close);
            tick.exchange_timestamp = full.then_some(timestamp);
            return tick;
        }
        tick.trade = Some(TradeStats {
            last_traded_quantity: quantity,
            average_traded_price: (self.ohlc.open + self.last) / 2,
            volume: self.volume,
            total_buy_quantity: self.volume / 2 + quantity,
            total_sell_quantity: self.volume / 2,
        });
        if full {
            let tick_size = (self.last / 20_000).max(5);
            let mut depth = Depth::default();
            for level in 0..5 {
                let offset = tick_size * (level as i32 + 1);
                depth.buy[level] = DepthEntry {
                    quantity: 10 * (level as u32 + 1),
                    price: self.last - offset,
                    orders: level as u16 + 1,
                };
                depth.sell[level] = DepthEntry {
                    quantity: 12 * (level as u32 + 1),
                    price: self.last + offset,
                    orders: level as u16 + 1,
                };
            }
            tick.last_trade_time = Some(timestamp);
            tick.open_interest = Some(OpenInterest::default());
            tick.exchange_timestamp = Some(timestamp);
            tick.depth = Some(depth);
        }
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(instruments: &mut HashMap<u32, Instrument>, text: &str) -> Applied {
        apply_request(instruments, text, Instrument::new)
    }

    #[test]
    fn subscriptions_start_in_quote_mode_and_follow_mode_changes() {
        let mut instruments = HashMap::new();
        let applied = apply(&mut instruments, r#"{"a":"subscribe","v":[738561,256265]}"#);
        assert_eq!(applied.error, None);
        assert_eq!(
            applied.snapshot,
            [738_561, 256_265],
            "each answered at once"
        );
        assert!(instruments.values().all(|i| i.mode == Mode::Quote));
        let applied = apply(&mut instruments, r#"{"a":"mode","v":["full",[738561,1]]}"#);
        assert_eq!(instruments[&738_561].mode, Mode::Full);
        assert_eq!(
            applied.snapshot,
            [738_561],
            "a mode change too, if subscribed"
        );
        let applied = apply(&mut instruments, r#"{"a":"unsubscribe","v":[256265]}"#);
        assert!(applied.snapshot.is_empty());
        assert_eq!(instruments.len(), 1);
        assert_eq!(
            apply(&mut instruments, r#"{"a":"subscribe","v":["738561"]}"#)
                .error
                .as_deref(),
            Some("Error parsing instrument tokens")
        );
    }

    #[test]
    fn a_new_subscription_starts_from_the_last_known_market_in_quote_mode() {
        let mut known = Instrument::new(738_561);
        known.mode = Mode::Full;
        known.next_tick(738_561, 0);
        let last = known.last;
        let mut instruments = HashMap::new();
        apply_request(
            &mut instruments,
            r#"{"a":"subscribe","v":[738561]}"#,
            |_| known.clone(),
        );
        let snapshot = instruments[&738_561].snapshot(738_561, 0);
        assert_eq!(snapshot.last_price, last);
        assert_eq!(snapshot.mode, Mode::Quote);
        assert_eq!(instruments[&738_561].last, last, "a snapshot moves nothing");
    }

    #[test]
    fn a_connection_takes_at_most_3000_instruments() {
        let mut instruments = HashMap::new();
        let tokens: Vec<String> = (1..=3001).map(|t| (t * 256 + 1).to_string()).collect();
        let request = format!(r#"{{"a":"subscribe","v":[{}]}}"#, tokens.join(","));
        assert_eq!(
            apply(&mut instruments, &request).error.as_deref(),
            Some("Maximum tokens limit exceeded")
        );
        assert_eq!(instruments.len(), MAX_INSTRUMENTS_PER_CONNECTION);
    }

    #[test]
    fn ticks_have_the_layout_of_their_mode_and_segment() {
        let mut reliance = Instrument::new(738_561);
        reliance.mode = Mode::Full;
        let tick = reliance.next_tick(738_561, 1_764_480_000);
        assert!(tick.depth.is_some() && tick.trade.is_some());
        assert!((1_200.0..1_400.0).contains(&tick.price(tick.last_price)));
        let mut nifty = Instrument::new(256_265);
        nifty.mode = Mode::Full;
        let tick = nifty.next_tick(256_265, 1_764_480_000);
        assert!(tick.depth.is_none() && tick.trade.is_none() && tick.index_change.is_some());
        assert_eq!(tick.exchange_timestamp, Some(1_764_480_000));
    }
}
