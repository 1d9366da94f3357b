use std::io::IsTerminal;
use std::sync::Arc;

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use kite_sim::{SimConfig, Simulator};
use marketwarden_core::BrokerKind;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteEndpoints;
use marketwarden_server::auth::broker::KiteBroker;
use marketwarden_server::auth::{self, AuthConfig};
use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::cli::{self, CommandError};
use marketwarden_server::clock::{Clock, StartedClock, SystemClock};
use marketwarden_server::config::{
    self, CalendarCommand, Cli, Command, KiteSimArgs, LogFormat, ServeSettings,
};
use marketwarden_server::feed::link::KiteTicker;
use marketwarden_server::hosts::HostPolicy;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::kite::tls::KiteTls;
use marketwarden_server::{AppState, compose, market, run, systemd};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = Cli::command().get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let (args, serve_matches) = match cli.command {
        Some(Command::Serve(args)) => (args, matches.subcommand_matches("serve")),
        None => (cli.serve, Some(&matches)),
        Some(Command::Phase(args)) => {
            let calendar = cli::load_calendar(args.calendar.as_deref());
            let at = args.at.unwrap_or_else(|| SystemClock.now());
            return offline(calendar.map(|calendar| cli::phase_json(&calendar, at, args.segment)));
        }
        Some(Command::Calendar(CalendarCommand::Sessions {
            from,
            to,
            calendar,
            segment,
        })) => {
            let calendar = cli::load_calendar(calendar.as_deref());
            return offline(
                calendar.and_then(|calendar| cli::sessions_csv(&calendar, from, to, segment)),
            );
        }
        Some(Command::Calendar(CalendarCommand::ImportNse {
            file,
            diff,
            calendar,
        })) => {
            let calendar = cli::load_calendar(calendar.as_deref());
            return offline(calendar.and_then(|calendar| cli::import_nse(&file, diff, &calendar)));
        }
        Some(Command::Calendar(CalendarCommand::Check { file })) => {
            return offline(cli::check_file(&file));
        }
        Some(Command::KiteSim(args)) => {
            init_logging(LogFormat::Human, std::env::var("RUST_LOG").ok().as_deref());
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(kite_sim(args))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    // The env file keeps settings too (the specification's "all settings in .env"): read it
    // once, and parse its settings as if they were flags the command line did not give.
    let env_path = args
        .env_file
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(".env"));
    let env_file = auth::envfile::read(&env_path).map(|snapshot| snapshot.map(|s| s.file));
    let args = match (&env_file, serve_matches) {
        (Ok(Some(file)), Some(given)) => {
            let given =
                |id: &str| given.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            let argv =
                config::argv_with_env_file(&argv, given, |name| std::env::var(name).ok(), file);
            match Cli::try_parse_from(argv) {
                Ok(Cli {
                    command: Some(Command::Serve(args)),
                    ..
                }) => args,
                Ok(cli) => cli.serve,
                Err(error) => {
                    eprintln!(
                        "error: a setting in the env file {} is not valid:",
                        env_path.display()
                    );
                    let _ = error.print();
                    return Ok(ExitCode::from(2));
                }
            }
        }
        _ => args,
    };
    let file_values = env_file.as_ref().ok().cloned().flatten();
    let setting = config::layered_env(|name| std::env::var(name).ok(), file_values);
    // Fail closed: a configuration that cannot be what the operator meant never starts.
    let settings = ServeSettings::load(args, |name| std::env::var(name).ok(), |_| env_file);
    let tls = KiteTls::from_environment(&setting);
    let (settings, tls) = match (settings, tls) {
        (Ok(settings), Ok(tls)) => (settings, tls),
        (Err(error), _) => return refuse(&error),
        (_, Err(error)) => return refuse(&error),
    };
    init_logging(settings.log_format, setting("RUST_LOG").as_deref());
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(settings, tls));
    // Blocking work still under way (a DNS lookup during an outage, a calendar read, an env-file
    // write on a hung disk) must not hold the exit: the stop promises under 5 s.
    runtime.shutdown_timeout(RUNTIME_STOP_DEADLINE);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// How long the exit waits for blocking tasks once the server has stopped.
const RUNTIME_STOP_DEADLINE: std::time::Duration = std::time::Duration::from_millis(500);

/// Refuses to start: the reason on stderr, exit status 2 (a configuration error).
fn refuse(error: &dyn std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {error}");
    Ok(ExitCode::from(2))
}

