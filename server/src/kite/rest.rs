//! The Kite Connect v3 REST client: login URL, token exchange, profile, logout.
//!
//! Every call sends `X-Kite-Version: 3` and, when it carries a token,
//! `Authorization: token api_key:access_token`; every call times out after 7 s, as the official
//! clients do. Kite's error envelope becomes a typed [`KiteError`] the auth machine classifies.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Secret;
use super::tls::{KiteTls, error_chain, host_of};

/// Kite's endpoints, or the simulator's: only these URLs differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteEndpoints {
    /// REST root, e.g. `https://api.kite.trade`.
    pub api_root: String,
    /// The login page, e.g. `https://kite.zerodha.com/connect/login`.
    pub login_url: String,
    /// The ticker WebSocket root, e.g. `wss://ws.kite.trade`.
    pub ticker_url: String,
}

impl KiteEndpoints {
    /// The real Kite Connect endpoints.
    pub fn kite() -> Self {
        Self {
            api_root: "https://api.kite.trade".into(),
            login_url: "https://kite.zerodha.com/connect/login".into(),
            ticker_url: "wss://ws.kite.trade".into(),
        }
    }
}

/// How long any REST call may take, as in the official clients.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);

/// Kite's `error_type`, the exception class its clients raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Token,
    User,
    Order,
    Input,
    Margin,
    Holding,
    Network,
    Data,
    General,
    Permission,
    TwoFa,
    /// An `error_type` Kite does not document, kept as sent.
    Other(String),
}

impl ErrorType {
    fn from_wire(name: &str) -> Self {
        match name {
            "TokenException" => Self::Token,
            "UserException" => Self::User,
            "OrderException" => Self::Order,
            "InputException" => Self::Input,
            "MarginException" => Self::Margin,
            "HoldingException" => Self::Holding,
            "NetworkException" => Self::Network,
            "DataException" => Self::Data,
            "GeneralException" => Self::General,
            "PermissionException" | "PermissionError" => Self::Permission,
            "TwoFAException" => Self::TwoFa,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire name, e.g. `TokenException`.
    pub fn as_wire(&self) -> &str {
        match self {
            Self::Token => "TokenException",
            Self::User => "UserException",
            Self::Order => "OrderException",
            Self::Input => "InputException",
            Self::Margin => "MarginException",
            Self::Holding => "HoldingException",
            Self::Network => "NetworkException",
            Self::Data => "DataException",
            Self::General => "GeneralException",
            Self::Permission => "PermissionException",
            Self::TwoFa => "TwoFAException",
            Self::Other(name) => name,
        }
    }
}

/// Why a REST call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KiteError {
    /// Kite answered with its error envelope.
    Api {
        status: u16,
        error_type: ErrorType,
        message: String,
    },
    /// An error status without the envelope, e.g. an HTML 502 from a proxy.
    UnexpectedResponse { status: u16, content_type: String },
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// The connection failed (refused, reset, DNS, TLS).
    Transport(String),
    /// A success status whose body is not what the endpoint returns.
    Decode(String),
}

impl KiteError {
    /// True when the token (or request token) is invalid or expired: only a login helps. That is
    /// a `TokenException`, a 403 with an undocumented error type, and any 401 (the
    /// specification's "403, 401, token errors"), with Kite's envelope or without it (a 401 from
    /// a gateway in front of Kite). Network trouble, 5xx and 429 are never auth failures.
    pub fn is_token_failure(&self) -> bool {
        matches!(
            self,
            Self::Api {
                error_type: ErrorType::Token,
                ..
            } | Self::Api {
                status: 403,
                error_type: ErrorType::Other(_),
                ..
            } | Self::Api { status: 401, .. }
                | Self::UnexpectedResponse { status: 401, .. }
        )
    }

    /// True for 429 Too Many Requests.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::Api { status: 429, .. })
    }
}

