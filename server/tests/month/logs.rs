//! Every log line of the run, checked as it is written for the API secret and every access
//! token the simulator has issued.

use super::*;

/// Every log line of the run (debug and up), checked as it is written for the API secret and
/// every access token the simulator has issued.
pub struct LogScan {
    lines: Arc<AtomicU64>,
    leaks: Arc<Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogScan {
    pub fn finish(self) -> (u64, Vec<String>) {
        let leaks = self.leaks.lock().unwrap().clone();
        (self.lines.load(Ordering::SeqCst), leaks)
    }
}

pub fn scan_logs_for_secrets(sim: Arc<Simulator>, clock: Arc<dyn Clock>) -> LogScan {
    let lines = Arc::new(AtomicU64::new(0));
    let leaks = Arc::new(Mutex::new(Vec::new()));
    let writer = ScanningWriter {
        echo: std::env::var_os("MARKETWARDEN_MONTH_LOG").is_some(),
        sim,
        lines: lines.clone(),
        leaks: leaks.clone(),
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,hyper=info,hyper_util=info,tungstenite=info,tokio_tungstenite=info",
        ))
        .with_writer(move || writer.clone())
        .with_timer(SimulatedTime(clock))
        .with_ansi(false)
        .finish();
    LogScan {
        lines,
        leaks,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

/// Log lines stamped with the simulated time, in IST.
pub struct SimulatedTime(Arc<dyn Clock>);

impl tracing_subscriber::fmt::time::FormatTime for SimulatedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let ist = self.0.now() + TimeDelta::minutes(330);
        write!(w, "{}", ist.format("%a %Y-%m-%d %H:%M:%S%.3f IST"))
    }
}

#[derive(Clone)]
pub struct ScanningWriter {
    /// Also print every line (`MARKETWARDEN_MONTH_LOG=1`).
    echo: bool,
    sim: Arc<Simulator>,
    lines: Arc<AtomicU64>,
    leaks: Arc<Mutex<Vec<String>>>,
}

impl Write for ScanningWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if self.echo {
            eprint!("{text}");
        }
        self.lines
            .fetch_add(text.matches('\n').count() as u64, Ordering::SeqCst);
        let secrets = secrets_of(&self.sim);
        if secrets.iter().any(|secret| text.contains(secret.as_str())) {
            let redacted = secrets
                .iter()
                .fold(text.trim_end().to_owned(), |line, secret| {
                    line.replace(secret.as_str(), "<SECRET>")
                });
            self.leaks
                .lock()
                .unwrap()
                .push(format!("a log line holds a secret: {redacted}"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What must never be seen: the API secret and every access token `sim` has issued.
pub fn secrets_of(sim: &Simulator) -> Vec<String> {
    let mut secrets = sim.issued_tokens();
    secrets.push(sim.config().api_secret.expose().to_owned());
    secrets
}
