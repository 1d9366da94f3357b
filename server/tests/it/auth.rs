//! The auth machine end to end against the simulator: real HTTP, the simulator's login page,
//! real `.env` files, and a scan for secrets in every body and log line.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use kite_sim::{Faults, SimConfig};
use marketwarden_core::AuthState;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteEndpoints;
use marketwarden_server::auth::broker::KiteBroker;
use marketwarden_server::auth::{AuthConfig, AuthService, TickerCredentials};
use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::supervise::Supervisor;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::support::{self, ManualClock, Sim, client, morning, secret, start_sim_with};

/// Our server with its auth machine, a simulator, and every body the test read.
struct Server {
    base: String,
    sim: Sim,
    auth: Arc<AuthService>,
    env_file: PathBuf,
    _folder: tempfile::TempDir,
    shutdown: CancellationToken,
    http: reqwest::Client,
    bodies: Mutex<Vec<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the simulator (sending logins back to our server) and our server, at `now`, with
/// `env` as the `.env` file.
async fn start_at(now: DateTime<Utc>, env: Option<&str>) -> Server {
    support::capture_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = SimConfig {
        redirect_url: format!("http://{addr}/auth/callback"),
        ..SimConfig::default()
    };
    let sim = start_sim_with(config, now).await;
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join(".env");
    if let Some(text) = env {
        std::fs::write(&env_file, text).unwrap();
    }
    let shutdown = CancellationToken::new();
    let auth = start_auth(&sim, env_file.clone(), &shutdown).await;
    let clock = Arc::new(sim.clock.clone());
    let state = marketwarden_server::doubles::state_with_auth(
        clock,
        Arc::new(CalendarStore::builtin()),
        auth.clone(),
    );
    let serving = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, support::scanned_app(state))
            .with_graceful_shutdown(serving.cancelled_owned())
            .await
    });
    Server {
        base: format!("http://{addr}"),
        sim,
        auth,
        env_file,
        _folder: folder,
        shutdown,
        http: crate::support::http()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        bodies: Mutex::new(Vec::new()),
    }
}

async fn start_auth(
    sim: &Sim,
    env_file: PathBuf,
    shutdown: &CancellationToken,
) -> Arc<AuthService> {
    let broker = KiteBroker::new(client(&sim.base), secret());
    let auth = AuthService::new(
        AuthConfig {
            api_key: SimConfig::default().api_key,
            env_file,
            expected_user_id: Some("MW0001".into()),
            environment_token: None,
        },
        Arc::new(broker),
        Arc::new(sim.clock.clone()),
    );
    auth.start(&Supervisor::new(shutdown.clone())).await;
    auth
}

/// The answer of one request, its body recorded for the secret scan.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

