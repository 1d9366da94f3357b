//! Which log lines the server writes: `RUST_LOG` (default `info`), except that the crates that
//! log whole request URLs never go below `info`. The ticker's handshake URL carries the access
//! token in its query (Kite's protocol), and tungstenite logs the whole request at trace.

use tracing_subscriber::EnvFilter;

/// Crates held at `info` whatever `RUST_LOG` says.
pub const URL_LOGGING_CRATES: [&str; 5] = [
    "tungstenite",
    "tokio_tungstenite",
    "reqwest",
    "hyper",
    "hyper_util",
];

/// The filter for `rust_log` (the value of `RUST_LOG`, if set). Directives naming one of
/// [`URL_LOGGING_CRATES`] or a module of one (`tungstenite::handshake::client=trace`, which
/// would win over a crate-wide `info`) are dropped first.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let kept = rust_log.map(|directives| {
        directives
            .split(',')
            .filter(|directive| !names_a_url_logging_crate(directive))
            .collect::<Vec<_>>()
            .join(",")
    });
    let mut filter = kept
        .as_deref()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    for krate in URL_LOGGING_CRATES {
        if let Ok(directive) = format!("{krate}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// True when `directive` (`target[span]=level`) could reach one of [`URL_LOGGING_CRATES`]: a
/// directive's target matches every target it is a prefix of (`tungstenite:` and even `tung`
/// reach `tungstenite::handshake::client`), so any target that starts with one of the crates'
/// names, or that one of their names starts with, is dropped. A bare level is kept.
fn names_a_url_logging_crate(directive: &str) -> bool {
    let directive = directive.trim();
    if !directive.contains('=') && !directive.contains('[') {
        // `trace`, or a bare target (`tungstenite`, which means "all levels" for it).
        let bare = directive.replace('-', "_");
        let is_level = matches!(
            bare.to_ascii_lowercase().as_str(),
            "trace" | "debug" | "info" | "warn" | "error" | "off" | ""
        );
        return !is_level && reaches_a_url_logging_crate(&bare);
    }
    let target = directive
        .split(['=', '['])
        .next()
        .unwrap_or("")
        .trim()
        .replace('-', "_");
    !target.is_empty() && reaches_a_url_logging_crate(&target)
}

fn reaches_a_url_logging_crate(target: &str) -> bool {
    URL_LOGGING_CRATES
        .iter()
        .any(|krate| target.starts_with(krate) || krate.starts_with(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn url_logging_crates_stay_at_info_even_when_everything_is_traced() {
        for rust_log in [
            "trace",
            "tungstenite=trace,trace",
            "debug,tokio_tungstenite=trace",
            "info,tungstenite::handshake::client=trace",
            "tokio_tungstenite::connect=trace,tungstenite::handshake=trace,marketwarden_server=debug",
            "tokio-tungstenite=trace,marketwarden_server=debug",
            "info,tungstenite:=trace",
            "info,tung=trace",
            "tungstenite,info",
        ] {
            let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
            let sink = lines.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(filter(Some(rust_log)))
                .with_writer(move || Writer(sink.clone()))
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "tungstenite::handshake::client", "GET /?access_token=t");
                tracing::trace!(target: "tokio_tungstenite", "GET /?access_token=t");
                tracing::info!(target: "marketwarden_server::feed", "ours");
            });
            let text = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
            assert!(!text.contains("access_token"), "{rust_log}: {text}");
            assert!(text.contains("ours"), "{rust_log}: {text}");
        }
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
