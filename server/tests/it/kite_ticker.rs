//! The ticker client against the simulator's ticker, over real sockets.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use kite_sim::{Faults, SimConfig};
use marketwarden_kite::Secret;
use marketwarden_kite::packet::{ClientRequest, Mode, Segment, TextFrame, Tick};
use marketwarden_server::kite::ticker::{
    TickerConnectError, TickerConnection, TickerEvent, connect,
};

use super::support::*;

const RELIANCE: u32 = 738_561;
const NIFTY_50: u32 = 256_265;
/// Enough frames to see anything the simulator sends within a second of simulated trading.
const EVENTS_TO_WAIT: usize = 200;

/// Monday 2026-11-30, 10:00 IST: the market is live.
fn live() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 4, 30, 0).unwrap()
}

async fn fast_sim(now: DateTime<Utc>) -> Sim {
    let config = SimConfig {
        tick_interval: Duration::from_millis(20),
        ..SimConfig::default()
    };
    start_sim_with(config, now).await
}

fn sim_ticker_url(sim: &Sim) -> String {
    crate::support::ticker_url(&sim.base)
}

async fn open(sim: &Sim, token: &Secret) -> TickerConnection {
    connect(
        &sim_ticker_url(sim),
        &SimConfig::default().api_key,
        token,
        &tls(),
    )
    .await
    .expect("connected")
}

/// Logs in, opens a connection and subscribes to `instrument`.
async fn logged_in_and_subscribed(sim: &Sim, instrument: u32) -> TickerConnection {
    let token = access_token(&sim.base).await;
    let mut connection = open(sim, &token).await;
    connection
        .send(&ClientRequest::Subscribe(vec![instrument]))
        .await
        .expect("subscribed");
    connection
}

/// Reads events until `found` picks one, or fails after [`EVENTS_TO_WAIT`].
async fn wait_for<T>(
    connection: &mut TickerConnection,
    mut found: impl FnMut(&TickerEvent) -> Option<T>,
) -> T {
    for _ in 0..EVENTS_TO_WAIT {
        let event = connection.next_event().await;
        if let Some(value) = found(&event) {
            return value;
        }
        // Reached only when `found` did not want this event.
        assert!(
            !matches!(event, TickerEvent::Closed { .. }),
            "closed while waiting: {event:?}"
        );
    }
    panic!("not seen in {EVENTS_TO_WAIT} events");
}

/// The close code of a `Closed` event (`Some(None)` when the connection just broke).
fn closed_code(event: &TickerEvent) -> Option<Option<u16>> {
    match event {
        TickerEvent::Closed { code } => Some(*code),
        _ => None,
    }
}

fn tick_of(event: &TickerEvent, token: u32) -> Option<Tick> {
    match event {
        TickerEvent::Ticks(ticks) => ticks.iter().find(|t| t.instrument_token == token).copied(),
        _ => None,
    }
}

#[tokio::test]
async fn bad_or_expired_tokens_fail_the_handshake_with_403() {
    let sim = fast_sim(live()).await;
    let url = sim_ticker_url(&sim);
    let forged = connect(
        &url,
        "marketwarden_sim",
        &Secret::new("0".repeat(32)),
        &tls(),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(forged, TickerConnectError::Forbidden);
    assert!(forged.is_auth_failure());
    let token = access_token(&sim.base).await;
    assert_eq!(
        connect(&url, "other_key", &token, &tls()).await.err(),
        Some(TickerConnectError::Forbidden)
    );
    // 06:00 IST the next morning.
    sim.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap());
    assert_eq!(
        connect(&url, "marketwarden_sim", &token, &tls())
            .await
            .err(),
        Some(TickerConnectError::Forbidden)
    );
}