/// Starts the Kite simulator in this process, with the server's clock, sending logins back to
/// this server. REST and the ticker are TLS as Kite's are, on a free loopback port, with a
/// certificate generated now: the server's client crosses the same wire as in production and
/// trusts that one CA besides its usual roots. The browser's login page (and the `/_sim/`
/// control API) are also served plain on another port: a local demo must not greet the trader
/// with a certificate warning. Returns the endpoints and the CA (PEM).
async fn start_embedded_simulator(
    clock: Arc<dyn Clock>,
    server_addr: std::net::SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<(KiteEndpoints, String)> {
    let bind = || async {
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot start the embedded Kite simulator")
    };
    let (listener, secure) = (bind().await?, bind().await?);
    let addr = listener.local_addr().context("simulator has no address")?;
    let secure_addr = secure.local_addr().context("simulator has no address")?;
    let certificate =
        kite_sim::tls::SelfSigned::generate(&kite_sim::tls::SelfSigned::hosts_for(secure_addr))
            .map_err(anyhow::Error::msg)?;
    // A browser cannot be sent to 0.0.0.0 or [::]: the loopback address reaches the server too.
    let callback_addr = match server_addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            std::net::SocketAddr::from(([127, 0, 0, 1], server_addr.port()))
        }
        ip if ip.is_unspecified() => {
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, server_addr.port()))
        }
        _ => server_addr,
    };
    let config = SimConfig {
        redirect_url: format!("http://{callback_addr}/auth/callback"),
        ..SimConfig::default()
    };
    let endpoints = KiteEndpoints {
        api_root: format!("https://{secure_addr}"),
        login_url: format!("http://{addr}/connect/login"),
        ticker_url: format!("wss://{secure_addr}"),
    };
    tracing::info!(
        rest = %endpoints.api_root,
        ticker = %endpoints.ticker_url,
        login = %endpoints.login_url,
        "simulated broker started"
    );
    let router = kite_sim::router(Simulator::new(config, clock));
    let secure = kite_sim::tls::TlsListener::new(secure, certificate.server)?;
    for served in [
        tokio::spawn(
            axum::serve(listener, router.clone())
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        ),
        tokio::spawn(
            axum::serve(secure, router)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        ),
    ] {
        tokio::spawn(async move {
            if let Ok(Err(error)) = served.await {
                tracing::error!(%error, "the embedded Kite simulator stopped");
            }
        });
    }
    Ok((endpoints, certificate.ca_pem))
}

