//! The trust store of every connection to Kite: the ticker (`wss://`) and REST and the token
//! exchange (`https://`) share one rustls client configuration.
//!
//! Trusted: the Mozilla roots compiled in (webpki-roots), the platform's roots (as
//! rustls-native-certs finds them), and the certificates of the PEM file `SSL_CERT_FILE` names.
//! That last one is how a corporate proxy's CA, or a test simulator's, is added to the others.
//! (rustls-native-certs reads `SSL_CERT_FILE` instead of the platform's bundle, as OpenSSL does;
//! so the system's own bundle is then read from its usual place as well, and a private CA
//! installed in the system store is not lost.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the trust store could not be built. The server refuses to start on it: a CA file that
/// was asked for and cannot be used would otherwise surface as a "certificate not trusted" hours
/// later.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsSetupError {
    /// The extra CA file cannot be read, or holds no certificate.
    CaFile { path: PathBuf, problem: String },
    /// rustls refused the configuration (an unsupported protocol set).
    Config(String),
}

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CaFile { path, problem } => write!(
                f,
                "SSL_CERT_FILE {}: {problem} (it must be a PEM file of CA certificates)",
                path.display()
            ),
            Self::Config(problem) => write!(f, "cannot set up TLS: {problem}"),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// The rustls client configuration every Kite connection uses.
#[derive(Clone)]
pub struct KiteTls {
    config: Arc<rustls::ClientConfig>,
    /// The roots it trusts (Mozilla's included), to add one more CA to.
    roots: Arc<rustls::RootCertStore>,
}

impl std::fmt::Debug for KiteTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiteTls")
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl KiteTls {
    /// The production trust store: compiled-in roots, the platform's, and `SSL_CERT_FILE`'s
    /// (read through `env`, `std::env::var` in `main`).
    ///
    /// # Errors
    ///
    /// `SSL_CERT_FILE` is set but cannot be read or holds no certificate.
    pub fn from_environment(env: impl Fn(&str) -> Option<String>) -> Result<Self, TlsSetupError> {
        let extra = env("SSL_CERT_FILE")
            .filter(|value| !value.trim().is_empty())
            .map(PathBuf::from);
        let mut roots = rustls::RootCertStore::empty();
        // The platform's roots: some may fail to load (an expired or odd certificate in the
        // system bundle); the others still count, as every TLS client does.
        let native = rustls_native_certs::load_native_certs();
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 || !native.errors.is_empty() {
            tracing::debug!(
                added,
                ignored,
                errors = native.errors.len(),
                "some platform CA certificates could not be used"
            );
        }
        if let Some(path) = extra {
            // The platform bundle rustls-native-certs skipped for SSL_CERT_FILE.
            if let Some(bundle) = SYSTEM_BUNDLES
                .iter()
                .map(Path::new)
                .find(|file| file.is_file())
                && let Ok(certificates) = read_ca_file(bundle)
            {
                roots.add_parsable_certificates(certificates);
            }
            for certificate in read_ca_file(&path)? {
                roots
                    .add(certificate)
                    .map_err(|error| TlsSetupError::CaFile {
                        path: path.clone(),
                        problem: error.to_string(),
                    })?;
            }
        }
        Self::with_roots(roots)
    }

    /// Kite's public roots only, plus the CA certificates in `extra_ca_pem` (tests and
    /// benchmarks, which trust a simulator's CA without touching the process environment).
    ///
    /// # Errors
    ///
    /// `extra_ca_pem` holds something that is not a certificate.
    pub fn with_extra_ca_pem(extra_ca_pem: &[u8]) -> Result<Self, TlsSetupError> {
        Self::public_roots().also_trusting(extra_ca_pem)
    }

    /// This trust store and the CA certificates in `ca_pem` (the embedded simulator's).
    ///
    /// # Errors
    ///
    /// `ca_pem` holds something that is not a certificate.
    pub fn also_trusting(&self, ca_pem: &[u8]) -> Result<Self, TlsSetupError> {
        let mut roots = (*self.roots).clone();
        let certificates = parse_ca_pem(ca_pem).map_err(|problem| TlsSetupError::CaFile {
            path: PathBuf::from("(in memory)"),
            problem,
        })?;
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| TlsSetupError::Config(error.to_string()))?;
        }
        Self::build(roots)
    }

    /// Kite's public roots (compiled in) only.
    pub fn public_roots() -> Self {
        Self::with_roots(rustls::RootCertStore::empty())
            .expect("the default protocol versions are supported by ring")
    }

    /// `roots` and the compiled-in Mozilla roots.
    fn with_roots(mut roots: rustls::RootCertStore) -> Result<Self, TlsSetupError> {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::build(roots)
    }

    fn build(roots: rustls::RootCertStore) -> Result<Self, TlsSetupError> {
        let roots = Arc::new(roots);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsSetupError::Config(error.to_string()))?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            roots,
        })
    }

    /// The rustls configuration, for the ticker's connector and reqwest.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// How many root certificates are trusted.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }
}

