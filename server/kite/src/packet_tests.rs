use super::*;

/// A small deterministic generator, so the property tests need no extra crate and always run
/// the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    fn u16(&mut self) -> u16 {
        (self.next() >> 48) as u16
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The worked example of the reference (NSE 408065, full mode), laid out byte by byte at the
/// documented offsets, independently of the encoder.
fn golden_full_packet() -> Vec<u8> {
    let mut packet = vec![0u8; FULL_PACKET_LEN];
    let fields: [(usize, u32); 19] = [
        (0, 408_065),
        (4, 157_370),
        (8, 7),
        (12, 157_037),
        (16, 1_192_471),
        (20, 256_443),
        (24, 363_009),
        (28, 156_915),
        (32, 157_500),
        (36, 156_105),
        (40, 156_780),
        (44, 1_625_461_887),
        (60, 1_625_461_887),
        // First bid: 5 @ 1573.40, 1 order.
        (64, 5),
        (68, 157_340),
        (72, 1 << 16),
        // First ask at offset 124: 10 @ 1573.70, 2 orders.
        (124, 10),
        (128, 157_370),
        (132, 2 << 16),
    ];
    // The order counts are 16-bit fields followed by 2 bytes of padding: written as the high
    // half of a 32-bit word.
    for (offset, value) in fields {
        packet[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
    }
    packet
}

fn framed(packets: &[&[u8]]) -> Vec<u8> {
    let mut frame = (packets.len() as u16).to_be_bytes().to_vec();
    for packet in packets {
        frame.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        frame.extend_from_slice(packet);
    }
    frame
}

#[test]
fn golden_full_packet_decodes_to_the_documented_values() {
    let tick = parse_packet(&golden_full_packet()).expect("a full packet");
    assert_eq!(tick.instrument_token, 408_065);
    assert_eq!(tick.segment(), Segment::Nse);
    assert_eq!(tick.mode, Mode::Full);
    assert_eq!(tick.price(tick.last_price), 1573.70);
    let trade = tick.trade.expect("trade stats");
    assert_eq!(trade.last_traded_quantity, 7);
    assert_eq!(tick.price(trade.average_traded_price), 1570.37);
    assert_eq!(
        (
            trade.volume,
            trade.total_buy_quantity,
            trade.total_sell_quantity
        ),
        (1_192_471, 256_443, 363_009)
    );
    assert_eq!(
        tick.ohlc,
        Some(Ohlc {
            open: 156_915,
            high: 157_500,
            low: 156_105,
            close: 156_780
        })
    );
    assert_eq!(tick.last_trade_time, Some(1_625_461_887));
    assert_eq!(tick.exchange_timestamp, Some(1_625_461_887));
    let depth = tick.depth.expect("depth");
    assert_eq!(
        depth.buy[0],
        DepthEntry {
            quantity: 5,
            price: 157_340,
            orders: 1
        }
    );
    assert_eq!(
        depth.sell[0],
        DepthEntry {
            quantity: 10,
            price: 157_370,
            orders: 2
        }
    );
    // The encoder writes the same bytes.
    assert_eq!(encode_packet(&tick), golden_full_packet());
}

#[test]
fn quote_packet_is_the_first_44_bytes_of_full() {
    let full = golden_full_packet();
    let tick = parse_packet(&full[..QUOTE_PACKET_LEN]).expect("a quote packet");
    assert_eq!(tick.mode, Mode::Quote);
    assert_eq!(tick.ohlc.map(|o| o.close), Some(156_780));
    assert_eq!(
        (tick.depth, tick.last_trade_time, tick.exchange_timestamp),
        (None, None, None)
    );
}

#[test]
fn index_packets_use_high_low_open_close_order() {
    // NIFTY 50 (256265, segment 9): ltp 24000.50, H 24100, L 23900, O 23950, C 23980, change 20.50.
    let mut packet = Vec::new();
    for value in [
        256_265u32,
        2_400_050,
        2_410_000,
        2_390_000,
        2_395_000,
        2_398_000,
        2050,
        1_700_000_000,
    ] {
        packet.extend_from_slice(&value.to_be_bytes());
    }
    let full = parse_packet(&packet).expect("index full");
    assert_eq!(full.segment(), Segment::Indices);
    assert_eq!(full.mode, Mode::Full);
    assert_eq!(
        full.ohlc,
        Some(Ohlc {
            open: 2_395_000,
            high: 2_410_000,
            low: 2_390_000,
            close: 2_398_000
        })
    );
    assert_eq!(full.index_change, Some(2050));
    assert_eq!(full.exchange_timestamp, Some(1_700_000_000));
    assert_eq!(full.trade, None);
    assert_eq!(encode_packet(&full), packet);
    let quote = parse_packet(&packet[..INDEX_QUOTE_PACKET_LEN]).expect("index quote");
    assert_eq!(quote.mode, Mode::Quote);
    assert_eq!(quote.exchange_timestamp, None);
}

#[test]
fn segment_divisors_follow_the_clients() {
    let cases = [
        (408_065, 100.0),
        (3 | (1 << 8), 10_000_000.0),
        (6 | (7 << 8), 10_000.0),
        (256_265, 100.0),
        (7, 100.0),
    ];
    for (token, divisor) in cases {
        assert_eq!(Segment::of(token).price_divisor(), divisor, "{token}");
    }
    assert_eq!(Segment::of(260_105), Segment::Indices);
    assert_eq!(Segment::of(738_561), Segment::Nse);
    assert_eq!(Segment::of(0x1234_5600 | 42), Segment::Unknown(42));
    let usd_inr = Tick::ltp(3 | (1 << 8), 835_012_500);
    assert_eq!(usd_inr.price(usd_inr.last_price), 83.50125);
}

#[test]
fn heartbeat_is_a_one_byte_frame() {
    assert_eq!(
        parse_binary_frame(&HEARTBEAT_FRAME),
        Ok(BinaryFrame::Heartbeat)
    );
    assert_eq!(parse_binary_frame(&[]), Ok(BinaryFrame::Heartbeat));
}

#[test]
fn a_frame_carries_mixed_modes_in_order() {
    let full = golden_full_packet();
    let ltp = [0, 0x04, 0x0e, 0x09, 0, 0, 0x30, 0x39]; // 265737 (segment 9) at 123.45
    let frame = framed(&[&ltp, &full[..QUOTE_PACKET_LEN], &full]);
    let BinaryFrame::Ticks { ticks, skipped } = parse_binary_frame(&frame).expect("valid") else {
        panic!("not ticks");
    };
    assert_eq!(skipped, 0);
    let modes: Vec<Mode> = ticks.iter().map(|t| t.mode).collect();
    assert_eq!(modes, [Mode::Ltp, Mode::Quote, Mode::Full]);
    assert_eq!(ticks[0].instrument_token, 265_737);
    assert_eq!(ticks[0].price(ticks[0].last_price), 123.45);
}

#[test]
fn unknown_packet_lengths_are_skipped_and_counted() {
    let full = golden_full_packet();
    let frame = framed(&[&[1, 2, 3], &full, &[0; 12]]);
    let BinaryFrame::Ticks { ticks, skipped } = parse_binary_frame(&frame).expect("valid") else {
        panic!("not ticks");
    };
    assert_eq!((ticks.len(), skipped), (1, 2));
}

#[test]
fn truncated_and_overlong_frames_are_errors() {
    let full = golden_full_packet();
    let frame = framed(&[&full, &full]);
    for cut in [3, 4, 100, frame.len() - 1] {
        let error = parse_binary_frame(&frame[..cut]).expect_err("truncated");
        assert!(
            matches!(error, FrameError::Truncated { count: 2, .. }),
            "cut {cut}: {error:?}"
        );
    }
    let mut long = frame.clone();
    long.push(0);
    assert_eq!(
        parse_binary_frame(&long),
        Err(FrameError::TrailingBytes { count: 1 })
    );
    assert_eq!(
        FrameError::Truncated { index: 1, count: 2 }.to_string(),
        "binary frame ends inside packet 2 of 2"
    );
}

fn random_tick(rng: &mut Rng) -> Tick {
    let segment = 1 + rng.below(9) as u32;
    let token = (rng.u32() & !0xff) | segment;
    let mode = [Mode::Ltp, Mode::Quote, Mode::Full][rng.below(3) as usize];
    let mut tick = Tick::ltp(token, rng.i32());
    tick.mode = mode;
    if mode == Mode::Ltp {
        return tick;
    }
    tick.ohlc = Some(Ohlc {
        open: rng.i32(),
        high: rng.i32(),
        low: rng.i32(),
        close: rng.i32(),
    });
    if segment == 9 {
        tick.index_change = Some(rng.i32());
        tick.exchange_timestamp = (mode == Mode::Full).then(|| rng.u32());
        return tick;
    }
    tick.trade = Some(TradeStats {
        last_traded_quantity: rng.u32(),
        average_traded_price: rng.i32(),
        volume: rng.u32(),
        total_buy_quantity: rng.u32(),
        total_sell_quantity: rng.u32(),
    });
    if mode == Mode::Full {
        tick.last_trade_time = Some(rng.u32());
        tick.open_interest = Some(OpenInterest {
            oi: rng.u32(),
            day_high: rng.u32(),
            day_low: rng.u32(),
        });
        tick.exchange_timestamp = Some(rng.u32());
        let mut depth = Depth::default();
        for entry in depth.buy.iter_mut().chain(depth.sell.iter_mut()) {
            *entry = DepthEntry {
                quantity: rng.u32(),
                price: rng.i32(),
                orders: rng.u16(),
            };
        }
        tick.depth = Some(depth);
    }
    tick
}

/// Property: any frame the simulator's encoder writes, the parser reads back exactly.
#[test]
fn encoder_and_parser_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5_000 {
        let ticks: Vec<Tick> = (0..rng.below(40)).map(|_| random_tick(&mut rng)).collect();
        let frame = encode_binary_frame(&ticks);
        let parsed = parse_binary_frame(&frame).expect("own frames parse");
        if ticks.is_empty() {
            assert_eq!(
                parsed,
                BinaryFrame::Ticks {
                    ticks: vec![],
                    skipped: 0
                }
            );
        } else {
            assert_eq!(parsed, BinaryFrame::Ticks { ticks, skipped: 0 });
        }
    }
}

