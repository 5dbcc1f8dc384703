//! Google sign-in: the bring-your-own OAuth client, the authorization code
//! flow with PKCE (S256) on the daemon's own loopback callback, token
//! refresh and revocation.
//!
//! One daemon runs every flow, so there is no callback-port clash between
//! processes: each flow binds its own ephemeral port on 127.0.0.1 for
//! `/oauth/callback` and closes it when the flow ends. Every endpoint comes
//! from `[google.endpoints]` (design.md §12). Secrets (the client secret,
//! refresh tokens) go to the vault and nowhere else; nothing here logs one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    RevocationUrl, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Account, Accounts, Kind, NewAccount, google};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::google::Endpoints;
use crate::util::constant_time_eq;
use crate::vault::{Secret, Vault};

/// The vault entry of the OAuth client (JSON: client_id, client_secret).
pub const CLIENT_ENTRY: &str = "google/client";

/// The vault entry of an account's refresh token.
pub fn refresh_token_entry(account_id: &str) -> String {
    format!("google/{account_id}/refresh_token")
}

/// How long a sign-in waits for the browser by default.
pub const DEFAULT_FLOW_TIMEOUT: Duration = Duration::from_secs(300);

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet>;

/// The user's own OAuth client ("Desktop app" in Google Cloud Console).
#[derive(Clone, Serialize, Deserialize)]
struct ClientCredentials {
    client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// The OAuth client as status shows it: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientStatus {
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Where tokens are fetched and revoked (from `[google.endpoints]`).
    pub token_endpoint: String,
    pub auth_endpoint: String,
}

/// A token endpoint's answer, reduced to what commsd keeps.
pub struct Tokens {
    pub access_token: String,
    pub expires_at_ms: i64,
    pub refresh_token: Option<String>,
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why a refresh failed, as the token lifecycle acts on it.
#[derive(Debug)]
pub enum RefreshError {
    /// The refresh token is dead: the account needs a new sign-in.
    InvalidGrant(String),
    /// An admin blocks the app or a scope.
    DomainBlocked(String),
    /// Anything else (network, 5xx, an unexpected answer): retry later.
    Other(Error),
}

/// What a refused refresh means: Google answers `invalid_grant` for a dead
/// refresh token (revoked, expired, password changed), `admin_policy_enforced`
/// (or `org_internal`) when a Workspace admin blocks the app or a scope.
fn classify_refresh_error(error: &BasicErrorResponseType, description: &str) -> RefreshError {
    let text = if description.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {description}")
    };
    match error {
        BasicErrorResponseType::InvalidGrant => RefreshError::InvalidGrant(text),
        BasicErrorResponseType::Extension(code)
            if code == "admin_policy_enforced" || code == "org_internal" =>
        {
            RefreshError::DomainBlocked(text)
        }
        BasicErrorResponseType::UnauthorizedClient
            if description.to_ascii_lowercase().contains("admin") =>
        {
            RefreshError::DomainBlocked(text)
        }
        BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
            RefreshError::Other(Error::new(
                Code::OauthNotConfigured,
                format!(
                    "the authorization server rejected commsd's OAuth client ({text}); check it with `commsctl google client` and import it again"
                ),
            ))
        }
        _ => RefreshError::Other(Error::new(
            Code::UpstreamError,
            format!("refreshing the access token failed: {text}"),
        )),
    }
}

/// Talks to the authorization server: URLs, code exchange, refresh, revoke, userinfo.
pub struct OAuthClient {
    endpoints: Endpoints,
    http: oauth2::reqwest::Client,
    vault: Vault,
    client: RwLock<Option<ClientCredentials>>,
}

fn not_configured() -> Error {
    Error::new(
        Code::OauthNotConfigured,
        "no Google OAuth client is set up. commsd ships none: create your own (Google Cloud Console > APIs & Services > Credentials > Create credentials > OAuth client ID > Desktop app), download its JSON, then run `commsctl google import-client client_secret.json`",
    )
    .with_details(json!({
        "steps": [
            "Google Cloud Console: create or pick a project and enable the Gmail API (and People/Chat APIs for those modules)",
            "OAuth consent screen: External (or Internal for Workspace); add yourself as a test user, or publish the app so refresh tokens do not expire after 7 days",
            "Credentials > Create credentials > OAuth client ID > Application type: Desktop app; download the JSON",
            "commsctl google import-client ~/Downloads/client_secret_....json",
            "commsctl accounts add google --label personal",
        ],
        "command": "commsctl google import-client client_secret.json",
    }))
}

fn url_field<T>(
    field: &str,
    value: &str,
    make: impl Fn(String) -> std::result::Result<T, url::ParseError>,
) -> Result<T> {
    make(value.to_owned()).map_err(|e| {
        Error::new(
            Code::FailedPrecondition,
            format!("[google.endpoints] {field} = {value:?} is not a URL: {e}"),
        )
    })
}

