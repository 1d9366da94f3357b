//! The simulator's HTTP surface: login page, session, profile, logout, and the control API.

use marketwarden_core::escape_html;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Faults, REST_REQUESTS_PER_SECOND, Simulator, TickerCommand};
use marketwarden_kite::packet::TextFrame;
use marketwarden_kite::rest::{checksum, urlencoding};

/// The simulator's router: Kite's REST and login routes, and `/_sim/*` to inject faults.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/connect/login", get(login_page).post(login_submit))
        .route("/session/token", post(session_token).delete(logout))
        .route("/user/profile", get(profile))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/expire-tokens", post(expire_tokens))
        .route("/_sim/drop-connections", post(drop_connections))
        .route("/_sim/close-connections", post(close_connections))
        .route("/_sim/send", post(send_text_frame))
        .route("/", get(super::ticker::upgrade))
        .with_state(sim)
}

/// Kite's error envelope with its status.
fn kite_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"status": "error", "message": message, "error_type": error_type});
    (status, Json(body)).into_response()
}

fn success(data: serde_json::Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn html_error(status: StatusCode, message: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kite simulator</title></head>\
         <body><h1>Login failed</h1><p>{}</p></body></html>",
        escape_html(message)
    );
    (status, Html(page)).into_response()
}

/// What every REST call goes through first: version header, injected faults, rate limit.
async fn rest_gate(sim: &Simulator, headers: &HeaderMap) -> Result<(), Response> {
    let faults = sim.faults();
    if faults.slow_rest_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.slow_rest_ms)).await;
    }
    if headers.get("x-kite-version").and_then(|v| v.to_str().ok()) != Some("3") {
        return Err(kite_error(
            StatusCode::BAD_REQUEST,
            "InputException",
            "Missing or invalid `X-Kite-Version` header.",
        ));
    }
    if faults.html_errors {
        let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        return Err((StatusCode::BAD_GATEWAY, Html(page)).into_response());
    }
    if faults.server_errors {
        return Err(kite_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NetworkException",
            "Couldn't reach the OMS.",
        ));
    }
    let second = sim.clock.now().timestamp();
    let over_limit = {
        let mut state = sim.state();
        let (window, count) = &mut state.rate_window;
        if *window != second {
            *window = second;
            *count = 0;
        }
        *count += 1;
        *count > REST_REQUESTS_PER_SECOND
    };
    if faults.rate_limit_storm || over_limit {
        return Err(kite_error(
            StatusCode::TOO_MANY_REQUESTS,
            "NetworkException",
            "Too many requests",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    redirect_params: Option<String>,
}

/// `GET /connect/login?v=3&api_key=…[&redirect_params=…]`: a plain HTML form, no JavaScript.
async fn login_page(
    State(sim): State<Arc<Simulator>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    if query.api_key != sim.config.api_key {
        return html_error(StatusCode::BAD_REQUEST, "Invalid `api_key`.");
    }
    let redirect_params = query.redirect_params.unwrap_or_default();
    let page = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Kite simulator · Login</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}}label,input,button{{display:block;width:100%;margin:.4rem 0}}</style></head>
<body>
<h1>Kite simulator</h1>
<p>A simulated broker for marketwarden. Any password logs the demo user in.</p>
<form method="post" action="/connect/login">
<input type="hidden" name="api_key" value="{api_key}">
<input type="hidden" name="redirect_params" value="{redirect_params}">
<label for="user_id">User ID</label><input id="user_id" name="user_id" value="{user_id}" autocomplete="username">
<label for="password">Password</label><input id="password" name="password" type="password" value="demo" autocomplete="current-password">
<button type="submit" name="action" value="login">Log in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>
</body>
</html>"#,
        api_key = escape_html(&sim.config.api_key),
        redirect_params = escape_html(&redirect_params),
        user_id = escape_html(&sim.config.user_id),
    );
    Html(page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    redirect_params: String,
    #[serde(default)]
    action: String,
}

/// `POST /connect/login`: 302 to the redirect URL with `action`, `type`, `status`,
/// `request_token` and the decoded `redirect_params`.
async fn login_submit(State(sim): State<Arc<Simulator>>, Form(form): Form<LoginForm>) -> Response {
    if form.api_key != sim.config.api_key {
        return html_error(StatusCode::BAD_REQUEST, "Invalid `api_key`.");
    }
    let Ok(extra) = serde_urlencoded::from_str::<Vec<(String, String)>>(&form.redirect_params)
    else {
        return html_error(StatusCode::BAD_REQUEST, "Invalid `redirect_params`.");
    };
    let mut params: Vec<(String, String)> = vec![
        ("action".into(), "login".into()),
        ("type".into(), "login".into()),
    ];
    if form.action == "cancel" {
        params.push(("status".into(), "cancelled".into()));
    } else {
        let token = random_token();
        sim.state()
            .request_tokens
            .insert(token.clone(), sim.clock.now());
        params.push(("status".into(), "success".into()));
        params.push(("request_token".into(), token));
    }
    params.extend(extra);
    let query: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{}={}", urlencoding(key), urlencoding(value)))
        .collect();
    let separator = if sim.config.redirect_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{}", sim.config.redirect_url, query.join("&"));
    // 302, as Kite answers (axum's `Redirect` has no 302).
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    request_token: String,
    #[serde(default)]
    checksum: String,
}

