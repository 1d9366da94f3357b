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
        .env("RUST_LOG", "info");
    command
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
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("listening on http://"))
        .expect("a listening line");
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
