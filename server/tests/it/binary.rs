//! The `marketwarden` binary, run as a process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn marketwarden() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marketwarden"));
    command
        .env_remove("ZERODHA_API_KEY")
        .env_remove("ZERODHA_API_SECRET")
        .env_remove("MARKETWARDEN_ADDR")
        .env_remove("MARKETWARDEN_CLOCK_START")
        .env_remove("ZERODHA_ACCESS_TOKEN")
        .env_remove("ZERODHA_USER_ID")
        .env_remove("MARKETWARDEN_ENV_FILE")
        .env_remove("MARKETWARDEN_BROKER")
        .env_remove("SSL_CERT_FILE")
        .env_remove("KITE_API_ROOT")
        .env_remove("KITE_LOGIN_URL")
        .env_remove("KITE_TICKER_URL")
        // Never a developer's own .env: a working folder without one.
        .current_dir(folder_without_env())
        .env("RUST_LOG", "info");
    command
}

fn folder_without_env() -> std::path::PathBuf {
    let folder = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-env-here");
    std::fs::create_dir_all(&folder).expect("a working folder");
    folder
}

#[test]
fn help_documents_serve_and_its_variables() {
    let output = marketwarden().arg("--help").output().expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "serve",
        "--addr",
        "MARKETWARDEN_ADDR",
        "--clock-start",
        "ZERODHA_API_SECRET",
    ] {
        assert!(help.contains(needle), "missing {needle} in:\n{help}");
    }
}

#[test]
fn clock_start_with_kite_credentials_exits_with_a_clear_error() {
    let output = marketwarden()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--clock-start",
            "2026-11-30T09:00:00+05:30",
        ])
        .env("ZERODHA_API_KEY", "kitekey")
        .env("ZERODHA_API_SECRET", "kitesecret-do-not-print")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only accepted with the simulated broker"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("kitesecret-do-not-print"),
        "secret leaked: {stderr}"
    );
}

#[test]
fn serve_reports_its_address_and_stops_cleanly_on_sigterm() {
    let mut child = marketwarden()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--clock-start",
            "2026-11-30T09:14:30+05:30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut before = Vec::new();
    let listening = loop {
        let line = lines.next().expect("a listening line").expect("utf-8");
        if line.contains("listening on http://") {
            break line;
        }
        before.push(line);
    };
    let started = before
        .iter()
        .find(|line| line.contains("simulated broker started"))
        .unwrap_or_else(|| {
            panic!("the embedded simulator runs before the server says it listens: {before:?}")
        });
    // REST and the ticker over TLS, as Kite's; the browser's login page plain (a local demo).
    assert!(started.contains("rest=https://127.0.0.1:"), "{started}");
    assert!(started.contains("ticker=wss://127.0.0.1:"), "{started}");
    assert!(started.contains("login=http://127.0.0.1:"), "{started}");
    assert!(listening.contains("broker=\"simulated\""), "{listening}");
    assert!(listening.contains("2026-11-30T03:44:30"), "{listening}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "exit status {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|line| line.contains("stopped")), "{rest:?}");
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    // Inside target/, which cargo owns: nothing is left in the system's temp folder.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writable");
    path
}

