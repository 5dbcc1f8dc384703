//! Google sign-in: the bring-your-own OAuth client, the authorization code
//! flow with PKCE (S256) on the daemon's own loopback callback, token
//! refresh and revocation.
//!
//! One daemon runs every flow, so there is no callback-port clash between
//! processes: each flow binds its own ephemeral port on 127.0.0.1 for
//! `/oauth/callback` and closes it when the flow ends. Every endpoint comes
//! from `[google.endpoints]` (design.md §12). Secrets (the client secret,
//! refresh tokens) go to the vault and nowhere else; nothing here logs one.
//!
//! Here: the client (credentials in the vault, code exchange, refresh,
//! revocation, the signed-in address). `oauth/flows.rs`: the sign-in flows.

mod flows;

use std::sync::RwLock;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::google::Endpoints;
use crate::vault::{Secret, Vault};

pub use self::flows::{FlowDone, FlowRequest, FlowStarted, Flows, Outcome};

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

    pub(super) async fn client(&self, redirect: Option<&str>) -> Result<Client> {
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
            // Saturating: an absurd expires_in must not overflow.
            expires_at_ms: now_unix_ms()
                .saturating_add(i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX)),
            refresh_token: response.refresh_token().map(|r| r.secret().clone()),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub(super) async fn exchange(
        &self,
        redirect: &str,
        code: &str,
        verifier: &str,
    ) -> Result<Tokens> {
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
    pub(super) async fn email(&self, access_token: &str) -> Result<String> {
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