impl std::fmt::Display for KiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api {
                status,
                error_type,
                message,
            } => {
                write!(
                    f,
                    "kite answered {status} {}: {message}",
                    error_type.as_wire()
                )
            }
            Self::UnexpectedResponse {
                status,
                content_type,
            } => {
                write!(
                    f,
                    "kite answered {status} with {content_type} instead of its JSON envelope"
                )
            }
            Self::Timeout => write!(
                f,
                "kite did not answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
            Self::Transport(detail) => write!(f, "cannot reach kite: {detail}"),
            Self::Decode(detail) => write!(f, "kite's answer is not as documented: {detail}"),
        }
    }
}

impl std::error::Error for KiteError {}

/// The result of a token exchange. The access token is a [`Secret`]: it never prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    pub user_name: String,
    pub access_token: Secret,
    /// `yyyy-mm-dd hh:mm:ss`, IST, as Kite sends it.
    pub login_time: String,
}

/// `GET /user/profile`, the fields marketwarden uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub user_id: String,
    pub user_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub broker: Option<String>,
}

/// The checksum of a token exchange: lowercase hex SHA-256 of `api_key + request_token +
/// api_secret`.
pub fn checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(api_key)
        .chain_update(request_token)
        .chain_update(api_secret)
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A Kite Connect REST client for one app (`api_key`).
#[derive(Clone)]
pub struct KiteRest {
    transport: Arc<dyn RestTransport>,
    endpoints: KiteEndpoints,
    api_key: String,
}

impl std::fmt::Debug for KiteRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiteRest")
            .field("endpoints", &self.endpoints)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// An HTTP answer as the client reads it.
#[derive(Clone, Debug)]
pub struct RestResponse {
    pub status: u16,
    pub content_type: String,
    pub body: bytes::Bytes,
}

/// Carries one HTTP request to Kite and back: HTTPS in production, an in-memory connection to
/// the simulator in paused-clock tests ([`crate::sim::pipe`]). Requests are complete: method,
/// absolute URL, every header, the body.
pub trait RestTransport: Send + Sync {
    /// Sends `request`; fails with [`KiteError::Timeout`] or [`KiteError::Transport`].
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<RestResponse, KiteError>>;
}

/// HTTPS through `reqwest`, with the client-wide timeout.
struct ReqwestTransport(reqwest::Client);

impl RestTransport for ReqwestTransport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<RestResponse, KiteError>> {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(transport_error)?;
            let response = self.0.execute(request).await.map_err(transport_error)?;
            let status = response.status().as_u16();
            let content_type = content_type_of(response.headers());
            let body = response.bytes().await.map_err(transport_error)?;
            Ok(RestResponse {
                status,
                content_type,
                body,
            })
        })
    }
}

/// The `Content-Type` header's value, or empty.
pub fn content_type_of(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_type: Option<String>,
}

#[derive(Deserialize)]
struct SessionWire {
    user_id: String,
    #[serde(default)]
    user_name: String,
    access_token: String,
    #[serde(default)]
    login_time: String,
}

impl KiteRest {
    /// A client for `api_key` at `endpoints`, trusting `tls`'s roots.
    ///
    /// # Errors
    ///
    /// The TLS stack cannot be set up.
    pub fn new(
        endpoints: KiteEndpoints,
        api_key: impl Into<String>,
        tls: &KiteTls,
    ) -> Result<Self, KiteError> {
        Self::with_timeout(endpoints, api_key, tls, REQUEST_TIMEOUT)
    }

