//! The Kite Ticker client: one WebSocket connection, its handshake, requests and frames.
//!
//! Reconnection, staleness and backoff belong to the feed watchdog; this module only speaks the
//! protocol. A 403 at the handshake is reported as an auth failure, never as a network one.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use marketwarden_kite::Secret;
use marketwarden_kite::packet::{
    BinaryFrame, ClientRequest, FrameError, TextFrame, Tick, parse_binary_frame, parse_text_frame,
};
use marketwarden_kite::rest::urlencoding;

use super::tls::{KiteTls, error_chain, host_of};

/// Why a connection could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum TickerConnectError {
    /// 403 at the upgrade: the api key or access token is invalid or expired.
    Forbidden,
    /// 401 at the upgrade: the same verdict in another status, as the specification counts it.
    Unauthorized,
    /// Another HTTP status at the upgrade (429, 5xx…).
    Rejected { status: u16 },
    /// No connection, or it broke during the handshake.
    Transport(String),
}

impl TickerConnectError {
    /// True when only a new token can help.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, Self::Forbidden | Self::Unauthorized)
    }
}

impl std::fmt::Display for TickerConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Forbidden => write!(f, "ticker refused the token (403)"),
            Self::Unauthorized => write!(f, "ticker refused the token (401)"),
            Self::Rejected { status } => write!(f, "ticker refused the connection ({status})"),
            Self::Transport(detail) => write!(f, "cannot reach the ticker: {detail}"),
        }
    }
}

impl std::error::Error for TickerConnectError {}

/// What arrived on the connection.
#[derive(Debug, PartialEq)]
pub enum TickerEvent {
    Ticks(Vec<Tick>),
    Heartbeat,
    Text(TextFrame),
    /// A text frame that is not one of the documented three.
    UnknownText(String),
    /// A binary frame that does not hold together; the connection stays usable.
    Malformed(FrameError),
    /// The server closed the connection (with its close code, if it sent a close frame), or the
    /// connection broke (no code).
    Closed {
        code: Option<u16>,
    },
}

/// An open ticker connection, over TCP (and TLS) unless a test gave it another stream.
pub struct TickerConnection<S = MaybeTlsStream<TcpStream>> {
    socket: WebSocketStream<S>,
}

/// The handshake URL: the root with Kite's `api_key` and `access_token` query. It holds the
/// token: never log it.
fn handshake_url(root: &str, api_key: &str, access_token: &Secret) -> String {
    // `wss://ws.kite.trade` has no path: the request line needs `/`.
    let root = match root.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            let tail = if tail.starts_with('/') {
                tail.to_string()
            } else {
                format!("/{tail}")
            };
            format!("{scheme}://{authority}{tail}")
        }
        None => root.to_string(),
    };
    let separator = if root.contains('?') { '&' } else { '?' };
    format!(
        "{root}{separator}api_key={}&access_token={}",
        urlencoding(api_key),
        urlencoding(access_token.expose())
    )
}

/// Opens a connection to the ticker at `root`: `wss://` (TLS with `tls`'s trust store, as Kite
/// serves it) or `ws://`.
///
/// # Errors
///
/// See [`TickerConnectError`]. A TLS or network failure names the host and the reason, never
/// the URL (it holds the token).
pub async fn connect(
    root: &str,
    api_key: &str,
    access_token: &Secret,
    tls: &KiteTls,
) -> Result<TickerConnection, TickerConnectError> {
    let request = handshake_request(root, api_key, access_token)?;
    let connector = tokio_tungstenite::Connector::Rustls(tls.client_config());
    let result =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector))
            .await;
    opened(result.map(|(socket, _)| socket)).map_err(|error| with_host(error, root))
}

/// A transport error with the host it concerns: "TLS error: invalid peer certificate…" alone
/// does not say which of Kite's hosts is behind a proxy.
fn with_host(error: TickerConnectError, root: &str) -> TickerConnectError {
    match error {
        TickerConnectError::Transport(detail) => {
            TickerConnectError::Transport(format!("{}: {detail}", host_of(root)))
        }
        other => other,
    }
}

