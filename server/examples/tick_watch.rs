//! Watches `/ws/market` for a while and reports how regularly tick frames arrive: the simulator
//! sends one a second, so any delay the server adds shows as a wider spread of the gaps.
//!
//!   tick_watch http://127.0.0.1:PORT SECONDS

use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("base URL");
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let url = format!(
        "{}/ws/market",
        base.trim_end_matches('/').replace("http", "ws")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut arrivals = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(end, socket.next()).await {
        if message.is_text() {
            arrivals.push(Instant::now());
        }
    }
    let mut gaps: Vec<f64> = arrivals
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64() * 1000.0)
        .collect();
    if gaps.is_empty() {
        println!("no tick frames in {seconds} s");
        return;
    }
    gaps.sort_by(f64::total_cmp);
    let pick = |q: f64| gaps[((gaps.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "{} frames in {seconds} s; gap between frames p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        arrivals.len(),
        pick(0.5),
        pick(0.99),
        gaps[gaps.len() - 1]
    );
}