    /// A client with another timeout than Kite's 7 s (tests).
    ///
    /// # Errors
    ///
    /// The TLS stack cannot be set up.
    pub fn with_timeout(
        endpoints: KiteEndpoints,
        api_key: impl Into<String>,
        tls: &KiteTls,
        timeout: Duration,
    ) -> Result<Self, KiteError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .use_preconfigured_tls((*tls.client_config()).clone())
            .build()
            .map_err(|error| KiteError::Transport(error.to_string()))?;
        Ok(Self::with_transport(
            endpoints,
            api_key,
            Arc::new(ReqwestTransport(http)),
        ))
    }

    /// A client that sends its requests through `transport`.
    pub fn with_transport(
        endpoints: KiteEndpoints,
        api_key: impl Into<String>,
        transport: Arc<dyn RestTransport>,
    ) -> Self {
        Self {
            transport,
            endpoints,
            api_key: api_key.into(),
        }
    }

    /// The login URL: `?v=3&api_key=…`, plus `redirect_params` (URL-encoded query string) that
    /// Kite sends back to the redirect URL.
    pub fn login_url(&self, redirect_params: &[(&str, &str)]) -> String {
        let mut url = format!(
            "{}?v=3&api_key={}",
            self.endpoints.login_url,
            urlencoding(&self.api_key)
        );
        if !redirect_params.is_empty() {
            let params: Vec<String> = redirect_params
                .iter()
                .map(|(key, value)| format!("{}={}", urlencoding(key), urlencoding(value)))
                .collect();
            url.push_str("&redirect_params=");
            url.push_str(&urlencoding(&params.join("&")));
        }
        url
    }

    /// `POST /session/token`: exchanges a request token for a session.
    ///
    /// # Errors
    ///
    /// See [`KiteError`]; a bad checksum or a used or expired request token is a `TokenException`.
    pub async fn exchange_request_token(
        &self,
        request_token: &str,
        api_secret: &Secret,
    ) -> Result<Session, KiteError> {
        let checksum = checksum(&self.api_key, request_token, api_secret.expose());
        let form = serde_urlencoded::to_string([
            ("api_key", self.api_key.as_str()),
            ("request_token", request_token),
            ("checksum", checksum.as_str()),
        ])
        .map_err(|error| KiteError::Transport(error.to_string()))?;
        let request = self
            .request(http::Method::POST, "/session/token")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.into_bytes());
        let wire: SessionWire = self.send(request).await?;
        Ok(Session {
            user_id: wire.user_id,
            user_name: wire.user_name,
            access_token: Secret::new(wire.access_token),
            login_time: wire.login_time,
        })
    }

    /// `GET /user/profile`: the cheapest call that proves a token is valid.
    ///
    /// # Errors
    ///
    /// See [`KiteError`].
    pub async fn profile(&self, access_token: &Secret) -> Result<Profile, KiteError> {
        let request = self
            .request(http::Method::GET, "/user/profile")
            .header(
                http::header::AUTHORIZATION,
                self.authorization(access_token),
            )
            .body(Vec::new());
        self.send(request).await
    }

    /// `DELETE /session/token`: invalidates the access token.
    ///
    /// # Errors
    ///
    /// See [`KiteError`].
    pub async fn logout(&self, access_token: &Secret) -> Result<(), KiteError> {
        let query = serde_urlencoded::to_string([
            ("api_key", self.api_key.as_str()),
            ("access_token", access_token.expose()),
        ])
        .map_err(|error| KiteError::Transport(error.to_string()))?;
        let request = self
            .request(http::Method::DELETE, &format!("/session/token?{query}"))
            .header(
                http::header::AUTHORIZATION,
                self.authorization(access_token),
            )
            .body(Vec::new());
        let _: bool = self.send(request).await?;
        Ok(())
    }

    /// A request to `path` (with its query) with the headers every call carries.
    fn request(&self, method: http::Method, path: &str) -> http::request::Builder {
        let url = format!("{}{path}", self.endpoints.api_root.trim_end_matches('/'));
        http::Request::builder()
            .method(method)
            .uri(url)
            .header("X-Kite-Version", "3")
            .header(
                http::header::USER_AGENT,
                concat!("marketwarden/", env!("CARGO_PKG_VERSION")),
            )
    }

    fn authorization(&self, access_token: &Secret) -> String {
        format!("token {}:{}", self.api_key, access_token.expose())
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
    ) -> Result<T, KiteError> {
        // Only a malformed API root fails here; the error text holds no URL.
        let request = request.map_err(|error| KiteError::Transport(error.to_string()))?;
        let RestResponse {
            status,
            content_type,
            body,
        } = self.transport.send(request).await?;
        if status >= 400 {
            return Err(match serde_json::from_slice::<ErrorEnvelope>(&body) {
                Ok(envelope) => KiteError::Api {
                    status,
                    error_type: ErrorType::from_wire(
                        envelope.error_type.as_deref().unwrap_or("GeneralException"),
                    ),
                    message: envelope.message,
                },
                Err(_) => KiteError::UnexpectedResponse {
                    status,
                    content_type,
                },
            });
        }
        serde_json::from_slice::<Envelope<T>>(&body)
            .map(|envelope| envelope.data)
            .map_err(|error| KiteError::Decode(error.to_string()))
    }
}

