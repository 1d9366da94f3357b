//! The world: the server's machines and the simulator in one paused runtime, the browser's
//! clicks, and the checks of each health answer.

use super::*;

/// One ticker connection attempt, as the connector saw it.
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub generation: u64,
    /// Whether Kite would accept the token (ignoring an injected 403).
    pub token_alive: bool,
    pub opened: bool,
}

/// The ticker through the pipe, with every attempt recorded.
pub struct RecordingConnector {
    pub pipe: SimPipe,
    pub sim: Arc<Simulator>,
    pub clock: Arc<dyn Clock>,
    pub attempts: Mutex<Vec<Attempt>>,
}

impl TickerConnector for RecordingConnector {
    fn connect<'a>(&'a self, credentials: &'a TickerCredentials) -> Connecting<'a> {
        Box::pin(async move {
            let at = self.clock.now();
            let token_alive = self
                .sim
                .access_token_is_valid(credentials.access_token.expose());
            let result = self.pipe.connect(credentials).await;
            self.attempts.lock().unwrap().push(Attempt {
                at,
                generation: credentials.generation,
                token_alive,
                opened: result.is_ok(),
            });
            result
        })
    }
}

/// An injected 403 window: its start, and its end once over.
pub type ForbidWindow = (DateTime<Utc>, Option<DateTime<Utc>>);

pub struct World {
    pub sim: Arc<Simulator>,
    pub pipe: SimPipe,
    pub clock: Arc<dyn Clock>,
    pub auth: Arc<AuthService>,
    pub feed: Arc<FeedService>,
    pub connector: Arc<RecordingConnector>,
    pub router: axum::Router,
    pub report: Mutex<Report>,
    /// When the current token was issued (the last successful login).
    pub token_issued: Mutex<Option<DateTime<Utc>>>,
    /// Kite's flushes so far.
    pub flushes: Mutex<Vec<DateTime<Utc>>>,
    /// Injected 403 windows: start, and end once over.
    pub forbidden: Mutex<Vec<ForbidWindow>>,
    pub faults: Mutex<Faults>,
    /// When the script last changed Kite's behaviour.
    pub last_fault_at: Mutex<Option<DateTime<Utc>>>,
    /// The machines' tasks: the feed watchdog must run from the first day to the last.
    pub running: compose::Running,
    /// The auth state last seen by the checks, and since when.
    pub auth_seen: Mutex<(AuthState, DateTime<Utc>)>,
    pub env_folder: tempfile::TempDir,
}

