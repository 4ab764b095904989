//! HTML pages, forms, the cart cookie and a few plain handlers.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, Version};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serde_json::json;

use crate::{Base, Shop};

pub(crate) async fn home(base: Base, State(shop): State<Arc<Shop>>) -> Html<String> {
    let products = shop.catalogue.read().unwrap_or_else(std::sync::PoisonError::into_inner).len();
    Html(format!(
        "<!doctype html><title>Shop</title><link rel=stylesheet href=\"{css}\">\
         <h1>Shop</h1><p>{products} products. <a href=\"{api}\">API</a> · <a href=\"{cart}\">cart</a></p>",
        css = base.url("/static/style.css"),
        api = base.url("/api/products"),
        cart = base.url("/cart"),
    ))
}

/// A redirect the site makes for itself: it carries the mount prefix.
pub(crate) async fn login(base: Base) -> Redirect {
    Redirect::to(&base.url("/cart"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Contact {
    name: String,
    message: String,
}

pub(crate) async fn contact(Form(form): Form<Contact>) -> Html<String> {
    Html(format!("<p>Thank you, {}: {} bytes received.</p>", escape(&form.name), form.message.len()))
}

/// The cart: product ids in a cookie, `1.2.3`.
fn cart_of(jar: &CookieJar) -> Vec<u32> {
    jar.get("cart").map(|c| c.value().split('.').filter_map(|id| id.parse().ok()).collect()).unwrap_or_default()
}

pub(crate) async fn cart(jar: CookieJar) -> Json<serde_json::Value> {
    let theme = jar.get("theme").map(|c| c.value().to_string());
    Json(json!({ "items": cart_of(&jar), "theme": theme }))
}

pub(crate) async fn add_to_cart(base: Base, jar: CookieJar, Path(id): Path<u32>) -> (CookieJar, Redirect) {
    let mut items = cart_of(&jar);
    items.push(id);
    let value = items.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    let cart = Cookie::build(("cart", value)).path(base.url("/")).http_only(true).same_site(SameSite::Lax);
    let last = Cookie::build(("last_added", id.to_string())).path(base.url("/"));
    (jar.add(cart).add(last), Redirect::to(&base.url("/cart")))
}

pub(crate) async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.ip().to_string()
}

/// What the handler was given: the facts a differential test compares.
pub(crate) async fn request_facts(
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Json<serde_json::Value> {
    let all =
        |name: &str| headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes())).collect::<Vec<_>>();
    Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "version": format!("{version:?}"),
        "host": all("host"),
        "x-tag": all("x-tag"),
        "x_tag": all("x_tag"),
        "cookie": all("cookie"),
        "content-type": all("content-type"),
        "body": body.len(),
    }))
}

pub(crate) async fn visits(State(shop): State<Arc<Shop>>) -> String {
    format!("{} visits to the product list in process {}", shop.visits.load(Ordering::Relaxed), std::process::id())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Slow {
    ms: u64,
}

pub(crate) async fn slow(Query(slow): Query<Slow>) -> String {
    tokio::time::sleep(Duration::from_millis(slow.ms)).await;
    format!("slept {} ms", slow.ms)
}

pub(crate) async fn panic() -> &'static str {
    panic!("the shop panics on /panic, on purpose")
}

/// What `CatchPanicLayer` answers for a handler that panicked.
pub(crate) fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "internal error" }))).into_response()
}

pub(crate) async fn not_found(uri: Uri) -> (StatusCode, Html<String>) {
    (StatusCode::NOT_FOUND, Html(format!("<h1>Not found</h1><p>{}</p>", escape(uri.path()))))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
