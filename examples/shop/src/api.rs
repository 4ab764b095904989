//! The JSON API, nested under `/api`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::{Base, Product, Shop};

/// A product as a client sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct NewProduct {
    name: String,
    price_cents: u64,
}

pub(crate) async fn list(State(shop): State<Arc<Shop>>) -> Json<Vec<Product>> {
    shop.visits.fetch_add(1, Ordering::Relaxed);
    Json(shop.catalogue.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect())
}

pub(crate) async fn show(State(shop): State<Arc<Shop>>, Path(id): Path<u32>) -> impl IntoResponse {
    let product = shop.catalogue.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
    match product {
        Some(product) => Json(product).into_response(),
        None => not_found().await.into_response(),
    }
}

pub(crate) async fn create(
    State(shop): State<Arc<Shop>>,
    base: Base,
    Json(new): Json<NewProduct>,
) -> impl IntoResponse {
    if new.name.trim().is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": "a product needs a name" }))).into_response();
    }
    let product = shop.add(new.name, new.price_cents);
    let location = base.url(&format!("/api/products/{}", product.id));
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(product)).into_response()
}

pub(crate) async fn remove(State(shop): State<Arc<Shop>>, Path(id): Path<u32>) -> StatusCode {
    match shop.catalogue.write().unwrap_or_else(PoisonError::into_inner).remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

pub(crate) async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "no such resource" })))
}
