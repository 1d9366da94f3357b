use super::*;

const MAX: f64 = 1.0;

fn settings() -> FeedSettings {
    FeedSettings::default()
}

/// A machine in trading hours with token 1, and the instant it started.
fn wanting() -> (FeedMachine, Instant) {
    let now = Instant::now();
    let mut machine = FeedMachine::new(settings());
    machine.handle(
        FeedEvent::MarketWindow {
            open: true,
            live: false,
        },
        now,
        MAX,
    );
    (machine, now)
}

fn with_token(machine: &mut FeedMachine, now: Instant) -> FeedStep {
    machine.handle(
        FeedEvent::Credentials {
            generation: Some(1),
        },
        now,
        MAX,
    )
}

/// Open, and the first frame arrived.
fn connected() -> (FeedMachine, Instant) {
    let (mut machine, now) = wanting();
    with_token(&mut machine, now);
    machine.handle(FeedEvent::Connected, now, MAX);
    machine.handle(FeedEvent::Frame, now, MAX);
    (machine, now)
}

fn refused(machine: &mut FeedMachine, now: Instant) -> FeedStep {
    machine.handle(
        FeedEvent::ConnectFailed {
            auth: false,
            reason: "503".into(),
        },
        now,
        MAX,
    )
}

#[test]
fn outside_trading_hours_nothing_connects() {
    let now = Instant::now();
    let mut machine = FeedMachine::new(settings());
    let step = with_token(&mut machine, now);
    assert!(step.actions.is_empty());
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(machine.reason(), "outside trading hours");
    assert_eq!(machine.next_deadline(), None);
}

#[test]
fn without_a_token_nothing_connects() {
    let (machine, _) = wanting();
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(machine.reason(), "waiting for a Kite login");
}

#[test]
fn trading_hours_and_a_token_connect() {
    let (mut machine, now) = wanting();
    let step = with_token(&mut machine, now);
    assert_eq!(step.actions, [FeedAction::Connect { generation: 1 }]);
    assert_eq!(machine.state(), FeedState::Connecting);
    machine.handle(FeedEvent::Connected, now, MAX);
    assert_eq!(
        machine.state(),
        FeedState::Connecting,
        "open, but no data yet"
    );
    assert!(!machine.is_healthy());
    machine.handle(FeedEvent::Frame, now, MAX);
    assert_eq!(machine.state(), FeedState::Connected);
    assert!(machine.is_healthy());
}

#[test]
fn a_connection_that_opens_and_never_sends_is_a_failure_with_backoff() {
    let (mut machine, now) = wanting();
    with_token(&mut machine, now);
    machine.handle(FeedEvent::Connected, now, MAX);
    let deadline = now + settings().stale_threshold;
    assert_eq!(machine.next_deadline(), Some(deadline));
    let step = machine.handle(FeedEvent::Tick, deadline, MAX);
    assert_eq!(step.actions, [FeedAction::Disconnect]);
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(machine.failures(), 1);
    let retry = (deadline + Duration::from_secs(5), Duration::from_secs(5));
    assert_eq!(machine.retry(), Some(retry));
    assert!(
        machine
            .reason()
            .starts_with("no frame for 10.000 s after opening")
    );
}

#[test]
fn stale_exactly_at_the_threshold_and_replaced_at_once() {
    let (mut machine, start) = connected();
    let threshold = settings().stale_threshold;
    machine.handle(FeedEvent::Frame, start + Duration::from_secs(3), MAX);
    let deadline = start + Duration::from_secs(3) + threshold;
    assert_eq!(
        machine.next_deadline(),
        Some(deadline),
        "reset by every frame"
    );
    let step = machine.handle(FeedEvent::Tick, deadline - Duration::from_nanos(1), MAX);
    assert_eq!(
        (machine.state(), step.actions),
        (FeedState::Connected, vec![])
    );
    let step = machine.handle(FeedEvent::Tick, deadline, MAX);
    assert_eq!(machine.state(), FeedState::Stale);
    assert_eq!(
        step.actions,
        [
            FeedAction::Disconnect,
            FeedAction::Connect { generation: 1 }
        ]
    );
    assert!(
        machine.reason().starts_with("no frame for 10.000 s"),
        "{}",
        machine.reason()
    );
    machine.handle(FeedEvent::Connected, deadline, MAX);
    assert_eq!(machine.state(), FeedState::Stale, "until data flows again");
    assert!(
        machine.reason().starts_with("no frame for"),
        "the reason stays with the state"
    );
    machine.handle(FeedEvent::Frame, deadline, MAX);
    assert_eq!(machine.state(), FeedState::Connected);
    assert_eq!(machine.reconnects(), 1);
}

