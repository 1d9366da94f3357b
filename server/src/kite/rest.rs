//! The Kite Connect v3 REST client: login URL, token exchange, profile, logout.
//!
//! Every call sends `X-Kite-Version: 3` and, when it carries a token,
//! `Authorization: token api_key:access_token`; every call times out after 7 s, as the official
//! clients do. Kite's error envelope becomes a typed [`KiteError`] the auth machine classifies.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use marketwarden_kite::Secret;
use marketwarden_kite::rest::{
    Envelope, ErrorEnvelope, ErrorType, KiteEndpoints, KiteError, Profile, REQUEST_TIMEOUT,
    Session, SessionWire, checksum, urlencoding,
};

use super::tls::{KiteTls, error_chain, host_of};

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
/// the simulator in paused-clock tests ([`crate::kite::pipe`]). Requests are complete: method,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
