//! TLS for the simulator: `https://` and `wss://` on one port, as Kite serves them, so the tests
//! cross the same wire as production (rustls, certificate checks, SNI).
//!
//! A certificate comes from PEM files (`kite-sim --tls-cert --tls-key`) or is generated
//! ([`SelfSigned`]): a throw-away CA and a server certificate it signs for the listen address,
//! the CA written where clients can trust it (`SSL_CERT_FILE`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a client may take over the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A generated CA and a server certificate it signed.
pub struct SelfSigned {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    /// The server's configuration, with the signed certificate and its key.
    pub server: Arc<rustls::ServerConfig>,
}

impl SelfSigned {
    /// A new CA and a certificate for `hosts` (names or IP addresses), signed by it.
    ///
    /// # Errors
    ///
    /// A host is not a valid name, or the key cannot be generated.
    pub fn generate(hosts: &[String]) -> Result<Self, String> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let problem = |error: rcgen::Error| format!("cannot generate a certificate: {error}");
        let ca_key = KeyPair::generate().map_err(problem)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(problem)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "marketwarden kite-sim CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(problem)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(problem)?;
        let mut server_params = CertificateParams::new(hosts.to_vec()).map_err(problem)?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "marketwarden kite-sim");
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(problem)?;
        let server = server_config(
            vec![server_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server,
        })
    }

    /// The names a generated certificate covers for a simulator listening on `addr`: the
    /// address itself, and the loopback names when it is loopback or every interface.
    pub fn hosts_for(addr: SocketAddr) -> Vec<String> {
        let ip = addr.ip();
        let mut hosts = vec![ip.to_string()];
        if ip.is_loopback() || ip.is_unspecified() {
            for name in ["127.0.0.1", "::1", "localhost"] {
                if !hosts.iter().any(|host| host == name) {
                    hosts.push(name.to_string());
                }
            }
        }
        hosts
    }
}

/// A new folder only this user may enter, in the temporary folder, for a generated CA: a
/// predictable path in /tmp could be planted by another local user.
///
/// # Errors
///
/// The folder cannot be created.
pub fn private_folder() -> std::io::Result<std::path::PathBuf> {
    use rand::Rng;
    let name = format!(
        "kite-sim-{}-{:016x}",
        std::process::id(),
        rand::rng().random::<u64>()
    );
    let folder = std::env::temp_dir().join(name);
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&folder)?;
    Ok(folder)
}

/// Writes `contents` to a file that must not exist yet (never through a planted symlink).
///
/// # Errors
///
/// The file exists, or cannot be written.
pub fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The server configuration from a PEM certificate chain and a PEM private key.
///
/// # Errors
///
/// A file cannot be read or does not hold what it should.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("--tls-cert {}: {error}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE in it",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| format!("--tls-key {}: {error}", key.display()))?;
    server_config(chain, key)
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|error| format!("the certificate and key do not go together: {error}"))?;
    // HTTP/1.1 only: the WebSocket upgrade is an HTTP/1.1 request.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections are TLS, for `axum::serve`. Handshakes run in their own
/// tasks, so a client that never finishes one delays no one else.
pub struct TlsListener {
    accepted: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    _stop_accepting: DropGuard,
}

impl TlsListener {
    /// Accepts TLS connections on `listener` with `config`.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, accepted) = tokio::sync::mpsc::channel(64);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(connection) => connection,
                        Err(error) => {
                            tracing::debug!(%error, "kite-sim: accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "kite-sim: TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "kite-sim: TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            accepted,
            local_addr,
            _stop_accepting: stop.drop_guard(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accepting task ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_cover_loopback_names_for_a_loopback_or_wildcard_address() {
        let loopback = SelfSigned::hosts_for("127.0.0.1:5010".parse().unwrap());
        assert_eq!(loopback, ["127.0.0.1", "::1", "localhost"]);
        let wildcard = SelfSigned::hosts_for("0.0.0.0:5010".parse().unwrap());
        assert_eq!(wildcard, ["0.0.0.0", "127.0.0.1", "::1", "localhost"]);
        let lan = SelfSigned::hosts_for("192.168.1.20:5010".parse().unwrap());
        assert_eq!(lan, ["192.168.1.20"]);
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let cert = folder.path().join("cert.pem");
        let key = folder.path().join("key.pem");
        let first = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let second = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&cert, first.cert.pem()).unwrap();
        std::fs::write(&key, second.serialize_pem()).unwrap();
        let error = server_config_from_files(&cert, &key).unwrap_err();
        assert!(error.contains("do not go together"), "{error}");
        std::fs::write(&key, first.signing_key.serialize_pem()).unwrap();
        assert!(server_config_from_files(&cert, &key).is_ok());
        let error = server_config_from_files(&folder.path().join("none.pem"), &key).unwrap_err();
        assert!(error.starts_with("--tls-cert"), "{error}");
    }
}
