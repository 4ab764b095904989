// cargo run --release -p ws-echo -- ws://127.0.0.1:8000/ws 32 8
//! Opens CONNS WebSockets to URL and, on each, sends a 64-byte text
//! message and waits for its echo, again and again, for SECONDS. Prints
//! one line: round trips per second, and the median and 99th-percentile
//! round trip in microseconds. A failed connection or echo ends the run
//! with a non-zero status.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main(flavor = "current_thread")]
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark client reports on its terminal")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(conns), Some(secs)) = (
        args.get(1),
        args.get(2).and_then(|c| c.parse::<usize>().ok()),
        args.get(3).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: ws-echo URL CONNS SECONDS");
        return ExitCode::from(2);
    };
    let until = Instant::now() + Duration::from_secs(secs);
    let runs = (0..conns).map(|_| talk(url.clone(), until));
    let mut latencies = Vec::new();
    for result in futures_util::future::join_all(runs).await {
        match result {
            Ok(mut l) => latencies.append(&mut l),
            Err(err) => {
                eprintln!("ws-echo: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
    println!("round trips/s: {:.0} p50 us: {} p99 us: {}", latencies.len() as f64 / secs as f64, at(0.50), at(0.99));
    ExitCode::SUCCESS
}

/// Round trips on one connection until `until`: each one's microseconds.
async fn talk(url: String, until: Instant) -> Result<Vec<u64>, String> {
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.map_err(|e| format!("{url}: {e}"))?;
    let message = "x".repeat(64);
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        socket.send(Message::text(message.clone())).await.map_err(|e| format!("send: {e}"))?;
        match socket.next().await {
            Some(Ok(Message::Text(echo))) if echo.len() == message.len() => {}
            other => return Err(format!("no echo: {other:?}")),
        }
        latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    let _ = socket.close(None).await;
    Ok(latencies)
}
