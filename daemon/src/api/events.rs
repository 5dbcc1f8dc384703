//! `GET /api/v1/events`: the daemon's events (new and changed messages,
//! outbox states, audit rows, accounts) as Server-Sent Events, or as a
//! WebSocket on the same path. Each event carries an id (`<run>-<seq>`);
//! a client that reconnects with `Last-Event-ID` (or `?after=`) gets what
//! it missed, then live events, with no gap and no duplicate. When the
//! missed events are no longer kept (or the daemon restarted) the first
//! event is `resync`: read the lists again. Events name things; they
//! never carry message content.

use std::convert::Infallible;

use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use utoipa::IntoParams;

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::{Error, Result};
use crate::events::{Bus, Resume};
use crate::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventsQuery {
    /// Resume after this event id (as `Last-Event-ID`; the header wins).
    #[param(example = "1764921600000-42")]
    pub after: Option<String>,
}

/// One thing a stream sends: an event with its id, or a resync notice.
struct Out {
    id: Option<String>,
    name: &'static str,
    data: Value,
}

fn resume_point(headers: &HeaderMap, q: &EventsQuery) -> Result<Option<Resume>> {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let (field, given) = match (header, q.after.as_deref().filter(|a| !a.trim().is_empty())) {
        (Some(h), _) => ("Last-Event-ID", h),
        (None, Some(a)) => ("after", a),
        (None, None) => return Ok(None),
    };
    Resume::parse(given).map(Some).ok_or_else(|| {
        Error::invalid(
            field,
            "expected an event id this stream sent, such as 1764921600000-42",
        )
    })
}

/// The events after `from`: missed ones first, then live ones, until the
/// daemon stops.
fn stream(
    bus: &Bus,
    from: Option<Resume>,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Stream<Item = Out> + Send + 'static {
    let replay = bus.resume(from);
    let ids: Vec<String> = replay.backlog.iter().map(|e| bus.event_id(e.seq)).collect();
    let boot_id = bus.event_id(0);
    let run = boot_id.trim_end_matches("-0").to_owned();
    let head = replay
        .gap
        .then(|| Out {
            id: None,
            name: "resync",
            data: json!({ "reason": "events since that id are no longer kept (or the daemon restarted): read the lists again" }),
        })
        .into_iter()
        .chain(replay.backlog.into_iter().zip(ids).filter_map(|(e, id)| {
            e.to_json().map(|(name, data)| Out {
                id: Some(id),
                name,
                data,
            })
        }));
    let live = futures_util::stream::unfold(
        (replay.rx, shutdown, run),
        |(mut rx, shutdown, run)| async move {
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                next = rx.recv() => next,
            };
            let out = match next {
                Ok(e) => match e.to_json() {
                    Some((name, data)) => Out {
                        id: Some(format!("{run}-{}", e.seq)),
                        name,
                        data,
                    },
                    None => return None,
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => Out {
                    id: None,
                    name: "resync",
                    data: json!({ "reason": "this client fell behind", "missed": missed }),
                },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((out, (rx, shutdown, run)))
        },
    );
    futures_util::stream::iter(head).chain(live)
}

#[utoipa::path(get, path = "/api/v1/events", tag = "daemon", operation_id = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-Sent Events (`text/event-stream`): `received`, `mail`, `outbox`, `audit`, `accounts`, and `resync` when a resume cannot be complete. The same path upgrades to a WebSocket, one JSON object `{id, event, data}` per text frame.", content_type = "text/event-stream", body = String), Errors))]
pub async fn events(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response> {
    authed.caller.require(Grant::Read, "follow events")?;
    let from = resume_point(&headers, &q)?;
    let events = stream(&state.daemon.bus, from, state.daemon.shutdown.clone());
    Ok(match ws {
        Ok(upgrade) => upgrade
            .on_upgrade(move |socket| websocket(socket, events))
            .into_response(),
        Err(_) => Sse::new(events.map(|out| {
            let mut e = SseEvent::default()
                .event(out.name)
                .data(out.data.to_string());
            if let Some(id) = out.id {
                e = e.id(id);
            }
            Ok::<_, Infallible>(e)
        }))
        .keep_alive(KeepAlive::default())
        .into_response(),
    })
}

async fn websocket(mut socket: WebSocket, events: impl Stream<Item = Out> + Send + 'static) {
    let mut events = std::pin::pin!(events);
    loop {
        tokio::select! {
            out = events.next() => {
                let Some(out) = out else { break };
                let frame = json!({ "id": out.id, "event": out.name, "data": out.data });
                if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by axum; anything else from the client is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