#[test]
fn a_connection_that_never_sends_is_stale_from_its_opening() {
    let (machine, start) = connected();
    assert_eq!(
        machine.next_deadline(),
        Some(start + settings().stale_threshold)
    );
}

#[test]
fn backoff_doubles_from_the_reconnect_delay_to_the_cap_and_errors_after_the_limit() {
    let (mut machine, mut now) = wanting();
    with_token(&mut machine, now);
    let mut waits = Vec::new();
    let mut states = Vec::new();
    for _ in 0..12 {
        refused(&mut machine, now);
        let (at, wait) = machine.retry().expect("a retry");
        waits.push(wait.as_secs());
        states.push(machine.state());
        assert_eq!(
            machine
                .handle(FeedEvent::Tick, at - Duration::from_nanos(1), MAX)
                .actions,
            []
        );
        now = at;
        let step = machine.handle(FeedEvent::Tick, now, MAX);
        assert_eq!(step.actions, [FeedAction::Connect { generation: 1 }]);
    }
    assert_eq!(waits, [5, 10, 20, 40, 60, 60, 60, 60, 60, 60, 60, 60]);
    assert_eq!(states[8], FeedState::Disconnected);
    assert_eq!(states[9], FeedState::Error, "the 10th failure in a row");
    assert_eq!(machine.state(), FeedState::Error, "still retrying");
    machine.handle(FeedEvent::Connected, now, MAX);
    assert_eq!(
        machine.state(),
        FeedState::Error,
        "still ERROR until data flows"
    );
    machine.handle(FeedEvent::Frame, now, MAX);
    assert_eq!(
        (machine.state(), machine.failures()),
        (FeedState::Connected, 12),
        "data flows, but the link has yet to prove itself"
    );
    let later = now + settings().stale_threshold;
    machine.handle(FeedEvent::Frame, later, MAX);
    assert_eq!(
        (machine.state(), machine.failures()),
        (FeedState::Connected, 0),
        "a link that lived a stale threshold ends the failures in a row"
    );
    refused_after_drop(&mut machine, later);
}

#[test]
fn a_link_that_sends_and_drops_at_once_keeps_backing_off() {
    let (mut machine, mut now) = wanting();
    with_token(&mut machine, now);
    let mut waits = Vec::new();
    for _ in 0..4 {
        machine.handle(FeedEvent::Connected, now, MAX);
        machine.handle(FeedEvent::Frame, now, MAX);
        assert_eq!(machine.state(), FeedState::Connected);
        now += Duration::from_secs(1);
        machine.handle(
            FeedEvent::Closed {
                reason: "dropped".into(),
            },
            now,
            MAX,
        );
        let (at, wait) = machine.retry().expect("a retry");
        waits.push(wait.as_secs());
        now = at;
        let step = machine.handle(FeedEvent::Tick, now, MAX);
        assert_eq!(step.actions, [FeedAction::Connect { generation: 1 }]);
    }
    assert_eq!(waits, [5, 10, 20, 40]);
}

/// After recovery, the backoff starts again from the first step.
fn refused_after_drop(machine: &mut FeedMachine, now: Instant) {
    let later = now + Duration::from_secs(60);
    let step = machine.handle(
        FeedEvent::Closed {
            reason: "reset".into(),
        },
        later,
        MAX,
    );
    assert_eq!(
        step.actions,
        [FeedAction::Connect { generation: 1 }],
        "a healthy link reconnects at once"
    );
    refused(machine, later);
    assert_eq!(machine.retry().unwrap().1, Duration::from_secs(5));
}

