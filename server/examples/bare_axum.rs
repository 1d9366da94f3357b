//! The baseline of the health load benchmark: axum on the same runtime, answering a constant
//! JSON body of the health answer's size. Prints `listening on http://ADDR`.

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let body: &'static str =
        Box::leak(format!("{{\"padding\":\"{}\"}}", "x".repeat(1_050)).into_boxed_str());
    let app = Router::new().route(
        "/api/system/health",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
