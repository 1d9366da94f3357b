//! What the Kite tests share: a hand-moved clock, a simulator on a free port, a logged-in user,
//! and the secret scan every log line and every answer of the server goes through.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use kite_sim::tls::{SelfSigned, TlsListener};
use kite_sim::{SimConfig, Simulator, router};
use marketwarden_kite::Secret;
use marketwarden_kite::rest::KiteEndpoints;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::kite::tls::KiteTls;
use marketwarden_server::{AppState, app};

pub use marketwarden_testkit::{ManualClock, header_text};

pub struct Sim {
    pub base: String,
    pub sim: Arc<Simulator>,
    pub clock: ManualClock,
}

/// Monday 2026-11-30, 08:45 IST.
pub fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 3, 15, 0).unwrap()
}

pub async fn start_sim() -> Sim {
    start_sim_with(SimConfig::default(), morning()).await
}

pub async fn start_sim_with(config: SimConfig, now: DateTime<Utc>) -> Sim {
    let clock = ManualClock::at(now);
    let sim = Simulator::new(config, Arc::new(clock.clone()));
    let base = serve_sim(router(sim.clone())).await;
    Sim { base, sim, clock }
}

/// Serves `router` over plain HTTP (marketwarden's own router): `http://127.0.0.1:<port>`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// The CA and certificate of every simulator of this test binary, as `kite-sim
/// --tls-self-signed` generates them.
fn sim_certificate() -> &'static SelfSigned {
    static CERTIFICATE: std::sync::OnceLock<SelfSigned> = std::sync::OnceLock::new();
    CERTIFICATE.get_or_init(|| SelfSigned::generate(&["127.0.0.1".into()]).unwrap())
}

/// Serves a simulator's `router` over TLS, as Kite serves: `https://127.0.0.1:<port>`, and
/// `wss://` on the same port.
pub async fn serve_sim(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = TlsListener::new(listener, sim_certificate().server.clone()).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("https://{addr}")
}

/// The trust store of the production client with the simulators' CA added, as
/// `SSL_CERT_FILE` adds it.
pub fn tls() -> KiteTls {
    KiteTls::with_extra_ca_pem(sim_certificate().ca_pem.as_bytes()).unwrap()
}

/// An HTTP client (for the simulator or the server) that trusts the simulators' CA.
pub fn http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls((*tls().client_config()).clone())
}

/// The ticker root of the simulator at `base`: `wss://` for `https://`.
pub fn ticker_url(base: &str) -> String {
    base.replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

pub fn client(base: &str) -> KiteRest {
    let endpoints = KiteEndpoints {
        api_root: base.to_string(),
        login_url: format!("{base}/connect/login"),
        ticker_url: ticker_url(base),
    };
    KiteRest::new(endpoints, SimConfig::default().api_key, &tls()).unwrap()
}

pub fn secret() -> Secret {
    SimConfig::default().api_secret
}

/// The fields a browser submits from the simulator's login page `html`: the demo user, with the
/// page's hidden `redirect_params`.
pub fn login_form(html: &str) -> [(&'static str, String); 5] {
    marketwarden_testkit::demo_login_form(html).expect("a redirect_params field")
}

/// Logs the demo user in through the HTML form, as a browser without JavaScript would, and
/// returns the redirect's query pairs.
pub async fn log_in(base: &str, redirect_params: &[(&str, &str)]) -> Vec<(String, String)> {
    let http = http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_url = client(base).login_url(redirect_params);
    let page = http.get(&login_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/connect/login">"#),
        "{html}"
    );
    let form = login_form(&html);
    let answer = http
        .post(format!("{base}/connect/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302, "a redirect back to the app");
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("/auth/callback?"), "{location}");
    serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap()
}

pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A fresh access token for the demo user.
pub async fn access_token(base: &str) -> Secret {
    let pairs = log_in(base, &[]).await;
    client(base)
        .exchange_request_token(
            param(&pairs, "request_token").expect("a request token"),
            &secret(),
        )
        .await
        .expect("exchanged")
        .access_token
}

/// Every log line of this test binary, at trace level, so tests can look for lines in them.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        abort_on_secrets("a log line", &String::from_utf8_lossy(bytes));
        LOGS.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of the suite is captured and scanned from the start, whatever test runs.
#[ctor::ctor(unsafe)]
fn capture_logs_from_the_start() {
    capture_logs();
}

/// Sends every log line of this process (trace level and up) to [`captured_logs`] and the
/// secret scan. Installed before `main`; calling it again does nothing.
pub fn capture_logs() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        use tracing_subscriber::util::SubscriberInitExt;
        // Everything the server would write with RUST_LOG=trace, `log` records included.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(marketwarden_server::logging::filter(Some("trace")))
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .finish()
            .try_init();
    });
}

/// The log lines captured so far.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Waits (at most 5 s) until a captured log line contains `needle`.
pub async fn log_line_containing(needle: &str) {
    let found = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !captured_logs().contains(needle) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "no log line with {needle:?}");
}

/// The apps of the suite, with the API secret each is given. Their access tokens are
/// recognised by signature: any 32-hex-digit run one of these simulators signed.
const APPS: [(&str, &str); 2] = [
    ("marketwarden_sim", "marketwarden_sim_secret"),
    ("kitekey", "kitesecret-do-not-print"),
];

/// The secrets `text` holds, described without repeating them.
pub fn secrets_in(text: &str) -> Vec<String> {
    static SCAN: std::sync::LazyLock<marketwarden_testkit::SecretScan> =
        std::sync::LazyLock::new(|| marketwarden_testkit::SecretScan::new(&APPS));
    SCAN.secrets_in(text)
}

/// Fails the test if `text`, from `what`, holds a secret.
pub fn assert_no_secrets(what: &str, text: &str) {
    let found = secrets_in(text);
    assert!(found.is_empty(), "{what} holds {}", found.join(" and "));
}

/// Stops the whole test binary if `text` holds a secret: it may be on a connection task or a
/// reader thread, where a panic would not fail any test.
pub fn abort_on_secrets(what: &str, text: &str) {
    let found = secrets_in(text);
    if !found.is_empty() {
        use std::io::Write;
        let thread = std::thread::current();
        // Straight to the process's stderr: the harness's capture would die with the process.
        let _ = writeln!(
            std::io::stderr(),
            "SECRET LEAK: {what} holds {} (thread {})",
            found.join(" and "),
            thread.name().unwrap_or("unnamed")
        );
        std::process::abort();
    }
}

/// The server's router with every answer scanned for secrets as it streams out: headers at
/// once, bodies chunk by chunk (SSE, HTML streams and JSON alike).
pub fn scanned_app(state: AppState) -> axum::Router {
    app(state).layer(axum::middleware::map_response(scan_answer))
}

async fn scan_answer(response: axum::response::Response) -> axum::response::Response {
    use futures_util::StreamExt;

    let (parts, body) = response.into_parts();
    abort_on_secrets("an answer's headers", &header_text(&parts.headers));
    // A secret split across two chunks is caught with the end of the one before.
    let mut tail = String::new();
    let scanned = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            let text = format!("{tail}{}", String::from_utf8_lossy(bytes));
            abort_on_secrets("an answer's body", &text);
            let keep = text.len().saturating_sub(64);
            let keep = (keep..=text.len())
                .find(|at| text.is_char_boundary(*at))
                .unwrap_or(text.len());
            tail = text[keep..].to_string();
        }
        chunk
    });
    axum::response::Response::from_parts(parts, axum::body::Body::from_stream(scanned))
}