#[test]
fn a_403_reports_the_token_and_makes_one_attempt_per_token_change() {
    let (mut machine, now) = wanting();
    with_token(&mut machine, now);
    let step = machine.handle(
        FeedEvent::ConnectFailed {
            auth: true,
            reason: "403".into(),
        },
        now,
        MAX,
    );
    assert_eq!(
        step.actions,
        [FeedAction::ReportAuthRejected { generation: 1 }]
    );
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(
        machine.next_deadline(),
        None,
        "no retry with a refused token"
    );
    for later in 1..100 {
        let at = now + Duration::from_secs(later * 60);
        assert!(machine.handle(FeedEvent::Tick, at, MAX).actions.is_empty());
        let window = machine.handle(
            FeedEvent::MarketWindow {
                open: true,
                live: false,
            },
            at,
            MAX,
        );
        assert!(window.actions.is_empty());
    }
    // The auth machine withdraws the token, then a login brings a new one.
    machine.handle(FeedEvent::Credentials { generation: None }, now, MAX);
    let step = machine.handle(
        FeedEvent::Credentials {
            generation: Some(2),
        },
        now,
        MAX,
    );
    assert_eq!(step.actions, [FeedAction::Connect { generation: 2 }]);
}

#[test]
fn a_new_token_replaces_an_open_connection_and_skips_the_backoff() {
    let (mut machine, now) = connected();
    let step = machine.handle(
        FeedEvent::Credentials {
            generation: Some(2),
        },
        now,
        MAX,
    );
    assert_eq!(
        step.actions,
        [
            FeedAction::Disconnect,
            FeedAction::Connect { generation: 2 }
        ]
    );
    refused(&mut machine, now);
    refused_again_then_new_token(&mut machine, now);
}

fn refused_again_then_new_token(machine: &mut FeedMachine, now: Instant) {
    assert!(machine.retry().is_some());
    let step = machine.handle(
        FeedEvent::Credentials {
            generation: Some(3),
        },
        now,
        MAX,
    );
    assert_eq!(
        step.actions,
        [FeedAction::Connect { generation: 3 }],
        "at once"
    );
    assert_eq!(machine.retry(), None);
}

#[test]
fn a_withdrawn_token_keeps_an_open_stream_but_never_reconnects_with_it() {
    let (mut machine, now) = connected();
    let step = machine.handle(FeedEvent::Credentials { generation: None }, now, MAX);
    assert!(step.actions.is_empty());
    assert_eq!(machine.state(), FeedState::Connected);
    let step = machine.handle(
        FeedEvent::Closed {
            reason: "reset".into(),
        },
        now + Duration::from_secs(30),
        MAX,
    );
    assert!(step.actions.is_empty());
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(machine.reason(), "waiting for a Kite login");
}

#[test]
fn the_close_of_trading_hours_disconnects_on_purpose() {
    let (mut machine, now) = connected();
    let step = machine.handle(
        FeedEvent::MarketWindow {
            open: false,
            live: false,
        },
        now,
        MAX,
    );
    assert_eq!(step.actions, [FeedAction::Disconnect]);
    assert_eq!(machine.state(), FeedState::Disconnected);
    assert_eq!(step.transition.unwrap().reason, "outside trading hours");
    // A late close of that connection changes nothing.
    let step = machine.handle(
        FeedEvent::Closed {
            reason: "closed".into(),
        },
        now,
        MAX,
    );
    assert!(step.actions.is_empty() && step.transition.is_none());
}

#[test]
fn a_link_that_flaps_backs_off() {
    let (mut machine, now) = connected();
    let step = machine.handle(
        FeedEvent::Closed {
            reason: "limit".into(),
        },
        now + Duration::from_secs(1),
        MAX,
    );
    assert!(step.actions.is_empty());
    assert_eq!(machine.failures(), 1);
    assert!(machine.retry().is_some());
}

#[test]
fn late_answers_of_an_abandoned_attempt_are_ignored() {
    let (mut machine, now) = wanting();
    machine.handle(FeedEvent::Connected, now, MAX);
    assert_eq!(machine.state(), FeedState::Disconnected);
    refused(&mut machine, now);
    assert_eq!(machine.failures(), 0);
}

