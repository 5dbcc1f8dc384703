//! Sign-in flows: each binds its own ephemeral 127.0.0.1 port for
//! `/oauth/callback`, PKCE S256, a constant-time `state` check; a flow
//! completes once, by the callback, a manual paste or the timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_FLOW_TIMEOUT, OAuthClient, refresh_token_entry};
use crate::accounts::{Account, Accounts, Kind, NewAccount, google};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::util::constant_time_eq;
use crate::vault::{Secret, Vault};

/// What `accounts add google` asks for.
#[derive(Debug, Clone, Default)]
pub struct FlowRequest {
    pub labels: Vec<String>,
    pub tier: u8,
    pub modules: Vec<String>,
    pub login_hint: Option<String>,
    pub timeout: Option<Duration>,
}

/// A started sign-in: what the human opens.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowStarted {
    pub flow_id: String,
    pub auth_url: String,
    pub redirect_uri: String,
    /// RFC 3339.
    pub expires_at: String,
    pub scopes: Vec<String>,
}

/// How a sign-in ended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowDone {
    pub account: Account,
    /// True when the account existed: its tokens were replaced, its id kept.
    pub existed: bool,
    /// What was asked for and will not work, each starting with its error
    /// code (`workspace_required: ...` for chat on a consumer account).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How a sign-in stands: `None` while the human has not finished.
pub type Outcome = Option<std::result::Result<FlowDone, Error>>;

struct Flow {
    id: String,
    state: String,
    verifier: String,
    redirect_uri: String,
    request: FlowRequest,
    done: watch::Sender<Outcome>,
    /// Set when a code arrived: a flow completes once.
    taken: std::sync::atomic::AtomicBool,
    stop: CancellationToken,
}

/// Runs sign-ins and keeps them until they end.
pub struct Flows {
    oauth: Arc<OAuthClient>,
    accounts: Arc<Accounts>,
    vault: Vault,
    tokens: Arc<crate::accounts::tokens::TokenCache>,
    flows: Mutex<HashMap<String, Arc<Flow>>>,
}

