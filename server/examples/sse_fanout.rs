//! SSE fan-out benchmark: holds N clients on `/api/system/events`, then times how long one
//! change takes to reach every one of them. The change is made by the caller after "ready" is
//! printed (e.g. a login); the program waits for an event containing NEEDLE.
//!
//!   sse_fanout http://127.0.0.1:PORT CLIENTS NEEDLE

use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("base URL");
    let clients: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let needle = args.next().unwrap_or_else(|| r#""state":"valid""#.into());
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Instant>();
    for _ in 0..clients {
        let (addr, needle) = (addr.clone(), needle.clone());
        let (ready_tx, seen_tx) = (ready_tx.clone(), seen_tx.clone());
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.expect("connects");
            let request = format!(
                "GET /api/system/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.expect("sends");
            let mut buffer = vec![0u8; 16 * 1024];
            let mut text = String::new();
            let mut announced = false;
            loop {
                let read = stream.read(&mut buffer).await.unwrap_or(0);
                if read == 0 {
                    return;
                }
                text.push_str(&String::from_utf8_lossy(&buffer[..read]));
                if !announced && text.contains("event: health") {
                    announced = true;
                    let _ = ready_tx.send(());
                    text.clear();
                    continue;
                }
                if announced && text.contains(&needle) {
                    let _ = seen_tx.send(Instant::now());
                    return;
                }
            }
        });
    }
    drop((ready_tx, seen_tx));
    for _ in 0..clients {
        ready_rx
            .recv()
            .await
            .expect("every client got its first event");
    }
    println!("ready: {clients} clients hold the stream");
    let start = Instant::now();
    let mut delays = Vec::with_capacity(clients);
    while delays.len() < clients {
        match tokio::time::timeout(Duration::from_secs(30), seen_rx.recv()).await {
            Ok(Some(at)) => delays.push(at.duration_since(start)),
            _ => break,
        }
    }
    delays.sort();
    if delays.is_empty() {
        println!("no client saw the change");
        return Ok(());
    }
    // The first arrival stands for the moment the server sent the change; the spread after it
    // is the fan-out.
    let first = delays[0];
    let spread: Vec<Duration> = delays.iter().map(|d| *d - first).collect();
    let pick = |q: f64| spread[((spread.len() as f64 * q).ceil() as usize).saturating_sub(1)];
    println!(
        "delivered to {}/{clients}: after the first arrival p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        pick(0.5),
        pick(0.99),
        spread[spread.len() - 1]
    );
    Ok(())
}