#[test]
fn a_requested_reconnect_replaces_the_link_and_skips_the_backoff() {
    let (mut machine, now) = connected();
    let step = machine.handle(FeedEvent::ReconnectRequested, now, MAX);
    assert_eq!(
        step.actions,
        [
            FeedAction::Disconnect,
            FeedAction::Connect { generation: 1 }
        ]
    );
    assert_eq!(machine.state(), FeedState::Connecting);
    refused(&mut machine, now);
    assert!(machine.retry().is_some());
    let step = machine.handle(FeedEvent::ReconnectRequested, now, MAX);
    assert_eq!(step.actions, [FeedAction::Connect { generation: 1 }]);
    assert_eq!(machine.failures_total(), 1);
    // Outside trading hours a request does nothing.
    machine.handle(
        FeedEvent::MarketWindow {
            open: false,
            live: false,
        },
        now,
        MAX,
    );
    assert!(
        machine
            .handle(FeedEvent::ReconnectRequested, now, MAX)
            .actions
            .is_empty()
    );
}

#[test]
fn an_open_socket_outlives_its_token_across_market_window_events() {
    let (mut machine, now) = connected();
    machine.handle(FeedEvent::Credentials { generation: None }, now, MAX);
    // The shell reports the market window on every turn of its loop.
    for _ in 0..3 {
        let step = machine.handle(
            FeedEvent::MarketWindow {
                open: true,
                live: false,
            },
            now,
            MAX,
        );
        assert!(step.actions.is_empty(), "{:?}", step.actions);
    }
    assert_eq!(machine.state(), FeedState::Connected);
    machine.handle(FeedEvent::Frame, now, MAX);
    assert_eq!(machine.state(), FeedState::Connected);
    // Trading hours end: now it goes.
    let step = machine.handle(
        FeedEvent::MarketWindow {
            open: false,
            live: false,
        },
        now,
        MAX,
    );
    assert_eq!(step.actions, [FeedAction::Disconnect]);
    assert_eq!(machine.state(), FeedState::Disconnected);
}

#[test]
fn a_refused_token_handed_back_under_a_new_generation_gets_one_more_attempt() {
    let (mut machine, now) = wanting();
    with_token(&mut machine, now);
    let step = machine.handle(
        FeedEvent::ConnectFailed {
            auth: true,
            reason: "403".into(),
        },
        now,
        MAX,
    );
    assert_eq!(
        step.actions,
        [FeedAction::ReportAuthRejected { generation: 1 }]
    );
    assert_eq!(
        machine.why_not_connecting(true),
        Some("the ticker refused this token: log in again, or verify it with Kite")
    );
    // The auth machine withdraws the token; handing the same generation back changes nothing.
    machine.handle(FeedEvent::Credentials { generation: None }, now, MAX);
    let step = with_token(&mut machine, now);
    assert!(step.actions.is_empty(), "{:?}", step.actions);
    // Once Kite confirmed it, the auth machine hands it back under a new generation.
    let step = machine.handle(
        FeedEvent::Credentials {
            generation: Some(2),
        },
        now,
        MAX,
    );
    assert_eq!(step.actions, [FeedAction::Connect { generation: 2 }]);
    // Refused again: no third attempt until the next confirmation.
    machine.handle(
        FeedEvent::ConnectFailed {
            auth: true,
            reason: "403".into(),
        },
        now,
        MAX,
    );
    let later = now + Duration::from_secs(600);
    let step = machine.handle(FeedEvent::Tick, later, MAX);
    assert!(step.actions.is_empty(), "{:?}", step.actions);
    assert!(!machine.wants_connection());
}

#[test]
fn why_not_connecting_names_each_reason() {
    let mut machine = FeedMachine::new(settings());
    let now = Instant::now();
    assert_eq!(
        machine.why_not_connecting(false),
        Some("outside trading hours: the feed connects before pre-open")
    );
    assert_eq!(
        machine.why_not_connecting(true),
        Some("no usable Kite token: log in first")
    );
    with_token(&mut machine, now);
    assert_eq!(machine.why_not_connecting(true), None);
}

#[test]
fn a_logout_closes_the_open_socket_that_a_dying_token_would_keep() {
    let (mut machine, now) = connected();
    let step = machine.handle(FeedEvent::LoggedOut, now, MAX);
    assert_eq!(step.actions, [FeedAction::Disconnect]);
    assert_eq!(machine.state(), FeedState::Disconnected);
    let step = machine.handle(
        FeedEvent::MarketWindow {
            open: true,
            live: false,
        },
        now,
        MAX,
    );
    assert!(step.actions.is_empty(), "no token: nothing reopens");
}
