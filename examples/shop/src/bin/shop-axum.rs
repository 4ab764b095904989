// cargo run -p shop --bin shop-axum -- 127.0.0.1:8001
//! The same router under plain `axum::serve`, for comparison: the
//! differential test and `bench/axum.sh` run it next to rgi.
//!
//! Arguments: the address to listen on (default 127.0.0.1:8001), and
//! `--prefix /p` to mount the site under `/p` with `Router::nest`, as
//! axum itself mounts a router under a prefix.

use std::net::SocketAddr;

#[tokio::main]
#[allow(clippy::print_stderr, reason = "the one line this binary writes, as rgi's servers log it")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut addr, mut prefix) = ("127.0.0.1:8001".to_string(), None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prefix" => prefix = Some(args.next().ok_or("--prefix needs a value, e.g. /shop")?),
            _ => addr = arg,
        }
    }
    let shop = shop::Shop::new();
    shop.load().await;
    let site = shop::router(shop);
    let app = match prefix {
        Some(prefix) => axum::Router::new().nest(&prefix, site).layer(axum::Extension(shop::Mount(prefix))),
        None => site,
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // The line the tests and the benchmark wait for.
    eprintln!("listening addr={}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
