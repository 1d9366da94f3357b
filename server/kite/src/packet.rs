//! The Kite Ticker's binary and text frames: parsing (the client) and encoding (the simulator).
//!
//! Binary frame: a big-endian `u16` packet count, then per packet a `u16` length and its bytes.
//! The length selects the layout: 8 (LTP), 28 / 32 (index quote / full), 44 / 184 (quote / full
//! with five levels of depth). A 1-byte frame is a heartbeat. Parsing never panics and never reads
//! out of bounds: every read is checked.

use serde::{Deserialize, Serialize};

/// Exchange segment, from the low byte of an instrument token (`token & 0xff`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Nse,
    Nfo,
    Cds,
    Bse,
    Bfo,
    Bcd,
    Mcx,
    McxSx,
    Indices,
    /// A segment Kite does not document.
    Unknown(u8),
}

impl Segment {
    /// The segment of `instrument_token`.
    pub fn of(instrument_token: u32) -> Self {
        match instrument_token & 0xff {
            1 => Self::Nse,
            2 => Self::Nfo,
            3 => Self::Cds,
            4 => Self::Bse,
            5 => Self::Bfo,
            6 => Self::Bcd,
            7 => Self::Mcx,
            8 => Self::McxSx,
            9 => Self::Indices,
            other => Self::Unknown(other as u8),
        }
    }

    /// What raw prices are divided by: 10,000,000 for NSE currency, 10,000 for BSE currency,
    /// 100 for everything else.
    pub fn price_divisor(self) -> f64 {
        match self {
            Self::Cds => 10_000_000.0,
            Self::Bcd => 10_000.0,
            _ => 100.0,
        }
    }

    /// Indices are not tradable: their packets carry no quantities and no depth.
    pub fn is_tradable(self) -> bool {
        self != Self::Indices
    }
}

/// A subscription mode, as the ticker's `mode` message names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Ltp,
    Quote,
    Full,
}

/// Open, high, low and close, in raw price units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ohlc {
    pub open: i32,
    pub high: i32,
    pub low: i32,
    pub close: i32,
}

/// The trade statistics of a tradable instrument's quote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TradeStats {
    pub last_traded_quantity: u32,
    /// Raw price units.
    pub average_traded_price: i32,
    pub volume: u32,
    pub total_buy_quantity: u32,
    pub total_sell_quantity: u32,
}

/// Open interest, for derivatives (zero otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenInterest {
    pub oi: u32,
    pub day_high: u32,
    pub day_low: u32,
}

/// One level of market depth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthEntry {
    pub quantity: u32,
    /// Raw price units.
    pub price: i32,
    pub orders: u16,
}

/// Five levels of bids and asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    pub buy: [DepthEntry; 5],
    pub sell: [DepthEntry; 5],
}

/// One instrument's tick. Prices are raw integers; [`Tick::price`] turns them into rupees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    pub instrument_token: u32,
    pub mode: Mode,
    pub last_price: i32,
    /// Quote and full modes.
    pub ohlc: Option<Ohlc>,
    /// Index packets only: the exchange's price change field.
    pub index_change: Option<i32>,
    /// Tradable quote and full modes.
    pub trade: Option<TradeStats>,
    /// Tradable full mode: epoch seconds.
    pub last_trade_time: Option<u32>,
    /// Tradable full mode.
    pub open_interest: Option<OpenInterest>,
    /// Full mode: epoch seconds.
    pub exchange_timestamp: Option<u32>,
    /// Tradable full mode.
    pub depth: Option<Depth>,
}

impl Tick {
    /// The instrument's segment.
    pub fn segment(&self) -> Segment {
        Segment::of(self.instrument_token)
    }

    /// A raw price of this instrument in rupees.
    pub fn price(&self, raw: i32) -> f64 {
        f64::from(raw) / self.segment().price_divisor()
    }

    /// An LTP-mode tick.
    pub fn ltp(instrument_token: u32, last_price: i32) -> Self {
        Self {
            instrument_token,
            mode: Mode::Ltp,
            last_price,
            ohlc: None,
            index_change: None,
            trade: None,
            last_trade_time: None,
            open_interest: None,
            exchange_timestamp: None,
            depth: None,
        }
    }
}

/// Packet sizes, by layout.
pub const LTP_PACKET_LEN: usize = 8;
pub const INDEX_QUOTE_PACKET_LEN: usize = 28;
pub const INDEX_FULL_PACKET_LEN: usize = 32;
pub const QUOTE_PACKET_LEN: usize = 44;
pub const FULL_PACKET_LEN: usize = 184;

