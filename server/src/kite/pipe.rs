//! The client's connections to the simulator over in-memory pipes, for tests on a paused clock (where real sockets
//! would let tokio skip time while bytes are in flight).
//!
//! Nothing is shortcut: each connection is a byte stream carrying TLS (the simulator's generated
//! certificate, checked by the production client's rustls configuration with the simulator's CA
//! added, as `SSL_CERT_FILE` adds it), on which the simulator's router is served as HTTP/1.1 by
//! hyper; the REST client writes real requests and the ticker client makes a real WebSocket
//! upgrade, exactly as over TCP to `https://` and `wss://`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::DuplexStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use kite_sim::tls::SelfSigned;
use kite_sim::{Simulator, router};
use marketwarden_kite::rest::{KiteEndpoints, KiteError, REQUEST_TIMEOUT};

use super::rest::{RestResponse, RestTransport, content_type_of};
use super::ticker::{self, TickerConnectError};
use super::tls::KiteTls;
use crate::auth::TickerCredentials;
use crate::feed::link::{Connecting, TickerConnector, TickerLink};

/// The name the simulator's certificate is for, and the clients connect to.
const HOST: &str = "kite-sim.invalid";

/// Bytes each direction of a connection buffers before the writer waits.
const PIPE_BUFFER: usize = 64 * 1024;

/// Opens in-memory connections to one simulator.
#[derive(Clone)]
pub struct SimPipe {
    router: axum::Router,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    client_tls: KiteTls,
}

impl SimPipe {
    /// Serves `sim` on every connection opened with [`SimPipe::open`], over TLS with a
    /// certificate generated for it.
    ///
    /// # Panics
    ///
    /// The certificate cannot be generated (never with the fixed name it is generated for).
    pub fn new(sim: Arc<Simulator>) -> Self {
        let certificate =
            SelfSigned::generate(&[HOST.to_string()]).expect("a certificate for kite-sim.invalid");
        let client_tls = KiteTls::with_extra_ca_pem(certificate.ca_pem.as_bytes())
            .expect("the generated CA parses");
        Self {
            router: router(sim),
            acceptor: TlsAcceptor::from(certificate.server),
            connector: TlsConnector::from(client_tls.client_config()),
            client_tls,
        }
    }

    /// The endpoints to give the clients; only their paths matter.
    pub fn endpoints() -> KiteEndpoints {
        KiteEndpoints {
            api_root: format!("https://{HOST}"),
            login_url: format!("https://{HOST}/connect/login"),
            ticker_url: format!("wss://{HOST}"),
        }
    }

    /// The trust store that accepts this simulator's certificate.
    pub fn client_tls(&self) -> &KiteTls {
        &self.client_tls
    }

    /// A new connection, TLS established: the client's end. The simulator serves the other end
    /// until either side closes it.
    ///
    /// # Errors
    ///
    /// The TLS handshake failed (the text says why).
    pub async fn open(&self) -> Result<TlsStream<DuplexStream>, String> {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        let service = TowerToHyperService::new(self.router.clone());
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            let Ok(server) = acceptor.accept(server).await else {
                return;
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), service)
                .with_upgrades();
            // A client that goes away mid-request is not the simulator's problem.
            let _ = served.await;
        });
        let name =
            rustls::pki_types::ServerName::try_from(HOST).map_err(|error| error.to_string())?;
        self.connector
            .connect(name, client)
            .await
            .map_err(|error| format!("{HOST}: {error}"))
    }

    /// One HTTP exchange on a new connection, as a browser or client library would make it.
    ///
    /// # Errors
    ///
    /// The connection broke (the text says how).
    pub async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<bytes::Bytes>, String> {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.open().await?))
                .await
                .map_err(|error| error.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = origin_form(request);
        let response = sender
            .send_request(request.map(http_body_util::Full::new))
            .await
            .map_err(|error| error.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| error.to_string())?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// An HTTP/1.1 request line carries the path only, with the authority in `Host`.
fn origin_form(mut request: http::Request<Vec<u8>>) -> http::Request<bytes::Bytes> {
    let uri = request.uri().clone();
    if let Some(authority) = uri.authority()
        && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(http::header::HOST, host);
    }
    if let Some(path) = uri.path_and_query()
        && let Ok(path) = http::Uri::try_from(path.as_str())
    {
        *request.uri_mut() = path;
    }
    request.map(bytes::Bytes::from)
}

impl RestTransport for SimPipe {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<RestResponse, KiteError>> {
        Box::pin(async move {
            let exchange = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request));
            let response = exchange
                .await
                .map_err(|_| KiteError::Timeout)?
                .map_err(KiteError::Transport)?;
            Ok(RestResponse {
                status: response.status().as_u16(),
                content_type: content_type_of(response.headers()),
                body: response.into_body(),
            })
        })
    }
}

impl TickerConnector for SimPipe {
    fn connect<'a>(&'a self, credentials: &'a TickerCredentials) -> Connecting<'a> {
        Box::pin(async move {
            let stream = self.open().await.map_err(TickerConnectError::Transport)?;
            let connection = ticker::connect_over(
                stream,
                &Self::endpoints().ticker_url,
                &credentials.api_key,
                &credentials.access_token,
            )
            .await?;
            Ok(Box::new(connection) as Box<dyn TickerLink>)
        })
    }
}