/// `POST /session/token`: the token exchange.
async fn session_token(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(refusal) = rest_gate(&sim, &headers).await {
        return refusal;
    }
    if form.api_key != sim.config.api_key {
        return kite_error(
            StatusCode::FORBIDDEN,
            "TokenException",
            "Invalid `api_key`.",
        );
    }
    let expected = checksum(
        &sim.config.api_key,
        &form.request_token,
        sim.config.api_secret.expose(),
    );
    if form.checksum != expected {
        return kite_error(
            StatusCode::FORBIDDEN,
            "TokenException",
            "Invalid `checksum`.",
        );
    }
    let now = sim.clock.now();
    let access_token = {
        let mut state = sim.state();
        if !state.request_tokens.take(&form.request_token, now) {
            return kite_error(
                StatusCode::FORBIDDEN,
                "TokenException",
                "Token is invalid or has expired.",
            );
        }
        state.nonce = state.nonce.wrapping_add(1);
        let token = sim.signer.issue(now, state.nonce);
        state.issued.push(token.clone());
        token
    };
    let login_time = marketwarden_core::ist_wall_clock(now)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut data = profile_json(&sim);
    let fields = [
        ("api_key", json!(sim.config.api_key)),
        ("access_token", json!(access_token)),
        ("public_token", json!(random_token())),
        ("enctoken", json!("")),
        ("refresh_token", json!("")),
        ("silo", json!("")),
        ("login_time", json!(login_time)),
    ];
    if let Some(object) = data.as_object_mut() {
        object.extend(
            fields
                .into_iter()
                .map(|(key, value)| (key.to_string(), value)),
        );
    }
    success(data)
}

/// `GET /user/profile`.
async fn profile(State(sim): State<Arc<Simulator>>, headers: HeaderMap) -> Response {
    sim.state().profile_calls += 1;
    if let Err(refusal) = rest_gate(&sim, &headers).await {
        return refusal;
    }
    match authorized_token(&sim, &headers) {
        Some(_) => success(profile_json(&sim)),
        None => invalid_session(),
    }
}

#[derive(Deserialize)]
struct LogoutQuery {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    access_token: String,
}

/// `DELETE /session/token?api_key=…&access_token=…`.
async fn logout(
    State(sim): State<Arc<Simulator>>,
    headers: HeaderMap,
    Query(query): Query<LogoutQuery>,
) -> Response {
    if let Err(refusal) = rest_gate(&sim, &headers).await {
        return refusal;
    }
    if query.api_key != sim.config.api_key || !sim.access_token_is_valid(&query.access_token) {
        return invalid_session();
    }
    sim.state().revoked.insert(query.access_token);
    success(json!(true))
}

async fn get_faults(State(sim): State<Arc<Simulator>>) -> Json<Faults> {
    Json(sim.faults())
}

/// `POST /_sim/faults` with the whole fault set as JSON; fields left out are off.
async fn set_faults(State(sim): State<Arc<Simulator>>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.set_faults(faults);
    Json(sim.faults())
}

async fn drop_connections(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.drop_connections();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct CloseRequest {
    #[serde(default = "normal_closure")]
    code: u16,
}

fn normal_closure() -> u16 {
    1000
}

/// `POST /_sim/close-connections` with `{"code":1001}`: a clean close with that code.
async fn close_connections(
    State(sim): State<Arc<Simulator>>,
    Json(request): Json<CloseRequest>,
) -> StatusCode {
    sim.command(TickerCommand::Close(request.code));
    StatusCode::NO_CONTENT
}

/// `POST /_sim/send` with a ticker text frame (`{"type":"order","data":{…}}`, `error` or
/// `message`): sent to every open ticker connection.
async fn send_text_frame(
    State(sim): State<Arc<Simulator>>,
    Json(frame): Json<TextFrame>,
) -> StatusCode {
    sim.command(TickerCommand::Send(frame));
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(sim): State<Arc<Simulator>>) -> StatusCode {
    sim.expire_tokens_now();
    StatusCode::NO_CONTENT
}

fn invalid_session() -> Response {
    kite_error(
        StatusCode::FORBIDDEN,
        "TokenException",
        "Incorrect `api_key` or `access_token`.",
    )
}

/// The access token of `Authorization: token api_key:access_token`, if it is live.
fn authorized_token(sim: &Simulator, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (api_key, token) = value.strip_prefix("token ")?.split_once(':')?;
    (api_key == sim.config.api_key && sim.access_token_is_valid(token)).then(|| token.to_string())
}

fn profile_json(sim: &Simulator) -> serde_json::Value {
    json!({
        "user_id": sim.config.user_id,
        "user_type": "individual",
        "email": "demo@example.com",
        "user_name": sim.config.user_name,
        "user_shortname": sim.config.user_name.split_whitespace().next().unwrap_or("Demo"),
        "broker": "ZERODHA",
        "exchanges": ["NSE", "NFO", "BSE", "BFO", "CDS", "MCX"],
        "products": ["CNC", "NRML", "MIS", "BO", "CO"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": null,
        "meta": {"demat_consent": "physical"},
    })
}

/// 32 random alphanumeric characters, like Kite's request and public tokens.
fn random_token() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}