impl Server {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|value| value.to_str().unwrap().to_string())
        };
        let (status, location, set_cookie) =
            (response.status(), header("location"), header("set-cookie"));
        let body = response.text().await.unwrap();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            location,
            set_cookie,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn auth_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/api/system/health/auth").await.body).unwrap()
    }

    /// The auth object once `done` holds (at most 5 s).
    async fn auth_until(&self, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let found = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let auth = self.auth_json().await;
                if done(&auth) {
                    return auth;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("never reached: {}", self.auth.health().reason))
    }

    async fn verify(&self) -> serde_json::Value {
        let answer = self
            .send(
                self.http
                    .post(format!("{}/api/system/health/auth/verify", self.base)),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        serde_json::from_str(&answer.body).unwrap()
    }

    /// `GET /auth/login` → the simulator's login page → its form → the callback URL. Returns
    /// the callback URL and the login cookie, without following the callback.
    async fn log_in_at_kite(&self) -> (String, String) {
        let start = self.get("/auth/login").await;
        assert_eq!(start.status, StatusCode::FOUND);
        let cookie = start.set_cookie.expect("a login cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_string();
        let login_url = start.location.expect("to Kite's login page");
        assert!(login_url.starts_with(&format!("{}/connect/login?v=3&api_key=", self.sim.base)));
        assert!(
            login_url.contains("&redirect_params=state%3D"),
            "{login_url}"
        );
        let page = self.send(self.http.get(&login_url)).await;
        assert_eq!(page.status, StatusCode::OK);
        let form = support::login_form(&page.body);
        let submitted = self
            .send(
                self.http
                    .post(format!("{}/connect/login", self.sim.base))
                    .form(&form),
            )
            .await;
        assert_eq!(submitted.status, StatusCode::FOUND);
        let callback = submitted.location.expect("back to our callback");
        assert!(
            callback.starts_with(&format!("{}/auth/callback?", self.base)),
            "{callback}"
        );
        (callback, cookie)
    }

    async fn callback(&self, url: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request).await
    }

    /// A whole login, as a browser makes it.
    async fn log_in(&self) -> Answer {
        let (callback, cookie) = self.log_in_at_kite().await;
        self.callback(&callback, Some(&cookie)).await
    }

    fn env_text(&self) -> String {
        std::fs::read_to_string(&self.env_file).unwrap_or_default()
    }

    fn saved_token(&self) -> Option<String> {
        self.env_text()
            .lines()
            .find_map(|line| line.strip_prefix("ZERODHA_ACCESS_TOKEN="))
            .map(str::to_string)
    }

    /// Every body and log line so far holds neither the API secret nor any token the simulator
    /// issued.
    fn assert_no_secrets(&self) {
        let mut secrets = self.sim.sim.issued_tokens();
        secrets.push(SimConfig::default().api_secret.expose().to_string());
        let bodies = self.bodies.lock().unwrap();
        let logs = support::captured_logs();
        for secret in &secrets {
            for body in bodies.iter() {
                assert!(
                    !body.contains(secret.as_str()),
                    "a secret in a response body: {body}"
                );
            }
            assert!(!logs.contains(secret.as_str()), "a secret in the logs");
        }
    }
}

fn state_of(json: &serde_json::Value) -> &str {
    json["state"].as_str().unwrap()
}

/// Waits (at most 5 s) until the ticker's credentials satisfy `done`.
async fn credentials_until(
    auth: &AuthService,
    mut done: impl FnMut(&Option<TickerCredentials>) -> bool,
) -> Option<TickerCredentials> {
    let mut credentials = auth.credentials();
    let waited =
        tokio::time::timeout(Duration::from_secs(5), credentials.wait_for(|c| done(c))).await;
    waited.expect("in time").expect("the service runs").clone()
}

/// Waits (at most 5 s) until the auth machine is in `state`.
async fn state_until(auth: &AuthService, state: AuthState) {
    let reached = tokio::time::timeout(Duration::from_secs(5), async {
        while auth.health().state != state {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "never {state:?}: {:?}", auth.health());
}

/// Monday 2026-11-30 at 14:00 IST.
fn afternoon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 30, 0).unwrap()
}