/// Opens a connection to the ticker at `root` over `stream`, an already open byte stream to
/// the server (paused-clock tests use an in-memory one). The handshake is the same.
///
/// # Errors
///
/// See [`TickerConnectError`].
pub async fn connect_over<S>(
    stream: S,
    root: &str,
    api_key: &str,
    access_token: &Secret,
) -> Result<TickerConnection<S>, TickerConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = handshake_request(root, api_key, access_token)?;
    let result = tokio_tungstenite::client_async(request, stream).await;
    opened(result.map(|(socket, _)| socket))
}

fn handshake_request(
    root: &str,
    api_key: &str,
    access_token: &Secret,
) -> Result<tungstenite::handshake::client::Request, TickerConnectError> {
    let url = handshake_url(root, api_key, access_token);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
        .map_err(|_| TickerConnectError::Transport("the ticker URL is not valid".into()))?;
    request.headers_mut().insert(
        "X-Kite-Version",
        tungstenite::http::HeaderValue::from_static("3"),
    );
    Ok(request)
}

fn opened<S>(
    result: Result<WebSocketStream<S>, tungstenite::Error>,
) -> Result<TickerConnection<S>, TickerConnectError> {
    match result {
        Ok(socket) => Ok(TickerConnection { socket }),
        Err(tungstenite::Error::Http(response)) => match response.status().as_u16() {
            403 => Err(TickerConnectError::Forbidden),
            401 => Err(TickerConnectError::Unauthorized),
            status => Err(TickerConnectError::Rejected { status }),
        },
        // tungstenite's error text never includes the URL, so no token leaks into logs; the
        // causes under it (rustls' certificate verdict, the OS's connect error) do not either.
        Err(error) => Err(TickerConnectError::Transport(error_chain(&error))),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TickerConnection<S> {
    /// Sends a subscribe, unsubscribe or mode request.
    ///
    /// # Errors
    ///
    /// The connection is broken.
    pub async fn send(&mut self, request: &ClientRequest) -> Result<(), TickerConnectError> {
        self.socket
            .send(Message::Text(request.to_json().into()))
            .await
            .map_err(|error| TickerConnectError::Transport(error.to_string()))
    }

    /// The next event. Pings are answered by the library and not reported.
    pub async fn next_event(&mut self) -> TickerEvent {
        loop {
            return match self.socket.next().await {
                Some(Ok(Message::Binary(bytes))) => match parse_binary_frame(&bytes) {
                    Ok(BinaryFrame::Heartbeat) => TickerEvent::Heartbeat,
                    Ok(BinaryFrame::Ticks { ticks, .. }) => TickerEvent::Ticks(ticks),
                    Err(error) => TickerEvent::Malformed(error),
                },
                Some(Ok(Message::Text(text))) => match parse_text_frame(text.as_str()) {
                    Ok(frame) => TickerEvent::Text(frame),
                    Err(_) => TickerEvent::UnknownText(text.to_string()),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => TickerEvent::Closed {
                    code: frame.map(|frame| u16::from(frame.code)),
                },
                Some(Err(_)) | None => TickerEvent::Closed { code: None },
            };
        }
    }

    /// Closes the connection cleanly.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_url_appends_kites_query_encoded() {
        let token = Secret::new("a/b+c");
        let cases = [
            ("ws://sim", "ws://sim/?api_key=key&access_token=a%2Fb%2Bc"),
            (
                "ws://sim/?uid=1",
                "ws://sim/?uid=1&api_key=key&access_token=a%2Fb%2Bc",
            ),
            (
                "ws://sim?uid=1",
                "ws://sim/?uid=1&api_key=key&access_token=a%2Fb%2Bc",
            ),
            (
                "wss://ws.kite.trade/ws",
                "wss://ws.kite.trade/ws?api_key=key&access_token=a%2Fb%2Bc",
            ),
        ];
        for (root, expected) in cases {
            assert_eq!(handshake_url(root, "key", &token), expected);
        }
    }
}