/// Property: no input panics the parser; random bytes and mutations of valid frames alike.
#[test]
fn arbitrary_bytes_never_panic_the_parser() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(600) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = parse_binary_frame(&bytes);
        let _ = parse_packet(&bytes);
    }
    let valid = encode_binary_frame(&(0..10).map(|_| random_tick(&mut rng)).collect::<Vec<_>>());
    for _ in 0..20_000 {
        let mut mutated = valid.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(mutated.len() as u64) as usize;
            mutated[at] = rng.next() as u8;
        }
        mutated.truncate(rng.below(valid.len() as u64 + 1) as usize);
        let _ = parse_binary_frame(&mutated);
    }
}

#[test]
fn client_requests_are_kites_json() {
    assert_eq!(
        ClientRequest::Subscribe(vec![408_065, 884_737]).to_json(),
        r#"{"a":"subscribe","v":[408065,884737]}"#
    );
    assert_eq!(
        ClientRequest::Unsubscribe(vec![408_065]).to_json(),
        r#"{"a":"unsubscribe","v":[408065]}"#
    );
    assert_eq!(
        ClientRequest::SetMode(Mode::Full, vec![408_065]).to_json(),
        r#"{"a":"mode","v":["full",[408065]]}"#
    );
    assert_eq!(
        ClientRequest::parse(r#"{"v":["ltp",[1,2]],"a":"mode"}"#).expect("valid"),
        ClientRequest::SetMode(Mode::Ltp, vec![1, 2])
    );
    assert!(ClientRequest::parse(r#"{"a":"subscribe","v":["408065"]}"#).is_err());
    assert!(ClientRequest::parse(r#"{"a":"mode","v":["fast",[1]]}"#).is_err());
}

#[test]
fn text_frames_are_order_error_or_message() {
    assert_eq!(
        parse_text_frame(r#"{"type":"error","data":"Error parsing instrument tokens"}"#)
            .expect("valid"),
        TextFrame::Error("Error parsing instrument tokens".into())
    );
    assert_eq!(
        parse_text_frame(r#"{"type":"message","data":"Markets open"}"#).expect("valid"),
        TextFrame::Message("Markets open".into())
    );
    let order = parse_text_frame(r#"{"type":"order","data":{"order_id":"1","status":"COMPLETE"}}"#)
        .expect("valid");
    assert!(matches!(order, TextFrame::Order(data) if data["status"] == "COMPLETE"));
    assert!(parse_text_frame(r#"{"type":"tick","data":1}"#).is_err());
    assert!(parse_text_frame("not json").is_err());
}

/// Found by fuzzing: a 44-byte packet on an index token is read as a tradable quote (the length
/// decides, as in the official clients) and must be written back the same way.
#[test]
fn tradable_layout_on_an_index_token_round_trips() {
    let mut packet = vec![0u8; QUOTE_PACKET_LEN];
    packet[..4].copy_from_slice(&0xf900_0009u32.to_be_bytes());
    packet[4..8].copy_from_slice(&4_539_717u32.to_be_bytes());
    let tick = parse_packet(&packet).expect("a quote packet");
    assert_eq!(tick.segment(), Segment::Indices);
    assert!(tick.trade.is_some());
    assert_eq!(encode_packet(&tick), packet);
}
