//! How the watchdog reaches the ticker, as a trait so that paused-clock tests can script
//! connections without sockets.

use futures_util::future::BoxFuture;

use crate::auth::TickerCredentials;
use crate::kite::ticker::{self, TickerConnectError, TickerConnection, TickerEvent};
use marketwarden_kite::packet::ClientRequest;

/// A connection being opened.
pub type Connecting<'a> = BoxFuture<'a, Result<Box<dyn TickerLink>, TickerConnectError>>;

/// Opens ticker connections.
pub trait TickerConnector: Send + Sync {
    /// One connection with `credentials`.
    fn connect<'a>(&'a self, credentials: &'a TickerCredentials) -> Connecting<'a>;
}

/// One open ticker connection.
pub trait TickerLink: Send {
    /// Sends a subscribe or mode request.
    fn send<'a>(
        &'a mut self,
        request: &'a ClientRequest,
    ) -> BoxFuture<'a, Result<(), TickerConnectError>>;
    /// The next event; [`TickerEvent::Closed`] when the connection ended.
    fn next_event(&mut self) -> BoxFuture<'_, TickerEvent>;
    /// Closes the connection cleanly (a close frame, then the TCP close).
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Kite's ticker (or the simulator's) at a WebSocket root URL.
pub struct KiteTicker {
    pub url: String,
    /// The trust store of `wss://` connections.
    pub tls: crate::kite::tls::KiteTls,
}

impl TickerConnector for KiteTicker {
    fn connect<'a>(&'a self, credentials: &'a TickerCredentials) -> Connecting<'a> {
        Box::pin(async move {
            let connection = ticker::connect(
                &self.url,
                &credentials.api_key,
                &credentials.access_token,
                &self.tls,
            )
            .await?;
            Ok(Box::new(connection) as Box<dyn TickerLink>)
        })
    }
}

impl<S> TickerLink for TickerConnection<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    fn send<'a>(
        &'a mut self,
        request: &'a ClientRequest,
    ) -> BoxFuture<'a, Result<(), TickerConnectError>> {
        Box::pin(TickerConnection::send(self, request))
    }

    fn next_event(&mut self) -> BoxFuture<'_, TickerEvent> {
        Box::pin(TickerConnection::next_event(self))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(TickerConnection::close(*self))
    }
}