/// The ticker is `wss://` as Kite's is: a client that trusts the simulator's CA streams ticks;
/// one that does not is refused by rustls, with the host and the reason, and never the token.
#[tokio::test]
async fn the_ticker_is_tls_and_an_untrusted_certificate_is_named_with_its_host() {
    let sim = fast_sim(live()).await;
    let url = sim_ticker_url(&sim);
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let mut connection = logged_in_and_subscribed(&sim, 408_065).await;
    wait_for(&mut connection, |event| match event {
        TickerEvent::Ticks(ticks) => Some(ticks.len()),
        _ => None,
    })
    .await;
    let token = access_token(&sim.base).await;
    let untrusting = marketwarden_server::kite::tls::KiteTls::public_roots();
    let error = connect(&url, "marketwarden_sim", &token, &untrusting)
        .await
        .err()
        .expect("an unknown CA is refused");
    let TickerConnectError::Transport(message) = &error else {
        panic!("not a transport error: {error:?}");
    };
    let host = url.trim_start_matches("wss://");
    assert!(message.starts_with(&format!("{host}: ")), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(!message.contains(token.expose()), "{message}");
    assert!(!error.is_auth_failure());
}

#[tokio::test]
async fn refused_upgrades_are_not_auth_failures_unless_403() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    let refusal = |faults: Faults| {
        let (sim, token) = (&sim, &token);
        async move {
            sim.sim.set_faults(faults);
            connect(&sim_ticker_url(sim), "marketwarden_sim", token, &tls())
                .await
                .err()
                .expect("refused")
        }
    };
    let error = refusal(Faults {
        refuse_connections: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(error, TickerConnectError::Rejected { status: 503 });
    assert!(!error.is_auth_failure());
    let error = refusal(Faults {
        forbid_upgrades: true,
        ..Faults::default()
    })
    .await;
    assert!(error.is_auth_failure());
    // Nothing listening: transport, not auth.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = connect(&url, "marketwarden_sim", &token, &tls())
        .await
        .err()
        .expect("no server");
    assert!(matches!(error, TickerConnectError::Transport(_)), "{error}");
}

#[tokio::test]
async fn subscribed_instruments_tick_in_their_modes_with_the_right_layouts() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    let mut connection = open(&sim, &token).await;
    connection
        .send(&ClientRequest::Subscribe(vec![RELIANCE, NIFTY_50]))
        .await
        .unwrap();
    // New subscriptions are in quote mode.
    let quote = wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
    assert_eq!(quote.mode, Mode::Quote);
    assert!(quote.trade.is_some() && quote.depth.is_none());
    connection
        .send(&ClientRequest::SetMode(
            Mode::Full,
            vec![RELIANCE, NIFTY_50],
        ))
        .await
        .unwrap();
    let full = wait_for(&mut connection, |event| {
        tick_of(event, RELIANCE).filter(|t| t.mode == Mode::Full)
    })
    .await;
    let depth = full.depth.expect("five levels of depth");
    assert!(depth.buy[0].price < full.last_price && full.last_price < depth.sell[0].price);
    assert_eq!(full.exchange_timestamp, Some(live().timestamp() as u32));
    let index = wait_for(&mut connection, |event| {
        tick_of(event, NIFTY_50).filter(|t| t.mode == Mode::Full)
    })
    .await;
    assert_eq!(index.segment(), Segment::Indices);
    assert!(index.trade.is_none() && index.depth.is_none() && index.index_change.is_some());
    assert!((20_000.0..28_000.0).contains(&index.price(index.last_price)));
    // Unsubscribed instruments stop; with none left, heartbeats.
    connection
        .send(&ClientRequest::Unsubscribe(vec![RELIANCE, NIFTY_50]))
        .await
        .unwrap();
    wait_for(&mut connection, |event| {
        (event == &TickerEvent::Heartbeat).then_some(())
    })
    .await;
    connection.close().await;
}

#[tokio::test]
async fn outside_trading_hours_a_subscription_gets_its_snapshot_then_heartbeats() {
    // Saturday 2026-11-28, noon IST: like Kite, the last known tick answers the subscription
    // and the mode change, then only heartbeats follow.
    let sim = fast_sim(Utc.with_ymd_and_hms(2026, 11, 28, 6, 30, 0).unwrap()).await;
    let mut connection = logged_in_and_subscribed(&sim, RELIANCE).await;
    let quote = wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
    assert_eq!(quote.mode, Mode::Quote);
    assert!((1_200.0..1_400.0).contains(&quote.price(quote.last_price)));
    connection
        .send(&ClientRequest::SetMode(Mode::Full, vec![RELIANCE]))
        .await
        .unwrap();
    let full = wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
    assert_eq!(full.mode, Mode::Full);
    assert_eq!(
        full.last_price, quote.last_price,
        "the same last known price"
    );
    for _ in 0..5 {
        assert_eq!(connection.next_event().await, TickerEvent::Heartbeat);
    }
}

#[tokio::test]
async fn a_snapshot_carries_the_last_price_streamed_on_any_connection() {
    let sim = fast_sim(live()).await;
    let mut first = logged_in_and_subscribed(&sim, RELIANCE).await;
    let mut last = None;
    for _ in 0..3 {
        last = Some(
            wait_for(&mut first, |event| tick_of(event, RELIANCE))
                .await
                .last_price,
        );
    }
    sim.sim.set_faults(Faults {
        heartbeats_only: true,
        ..Faults::default()
    });
    // The last tick before the heartbeats is the last streamed.
    loop {
        let event = first.next_event().await;
        if event == TickerEvent::Heartbeat {
            break;
        }
        if let Some(tick) = tick_of(&event, RELIANCE) {
            last = Some(tick.last_price);
        }
    }
    let mut second = logged_in_and_subscribed(&sim, RELIANCE).await;
    let snapshot = wait_for(&mut second, |event| tick_of(event, RELIANCE)).await;
    assert_eq!(Some(snapshot.last_price), last);
}

#[tokio::test]
async fn heartbeats_only_fault_keeps_the_socket_alive_without_data() {
    let sim = fast_sim(live()).await;
    let mut connection = logged_in_and_subscribed(&sim, RELIANCE).await;
    wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
    sim.sim.set_faults(Faults {
        heartbeats_only: true,
        ..Faults::default()
    });
    wait_for(&mut connection, |event| {
        (event == &TickerEvent::Heartbeat).then_some(())
    })
    .await;
    for _ in 0..5 {
        assert_eq!(connection.next_event().await, TickerEvent::Heartbeat);
    }
}

#[tokio::test]
async fn stall_fault_sends_nothing_at_all_on_an_open_socket() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    sim.sim.set_faults(Faults {
        stall: true,
        ..Faults::default()
    });
    let mut connection = open(&sim, &token).await;
    connection
        .send(&ClientRequest::Subscribe(vec![RELIANCE]))
        .await
        .unwrap();
    // Twenty tick intervals of silence; the socket is still open.
    let silence = tokio::time::timeout(Duration::from_millis(400), connection.next_event()).await;
    assert!(
        silence.is_err(),
        "a frame arrived during a stall: {silence:?}"
    );
    assert_eq!(sim.sim.open_connections(), 1);
    sim.sim.set_faults(Faults::default());
    wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
}

