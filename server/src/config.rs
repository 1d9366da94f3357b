//! The command line and the environment, turned into validated settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use marketwarden_core::{BrokerKind, Segment};

use std::time::Duration;

use crate::auth::envfile::EnvFile;
use crate::connections::Limits;
use crate::feed::FeedConfig;
use crate::feed::instruments::{DEFAULT_INSTRUMENTS, parse_instruments};
use crate::feed::machine::{FeedSettings, defaults as feed_defaults};
use crate::hosts::PublicOrigin;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteEndpoints;

const ENVIRONMENT_HELP: &str = "\
Kite credentials (the environment or the --env-file, never flags):
  ZERODHA_API_KEY       Kite Connect app key; with ZERODHA_API_SECRET it selects the real Kite broker
  ZERODHA_API_SECRET    Kite Connect app secret; never logged or sent to the browser
  ZERODHA_USER_ID       optional: refuse logins by any other Kite user
  ZERODHA_ACCESS_TOKEN  the day's access token; marketwarden writes it to the --env-file after a
                        login, with ZERODHA_ACCESS_TOKEN_ISSUED_AT, and follows edits of that file
  Without both key and secret, marketwarden uses its embedded simulated broker. The environment
  wins over the file, except for the access token, which the file holds.

Operators:
  MARKETWARDEN_ADMIN_TOKEN  when set, POST …/auth/verify, /auth/logout and …/feed/reconnect
                            need `Authorization: Bearer <token>`; never logged

Kite endpoints (default: Kite's own):
  KITE_API_ROOT        REST root, https://api.kite.trade
  KITE_LOGIN_URL       login page, https://kite.zerodha.com/connect/login
  KITE_TICKER_URL      ticker WebSocket root, wss://ws.kite.trade
  SSL_CERT_FILE        a PEM file of extra CA certificates to trust for Kite's hosts (a
                       corporate proxy, a kite-sim --tls-self-signed); Mozilla's roots always
                       count. A file that cannot be read or holds no certificate stops the start.

Feed watchdog (flags above): FEED_STALE_THRESHOLD, FEED_RECONNECT_DELAY, FEED_MAX_BACKOFF,
  FEED_MAX_RECONNECTS, FEED_PRE_OPEN_LEAD, FEED_INSTRUMENTS

Logging:
  RUST_LOG             log filter, e.g. `info` (default) or `marketwarden_server=debug`";

/// marketwarden: the NSE market session, Kite auth and ticker feed health, and a status banner
/// that always tells the trader the truth.
#[derive(Debug, Parser)]
#[command(name = "marketwarden", version, after_help = ENVIRONMENT_HELP)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, which is what a bare `marketwarden` runs.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard and the health API (the default).
    Serve(ServeArgs),
    /// Print the market object (phase, next change, holiday or session) as JSON.
    Phase(PhaseArgs),
    /// List or check trading calendars.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Run the Kite Connect simulator alone (REST, login page and ticker on one address).
    KiteSim(KiteSimArgs),
}