#[test]
fn phase_prints_the_market_object_whatever_the_process_time_zone() {
    let outputs: Vec<String> = ["Asia/Kolkata", "America/New_York", "UTC"]
        .into_iter()
        .map(|tz| {
            let output = marketwarden()
                .args(["phase", "--at", "2025-10-21T08:10:00Z"])
                .env("TZ", tz)
                .output()
                .expect("runs");
            assert!(output.status.success(), "TZ={tz}");
            String::from_utf8(output.stdout).expect("utf-8")
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    let json: serde_json::Value = serde_json::from_str(&outputs[0]).expect("json");
    // 13:40 IST on Muhurat day 2025: the auction freeze before the 13:45 open.
    assert_eq!(json["phase"], "AUCTION_FREEZE");
    assert_eq!(json["next_phase"], "LIVE");
    assert_eq!(json["next_change_at"], "2025-10-21T13:45:00+05:30");
    assert_eq!(json["session_name"], "Diwali Laxmi Pujan: Muhurat trading");
    assert_eq!(json["calendar_coverage_ends"], "2026-12-31");
}

/// Every segment's phase, on the day of its dated changes and through the evening, is the same
/// whatever the process's time zone.
#[test]
fn phase_of_every_segment_is_the_same_in_any_time_zone() {
    for segment in ["nse-cm", "nse-fo", "bse-cm", "bse-fo", "cds", "mcx"] {
        for at in [
            "2026-08-03T10:02:00Z", // 15:32 IST: the closing auction's matching, F&O trading
            "2026-12-01T15:30:00Z", // 21:00 IST: MCX trading
            "2025-12-08T03:32:00Z", // 09:02 IST: the first F&O futures pre-open
        ] {
            let outputs: Vec<String> = ["Asia/Kolkata", "America/New_York", "UTC"]
                .into_iter()
                .map(|tz| {
                    let output = marketwarden()
                        .args(["phase", "--at", at, "--segment", segment])
                        .env("TZ", tz)
                        .output()
                        .expect("runs");
                    assert!(output.status.success(), "TZ={tz}");
                    String::from_utf8(output.stdout).expect("utf-8")
                })
                .collect();
            assert_eq!(outputs[0], outputs[1], "{segment} at {at}");
            assert_eq!(outputs[0], outputs[2], "{segment} at {at}");
            let json: serde_json::Value = serde_json::from_str(&outputs[0]).expect("json");
            assert_eq!(json["segment"], segment);
        }
    }
    let phase = |segment: &str, at: &str| {
        let output = marketwarden()
            .args(["phase", "--at", at, "--segment", segment])
            .env("TZ", "America/New_York")
            .output()
            .expect("runs");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        json["phase"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(phase("nse-cm", "2026-08-03T10:02:00Z"), "CLOSING_AUCTION");
    assert_eq!(phase("nse-fo", "2026-08-03T10:02:00Z"), "LIVE");
    assert_eq!(phase("mcx", "2026-12-01T15:30:00Z"), "LIVE");
    assert_eq!(phase("nse-fo", "2025-12-08T03:32:00Z"), "PRE_OPEN");
    let bad = marketwarden()
        .args(["phase", "--segment", "nfo"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a segment"));
}

#[test]
fn phase_with_a_calendar_file_uses_it() {
    let file = temp_file(
        "phase.csv",
        "date,kind,hours,name\n2027-12-31,coverage-ends,,2027\n2027-01-26,closed,,Republic Day\n",
    );
    let output = marketwarden()
        .args(["phase", "--at", "2027-01-26T10:00:00+05:30", "--calendar"])
        .arg(&file)
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["holiday_name"], "Republic Day");
    assert_eq!(json["calendar_coverage_ends"], "2027-12-31");
    assert_eq!(json["calendar_warning"], serde_json::Value::Null);
}

#[test]
fn calendar_sessions_prints_csv_rows() {
    let output = marketwarden()
        .args([
            "calendar",
            "sessions",
            "--from",
            "2024-03-02",
            "--to",
            "2024-03-03",
        ])
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "date,phase,start,end,name\n\
         2024-03-02,PRE_OPEN,09:00,09:07,Disaster-recovery live session\n\
         2024-03-02,AUCTION_FREEZE,09:07,09:15,Disaster-recovery live session\n\
         2024-03-02,LIVE,09:15,10:00,Disaster-recovery live session\n\
         2024-03-02,PRE_OPEN,11:15,11:22,Disaster-recovery live session\n\
         2024-03-02,AUCTION_FREEZE,11:22,11:30,Disaster-recovery live session\n\
         2024-03-02,LIVE,11:30,12:30,Disaster-recovery live session\n"
    );
}

fn calendar_check(file: &std::path::Path) -> std::process::Output {
    marketwarden()
        .args(["calendar", "check"])
        .arg(file)
        .output()
        .expect("runs")
}

#[test]
fn calendar_check_accepts_a_good_file_and_lists_every_problem_of_a_bad_one() {
    let good = temp_file(
        "good.csv",
        "date,kind,hours,name\n2027-12-31,coverage-ends,,2027\n",
    );
    let output = calendar_check(&good);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(
        "good.csv: ok; nse-cm coverage 2024-01-01 to 2027-12-31, nse-fo coverage \
                 2024-01-01 to 2027-12-31, bse-cm coverage 2024-01-01 to 2027-12-31, bse-fo \
                 coverage 2024-01-01 to 2027-12-31, cds no holiday list, mcx no holiday list\n"
    ));

    let bad = temp_file(
        "bad.csv",
        "date,kind,hours,name\n2027-01-26,clsoed,,Republic Day\n2027-13-01,closed,,Nope\n",
    );
    let output = calendar_check(&bad);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].ends_with("bad.csv: line 2: unknown kind `clsoed`: expected closed, session, unpublished, template, coverage-starts or coverage-ends"), "{stderr}");
    assert!(
        lines[1].ends_with("bad.csv: line 3: `2027-13-01` is not a date in the form YYYY-MM-DD"),
        "{stderr}"
    );

    let output = marketwarden()
        .args(["calendar", "check", "/nonexistent.csv"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("cannot read /nonexistent.csv"));
}

/// A bad edit of the calendar file, reloaded with SIGHUP, keeps the last good calendar and is
/// reported in the health answer; fixing it takes effect on the next SIGHUP.
#[test]
fn sighup_reloads_the_calendar_and_a_bad_file_changes_nothing() {
    use std::io::{Read, Write};

    let file = temp_file(
        "served.csv",
        "date,kind,hours,name\n2026-11-30,closed,,Snap closure\n",
    );
    let mut child = marketwarden()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--clock-start",
            "2026-11-30T10:00:00+05:30",
            "--calendar",
        ])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok);
    let listening = lines
        .by_ref()
        .find(|line| line.contains("listening on http://"))
        .expect("listening");
    let addr = listening
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address")
        .to_string();
    let market = || {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connects");
        write!(
            stream,
            "GET /api/system/health/market HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .expect("a body")
            .to_string();
        serde_json::from_str::<serde_json::Value>(&body).expect("json")
    };
    let hangup = |child: &std::process::Child| {
        let status = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    assert_eq!(market()["holiday_name"], "Snap closure");

    std::fs::write(&file, "date,kind,hours,name\n2026-11-30,clsoed,,Typo\n").unwrap();
    hangup(&child);
    lines
        .by_ref()
        .find(|line| line.contains("calendar file not loaded"))
        .expect("the error is logged");
    let answer = market();
    assert_eq!(
        answer["holiday_name"], "Snap closure",
        "the last good calendar stays"
    );
    assert!(
        answer["calendar_error"]
            .as_str()
            .unwrap()
            .starts_with("served.csv: line 2: unknown kind …"),
        "the file's name, the line and the problem; not its folder nor its text: {answer}"
    );

    std::fs::write(&file, "date,kind,hours,name\n").unwrap();
    hangup(&child);
    lines
        .by_ref()
        .find(|line| line.contains("calendar file loaded"))
        .expect("the reload is logged");
    let answer = market();
    assert_eq!(answer["phase"], "LIVE");
    assert_eq!(answer["calendar_error"], serde_json::Value::Null);

    child.kill().expect("stops");
    child.wait().expect("reaped");
}

/// Fail closed: a named env file that is missing or unreadable, `--broker kite` without
/// credentials, or a named env file without credentials under `auto` never start; `auto` with
/// nothing configured says it chose the simulator.
#[test]
fn the_broker_choice_fails_closed() {
    let folder = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], needle: &str| {
        let output = marketwarden()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    let missing = folder.path().join("kite.env");
    let missing = missing.to_str().unwrap();
    refused(&["--env-file", missing], "no such file");
    // A folder where the file should be: it exists, and cannot be read as a file.
    let unreadable = folder.path().to_str().unwrap();
    refused(&["--env-file", unreadable], "cannot read the env file");
    std::fs::write(folder.path().join("empty.env"), "# to be filled in\n").unwrap();
    let empty = folder.path().join("empty.env");
    let empty = empty.to_str().unwrap();
    refused(&["--env-file", empty], "holds no ZERODHA_API_KEY");
    refused(&["--broker", "kite"], "ZERODHA_API_KEY is not set");
    let bad_ca = folder.path().join("no-ca.pem");
    let output = marketwarden()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("SSL_CERT_FILE", &bad_ca)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");

    let mut child = marketwarden()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.contains("listening on"))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("using the embedded Kite simulator")),
        "{lines:?}"
    );
}

