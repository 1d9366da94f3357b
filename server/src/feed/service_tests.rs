//! The watchdog under a paused clock, with a connector that the test scripts.

use std::collections::VecDeque;

use chrono::TimeZone;
use tokio::sync::mpsc;

use super::*;
use crate::clock::StartedClock;
use crate::feed::link::Connecting;
use marketwarden_kite::Secret;
use marketwarden_kite::packet::Mode;

/// One scripted connection attempt.
enum Plan {
    Open,
    /// Opens, then sends heartbeats and the snapshots but never a fresh tick.
    OpenWithoutTicks,
    Fail(TickerConnectError),
}

/// The test's end of an open connection.
struct LinkHandle {
    events: mpsc::UnboundedSender<TickerEvent>,
    sent: Arc<Mutex<Vec<ClientRequest>>>,
}

struct FakeLink {
    events: mpsc::UnboundedReceiver<TickerEvent>,
    sent: Arc<Mutex<Vec<ClientRequest>>>,
}

impl TickerLink for FakeLink {
    fn send<'a>(
        &'a mut self,
        request: &'a ClientRequest,
    ) -> BoxFuture<'a, Result<(), TickerConnectError>> {
        self.sent.lock().unwrap().push(request.clone());
        Box::pin(async { Ok(()) })
    }

    fn next_event(&mut self) -> BoxFuture<'_, TickerEvent> {
        Box::pin(async {
            self.events
                .recv()
                .await
                .unwrap_or(TickerEvent::Closed { code: None })
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[derive(Default)]
struct ScriptedConnector {
    plans: Mutex<VecDeque<Plan>>,
    /// When each attempt was made, and with which token generation.
    attempts: Mutex<Vec<(Instant, u64)>>,
    opened: Mutex<VecDeque<LinkHandle>>,
}

impl TickerConnector for ScriptedConnector {
    fn connect<'a>(&'a self, credentials: &'a TickerCredentials) -> Connecting<'a> {
        self.attempts
            .lock()
            .unwrap()
            .push((Instant::now(), credentials.generation));
        let plan = self.plans.lock().unwrap().pop_front().unwrap_or(Plan::Open);
        let result = match plan {
            Plan::Fail(error) => Err(error),
            Plan::Open | Plan::OpenWithoutTicks => {
                let ticks = matches!(plan, Plan::Open);
                let (sender, events) = mpsc::unbounded_channel();
                // Like Kite in LIVE, at once: a heartbeat, the snapshots answering the subscribe
                // and the mode messages (not fresh), then a fresh tick of NIFTY 50.
                let _ = sender.send(TickerEvent::Heartbeat);
                for _ in 0..2 {
                    let _ = sender.send(snapshots());
                }
                if ticks {
                    let _ = sender.send(fresh_tick());
                }
                let sent = Arc::new(Mutex::new(Vec::new()));
                self.opened.lock().unwrap().push_back(LinkHandle {
                    events: sender,
                    sent: sent.clone(),
                });
                Ok(Box::new(FakeLink { events, sent }) as Box<dyn TickerLink>)
            }
        };
        Box::pin(async move { result })
    }
}

struct Harness {
    feed: Arc<FeedService>,
    connector: Arc<ScriptedConnector>,
    credentials: watch::Sender<Option<TickerCredentials>>,
    rejected: Arc<Mutex<Vec<u64>>>,
    started: Instant,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    fn attempts(&self) -> Vec<(Duration, u64)> {
        self.connector
            .attempts
            .lock()
            .unwrap()
            .iter()
            .map(|(at, generation)| (at.duration_since(self.started), *generation))
            .collect()
    }

    fn state(&self) -> FeedState {
        self.feed.health().state
    }

    /// The test's end of the newest open connection.
    fn link(&self) -> LinkHandle {
        let mut opened = self.connector.opened.lock().unwrap();
        let newest = opened.pop_back().expect("an open connection");
        opened.clear();
        newest
    }

    fn give_token(&self, generation: u64) {
        self.credentials.send_replace(Some(credentials(generation)));
    }
}

fn credentials(generation: u64) -> TickerCredentials {
    TickerCredentials {
        api_key: "key".into(),
        access_token: Secret::new(format!("token{generation}")),
        generation,
    }
}

use marketwarden_testkit::monday_at as ist;

/// The last known tick of every subscribed instrument, as Kite answers a subscription.
fn snapshots() -> TickerEvent {
    TickerEvent::Ticks(
        instruments()
            .iter()
            .map(|instrument| Tick::ltp(instrument.token, 100))
            .collect(),
    )
}

/// A fresh tick of NIFTY 50.
fn fresh_tick() -> TickerEvent {
    TickerEvent::Ticks(vec![Tick::ltp(256_265, 2_400_000)])
}

fn instruments() -> Vec<Instrument> {
    instruments::parse_instruments("256265:full,738561:quote,408065").unwrap()
}

/// A running watchdog whose clock reads `now`, with token 1 unless `token` is false.
async fn start(now: DateTime<Utc>, plans: Vec<Plan>, token: bool) -> Harness {
    start_with(now, plans, token, instruments()).await
}

/// The same, subscribing `instruments`.
async fn start_with(
    now: DateTime<Utc>,
    plans: Vec<Plan>,
    token: bool,
    instruments: Vec<Instrument>,
) -> Harness {
    let connector = Arc::new(ScriptedConnector {
        plans: Mutex::new(plans.into()),
        ..ScriptedConnector::default()
    });
    let feed = FeedService::new(
        FeedConfig {
            settings: FeedSettings::default(),
            pre_open_lead: Duration::from_secs(300),
            instruments,
            connect_timeout: Duration::from_secs(10),
        },
        connector.clone(),
        Arc::new(StartedClock::starting_at(now)),
        Arc::new(CalendarStore::builtin()),
    );
    let (credentials, receiver) = watch::channel(token.then(|| credentials(1)));
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let sink = rejected.clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(feed.clone().run(
        receiver,
        Arc::new(move |generation| sink.lock().unwrap().push(generation)),
        Box::new(|| 1.0),
        shutdown.clone(),
    ));
    let harness = Harness {
        feed,
        connector,
        credentials,
        rejected,
        started: Instant::now(),
        shutdown,
    };
    settle().await;
    harness
}

/// Lets spawned tasks run; no time passes.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Lets `by` of paused time pass: the runtime jumps from timer to timer, so every deadline on
/// the way fires at its own instant; then lets the watchdog react.
async fn advance(by: Duration) {
    tokio::time::sleep(by).await;
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn in_trading_hours_it_connects_and_subscribes_every_instrument_in_its_mode() {
    let harness = start(ist(10, 0), vec![], true).await;
    assert_eq!(harness.state(), FeedState::Connected);
    let link = harness.link();
    let sent = link.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [
            ClientRequest::Subscribe(vec![256_265, 738_561, 408_065]),
            ClientRequest::SetMode(Mode::Quote, vec![738_561, 408_065]),
            ClientRequest::SetMode(Mode::Full, vec![256_265]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_stale_at_the_threshold_and_replaced() {
    let harness = start(ist(10, 0), vec![], true).await;
    let link = harness.link();
    for _ in 0..3 {
        advance(Duration::from_secs(1)).await;
        link.events.send(fresh_tick()).unwrap();
        settle().await;
    }
    // The last frame came at 3 s: stale at 13 s, not a millisecond before.
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(harness.state(), FeedState::Connected);
    assert_eq!(harness.attempts().len(), 1);
    advance(Duration::from_millis(1)).await;
    let attempts = harness.attempts();
    assert_eq!(attempts.len(), 2, "replaced at once");
    assert_eq!(attempts[1].0, Duration::from_secs(13));
    assert_eq!(harness.state(), FeedState::Connected, "the new one is up");
    let health = harness.feed.health();
    assert_eq!(health.reconnects, 1);
    // The replacement restored the subscriptions.
    assert_eq!(harness.link().sent.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_5_10_20_40_60_then_error_and_recover() {
    let refused = || Plan::Fail(TickerConnectError::Rejected { status: 503 });
    let harness = start(ist(10, 0), (0..11).map(|_| refused()).collect(), true).await;
    advance(Duration::from_secs(496)).await;
    let times: Vec<u64> = harness
        .attempts()
        .iter()
        .map(|(at, _)| at.as_secs())
        .collect();
    // Attempt 1 at 0 s, then waits of 5, 10, 20, 40 and 60 s (the cap) from there on.
    assert_eq!(
        times,
        [0, 5, 15, 35, 75, 135, 195, 255, 315, 375, 435, 495],
        "11 failures, then success at the 12th"
    );
    assert_eq!(harness.state(), FeedState::Connected);
    assert_eq!(
        harness.feed.health().reconnect_attempt,
        11,
        "data flows, but the link has yet to prove itself"
    );
    let link = harness.link();
    for _ in 0..2 {
        advance(Duration::from_secs(5)).await;
        link.events.send(fresh_tick()).unwrap();
    }
    advance(Duration::from_millis(1)).await;
    assert_eq!(harness.state(), FeedState::Connected);
    assert_eq!(
        harness.feed.health().reconnect_attempt,
        0,
        "a link that lived a stale threshold resets the count"
    );
}

#[tokio::test(start_paused = true)]
async fn ten_failures_in_a_row_is_error_with_retries_at_the_cap() {
    let refused = || Plan::Fail(TickerConnectError::Transport("refused".into()));
    let harness = start(ist(10, 0), (0..30).map(|_| refused()).collect(), true).await;
    // Failures at 0, 5, 15, 35, 75, 135, 195, 255, 315: the 10th at 375 s.
    advance(Duration::from_secs(374)).await;
    assert_eq!(harness.state(), FeedState::Disconnected);
    advance(Duration::from_secs(1)).await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Error);
    assert_eq!(health.reconnect_attempt, 10);
    assert_eq!(health.backoff_seconds, Some(60.0));
    assert!(health.next_retry_at.is_some());
    assert!(!health.is_healthy);
}

#[tokio::test(start_paused = true)]
async fn a_403_asks_for_a_login_and_waits_for_a_new_token() {
    let harness = start(
        ist(10, 0),
        vec![Plan::Fail(TickerConnectError::Forbidden)],
        true,
    )
    .await;
    assert_eq!(*harness.rejected.lock().unwrap(), [1]);
    advance(Duration::from_secs(3600)).await;
    assert_eq!(harness.attempts().len(), 1, "one attempt per token");
    assert_eq!(harness.state(), FeedState::Disconnected);
    // The auth machine withdraws the token; a login brings a new one: at once.
    harness.credentials.send_replace(None);
    settle().await;
    harness.give_token(2);
    settle().await;
    assert_eq!(harness.attempts()[1], (Duration::from_secs(3600), 2));
    assert_eq!(harness.state(), FeedState::Connected);
}

#[tokio::test(start_paused = true)]
async fn outside_trading_hours_nothing_connects_until_the_pre_open_lead() {
    let harness = start(ist(20, 0), vec![], true).await;
    assert_eq!(harness.state(), FeedState::Disconnected);
    assert_eq!(harness.feed.health().reason, "outside trading hours");
    // Tuesday 08:55 IST is 12 h 55 min later.
    let lead_time = Duration::from_secs(12 * 3600 + 55 * 60);
    advance(lead_time - Duration::from_secs(1)).await;
    assert!(harness.attempts().is_empty());
    advance(Duration::from_secs(1)).await;
    assert_eq!(harness.attempts(), [(lead_time, 1)]);
    assert_eq!(harness.state(), FeedState::Connected);
}

/// Keeps the feed's frames coming (a fresh NIFTY tick a second) for `seconds`.
async fn feed_for(link: &LinkHandle, seconds: u64) {
    for _ in 0..seconds {
        let _ = link.events.send(fresh_tick());
        advance(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_close_disconnects_on_purpose_without_alarm() {
    // Monday 2026-11-30: cash-market instruments only. The closing auction (15:30-15:35) is
    // trading hours; at 15:35 the feed closes on purpose.
    let harness = start(ist(15, 29), vec![], true).await;
    let link = harness.link();
    feed_for(&link, 60).await;
    assert_eq!(
        harness.state(),
        FeedState::Connected,
        "the auction's matching"
    );
    feed_for(&link, 5 * 60 - 1).await;
    assert_eq!(harness.state(), FeedState::Connected, "15:34:59");
    advance(Duration::from_secs(1)).await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Disconnected);
    assert_eq!(health.reason, "outside trading hours");
    assert!(link.events.is_closed(), "the connection was dropped");
}

#[tokio::test(start_paused = true)]
async fn an_fo_instrument_keeps_the_ticker_open_until_15_40() {
    // Tuesday 2026-12-01 at 15:34 IST, with an NSE F&O future beside the cash instruments.
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 4, 0).unwrap();
    let mut subscribed = instruments();
    subscribed.extend(instruments::parse_instruments("12345602:quote=NIFTY FUT").unwrap());
    let harness = start_with(at, vec![], true, subscribed).await;
    assert_eq!(harness.feed.segments(), [Segment::NseCm, Segment::NseFo]);
    let link = harness.link();
    // 15:35 passes: cash has closed, F&O trades on.
    feed_for(&link, 5 * 60 + 59).await;
    assert_eq!(harness.state(), FeedState::Connected, "15:39:59");
    assert!(!link.events.is_closed());
    advance(Duration::from_secs(1)).await;
    assert_eq!(harness.state(), FeedState::Disconnected, "15:40");
    assert!(link.events.is_closed(), "closed at F&O's close");
}

#[tokio::test(start_paused = true)]
async fn without_a_token_it_waits_and_connects_when_one_comes() {
    let harness = start(ist(10, 0), vec![], false).await;
    assert_eq!(harness.feed.health().reason, "waiting for a Kite login");
    advance(Duration::from_secs(600)).await;
    assert!(harness.attempts().is_empty());
    harness.give_token(1);
    settle().await;
    assert_eq!(harness.state(), FeedState::Connected);
}

#[tokio::test(start_paused = true)]
async fn a_drop_reconnects_at_once_and_ticks_reach_browsers_and_ages() {
    let harness = start(ist(10, 0), vec![], true).await;
    let mut browser = harness.feed.subscribe_ticks();
    let link = harness.link();
    advance(Duration::from_secs(2)).await;
    link.events
        .send(TickerEvent::Ticks(vec![Tick::ltp(738_561, 250_000)]))
        .unwrap();
    settle().await;
    let frame = browser.try_recv().expect("relayed");
    assert!(frame.contains(r#""name":"RELIANCE""#), "{frame}");
    // NIFTY 50 keeps the feed fresh while RELIANCE stays quiet.
    for _ in 0..12 {
        advance(Duration::from_secs(1)).await;
        link.events.send(fresh_tick()).unwrap();
    }
    settle().await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Connected);
    assert_eq!(health.last_tick_seconds_ago, Some(0.0));
    assert_eq!(health.instruments[0].last_tick_seconds_ago, Some(0.0));
    let reliance = &health.instruments[1];
    assert_eq!(reliance.last_tick_seconds_ago, Some(12.0));
    assert_eq!(
        health.instruments[2].last_tick_seconds_ago, None,
        "INFY sent only its snapshots"
    );
    drop(link); // the connection breaks
    settle().await;
    assert_eq!(harness.attempts().len(), 2);
    assert_eq!(harness.state(), FeedState::Connected);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_replacement_gives_up_at_the_connect_timeout() {
    // A scripted attempt never hangs; the timeout is tested through the real ticker in the
    // integration tests. Here: the health answer during a stall reports STALE.
    let harness = start(ist(10, 0), vec![], true).await;
    let _link = harness.link();
    harness
        .connector
        .plans
        .lock()
        .unwrap()
        .push_back(Plan::Fail(TickerConnectError::Transport(
            "timed out".into(),
        )));
    advance(Duration::from_secs(10)).await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Disconnected, "{}", health.reason);
    assert_eq!(health.backoff_seconds, Some(5.0));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_without_ticks_in_live_are_stale_at_the_threshold_and_replaced() {
    let harness = start(ist(10, 0), vec![], true).await;
    assert_eq!(harness.state(), FeedState::Connected);
    let link = harness.link();
    // The socket lives (a heartbeat every second), but nothing ticks after the first second.
    for _ in 0..9 {
        advance(Duration::from_secs(1)).await;
        link.events.send(TickerEvent::Heartbeat).unwrap();
    }
    settle().await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Connected);
    assert_eq!(health.last_tick_seconds_ago, Some(9.0));
    assert_eq!(health.last_frame_seconds_ago, Some(0.0));
    advance(Duration::from_millis(999)).await;
    assert_eq!(harness.attempts().len(), 1);
    advance(Duration::from_millis(1)).await;
    // The last tick came at 0 s: stale at the 10 s threshold, and replaced at once.
    let attempts = harness.attempts();
    assert_eq!(attempts.len(), 2, "replaced");
    assert_eq!(attempts[1].0, Duration::from_secs(10));
    assert!(
        link.events.is_closed(),
        "the heartbeat-only connection was dropped"
    );
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Connected, "the new one ticks");
    assert_eq!(health.reconnects, 1);
}

#[tokio::test(start_paused = true)]
async fn snapshots_alone_are_not_fresh_and_the_tick_age_survives_reconnects() {
    let harness = start(ist(10, 0), vec![], true).await;
    let _first = harness.link();
    harness
        .connector
        .plans
        .lock()
        .unwrap()
        .push_back(Plan::OpenWithoutTicks);
    // The first link goes silent after its tick at 0 s: stale at 10 s and replaced by one that
    // sends heartbeats and snapshots only.
    advance(Duration::from_secs(10)).await;
    let second = harness.link();
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Stale, "{}", health.reason);
    assert_eq!(
        health.last_tick_seconds_ago,
        Some(10.0),
        "kept across the reconnect"
    );
    assert_eq!(
        health.last_frame_seconds_ago,
        Some(0.0),
        "the new socket lives"
    );
    for _ in 0..9 {
        advance(Duration::from_secs(1)).await;
        second.events.send(TickerEvent::Heartbeat).unwrap();
        settle().await;
        assert_eq!(harness.state(), FeedState::Stale, "heartbeats are no ticks");
    }
    // Ten seconds without a tick on a link that never ticked: dropped, and the next attempt
    // waits a backoff step (5 s with this jitter) instead of storming.
    advance(Duration::from_secs(1)).await;
    assert!(second.events.is_closed());
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Stale, "{}", health.reason);
    assert!(health.reason.contains("no tick for"), "{}", health.reason);
    assert_eq!(health.backoff_seconds, Some(5.0));
    advance(Duration::from_secs(5)).await;
    let times: Vec<u64> = harness
        .attempts()
        .iter()
        .map(|(at, _)| at.as_secs())
        .collect();
    assert_eq!(times, [0, 10, 25]);
    assert_eq!(
        harness.state(),
        FeedState::Connected,
        "the third link ticks"
    );
    assert_eq!(harness.feed.health().last_tick_seconds_ago, Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn outside_live_heartbeats_suffice() {
    // 09:02 IST, pre-open: ticks are sparse; a live socket is a healthy feed.
    let harness = start(ist(9, 2), vec![Plan::OpenWithoutTicks], true).await;
    let link = harness.link();
    for _ in 0..60 {
        advance(Duration::from_secs(1)).await;
        link.events.send(TickerEvent::Heartbeat).unwrap();
    }
    settle().await;
    let health = harness.feed.health();
    assert_eq!(health.state, FeedState::Connected, "{}", health.reason);
    assert_eq!(
        health.last_tick_seconds_ago, None,
        "snapshots are not ticks"
    );
    assert_eq!(harness.attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_browser_that_connects_later_gets_every_last_known_tick_marked_as_such() {
    let harness = start(ist(20, 0), vec![], true).await;
    assert_eq!(harness.feed.last_known_frame(), None, "nothing came yet");
    // After hours: nothing connects. A morning connection brings the snapshots and a tick.
    let harness = start(ist(10, 0), vec![], true).await;
    let frame = harness.feed.last_known_frame().expect("a frame");
    let json: serde_json::Value = serde_json::from_str(&frame).unwrap();
    let ticks = json["ticks"].as_array().unwrap();
    let tokens: Vec<u64> = ticks
        .iter()
        .map(|tick| tick["instrument_token"].as_u64().unwrap())
        .collect();
    assert_eq!(
        tokens,
        [256_265, 408_065, 738_561],
        "each subscribed instrument once"
    );
    assert!(ticks.iter().all(|tick| tick["snapshot"] == true), "{frame}");
    assert_eq!(ticks[0]["name"], "NIFTY 50");
    assert_eq!(
        ticks[0]["last_price"], 24_000.0,
        "the latest, the fresh tick"
    );
}
