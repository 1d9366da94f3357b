//! Which names the server answers to, against DNS rebinding.
//!
//! A page on `evil.example` can make its own name resolve to 127.0.0.1 after it loaded; its
//! requests then reach this server with `Host: evil.example:3000` and `Origin:
//! http://evil.example:3000`. Comparing the two (both the attacker's) proves nothing, so the
//! server keeps its own list: the listen address, the loopback names when it listens on
//! loopback or every interface, and the operator's `--public-origin`. A request naming another
//! `Host` is refused on every route but `/livez`; a state-changing request or a tick socket
//! whose `Origin` (scheme included) is not one of ours is refused too.
//!
//! `MARKETWARDEN_CORS_ORIGINS` names other origins whose pages may *read*: the health
//! endpoints, the probes, the event stream and `/ws/market` answer them with
//! `Access-Control-Allow-Origin` (a separate front end, the specification's
//! `NEXT_PUBLIC_API_URL`). Their state-changing calls still need the admin token.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The hosts and origins this server owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    /// `Host` values accepted, lower case (`127.0.0.1:3000`, `mw.example.com`).
    hosts: Vec<String>,
    /// `Origin` values accepted, lower case (`http://127.0.0.1:3000`, `https://mw.example.com`).
    origins: Vec<String>,
    /// Loopback names on any port (the in-process test router, which has no listen address).
    any_loopback_port: bool,
    /// Other sites' origins allowed to read (`MARKETWARDEN_CORS_ORIGINS`), lower case.
    cors_origins: Vec<String>,
}

/// A `--public-origin` that is not `http(s)://host[:port]`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadPublicOrigin(pub String);

impl std::fmt::Display for BadPublicOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--public-origin (MARKETWARDEN_PUBLIC_ORIGIN) `{}` is not an origin: give \
             http(s)://host[:port], as the browser's address bar shows it, without a path",
            self.0
        )
    }
}

impl std::error::Error for BadPublicOrigin {}

/// A checked `--public-origin`: the scheme and the authority (default port left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigin {
    scheme: String,
    authority: String,
}

impl PublicOrigin {
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed).
    ///
    /// # Errors
    ///
    /// Another scheme, a path, a query, credentials, or no host.
    pub fn parse(text: &str) -> Result<Self, BadPublicOrigin> {
        let bad = || BadPublicOrigin(text.to_string());
        let lower = text.trim().to_ascii_lowercase();
        let (scheme, rest) = lower.split_once("://").ok_or_else(bad)?;
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.contains(['/', '?', '#', '@', ' '])
            || authority.starts_with(':')
        {
            return Err(bad());
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        Ok(Self {
            scheme: scheme.to_string(),
            authority: authority.to_string(),
        })
    }

    /// `scheme://authority`, as a browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

impl HostPolicy {
    /// The names of a server listening on `addr`, plus `public` if given.
    pub fn for_listener(addr: SocketAddr, public: Option<&PublicOrigin>) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            for name in ["127.0.0.1", "localhost", "[::1]"] {
                hosts.push(format!("{name}:{port}"));
            }
        }
        if port == 80 {
            let bare: Vec<String> = hosts
                .iter()
                .filter_map(|host| host.strip_suffix(":80").map(str::to_string))
                .collect();
            hosts.extend(bare);
        }
        let mut origins: Vec<String> = hosts.iter().map(|host| format!("http://{host}")).collect();
        if let Some(public) = public {
            hosts.push(public.authority.clone());
            origins.push(public.origin());
        }
        hosts.dedup();
        Self {
            hosts,
            origins,
            any_loopback_port: false,
            cors_origins: Vec::new(),
        }
    }

    /// The same, with `origins` allowed to read across origins.
    pub fn with_cors_origins(mut self, origins: &[PublicOrigin]) -> Self {
        self.cors_origins = origins.iter().map(PublicOrigin::origin).collect();
        self
    }

    /// The request's `Origin` when it is one of `MARKETWARDEN_CORS_ORIGINS`.
    pub fn cors_origin_of(&self, headers: &HeaderMap) -> Option<String> {
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        self.cors_origins.contains(&origin).then_some(origin)
    }

    /// Loopback names on any port: the router served in-process, with no listen address.
    pub fn loopback_any_port() -> Self {
        Self {
            hosts: Vec::new(),
            origins: Vec::new(),
            any_loopback_port: true,
            cors_origins: Vec::new(),
        }
    }

    /// The `Host` values accepted, for the refusal's message.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    fn is_loopback_authority(authority: &str) -> bool {
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host,
            _ => authority,
        };
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }

    /// True when `host` (a `Host` header's value) is one of ours.
    pub fn allows_host_value(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.hosts.contains(&host) || (self.any_loopback_port && Self::is_loopback_authority(&host))
    }

    /// True when the request names one of our hosts, or none (HTTP/1.0 tools; a browser always
    /// sends one).
    pub fn allows_host(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::HOST) {
            None => true,
            Some(host) => host.to_str().is_ok_and(|host| self.allows_host_value(host)),
        }
    }

    /// True when the request carries no `Origin` (curl, scripts) or one of ours, scheme
    /// included. `null` (sandboxed frames, some redirects) is never ours.
    pub fn allows_origin_of(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        self.any_loopback_port
            && origin
                .strip_prefix("http://")
                .is_some_and(Self::is_loopback_authority)
    }
}

impl Default for HostPolicy {
    fn default() -> Self {
        Self::loopback_any_port()
    }
}