/// `kite-sim` on a free port with `args`, and the first `count` lines it printed.
fn kite_sim(args: &[&str], count: usize) -> (std::process::Child, Vec<String>) {
    let mut child = marketwarden()
        .args(["kite-sim", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let lines = BufReader::new(child.stdout.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
        .take(count)
        .collect();
    (child, lines)
}

/// `kite-sim --tls-self-signed`: `https://` and `wss://` URLs and the CA file to trust.
#[test]
fn kite_sim_serves_tls_with_a_generated_ca() {
    let (mut child, lines) = kite_sim(&["--tls-self-signed"], 4);
    let port = lines[0]
        .strip_prefix("rest: https://127.0.0.1:")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .to_string();
    assert_eq!(
        lines[1],
        format!("login: https://127.0.0.1:{port}/connect/login")
    );
    assert_eq!(lines[2], format!("ticker: wss://127.0.0.1:{port}"));
    let ca = lines[3].strip_prefix("ca: ").expect("a ca: line");
    let pem = std::fs::read_to_string(ca).expect("the CA file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    assert!(
        !std::path::Path::new(ca).exists(),
        "a generated CA is removed at exit"
    );
    let output = marketwarden()
        .args(["kite-sim", "--tls-cert", "cert.pem"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls-key"));
}

#[test]
fn kite_sim_prints_its_three_urls() {
    let (mut child, lines) = kite_sim(&[], 3);
    child.kill().expect("stops");
    child.wait().expect("reaped");
    let port = lines[0]
        .strip_prefix("rest: http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        lines[1],
        format!("login: http://127.0.0.1:{port}/connect/login")
    );
    assert_eq!(lines[2], format!("ticker: ws://127.0.0.1:{port}"));
}

/// A running `marketwarden serve` whose stdout and stderr lines are collected.
struct Served {
    child: std::process::Child,
    base: String,
    lines: std::sync::mpsc::Receiver<String>,
    logs: Vec<String>,
}

impl Served {
    /// The server with the embedded simulator, keeping its token in `env_file`.
    fn start(env_file: &std::path::Path) -> Self {
        let mut command = marketwarden();
        command
            .args([
                "serve",
                "--broker",
                "simulated",
                "--addr",
                "127.0.0.1:0",
                "--env-file",
            ])
            .arg(env_file);
        Self::spawn(command)
    }

    /// `command`, at trace level (every line is scanned for secrets).
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let (sender, lines) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    crate::support::abort_on_secrets("a log line of `marketwarden serve`", &line);
                    let _ = sender.send(line);
                }
            });
        }
        let mut served = Self {
            child,
            base: String::new(),
            lines,
            logs: Vec::new(),
        };
        let listening = served.wait_for_log("listening on http://");
        let addr = listening
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address");
        served.base = format!("http://{addr}");
        served
    }

    /// Waits (at most 30 s) for a log line containing `needle`, and returns it.
    fn wait_for_log(&mut self, needle: &str) -> String {
        if let Some(line) = self.logs.iter().find(|line| line.contains(needle)) {
            return line.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            self.logs.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Waits (at most 30 s for each line) until `count` log lines contain `needle`.
    fn wait_for_count(&mut self, needle: &str, count: usize) {
        while self
            .logs
            .iter()
            .filter(|line| line.contains(needle))
            .count()
            < count
        {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("fewer than {count} log lines with {needle:?}"));
            self.logs.push(line);
        }
    }

    /// Stops the server with SIGTERM and returns every line it printed.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("reaped");
        // The reader threads end, and drop their senders, when the pipes close.
        self.logs.extend(self.lines.iter());
        self.logs
    }
}

