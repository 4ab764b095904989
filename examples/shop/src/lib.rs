//! A small shop, written as any axum site is: a JSON API in a nested
//! router, HTML forms, multipart uploads, a cart kept in a cookie,
//! server-sent events, a WebSocket, static files, shared state, and tower-http's
//! compression, timeout, body-limit and panic layers. Nothing in it is
//! about rgi except [`Base`], which makes the URLs it builds carry the
//! mount prefix.
//!
//! `src/main.rs` serves it through rgi (embedded, as a daemon, or under
//! `rgi-dev`); `src/bin/shop-axum.rs` serves the same router with plain
//! `axum::serve`. The differential test (`tests/differential.rs`) runs one
//! request battery against both and compares every answer.

mod api;
mod base;
mod pages;
mod streams;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;

pub use base::{Base, Mount};

/// The largest upload the shop takes: its own limit, above rgi's 16 MiB
/// default, so `main.rs` raises rgi's to match (DEP-7).
pub const UPLOAD_LIMIT: usize = 32 << 20;

/// How long a request may take before the shop answers 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an upload may take.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// One product in the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Product {
    /// Its id, chosen by the shop.
    pub id: u32,
    /// What it is called.
    pub name: String,
    /// What it costs, in cents.
    pub price_cents: u64,
}

/// What every handler shares: the catalogue (in this process's memory, so
/// one per process; see docs/applications.md) and a visit counter.
#[derive(Debug, Default)]
pub struct Shop {
    catalogue: RwLock<BTreeMap<u32, Product>>,
    next_id: AtomicU32,
    visits: AtomicU64,
}

impl Shop {
    /// An empty shop; [`Shop::load`] fills it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Loads the catalogue, as a real site would from its database:
    /// asynchronously, on the runtime (a task stands for the pool's
    /// connection). Run it before the first request: rgi's startup hook,
    /// or before `axum::serve`.
    pub async fn load(&self) {
        let rows = tokio::spawn(async {
            [("Teapot", 2_500), ("Kettle", 3_900), ("Mug", 800)].map(|(name, price)| (name.to_string(), price))
        });
        for (name, price_cents) in rows.await.unwrap_or_default() {
            self.add(name, price_cents);
        }
    }

    fn add(&self, name: String, price_cents: u64) -> Product {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let product = Product { id, name, price_cents };
        self.catalogue.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, product.clone());
        product
    }
}

/// The whole site.
pub fn router(shop: Arc<Shop>) -> Router {
    let api = Router::new()
        .route("/products", get(api::list).post(api::create))
        .route("/products/{id}", get(api::show).delete(api::remove))
        .fallback(api::not_found);
    let site = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login))
        .route("/contact", post(pages::contact))
        .route("/cart", get(pages::cart))
        .route("/cart/{id}", post(pages::add_to_cart))
        .route("/whoami", get(pages::whoami))
        .route("/request", get(pages::request_facts).post(pages::request_facts))
        .route("/visits", get(pages::visits))
        .route("/slow", get(pages::slow))
        .route("/panic", get(pages::panic))
        .route("/events", get(streams::events))
        .route("/big", get(streams::big))
        .route("/ws", get(streams::echo_socket))
        .nest("/api", api)
        .nest_service("/static", ServeDir::new("static"))
        .fallback(pages::not_found)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT));
    // Uploads take as long as the client's link needs.
    let uploads = Router::new()
        .route("/upload", post(streams::upload))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, UPLOAD_TIMEOUT));
    site.merge(uploads)
        .with_state(shop)
        // axum's own limit for extractors, raised to the shop's.
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
        .layer(RequestBodyLimitLayer::new(UPLOAD_LIMIT))
        .layer(CatchPanicLayer::custom(pages::panicked))
        .layer(CompressionLayer::new())
}