/// Refuses, with 421, a request whose `Host` is not ours, on every route but `/livez` (which
/// says nothing but "the process serves").
pub async fn host_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/livez" && !state.hosts.allows_host(request.headers()) {
        tracing::info!("a request for an unknown Host was refused");
        return (
            StatusCode::MISDIRECTED_REQUEST,
            axum::Json(serde_json::json!({
                "error": "this server does not answer to that Host; an operator who reaches it \
                          under another name adds it with --public-origin",
            })),
        )
            .into_response();
    }
    next.run(request).await
}

/// The paths another origin listed in `MARKETWARDEN_CORS_ORIGINS` may call: reads, and the
/// state-changing POSTs (which then need the admin token, see [`crate::admin::admin_guard`]).
fn cors_path(path: &str) -> bool {
    path == "/api/system/health"
        || path.starts_with("/api/system/health/")
        || matches!(
            path,
            "/api/system/events" | "/livez" | "/readyz" | "/ws/market"
        )
}

/// Answers cross-origin reads from `MARKETWARDEN_CORS_ORIGINS`: a preflight gets 204 with the
/// methods and headers allowed, every other answer on those paths carries
/// `Access-Control-Allow-Origin`. Other origins get no CORS header: the browser keeps the
/// answer from their pages.
pub async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !cors_path(request.uri().path()) {
        return next.run(request).await;
    }
    let allowed = state.hosts.cors_origin_of(request.headers());
    let listing = !state.hosts.cors_origins.is_empty();
    let mut response = match (&allowed, request.method()) {
        (Some(_), &axum::http::Method::OPTIONS) => {
            let mut preflight = StatusCode::NO_CONTENT.into_response();
            let headers = preflight.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                header::HeaderValue::from_static("600"),
            );
            preflight
        }
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(value) = allowed.and_then(|origin| header::HeaderValue::from_str(&origin).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if listing {
        // The answer differs by Origin: a cache must not hand one origin's to another.
        headers.append(header::VARY, header::HeaderValue::from_static("origin"));
    }
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// A header map of `pairs`, for the guards' tests.
    pub(crate) fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_loopback_listener_answers_to_its_loopback_names_only() {
        let policy = HostPolicy::for_listener("127.0.0.1:3000".parse().unwrap(), None);
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST:3000",
            "[::1]:3000",
        ] {
            assert!(policy.allows_host_value(host), "{host}");
        }
        for host in [
            "evil.example:3000",
            "127.0.0.1:3001",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(!policy.allows_host_value(host), "{host}");
        }
        assert!(policy.allows_host(&HeaderMap::new()), "no Host: a tool");
    }

    #[test]
    fn origins_must_be_ours_scheme_included() {
        let public = PublicOrigin::parse("https://MW.example.com/").unwrap();
        let policy = HostPolicy::for_listener("127.0.0.1:3000".parse().unwrap(), Some(&public));
        let origin = |value: &'static str| headers(&[(header::ORIGIN, value)]);
        assert!(policy.allows_origin_of(&HeaderMap::new()));
        assert!(policy.allows_origin_of(&origin("http://127.0.0.1:3000")));
        assert!(policy.allows_origin_of(&origin("http://localhost:3000")));
        assert!(policy.allows_origin_of(&origin("https://mw.example.com")));
        assert!(policy.allows_host_value("mw.example.com"));
        // A rebinding page: its Host and Origin agree, and neither is ours.
        assert!(!policy.allows_origin_of(&origin("http://evil.example:3000")));
        assert!(!policy.allows_host_value("evil.example:3000"));
        assert!(
            !policy.allows_origin_of(&origin("http://mw.example.com")),
            "scheme"
        );
        assert!(
            !policy.allows_origin_of(&origin("https://127.0.0.1:3000")),
            "scheme"
        );
        assert!(!policy.allows_origin_of(&origin("null")));
    }

    #[test]
    fn public_origins_parse_strictly() {
        let parsed = PublicOrigin::parse("https://mw.example.com:443").unwrap();
        assert_eq!(parsed.origin(), "https://mw.example.com");
        let parsed = PublicOrigin::parse("http://192.168.1.5:3000").unwrap();
        assert_eq!(parsed.origin(), "http://192.168.1.5:3000");
        for bad in [
            "mw.example.com",
            "ftp://mw.example.com",
            "https://mw.example.com/dashboard",
            "https://user@mw.example.com",
            "https://",
            "https://mw.example.com?x",
        ] {
            assert!(PublicOrigin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wildcard_listener_on_port_80_answers_to_bare_loopback_names() {
        let policy = HostPolicy::for_listener("0.0.0.0:80".parse().unwrap(), None);
        assert!(policy.allows_host_value("localhost"));
        assert!(policy.allows_host_value("127.0.0.1:80"));
        assert!(!policy.allows_host_value("192.168.1.5"));
    }

    #[test]
    fn the_in_process_router_takes_loopback_on_any_port() {
        let policy = HostPolicy::loopback_any_port();
        assert!(policy.allows_host_value("127.0.0.1:49152"));
        assert!(policy.allows_host_value("localhost"));
        assert!(!policy.allows_host_value("evil.example"));
        let origin = headers(&[(header::ORIGIN, "http://127.0.0.1:49152")]);
        assert!(policy.allows_origin_of(&origin));
        let origin = headers(&[(header::ORIGIN, "http://evil.example")]);
        assert!(!policy.allows_origin_of(&origin));
    }
}
