//! Ticker frame decoding: `cargo bench -p marketwarden-server --bench frames`.
//! One frame of 200 instruments in full mode (184-byte packets with depth), as Kite sends them.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketwarden_kite::packet::{
    Depth, DepthEntry, Mode, Ohlc, OpenInterest, Tick, TradeStats, encode_binary_frame,
    parse_binary_frame,
};

/// 200 NSE equities in full mode, with realistic values.
pub fn full_frame() -> Vec<u8> {
    let ticks: Vec<Tick> = (0..200u32)
        .map(|i| {
            let price = 100_000 + (i as i32) * 137;
            let level = |n: i32, side: i32| DepthEntry {
                quantity: 100 + n as u32,
                price: price + side * 5 * (n + 1),
                orders: 1 + n as u16,
            };
            let mut depth = Depth::default();
            for n in 0..5 {
                depth.buy[n] = level(n as i32, -1);
                depth.sell[n] = level(n as i32, 1);
            }
            Tick {
                instrument_token: (738_561 + i * 256) & !0xff | 1,
                mode: Mode::Full,
                last_price: price,
                ohlc: Some(Ohlc {
                    open: price - 50,
                    high: price + 120,
                    low: price - 200,
                    close: price - 30,
                }),
                index_change: None,
                trade: Some(TradeStats {
                    last_traded_quantity: 7,
                    average_traded_price: price - 3,
                    volume: 1_192_471 + i,
                    total_buy_quantity: 256_443,
                    total_sell_quantity: 363_009,
                }),
                last_trade_time: Some(1_764_480_000 + i),
                open_interest: Some(OpenInterest::default()),
                exchange_timestamp: Some(1_764_480_000 + i),
                depth: Some(depth),
            }
        })
        .collect();
    encode_binary_frame(&ticks)
}

fn frames(c: &mut Criterion) {
    let frame = full_frame();
    let mut group = c.benchmark_group("ticker frame");
    group.throughput(Throughput::Elements(200));
    group.bench_function("parse 200 full packets", |b| {
        b.iter(|| black_box(parse_binary_frame(black_box(&frame))))
    });
    group.finish();
    if let Ok(path) = std::env::var("MARKETWARDEN_WRITE_BENCH_FRAME") {
        // The same bytes for the Python client's parser (see BENCHMARKS in the issue note).
        std::fs::write(path, &frame).expect("writable path");
    }
}

criterion_group!(benches, frames);
criterion_main!(benches);
