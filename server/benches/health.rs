//! The cost of one health answer: assembling it from the machines, and serializing it.
//! `cargo bench -p marketwarden-server --bench health`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteEndpoints;
use marketwarden_server::auth::AuthConfig;
use marketwarden_server::auth::broker::KiteBroker;
use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::clock::{Clock, StartedClock};
use marketwarden_server::feed::FeedConfig;
use marketwarden_server::feed::instruments::{DEFAULT_INSTRUMENTS, parse_instruments};
use marketwarden_server::feed::link::KiteTicker;
use marketwarden_server::feed::machine::FeedSettings;
use marketwarden_server::http::health::system_health;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::kite::tls::KiteTls;
use marketwarden_server::{AppState, compose};
use tokio_util::sync::CancellationToken;

fn state(runtime: &tokio::runtime::Runtime) -> AppState {
    let _entered = runtime.enter();
    let clock: Arc<dyn Clock> = Arc::new(StartedClock::starting_at(
        marketwarden_testkit::monday_at(10, 0),
    ));
    let calendar = Arc::new(CalendarStore::builtin());
    let rest = KiteRest::new(KiteEndpoints::kite(), "key", &KiteTls::public_roots()).unwrap();
    // Started as `serve` starts them; without a token they make no call to Kite.
    let running = runtime.block_on(compose::start(
        compose::Settings {
            auth: AuthConfig {
                api_key: "key".into(),
                env_file: std::env::temp_dir().join("marketwarden-bench-none.env"),
                expected_user_id: None,
                environment_token: None,
            },
            feed: FeedConfig {
                settings: FeedSettings::default(),
                pre_open_lead: std::time::Duration::from_secs(300),
                instruments: parse_instruments(DEFAULT_INSTRUMENTS).unwrap(),
                connect_timeout: std::time::Duration::from_secs(10),
            },
            jitter: None,
        },
        clock.clone(),
        calendar.clone(),
        Arc::new(KiteBroker::new(rest, Secret::new("secret"))),
        Arc::new(KiteTicker {
            url: "ws://127.0.0.1:9".into(),
            tls: KiteTls::public_roots(),
        }),
        CancellationToken::new(),
    ));
    AppState::new("target/site", clock, calendar, running.machines())
}

fn health(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = state(&runtime);
    let _entered = runtime.enter();
    c.bench_function("system_health", |b| b.iter(|| system_health(&state)));
    c.bench_function("clone the app state", |b| b.iter(|| state.clone()));
    let answer = system_health(&state);
    c.bench_function("serialize health", |b| {
        b.iter(|| serde_json::to_vec(&answer).unwrap())
    });
    c.bench_function("auth report", |b| b.iter(|| state.auth.health()));
    c.bench_function("feed report", |b| b.iter(|| state.feed.health()));
}

criterion_group!(benches, health);
criterion_main!(benches);