#[derive(Clone, Debug, Args)]
pub struct KiteSimArgs {
    /// Address to listen on; port 0 picks a free port. Prints `rest:`, `login:` and `ticker:`
    /// lines with the URLs once it listens.
    #[arg(
        long,
        env = "KITE_SIM_ADDR",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:5010"
    )]
    pub addr: SocketAddr,

    /// The app key the simulator accepts.
    #[arg(long, env = "KITE_SIM_API_KEY", default_value = "marketwarden_sim")]
    pub api_key: String,

    /// The app secret checksums are verified with.
    #[arg(
        long,
        env = "KITE_SIM_API_SECRET",
        default_value = "marketwarden_sim_secret",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub api_secret: String,

    /// Where the login page sends the browser back with the request token.
    #[arg(
        long,
        env = "KITE_SIM_REDIRECT_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8000/auth/callback"
    )]
    pub redirect_url: String,

    /// Start the simulator's clock at this instant (RFC 3339) and let it run forward.
    #[arg(long, env = "KITE_SIM_CLOCK_START", value_name = "RFC3339", value_parser = parse_instant)]
    pub clock_start: Option<DateTime<Utc>>,

    /// A calendar file laid over the built-in NSE calendar: the ticker sends ticks in its
    /// trading hours, heartbeats outside them (give it the server's --calendar).
    #[arg(long, value_name = "FILE")]
    pub calendar: Option<PathBuf>,

    /// Serve `https://` and `wss://` (on the one port) with this PEM certificate chain; needs
    /// --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve `https://` and `wss://` with a certificate generated for --addr, signed by a new CA.
    /// The CA is written to a file (--tls-ca-out, else a new one in the temporary folder),
    /// printed as a `ca:` line: trust it with SSL_CERT_FILE.
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Where --tls-self-signed writes its CA certificate (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_self_signed")]
    pub tls_ca_out: Option<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub struct PhaseArgs {
    /// The instant to ask about (RFC 3339); the system clock by default.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,

    /// A calendar file laid over the built-in calendar.
    #[arg(long, value_name = "FILE")]
    pub calendar: Option<PathBuf>,

    /// One segment in the exchange's phases (nse-cm, nse-fo, bse-cm, bse-fo, cds, mcx); without
    /// it, the market object: NSE cash in the specification's four phases.
    #[arg(long, value_name = "SEGMENT", value_parser = parse_segment)]
    pub segment: Option<Segment>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print the phase windows of every trading day in a date range, as CSV
    /// (`date,phase,start,end,name`, IST).
    Sessions {
        /// First date (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: NaiveDate,
        /// Last date, included (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: NaiveDate,
        /// A calendar file laid over the built-in calendar.
        #[arg(long, value_name = "FILE")]
        calendar: Option<PathBuf>,
        /// One segment's windows in the exchange's phases (CLOSING_AUCTION and POST_CLOSE
        /// included); without it, NSE cash in the specification's four phases.
        #[arg(long, value_name = "SEGMENT", value_parser = parse_segment)]
        segment: Option<Segment>,
    },
    /// Turn NSE's holiday-master JSON (saved from nseindia.com's `api/holiday-master?type=trading`)
    /// into calendar-file rows on standard output; `--diff` shows what they would change.
    ImportNse {
        /// The saved JSON answer.
        file: PathBuf,
        /// Print what the import would change in the calendar in use instead of the rows.
        #[arg(long)]
        diff: bool,
        /// The calendar file in use, laid over the built-in calendar (for `--diff`).
        #[arg(long, value_name = "FILE")]
        calendar: Option<PathBuf>,
    },
    /// Validate a calendar file: exit 0 if it loads, else list every problem with its line.
    Check {
        /// The calendar file.
        file: PathBuf,
    },
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the log says which).
    #[arg(
        long,
        env = "MARKETWARDEN_ADDR",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8000"
    )]
    pub addr: SocketAddr,

    /// Folder with the built browser bundle (`pkg/`) and public assets, as `make build`
    /// writes it.
    #[arg(
        long,
        env = "MARKETWARDEN_SITE_ROOT",
        value_name = "DIR",
        default_value = "target/site"
    )]
    pub site_root: PathBuf,

    /// Start the clock at this instant (RFC 3339, e.g. 2026-11-30T09:14:30+05:30) and let it run
    /// forward, for demos and tests. Only accepted with the simulated broker.
    #[arg(long, env = "MARKETWARDEN_CLOCK_START", value_name = "RFC3339", value_parser = parse_instant)]
    pub clock_start: Option<DateTime<Utc>>,

    /// A calendar file laid over the built-in NSE calendar (new holidays, special sessions,
    /// overrides). Reloaded on SIGHUP; a bad file keeps the last good calendar.
    #[arg(long, env = "MARKETWARDEN_CALENDAR", value_name = "FILE")]
    pub calendar: Option<PathBuf>,

    /// Which broker to use.
    #[arg(long, env = "MARKETWARDEN_BROKER", value_enum, default_value_t = BrokerChoice::Auto)]
    pub broker: BrokerChoice,

    /// The dotenv file that keeps the Kite access token [default: .env]: read at start (its
    /// ZERODHA_* values count as if set in the environment), rewritten atomically after each
    /// login, and followed while running, so an edit from outside takes effect without a
    /// restart. A file named here must exist and be readable, and with `--broker auto` hold the
    /// Kite credentials: the server refuses to start otherwise.
    #[arg(long, env = "MARKETWARDEN_ENV_FILE", value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Seconds without a frame (tick or heartbeat) after which an open ticker connection is
    /// dead and replaced.
    #[arg(long, env = "FEED_STALE_THRESHOLD", value_name = "SECONDS", default_value = feed_defaults::STALE_THRESHOLD, value_parser = parse_seconds)]
    pub feed_stale_threshold: Duration,

    /// The first wait before reconnecting after a failure; each failure in a row doubles it, up
    /// to --feed-max-backoff, with full jitter.
    #[arg(long, env = "FEED_RECONNECT_DELAY", value_name = "SECONDS", default_value = feed_defaults::RECONNECT_DELAY, value_parser = parse_seconds)]
    pub feed_reconnect_delay: Duration,

    /// The longest wait between reconnection attempts.
    #[arg(long, env = "FEED_MAX_BACKOFF", value_name = "SECONDS", default_value = feed_defaults::MAX_BACKOFF, value_parser = parse_seconds)]
    pub feed_max_backoff: Duration,

    /// Failures in a row after which the feed is in ERROR (it keeps retrying at the longest
    /// wait).
    #[arg(
        long,
        env = "FEED_MAX_RECONNECTS",
        value_name = "COUNT",
        default_value_t = feed_defaults::MAX_RECONNECTS
    )]
    pub feed_max_reconnects: u32,

    /// How long before pre-open (09:00 IST) the feed connects.
    #[arg(long, env = "FEED_PRE_OPEN_LEAD", value_name = "SECONDS", default_value = feed_defaults::PRE_OPEN_LEAD, value_parser = parse_seconds)]
    pub feed_pre_open_lead: Duration,

    /// The instruments to subscribe: `TOKEN[:ltp|quote|full][=NAME],…` (default: NIFTY 50 and
    /// NIFTY BANK in full mode, RELIANCE, HDFCBANK, INFY and TCS in quote mode).
    #[arg(long, env = "FEED_INSTRUMENTS", value_name = "LIST", default_value = DEFAULT_INSTRUMENTS, hide_default_value = true)]
    pub feed_instruments: String,

    /// Log line format.
    #[arg(long, env = "MARKETWARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// The origin browsers reach the server at when it is not the listen address, e.g.
    /// `https://mw.example.com` behind a TLS proxy. Requests naming any other Host (but the
    /// listen address and, on loopback, localhost) are refused: DNS rebinding.
    #[arg(long, env = "MARKETWARDEN_PUBLIC_ORIGIN", value_name = "URL")]
    pub public_origin: Option<String>,

    /// The segment the health answer's market object describes in the specification's four
    /// phases: nse-cm (NSE cash, the default), nse-fo, bse-cm, bse-fo, cds or mcx.
    #[arg(long, env = "MARKETWARDEN_MARKET_SEGMENT", value_name = "SEGMENT", default_value = "nse-cm", value_parser = parse_segment)]
    pub market_segment: Segment,

    /// Other sites' origins whose pages may read the health endpoints, the event stream and
    /// /ws/market (`https://ui.example.com,http://localhost:5173`); their state-changing calls
    /// also need MARKETWARDEN_ADMIN_TOKEN. None by default.
    #[arg(long, env = "MARKETWARDEN_CORS_ORIGINS", value_name = "LIST")]
    pub cors_origins: Option<String>,
    /// Open connections at most; one more is answered 503 and closed. Keep it under the file
    /// descriptor limit (the unit's LimitNOFILE).
    #[arg(long, env = "MARKETWARDEN_MAX_CONNECTIONS", value_name = "COUNT", default_value_t = Limits::default().connections, value_parser = parse_count)]
    pub max_connections: usize,

    /// Open `/api/system/events` streams at most; one more is answered 503.
    #[arg(long, env = "MARKETWARDEN_MAX_EVENT_STREAMS", value_name = "COUNT", default_value_t = Limits::default().event_streams, value_parser = parse_count)]
    pub max_event_streams: usize,

    /// Open `/ws/market` sockets at most; one more is answered 503.
    #[arg(long, env = "MARKETWARDEN_MAX_MARKET_SOCKETS", value_name = "COUNT", default_value_t = Limits::default().market_sockets, value_parser = parse_count)]
    pub max_market_sockets: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The `--broker` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BrokerChoice {
    /// Kite when ZERODHA_API_KEY and ZERODHA_API_SECRET are set, else the simulator.
    Auto,
    /// The real Kite Connect API (or what KITE_API_ROOT, KITE_LOGIN_URL and KITE_TICKER_URL name).
    Kite,
    /// The embedded Kite simulator.
    Simulated,
}

