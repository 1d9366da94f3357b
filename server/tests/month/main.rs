//! A simulated month of trading on a paused clock.
//!
//! The real auth machine, feed watchdog and health API run against the Kite simulator for
//! consecutive calendar days, connected by in-memory byte streams (HTTP/1.1 and WebSocket, as on
//! the wire; see `sim::pipe`). A scripted trader logs in through the real login flow at random
//! times and again whenever the banner asks; a scripted Kite expires tokens at 06:00 and flushes
//! them at 07:30 on some days, stalls the ticker three times a day, drops connections in
//! storms, refuses upgrades with 403 and answers REST calls with 429. Weekends, holidays and a
//! Sunday special session come from the calendar.
//!
//! Every answer of `GET /api/system/health` after every state change and at every phase change
//! is checked against this file's own model of the market and of the token; every fault must be
//! detected and healed within its bound; the ticker is never tried more than once with a token
//! Kite has killed, per token; nothing panics and nothing restarts.
//!
//! `cargo test` runs a few days (`SHORT_RUN`); the full 30 trading days:
//!
//! ```text
//! MARKETWARDEN_MONTH_DAYS=30 cargo test -p marketwarden-server --release --test month -- --nocapture
//! ```
//!
//! `MARKETWARDEN_MONTH_SEED` replays another random month.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use http_body_util::BodyExt;
use kite_sim::{Faults, SimConfig, Simulator};
use marketwarden_core::{AuthState, FeedState, MarketPhase, PriorityStatus, SystemHealth};
use marketwarden_server::auth::broker::KiteBroker;
use marketwarden_server::auth::{AuthConfig, AuthService, TickerCredentials};
use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::clock::{Clock, StartedClock};
use marketwarden_server::feed::instruments::{DEFAULT_INSTRUMENTS, parse_instruments};
use marketwarden_server::feed::link::{Connecting, TickerConnector};
use marketwarden_server::feed::machine::FeedSettings;
use marketwarden_server::feed::{FeedConfig, FeedService};
use marketwarden_server::kite::pipe::SimPipe;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::{AppState, app, compose};
use marketwarden_testkit::{SecretScan, demo_login_form, header_text};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod logs;
mod model;
mod script;
mod watch;
mod world;

use logs::*;
use model::*;
use script::*;
use watch::*;
use world::*;

/// Trading days in `cargo test`: Friday 23 January to the Sunday budget session of 1 February,
/// with a weekend and the Republic Day holiday on the Monday between.
const SHORT_RUN: (&str, usize) = ("2026-01-23", 6);
/// The full run: 30 trading days from Monday 2026-01-12, with two holidays (15 and 26 January),
/// six weekends and the Sunday session of 1 February.
const FULL_RUN_START: &str = "2026-01-12";

/// The simulated period's market, as this test knows it independently of the server: the NSE
/// holidays on weekdays and the special weekend sessions of January and February 2026
/// (`../shared/reference/nse-holidays-2024-2026.csv`), all with normal timings.
const HOLIDAYS: [&str; 5] = [
    "2026-01-15",
    "2026-01-26",
    "2026-03-03",
    "2026-03-26",
    "2026-03-31",
];
const SPECIAL_SESSIONS: [&str; 1] = ["2026-02-01"];

/// How early the feed connects before pre-open.
const PRE_OPEN_LEAD: TimeDelta = TimeDelta::minutes(5);

