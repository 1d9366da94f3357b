//! The REST client against the simulator, over real sockets: login, token exchange, profile,
//! logout, expiry, rate limits and injected faults.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use kite_sim::{Faults, SimConfig, Simulator, router};
use marketwarden_kite::Secret;
use marketwarden_kite::rest::{ErrorType, KiteEndpoints, KiteError};
use marketwarden_server::kite::rest::KiteRest;

use super::support::*;

#[tokio::test]
async fn login_form_redirects_with_a_request_token_and_the_redirect_params() {
    let sim = start_sim().await;
    let pairs = log_in(&sim.base, &[("state", "a b&c")]).await;
    assert_eq!(param(&pairs, "status"), Some("success"));
    assert_eq!(param(&pairs, "action"), Some("login"));
    assert_eq!(param(&pairs, "type"), Some("login"));
    assert_eq!(param(&pairs, "state"), Some("a b&c"));
    assert_eq!(param(&pairs, "request_token").map(str::len), Some(32));
}

#[tokio::test]
async fn request_token_exchanges_once_for_a_working_access_token() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let pairs = log_in(&sim.base, &[]).await;
    let request_token = param(&pairs, "request_token").unwrap();
    let session = kite
        .exchange_request_token(request_token, &secret())
        .await
        .expect("exchanged");
    assert_eq!(session.user_id, "MW0001");
    assert_eq!(session.login_time, "2026-11-30 08:45:00");
    let profile = kite
        .profile(&session.access_token)
        .await
        .expect("valid token");
    assert_eq!(profile.user_name, "Demo Trader");

    let again = kite
        .exchange_request_token(request_token, &secret())
        .await
        .expect_err("single use");
    assert_eq!(
        again,
        KiteError::Api {
            status: 403,
            error_type: ErrorType::Token,
            message: "Token is invalid or has expired.".into()
        }
    );
}

#[tokio::test]
async fn wrong_secret_fails_the_checksum_and_an_old_request_token_expires() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let pairs = log_in(&sim.base, &[]).await;
    let request_token = param(&pairs, "request_token").unwrap();
    let error = kite
        .exchange_request_token(request_token, &Secret::new("wrong"))
        .await
        .expect_err("bad checksum");
    assert!(
        matches!(&error, KiteError::Api { status: 403, message, .. } if message == "Invalid `checksum`."),
        "{error}"
    );
    // The token was not consumed by the bad checksum, but five minutes later it is dead.
    sim.clock.set(morning() + TimeDelta::minutes(5));
    let error = kite
        .exchange_request_token(request_token, &secret())
        .await
        .expect_err("expired");
    assert!(error.is_token_failure());
}

#[tokio::test]
async fn access_token_dies_at_six_the_next_morning_on_logout_and_on_a_flush() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let exchange = |pairs: Vec<(String, String)>| {
        let kite = kite.clone();
        async move {
            kite.exchange_request_token(param(&pairs, "request_token").unwrap(), &secret())
                .await
                .unwrap()
        }
    };
    let session = exchange(log_in(&sim.base, &[]).await).await;
    // 05:59:59 IST the next day: alive. 06:00: dead.
    sim.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 29, 59).unwrap());
    kite.profile(&session.access_token)
        .await
        .expect("still valid");
    sim.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap());
    let error = kite
        .profile(&session.access_token)
        .await
        .expect_err("expired");
    assert_eq!(
        error,
        KiteError::Api {
            status: 403,
            error_type: ErrorType::Token,
            message: "Incorrect `api_key` or `access_token`.".into()
        }
    );

    sim.clock.set(morning());
    let session = exchange(log_in(&sim.base, &[]).await).await;
    kite.logout(&session.access_token)
        .await
        .expect("logged out");
    assert!(
        kite.profile(&session.access_token)
            .await
            .expect_err("revoked")
            .is_token_failure()
    );

    let session = exchange(log_in(&sim.base, &[]).await).await;
    sim.sim.expire_tokens_now();
    assert!(
        kite.profile(&session.access_token)
            .await
            .expect_err("flushed")
            .is_token_failure()
    );
    sim.clock.set(morning() + TimeDelta::seconds(1));
    let fresh = exchange(log_in(&sim.base, &[]).await).await;
    kite.profile(&fresh.access_token)
        .await
        .expect("a login after the flush works");
}

#[tokio::test]
async fn access_token_survives_a_simulator_restart() {
    let sim = start_sim().await;
    let pairs = log_in(&sim.base, &[]).await;
    let session = client(&sim.base)
        .exchange_request_token(param(&pairs, "request_token").unwrap(), &secret())
        .await
        .unwrap();
    let restarted = Simulator::new(SimConfig::default(), Arc::new(sim.clock.clone()));
    let base = serve_sim(router(restarted)).await;
    client(&base)
        .profile(&session.access_token)
        .await
        .expect("valid after restart");
}

#[tokio::test]
async fn forged_tokens_and_missing_headers_are_refused() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let error = kite
        .profile(&Secret::new("0".repeat(32)))
        .await
        .expect_err("forged");
    assert!(error.is_token_failure());
    let http = crate::support::http().build().unwrap();
    let answer = http
        .get(format!("{}/user/profile", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_type"], "InputException");
}

#[tokio::test]
async fn eleventh_call_in_a_second_is_rate_limited_and_the_next_second_is_not() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let token = Secret::new("0".repeat(32));
    for _ in 0..10 {
        assert!(
            kite.profile(&token)
                .await
                .expect_err("forged")
                .is_token_failure()
        );
    }
    let error = kite.profile(&token).await.expect_err("limited");
    assert!(error.is_rate_limited(), "{error}");
    assert!(!error.is_token_failure());
    assert_eq!(
        error,
        KiteError::Api {
            status: 429,
            error_type: ErrorType::Network,
            message: "Too many requests".into()
        }
    );
    sim.clock.set(morning() + TimeDelta::seconds(1));
    assert!(
        kite.profile(&token)
            .await
            .expect_err("forged")
            .is_token_failure()
    );
}