/// Validated settings of `serve`.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    pub addr: SocketAddr,
    pub site_root: PathBuf,
    pub clock_start: Option<DateTime<Utc>>,
    pub calendar: Option<PathBuf>,
    pub log_format: LogFormat,
    pub broker: BrokerKind,
    /// True when `--broker auto` chose the simulator because no credentials exist (logged).
    pub simulator_by_default: bool,
    pub env_file: PathBuf,
    /// The Kite app's key and secret; `None` with the simulated broker, which has its own.
    pub kite_credentials: Option<(String, Secret)>,
    /// `ZERODHA_USER_ID`: when set, logins by other users are refused.
    pub expected_user_id: Option<String>,
    /// `MARKETWARDEN_ADMIN_TOKEN`: when set, verify, logout and reconnect require it.
    pub admin_token: Option<Secret>,
    pub feed: FeedConfig,
    /// Where Kite is: the real endpoints unless KITE_API_ROOT, KITE_LOGIN_URL or KITE_TICKER_URL
    /// say otherwise. Unused with the simulator, which serves its own.
    pub kite_endpoints: KiteEndpoints,
    /// `--public-origin`: a name browsers reach the server by, besides its listen address.
    pub public_origin: Option<PublicOrigin>,
    /// How many clients the server takes at once.
    pub limits: Limits,
    /// `--cors-origins`: other origins allowed to read.
    pub cors_origins: Vec<PublicOrigin>,
    /// `--market-segment`: the market object's segment.
    pub market_segment: Segment,
}