/// Bounds the run holds the server to.
/// The stale threshold: the last frame came at the latest as the stall began.
const STALL_DETECTION_BOUND: Duration = Duration::from_millis(10_050);
/// The longest backoff step, then a tick for the first frame, and a second to spare.
const FEED_RECOVERY_BOUND: Duration = Duration::from_secs(62);
/// The handshake and the first frame.
const LOGIN_TO_LIVE_BOUND: Duration = Duration::from_secs(5);
/// The 15-minute re-check, and a minute to spare.
const TOKEN_DEATH_BOUND: TimeDelta = TimeDelta::minutes(16);
/// The feed reconnects at once after a drop and meets the 403 at the handshake.
const KILLED_SESSION_BOUND: Duration = Duration::from_secs(10);
/// A login's exchange with Kite, with its 7 s timeout.
const REFRESHING_BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_month_of_trading_heals_every_fault_within_its_bound() {
    let (start, days) = match std::env::var("MARKETWARDEN_MONTH_DAYS") {
        Ok(days) => (
            FULL_RUN_START,
            days.parse().expect("MARKETWARDEN_MONTH_DAYS is a number"),
        ),
        Err(_) => SHORT_RUN,
    };
    let seed = std::env::var("MARKETWARDEN_MONTH_SEED")
        .ok()
        .map(|seed| seed.parse().expect("MARKETWARDEN_MONTH_SEED is a number"))
        .unwrap_or(20_260_112);
    let start = NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let panics = count_panics_on_this_thread();
    #[allow(clippy::disallowed_methods)] // The run's real duration, for the report.
    let began = std::time::Instant::now();
    let mut report = runtime.block_on(simulate(start, days, seed));
    report.elapsed = began.elapsed();
    report.print(seed);
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a task panicked");
    assert!(
        report.violations.is_empty(),
        "{} violations:\n{}",
        report.violations.len(),
        report.violations.join("\n")
    );
    assert_eq!(report.trading_days, days);
    assert!(report.health_checks > 0 && report.frames_seen > 0);
    if days >= 3 {
        // The script reached every path it is meant to, and the checks were not skipped away.
        assert_eq!(report.faults.len(), 6, "{:?}", report.faults);
        assert!(report.dead_token_attempts > 0 && report.refused_logins > 0);
        for kind in [
            "stall detected",
            "recovered after a stall",
            "recovered after a disconnect storm",
            "expiry acted on",
            "flushed token noticed",
            "killed session noticed",
            "login to live data",
        ] {
            assert!(report.delays.contains_key(kind), "no {kind} measured");
        }
        let recoveries: usize = report
            .delays
            .iter()
            .filter(|(kind, _)| kind.starts_with("recovered"))
            .map(|(_, delays)| delays.len())
            .sum();
        assert!(
            report.skipped_checks as usize * 10 <= recoveries,
            "{} recovery checks skipped, {recoveries} made",
            report.skipped_checks
        );
        assert!(report.feed_live_checks as usize >= 10 * days);
        assert!(report.refreshing_watched > 0);
    }
}

/// Counts panics on the calling thread (where the current-thread runtime runs every task).
fn count_panics_on_this_thread() -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let name = std::thread::current().name().map(str::to_owned);
    let counted = count.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name().map(str::to_owned) == name {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    count
}

async fn simulate(first_day: NaiveDate, trading_days: usize, seed: u64) -> Report {
    let mut rng = Rng(seed.max(1));
    let mut days = Vec::new();
    let mut day = first_day;
    while days.iter().filter(|d| is_trading_day(**d)).count() < trading_days {
        days.push(day);
        day = day.succ_opt().unwrap();
    }
    let plans: Arc<Vec<DayPlan>> = Arc::new(
        days.iter()
            .copied()
            .filter(|day| is_trading_day(*day))
            .enumerate()
            .map(|(index, day)| plan_day(day, index, &mut rng))
            .collect(),
    );
    let last_day = *days.last().unwrap();
    // The evening before, no token yet; the seconds at random, so that the machines' own
    // cadences do not line up with the script's.
    let start = ist(first_day.pred_opt().unwrap(), 20, 0) + TimeDelta::seconds(rng.between(0, 900));
    let shutdown = CancellationToken::new();
    let clock: Arc<dyn Clock> = Arc::new(StartedClock::starting_at(start));
    let sim = Simulator::new(
        SimConfig {
            redirect_url: "http://marketwarden.invalid/auth/callback".into(),
            ..SimConfig::default()
        },
        clock.clone(),
    );
    let log_lines = scan_logs_for_secrets(sim.clone(), clock.clone());
    let world = World::start(clock, sim, &shutdown).await;

    let watcher = tokio::spawn(watch_health(world.clone(), shutdown.clone()));
    let frames = tokio::spawn(count_frames(world.clone(), shutdown.clone()));
    tokio::spawn(trade(world.clone(), plans.clone(), seed));
    tokio::spawn(inject_faults(world.clone(), plans.clone()));
    tokio::spawn(check_evenings(world.clone(), plans.clone()));
    tokio::spawn(check_feed_is_live(world.clone(), plans.clone()));

    world.sleep_until(ist(last_day, 16, 0)).await;
    assert!(!watcher.is_finished() && !frames.is_finished());
    // A supervised task that failed (the feed watchdog, the auth timekeeper) would have
    // cancelled the shutdown.
    assert!(!shutdown.is_cancelled(), "a machine task stopped");
    check_attempts(&world);
    shutdown.cancel();
    assert!(
        world.running.stopped(Duration::from_secs(5)).await,
        "the machines did not stop with the server"
    );

    let mut report = std::mem::take(&mut *world.report.lock().unwrap());
    report.days = days.len();
    report.trading_days = plans.len();
    let attempts = world.connector.attempts.lock().unwrap();
    report.connection_attempts = attempts.len() as u64;
    report.dead_token_attempts = attempts.iter().filter(|a| !a.token_alive).count() as u64;
    drop(attempts);
    let (lines, leaks) = log_lines.finish();
    report.log_lines = lines;
    report.violations.extend(leaks);
    report
}
