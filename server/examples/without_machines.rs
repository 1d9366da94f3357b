//! The baseline of the orchestration's cost: what `marketwarden serve` does for a trader minus
//! the auth machine and the feed watchdog. One process runs the embedded simulator with its
//! clock in LIVE, logs in once, keeps one ticker connection streaming the given instruments
//! (decoding every frame and keeping the last tick of each instrument, as a plain backend
//! would), and serves the same HTTP app without machines. No expiry rules, no re-checks, no
//! staleness, no backoff, no quality meter, no state logs.
//!
//!   without_machines INSTRUMENTS   # e.g. 738561:full,738817:full
//!
//! Prints `listening on http://ADDR` once serving, like the server.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kite_sim::{SimConfig, Simulator};
use marketwarden_kite::packet::{ClientRequest, Mode, Tick};
use marketwarden_kite::rest::KiteEndpoints;
use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::clock::{Clock, StartedClock};
use marketwarden_server::feed::instruments::parse_instruments;
use marketwarden_server::kite::rest::KiteRest;
use marketwarden_server::kite::ticker::{self, TickerEvent};
use marketwarden_server::kite::tls::KiteTls;
use marketwarden_server::run;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().init();
    let instruments = std::env::args().nth(1).expect("instruments");
    let instruments = parse_instruments(&instruments).expect("an instrument list");
    let start: DateTime<Utc> = "2026-11-30T10:00:00+05:30".parse().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(StartedClock::starting_at(start));

    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = sim_listener.local_addr().unwrap();
    let config = SimConfig::default();
    let sim = Simulator::new(config.clone(), clock.clone());
    tokio::spawn(async move { axum::serve(sim_listener, kite_sim::router(sim)).await });
    let endpoints = KiteEndpoints {
        api_root: format!("http://{sim_addr}"),
        login_url: format!("http://{sim_addr}/connect/login"),
        ticker_url: format!("ws://{sim_addr}"),
    };
    let rest = KiteRest::new(endpoints.clone(), &config.api_key, &KiteTls::public_roots()).unwrap();
    let request_token = log_in(&rest.login_url(&[]), &format!("http://{sim_addr}")).await;
    let session = rest
        .exchange_request_token(&request_token, &config.api_secret)
        .await
        .expect("a session");

    let mut connection = ticker::connect(
        &endpoints.ticker_url,
        &config.api_key,
        &session.access_token,
        &KiteTls::public_roots(),
    )
    .await
    .expect("a ticker connection");
    let tokens: Vec<u32> = instruments.iter().map(|i| i.token).collect();
    connection
        .send(&ClientRequest::Subscribe(tokens.clone()))
        .await
        .unwrap();
    connection
        .send(&ClientRequest::SetMode(Mode::Full, tokens))
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut last: HashMap<u32, Tick> = HashMap::new();
        loop {
            match connection.next_event().await {
                TickerEvent::Ticks(ticks) => {
                    for tick in ticks {
                        last.insert(tick.instrument_token, tick);
                    }
                }
                TickerEvent::Closed { .. } => break,
                _ => {}
            }
        }
        tracing::warn!("the ticker connection ended");
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tracing::info!("listening on http://{}", listener.local_addr().unwrap());
    let state =
        marketwarden_server::doubles::market_only_state(clock, Arc::new(CalendarStore::builtin()));
    run(listener, state, CancellationToken::new())
        .await
        .unwrap();
}

/// The demo user's login on the simulator's page; returns the request token of the redirect.
async fn log_in(login_url: &str, sim_root: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let redirect_params = page
        .split(r#"name="redirect_params" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&");
    let form = [
        ("api_key", SimConfig::default().api_key),
        ("redirect_params", redirect_params),
        ("user_id", "MW0001".into()),
        ("password", "demo".into()),
        ("action", "login".into()),
    ];
    let answer = http
        .post(format!("{sim_root}/connect/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    let query = location.split_once('?').expect("a query").1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    pairs
        .into_iter()
        .find(|(key, _)| key == "request_token")
        .expect("a request token")
        .1
}
