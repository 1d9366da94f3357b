//! Stand-ins for tests that exercise the HTTP surface alone (feature `test-doubles`, which only
//! the server's own tests, examples and benches turn on): machines that are built as `serve`
//! builds them but never started, with no Kite behind them. The auth machine has no token (a
//! login is required) and the feed watchdog is disconnected; every call to Kite fails as a
//! network error would.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::{KiteError, Profile, Session};

use crate::AppState;
use crate::auth::broker::AuthBroker;
use crate::auth::{AuthConfig, AuthService, TickerCredentials};
use crate::calendar::CalendarStore;
use crate::clock::Clock;
use crate::compose::Machines;
use crate::config::FEED_CONNECT_TIMEOUT;
use crate::feed::link::{Connecting, TickerConnector};
use crate::feed::machine::{FeedSettings, defaults};
use crate::feed::{FeedConfig, FeedService};
use crate::kite::ticker::TickerConnectError;

/// A Kite that cannot be reached.
pub struct NoKite;

const UNREACHABLE: &str = "no Kite behind this test's machines";

impl AuthBroker for NoKite {
    fn login_url(&self, _redirect_params: &[(&str, &str)]) -> String {
        "https://kite.invalid/connect/login".into()
    }
    fn exchange<'a>(
        &'a self,
        _request_token: &'a str,
    ) -> BoxFuture<'a, Result<Session, KiteError>> {
        Box::pin(async { Err(KiteError::Transport(UNREACHABLE.into())) })
    }
    fn profile<'a>(&'a self, _token: &'a Secret) -> BoxFuture<'a, Result<Profile, KiteError>> {
        Box::pin(async { Err(KiteError::Transport(UNREACHABLE.into())) })
    }
    fn logout<'a>(&'a self, _token: &'a Secret) -> BoxFuture<'a, Result<(), KiteError>> {
        Box::pin(async { Err(KiteError::Transport(UNREACHABLE.into())) })
    }
}

impl TickerConnector for NoKite {
    fn connect<'a>(&'a self, _credentials: &'a TickerCredentials) -> Connecting<'a> {
        Box::pin(async { Err(TickerConnectError::Transport(UNREACHABLE.into())) })
    }
}

/// An auth machine that was never started: no token, a login required.
pub fn idle_auth(clock: Arc<dyn Clock>) -> Arc<AuthService> {
    let config = AuthConfig {
        api_key: "test_api_key".into(),
        env_file: PathBuf::from("/nonexistent/marketwarden-test/.env"),
        expected_user_id: None,
        environment_token: None,
    };
    AuthService::new(config, Arc::new(NoKite), clock)
}

/// A feed watchdog that was never started, subscribing nothing: disconnected.
pub fn idle_feed(clock: Arc<dyn Clock>, calendar: Arc<CalendarStore>) -> Arc<FeedService> {
    let config = FeedConfig {
        settings: FeedSettings::default(),
        pre_open_lead: defaults::seconds(defaults::PRE_OPEN_LEAD),
        instruments: Vec::new(),
        connect_timeout: FEED_CONNECT_TIMEOUT,
    };
    FeedService::new(config, Arc::new(NoKite), clock, calendar)
}

/// Both idle machines.
pub fn idle_machines(clock: Arc<dyn Clock>, calendar: Arc<CalendarStore>) -> Machines {
    Machines {
        auth: idle_auth(clock.clone()),
        feed: idle_feed(clock, calendar),
    }
}

/// The state `serve` builds, with both machines idle: for tests of the market alone.
pub fn market_only_state(clock: Arc<dyn Clock>, calendar: Arc<CalendarStore>) -> AppState {
    let machines = idle_machines(clock.clone(), calendar.clone());
    AppState::new(SITE_ROOT, clock, calendar, machines)
}

/// The state `serve` builds around a running feed watchdog, with an idle auth machine.
pub fn state_with_feed(
    clock: Arc<dyn Clock>,
    calendar: Arc<CalendarStore>,
    feed: Arc<FeedService>,
) -> AppState {
    let auth = idle_auth(clock.clone());
    AppState::new(SITE_ROOT, clock, calendar, Machines { auth, feed })
}

/// The state `serve` builds around a running auth machine, with an idle feed watchdog.
pub fn state_with_auth(
    clock: Arc<dyn Clock>,
    calendar: Arc<CalendarStore>,
    auth: Arc<AuthService>,
) -> AppState {
    let feed = idle_feed(clock.clone(), calendar.clone());
    AppState::new(SITE_ROOT, clock, calendar, Machines { auth, feed })
}

/// Where the tests' bundle is (`make build` writes it there).
const SITE_ROOT: &str = "target/site";