#[tokio::test]
async fn dropped_connections_close_and_a_fourth_connection_is_refused() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(open(&sim, &token).await);
    }
    let mut fourth = open(&sim, &token).await;
    assert_eq!(
        fourth.next_event().await,
        TickerEvent::Text(TextFrame::Error(
            "Maximum connections limit exceeded".into()
        ))
    );
    assert!(matches!(
        fourth.next_event().await,
        TickerEvent::Closed { .. }
    ));

    sim.sim.drop_connections();
    for connection in &mut connections {
        let code = wait_for(connection, closed_code).await;
        assert_eq!(code, None, "dropped without a close frame");
    }
}

#[tokio::test]
async fn slow_upgrade_fault_holds_the_handshake() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    sim.sim.set_faults(Faults {
        slow_upgrade_ms: 2_000,
        ..Faults::default()
    });
    let url = sim_ticker_url(&sim);
    let tls = tls();
    let attempt = tokio::time::timeout(
        Duration::from_millis(200),
        connect(&url, "marketwarden_sim", &token, &tls),
    );
    assert!(
        attempt.await.is_err(),
        "the handshake answered during a slow-upgrade fault"
    );
    sim.sim.set_faults(Faults::default());
    open(&sim, &token).await.close().await;
}

#[tokio::test]
async fn text_frames_clean_closes_and_server_pings_reach_the_client() {
    let sim = fast_sim(live()).await;
    let token = access_token(&sim.base).await;
    sim.sim.set_faults(Faults {
        ping_interval_ms: 20,
        ..Faults::default()
    });
    let mut connection = open(&sim, &token).await;
    connection
        .send(&ClientRequest::Subscribe(vec![RELIANCE]))
        .await
        .unwrap();
    // Pings are answered by the client library and never surface as events.
    wait_for(&mut connection, |event| tick_of(event, RELIANCE)).await;
    let http = crate::support::http().build().unwrap();
    let order =
        serde_json::json!({"type": "order", "data": {"order_id": "1", "status": "COMPLETE"}});
    let sent = http
        .post(format!("{}/_sim/send", sim.base))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 204);
    let update = wait_for(&mut connection, |event| match event {
        TickerEvent::Text(TextFrame::Order(data)) => Some(data.clone()),
        _ => None,
    })
    .await;
    assert_eq!(update["status"], "COMPLETE");
    let closed = http
        .post(format!("{}/_sim/close-connections", sim.base))
        .json(&serde_json::json!({"code": 1001}))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 204);
    assert_eq!(wait_for(&mut connection, closed_code).await, Some(1001));
}