async fn text_of(request: reqwest::RequestBuilder) -> String {
    let text = request.send().await.unwrap().text().await.unwrap();
    crate::support::assert_no_secrets("an answer of `marketwarden serve`", &text);
    text
}

/// Logs in through the embedded simulator as a browser would; returns every body read.
async fn browser_login(base: &str) -> Vec<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    browser_login_with(&http, base).await
}

/// Logs in through the simulator the server sends `http` to; returns every body read.
async fn browser_login_with(http: &reqwest::Client, base: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let start = http.get(format!("{base}/auth/login")).send().await.unwrap();
    assert_eq!(start.status(), 302);
    let cookie = start.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let login_url = start.headers()["location"].to_str().unwrap().to_string();
    let page = text_of(http.get(&login_url)).await;
    let form = crate::support::login_form(&page);
    bodies.push(page);
    let sim_root = login_url.split("/connect/login").next().unwrap();
    let submitted = http
        .post(format!("{sim_root}/connect/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = submitted.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        callback.starts_with(&format!("{base}/auth/callback?")),
        "{callback}"
    );
    let done = http
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    bodies.push(done.text().await.unwrap());
    for path in ["/", "/api/system/health/auth", "/api/system/health/market"] {
        bodies.push(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let verified = http
        .post(format!("{base}/api/system/health/auth/verify"))
        .send()
        .await
        .unwrap();
    bodies.push(verified.text().await.unwrap());
    bodies
}

/// `RUST_LOG` in the env file counts when the environment has none.
#[test]
fn the_log_filter_comes_from_the_env_file_too() {
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join("settings.env");
    std::fs::write(&env_file, "RUST_LOG=debug\n").unwrap();
    let mut child = marketwarden()
        .args(["serve", "--broker", "simulated", "--addr", "127.0.0.1:0"])
        .arg("--env-file")
        .arg(&env_file)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.contains("listening on"))
        .collect();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("TLS trust store for Kite ready")),
        "a debug line, so the file's filter is in force: {lines:?}"
    );
}