impl World {
    pub async fn start(
        clock: Arc<dyn Clock>,
        sim: Arc<Simulator>,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let started_at = clock.now();
        let api_key = sim.config().api_key.clone();
        let api_secret = sim.config().api_secret.clone();
        let pipe = SimPipe::new(sim.clone());
        let rest = KiteRest::with_transport(SimPipe::endpoints(), &api_key, Arc::new(pipe.clone()));
        let env_folder = tempfile::tempdir().unwrap();
        let calendar = Arc::new(CalendarStore::builtin());
        let connector = Arc::new(RecordingConnector {
            pipe: pipe.clone(),
            sim: sim.clone(),
            clock: clock.clone(),
            attempts: Mutex::default(),
        });
        let mut jitter = Rng(0x5eed_1234_abcd_0001);
        let running = compose::start(
            compose::Settings {
                auth: AuthConfig {
                    api_key,
                    env_file: env_folder.path().join(".env"),
                    expected_user_id: Some("MW0001".into()),
                    environment_token: None,
                },
                feed: FeedConfig {
                    settings: FeedSettings::default(),
                    pre_open_lead: PRE_OPEN_LEAD.to_std().unwrap(),
                    instruments: parse_instruments(DEFAULT_INSTRUMENTS).unwrap(),
                    connect_timeout: Duration::from_secs(10),
                },
                jitter: Some(Box::new(move || jitter.unit())),
            },
            clock.clone(),
            calendar.clone(),
            Arc::new(KiteBroker::new(rest, api_secret)),
            connector.clone(),
            shutdown.clone(),
        )
        .await;
        let (auth, feed) = (running.auth.clone(), running.feed.clone());
        let state = AppState::new("target/site", clock.clone(), calendar, running.machines());
        Arc::new(Self {
            sim,
            pipe,
            clock,
            auth,
            feed,
            connector,
            router: app(state),
            report: Mutex::default(),
            token_issued: Mutex::default(),
            flushes: Mutex::default(),
            forbidden: Mutex::default(),
            faults: Mutex::default(),
            last_fault_at: Mutex::default(),
            running,
            auth_seen: Mutex::new((AuthState::Required, started_at)),
            env_folder,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn violation(&self, what: String) {
        let line = format!("{}: {what}", in_ist(self.now()));
        self.report.lock().unwrap().violations.push(line);
    }

    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        if let Ok(wait) = (at - self.now()).to_std() {
            tokio::time::sleep(wait).await;
        }
    }

    pub fn set_faults(&self, change: impl FnOnce(&mut Faults)) {
        let mut faults = self.faults.lock().unwrap();
        change(&mut faults);
        self.sim.set_faults(faults.clone());
    }

    /// A request to the server's router, as a browser sends it.
    pub async fn browse(&self, uri: &str, cookie: Option<&str>) -> http::Response<bytes::Bytes> {
        let mut request = http::Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header(http::header::COOKIE, cookie);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let response = http::Response::from_parts(parts, body);
        self.scan_for_secrets(uri, &response);
        response
    }

    /// No answer of the server may hold the API secret or an access token, in its headers or
    /// its body.
    fn scan_for_secrets(&self, uri: &str, response: &http::Response<bytes::Bytes>) {
        let config = self.sim.config();
        let scan = SecretScan::new(&[(&config.api_key, config.api_secret.expose())]);
        let body = String::from_utf8_lossy(response.body());
        let headers = header_text(response.headers());
        self.report.lock().unwrap().responses_scanned += 1;
        if !scan.secrets_in(&body).is_empty() || !scan.secrets_in(&headers).is_empty() {
            let path = uri.split('?').next().unwrap_or(uri);
            self.violation(format!("the answer to {path} holds a secret"));
        }
    }

    /// The trader's login, click by click: our `/auth/login`, Kite's page, its form, our
    /// callback with the browser's cookie.
    pub async fn log_in(self: &Arc<Self>) -> Result<(), String> {
        let start = self.browse("/auth/login", None).await;
        let header = |response: &http::Response<bytes::Bytes>, name| {
            response
                .headers()
                .get(&name)
                .and_then(|value: &http::HeaderValue| value.to_str().ok())
                .map(str::to_owned)
                .ok_or(format!("no {name} header"))
        };
        let kite_login = header(&start, http::header::LOCATION)?;
        let cookie = header(&start, http::header::SET_COOKIE)?;
        let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
        let page = self
            .pipe
            .exchange(http::Request::get(kite_login).body(Vec::new()).unwrap())
            .await?;
        let html = String::from_utf8_lossy(page.body()).into_owned();
        let form = demo_login_form(&html).ok_or("no login form")?;
        let form = serde_urlencoded::to_string(form).unwrap();
        let submitted = self
            .pipe
            .exchange(
                http::Request::post(format!("{}/connect/login", SimPipe::endpoints().api_root))
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.into_bytes())
                    .unwrap(),
            )
            .await?;
        let back = header(&submitted, http::header::LOCATION)?;
        let query = back.split_once('?').ok_or("no query")?.1;
        let done = self
            .browse(&format!("/auth/callback?{query}"), Some(&cookie))
            .await;
        if done.status() == http::StatusCode::SEE_OTHER {
            *self.token_issued.lock().unwrap() = Some(self.now());
            self.expect_expiry(self.now());
            self.check_saved_token();
            self.report.lock().unwrap().logins += 1;
            Ok(())
        } else {
            self.report.lock().unwrap().refused_logins += 1;
            Err(format!("callback answered {}", done.status()))
        }
    }

    /// The new token is in `.env` (the file is written before the callback answers), and only
    /// its owner may read the file.
    fn check_saved_token(&self) {
        use std::os::unix::fs::PermissionsExt;

        let path = self.env_folder.path().join(".env");
        let mode = std::fs::metadata(&path).map(|meta| meta.permissions().mode() & 0o777);
        if !matches!(mode, Ok(0o600)) {
            let mode = mode.map(|mode| format!("{mode:o}"));
            self.violation(format!("`.env` has mode {mode:?} after a login"));
        }
        let saved = std::fs::read_to_string(&path).unwrap_or_default();
        let token = self.sim.issued_tokens().pop().unwrap_or_default();
        if !saved.contains(&format!("ZERODHA_ACCESS_TOKEN={token}\n")) {
            self.violation("the new token is not in `.env` after a login".into());
        }
        self.report.lock().unwrap().env_writes_checked += 1;
    }

    /// Logs in, retrying every two minutes (Kite may be answering 429).
    pub async fn log_in_until_done(self: &Arc<Self>) {
        for _ in 0..30 {
            if self.log_in().await.is_ok() {
                self.expect_live_data_after_login().await;
                return;
            }
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        self.violation("no login succeeded within an hour".into());
    }

    /// After a login in trading hours, data flows within [`LOGIN_TO_LIVE_BOUND`] unless the
    /// ticker is made to refuse or stall.
    pub async fn expect_live_data_after_login(&self) {
        let now = self.now();
        let faults = self.faults.lock().unwrap().clone();
        let window = feed_window(now) && feed_window(now + TimeDelta::seconds(10));
        if !window || faults != Faults::default() {
            return;
        }
        match self
            .wait_for_feed(LOGIN_TO_LIVE_BOUND, |state| state == FeedState::Connected)
            .await
        {
            Some(delay) => self.record_delay("login to live data", delay),
            None => self.violation(format!(
                "no live data within {LOGIN_TO_LIVE_BOUND:?} of a login (feed {:?})",
                self.feed.health().state
            )),
        }
    }

    /// Waits until the feed's state satisfies `wanted`; how long that took, or `None` after
    /// `bound`.
    pub async fn wait_for_feed(
        &self,
        bound: Duration,
        wanted: impl Fn(FeedState) -> bool,
    ) -> Option<Duration> {
        wait_until(self.feed.changes(), bound, || {
            wanted(self.feed.health().state)
        })
        .await
    }

    /// Whether Kite accepts the newest token it issued (the one the server holds).
    pub fn token_alive(&self) -> bool {
        self.sim
            .issued_tokens()
            .last()
            .is_some_and(|token| self.sim.access_token_is_valid(token))
    }

    /// As [`World::wait_for_feed`], for the auth state.
    pub async fn wait_for_auth(
        &self,
        bound: Duration,
        wanted: impl Fn(AuthState) -> bool,
    ) -> Option<Duration> {
        wait_until(self.auth.changes(), bound, || {
            wanted(self.auth.health().state)
        })
        .await
    }

    /// The token's end by the machine's own rule (the earlier of 06:00 the next day and 20
    /// hours after its issue) must show at once: EXPIRED within a second.
    pub fn expect_expiry(self: &Arc<Self>, issued: DateTime<Utc>) {
        let world = self.clone();
        tokio::spawn(async move {
            let expiry = local_expiry(issued);
            world.sleep_until(expiry - TimeDelta::milliseconds(1)).await;
            if *world.token_issued.lock().unwrap() != Some(issued)
                || world.auth.health().state != AuthState::Valid
            {
                return; // replaced by a newer login, or already over
            }
            // The machine must act by itself: a change pushed and the ticker's token withdrawn,
            // without anyone asking for the health answer (which applies the rules too).
            let mut changes = world.auth.changes();
            changes.borrow_and_update();
            let began = Instant::now();
            let pushed = tokio::time::timeout(Duration::from_secs(1), changes.changed()).await;
            let withdrawn = world.auth.credentials().borrow().is_none();
            if pushed.is_err() || !withdrawn || !world.auth.health().requires_login {
                world.violation(format!(
                    "the expiry was not acted on (pushed {}, token withdrawn {withdrawn})",
                    pushed.is_ok()
                ));
                return;
            }
            let late = began.elapsed().saturating_sub(Duration::from_millis(1));
            world.record_delay("expiry acted on", late);
        });
    }

    pub fn record_delay(&self, kind: &'static str, delay: Duration) {
        let mut report = self.report.lock().unwrap();
        report.delays.entry(kind).or_default().push(delay);
    }

    /// True when a valid token is in place and the session runs long enough to judge recovery.
    pub fn recovery_is_ours(&self) -> bool {
        let now = self.now();
        let token_ok = self.auth.health().state == AuthState::Valid && self.token_alive();
        let window = feed_window(now)
            && feed_window(now + TimeDelta::from_std(FEED_RECOVERY_BOUND).unwrap());
        if !(token_ok && window) {
            self.report.lock().unwrap().skipped_checks += 1;
        }
        token_ok && window
    }

    /// Checks one health answer against the model.
    pub async fn check_health(&self, why: &str) {
        let response = self.browse("/api/system/health", None).await;
        let now = self.now();
        if response.status() != http::StatusCode::OK {
            self.violation(format!("health answered {} ({why})", response.status()));
            return;
        }
        let health: SystemHealth = match serde_json::from_slice(response.body()) {
            Ok(health) => health,
            Err(error) => {
                self.violation(format!("health is not a SystemHealth: {error}"));
                return;
            }
        };
        self.report.lock().unwrap().health_checks += 1;
        // The answer may be a memo up to 25 ms old, never across a phase change.
        let age = now - health.server_time;
        if age < TimeDelta::zero() || age > TimeDelta::milliseconds(25) {
            self.violation(format!("server_time {} at {}", health.server_time, now));
        }
        let phase = expected_phase(now);
        if health.market.phase != phase {
            self.violation(format!(
                "market phase {:?}, expected {phase:?} ({why})",
                health.market.phase
            ));
        }
        let trading = phase != MarketPhase::Closed;
        let requires_login = needs_login(health.auth.state);
        if health.auth.requires_login != requires_login {
            self.violation(format!(
                "requires_login {} in {:?}",
                health.auth.requires_login, health.auth.state
            ));
        }
        let expected_priority = if requires_login {
            PriorityStatus::AuthRequired
        } else if trading && health.feed.state != FeedState::Connected {
            PriorityStatus::FeedDisconnected
        } else {
            PriorityStatus::MarketSession
        };
        if health.priority_status != expected_priority {
            self.violation(format!(
                "priority {:?}, expected {expected_priority:?} (auth {:?}, feed {:?}, {phase:?}; {why})",
                health.priority_status, health.auth.state, health.feed.state
            ));
        }
        if !feed_window(now) && health.feed.state != FeedState::Disconnected {
            self.violation(format!(
                "feed {:?} outside trading hours ({why})",
                health.feed.state
            ));
        }
        self.note_auth_state(health.auth.state, now);
        self.check_token_truth(health.auth.state, now, why);
        if self.sim.open_connections() > 2 {
            self.violation(format!(
                "{} ticker connections open at once",
                self.sim.open_connections()
            ));
        }
    }

    /// Records when the auth state changed.
    fn note_auth_state(&self, state: AuthState, now: DateTime<Utc>) {
        let mut seen = self.auth_seen.lock().unwrap();
        if seen.0 != state {
            *seen = (state, now);
        }
    }

    /// The auth state tells the truth about the token: never a login demand while Kite still
    /// accepts the token and no rule says it is over; never VALID long after Kite killed it.
    pub fn check_token_truth(&self, state: AuthState, now: DateTime<Utc>, why: &str) {
        let Some(issued) = *self.token_issued.lock().unwrap() else {
            return;
        };
        let token_alive = self.token_alive();
        let next_six = next_six_am(issued);
        let local_expiry = local_expiry(issued);
        let flushed_at = self
            .flushes
            .lock()
            .unwrap()
            .iter()
            .copied()
            .find(|at| *at >= issued);
        // A 403 at the upgrade expires a token Kite would accept: excused only when the state
        // changed during an injected 403 window (or just after, while an attempt was under way).
        let entered = self.auth_seen.lock().unwrap().1;
        let entered_in_a_403_window = self.forbidden.lock().unwrap().iter().any(|(start, end)| {
            *start <= entered && end.is_none_or(|end| entered <= end + TimeDelta::seconds(11))
        });
        match state {
            AuthState::Expired | AuthState::Required => {
                if token_alive && now < local_expiry && !entered_in_a_403_window {
                    self.violation(format!(
                        "{state:?} while Kite accepts the token issued at {} ({why})",
                        in_ist(issued)
                    ));
                }
            }
            AuthState::Valid => {
                if !token_alive {
                    let died = flushed_at.unwrap_or(next_six);
                    if now - died > TOKEN_DEATH_BOUND {
                        self.violation(format!(
                            "VALID {} min after Kite killed the token ({why})",
                            (now - died).num_minutes()
                        ));
                    }
                }
            }
            AuthState::Refreshing => {}
        }
    }
}

/// Waits until `reached` holds, looking again at every change; how long that took, or `None`
/// after `bound`.
async fn wait_until(
    mut changes: tokio::sync::watch::Receiver<u64>,
    bound: Duration,
    reached: impl Fn() -> bool,
) -> Option<Duration> {
    let began = Instant::now();
    let waited = tokio::time::timeout(bound, async {
        while !reached() {
            if changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    })
    .await;
    waited.ok().map(|()| began.elapsed())
}