/// Where Linux distributions keep the system's CA bundle (Debian and Ubuntu, Fedora and RHEL,
/// openSUSE, Alpine and Arch).
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let problem = |problem: String| TlsSetupError::CaFile {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|error| problem(error.kind().to_string()))?;
    parse_ca_pem(&bytes).map_err(problem)
}

/// Every `CERTIFICATE` section of a PEM text; at least one.
fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not PEM ({error})"))?;
    if certificates.is_empty() {
        return Err("no CERTIFICATE in it".into());
    }
    Ok(certificates)
}

/// The host (and port, when given) of `url`, for error messages: never its path or query,
/// which may carry a token.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // Credentials in the authority never reach a message either.
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// The message of `error` and of every error under it, joined with ": " (a TLS failure is
/// usually a few levels down), without repeats.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_keeps_only_the_authority() {
        assert_eq!(host_of("wss://ws.kite.trade"), "ws.kite.trade");
        assert_eq!(
            host_of("wss://ws.kite.trade/?api_key=k&access_token=t"),
            "ws.kite.trade"
        );
        assert_eq!(
            host_of("https://api.kite.trade/session/token"),
            "api.kite.trade"
        );
        assert_eq!(host_of("https://127.0.0.1:5010?x=1"), "127.0.0.1:5010");
        assert_eq!(host_of("https://user:pw@proxy:3128/x"), "proxy:3128");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_path() {
        let folder = tempfile::tempdir().unwrap();
        let missing = folder.path().join("missing.pem");
        let env = |path: PathBuf| {
            move |name: &str| (name == "SSL_CERT_FILE").then(|| path.display().to_string())
        };
        let error = KiteTls::from_environment(env(missing.clone())).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        assert!(error.to_string().contains("not found"), "{error}");
        let empty = folder.path().join("empty.pem");
        std::fs::write(&empty, "# nothing\n").unwrap();
        let error = KiteTls::from_environment(env(empty)).unwrap_err();
        assert!(error.to_string().contains("no CERTIFICATE"), "{error}");
    }

    #[test]
    fn a_ca_file_adds_to_the_compiled_in_roots() {
        let public = KiteTls::public_roots().root_count();
        let ca = kite_sim::tls::SelfSigned::generate(&["127.0.0.1".into()]).unwrap();
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("ca.pem");
        std::fs::write(&path, &ca.ca_pem).unwrap();
        let env = |name: &str| (name == "SSL_CERT_FILE").then(|| path.display().to_string());
        let trusted = KiteTls::from_environment(env).unwrap();
        assert!(trusted.root_count() > public, "{trusted:?}");
        // The system's bundle counts too, not only the extra file.
        if let Some(bundle) = SYSTEM_BUNDLES
            .iter()
            .map(Path::new)
            .find(|file| file.is_file())
        {
            let system = read_ca_file(bundle).unwrap().len();
            assert!(
                trusted.root_count() > public + system,
                "{} roots: the system's {system} are missing",
                trusted.root_count()
            );
        }
        let in_memory = KiteTls::with_extra_ca_pem(ca.ca_pem.as_bytes()).unwrap();
        assert_eq!(in_memory.root_count(), public + 1);
    }
}