impl Flows {
    pub fn new(
        oauth: Arc<OAuthClient>,
        accounts: Arc<Accounts>,
        vault: Vault,
        tokens: Arc<crate::accounts::tokens::TokenCache>,
    ) -> Flows {
        Flows {
            oauth,
            accounts,
            vault,
            tokens,
            flows: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a sign-in: binds the callback, builds the authorization URL.
    /// The flow ends on the callback, a manual completion, or the timeout.
    pub async fn start(self: &Arc<Self>, actor: &str, request: FlowRequest) -> Result<FlowStarted> {
        if !(1..=3).contains(&request.tier) {
            return Err(Error::invalid(
                "tier",
                "expected 1 (read), 2 (compose and send) or 3 (modify)",
            ));
        }
        crate::accounts::validate_labels(&request.labels)?;
        let modules = google::parse_modules(&request.modules)?;
        if let Some(hint) = &request.login_hint
            && (!hint.contains('@') || hint.chars().any(char::is_whitespace))
        {
            return Err(Error::invalid(
                "login_hint",
                "expected an email address, e.g. me@example.com",
            ));
        }
        if let Some(hint) = &request.login_hint
            && let Some(why) = google::chat_unavailable(hint, &modules)
        {
            let message = why.trim_start_matches("workspace_required: ").to_owned();
            return Err(Error::new(Code::WorkspaceRequired, message).with_details(
                serde_json::json!({ "field": "with", "loginHint": hint, "module": "chat" }),
            ));
        }
        let timeout = request.timeout.unwrap_or(DEFAULT_FLOW_TIMEOUT);
        if timeout.is_zero() || timeout > Duration::from_secs(3600) {
            return Err(Error::invalid("timeout", "expected 1s to 1h"));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::internal("cannot bind the OAuth callback listener", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::internal("cannot read the callback address", e))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/oauth/callback");
        let client = self.oauth.client(Some(&redirect_uri)).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = google::requested_scopes(request.tier, &modules);
        let mut authorize = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("include_granted_scopes", "true")
            // Ask again even when the grant exists, so Google returns a
            // refresh token every time (re-adding an account must work).
            .add_extra_param("prompt", "consent");
        for s in &scopes {
            authorize = authorize.add_scope(Scope::new((*s).to_owned()));
        }
        if let Some(hint) = &request.login_hint {
            authorize = authorize.add_extra_param("login_hint", hint.clone());
        }
        let (url, state) = authorize.url();
        let id = Accounts::new_id();
        let (done, _) = watch::channel(None);
        let flow = Arc::new(Flow {
            id: id.clone(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            redirect_uri: redirect_uri.clone(),
            request: FlowRequest { modules, ..request },
            done,
            taken: std::sync::atomic::AtomicBool::new(false),
            stop: CancellationToken::new(),
        });
        if let Ok(mut flows) = self.flows.lock() {
            flows.retain(|_, f| f.done.borrow().is_none());
            flows.insert(id.clone(), flow.clone());
        }
        tracing::info!(flow = %id, actor, port, "Google sign-in started");
        let this = self.clone();
        let served = flow.clone();
        tokio::spawn(async move { this.serve_callback(listener, served, timeout).await });
        Ok(FlowStarted {
            flow_id: id,
            auth_url: url.to_string(),
            redirect_uri,
            expires_at: crate::outbox::item::rfc3339(now_unix_ms() + timeout.as_millis() as i64),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    async fn serve_callback(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        flow: Arc<Flow>,
        timeout: Duration,
    ) {
        use axum::extract::{Query, State};
        use axum::response::Html;

        #[derive(Deserialize)]
        struct Callback {
            code: Option<String>,
            state: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        type Ctx = (Arc<Flows>, Arc<Flow>);
        async fn callback(
            State((flows, flow)): State<Ctx>,
            Query(q): Query<Callback>,
        ) -> Html<String> {
            let page = |title: &str, text: &str| {
                Html(format!(
                    "<!doctype html><meta charset=utf-8><title>commsd</title><body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{}</h1><p>{}</p>",
                    crate::util::escape_html(title),
                    crate::util::escape_html(text)
                ))
            };
            if !q
                .state
                .as_deref()
                .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()))
            {
                return page(
                    "Sign-in not accepted",
                    "This link does not belong to a sign-in commsd started (state mismatch). Start again with `commsctl accounts add google`.",
                );
            }
            if let Some(error) = q.error {
                let text = format!(
                    "{error}{}",
                    q.error_description
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                );
                flows.fail(
                    &flow,
                    Error::new(
                        Code::UpstreamError,
                        format!("Google sign-in was not completed: {text}"),
                    ),
                );
                return page(
                    "Sign-in cancelled",
                    &format!("Google said: {text}. Nothing was saved."),
                );
            }
            let Some(code) = q.code else {
                return page(
                    "Sign-in not accepted",
                    "The redirect carried no authorization code.",
                );
            };
            match flows.finish(&flow, &code).await {
                Ok(done) => page(
                    "Signed in",
                    &format!(
                        "{} is connected to commsd (tier {}). You can close this tab.",
                        done.account.email,
                        done.account.tier.unwrap_or(0)
                    ),
                ),
                Err(e) => page("Sign-in failed", &e.message),
            }
        }
        let app = axum::Router::new()
            .route("/oauth/callback", axum::routing::get(callback))
            .with_state((self.clone(), flow.clone()));
        let stop = flow.stop.clone();
        let server =
            axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
        let flows = self.clone();
        let expired = flow.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(timeout) => {
                    flows.fail(&expired, Error::new(
                        Code::FailedPrecondition,
                        format!("the Google sign-in timed out after {}s without a redirect; run the command again (or use --manual where the browser cannot reach 127.0.0.1)", timeout.as_secs()),
                    ).with_details(json!({ "reason": "timeout" })));
                }
                () = expired.stop.cancelled() => {}
            }
        });
        if let Err(e) = server.await {
            tracing::warn!(flow = %flow.id, error = %e, "OAuth callback listener failed");
        }
    }

    fn fail(&self, flow: &Flow, error: Error) {
        if flow.taken.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tracing::info!(flow = %flow.id, code = error.code.as_str(), "Google sign-in ended without an account");
        flow.done.send_replace(Some(Err(error)));
        flow.stop.cancel();
    }

    /// Completes a flow with the human's code: exchange, userinfo, vault, registry.
    async fn finish(&self, flow: &Flow, code: &str) -> Result<FlowDone> {
        if flow.taken.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(
                Code::FailedPrecondition,
                "this sign-in has already ended",
            ));
        }
        let result = self.exchange_and_store(flow, code).await;
        match &result {
            Ok(done) => {
                tracing::info!(flow = %flow.id, account = %done.account.id, existed = done.existed, "Google account signed in")
            }
            Err(e) => {
                tracing::warn!(flow = %flow.id, code = e.code.as_str(), "Google sign-in failed")
            }
        }
        flow.done.send_replace(Some(result.clone()));
        flow.stop.cancel();
        result
    }

    async fn exchange_and_store(&self, flow: &Flow, code: &str) -> Result<FlowDone> {
        let tokens = self
            .oauth
            .exchange(&flow.redirect_uri, code, &flow.verifier)
            .await?;
        let email = self.oauth.email(&tokens.access_token).await?;
        let warnings: Vec<String> = google::chat_unavailable(&email, &flow.request.modules)
            .into_iter()
            .collect();
        let existing = self.accounts.id_for(Kind::Google, &email);
        let id = existing.clone().unwrap_or_else(Accounts::new_id);
        match &tokens.refresh_token {
            Some(refresh) => {
                self.vault
                    .put(&refresh_token_entry(&id), &Secret::new(refresh.clone()))
                    .await?
            }
            None if existing.is_some()
                && self.vault.get(&refresh_token_entry(&id)).await?.is_some() => {}
            None => {
                return Err(Error::new(
                    Code::UpstreamError,
                    "the authorization server returned no refresh token, so commsd could not keep access. Remove commsd's access in your Google account (https://myaccount.google.com/permissions) and add the account again",
                ));
            }
        }
        let scopes = tokens.scopes.clone().unwrap_or_else(|| {
            google::requested_scopes(flow.request.tier, &flow.request.modules)
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        let (account, existed) = self
            .accounts
            .upsert(
                &format!("human via google sign-in {}", flow.id),
                NewAccount {
                    id: id.clone(),
                    kind: Kind::Google,
                    email,
                    labels: flow.request.labels.clone(),
                    scopes,
                    settings: serde_json::Value::Null,
                },
            )
            .await?;
        self.tokens
            .seed(&account.id, tokens.access_token, tokens.expires_at_ms);
        Ok(FlowDone {
            account,
            existed,
            warnings,
        })
    }

    fn flow(&self, id: &str) -> Result<Arc<Flow>> {
        self.flows
            .lock()
            .ok()
            .and_then(|f| f.get(id).cloned())
            .ok_or_else(|| Error::not_found("sign-in", id))
    }

    /// Completes a flow from what the human pasted (`--manual`): the whole
    /// redirected URL (its state is checked) or the bare code.
    pub async fn complete_manual(&self, id: &str, pasted: &str) -> Result<FlowDone> {
        let flow = self.flow(id)?;
        let pasted = pasted.trim();
        let code = if pasted.starts_with("http://") || pasted.starts_with("https://") {
            let url = url::Url::parse(pasted)
                .map_err(|e| Error::invalid("code", format!("not a URL: {e}")))?;
            let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
            if let Some(error) = query.get("error") {
                let e = Error::new(
                    Code::UpstreamError,
                    format!("Google sign-in was not completed: {error}"),
                );
                self.fail(&flow, e.clone());
                return Err(e);
            }
            if !query
                .get("state")
                .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()))
            {
                return Err(Error::invalid(
                    "code",
                    "the pasted URL belongs to another sign-in (state mismatch)",
                ));
            }
            query
                .get("code")
                .cloned()
                .ok_or_else(|| Error::invalid("code", "the pasted URL has no code= parameter"))?
        } else {
            pasted.to_owned()
        };
        if code.is_empty() || code.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "code",
                "expected the redirected URL or the code from it",
            ));
        }
        self.finish(&flow, &code).await
    }

    /// Waits for a flow to end.
    pub async fn wait(&self, id: &str) -> Result<FlowDone> {
        let flow = self.flow(id)?;
        let mut rx = flow.done.subscribe();
        let outcome = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::new(Code::Internal, "the sign-in ended without an outcome"))?
            .clone();
        outcome.unwrap_or_else(|| {
            Err(Error::new(
                Code::Internal,
                "the sign-in ended without an outcome",
            ))
        })
    }

    /// Where a flow stands: None while waiting.
    pub fn outcome(&self, id: &str) -> Result<Outcome> {
        Ok(self.flow(id)?.done.borrow().clone())
    }
}
