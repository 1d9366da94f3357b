//! The one error shape of the HTTP API: a status and `{"error": "<what to do>"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::admin::Refusal;

/// Why an endpoint did not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 503 with `Retry-After: 5`: one of the connection caps is reached.
    ServerFull(&'static str),
    /// 403 or 401: a state-changing request from another site, or without the admin token.
    Refused(Refusal),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::ServerFull(message) => (StatusCode::SERVICE_UNAVAILABLE, *message),
            Self::Refused(refusal) => (refusal.status(), refusal.message()),
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        let headers = response.headers_mut();
        match self {
            Self::ServerFull(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::Refused(Refusal::NeedsAdminToken) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value, Response) {
        let response = error.into_response();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap();
        (
            status,
            json,
            Response::from_parts(parts, axum::body::Body::empty()),
        )
    }

    #[tokio::test]
    async fn every_error_is_one_json_shape_with_its_status_and_headers() {
        let (status, json, response) = body_of(ApiError::ServerFull("too many")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json, serde_json::json!({ "error": "too many" }));
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");

        let (status, json, response) = body_of(Refusal::NeedsAdminToken.into()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(json["error"].as_str().unwrap().contains("admin token"));
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

        let (status, _, _) = body_of(Refusal::CrossOrigin.into()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
