//! The dashboard's routes: pages, login, its JSON API, live events, previews.
//!
//! Every route checks that Host is a loopback name (DNS rebinding). Pages and
//! API calls need a session cookie; every mutation also needs the session's
//! CSRF token in `X-CSRF-Token` and a same-origin request.

use std::convert::Infallible;
use std::sync::Arc;

use crate::extract::Query;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::assets;
use super::sanitize;
use super::sessions::Session;
use crate::Daemon;
use crate::audit;
use crate::auth::Caller;
use crate::error::{Code, Error, Result, parse_json};
use crate::localguard;
use crate::outbox::model::{Content, Priority};
use crate::outbox::request::{list_filter, list_limit};
use crate::outbox::service::{BatchResult, EditRequest, Outbox, Target};

type Shared = Arc<Daemon>;

pub fn router(daemon: Shared) -> Router {
    let api = Router::new()
        .route("/session", get(session_info))
        .route("/items", get(list_items))
        .route("/items/{id}", get(get_item))
        .route("/items/{id}/approve", post(approve))
        .route("/items/{id}/reject", post(reject))
        .route("/items/{id}/cancel", post(cancel))
        .route("/items/{id}/edit", post(edit))
        .route("/approve", post(approve_many))
        .route("/audit", get(audit_list))
        .route("/status", get(status))
        .route("/accounts", get(accounts))
        .route("/inbox", get(inbox))
        .route("/inbox/reply", post(inbox_reply))
        .route("/sms/threads", get(sms_threads))
        .route("/contacts", get(contacts_list))
        .route("/contacts/{id}", get(contact))
        .route("/sms/threads/{thread_id}", get(sms_thread))
        .route("/events", get(events))
        .layer(middleware::from_fn_with_state(
            daemon.clone(),
            require_session,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/review") }))
        .route("/login", get(login))
        .route("/review", get(page))
        .route("/review/{id}", get(page))
        .route("/audit", get(page))
        .route("/status", get(page))
        .route("/accounts", get(page))
        .route("/inbox", get(page))
        .route("/inbox/conversation", get(page))
        .route("/texts", get(page))
        .route("/contacts", get(page))
        .route("/contacts/{id}", get(page))
        .route("/texts/{thread_id}", get(page))
        .route(
            "/assets/app.js",
            get(|| async { asset(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route("/assets/js/{name}", get(js_module))
        .route("/assets/css/{name}", get(stylesheet))
        .route(
            "/assets/app.css",
            get(|| async { asset(assets::APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/dashboard/items/{id}/preview", get(preview))
        .nest("/dashboard/api", api)
        .layer(middleware::from_fn(security_headers))
        .with_state(daemon)
}

fn caller() -> Caller {
    Caller::dashboard()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// One of `app.js`'s ES modules, by file name; anything else is not found.
async fn js_module(Path(name): Path<String>) -> Response {
    embedded(assets::JS_MODULES, &name, "text/javascript; charset=utf-8")
}

/// One of the stylesheets linked after `app.css`, by file name.
async fn stylesheet(Path(name): Path<String>) -> Response {
    embedded(assets::CSS_FILES, &name, "text/css; charset=utf-8")
}

fn embedded(files: &[(&str, &'static str)], name: &str, content_type: &'static str) -> Response {
    match files.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => asset(body, content_type),
        None => Error::new(Code::NotFound, "no such dashboard file").into_response(),
    }
}

/// Host must be loopback everywhere; pages get a strict CSP.
async fn security_headers(request: Request, next: Next) -> Response {
    if !localguard::host(request.headers()).is_some_and(localguard::host_is_loopback) {
        return Error::new(
            Code::PermissionDenied,
            "the Host header must name this machine (127.0.0.1, localhost or [::1])",
        )
        .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(assets::PAGE_CSP));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    response
}

fn cookie_name(headers: &HeaderMap) -> String {
    let port = localguard::host(headers)
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    format!("commsd_session_{port}")
}

fn session_from(daemon: &Daemon, headers: &HeaderMap) -> Option<Session> {
    let name = cookie_name(headers);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, id)| daemon.sessions.get(id))
}

async fn require_session(
    State(daemon): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(session) = session_from(&daemon, request.headers()) else {
        return Error::new(
            Code::Unauthenticated,
            "no dashboard session: run `commsctl dashboard` on this computer to log in",
        )
        .into_response();
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if !localguard::same_origin(request.headers()) {
            return Error::new(Code::PermissionDenied, "cross-origin request refused")
                .into_response();
        }
        let csrf = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if csrf != Some(session.csrf_token.as_str()) {
            return Error::new(
                Code::PermissionDenied,
                "missing or wrong CSRF token (X-CSRF-Token)",
            )
            .into_response();
        }
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}

// ------------------------------------------------------------------ pages

async fn page(State(daemon): State<Shared>, headers: HeaderMap) -> Response {
    if session_from(&daemon, &headers).is_some() {
        Html(assets::INDEX_HTML).into_response()
    } else {
        login_required()
    }
}

fn login_required() -> Response {
    (StatusCode::UNAUTHORIZED, Html(assets::LOGIN_HTML)).into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
    next: Option<String>,
}

async fn login(
    State(daemon): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(session) = q.token.as_deref().and_then(|t| daemon.sessions.redeem(t)) else {
        return login_required();
    };
    let entry = audit::Entry {
        actor: session.issued_to.clone(),
        action: "dashboard_login".to_owned(),
        ..audit::Entry::default()
    };
    if let Err(e) = daemon.outbox.audit_other(entry).await {
        return e.into_response();
    }
    let next = q
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/review".to_owned());
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        cookie_name(&headers),
        session.id,
        super::sessions::SESSION_TTL.as_secs()
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn preview(
    State(daemon): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if session_from(&daemon, &headers).is_none() {
        return login_required();
    }
    let item = match daemon.outbox.get(&caller(), &id).await {
        Ok(item) => item,
        Err(e) => return e.into_response(),
    };
    let document = match &item.content {
        Content::Email(e) => match &e.html {
            Some(html) => sanitize::document(html),
            None => sanitize::text_document(&e.text),
        },
        _ => sanitize::text_document(&Outbox::preview_text(&item)),
    };
    (
        [
            (header::CONTENT_SECURITY_POLICY, sanitize::PREVIEW_CSP),
            (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(document),
    )
        .into_response()
}

// ------------------------------------------------------------------ API

async fn session_info(axum::Extension(session): axum::Extension<Session>) -> Json<Value> {
    Json(
        json!({ "csrfToken": session.csrf_token, "actor": caller().actor, "issuedTo": session.issued_to }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    state: Option<String>,
    channel: Option<String>,
    account_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Parses the shared list query of the dashboard and the HTTP API.
async fn list_items(
    State(daemon): State<Shared>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let states: Vec<String> = q.state.into_iter().collect();
    let filter = list_filter(&states, q.channel.as_deref(), q.account_id.as_deref(), None)?;
    let limit = list_limit(q.limit.as_deref())?;
    let page = daemon
        .outbox
        .list(&caller(), filter, q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(
        json!({ "items": page.items, "nextCursor": page.next_cursor }),
    ))
}

async fn get_item(State(daemon): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(daemon.outbox.get(&caller(), &id).await?.to_json()))
}

fn single(mut results: Vec<BatchResult>) -> Result<Json<Value>> {
    match results.pop() {
        Some(BatchResult { result, .. }) => Ok(Json(result?.to_json())),
        None => Err(Error::internal("empty batch result", "no result")),
    }
}

async fn approve(State(daemon): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>> {
    single(
        daemon
            .outbox
            .approve(&caller(), Target::Ids(vec![id]))
            .await?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

async fn reject(
    State(daemon): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let body: RejectBody = parse_json(&body)?;
    single(
        daemon
            .outbox
            .reject(&caller(), Target::Ids(vec![id]), &body.reason)
            .await?,
    )
}

async fn cancel(State(daemon): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(daemon.outbox.cancel(&caller(), &id).await?.to_json()))
}

/// The dashboard's edit body, each channel's text in its own name: email
/// `bodyText`/`bodyHtml`, SMS `body`, chat `text`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EditBody {
    pub to: Option<Vec<String>>,
    pub cc: Option<Vec<String>>,
    pub bcc: Option<Vec<String>>,
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub body: Option<String>,
    pub text: Option<String>,
    pub priority: Option<Priority>,
}

impl From<EditBody> for EditRequest {
    fn from(b: EditBody) -> Self {
        EditRequest {
            to: b.to,
            cc: b.cc,
            bcc: b.bcc,
            subject: b.subject,
            text: b.body_text,
            html: b.body_html,
            body: b.body.or(b.text),
            priority: b.priority,
        }
    }
}

async fn edit(
    State(daemon): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let body: EditBody = parse_json(&body)?;
    Ok(Json(
        daemon
            .outbox
            .edit(&caller(), &id, body.into())
            .await?
            .to_json(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ApproveManyBody {
    item_ids: Vec<String>,
}

async fn approve_many(State(daemon): State<Shared>, body: Bytes) -> Result<Json<Value>> {
    let body: ApproveManyBody = parse_json(&body)?;
    let results = daemon
        .outbox
        .approve(&caller(), Target::Ids(body.item_ids))
        .await?;
    Ok(Json(json!({ "results": batch_json(results) })))
}

/// `[{itemId, ok, item | error}]`
fn batch_json(results: Vec<BatchResult>) -> Vec<Value> {
    results
        .into_iter()
        .map(|r| match r.result {
            Ok(item) => json!({ "itemId": r.id, "ok": true, "item": item }),
            Err(e) => json!({ "itemId": r.id, "ok": false, "error": e.envelope() }),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuditQuery {
    limit: Option<String>,
    before_seq: Option<String>,
}

/// The JSON view of an audit event.
pub fn audit_json(e: &audit::Event) -> Value {
    serde_json::to_value(crate::outbox::view::AuditEventView::from(e)).unwrap_or(Value::Null)
}

async fn audit_list(
    State(daemon): State<Shared>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>> {
    let filter =
        crate::audit::service::filter(None, q.before_seq.as_deref(), None, q.limit.as_deref())?;
    let limit = filter.limit;
    let events = daemon.audit.list(&caller(), filter).await?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({
        "events": events.iter().map(audit_json).collect::<Vec<_>>(),
        "nextBeforeSeq": next,
    })))
}

async fn status(State(daemon): State<Shared>) -> Result<Json<Value>> {
    let verification = daemon.audit.verify(&caller()).await?;
    Ok(Json(status_json(&daemon.status(), &verification)))
}

/// The status page's JSON.
fn status_json(s: &crate::status::Status, audit: &crate::audit::Verification) -> Value {
    json!({
        "version": s.version,
        "protocol": s.protocol,
        "pid": s.pid,
        "uptimeSeconds": s.uptime.as_secs(),
        "startedAtUnixMs": s.started_at_unix_ms,
        "socket": s.socket,
        "dataDir": s.data_dir,
        "config": s.config_path,
        "dashboardUrl": s.dashboard_url,
        "apiUrl": s.api_url,
        "webhookUrl": s.webhook_url,
        "counts": s.counts,
        "outbox": s.outbox,
        "gmail": s.providers.get("gmail").map(crate::util::camel_keys),
        "warnings": s.warnings,
        "audit": {
            "events": audit.rows,
            "chainOk": audit.first_bad.is_none(),
        },
    })
}

async fn accounts(State(daemon): State<Shared>) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "accounts": daemon.accounts.list(&caller())? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SmsThreadsQuery {
    limit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SmsThreadQuery {
    account_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `limit` of the SMS routes, as `twilio::read::limit` checks it.
fn sms_limit(value: Option<&str>) -> Result<Option<u64>> {
    value
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| Error::invalid("limit", "expected a whole number"))
        })
        .transpose()
}

/// The SMS threads of every account (the dashboard is the human: it reads
/// them all), most recent first. Bodies are untrusted.
/// The contacts page: a search (`q`), else the first people.
async fn contacts_list(
    State(daemon): State<Shared>,
    Query(q): Query<crate::contacts::service::ListInput>,
) -> Result<Json<Value>> {
    Ok(Json(daemon.contacts.list(&caller(), q).await?))
}

/// One person: every address with its account and source.
async fn contact(State(daemon): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>> {
    let input = crate::contacts::service::GetInput { person_id: id };
    Ok(Json(daemon.contacts.get(&caller(), input).await?))
}

async fn sms_threads(
    State(daemon): State<Shared>,
    Query(q): Query<SmsThreadsQuery>,
) -> Result<Json<Value>> {
    let limit = crate::twilio::read::limit(sms_limit(q.limit.as_deref())?)?;
    let threads = daemon
        .twilio
        .receiving
        .read
        .all_threads(&caller(), limit)
        .await?;
    Ok(Json(json!(threads)))
}

/// The unified inbox's page: `q` searches, else newest first; `channel`;
/// one conversation by `accountId` and `threadId`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InboxQuery {
    q: Option<String>,
    channel: Option<String>,
    account_id: Option<String>,
    thread_id: Option<String>,
    limit: Option<u64>,
}

async fn inbox(State(daemon): State<Shared>, Query(q): Query<InboxQuery>) -> Result<Json<Value>> {
    let listed = match q.q.filter(|s| !s.trim().is_empty()) {
        Some(query) => {
            let input = crate::inbox::service::SearchInput {
                query,
                channel: q.channel,
                account_id: q.account_id,
                thread_id: q.thread_id,
                limit: q.limit,
                ..Default::default()
            };
            daemon.inbox.search(&caller(), input).await?
        }
        None => {
            let input = crate::inbox::service::ListInput {
                channel: q.channel,
                account_id: q.account_id,
                thread_id: q.thread_id,
                limit: q.limit,
                ..Default::default()
            };
            daemon.inbox.list(&caller(), input).await?
        }
    };
    Ok(Json(json!(listed)))
}

/// The Reply button: stages a reply to an indexed message (the outbox's
/// policy decides; a human approves it in the review queue).
async fn inbox_reply(State(daemon): State<Shared>, body: Bytes) -> Result<Json<Value>> {
    let input: crate::inbox::reply::ReplyInput = parse_json(&body)?;
    let staged = daemon.inbox.reply(&caller(), &daemon.outbox, input).await?;
    Ok(Json(staged.item.to_json()))
}

/// One thread's messages, newest first: by its `threadId` (or their
/// number) in the account that holds it (`accountId`, as the thread list
/// gives it; the default account when absent).
async fn sms_thread(
    State(daemon): State<Shared>,
    Path(thread_id): Path<String>,
    Query(q): Query<SmsThreadQuery>,
) -> Result<Json<Value>> {
    let (number, thread_id) = if thread_id.contains(':') {
        (None, Some(thread_id))
    } else {
        (Some(thread_id), None)
    };
    let input = crate::twilio::read::ListInput {
        account_id: q.account_id,
        number,
        thread_id,
        since: None,
        limit: sms_limit(q.limit.as_deref())?,
        cursor: q.cursor,
    };
    let listed = daemon
        .twilio
        .receiving
        .read
        .thread(&caller(), input)
        .await?;
    Ok(Json(json!(listed)))
}

async fn events(
    State(daemon): State<Shared>,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>> {
    Sse::new(event_stream(&daemon)).keep_alive(KeepAlive::default())
}

/// Outbox and audit events as SSE, ending at shutdown.
pub fn event_stream(
    daemon: &Daemon,
) -> impl Stream<Item = std::result::Result<SseEvent, Infallible>> + use<> {
    let rx = daemon.bus.subscribe();
    let shutdown = daemon.shutdown.clone();
    futures_util::stream::unfold((rx, shutdown), |(mut rx, shutdown)| async move {
        {
            let next = tokio::select! {
                biased;
                next = rx.recv() => next,
                () = shutdown.cancelled() => return None,
            };
            let event = match next {
                Ok(envelope) => match envelope.to_json() {
                    Some((name, data)) => SseEvent::default().event(name).data(data.to_string()),
                    None => return None,
                },
                Err(broadcast::error::RecvError::Lagged(missed)) => SseEvent::default()
                    .event("lagged")
                    .data(json!({ "missed": missed }).to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(event), (rx, shutdown)))
        }
    })
}