#[tokio::test]
async fn first_start_without_a_token_offers_a_login() {
    let server = start_at(morning(), None).await;
    let auth = server.auth_json().await;
    assert_eq!(state_of(&auth), "required");
    assert_eq!(auth["requires_login"], true);
    assert_eq!(auth["is_valid"], false);
    let page = server.get("/").await;
    assert!(
        page.body.contains(r#"data-testid="login-button""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"href="/auth/login""#));
    assert_eq!(server.sim.sim.profile_calls(), 0, "nothing to ask Kite");
    server.assert_no_secrets();
}

#[tokio::test]
async fn login_end_to_end_saves_a_working_token_and_returns_to_the_dashboard() {
    let server = start_at(morning(), Some("# operator's notes\nOTHER=kept\n")).await;
    let done = server.log_in().await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    assert!(
        done.set_cookie.unwrap().contains("Max-Age=0"),
        "the login cookie is cleared"
    );
    let auth = server.auth_json().await;
    assert_eq!(state_of(&auth), "valid");
    assert_eq!(auth["user_id"], "MW0001");
    assert_eq!(auth["token_age_hours"], 0.0);
    assert_eq!(
        auth["expires_at"], "2026-11-30T23:15:00Z",
        "08:45 IST + 20 h"
    );
    let token = server.saved_token().expect("saved");
    assert!(server.sim.sim.access_token_is_valid(&token));
    assert!(
        server
            .env_text()
            .starts_with("# operator's notes\nOTHER=kept\nZERODHA_ACCESS_TOKEN=")
    );
    assert!(
        server
            .env_text()
            .contains("ZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:45:00+05:30\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&server.env_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let given = server
        .auth
        .credentials()
        .borrow()
        .clone()
        .expect("the ticker may connect");
    assert_eq!(given.access_token.expose(), token);
    let page = server.get("/").await;
    assert!(!page.body.contains("login-button"), "{}", page.body);
    server.assert_no_secrets();
}

#[tokio::test]
async fn forged_replayed_and_foreign_callbacks_change_nothing() {
    let server = start_at(morning(), None).await;
    let before = server.auth_json().await;
    // Forged: a state marketwarden never issued.
    let (callback, cookie) = server.log_in_at_kite().await;
    let forged = callback.replace("state=", "state=f0f0");
    let answer = server.callback(&forged, Some(&cookie)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("not one marketwarden issued"),
        "{}",
        answer.body
    );
    assert!(
        answer.set_cookie.is_none(),
        "a forged link must not end this browser's login: {:?}",
        answer.set_cookie
    );
    // Foreign: the right state, but not from the browser that started the login.
    let answer = server.callback(&callback, None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("started in another browser"),
        "{}",
        answer.body
    );
    let other_browser = "marketwarden_login_state=0123";
    let answer = server.callback(&callback, Some(other_browser)).await;
    assert!(answer.body.contains("started in another browser"));
    assert_eq!(
        server.auth_json().await,
        before,
        "the auth object is untouched"
    );
    assert_eq!(server.env_text(), "", "nothing saved");

    // The state was not used up by the other browsers: its own browser completes the login.
    assert_eq!(
        server.callback(&callback, Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(state_of(&server.auth_json().await), "valid");

    // Replayed: a completed login's callback, used again.
    let saved = server.env_text();
    let valid = server.auth_json().await;
    let replay = server.callback(&callback, Some(&cookie)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(server.env_text(), saved);
    assert_eq!(server.auth_json().await, valid);

    // Cancelled at Kite.
    let cancelled = format!("{}/auth/callback?status=cancelled&state=x", server.base);
    let answer = server.callback(&cancelled, Some(&cookie)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.contains("failed or was cancelled"),
        "{}",
        answer.body
    );
    server.assert_no_secrets();
}

/// Strangers calling `/auth/login` (today 32 calls evicted a login in progress) cannot push
/// out the trader's login.
#[tokio::test]
async fn no_number_of_logins_started_by_others_evicts_one_in_progress() {
    let server = start_at(morning(), None).await;
    let (callback, cookie) = server.log_in_at_kite().await;
    for _ in 0..200 {
        assert_eq!(server.get("/auth/login").await.status, StatusCode::FOUND);
    }
    assert_eq!(
        server.callback(&callback, Some(&cookie)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(state_of(&server.auth_json().await), "valid");
}

/// The server's clock is moved by hand here: a jump, as far as it can tell (the wall clock left
/// the monotonic one). So an expiry by its rules is put to Kite, whose answer decides. Kite's
/// own cut-off is 06:00: there it agrees, and the token is over; at the 20 h rule (04:45) it
/// still accepts the token, and the session goes on. (With a clock that kept time, the rules
/// are final without asking: the paused-clock tests of `auth::tests`.)
#[tokio::test]
async fn after_a_clock_jump_kite_decides_whether_the_token_is_over() {
    // A login at 14:00 lives until the 06:00 cut-off.
    let server = start_at(afternoon(), None).await;
    server.log_in().await;
    let cutoff = Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap();
    server.sim.clock.set(cutoff - TimeDelta::seconds(1));
    assert_eq!(state_of(&server.auth_json().await), "valid");
    server.sim.clock.set(cutoff);
    let auth = server
        .auth_until(|auth| {
            auth["reason"]
                .as_str()
                .unwrap()
                .contains("Kite confirmed it")
        })
        .await;
    assert_eq!(state_of(&auth), "expired");
    assert_eq!(auth["requires_login"], true);
    assert!(
        auth["reason"]
            .as_str()
            .unwrap()
            .contains("06:00 IST cut-off")
    );
    assert!(
        !server
            .sim
            .sim
            .access_token_is_valid(&server.saved_token().unwrap()),
        "Kite agrees"
    );
    assert!(server.auth.credentials().borrow().is_none());
    let page = server.get("/").await;
    assert!(page.body.contains("Kite session expired"), "{}", page.body);

    // A login at 08:45 is over by the 20 h rule at 04:45 the next day, by this clock; Kite
    // still accepts it (until 06:00), so it stays in use.
    let server = start_at(morning(), None).await;
    server.log_in().await;
    let by_age = morning() + TimeDelta::hours(20);
    server.sim.clock.set(by_age);
    let auth = server
        .auth_until(|auth| {
            auth["reason"]
                .as_str()
                .unwrap()
                .contains("clock may have jumped")
        })
        .await;
    assert_eq!(state_of(&auth), "valid");
    assert!(server.auth.credentials().borrow().is_some());
    server.assert_no_secrets();
}

#[tokio::test]
async fn a_403_mid_day_expires_the_token_and_a_new_login_fixes_it() {
    let server = start_at(morning(), None).await;
    server.log_in().await;
    server.sim.sim.expire_tokens_now();
    server.sim.clock.set(morning() + TimeDelta::hours(2));
    let auth = server.verify().await;
    assert_eq!(state_of(&auth), "expired");
    assert_eq!(auth["consecutive_failures"], 1);
    assert!(
        auth["reason"].as_str().unwrap().contains("TokenException"),
        "{auth}"
    );
    let done = server.log_in().await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let auth = server.auth_json().await;
    assert_eq!(
        (state_of(&auth), &auth["consecutive_failures"]),
        ("valid", &0.into())
    );
    server.assert_no_secrets();
}

#[tokio::test]
async fn broker_outages_never_log_the_trader_out() {
    let server = start_at(morning(), None).await;
    server.log_in().await;
    let outages = [
        Faults {
            server_errors: true,
            ..Faults::default()
        },
        Faults {
            html_errors: true,
            ..Faults::default()
        },
        Faults {
            rate_limit_storm: true,
            ..Faults::default()
        },
    ];
    for (step, faults) in outages.into_iter().enumerate() {
        server.sim.sim.set_faults(faults);
        // The verify endpoint asks Kite at most every 5 s.
        server
            .sim
            .clock
            .set(morning() + TimeDelta::minutes(step as i64 + 1));
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(6)).await;
        tokio::time::resume();
        let auth = server.verify().await;
        assert_eq!(state_of(&auth), "valid", "{auth}");
        assert_eq!(auth["consecutive_failures"], step + 1);
    }
    server.sim.sim.set_faults(Faults::default());
    server.assert_no_secrets();
}

#[tokio::test]
async fn a_kite_that_stops_answering_never_logs_the_trader_out() {
    let server = start_at(morning(), None).await;
    server.log_in().await;
    // A second service on the saved token, whose client gives up after 300 ms.
    let endpoints = KiteEndpoints {
        api_root: server.sim.base.clone(),
        login_url: format!("{}/connect/login", server.sim.base),
        ticker_url: crate::support::ticker_url(&server.sim.base),
    };
    let rest = KiteRest::with_timeout(
        endpoints,
        SimConfig::default().api_key,
        &crate::support::tls(),
        Duration::from_millis(300),
    )
    .unwrap();
    let auth = AuthService::new(
        AuthConfig {
            api_key: SimConfig::default().api_key,
            env_file: server.env_file.clone(),
            expected_user_id: None,
            environment_token: None,
        },
        Arc::new(KiteBroker::new(rest, secret())),
        Arc::new(server.sim.clock.clone()),
    );
    let shutdown = CancellationToken::new();
    auth.start(&Supervisor::new(shutdown.clone())).await;
    state_until(&auth, AuthState::Valid).await;
    server.sim.sim.set_faults(Faults {
        slow_rest_ms: 1_000,
        ..Faults::default()
    });
    // The verify endpoint asks Kite at most every 5 s.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::time::resume();
    let health = auth.verify().await;
    assert_eq!(health.state, AuthState::Valid, "{health:?}");
    assert_eq!(health.consecutive_failures, 1);
    assert!(auth.credentials().borrow().is_some());
    shutdown.cancel();
    server.sim.sim.set_faults(Faults::default());
}

#[tokio::test]
async fn an_unreachable_kite_at_start_keeps_the_saved_token() {
    // Nothing listens on this port.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join(".env");
    std::fs::write(&env_file, "ZERODHA_ACCESS_TOKEN=0123456789abcdef0123456789abcdef\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T08:40:00+05:30\n").unwrap();
    let auth = AuthService::new(
        AuthConfig {
            api_key: SimConfig::default().api_key,
            env_file,
            expected_user_id: None,
            environment_token: None,
        },
        Arc::new(KiteBroker::new(client(&dead_base), secret())),
        Arc::new(ManualClock::at(morning())),
    );
    let shutdown = CancellationToken::new();
    auth.start(&Supervisor::new(shutdown.clone())).await;
    let health = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let health = auth.health();
            if health.consecutive_failures > 0 {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first check fails fast");
    assert_eq!(health.state, AuthState::Refreshing, "kept, and retried");
    assert!(!health.requires_login);
    assert!(
        health.reason.contains("cannot reach kite"),
        "{}",
        health.reason
    );
    assert!(
        auth.credentials().borrow().is_some(),
        "the ticker may still try it"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn an_edit_of_the_env_file_is_picked_up_without_a_restart() {
    let server = start_at(morning(), Some("OTHER=1\n")).await;
    server.log_in().await;
    let first = server.auth.credentials().borrow().clone().unwrap();
    // An operator pastes a token from elsewhere, writing the file in place as an editor may.
    // (Its issue time is given: the file's own time is the host's, not this test's clock.)
    server.sim.clock.set(morning() + TimeDelta::minutes(15));
    let pasted = support::access_token(&server.sim.base).await;
    let started = tokio::time::Instant::now();
    std::fs::write(
        &server.env_file,
        format!(
            "OTHER=1\nZERODHA_ACCESS_TOKEN={}\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T09:00:00+05:30\n",
            pasted.expose()
        ),
    )
    .unwrap();
    let picked = credentials_until(&server.auth, |c| {
        c.as_ref().is_some_and(|c| c.generation != first.generation)
    })
    .await
    .unwrap();
    eprintln!("external .env edit noticed after {:?}", started.elapsed());
    assert_eq!(picked.access_token, pasted);
    // Verified with Kite: VALID again.
    state_until(&server.auth, AuthState::Valid).await;
    let auth = server.auth_json().await;
    assert_eq!(state_of(&auth), "valid");
    assert_eq!(auth["reason"], "Kite accepted the token of MW0001");

    // A corrupt edit changes nothing; the next good edit is taken.
    let mut watch = server.auth.credentials();
    watch.mark_unchanged();
    std::fs::write(
        &server.env_file,
        "OTHER=1\nthis line is broken\nZERODHA_ACCESS_TOKEN=\n",
    )
    .unwrap();
    support::log_line_containing("the edited .env file has lines that do not parse").await;
    assert!(
        !watch.has_changed().unwrap(),
        "a corrupt file must not change the token"
    );
    assert_eq!(state_of(&server.auth_json().await), "valid");
    let third = support::access_token(&server.sim.base).await;
    std::fs::write(
        &server.env_file,
        format!(
            "OTHER=1\nZERODHA_ACCESS_TOKEN={}\nZERODHA_ACCESS_TOKEN_ISSUED_AT=2026-11-30T09:00:30+05:30\n",
            third.expose()
        ),
    )
    .unwrap();
    let picked = credentials_until(&server.auth, |c| {
        c.as_ref().is_some_and(|c| c.access_token == third)
    })
    .await;
    assert!(picked.is_some());
    server.assert_no_secrets();
}

#[tokio::test]
async fn removing_the_token_from_the_file_requires_a_login() {
    let server = start_at(morning(), None).await;
    server.log_in().await;
    std::fs::write(&server.env_file, "# no token today\n").unwrap();
    credentials_until(&server.auth, Option::is_none).await;
    assert_eq!(state_of(&server.auth_json().await), "required");
}

#[tokio::test]
async fn a_hundred_concurrent_verifies_make_one_call_to_kite() {
    let server = Arc::new(start_at(morning(), None).await);
    server.log_in().await;
    let before = server.sim.sim.profile_calls();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.verify().await })
        })
        .collect();
    for call in calls {
        assert_eq!(state_of(&call.await.unwrap()), "valid");
    }
    assert_eq!(server.sim.sim.profile_calls() - before, 1);
    server.assert_no_secrets();
}

#[tokio::test]
async fn a_restart_picks_up_the_saved_token_and_verifies_it() {
    let server = start_at(morning(), None).await;
    server.log_in().await;
    let token = server.saved_token().unwrap();
    let calls = server.sim.sim.profile_calls();
    // A second server process on the same .env file.
    let shutdown = CancellationToken::new();
    let restarted = start_auth(&server.sim, server.env_file.clone(), &shutdown).await;
    let credentials = credentials_until(&restarted, Option::is_some)
        .await
        .unwrap();
    assert_eq!(credentials.access_token, Secret::new(token));
    state_until(&restarted, AuthState::Valid).await;
    assert_eq!(server.sim.sim.profile_calls(), calls + 1);
    let health = restarted.health();
    assert_eq!(health.last_verified_at, Some(morning()));
    assert_eq!(
        health.expires_at,
        Some(morning() + TimeDelta::hours(20)),
        "the saved issue time"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn logout_invalidates_the_token_at_kite_and_here() {
    let server = start_at(morning(), Some("A=1\n")).await;
    server.log_in().await;
    let token = server.saved_token().unwrap();
    // Another site's page cannot log the trader out.
    let forged = server
        .send(
            server
                .http
                .post(format!("{}/auth/logout", server.base))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(state_of(&server.auth_json().await), "valid");
    let answer = server
        .send(server.http.post(format!("{}/auth/logout", server.base)))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["auth"]["state"], "required");
    assert_eq!(json["invalidated_at_kite"], true);
    assert!(!server.sim.sim.access_token_is_valid(&token));
    assert_eq!(server.env_text(), "A=1\n");
    server.assert_no_secrets();
}

#[tokio::test]
async fn a_login_by_another_user_is_refused_when_a_user_id_is_set() {
    let sim = start_sim_with(
        SimConfig {
            user_id: "ZZ9999".into(),
            ..SimConfig::default()
        },
        morning(),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let auth = start_auth(&sim, folder.path().join(".env"), &shutdown).await;
    let start = auth.begin_login();
    let pairs = support::log_in(&sim.base, &[("state", &start.state)]).await;
    let error = auth
        .complete_login(&pairs, Some(&start.state))
        .await
        .expect_err("another user");
    assert!(error.to_string().contains("ZZ9999"), "{error}");
    assert_eq!(error.status(), 403);
    assert_eq!(auth.health().state, AuthState::Required);
    assert!(!folder.path().join(".env").exists());
    let issued = sim.sim.issued_tokens();
    assert!(
        !sim.sim.access_token_is_valid(&issued[0]),
        "handed back to Kite"
    );
    shutdown.cancel();
}

/// Reads Server-Sent Events from `response` until one contains `needle` (at most 5 s).
async fn sse_until(response: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains(needle) {
                return event;
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event with {needle:?}"))
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn logins_and_logouts_are_pushed_to_event_subscribers() {
    let server = start_at(morning(), None).await;
    let mut events = server
        .http
        .get(format!("{}/api/system/events", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let first = sse_until(&mut events, "event: health").await;
    assert!(
        first.contains(r#""priority_status":"AUTH_REQUIRED""#),
        "{first}"
    );
    let pushed = tokio::time::Instant::now();
    server.log_in().await;
    let valid = sse_until(&mut events, r#""state":"valid""#).await;
    eprintln!("login pushed after {:?}", pushed.elapsed());
    assert!(
        valid.contains(r#""priority_status":"MARKET_SESSION""#),
        "{valid}"
    );
    server
        .send(server.http.post(format!("{}/auth/logout", server.base)))
        .await;
    let required = sse_until(&mut events, r#""state":"required""#).await;
    assert!(required.contains("logged out"), "{required}");
    let mut secrets = server.sim.sim.issued_tokens();
    secrets.push(SimConfig::default().api_secret.expose().to_string());
    for secret in secrets {
        assert!(!valid.contains(&secret) && !required.contains(&secret));
    }
}

/// A login whose token cannot be written (here: an env file that is not UTF-8, which is never
/// rewritten) works, and says so: the auth object and the banner say it will not survive a
/// restart, until a save succeeds.
#[tokio::test]
async fn a_token_that_cannot_be_saved_is_reported_not_hidden() {
    let server = start_at(morning(), None).await;
    std::fs::write(&server.env_file, b"KEEP=\xff\xfe\n").unwrap();
    let answer = server.log_in().await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let auth = server.auth_json().await;
    assert_eq!(state_of(&auth), "valid");
    let problem = auth["token_not_saved"].as_str().expect("token_not_saved");
    assert!(
        problem.starts_with("cannot write the env file"),
        "{problem}"
    );
    assert!(
        !problem.contains(&server.env_file.display().to_string()),
        "no path in the answer: {problem}"
    );
    let page = server.get("/").await;
    assert!(
        page.body.contains("the token could not be saved"),
        "{}",
        page.body
    );
    // Fixed: the next login saves, and the notice goes.
    std::fs::write(&server.env_file, "KEEP=me\n").unwrap();
    assert_eq!(server.log_in().await.status, StatusCode::SEE_OTHER);
    let auth = server.auth_json().await;
    assert!(auth.get("token_not_saved").is_none(), "{auth}");
    assert!(server.saved_token().is_some());
}

/// Deleting (or moving) `.env` while the token works is not a logout: the session goes on, and
/// the auth object says the token is in memory only, until the file is back.
#[tokio::test]
async fn a_deleted_env_file_is_reported_and_the_working_token_kept() {
    let server = start_at(morning(), None).await;
    assert_eq!(server.log_in().await.status, StatusCode::SEE_OTHER);
    let saved = server.env_text();
    std::fs::remove_file(&server.env_file).unwrap();
    let reported = server
        .auth_until(|auth| auth.get("token_not_saved").is_some())
        .await;
    assert_eq!(state_of(&reported), "valid");
    assert!(
        reported["token_not_saved"]
            .as_str()
            .unwrap()
            .contains("deleted or moved"),
        "{reported}"
    );
    assert!(
        server.auth.credentials().borrow().is_some(),
        "the ticker keeps its token"
    );
    // Restored: saved again.
    std::fs::write(&server.env_file, &saved).unwrap();
    let restored = server
        .auth_until(|auth| auth.get("token_not_saved").is_none())
        .await;
    assert_eq!(state_of(&restored), "valid");
}
