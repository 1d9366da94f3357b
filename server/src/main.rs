use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use marketwarden_core::Clock;
use marketwarden_server::clock::{StartedClock, SystemClock};
use marketwarden_server::config::{Cli, Command, LogFormat, ServeSettings};
use marketwarden_server::{AppState, run};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let settings = ServeSettings::resolve(args, |name| std::env::var(name).ok())?;
    init_logging(settings.log_format);
    serve(settings).await
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
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
             `cargo leptos build --release` or point --site-root at it",
            bundle.display()
        );
    }

    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    let local_addr = listener.local_addr().context("listener has no address")?;
    tracing::info!(
        broker = settings.broker.as_str(),
        clock_start = settings.clock_start.map(|start| start.to_rfc3339()),
        "listening on http://{local_addr}"
    );

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    run(listener, AppState::new(&site_root, clock), shutdown)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
    shutdown.cancel();
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