/// A binary frame from the ticker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinaryFrame {
    /// The 1-byte keep-alive sent when no ticks flow.
    Heartbeat,
    /// Ticks, in the order sent, and the number of packets of unknown length that were skipped.
    Ticks { ticks: Vec<Tick>, skipped: usize },
}

/// A binary frame that does not hold what it claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The frame ends inside packet `index` (0-based) of `count`.
    Truncated { index: usize, count: usize },
    /// Bytes remain after the last packet.
    TrailingBytes { count: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { index, count } => {
                write!(
                    f,
                    "binary frame ends inside packet {} of {count}",
                    index + 1
                )
            }
            Self::TrailingBytes { count } => {
                write!(f, "binary frame has {count} bytes after its last packet")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses one binary frame.
///
/// # Errors
///
/// The frame is shorter or longer than its packet count and lengths say. Packets of a length no
/// layout has are skipped and counted, not errors: Kite may add layouts.
pub fn parse_binary_frame(frame: &[u8]) -> Result<BinaryFrame, FrameError> {
    if frame.len() < 2 {
        return Ok(BinaryFrame::Heartbeat);
    }
    let mut reader = Reader::new(frame);
    let count = usize::from(reader.u16().unwrap_or(0));
    let mut ticks = Vec::with_capacity(count.min(frame.len() / LTP_PACKET_LEN));
    let mut skipped = 0;
    for index in 0..count {
        let truncated = FrameError::Truncated { index, count };
        let length = usize::from(reader.u16().ok_or(truncated.clone())?);
        let packet = reader.bytes(length).ok_or(truncated)?;
        match parse_packet(packet) {
            Some(tick) => ticks.push(tick),
            None => skipped += 1,
        }
    }
    match reader.remaining() {
        0 => Ok(BinaryFrame::Ticks { ticks, skipped }),
        count => Err(FrameError::TrailingBytes { count }),
    }
}

/// Parses one packet by its length; `None` for a length no layout has.
pub fn parse_packet(packet: &[u8]) -> Option<Tick> {
    let mut r = Reader::new(packet);
    let instrument_token = r.u32()?;
    let last_price = r.i32()?;
    let mut tick = Tick::ltp(instrument_token, last_price);
    match packet.len() {
        LTP_PACKET_LEN => {}
        INDEX_QUOTE_PACKET_LEN | INDEX_FULL_PACKET_LEN => {
            // Indices send high, low, open, close in that order.
            let (high, low, open, close) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
            tick.ohlc = Some(Ohlc {
                open,
                high,
                low,
                close,
            });
            tick.index_change = Some(r.i32()?);
            tick.mode = Mode::Quote;
            if packet.len() == INDEX_FULL_PACKET_LEN {
                tick.exchange_timestamp = Some(r.u32()?);
                tick.mode = Mode::Full;
            }
        }
        QUOTE_PACKET_LEN | FULL_PACKET_LEN => {
            tick.trade = Some(TradeStats {
                last_traded_quantity: r.u32()?,
                average_traded_price: r.i32()?,
                volume: r.u32()?,
                total_buy_quantity: r.u32()?,
                total_sell_quantity: r.u32()?,
            });
            // Tradables send open, high, low, close.
            let (open, high, low, close) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
            tick.ohlc = Some(Ohlc {
                open,
                high,
                low,
                close,
            });
            tick.mode = Mode::Quote;
            if packet.len() == FULL_PACKET_LEN {
                tick.last_trade_time = Some(r.u32()?);
                tick.open_interest = Some(OpenInterest {
                    oi: r.u32()?,
                    day_high: r.u32()?,
                    day_low: r.u32()?,
                });
                tick.exchange_timestamp = Some(r.u32()?);
                let mut depth = Depth::default();
                for entry in depth.buy.iter_mut().chain(depth.sell.iter_mut()) {
                    *entry = DepthEntry {
                        quantity: r.u32()?,
                        price: r.i32()?,
                        orders: r.u16()?,
                    };
                    r.bytes(2)?; // padding
                }
                tick.depth = Some(depth);
                tick.mode = Mode::Full;
            }
        }
        _ => return None,
    }
    Some(tick)
}

/// Encodes ticks into one binary frame, each in the layout of its mode and content.
pub fn encode_binary_frame(ticks: &[Tick]) -> Vec<u8> {
    let count = u16::try_from(ticks.len()).unwrap_or(u16::MAX);
    let mut frame = Vec::with_capacity(2 + ticks.len() * (2 + FULL_PACKET_LEN));
    frame.extend_from_slice(&count.to_be_bytes());
    for tick in ticks.iter().take(usize::from(count)) {
        let packet = encode_packet(tick);
        // Every layout is at most 184 bytes.
        frame.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        frame.extend_from_slice(&packet);
    }
    frame
}

/// The 1-byte heartbeat frame.
pub const HEARTBEAT_FRAME: [u8; 1] = [0];

/// Encodes one packet: LTP in LTP mode; otherwise the tradable layout (44 / 184 bytes) when
/// `trade` is present and the index layout (28 / 32) when it is not. Missing optional fields are
/// sent as zeros.
pub fn encode_packet(tick: &Tick) -> Vec<u8> {
    let mut w = Vec::with_capacity(FULL_PACKET_LEN);
    let put_u32 = |w: &mut Vec<u8>, value: u32| w.extend_from_slice(&value.to_be_bytes());
    let put_i32 = |w: &mut Vec<u8>, value: i32| w.extend_from_slice(&value.to_be_bytes());
    put_u32(&mut w, tick.instrument_token);
    put_i32(&mut w, tick.last_price);
    if tick.mode == Mode::Ltp {
        return w;
    }
    let ohlc = tick.ohlc.unwrap_or_default();
    // The layout follows the content, as the parser reads it: tradable when trade statistics
    // are present, index otherwise (whatever the token's segment says).
    if tick.trade.is_none() {
        for value in [
            ohlc.high,
            ohlc.low,
            ohlc.open,
            ohlc.close,
            tick.index_change.unwrap_or(0),
        ] {
            put_i32(&mut w, value);
        }
        if tick.mode == Mode::Full {
            put_u32(&mut w, tick.exchange_timestamp.unwrap_or(0));
        }
        return w;
    }
    let trade = tick.trade.unwrap_or_default();
    put_u32(&mut w, trade.last_traded_quantity);
    put_i32(&mut w, trade.average_traded_price);
    put_u32(&mut w, trade.volume);
    put_u32(&mut w, trade.total_buy_quantity);
    put_u32(&mut w, trade.total_sell_quantity);
    for value in [ohlc.open, ohlc.high, ohlc.low, ohlc.close] {
        put_i32(&mut w, value);
    }
    if tick.mode == Mode::Quote {
        return w;
    }
    let oi = tick.open_interest.unwrap_or_default();
    for value in [
        tick.last_trade_time.unwrap_or(0),
        oi.oi,
        oi.day_high,
        oi.day_low,
    ] {
        put_u32(&mut w, value);
    }
    put_u32(&mut w, tick.exchange_timestamp.unwrap_or(0));
    let depth = tick.depth.unwrap_or_default();
    for entry in depth.buy.iter().chain(depth.sell.iter()) {
        put_u32(&mut w, entry.quantity);
        put_i32(&mut w, entry.price);
        w.extend_from_slice(&entry.orders.to_be_bytes());
        w.extend_from_slice(&[0, 0]);
    }
    w
}

/// A JSON text frame from the ticker.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum TextFrame {
    /// An order update (postback payload).
    Order(serde_json::Value),
    /// An error, e.g. "Error parsing instrument tokens".
    Error(String),
    /// A broker message.
    Message(String),
}

/// Parses a text frame.
///
/// # Errors
///
/// The text is not one of the three documented frames.
pub fn parse_text_frame(text: &str) -> Result<TextFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// A request the client sends: `{"a": action, "v": value}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    Subscribe(Vec<u32>),
    Unsubscribe(Vec<u32>),
    SetMode(Mode, Vec<u32>),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "a", content = "v", rename_all = "lowercase")]
enum RequestWire {
    Subscribe(Vec<u32>),
    Unsubscribe(Vec<u32>),
    Mode(Mode, Vec<u32>),
}

impl ClientRequest {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        let wire = match self {
            Self::Subscribe(tokens) => RequestWire::Subscribe(tokens.clone()),
            Self::Unsubscribe(tokens) => RequestWire::Unsubscribe(tokens.clone()),
            Self::SetMode(mode, tokens) => RequestWire::Mode(*mode, tokens.clone()),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parses a client's text frame, as the simulator does.
    ///
    /// # Errors
    ///
    /// Not a request, or tokens that are not numbers ("Error parsing instrument tokens").
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::from_str(text)? {
            RequestWire::Subscribe(tokens) => Self::Subscribe(tokens),
            RequestWire::Unsubscribe(tokens) => Self::Unsubscribe(tokens),
            RequestWire::Mode(mode, tokens) => Self::SetMode(mode, tokens),
        })
    }
}

/// Bounds-checked big-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn bytes(&mut self, count: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(count)?;
        self.bytes = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