fn upstream(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(Code::UpstreamUnavailable, format!("{what} failed: {e}"))
}

impl OAuthClient {
    pub fn new(endpoints: Endpoints, vault: Vault) -> Result<OAuthClient> {
        let http = oauth2::reqwest::Client::builder()
            // Following redirects from a token endpoint opens SSRF holes.
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client", e))?;
        Ok(OAuthClient {
            endpoints,
            http,
            vault,
            client: RwLock::new(None),
        })
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    async fn credentials(&self) -> Result<ClientCredentials> {
        if let Some(c) = self.client.read().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let stored = self
            .vault
            .get(CLIENT_ENTRY)
            .await?
            .ok_or_else(not_configured)?;
        let creds: ClientCredentials = serde_json::from_str(stored.expose()).map_err(|e| {
            Error::new(
                Code::OauthNotConfigured,
                format!("the stored OAuth client is unreadable ({e}); import it again with `commsctl google import-client`"),
            )
        })?;
        if let Ok(mut c) = self.client.write() {
            *c = Some(creds.clone());
        }
        Ok(creds)
    }

    pub async fn status(&self) -> ClientStatus {
        let client = self.credentials().await.ok();
        ClientStatus {
            configured: client.is_some(),
            client_id: client.map(|c| c.client_id),
            token_endpoint: self.endpoints.token.clone(),
            auth_endpoint: self.endpoints.auth.clone(),
        }
    }

    /// Stores the user's OAuth client (the secret in the vault).
    pub async fn set_client(&self, client_id: &str, client_secret: &str) -> Result<ClientStatus> {
        let client_id = client_id.trim();
        if client_id.is_empty() || client_id.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "client_id",
                "expected the OAuth client ID, e.g. 1234-abc.apps.googleusercontent.com",
            ));
        }
        if client_secret.trim().is_empty() {
            return Err(Error::invalid(
                "client_secret",
                "expected the OAuth client secret (read from a prompt or stdin)",
            ));
        }
        let creds = ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret: client_secret.trim().to_owned(),
        };
        let json = serde_json::to_string(&creds)
            .map_err(|e| Error::internal("cannot encode the client", e))?;
        self.vault.put(CLIENT_ENTRY, &Secret::new(json)).await?;
        if let Ok(mut c) = self.client.write() {
            *c = Some(creds);
        }
        Ok(self.status().await)
    }

    /// Imports the JSON Google Cloud Console downloads for a Desktop app
    /// (`{"installed": {"client_id", "client_secret", ...}}`).
    pub async fn import_client(&self, json_text: &str) -> Result<ClientStatus> {
        #[derive(Deserialize)]
        struct Inner {
            client_id: String,
            client_secret: Option<String>,
        }
        #[derive(Deserialize)]
        struct File {
            installed: Option<Inner>,
            web: Option<Inner>,
        }
        let file: File = serde_json::from_str(json_text).map_err(|e| {
            Error::invalid("file", format!("not a Google client_secret JSON file: {e}"))
        })?;
        let inner = match (file.installed, file.web) {
            (Some(i), _) => i,
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "file",
                    "this is a \"Web application\" client; commsd signs in through a loopback redirect on any port, which needs a \"Desktop app\" client: create one under Credentials > Create credentials > OAuth client ID",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    "file",
                    "expected an \"installed\" object (a Desktop app client_secret JSON from Google Cloud Console)",
                ));
            }
        };
        let secret = inner.client_secret.ok_or_else(|| {
            Error::invalid(
                "installed.client_secret",
                "missing: download the client's JSON again from Google Cloud Console",
            )
        })?;
        self.set_client(&inner.client_id, &secret).await
    }

    async fn client(&self, redirect: Option<&str>) -> Result<Client> {
        let creds = self.credentials().await?;
        let mut client = BasicClient::new(ClientId::new(creds.client_id))
            .set_client_secret(ClientSecret::new(creds.client_secret))
            // Google accepts the secret in the body; so does every
            // "client_secret_post" server, and RFC 6749 allows both.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(url_field("auth", &self.endpoints.auth, AuthUrl::new)?)
            .set_token_uri(url_field("token", &self.endpoints.token, TokenUrl::new)?)
            .set_revocation_url(url_field(
                "revoke",
                &self.endpoints.revoke,
                RevocationUrl::new,
            )?);
        if let Some(redirect) = redirect {
            client = client.set_redirect_uri(url_field("redirect", redirect, RedirectUrl::new)?);
        }
        Ok(client)
    }

    fn tokens_from(response: &oauth2::basic::BasicTokenResponse) -> Tokens {
        let expires_in = response.expires_in().unwrap_or(Duration::from_secs(3600));
        Tokens {
            access_token: response.access_token().secret().clone(),
            expires_at_ms: now_unix_ms() + expires_in.as_millis() as i64,
            refresh_token: response.refresh_token().map(|r| r.secret().clone()),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    async fn exchange(&self, redirect: &str, code: &str, verifier: &str) -> Result<Tokens> {
        let client = self.client(Some(redirect)).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => Error::new(
                    Code::UpstreamError,
                    format!(
                        "the authorization server refused the code: {}{}",
                        r.error(),
                        r.error_description()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default()
                    ),
                ),
                other => upstream("exchanging the authorization code", other),
            })?;
        Ok(Self::tokens_from(&response))
    }

    /// A fresh access token from a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> std::result::Result<Tokens, RefreshError> {
        let client = self.client(None).await.map_err(RefreshError::Other)?;
        let token = RefreshToken::new(refresh_token.to_owned());
        match client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
        {
            Ok(response) => Ok(Self::tokens_from(&response)),
            Err(RequestTokenError::ServerResponse(r)) => Err(classify_refresh_error(
                r.error(),
                r.error_description()
                    .map(String::as_str)
                    .unwrap_or_default(),
            )),
            Err(other) => Err(RefreshError::Other(upstream(
                "refreshing the access token",
                other,
            ))),
        }
    }

    /// Revokes a refresh token (and with it every access token of the grant).
    ///
    /// A plain RFC 7009 POST rather than the oauth2 crate's, which refuses a
    /// revocation endpoint that is not https: `[google.endpoints] revoke` may
    /// be a loopback test server or a proxy. The client authenticates in the
    /// body, as at the token endpoint.
    pub async fn revoke(&self, refresh_token: &str) -> Result<()> {
        let creds = self.credentials().await?;
        let response = self
            .http
            .post(&self.endpoints.revoke)
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", creds.client_id.as_str()),
                ("client_secret", creds.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| upstream("revoking the token", e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(Error::new(
            Code::UpstreamError,
            format!("the revocation endpoint answered {status}"),
        ))
    }

    /// The signed-in user's address, from the userinfo endpoint.
    async fn email(&self, access_token: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct UserInfo {
            email: Option<String>,
        }
        let response = self
            .http
            .get(&self.endpoints.userinfo)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| upstream("reading the account's address (userinfo)", e))?;
        if !response.status().is_success() {
            return Err(Error::new(
                Code::UpstreamError,
                format!("the userinfo endpoint answered {}", response.status()),
            ));
        }
        let info: UserInfo = response
            .json()
            .await
            .map_err(|e| upstream("reading the userinfo answer", e))?;
        info.email.filter(|e| e.contains('@')).ok_or_else(|| {
            Error::new(
                Code::UpstreamError,
                "the userinfo endpoint gave no email address (was the `email` scope granted?)",
            )
        })
    }
}

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
    tokens: Arc<super::tokens::TokenCache>,
    flows: Mutex<HashMap<String, Arc<Flow>>>,
}