#[tokio::test]
async fn injected_faults_map_to_errors_that_are_not_auth_failures() {
    let sim = start_sim().await;
    let kite = client(&sim.base);
    let token = Secret::new("0".repeat(32));
    type Expectation = fn(&KiteError) -> bool;
    let cases: [(Faults, Expectation); 3] = [
        (
            Faults {
                server_errors: true,
                ..Faults::default()
            },
            |e| {
                matches!(
                    e,
                    KiteError::Api {
                        status: 503,
                        error_type: ErrorType::Network,
                        ..
                    }
                )
            },
        ),
        (
            Faults {
                html_errors: true,
                ..Faults::default()
            },
            |e| matches!(e, KiteError::UnexpectedResponse { status: 502, .. }),
        ),
        (
            Faults {
                rate_limit_storm: true,
                ..Faults::default()
            },
            KiteError::is_rate_limited,
        ),
    ];
    for (faults, expected) in cases {
        sim.sim.set_faults(faults.clone());
        let error = kite.profile(&token).await.expect_err("fault");
        assert!(expected(&error), "{faults:?}: {error}");
        assert!(!error.is_token_failure(), "{faults:?}");
    }
    // A slow answer past the client's timeout.
    sim.sim.set_faults(Faults {
        slow_rest_ms: 400,
        ..Faults::default()
    });
    let endpoints = KiteEndpoints {
        api_root: sim.base.clone(),
        ..KiteEndpoints::kite()
    };
    let impatient = KiteRest::with_timeout(
        endpoints,
        "marketwarden_sim",
        &tls(),
        Duration::from_millis(100),
    )
    .unwrap();
    assert_eq!(
        impatient.profile(&token).await.expect_err("slow"),
        KiteError::Timeout
    );
    // The control API speaks JSON.
    let http = crate::support::http().build().unwrap();
    let faults: Faults = http
        .post(format!("{}/_sim/faults", sim.base))
        .json(&serde_json::json!({"server_errors": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        faults,
        Faults {
            server_errors: true,
            ..Faults::default()
        }
    );
    let refused = http
        .post(format!("{}/_sim/faults", sim.base))
        .json(&serde_json::json!({"nonsense": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
}

/// REST is `https://`: a client without the simulator's CA is refused by rustls, and says
/// which host and why.
#[tokio::test]
async fn rest_is_tls_and_an_untrusted_certificate_is_named_with_its_host() {
    let sim = start_sim().await;
    assert!(sim.base.starts_with("https://"), "{}", sim.base);
    let endpoints = KiteEndpoints {
        api_root: sim.base.clone(),
        login_url: format!("{}/connect/login", sim.base),
        ticker_url: ticker_url(&sim.base),
    };
    let untrusting = KiteRest::new(
        endpoints,
        "marketwarden_sim",
        &marketwarden_server::kite::tls::KiteTls::public_roots(),
    )
    .unwrap();
    let error = untrusting
        .profile(&Secret::new("a".repeat(32)))
        .await
        .expect_err("an unknown CA is refused");
    let KiteError::Transport(message) = &error else {
        panic!("not a transport error: {error:?}");
    };
    let host = sim.base.trim_start_matches("https://");
    assert!(message.starts_with(&format!("{host}: ")), "{message}");
    assert!(message.contains("certificate"), "{message}");
    assert!(!message.contains(&"a".repeat(32)), "{message}");
    assert!(!error.is_token_failure());
}

#[tokio::test]
async fn unreachable_kite_is_a_transport_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client(&base)
        .profile(&Secret::new("x"))
        .await
        .expect_err("refused");
    assert!(matches!(error, KiteError::Transport(_)), "{error}");
    assert!(!error.is_token_failure());
}

/// The specification counts 401 with 403 and token errors: a 401 from Kite (or a gateway in
/// front of it, without Kite's envelope) and at the ticker's handshake needs a login.
#[tokio::test]
async fn a_401_is_an_auth_failure_like_a_403() {
    use axum::http::StatusCode;
    use axum::routing::get;
    let kite = axum::Router::new()
        .route(
            "/user/profile",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({
                        "status": "error",
                        "message": "Unauthorized",
                        "error_type": "GeneralException"
                    })),
                )
            }),
        )
        .route("/", get(|| async { StatusCode::UNAUTHORIZED }));
    let base = serve(kite).await;
    let rest = client(&base);
    let error = rest
        .profile(&Secret::new("token".to_string()))
        .await
        .expect_err("401");
    assert!(error.is_token_failure(), "{error:?}");
    let ticker = marketwarden_server::kite::ticker::connect(
        &base.replace("http", "ws"),
        "key",
        &Secret::new("token".to_string()),
        &tls(),
    )
    .await
    .err()
    .expect("401");
    assert!(ticker.is_auth_failure(), "{ticker}");
    assert_eq!(ticker.to_string(), "ticker refused the token (401)");
}