fn transport_error(error: reqwest::Error) -> KiteError {
    if error.is_timeout() {
        return KiteError::Timeout;
    }
    // The host, and the reason (a TLS verdict is a few causes down), without the URL: it may
    // carry a token in its query.
    let host = error.url().map(|url| host_of(url.as_str()).to_string());
    let reason = error_chain(&error.without_url());
    KiteError::Transport(match host {
        Some(host) => format!("{host}: {reason}"),
        None => reason,
    })
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn urlencoding(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha256_of_key_token_secret() {
        // sha256("abc") is the well-known test vector.
        assert_eq!(
            checksum("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn login_url_carries_v3_the_key_and_encoded_redirect_params() {
        let endpoints = KiteEndpoints {
            login_url: "http://sim/connect/login".into(),
            ..KiteEndpoints::kite()
        };
        let client =
            KiteRest::new(endpoints, "kite key", &KiteTls::public_roots()).expect("client");
        assert_eq!(
            client.login_url(&[]),
            "http://sim/connect/login?v=3&api_key=kite%20key"
        );
        assert_eq!(
            client.login_url(&[("state", "a b&c")]),
            "http://sim/connect/login?v=3&api_key=kite%20key&redirect_params=state%3Da%2520b%2526c"
        );
    }

    #[test]
    fn token_failures_are_told_from_network_trouble() {
        let api = |status, error_type| KiteError::Api {
            status,
            error_type,
            message: String::new(),
        };
        assert!(api(403, ErrorType::Token).is_token_failure());
        assert!(api(403, ErrorType::Other("NewException".into())).is_token_failure());
        assert!(api(401, ErrorType::General).is_token_failure());
        assert!(api(401, ErrorType::Other("AuthError".into())).is_token_failure());
        assert!(
            KiteError::UnexpectedResponse {
                status: 401,
                content_type: "text/html".into()
            }
            .is_token_failure()
        );
        assert!(!api(403, ErrorType::Permission).is_token_failure());
        assert!(!api(429, ErrorType::Network).is_token_failure());
        assert!(api(429, ErrorType::Network).is_rate_limited());
        assert!(!api(503, ErrorType::Network).is_token_failure());
        assert!(!api(500, ErrorType::General).is_token_failure());
        assert!(!KiteError::Timeout.is_token_failure());
        assert!(
            !KiteError::UnexpectedResponse {
                status: 502,
                content_type: "text/html".into()
            }
            .is_token_failure()
        );
    }

    #[test]
    fn error_types_round_trip_their_wire_names() {
        for name in [
            "TokenException",
            "UserException",
            "OrderException",
            "InputException",
            "MarginException",
            "HoldingException",
            "NetworkException",
            "DataException",
            "GeneralException",
            "PermissionException",
            "TwoFAException",
            "SomethingNew",
        ] {
            assert_eq!(ErrorType::from_wire(name).as_wire(), name);
        }
    }
}
