//! The shell under a paused clock, with a broker that answers from a script.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeDelta;
use futures_util::future::BoxFuture;

use super::session::parse_login_time;
use super::*;
use crate::clock::StartedClock;
use marketwarden_kite::rest::{ErrorType, Profile, Session};

/// Answers profile calls from a script (then with success), after `delay`.
#[derive(Default)]
struct ScriptedBroker {
    profile_answers: Mutex<VecDeque<Result<Profile, KiteError>>>,
    profile_calls: AtomicUsize,
    logout_calls: AtomicUsize,
    exchange_user: Mutex<Option<String>>,
    delay: Duration,
}

fn profile() -> Profile {
    Profile {
        user_id: "MW0001".into(),
        user_name: "Demo Trader".into(),
        email: None,
        broker: None,
    }
}

fn token_exception() -> KiteError {
    KiteError::Api {
        status: 403,
        error_type: ErrorType::Token,
        message: "Incorrect `api_key` or `access_token`.".into(),
    }
}

impl ScriptedBroker {
    fn answering(answers: Vec<Result<Profile, KiteError>>) -> Self {
        Self {
            profile_answers: Mutex::new(answers.into()),
            ..Self::default()
        }
    }

    fn profile_calls(&self) -> usize {
        self.profile_calls.load(Ordering::SeqCst)
    }
}

impl AuthBroker for ScriptedBroker {
    fn login_url(&self, redirect_params: &[(&str, &str)]) -> String {
        let params: Vec<String> = redirect_params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("https://kite.example/connect/login?{}", params.join("&"))
    }

    fn exchange<'a>(&'a self, request_token: &'a str) -> BoxFuture<'a, Result<Session, KiteError>> {
        Box::pin(async move {
            if request_token == "used" {
                return Err(token_exception());
            }
            let user_id = self
                .exchange_user
                .lock()
                .unwrap()
                .clone()
                .unwrap_or("MW0001".into());
            Ok(Session {
                user_id,
                user_name: "Demo Trader".into(),
                access_token: Secret::new(format!("token-for-{request_token}")),
                login_time: "2026-11-30 14:00:00".into(),
            })
        })
    }