/// `marketwarden kite-sim`: the simulator alone, until SIGINT or SIGTERM.
async fn kite_sim(args: KiteSimArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match args.clock_start {
        Some(start) => Arc::new(StartedClock::starting_at(start)),
        None => Arc::new(SystemClock),
    };
    let calendar = cli::load_calendar(args.calendar.as_deref())?;
    let config = SimConfig {
        api_key: args.api_key,
        api_secret: Secret::new(args.api_secret),
        redirect_url: args.redirect_url,
        calendar,
        ..SimConfig::default()
    };
    #[cfg(unix)]
    let signals = ShutdownSignals::install()?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr().context("listener has no address")?;
    let (tls, ca_file) = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => (
            Some(kite_sim::tls::server_config_from_files(cert, key).map_err(anyhow::Error::msg)?),
            None,
        ),
        (_, _, true) => {
            let generated =
                kite_sim::tls::SelfSigned::generate(&kite_sim::tls::SelfSigned::hosts_for(addr))
                    .map_err(anyhow::Error::msg)?;
            let path = match &args.tls_ca_out {
                Some(path) => path.clone(),
                None => kite_sim::tls::private_folder()
                    .context("cannot make a folder for the CA")?
                    .join("ca.pem"),
            };
            kite_sim::tls::write_new(&path, generated.ca_pem.as_bytes())
                .with_context(|| format!("cannot write the CA to {}", path.display()))?;
            (Some(generated.server), Some(path))
        }
        _ => (None, None),
    };
    // The contract: one line each, on stdout, for scripts.
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let mut lines = format!(
        "rest: {http}://{addr}\nlogin: {http}://{addr}/connect/login\nticker: {ws}://{addr}\n"
    );
    if let Some(path) = &ca_file {
        lines.push_str(&format!("ca: {}\n", path.display()));
    }
    cli::print(&lines);
    let shutdown = CancellationToken::new();
    #[cfg(unix)]
    tokio::spawn(signals.cancel_on_signal(shutdown.clone()));
    let router = kite_sim::router(Simulator::new(config, clock));
    let served = match tls {
        Some(tls) => {
            axum::serve(kite_sim::tls::TlsListener::new(listener, tls)?, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
    };
    // A generated CA is of no use once its key is gone.
    if args.tls_ca_out.is_none()
        && let Some(path) = ca_file
    {
        let _ = std::fs::remove_file(&path);
        if let Some(folder) = path.parent() {
            let _ = std::fs::remove_dir(folder);
        }
    }
    served.context("simulator failed")
}

/// Prints an offline command's output, or its error on stderr with exit status 1.
fn offline(result: Result<String, CommandError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(output) => {
            cli::print(&output);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(settings: ServeSettings, tls: KiteTls) -> anyhow::Result<()> {
    if settings.simulator_by_default {
        tracing::info!(
            env_file = %settings.env_file.display(),
            "no Kite credentials in the environment or the env file: using the embedded Kite \
             simulator (--broker kite to refuse that)"
        );
    }
    tracing::debug!(roots = tls.root_count(), "TLS trust store for Kite ready");
    let clock: Arc<dyn Clock> = match settings.clock_start {
        Some(start) => Arc::new(StartedClock::starting_at(start)),
        None => Arc::new(SystemClock),
    };
    let site_root = settings.site_root.to_string_lossy().into_owned();
    let bundle = settings
        .site_root
        .join("pkg")
        .join(format!("{}.wasm", marketwarden_app::OUTPUT_NAME));
    if !bundle.is_file() {
        tracing::warn!(
            site_root = %site_root,
            "no browser bundle at {}: pages render but do not update; build it with \
             `make build` or point --site-root at it",
            bundle.display()
        );
    }

    let calendar = Arc::new(match &settings.calendar {
        Some(path) => CalendarStore::with_file(path.clone()),
        None => CalendarStore::builtin(),
    });
    #[cfg(unix)]
    let signals = ShutdownSignals::install()?;
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let local_addr = listener.local_addr().context("listener has no address")?;
    let shutdown = CancellationToken::new();
    let (kite_endpoints, tls) = match settings.broker {
        BrokerKind::Kite => (settings.kite_endpoints.clone(), tls),
        BrokerKind::Simulated => {
            let (endpoints, ca) =
                start_embedded_simulator(clock.clone(), local_addr, &shutdown).await?;
            (endpoints, tls.also_trusting(ca.as_bytes())?)
        }
    };
    let (api_key, api_secret) = settings.kite_credentials.clone().unwrap_or_else(|| {
        let simulated = SimConfig::default();
        (simulated.api_key, simulated.api_secret)
    });
    let ticker_url = kite_endpoints.ticker_url.clone();
    let rest = KiteRest::new(kite_endpoints, api_key.clone(), &tls)
        .context("cannot set up the Kite REST client")?;
    let running = compose::start(
        compose::Settings {
            auth: AuthConfig {
                api_key,
                env_file: settings.env_file.clone(),
                expected_user_id: settings.expected_user_id.clone(),
                environment_token: std::env::var("ZERODHA_ACCESS_TOKEN")
                    .ok()
                    .filter(|token| !token.trim().is_empty())
                    .map(|token| Secret::new(token.trim())),
            },
            feed: settings.feed.clone(),
            jitter: None,
        },
        clock.clone(),
        calendar.clone(),
        Arc::new(KiteBroker::new(rest, api_secret)),
        Arc::new(KiteTicker {
            url: ticker_url,
            tls: tls.clone(),
        }),
        shutdown.clone(),
    )
    .await;
    tracing::info!(
        broker = settings.broker.as_str(),
        clock_start = settings.clock_start.map(|start| start.to_rfc3339()),
        "listening on http://{local_addr}"
    );

    #[cfg(unix)]
    tokio::spawn(signals.cancel_on_signal(shutdown.clone()));
    #[cfg(unix)]
    tokio::spawn(reload_calendar_on_sighup(hangups, calendar.clone()));
    tokio::spawn(market::log_phase_changes(
        calendar.clone(),
        clock.clone(),
        settings.market_segment,
        running.feed.segments().to_vec(),
        shutdown.clone(),
    ));
    let state = AppState {
        broker: settings.broker,
        admin_token: settings.admin_token.clone(),
        market_segment: settings.market_segment,
        hosts: Arc::new(
            HostPolicy::for_listener(local_addr, settings.public_origin.as_ref())
                .with_cors_origins(&settings.cors_origins),
        ),
        ..AppState::new(&site_root, clock, calendar, running.machines())
    }
    .with_limits(settings.limits);
    match systemd::notify("READY=1") {
        Ok(true) => tracing::info!("told systemd the server is ready"),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "cannot notify systemd"),
    }
    if let Some(interval) = systemd::watchdog_interval() {
        tokio::spawn(systemd::keep_watchdog_fed(interval, shutdown.clone()));
    }
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        let _ = systemd::notify("STOPPING=1");
    });
    run(listener, state, shutdown)
        .await
        .context("server failed")?;
    // The watchdog closes the ticker connection with a close frame; give it a moment, never
    // more: a stop must not wait on Kite.
    if !running.stopped(TICKER_CLOSE_DEADLINE).await {
        tracing::warn!("the ticker connection did not close in time; dropping it");
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long a stop waits for the ticker connection's close handshake.
const TICKER_CLOSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// SIGINT and SIGTERM handlers, installed before the server says it is listening so that a
/// signal sent right after that line is never missed.
#[cfg(unix)]
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Cancels `shutdown` on the first SIGINT or SIGTERM.
    async fn cancel_on_signal(mut self, shutdown: CancellationToken) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
        shutdown.cancel();
    }
}

/// Reloads the calendar file on every SIGHUP.
#[cfg(unix)]
async fn reload_calendar_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    calendar: Arc<CalendarStore>,
) {
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received, reloading the calendar file");
        // File I/O off the async runtime: a slow disk or a FIFO never stalls the server.
        let calendar = calendar.clone();
        let _ = tokio::task::spawn_blocking(move || calendar.reload()).await;
    }
}

fn init_logging(format: LogFormat, directives: Option<&str>) {
    let filter = marketwarden_server::logging::filter(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
