//! Kite Connect v3 REST as it is on the wire: endpoints, envelopes, error types, the token
//! exchange checksum. The HTTP client is marketwarden's (`marketwarden_server::kite::rest`); the
//! simulator answers with the same types.

use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Secret;

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
    /// The type named `name` on the wire; an unknown name is kept as [`ErrorType::Other`].
    pub fn from_wire(name: &str) -> Self {
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

#[derive(Deserialize)]
/// Kite's success envelope: `{"status": "success", "data": …}`.
pub struct Envelope<T> {
    pub data: T,
}

#[derive(Deserialize)]
/// Kite's error envelope: `{"status": "error", "message": …, "error_type": …}`.
pub struct ErrorEnvelope {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_type: Option<String>,
}

#[derive(Deserialize)]
/// `POST /session/token`'s `data`, the fields marketwarden reads.
pub struct SessionWire {
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    pub access_token: String,
    #[serde(default)]
    pub login_time: String,
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
