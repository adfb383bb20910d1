//! The JSON body of an admin request. A body that cannot be read is refused like every other
//! request the API refuses, as `{"error": …}` with axum's status (400 not JSON, 415 not
//! declared JSON, 422 not the document asked for), instead of axum's plain text.

use axum::Json;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::Rejection;

/// A request body read as the document `T`.
pub(super) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for ApiJson<T> {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(document)) => Ok(ApiJson(document)),
            Err(refused) => Err(Rejection(refused.status(), refused.body_text(), Vec::new())),
        }
    }
}
