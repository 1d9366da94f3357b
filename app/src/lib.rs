//! The marketwarden web app: the page shell, the dashboard and the status banner.
//!
//! Built twice: with the `ssr` feature into the server, which renders every page on the server,
//! and with `hydrate` into the browser bundle, which takes over the server's HTML and keeps it
//! current. The market rules come from `marketwarden-core` in both builds, so both compute the
//! same answers.
//!
//! On the server the app gets what it shows from the server through Leptos context (a
//! [`SnapshotSource`]); it never depends on the server crate.

// Leptos views are deeply nested types; the banner needs more than the default 128.
#![recursion_limit = "256"]

mod banner;
mod browser_clock;
#[cfg(feature = "hydrate")]
mod live;
mod prices;
mod state;
pub mod status;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};

pub use banner::SystemStatusBanner;
use leptos::server::SharedValue;
use marketwarden_core::MarketSnapshot;
pub use state::{LiveState, PageState};

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
                <BundleScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The scripts that load the browser bundle and hydrate the page: `/pkg/marketwarden.js` and
/// `/pkg/marketwarden.wasm`, the names `cargo leptos build` writes. Leptos's own
/// `HydrationScripts` asks for `marketwarden_bg.wasm` unless `LEPTOS_OUTPUT_NAME` was set when
/// the binary was compiled, so a binary built by plain `cargo build` (or relinked by `cargo
/// bench`) served a page that never hydrated. Here the names do not depend on the build.
#[component]
fn BundleScripts(options: LeptosOptions) -> impl IntoView {
    let pkg = format!("/{}", options.site_pkg_dir);
    let js = format!("{pkg}/{OUTPUT_NAME}.js");
    let wasm = format!("{pkg}/{OUTPUT_NAME}.wasm");
    let load = format!(
        "import({js:?}).then(bundle => bundle.default({{module_or_path: {wasm:?}}})\
         .then(() => bundle.hydrate()));"
    );
    view! {
        <link rel="modulepreload" href=js />
        <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin="" />
        <script type="module">{load}</script>
    }
}

/// The whole app: the status banner above every page, and the pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Rendered into the page by the server and read back by the browser, so both render the
    // same first HTML, with or without JavaScript.
    let snapshot = SharedValue::new(server_snapshot).into_inner();
    let live = snapshot.as_ref().map(LiveState::from_snapshot);
    provide_context(PageState {
        snapshot: snapshot.clone(),
        live,
    });
    // The browser keeps the page current: the clock tick, the server's events and the poll.
    #[cfg(feature = "hydrate")]
    if let Some(live) = live {
        live::start(live);
    }

    view! {
        <Stylesheet id="leptos" href="/pkg/marketwarden.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="color-scheme" content="light dark" />
        <Title text="marketwarden" />
        <SystemStatusBanner snapshot live />
        <main class="page">
            {if current_path() == "/" {
                view! { <Dashboard /> }.into_any()
            } else {
                view! { <NotFound /> }.into_any()
            }}
        </main>
    }
}

/// The page's path: from the request on the server, from the address bar in the browser. Two
/// pages do not need a client-side router (and the bundle is smaller without one).
fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .map(|parts| parts.uri.path().to_string())
            .unwrap_or_else(|| "/".into())
    }
    #[cfg(feature = "hydrate")]
    {
        window()
            .location()
            .pathname()
            .unwrap_or_else(|_| "/".into())
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        "/".into()
    }
}

/// The snapshot the server provides through context; never called in the browser, which reads
/// the serialized value instead.
fn server_snapshot() -> Option<MarketSnapshot> {
    #[cfg(feature = "ssr")]
    {
        use_context::<SnapshotSource>().map(|source| (source.0)())
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let page = use_context::<PageState>();
    let prices = page.and_then(|page| Some((page.snapshot?.feed?, page.live?)));
    view! {
        <h1>"marketwarden"</h1>
        <p class="lede">
            "The NSE market session from the exchange's clock, the Kite login and the ticker "
            "feed. The banner above shows what matters most now; open its details for the rest."
        </p>
        {match prices {
            Some((feed, live)) => {
                view! {
                    <prices::LivePrices
                        instruments=feed.instruments
                        threshold_seconds=feed.stale_threshold_seconds.max(1.0)
                        live
                    />
                }
                    .into_any()
            }
            None => view! { <p>"The ticker feed is not running on this server."</p> }.into_any(),
        }}
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