impl Flows {
    pub fn new(
        oauth: Arc<OAuthClient>,
        accounts: Arc<Accounts>,
        vault: Vault,
        tokens: Arc<super::tokens::TokenCache>,
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
        super::validate_labels(&request.labels)?;
        let modules = google::parse_modules(&request.modules)?;
        if let Some(hint) = &request.login_hint
            && (!hint.contains('@') || hint.chars().any(char::is_whitespace))
        {
            return Err(Error::invalid(
                "login_hint",
                "expected an email address, e.g. me@example.com",
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
        let id = super::Accounts::new_id();
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
        Ok(FlowDone { account, existed })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_errors_become_account_states_or_typed_errors() {
        let kind = |e: &str, d: &str| {
            let t = match e {
                "invalid_grant" => BasicErrorResponseType::InvalidGrant,
                "invalid_client" => BasicErrorResponseType::InvalidClient,
                "unauthorized_client" => BasicErrorResponseType::UnauthorizedClient,
                other => BasicErrorResponseType::Extension(other.to_owned()),
            };
            match classify_refresh_error(&t, d) {
                RefreshError::InvalidGrant(_) => "reauth".to_owned(),
                RefreshError::DomainBlocked(_) => "blocked".to_owned(),
                RefreshError::Other(e) => e.code.as_str().to_owned(),
            }
        };
        assert_eq!(
            kind("invalid_grant", "Token has been expired or revoked."),
            "reauth"
        );
        assert_eq!(kind("admin_policy_enforced", ""), "blocked");
        assert_eq!(kind("org_internal", ""), "blocked");
        assert_eq!(
            kind("unauthorized_client", "Blocked by the domain admin"),
            "blocked"
        );
        assert_eq!(
            kind("invalid_client", "The OAuth client was deleted."),
            "oauth_not_configured"
        );
        assert_eq!(kind("temporarily_unavailable", ""), "upstream_error");
    }
}