/// Settings that do not make sense together.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Only one of the two Kite credentials is set.
    IncompleteCredentials { missing: &'static str },
    /// `--clock-start` with the real broker: Kite's tokens and ticks follow the real clock.
    ClockStartNeedsSimulatedBroker,
    /// `--feed-instruments` does not parse.
    Instruments(String),
    /// The env file named by `--env-file` (or `MARKETWARDEN_ENV_FILE`) does not exist.
    EnvFileMissing { path: PathBuf },
    /// The env file exists but cannot be read.
    EnvFileUnreadable { path: PathBuf, problem: String },
    /// `--broker auto` with a named env file that holds no credentials: the operator meant
    /// Kite, and a silent simulator would look like a working feed.
    NoCredentialsInEnvFile { path: PathBuf },
    /// `--public-origin` is not `http(s)://host[:port]`.
    PublicOrigin(String),
    /// An entry of `--cors-origins` is not `http(s)://host[:port]`.
    CorsOrigin(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IncompleteCredentials { missing } => write!(
                f,
                "{missing} is not set: set both ZERODHA_API_KEY and ZERODHA_API_SECRET for the \
                 real Kite broker, or neither for the simulated one"
            ),
            Self::Instruments(problem) => {
                write!(f, "--feed-instruments (FEED_INSTRUMENTS): {problem}")
            }
            Self::EnvFileMissing { path } => write!(
                f,
                "--env-file {}: no such file. Create it (mode 0600) with ZERODHA_API_KEY and \
                 ZERODHA_API_SECRET, or leave --env-file out to use the embedded simulator",
                path.display()
            ),
            Self::EnvFileUnreadable { path, problem } => write!(
                f,
                "cannot read the env file {}: {problem}. It must be readable by the user the \
                 server runs as",
                path.display()
            ),
            Self::NoCredentialsInEnvFile { path } => write!(
                f,
                "--env-file {} holds no ZERODHA_API_KEY and ZERODHA_API_SECRET, and neither does \
                 the environment: add them for the real Kite broker, or pass --broker simulated",
                path.display()
            ),
            Self::PublicOrigin(problem) => f.write_str(problem),
            Self::CorsOrigin(entry) => write!(
                f,
                "--cors-origins (MARKETWARDEN_CORS_ORIGINS): `{entry}` is not an origin: give \
                 http(s)://host[:port] for each, separated by commas"
            ),
            Self::ClockStartNeedsSimulatedBroker => write!(
                f,
                "--clock-start (MARKETWARDEN_CLOCK_START) is only accepted with the simulated \
                 broker, and Kite credentials are configured: unset ZERODHA_API_KEY and \
                 ZERODHA_API_SECRET to use it"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ServeSettings {
    /// Reads the env file `args` names (through `read`, [`crate::auth::envfile::read`] in
    /// `main`), then resolves the settings with the process environment `process` laid over it.
    /// Fails closed: a named env file that is missing or unreadable, an unreadable `.env`, or a
    /// named env file without credentials under `--broker auto` refuse to start.
    ///
    /// # Errors
    ///
    /// See [`ConfigError`].
    pub fn load(
        args: ServeArgs,
        process: impl Fn(&str) -> Option<String>,
        read: impl FnOnce(&std::path::Path) -> std::io::Result<Option<EnvFile>>,
    ) -> Result<Self, ConfigError> {
        let named = args.env_file.is_some();
        let path = args
            .env_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(".env"));
        let file = match read(&path) {
            Ok(file) => file,
            Err(error) => {
                return Err(ConfigError::EnvFileUnreadable {
                    path,
                    problem: error.kind().to_string(),
                });
            }
        };
        if named && file.is_none() {
            return Err(ConfigError::EnvFileMissing { path });
        }
        let choice = args.broker;
        let settings = Self::resolve(args, layered_env(process, file))?;
        if named && choice == BrokerChoice::Auto && settings.broker == BrokerKind::Simulated {
            return Err(ConfigError::NoCredentialsInEnvFile { path });
        }
        Ok(settings)
    }

    /// Checks `args` against the environment, read through `env` (`std::env::var` in `main`).
    ///
    /// # Errors
    ///
    /// See [`ConfigError`].
    pub fn resolve(
        args: ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let is_set = |name: &str| env(name).is_some_and(|value| !value.trim().is_empty());
        let credentials = (is_set("ZERODHA_API_KEY"), is_set("ZERODHA_API_SECRET"));
        let broker = match (args.broker, credentials) {
            (BrokerChoice::Simulated, _) | (BrokerChoice::Auto, (false, false)) => {
                BrokerKind::Simulated
            }
            (_, (true, true)) => BrokerKind::Kite,
            (_, (true, false)) => {
                return Err(ConfigError::IncompleteCredentials {
                    missing: "ZERODHA_API_SECRET",
                });
            }
            (_, (false, true)) => {
                return Err(ConfigError::IncompleteCredentials {
                    missing: "ZERODHA_API_KEY",
                });
            }
            (BrokerChoice::Kite, (false, false)) => {
                return Err(ConfigError::IncompleteCredentials {
                    missing: "ZERODHA_API_KEY",
                });
            }
        };
        if args.clock_start.is_some() && broker == BrokerKind::Kite {
            return Err(ConfigError::ClockStartNeedsSimulatedBroker);
        }
        let kite = KiteEndpoints::kite();
        let kite_endpoints = KiteEndpoints {
            api_root: env("KITE_API_ROOT").unwrap_or(kite.api_root),
            login_url: env("KITE_LOGIN_URL").unwrap_or(kite.login_url),
            ticker_url: env("KITE_TICKER_URL").unwrap_or(kite.ticker_url),
        };
        let non_blank = |name: &str| {
            env(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let kite_credentials = match broker {
            BrokerKind::Kite => {
                non_blank("ZERODHA_API_KEY").zip(non_blank("ZERODHA_API_SECRET").map(Secret::new))
            }
            BrokerKind::Simulated => None,
        };
        let instruments =
            parse_instruments(&args.feed_instruments).map_err(ConfigError::Instruments)?;
        let public_origin = args
            .public_origin
            .as_deref()
            .filter(|origin| !origin.trim().is_empty())
            .map(PublicOrigin::parse)
            .transpose()
            .map_err(|error| ConfigError::PublicOrigin(error.to_string()))?;
        let cors_origins = args
            .cors_origins
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                PublicOrigin::parse(entry).map_err(|_| ConfigError::CorsOrigin(entry.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let feed = FeedConfig {
            settings: FeedSettings {
                stale_threshold: args.feed_stale_threshold,
                reconnect_delay: args.feed_reconnect_delay,
                max_backoff: args.feed_max_backoff.max(args.feed_reconnect_delay),
                max_reconnects: args.feed_max_reconnects.max(1),
            },
            pre_open_lead: args.feed_pre_open_lead,
            instruments,
            connect_timeout: FEED_CONNECT_TIMEOUT,
        };
        Ok(Self {
            addr: args.addr,
            site_root: args.site_root,
            clock_start: args.clock_start,
            calendar: args.calendar,
            log_format: args.log_format,
            broker,
            simulator_by_default: args.broker == BrokerChoice::Auto
                && broker == BrokerKind::Simulated,
            env_file: args.env_file.unwrap_or_else(|| PathBuf::from(".env")),
            kite_credentials,
            expected_user_id: non_blank("ZERODHA_USER_ID"),
            admin_token: non_blank("MARKETWARDEN_ADMIN_TOKEN").map(Secret::new),
            feed,
            kite_endpoints,
            public_origin,
            limits: Limits {
                connections: args.max_connections,
                event_streams: args.max_event_streams,
                market_sockets: args.max_market_sockets,
            },
            cors_origins,
            market_segment: args.market_segment,
        })
    }
}

/// The command line again, with the env file's settings added: for every `serve` option with
/// an environment name (`FEED_STALE_THRESHOLD`, `MARKETWARDEN_ADDR`, …) that `file` sets and
/// neither the command line (`given`) nor the process environment (`process`) does, a
/// `--option=value` is appended, so the file's value goes through the same parser and error
/// messages as a flag. The order of precedence is: flag, environment, env file, default.
/// `MARKETWARDEN_ENV_FILE` itself cannot come from the file it names.
pub fn argv_with_env_file(
    argv: &[std::ffi::OsString],
    given: impl Fn(&str) -> bool,
    process: impl Fn(&str) -> Option<String>,
    file: &EnvFile,
) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let mut argv = argv.to_vec();
    let command = Cli::command();
    for arg in command.get_arguments() {
        let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let Some(name) = name.to_str() else {
            continue;
        };
        if name == "MARKETWARDEN_ENV_FILE"
            || given(arg.get_id().as_str())
            || process(name).is_some_and(|value| !value.trim().is_empty())
        {
            continue;
        }
        if let Some(value) = file.get_non_blank(name) {
            argv.push(format!("--{long}={}", value.trim()).into());
        }
    }
    argv
}

/// Looks a name up in the process environment (`process`), then in the dotenv `file`: the
/// lookup `ServeSettings::resolve` takes. Blank values count as unset.
pub fn layered_env(
    process: impl Fn(&str) -> Option<String>,
    file: Option<EnvFile>,
) -> impl Fn(&str) -> Option<String> {
    move |name| {
        process(name)
            .filter(|value| !value.trim().is_empty())
            .or_else(|| file.as_ref()?.get_non_blank(name).map(str::to_string))
    }
}

/// How long a ticker connection attempt (handshake and subscriptions) may take.
pub const FEED_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A segment name: `nse-cm`, `nse-fo`, `bse-cm`, `bse-fo`, `cds` or `mcx`.
fn parse_segment(text: &str) -> Result<Segment, String> {
    Segment::parse(text).ok_or_else(|| {
        format!("`{text}` is not a segment: give nse-cm, nse-fo, bse-cm, bse-fo, cds or mcx")
    })
}

/// A count of at least one.
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(format!("`{text}`: give a whole number, at least 1")),
    }
}

/// A positive number of seconds, fractions allowed (`0.5`).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "`{text}`: give a number of seconds above 0, at most a day"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|error| {
            format!("{error}: expected an RFC 3339 instant such as 2026-11-30T09:14:30+05:30")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("marketwarden").chain(args.iter().copied()))
    }

    fn serve_args(cli: Cli) -> ServeArgs {
        match cli.command {
            Some(Command::Serve(args)) => args,
            None => cli.serve,
            Some(other) => panic!("not serve: {other:?}"),
        }
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    /// `argv` re-parsed with the settings of the env file `text`, and `process` as the
    /// environment.
    fn with_env_file(
        argv: &[&str],
        process: &'static [(&'static str, &'static str)],
        text: &str,
    ) -> Result<ServeArgs, clap::Error> {
        use clap::CommandFactory;
        let argv: Vec<std::ffi::OsString> = std::iter::once("marketwarden")
            .chain(argv.iter().copied())
            .map(Into::into)
            .collect();
        let matches = Cli::command().try_get_matches_from(&argv)?;
        let matches = matches.subcommand_matches("serve").unwrap_or(&matches);
        let given =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let argv = argv_with_env_file(&argv, given, env_of(process), &EnvFile::parse(text));
        Cli::try_parse_from(argv).map(serve_args)
    }

    #[test]
    fn settings_in_the_env_file_count_after_flags_and_the_environment() {
        let file = "FEED_STALE_THRESHOLD=2.5\nFEED_RECONNECT_DELAY = 0.5\nFEED_MAX_RECONNECTS=3\n\
                    MARKETWARDEN_ADDR=127.0.0.1:9100\nMARKETWARDEN_ENV_FILE=/elsewhere\n\
                    FEED_INSTRUMENTS=256265:full\nMARKETWARDEN_LOG_FORMAT=json\n";
        for argv in [
            &["serve", "--feed-max-reconnects", "7"][..],
            &["--feed-max-reconnects", "7"],
        ] {
            let args = with_env_file(argv, &[("FEED_RECONNECT_DELAY", "4")], file).unwrap();
            assert_eq!(
                args.feed_stale_threshold,
                Duration::from_millis(2_500),
                "from the file"
            );
            // Set in the environment: the file's value is not added (clap reads the value
            // itself from the real environment, where this test sets nothing: the default).
            assert_eq!(
                args.feed_reconnect_delay,
                Duration::from_secs(5),
                "the environment wins"
            );
            assert_eq!(args.feed_max_reconnects, 7, "the command line wins");
            assert_eq!(args.addr, "127.0.0.1:9100".parse().unwrap());
            assert_eq!(args.feed_instruments, "256265:full");
            assert_eq!(args.log_format, LogFormat::Json);
            assert_eq!(args.env_file, None, "the file cannot name another file");
        }
        let args = with_env_file(&[], &[], "").unwrap();
        assert_eq!(
            args.feed_stale_threshold,
            Duration::from_secs(10),
            "the default"
        );
    }

    #[test]
    fn cors_origins_are_a_checked_list_and_off_by_default() {
        let settings =
            ServeSettings::resolve(serve_args(parse(&[]).unwrap()), env_of(&[])).unwrap();
        assert!(settings.cors_origins.is_empty());
        let args = serve_args(
            parse(&[
                "--cors-origins",
                "https://ui.example.com, http://localhost:5173/",
            ])
            .unwrap(),
        );
        let settings = ServeSettings::resolve(args, env_of(&[])).unwrap();
        let origins: Vec<String> = settings
            .cors_origins
            .iter()
            .map(PublicOrigin::origin)
            .collect();
        assert_eq!(origins, ["https://ui.example.com", "http://localhost:5173"]);
        let args = serve_args(parse(&["--cors-origins", "https://ui.example.com,*"]).unwrap());
        let error = ServeSettings::resolve(args, env_of(&[])).unwrap_err();
        assert_eq!(error, ConfigError::CorsOrigin("*".into()));
        assert!(
            error.to_string().contains("MARKETWARDEN_CORS_ORIGINS"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_setting_in_the_env_file_is_refused_with_its_name() {
        let error = with_env_file(&[], &[], "FEED_STALE_THRESHOLD=soon\n").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("--feed-stale-threshold"), "{text}");
        assert!(text.contains("`soon` is not a number of seconds"), "{text}");
    }

    #[test]
    fn bare_command_and_serve_take_the_same_flags() {
        let bare = serve_args(parse(&["--addr", "0.0.0.0:8080"]).expect("bare parses"));
        let serve = serve_args(parse(&["serve", "--addr", "0.0.0.0:8080"]).expect("serve parses"));
        assert_eq!(bare.addr, serve.addr);
        assert_eq!(bare.addr, "0.0.0.0:8080".parse().unwrap());
    }

    #[test]
    fn defaults_serve_on_localhost_8000_as_the_specification() {
        let args = serve_args(parse(&[]).expect("parses"));
        assert_eq!(args.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(args.site_root, PathBuf::from("target/site"));
        assert_eq!(args.clock_start, None);
    }

    #[test]
    fn clock_start_accepts_rfc3339_with_any_offset() {
        let args = serve_args(
            parse(&["serve", "--clock-start", "2026-11-30T09:14:30+05:30"]).expect("parses"),
        );
        let expected = Utc.with_ymd_and_hms(2026, 11, 30, 3, 44, 30).unwrap();
        assert_eq!(args.clock_start, Some(expected));
    }

    #[test]
    fn clock_start_rejects_a_bad_instant_with_an_example() {
        let error = parse(&["--clock-start", "tomorrow 9am"]).expect_err("must fail");
        assert!(
            error.to_string().contains("2026-11-30T09:14:30+05:30"),
            "{error}"
        );
    }

    #[test]
    fn no_credentials_select_the_simulated_broker() {
        let args = serve_args(parse(&["--clock-start", "2026-11-30T09:00:00Z"]).unwrap());
        let settings = ServeSettings::resolve(args, env_of(&[])).expect("valid");
        assert_eq!(settings.broker, BrokerKind::Simulated);
    }

    #[test]
    fn clock_start_is_refused_with_kite_credentials() {
        let args = serve_args(parse(&["--clock-start", "2026-11-30T09:00:00Z"]).unwrap());
        let env = env_of(&[("ZERODHA_API_KEY", "key"), ("ZERODHA_API_SECRET", "secret")]);
        let error = ServeSettings::resolve(args, env).expect_err("refused");
        assert_eq!(error, ConfigError::ClockStartNeedsSimulatedBroker);
    }

    #[test]
    fn broker_can_be_chosen_explicitly_and_kite_endpoints_overridden() {
        let args = serve_args(parse(&["--broker", "simulated"]).unwrap());
        let env = env_of(&[("ZERODHA_API_KEY", "key"), ("ZERODHA_API_SECRET", "secret")]);
        assert_eq!(
            ServeSettings::resolve(args, env).unwrap().broker,
            BrokerKind::Simulated
        );
        let args = serve_args(parse(&["--broker", "kite"]).unwrap());
        let error = ServeSettings::resolve(args, env_of(&[])).expect_err("no credentials");
        assert!(error.to_string().starts_with("ZERODHA_API_KEY is not set"));
        let args = serve_args(parse(&[]).unwrap());
        let env = env_of(&[
            ("ZERODHA_API_KEY", "key"),
            ("ZERODHA_API_SECRET", "secret"),
            ("KITE_API_ROOT", "http://127.0.0.1:5010"),
        ]);
        let settings = ServeSettings::resolve(args, env).unwrap();
        assert_eq!(settings.kite_endpoints.api_root, "http://127.0.0.1:5010");
        assert_eq!(settings.kite_endpoints.ticker_url, "wss://ws.kite.trade");
    }

    #[test]
    fn credentials_in_the_env_file_count_and_the_environment_wins() {
        let file = EnvFile::parse(
            "ZERODHA_API_KEY=file_key\nZERODHA_API_SECRET=file_secret\nZERODHA_USER_ID=AB1234\n",
        );
        let env = layered_env(
            env_of(&[("ZERODHA_API_KEY", "env_key")]),
            Some(file.clone()),
        );
        let settings = ServeSettings::resolve(serve_args(parse(&[]).unwrap()), env).unwrap();
        assert_eq!(settings.broker, BrokerKind::Kite);
        let (key, secret) = settings.kite_credentials.expect("credentials");
        assert_eq!((key.as_str(), secret.expose()), ("env_key", "file_secret"));
        assert_eq!(settings.expected_user_id.as_deref(), Some("AB1234"));
        let args = serve_args(parse(&["--clock-start", "2026-11-30T09:00:00Z"]).unwrap());
        let error = ServeSettings::resolve(args, layered_env(env_of(&[]), Some(file)));
        assert_eq!(
            error.unwrap_err(),
            ConfigError::ClockStartNeedsSimulatedBroker
        );
    }

    #[test]
    fn feed_settings_default_to_the_seed_and_take_fractions() {
        let settings =
            ServeSettings::resolve(serve_args(parse(&[]).unwrap()), env_of(&[])).unwrap();
        let feed = settings.feed.settings;
        assert_eq!(feed, FeedSettings::default());
        assert_eq!(feed.stale_threshold, Duration::from_secs(10));
        assert_eq!(feed.reconnect_delay, Duration::from_secs(5));
        assert_eq!(feed.max_backoff, Duration::from_secs(60));
        assert_eq!(feed.max_reconnects, 10);
        assert_eq!(settings.feed.pre_open_lead, Duration::from_secs(300));
        assert_eq!(settings.feed.instruments.len(), 6);
        let args = serve_args(parse(&["--feed-stale-threshold", "0.5"]).unwrap());
        assert_eq!(args.feed_stale_threshold, Duration::from_millis(500));
        assert!(parse(&["--feed-stale-threshold", "0"]).is_err());
        assert!(parse(&["--feed-reconnect-delay", "soon"]).is_err());
        let args = serve_args(parse(&["--feed-instruments", "x"]).unwrap());
        let error = ServeSettings::resolve(args, env_of(&[])).unwrap_err();
        assert!(
            error.to_string().starts_with("--feed-instruments"),
            "{error}"
        );
    }

    #[test]
    fn the_env_file_defaults_to_dot_env_in_the_working_folder() {
        let settings =
            ServeSettings::resolve(serve_args(parse(&[]).unwrap()), env_of(&[])).unwrap();
        assert_eq!(settings.env_file, PathBuf::from(".env"));
        let args = serve_args(parse(&["--env-file", "/etc/marketwarden/kite.env"]).unwrap());
        assert_eq!(
            args.env_file,
            Some(PathBuf::from("/etc/marketwarden/kite.env"))
        );
    }

    /// What `ServeSettings::load` reads for a file: the text, or an I/O error kind.
    fn file_reader(
        found: Result<Option<&'static str>, std::io::ErrorKind>,
    ) -> impl FnOnce(&std::path::Path) -> std::io::Result<Option<EnvFile>> {
        move |_| match found {
            Ok(text) => Ok(text.map(EnvFile::parse)),
            Err(kind) => Err(kind.into()),
        }
    }

    #[test]
    fn a_named_env_file_that_is_missing_or_unreadable_refuses_to_start() {
        let named = || serve_args(parse(&["--env-file", "/etc/mw/kite.env"]).unwrap());
        let error = ServeSettings::load(named(), env_of(&[]), file_reader(Ok(None))).unwrap_err();
        assert_eq!(
            error,
            ConfigError::EnvFileMissing {
                path: "/etc/mw/kite.env".into()
            }
        );
        assert!(error.to_string().contains("no such file"), "{error}");
        let denied = file_reader(Err(std::io::ErrorKind::PermissionDenied));
        let error = ServeSettings::load(named(), env_of(&[]), denied).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read the env file /etc/mw/kite.env"),
            "{error}"
        );
        // The default `.env` may be missing (the simulator), but not unreadable.
        let default = || serve_args(parse(&[]).unwrap());
        let settings = ServeSettings::load(default(), env_of(&[]), file_reader(Ok(None))).unwrap();
        assert_eq!(settings.broker, BrokerKind::Simulated);
        assert!(settings.simulator_by_default);
        let denied = file_reader(Err(std::io::ErrorKind::PermissionDenied));
        assert!(matches!(
            ServeSettings::load(default(), env_of(&[]), denied),
            Err(ConfigError::EnvFileUnreadable { .. })
        ));
    }

    #[test]
    fn auto_picks_the_simulator_only_without_a_named_env_file_and_credentials() {
        let named = |broker: &str| {
            serve_args(parse(&["--env-file", "kite.env", "--broker", broker]).unwrap())
        };
        let empty = || file_reader(Ok(Some("# no credentials yet\n")));
        let error = ServeSettings::load(named("auto"), env_of(&[]), empty()).unwrap_err();
        assert_eq!(
            error,
            ConfigError::NoCredentialsInEnvFile {
                path: "kite.env".into()
            }
        );
        let error = ServeSettings::load(named("kite"), env_of(&[]), empty()).unwrap_err();
        assert!(matches!(error, ConfigError::IncompleteCredentials { .. }));
        let settings = ServeSettings::load(named("simulated"), env_of(&[]), empty()).unwrap();
        assert_eq!(settings.broker, BrokerKind::Simulated);
        assert!(!settings.simulator_by_default);
        let with_credentials = file_reader(Ok(Some("ZERODHA_API_KEY=k\nZERODHA_API_SECRET=s\n")));
        let settings = ServeSettings::load(named("auto"), env_of(&[]), with_credentials).unwrap();
        assert_eq!(settings.broker, BrokerKind::Kite);
        assert_eq!(settings.env_file, PathBuf::from("kite.env"));
    }

    #[test]
    fn credentials_without_clock_start_select_kite() {
        let args = serve_args(parse(&[]).unwrap());
        let env = env_of(&[("ZERODHA_API_KEY", "key"), ("ZERODHA_API_SECRET", "secret")]);
        let settings = ServeSettings::resolve(args, env).expect("valid");
        assert_eq!(settings.broker, BrokerKind::Kite);
    }

    #[test]
    fn half_the_credentials_is_an_error_naming_the_missing_one() {
        let args = serve_args(parse(&[]).unwrap());
        let error = ServeSettings::resolve(args, env_of(&[("ZERODHA_API_KEY", "key")]))
            .expect_err("incomplete");
        assert!(
            error
                .to_string()
                .starts_with("ZERODHA_API_SECRET is not set")
        );
    }

    #[test]
    fn blank_credentials_count_as_unset() {
        let args = serve_args(parse(&[]).unwrap());
        let env = env_of(&[("ZERODHA_API_KEY", " "), ("ZERODHA_API_SECRET", "")]);
        let settings = ServeSettings::resolve(args, env).expect("valid");
        assert_eq!(settings.broker, BrokerKind::Simulated);
    }

    #[test]
    fn help_documents_every_flag_and_variable() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "--addr",
            "MARKETWARDEN_ADDR",
            "--site-root",
            "MARKETWARDEN_SITE_ROOT",
            "--clock-start",
            "MARKETWARDEN_CLOCK_START",
            "--log-format",
            "MARKETWARDEN_LOG_FORMAT",
            "ZERODHA_API_KEY",
            "ZERODHA_API_SECRET",
            "RUST_LOG",
            "--broker",
            "MARKETWARDEN_BROKER",
            "KITE_API_ROOT",
            "KITE_LOGIN_URL",
            "KITE_TICKER_URL",
            "kite-sim",
            "--calendar",
            "MARKETWARDEN_CALENDAR",
            "--env-file",
            "MARKETWARDEN_ENV_FILE",
            "ZERODHA_USER_ID",
            "ZERODHA_ACCESS_TOKEN",
            "FEED_STALE_THRESHOLD",
            "FEED_RECONNECT_DELAY",
            "FEED_MAX_RECONNECTS",
            "FEED_PRE_OPEN_LEAD",
            "FEED_INSTRUMENTS",
            "--feed-instruments",
            "MARKETWARDEN_ADMIN_TOKEN",
            "--public-origin",
            "MARKETWARDEN_PUBLIC_ORIGIN",
            "--max-connections",
            "MARKETWARDEN_MAX_CONNECTIONS",
            "--max-event-streams",
            "--max-market-sockets",
            "SSL_CERT_FILE",
            "serve",
            "phase",
            "calendar",
        ] {
            assert!(
                help.contains(needle),
                "--help does not mention {needle}:\n{help}"
            );
        }
    }
}