/// The specification keeps every setting in the env file: the watchdog's settings there count,
/// below the environment and the flags; a bad one refuses the start with its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_settings_come_from_the_env_file_too() {
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join("settings.env");
    std::fs::write(
        &env_file,
        "FEED_STALE_THRESHOLD=2.5\nFEED_RECONNECT_DELAY=0.5\nFEED_MAX_RECONNECTS=3\n",
    )
    .unwrap();
    let mut command = marketwarden();
    command
        .args(["serve", "--broker", "simulated", "--addr", "127.0.0.1:0"])
        .args(["--feed-reconnect-delay", "0.25"])
        .arg("--env-file")
        .arg(&env_file)
        .env("FEED_MAX_RECONNECTS", "4");
    let mut served = Served::spawn(command);
    let started = served.wait_for_log("Feed Watchdog started");
    assert!(
        started.contains("stale_threshold_s=2.5"),
        "the file: {started}"
    );
    assert!(
        started.contains("reconnect_delay_s=0.25"),
        "the flag: {started}"
    );
    assert!(
        started.contains("max_reconnects=4"),
        "the environment: {started}"
    );
    let feed: serde_json::Value = reqwest::get(format!("{}/api/system/health/feed", served.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(feed["stale_threshold_seconds"], 2.5, "{feed}");
    served.stop();

    std::fs::write(&env_file, "FEED_STALE_THRESHOLD=soon\n").unwrap();
    let output = marketwarden()
        .args(["serve", "--broker", "simulated", "--addr", "127.0.0.1:0"])
        .arg("--env-file")
        .arg(&env_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a setting in the env file"), "{stderr}");
    assert!(
        stderr.contains("`soon` is not a number of seconds"),
        "{stderr}"
    );
}

/// The binary end to end: a login through the embedded simulator saves the token (mode 0600);
/// a restart picks it up and Kite accepts it; no log line (at debug level) and no body ever
/// holds the token or the API secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_survives_a_restart_and_no_secret_is_ever_printed() {
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join(".env");
    std::fs::write(&env_file, "# operator's file\nKEEP=me\n").unwrap();
    let mut first = Served::start(&env_file);
    first.wait_for_log("AUTH STATE: REQUIRED");
    first.wait_for_log("Feed Watchdog started");
    let mut bodies = browser_login(&first.base).await;
    first.wait_for_log("access token saved");
    let mut logs = first.stop();
    let saved = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        saved.starts_with("# operator's file\nKEEP=me\nZERODHA_ACCESS_TOKEN="),
        "{saved}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = saved
        .lines()
        .find_map(|line| line.strip_prefix("ZERODHA_ACCESS_TOKEN="))
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32);

    let mut second = Served::start(&env_file);
    second.wait_for_log("AUTH STATE: VALID");
    let http = reqwest::Client::new();
    let auth = text_of(http.get(format!("{}/api/system/health/auth", second.base))).await;
    let json: serde_json::Value = serde_json::from_str(&auth).unwrap();
    assert_eq!(json["state"], "valid", "{auth}");
    bodies.push(auth);
    logs.extend(second.stop());

    assert!(logs.iter().any(|line| line.contains("AUTH STATE: VALID")));
    for secret in [token.as_str(), "marketwarden_sim_secret"] {
        for line in &logs {
            assert!(!line.contains(secret), "a secret in a log line: {line}");
        }
        for body in &bodies {
            assert!(!body.contains(secret), "a secret in a body: {body}");
        }
    }
}

