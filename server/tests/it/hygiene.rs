//! Connection hygiene with real sockets: the header deadline (slowloris, idle keep-alive), the
//! cap on connections and on event streams, and a stop that never waits for a client. Time is
//! tokio's paused clock: it moves only while every task waits, so deadlines pass at once.

use std::sync::Arc;
use std::time::Duration;

use marketwarden_server::calendar::CalendarStore;
use marketwarden_server::clock::SystemClock;
use marketwarden_server::connections::{HEADER_READ_TIMEOUT, Limits, SHUTDOWN_DEADLINE};
use marketwarden_server::run;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

struct Running {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = marketwarden_server::doubles::market_only_state(
        Arc::new(SystemClock),
        Arc::new(CalendarStore::builtin()),
    )
    .with_limits(limits);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(run(listener, state, shutdown.clone()));
    Running {
        addr,
        shutdown,
        server,
    }
}

/// Reads until the peer closes; returns what arrived. Fails if it stays open a minute.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "still open after a minute");
    String::from_utf8_lossy(&answer).into_owned()
}

fn get(path: &str, addr: std::net::SocketAddr) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n")
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_headers_is_closed_at_the_deadline() {
    let server = start(Limits::default()).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        .await
        .unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT,
        "closed after {:?}",
        started.elapsed()
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_deadline() {
    let server = start(Limits::default()).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(get("/livez", server.addr).as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 15];
    client.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    let idle_since = Instant::now();
    read_to_close(&mut client).await;
    let idle = idle_since.elapsed();
    assert!(
        idle >= HEADER_READ_TIMEOUT && idle < HEADER_READ_TIMEOUT * 2,
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503_and_closed() {
    let server = start(Limits {
        connections: 3,
        ..Limits::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server take the three before the fourth knocks.
    let mut probe = TcpStream::connect(server.addr).await.unwrap();
    probe
        .write_all(get("/livez", server.addr).as_bytes())
        .await
        .unwrap();
    let answer = read_to_close(&mut probe).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    // A place freed is a place taken again.
    drop(idle.pop());
    let livez = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let mut client = TcpStream::connect(server.addr).await.unwrap();
            client
                .write_all(
                    format!(
                        "GET /livez HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
                        server.addr
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
            let answer = read_to_close(&mut client).await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(livez.is_ok(), "no place came back");
}

#[tokio::test]
async fn event_streams_over_their_cap_are_answered_503() {
    let server = start(Limits {
        event_streams: 1,
        ..Limits::default()
    })
    .await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let mut first = http
        .get(format!("{base}/api/system/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.chunk().await.unwrap().is_some());
    let second = http
        .get(format!("{base}/api/system/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 503);
    assert_eq!(second.headers()["retry-after"], "5");
    drop(first);
    let reopened = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let answer = reqwest::Client::new()
                .get(format!("{base}/api/system/events"))
                .send()
                .await
                .unwrap();
            if answer.status() == 200 {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        reopened.is_ok(),
        "the closed stream's place never came back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_does_not_wait_for_a_half_sent_request() {
    let server = start(Limits::default()).await;
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tokio::task::yield_now().await;
    let stopping = Instant::now();
    server.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(60), server.server).await;
    assert!(stopped.is_ok(), "the stop waited for the client");
    assert!(
        stopping.elapsed() <= SHUTDOWN_DEADLINE,
        "stopped after {:?}",
        stopping.elapsed()
    );
    drop(half);
}
