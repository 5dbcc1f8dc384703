//! `Idempotency-Key` on POSTs: the first response to a key is stored and
//! returned again for a repeat of the same request; the same key with a
//! different request is a conflict. Keys are per API key and kept 24 hours.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{ApiState, Authed};
use crate::error::{Code, Error};
use crate::events::now_unix_ms;

const HEADER: &str = "idempotency-key";
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// Keys whose first request is still running.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String)>>);

fn conflict(message: &str) -> Response {
    Error::new(Code::Conflict, message)
        .with_details(serde_json::json!({ "field": "Idempotency-Key" }))
        .into_response()
}

pub async fn layer(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(idem) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let Some(idem) = idem
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
    else {
        return Error::invalid(
            "Idempotency-Key",
            "expected 1 to 255 visible ASCII characters",
        )
        .into_response();
    };
    let Some(authed) = request.extensions().get::<Authed>().cloned() else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());

    let key = (authed.key_id.clone(), idem.clone());
    let lookup = {
        let (key_id, idem) = key.clone();
        state
            .daemon
            .store
            .call(move |c| {
                c.execute("DELETE FROM idempotency_keys WHERE created_at_ms < ?1", [now_unix_ms() - KEEP_MS])?;
                Ok(c.query_row(
                    "SELECT fingerprint, status, body FROM idempotency_keys WHERE key_id = ?1 AND idem_key = ?2",
                    params![key_id, idem],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, Vec<u8>>(2)?)),
                )
                .optional()?)
            })
            .await
    };
    match lookup {
        Err(e) => return Error::from(e).into_response(),
        Ok(Some((stored, status, body))) => {
            if stored != fingerprint {
                return conflict("this Idempotency-Key was used for a different request");
            }
            let mut response =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return response;
        }
        Ok(None) => {}
    }
    {
        let Ok(mut in_flight) = state.inner.idempotency.0.lock() else {
            return Error::internal("idempotency lock poisoned", "poisoned").into_response();
        };
        if !in_flight.insert(key.clone()) {
            return conflict("a request with this Idempotency-Key is still in progress");
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if !parts.status.is_server_error() {
        let (key_id, idem) = key.clone();
        let status = parts.status.as_u16();
        let stored = body.to_vec();
        let result = state
            .daemon
            .store
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO idempotency_keys (key_id, idem_key, fingerprint, status, body, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![key_id, idem, fingerprint, status, stored, now_unix_ms()],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not store an idempotent response");
        }
    }
    if let Ok(mut in_flight) = state.inner.idempotency.0.lock() {
        in_flight.remove(&key);
    }
    Response::from_parts(parts, Body::from(body))
}