/// Under systemd (`Type=notify`): READY=1 once it serves, WATCHDOG=1 at half of WATCHDOG_USEC
/// from its own loop, STOPPING=1 and exit 0 on SIGTERM.
#[cfg(target_os = "linux")]
#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;

    let folder = tempfile::tempdir().unwrap();
    let socket_path = folder.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut child = marketwarden()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let receive = || {
        let mut buffer = [0u8; 256];
        let length = socket.recv(&mut buffer).expect("a notification");
        String::from_utf8_lossy(&buffer[..length]).into_owned()
    };
    assert_eq!(receive(), "READY=1");
    assert_eq!(receive(), "WATCHDOG=1");
    assert_eq!(receive(), "WATCHDOG=1");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut heard = receive();
    while heard == "WATCHDOG=1" {
        heard = receive();
    }
    assert_eq!(heard, "STOPPING=1");
    assert!(child.wait().unwrap().success(), "exit 0");
}

/// A free loopback port, for a server that must be named before it starts (the simulator sends
/// logins back to it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A calendar file with a trading session today (IST) around now, as an operator would write
/// one for a special session: LIVE with the real clock and the real broker.
async fn session_around_now(folder: &std::path::Path) -> std::path::PathBuf {
    use chrono::Timelike;
    use marketwarden_server::clock::{Clock, SystemClock};
    let mut now = marketwarden_core::ist_wall_clock(SystemClock.now());
    if now.hour() == 23 && now.minute() >= 57 {
        // Too close to midnight for a session today: start after it.
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::from(60 - now.minute()) * 60 - u64::from(now.second()) + 5,
        ))
        .await;
        now = marketwarden_core::ist_wall_clock(SystemClock.now());
    }
    let open = now.time().with_second(0).unwrap() - chrono::TimeDelta::minutes(1);
    let open = open.min(now.time().with_second(0).unwrap());
    let minutes_left = 23 * 60 + 59 - (now.hour() * 60 + now.minute());
    let close = now.time().with_second(0).unwrap()
        + chrono::TimeDelta::minutes(i64::from(minutes_left.min(60)));
    let path = folder.join("calendar.csv");
    std::fs::write(
        &path,
        format!(
            "date,kind,hours,name\n{},session,trading {}-{},Test session\n",
            now.date(),
            open.format("%H:%M"),
            close.format("%H:%M"),
        ),
    )
    .unwrap();
    path
}

