//! The systemd notification protocol (`Type=notify`): `READY=1` once the server serves,
//! `WATCHDOG=1` from the server's own event loop, `STOPPING=1` on shutdown. Without
//! `NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Sends `message` (e.g. `READY=1`) to systemd. `Ok(false)` when not started by systemd.
///
/// # Errors
///
/// The notification socket exists but cannot be written to.
pub fn notify(message: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    send(&path, message)?;
    Ok(true)
}

#[cfg(target_os = "linux")]
fn send(path: &std::ffi::OsStr, message: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        // An abstract socket, as systemd often uses.
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    socket.send_to_addr(message.as_bytes(), &address)?;
    Ok(())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn send(path: &std::ffi::OsStr, message: &str) -> std::io::Result<()> {
    std::os::unix::net::UnixDatagram::unbound()?.send_to(message.as_bytes(), path)?;
    Ok(())
}

#[cfg(not(unix))]
fn send(_path: &std::ffi::OsStr, _message: &str) -> std::io::Result<()> {
    Ok(())
}

/// Half of `WATCHDOG_USEC` when systemd set a watchdog for this process (`WATCHDOG_PID` absent
/// or ours), as systemd recommends.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var("WATCHDOG_PID").ok()
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let micros: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (micros > 0).then(|| Duration::from_micros(micros / 2))
}

/// Sends `WATCHDOG=1` every `interval` until `shutdown`. It runs on the server's runtime, so
/// the pings stop when the process hangs — not when the broker or the feed is down.
pub async fn keep_watchdog_fed(interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = notify("WATCHDOG=1") {
                    tracing::warn!(%error, "cannot notify the systemd watchdog");
                }
            }
        }
    }
}
