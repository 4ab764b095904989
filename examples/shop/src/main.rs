// cargo run -p shop     # then: curl http://127.0.0.1:8000/api/products
//! The shop served through rgi: embedded by default, as a daemon under
//! rgi-server, or under rgi-dev, with no change to the router.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    // The shop takes uploads up to its own limit, above rgi's default; a
    // deployment's RGI_MAX_BODY_BYTES (or rgi-server's [server.limits])
    // still has the last word (DEP-7).
    let mut limits = rgi::Limits::default();
    limits.max_body_bytes = Some(shop::UPLOAD_LIMIT as u64);
    rgi::run_with_limits(limits, |_settings| {
        let shop = shop::Shop::new();
        let loading = Arc::clone(&shop);
        // The catalogue loads in the startup hook: on the runtime, once,
        // before the first request.
        let app = rgi::tower::from_service(shop::router(shop)).on_startup(move || {
            let shop = Arc::clone(&loading);
            async move {
                shop.load().await;
                Ok(())
            }
        });
        Ok::<_, Infallible>(app)
    })
}
