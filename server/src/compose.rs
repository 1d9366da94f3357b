//! The one place the machines are put together: the auth machine hands the feed its token, the
//! feed reports a token the ticker refused and closes on a logout. `main.rs`, the simulated
//! month, the feed's integration tests and the benchmarks all call [`start`], so what they run
//! is wired as production is.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::broker::AuthBroker;
use crate::auth::{AuthConfig, AuthService};
use crate::calendar::CalendarStore;
use crate::clock::Clock;
use crate::feed::link::TickerConnector;
use crate::feed::{FeedConfig, FeedService, JitterSource};
use crate::supervise::Supervisor;

/// What the machines are started with.
pub struct Settings {
    pub auth: AuthConfig,
    pub feed: FeedConfig,
    /// Where the feed's backoff draws its jitter (uniform in [0, 1]); random when `None`.
    pub jitter: Option<JitterSource>,
}

/// The two machines, as the HTTP surface reaches them.
#[derive(Clone)]
pub struct Machines {
    pub auth: Arc<AuthService>,
    pub feed: Arc<FeedService>,
}

/// The running machines and the supervisor of their tasks.
pub struct Running {
    pub auth: Arc<AuthService>,
    pub feed: Arc<FeedService>,
    pub supervisor: Supervisor,
}

/// Starts the auth machine (it loads and verifies the saved token first) and the feed watchdog
/// on its token, under one [`Supervisor`]: both stop with `shutdown`, and a panic in either
/// stops the server.
pub async fn start(
    settings: Settings,
    clock: Arc<dyn Clock>,
    calendar: Arc<CalendarStore>,
    broker: Arc<dyn AuthBroker>,
    connector: Arc<dyn TickerConnector>,
    shutdown: CancellationToken,
) -> Running {
    let supervisor = Supervisor::new(shutdown);
    let auth = AuthService::new(settings.auth, broker, clock.clone());
    auth.start(&supervisor).await;
    let feed = FeedService::new(settings.feed, connector, clock, calendar);
    let on_logout = feed.clone();
    auth.on_logout(Box::new(move || on_logout.close_for_logout()));
    let rejections = auth.clone();
    let jitter = settings
        .jitter
        .unwrap_or_else(|| Box::new(rand::random::<f64>));
    supervisor.spawn_essential(
        "feed watchdog",
        feed.clone().run(
            auth.credentials(),
            Arc::new(move |generation| rejections.report_ticker_rejected(generation)),
            jitter,
            supervisor.shutdown().clone(),
        ),
    );
    Running {
        auth,
        feed,
        supervisor,
    }
}

impl Running {
    /// The machines, for [`crate::AppState::new`].
    pub fn machines(&self) -> Machines {
        Machines {
            auth: self.auth.clone(),
            feed: self.feed.clone(),
        }
    }

    /// After the shutdown: waits, at most `deadline`, for the tasks to end (the watchdog closes
    /// the ticker connection with a close frame first). False when some did not end in time.
    pub async fn stopped(&self, deadline: Duration) -> bool {
        self.supervisor.wait(deadline).await
    }
}