    fn profile<'a>(&'a self, _token: &'a Secret) -> BoxFuture<'a, Result<Profile, KiteError>> {
        Box::pin(async move {
            self.profile_calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.profile_answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Ok(profile()))
        })
    }

    fn logout<'a>(&'a self, _token: &'a Secret) -> BoxFuture<'a, Result<(), KiteError>> {
        Box::pin(async move {
            self.logout_calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

use marketwarden_testkit::monday_at as ist;

struct Harness {
    service: Arc<AuthService>,
    broker: Arc<ScriptedBroker>,
    folder: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Harness {
    fn env_path(&self) -> PathBuf {
        self.folder.path().join(".env")
    }

    fn env_text(&self) -> String {
        std::fs::read_to_string(self.env_path()).unwrap_or_default()
    }

    fn state(&self) -> AuthState {
        self.service.lock().machine.state()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A started service whose clock reads `now`, with `env` as the `.env` file (none if `None`).
async fn start(now: DateTime<Utc>, env: Option<&str>, broker: ScriptedBroker) -> Harness {
    start_with_clock(Arc::new(StartedClock::starting_at(now)), env, broker).await
}

/// [`start`] with any clock.
async fn start_with_clock(
    clock: Arc<dyn Clock>,
    env: Option<&str>,
    broker: ScriptedBroker,
) -> Harness {
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join(".env");
    if let Some(text) = env {
        std::fs::write(&env_file, text).unwrap();
    }
    let broker = Arc::new(broker);
    let service = AuthService::new(
        AuthConfig {
            api_key: "key".into(),
            env_file,
            expected_user_id: Some("MW0001".into()),
            environment_token: None,
        },
        broker.clone(),
        clock,
    );
    let shutdown = CancellationToken::new();
    service
        .start(&crate::supervise::Supervisor::new(shutdown.clone()))
        .await;
    Harness {
        service,
        broker,
        folder,
        shutdown,
    }
}

/// Lets spawned tasks run (the clock is paused: no time passes).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// A started service with a saved token issued at `issued`, and a broker that accepts it.
async fn start_with_saved(now: DateTime<Utc>, issued: &str) -> Harness {
    start(now, Some(&saved(issued)), ScriptedBroker::default()).await
}

fn saved(issued: &str) -> String {
    format!("# mine\nZERODHA_ACCESS_TOKEN=abc123\nZERODHA_ACCESS_TOKEN_ISSUED_AT={issued}\n")
}

#[tokio::test(start_paused = true)]
async fn first_start_without_a_token_requires_a_login_and_asks_kite_nothing() {
    let harness = start(ist(8, 45), None, ScriptedBroker::default()).await;
    settle().await;
    let health = harness.service.health();
    assert_eq!(health.state, AuthState::Required);
    assert!(health.requires_login);
    assert_eq!(harness.broker.profile_calls(), 0);
    assert!(harness.service.credentials().borrow().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_saved_token_is_verified_at_start_and_given_to_the_ticker() {
    let harness = start_with_saved(ist(9, 0), "2026-11-30T08:50:00+05:30").await;
    let mut credentials = harness.service.credentials();
    assert_eq!(
        harness.state(),
        AuthState::Refreshing,
        "checked before trusted"
    );
    settle().await;
    assert_eq!(harness.state(), AuthState::Valid);
    assert_eq!(harness.broker.profile_calls(), 1);
    let given = credentials
        .borrow_and_update()
        .clone()
        .expect("credentials");
    assert_eq!(given.access_token.expose(), "abc123");
    let health = harness.service.health();
    assert_eq!(health.token_age_hours, Some(0.17));
    assert_eq!(health.user_id.as_deref(), Some("MW0001"));
}

#[tokio::test(start_paused = true)]
async fn a_valid_token_expires_at_0600_ist_by_itself() {
    let harness = start_with_saved(ist(14, 0), "2026-11-30T14:00:00+05:30").await;
    settle().await;
    assert_eq!(harness.state(), AuthState::Valid);
    let mut credentials = harness.service.credentials();
    // 16 h later: 05:59:59 the next day.
    tokio::time::advance(Duration::from_secs(16 * 3600 - 1)).await;
    settle().await;
    assert_eq!(harness.state(), AuthState::Valid);
    let calls = harness.broker.profile_calls();
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(
        harness.state(),
        AuthState::Expired,
        "the timekeeper fired at 06:00"
    );
    assert_eq!(
        harness.broker.profile_calls(),
        calls,
        "a clock that kept time is believed: Kite is not asked"
    );
    assert!(credentials.has_changed().unwrap());
    assert!(
        credentials.borrow_and_update().is_none(),
        "the ticker must stop using it"
    );
    assert!(
        harness
            .service
            .health()
            .reason
            .contains("06:00 IST cut-off")
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_from_0850_expires_by_the_20_hour_rule_at_0450() {
    let harness = start_with_saved(ist(8, 50), "2026-11-30T08:50:00+05:30").await;
    settle().await;
    tokio::time::advance(Duration::from_secs(20 * 3600 - 1)).await;
    settle().await;
    assert_eq!(harness.state(), AuthState::Valid);
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(harness.state(), AuthState::Expired);
    assert!(harness.service.health().reason.contains("older than 20 h"));
}

#[tokio::test(start_paused = true)]
async fn without_an_issue_time_the_file_time_counts() {
    // The file was just written: its modification time is the host's now, not the test clock,
    // so start the clock at the real file time.
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(".env");
    std::fs::write(&path, "ZERODHA_ACCESS_TOKEN=abc123\n").unwrap();
    let modified = DateTime::<Utc>::from(std::fs::metadata(&path).unwrap().modified().unwrap());
    let service = AuthService::new(
        AuthConfig {
            api_key: "key".into(),
            env_file: path,
            expected_user_id: None,
            environment_token: None,
        },
        Arc::new(ScriptedBroker::default()),
        Arc::new(StartedClock::starting_at(modified)),
    );
    let shutdown = CancellationToken::new();
    service
        .start(&crate::supervise::Supervisor::new(shutdown.clone()))
        .await;
    settle().await;
    // The rule applied to the file's time, whatever the time of day the test runs at (the
    // 06:00 IST cut-off may be minutes away).
    let expected = marketwarden_kite::next_flush_after(modified)
        .unwrap()
        .min(modified + machine::MAX_TOKEN_AGE);
    let expires_at = service.health().expires_at.expect("an expiry");
    assert!(
        (expires_at - expected).abs() <= TimeDelta::seconds(1),
        "{expires_at} against {expected}"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn network_trouble_never_logs_a_valid_token_out_and_is_counted() {
    let broker = ScriptedBroker::answering(vec![
        Ok(profile()),
        Err(KiteError::Transport("connection refused".into())),
        Err(KiteError::Api {
            status: 503,
            error_type: ErrorType::Network,
            message: "down".into(),
        }),
        Err(KiteError::Api {
            status: 429,
            error_type: ErrorType::Network,
            message: "Too many requests".into(),
        }),
        Err(KiteError::Timeout),
    ]);
    let harness = start(
        ist(10, 0),
        Some(&saved("2026-11-30T09:00:00+05:30")),
        broker,
    )
    .await;
    settle().await;
    for failures in 1..=4 {
        tokio::time::advance(VERIFY_MIN_INTERVAL).await;
        let health = harness.service.verify().await;
        assert_eq!(health.state, AuthState::Valid);
        assert_eq!(health.consecutive_failures, failures);
    }
    tokio::time::advance(VERIFY_MIN_INTERVAL).await;
    let health = harness.service.verify().await;
    assert_eq!(
        (health.state, health.consecutive_failures),
        (AuthState::Valid, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_token_is_retried_5_10_20_seconds_apart() {
    let outage = || Err(KiteError::Transport("connection refused".into()));
    let broker = ScriptedBroker::answering(vec![outage(), outage(), outage()]);
    let harness = start(
        ist(10, 0),
        Some(&saved("2026-11-30T09:00:00+05:30")),
        broker,
    )
    .await;
    settle().await;
    assert_eq!(
        (harness.state(), harness.broker.profile_calls()),
        (AuthState::Refreshing, 1)
    );
    for (wait, calls) in [(5, 2), (10, 3), (20, 4)] {
        tokio::time::advance(Duration::from_secs(wait) - Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(
            harness.broker.profile_calls(),
            calls - 1,
            "not before {wait} s"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(harness.broker.profile_calls(), calls, "at {wait} s");
    }
    assert_eq!(
        harness.state(),
        AuthState::Valid,
        "the fourth answer was a success"
    );
}

#[tokio::test(start_paused = true)]
async fn a_403_mid_day_expires_the_token() {
    let broker = ScriptedBroker::answering(vec![Ok(profile()), Err(token_exception())]);
    let harness = start(
        ist(11, 0),
        Some(&saved("2026-11-30T09:00:00+05:30")),
        broker,
    )
    .await;
    settle().await;
    tokio::time::advance(VERIFY_MIN_INTERVAL).await;
    let health = harness.service.verify().await;
    assert_eq!(health.state, AuthState::Expired);
    assert!(health.requires_login);
    assert!(harness.service.credentials().borrow().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_ticker_403_expires_the_current_token_only() {
    let harness = start_with_saved(ist(11, 0), "2026-11-30T09:00:00+05:30").await;
    settle().await;
    let generation = harness
        .service
        .credentials()
        .borrow()
        .clone()
        .unwrap()
        .generation;
    harness.service.report_ticker_rejected(generation + 1);
    assert_eq!(
        harness.state(),
        AuthState::Valid,
        "a late report about another token"
    );
    harness.service.report_ticker_rejected(generation);
    assert_eq!(harness.state(), AuthState::Expired);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_verifies_make_one_broker_call() {
    let broker = ScriptedBroker {
        delay: Duration::from_millis(300),
        ..ScriptedBroker::default()
    };
    let harness = start(
        ist(11, 0),
        Some(&saved("2026-11-30T09:00:00+05:30")),
        broker,
    )
    .await;
    // Paused: this sleep only lets virtual time pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(harness.broker.profile_calls(), 1, "the start-up check");
    assert_eq!(harness.state(), AuthState::Valid);
    tokio::time::sleep(VERIFY_MIN_INTERVAL).await;
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let service = harness.service.clone();
            tokio::spawn(async move { service.verify().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().state, AuthState::Valid);
    }
    assert_eq!(
        harness.broker.profile_calls(),
        2,
        "one more call for all hundred"
    );
    // And never more than one call per interval.
    tokio::time::advance(VERIFY_MIN_INTERVAL - Duration::from_millis(400)).await;
    harness.service.verify().await;
    assert_eq!(harness.broker.profile_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_valid_token_is_rechecked_every_15_minutes() {
    let harness = start_with_saved(ist(11, 0), "2026-11-30T09:00:00+05:30").await;
    settle().await;
    tokio::time::advance(REVERIFY_INTERVAL).await;
    settle().await;
    assert_eq!(harness.broker.profile_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_login_saves_the_token_and_a_replay_changes_nothing() {
    let harness = start(
        ist(14, 0),
        Some("# keep\nOTHER=1\n"),
        ScriptedBroker::default(),
    )
    .await;
    let start = harness.service.begin_login();
    assert!(
        start.url.ends_with(&format!("state={}", start.state)),
        "{}",
        start.url
    );
    let query = vec![
        ("request_token".to_string(), "rt1".to_string()),
        ("status".to_string(), "success".to_string()),
        ("state".to_string(), start.state.clone()),
    ];
    let health = harness
        .service
        .complete_login(&query, Some(&start.state))
        .await
        .unwrap();
    assert_eq!(health.state, AuthState::Valid);
    assert_eq!(
        harness.env_text(),
        "# keep\nOTHER=1\nZERODHA_ACCESS_TOKEN=token-for-rt1\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T14:00:00+05:30\n"
    );
    assert_eq!(health.expires_at, Some(ist(6, 0) + TimeDelta::days(1)));
    let replay = harness
        .service
        .complete_login(&query, Some(&start.state))
        .await;
    assert_eq!(replay.unwrap_err(), LoginError::UnknownState);
    assert_eq!(harness.state(), AuthState::Valid);
}

#[tokio::test(start_paused = true)]
async fn a_refused_or_foreign_login_changes_nothing() {
    let harness = start(ist(14, 0), None, ScriptedBroker::default()).await;
    let login = |token: &str, state: &str| {
        vec![
            ("request_token".to_string(), token.to_string()),
            ("state".to_string(), state.to_string()),
        ]
    };
    let start = harness.service.begin_login();
    let refused = harness
        .service
        .complete_login(&login("used", &start.state), Some(&start.state))
        .await;
    assert!(
        matches!(refused, Err(LoginError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(harness.state(), AuthState::Required);
    assert_eq!(harness.service.health().consecutive_failures, 1);

    *harness.broker.exchange_user.lock().unwrap() = Some("ZZ9999".into());
    let start = harness.service.begin_login();
    let foreign = harness
        .service
        .complete_login(&login("rt", &start.state), Some(&start.state))
        .await;
    assert_eq!(
        foreign.unwrap_err(),
        LoginError::WrongUser {
            expected: "MW0001".into(),
            actual: "ZZ9999".into()
        }
    );
    assert_eq!(
        harness.broker.logout_calls.load(Ordering::SeqCst),
        1,
        "the foreign session is given back"
    );
    assert_eq!(harness.state(), AuthState::Required);
    assert_eq!(harness.env_text(), "", "nothing saved");
}

#[tokio::test(start_paused = true)]
async fn logout_forgets_the_token_here_in_the_file_and_at_kite() {
    let harness = start_with_saved(ist(11, 0), "2026-11-30T09:00:00+05:30").await;
    settle().await;
    let (health, invalidated) = harness.service.logout().await;
    assert_eq!(health.state, AuthState::Required);
    assert!(invalidated);
    assert_eq!(harness.broker.logout_calls.load(Ordering::SeqCst), 1);
    assert_eq!(harness.env_text(), "# mine\n");
    assert!(harness.service.credentials().borrow().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_token_from_the_environment_is_used_when_the_file_has_none() {
    let folder = tempfile::tempdir().unwrap();
    let service = AuthService::new(
        AuthConfig {
            api_key: "key".into(),
            env_file: folder.path().join(".env"),
            expected_user_id: None,
            environment_token: Some(Secret::new("from-env")),
        },
        Arc::new(ScriptedBroker::default()),
        Arc::new(StartedClock::starting_at(ist(9, 0))),
    );
    let shutdown = CancellationToken::new();
    service
        .start(&crate::supervise::Supervisor::new(shutdown.clone()))
        .await;
    settle().await;
    let health = service.health();
    assert_eq!((health.state, health.expires_at), (AuthState::Valid, None));
    shutdown.cancel();
}

#[test]
fn kite_login_time_is_read_as_ist() {
    assert_eq!(parse_login_time("2026-11-30 14:00:00"), Some(ist(14, 0)));
    assert_eq!(parse_login_time("yesterday"), None);
}

#[test]
fn only_a_refused_token_is_an_auth_failure() {
    assert!(matches!(
        classify(1, &token_exception()),
        AuthEvent::Rejected { .. }
    ));
    for error in [
        KiteError::Timeout,
        KiteError::Transport("reset".into()),
        KiteError::UnexpectedResponse {
            status: 502,
            content_type: "text/html".into(),
        },
        KiteError::Api {
            status: 500,
            error_type: ErrorType::General,
            message: "x".into(),
        },
        KiteError::Api {
            status: 429,
            error_type: ErrorType::Network,
            message: "x".into(),
        },
    ] {
        assert!(
            matches!(classify(1, &error), AuthEvent::Unreachable { .. }),
            "{error}"
        );
    }
}

/// A clock that can be stepped like NTP does, on top of the paused tokio clock.
struct SteppedClock {
    base: StartedClock,
    step: Mutex<TimeDelta>,
}

impl Clock for SteppedClock {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + *self.step.lock().unwrap()
    }
}

/// The wall clock jumps a day forward at 10:00 (a laptop waking up, an NTP step): the token
/// looks past its 06:00 cut-off, so Kite is asked, accepts it, and the session goes on.
#[tokio::test(start_paused = true)]
async fn a_forward_clock_jump_is_checked_with_kite_and_a_good_token_survives() {
    let clock = Arc::new(SteppedClock {
        base: StartedClock::starting_at(ist(10, 0)),
        step: Mutex::new(TimeDelta::zero()),
    });
    let harness = start_with_clock(
        clock.clone(),
        Some(&saved("2026-11-30T08:50:00+05:30")),
        ScriptedBroker::default(),
    )
    .await;
    let (service, broker) = (&harness.service, &harness.broker);
    settle().await;
    assert_eq!(service.health().state, AuthState::Valid);
    let calls = broker.profile_calls();
    *clock.step.lock().unwrap() = TimeDelta::days(1);
    // The timekeeper notices at its next wake-up (at most a minute later).
    tokio::time::advance(Duration::from_secs(61)).await;
    settle().await;
    let health = service.health();
    assert_eq!(health.state, AuthState::Valid, "{health:?}");
    assert!(
        health.reason.contains("clock may have jumped"),
        "{}",
        health.reason
    );
    assert_eq!(broker.profile_calls(), calls + 1);
    assert!(
        service.credentials().borrow().is_some(),
        "the ticker keeps it"
    );
    assert!(
        !service.clock_jumped(),
        "Kite settled the jump: the next expiry is judged from here"
    );
}

/// A token only the ticker refused (403) is withheld from it; the 15-minute re-check asks Kite,
/// which still accepts it, and the ticker gets it back under a new generation: one more try.
/// Had Kite refused it too, the re-checks would stop.
#[tokio::test(start_paused = true)]
async fn the_recheck_hands_a_token_kite_still_accepts_back_to_the_ticker() {
    let harness = start_with_saved(ist(11, 0), "2026-11-30T09:00:00+05:30").await;
    settle().await;
    let mut credentials = harness.service.credentials();
    let first = credentials.borrow_and_update().clone().expect("given");
    harness.service.report_ticker_rejected(first.generation);
    assert_eq!(harness.state(), AuthState::Expired);
    assert!(credentials.borrow_and_update().is_none(), "withheld");
    let calls = harness.broker.profile_calls();
    tokio::time::advance(REVERIFY_INTERVAL).await;
    settle().await;
    assert_eq!(harness.broker.profile_calls(), calls + 1, "Kite was asked");
    assert_eq!(harness.state(), AuthState::Valid);
    let again = credentials
        .borrow_and_update()
        .clone()
        .expect("handed back");
    assert_eq!(again.access_token, first.access_token);
    assert_ne!(again.generation, first.generation, "a new generation");

    // Refused by the ticker again, and this time by Kite too: no more re-checks for it.
    harness.service.report_ticker_rejected(again.generation);
    harness
        .broker
        .profile_answers
        .lock()
        .unwrap()
        .push_back(Err(token_exception()));
    tokio::time::advance(REVERIFY_INTERVAL).await;
    settle().await;
    let calls = harness.broker.profile_calls();
    tokio::time::advance(REVERIFY_INTERVAL * 2).await;
    settle().await;
    assert_eq!(
        harness.broker.profile_calls(),
        calls,
        "a dead token is not re-checked"
    );
    assert!(harness.service.credentials().borrow().is_none());
}