/// The production path end to end: `serve --broker kite` with an env file, against
/// `kite-sim --tls-self-signed` trusted through `SSL_CERT_FILE`, in a session from a calendar
/// file. The trader logs in over `https://`, the feed connects over `wss://` and ticks reach
/// `/ws/market`; no secret in any line or answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_kite_logs_in_and_streams_ticks_over_tls() {
    use futures_util::StreamExt;

    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let ca = folder.path().join("kite-sim-ca.pem");
    let calendar = session_around_now(folder.path()).await;
    let mut sim = marketwarden()
        .args(["kite-sim", "--addr", "127.0.0.1:0", "--tls-self-signed"])
        .arg("--calendar")
        .arg(&calendar)
        .arg("--tls-ca-out")
        .arg(&ca)
        .args(["--redirect-url", &format!("{base}/auth/callback")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kite-sim starts");
    let urls: Vec<String> = BufReader::new(sim.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take(4)
        .collect();
    let url = |name: &str| {
        urls.iter()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name}: line in {urls:?}"))
            .to_string()
    };
    // Every setting in the env file, as the specification keeps them in `backend/.env`: the
    // credentials, where Kite is, and the CA to trust for it.
    let env_file = folder.path().join("kite.env");
    std::fs::write(
        &env_file,
        format!(
            "ZERODHA_API_KEY=marketwarden_sim\nZERODHA_API_SECRET=marketwarden_sim_secret\n\
             SSL_CERT_FILE={}\nKITE_API_ROOT={}\nKITE_LOGIN_URL={}\nKITE_TICKER_URL={}\n",
            ca.display(),
            url("rest"),
            url("login"),
            url("ticker")
        ),
    )
    .unwrap();
    let mut command = marketwarden();
    command
        .args([
            "serve",
            "--broker",
            "kite",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--env-file")
        .arg(&env_file)
        .arg("--calendar")
        .arg(&calendar);
    let mut served = Served::spawn(command);
    assert_eq!(served.base, base);
    served.wait_for_log("AUTH STATE: REQUIRED");
    let listening = served.wait_for_log("listening on");
    assert!(listening.contains("broker=\"kite\""), "{listening}");
    // Before the login: the specification's answer for a required login.
    let waiting = reqwest::get(format!("{base}/api/system/health"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    crate::conformance::assert_conforms(
        &waiting,
        &["auth.token_age_hours", "feed.last_tick_seconds_ago"],
    );
    assert_eq!(waiting["priority_status"], "AUTH_REQUIRED", "{waiting}");

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let mut bodies = browser_login_with(&browser, &base).await;
    served.wait_for_log("AUTH STATE: VALID");
    served.wait_for_log("FEED STATE: CONNECTED");
    let (mut prices, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/market"))
            .await
            .expect("/ws/market opens");
    let frame = tokio::time::timeout(std::time::Duration::from_secs(20), prices.next())
        .await
        .expect("ticks within 20 s")
        .expect("a frame")
        .expect("not an error");
    let frame = frame.into_text().expect("text");
    assert!(frame.contains(r#""type":"ticks""#), "{frame}");
    bodies.push(frame.to_string());
    let feed = text_of(browser.get(format!("{base}/api/system/health/feed"))).await;
    let feed: serde_json::Value = serde_json::from_str(&feed).unwrap();
    assert_eq!(feed["state"], "connected", "{feed}");
    assert!(feed["last_tick_seconds_ago"].is_number(), "{feed}");
    let health = text_of(browser.get(format!("{base}/api/system/health"))).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["market"]["phase"], "LIVE", "{health}");
    assert_eq!(health["broker"], "kite", "{health}");
    assert_eq!(health["priority_status"], "MARKET_SESSION", "{health}");
    crate::conformance::assert_conforms(&health, &[]);
    served.wait_for_log("Market feed is now LIVE");
    // A new connection (on request, no admin token set) is no new session: said once.
    let reconnect = browser
        .post(format!("{base}/api/system/health/feed/reconnect"))
        .send()
        .await
        .unwrap();
    assert_eq!(reconnect.status(), 202);
    served.wait_for_count("FEED STATE: CONNECTED", 2);

    // SIGTERM with the ticker connected, an event stream and a tick socket open: the exit
    // takes under 5 s, and the ticker connection is closed (not dropped) on the way out.
    let mut events = browser
        .get(format!("{base}/api/system/events"))
        .send()
        .await
        .unwrap();
    assert!(events.chunk().await.unwrap().is_some());
    let (stopped, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || stopped.send(served.stop()));
    let logs = tokio::task::spawn_blocking(move || {
        logs.recv_timeout(std::time::Duration::from_secs(5))
            .expect("SIGTERM ends the process within 5 s")
    })
    .await
    .unwrap();
    drop((events, prices));
    assert!(
        logs.iter()
            .any(|line| line.contains("Feed Watchdog stopped")),
        "{logs:?}"
    );
    let announced = logs
        .iter()
        .filter(|line| line.contains("Market feed is now LIVE"))
        .count();
    assert_eq!(announced, 1, "once per session: {logs:?}");
    assert!(
        !logs
            .iter()
            .any(|line| line.contains("did not close in time")),
        "{logs:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &sim.id().to_string()])
        .status();
    sim.wait().unwrap();
    let saved = std::fs::read_to_string(&env_file).unwrap();
    let token = saved
        .lines()
        .find_map(|line| line.strip_prefix("ZERODHA_ACCESS_TOKEN="))
        .expect("the token saved")
        .to_string();
    for secret in [token.as_str(), "marketwarden_sim_secret"] {
        for line in &logs {
            assert!(!line.contains(secret), "a secret in a log line: {line}");
        }
        for body in &bodies {
            assert!(!body.contains(secret), "a secret in a body: {body}");
        }
    }
}

/// One raw HTTP/1.1 request with `host` (and `origin`), as a rebinding page's browser sends
/// it; returns the status code.
fn status_for(addr: &str, method: &str, path: &str, host: &str, origin: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    let origin = origin.map_or(String::new(), |origin| format!("origin: {origin}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\n{origin}content-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// The running binary: a rebinding page (a Host and Origin of its own) reads and changes
/// nothing; another site's page on our Host changes nothing; and SIGTERM ends the process in
/// under 5 s although a client sent half a request.
#[test]
fn rebinding_is_refused_and_sigterm_does_not_wait_for_a_half_sent_request() {
    use std::io::Write;
    let folder = tempfile::tempdir().unwrap();
    let env_file = folder.path().join(".env");
    std::fs::write(&env_file, "").unwrap();
    let mut served = Served::start(&env_file);
    served.wait_for_log("AUTH STATE: REQUIRED");
    let addr = served.base.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    for (method, path) in [
        ("GET", "/api/system/health"),
        ("GET", "/api/system/health/auth"),
        ("GET", "/"),
        ("GET", "/auth/login"),
        ("POST", "/auth/logout"),
        ("POST", "/api/system/health/feed/reconnect"),
    ] {
        assert_eq!(
            status_for(&addr, method, path, &evil_host, Some(&evil_origin)),
            421,
            "{method} {path}"
        );
    }
    assert_eq!(status_for(&addr, "GET", "/livez", &evil_host, None), 200);
    assert_eq!(
        status_for(
            &addr,
            "POST",
            "/auth/logout",
            &addr,
            Some("http://evil.example")
        ),
        403
    );
    for host in [addr.clone(), format!("localhost:{port}")] {
        assert_eq!(
            status_for(&addr, "GET", "/api/system/health", &host, None),
            200
        );
    }

    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    served.wait_for_log("Feed Watchdog started");
    let (stopped, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || stopped.send(served.stop()));
    let logs = logs
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("SIGTERM ends the process within 5 s");
    assert!(logs.iter().any(|line| line.contains("stopped")), "{logs:?}");
    drop(half);
}
