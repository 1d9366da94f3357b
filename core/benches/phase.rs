//! How long one phase computation takes: `cargo bench -p marketwarden-core --bench phase`.
//! Goal: at most 100 ns per call on the 2-core CI machine.

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use marketwarden_core::{Calendar, MarketHealth, Segment};

fn instants() -> Vec<DateTime<Utc>> {
    // Every 7 minutes 13 seconds over a year: all phases, weekends, holidays, Muhurat.
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    (0..72_000)
        .map(|step| start + TimeDelta::seconds(step * 433))
        .collect()
}

fn phase(c: &mut Criterion) {
    let calendar = Calendar::builtin();
    let instants = instants();
    let mut index = 0;
    c.bench_function("session_at (phase + next change)", |b| {
        b.iter(|| {
            index = (index + 1) % instants.len();
            black_box(calendar.session_at(black_box(instants[index])))
        })
    });
    c.bench_function("session_at at a weekday noon", |b| {
        let noon = Utc.with_ymd_and_hms(2026, 11, 30, 6, 30, 0).unwrap();
        b.iter(|| black_box(calendar.session_at(black_box(noon))))
    });
    c.bench_function("MarketHealth::at (full market object)", |b| {
        b.iter(|| {
            index = (index + 1) % instants.len();
            black_box(MarketHealth::at(&calendar, black_box(instants[index])))
        })
    });
    c.bench_function(
        "MarketHealth::for_segments (all six segments in use)",
        |b| {
            b.iter(|| {
                index = (index + 1) % instants.len();
                black_box(MarketHealth::for_segments(
                    &calendar,
                    Segment::NseCm,
                    &Segment::ALL,
                    black_box(instants[index]),
                ))
            })
        },
    );
    c.bench_function("Calendar::builtin (parse the compiled-in file)", |b| {
        b.iter(|| black_box(Calendar::builtin()))
    });
}

criterion_group!(benches, phase);
criterion_main!(benches);
