//! The marketwarden web app: the page shell, the dashboard and the status banner.
//!
//! Built twice: with the `ssr` feature into the server, which renders every page on the server,
//! and with `hydrate` into the browser bundle, which takes over the server's HTML and keeps it
//! current. The market rules come from `marketwarden-core` in both builds, so both compute the
//! same answers.
//!
//! On the server the app gets what it shows from the server through Leptos context (a
//! [`SnapshotSource`]); it never depends on the server crate.

mod banner;
mod browser_clock;
pub mod status;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::StaticSegment;
use leptos_router::components::{Route, Router, Routes};

pub use banner::MarketBanner;
use marketwarden_core::MarketSnapshot;

/// How the server hands the app the market snapshot to render: a function the server provides
/// as a Leptos context value. It reads the server's clock and calendar.
#[derive(Clone)]
pub struct SnapshotSource(pub Arc<dyn Fn() -> MarketSnapshot + Send + Sync>);

/// The name of the bundle files under `/pkg` (`marketwarden.js`, `.wasm`, `.css`).
pub const OUTPUT_NAME: &str = "marketwarden";

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The whole app: the status banner above every page, and the pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/marketwarden.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="color-scheme" content="light dark" />
        <Title text="marketwarden" />
        <MarketBanner />
        <Router>
            <main class="page">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=Dashboard />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    view! {
        <h1>"marketwarden"</h1>
        <p class="lede">
            "The NSE market session from the exchange's clock. The banner above shows the phase "
            "now and counts down to the next one, even when this page has lost the server."
        </p>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <h1>"Page not found"</h1>
        <p>
            <a href="/">"Back to the dashboard"</a>
        </p>
    }
}

/// The browser bundle's entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
