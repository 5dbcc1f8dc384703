//! The one error envelope of design.md §8: `{ code, message, details }`.
//!
//! Every service returns [`Error`]; the gRPC, HTTP and MCP adapters map it to
//! their own transport without changing the code or the message.
//!
//! On every wire the envelope's field names are camelCase, as the rest of
//! the contract (`details.retryAfterMs`, `details.requiredScopes`, ...);
//! the `code` values stay snake_case. Services may build `details` with any
//! spelling: [`Error::envelope`] is the one place that spells it.

use serde::Serialize;
use serde_json::{Value, json};

/// Stable, snake_case error codes. Never rename one: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// A request field is missing or malformed; `details.field` names it.
    InvalidArgument,
    /// The item (or other object) does not exist.
    NotFound,
    /// The named account does not exist.
    AccountNotFound,
    /// The caller is authenticated but lacks the grant; `details.grant` names it.
    PermissionDenied,
    /// The caller is not authenticated.
    Unauthenticated,
    /// The object is in a state that does not allow the operation.
    FailedPrecondition,
    /// The recipient is outside the channel's allowlist.
    RecipientNotAllowed,
    /// A human must approve this first.
    ApprovalRequired,
    /// Too many requests; `details.retryAfterMs` says when to retry.
    RateLimited,
    /// The same idempotency key was reused with a different request.
    Conflict,
    /// A request or field is larger than allowed.
    PayloadTooLarge,
    /// No Google OAuth client is set up; `details.steps` say how.
    OauthNotConfigured,
    /// The account's granted scopes do not cover the call; `details.upgrade`
    /// carries the command (and URL) that asks for more. Never escalated silently.
    InsufficientScope,
    /// The account's refresh token no longer works; the human must sign in again.
    ReauthRequired,
    /// A Workspace admin blocks this app or scope for the domain.
    DomainBlocked,
    /// The Google Cloud project has no Chat app configured; `details.steps` say how.
    ChatAppNotConfigured,
    /// The Chat API needs a Google Workspace account, not a consumer one.
    WorkspaceRequired,
    /// The provider (Google, a mail server) failed or cannot be reached.
    UpstreamUnavailable,
    /// The provider refused the request for a reason of its own; `details` says.
    UpstreamError,
    /// The secret vault is locked or cannot be used; `details.hint` says how to fix it.
    VaultUnavailable,
    /// The disk of the data directory is full: nothing was stored; free
    /// some space and try again.
    StorageFull,
    /// Something broke inside commsd; the log has the details.
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::NotFound => "not_found",
            Code::AccountNotFound => "account_not_found",
            Code::PermissionDenied => "permission_denied",
            Code::Unauthenticated => "unauthenticated",
            Code::FailedPrecondition => "failed_precondition",
            Code::RecipientNotAllowed => "recipient_not_allowed",
            Code::ApprovalRequired => "approval_required",
            Code::RateLimited => "rate_limited",
            Code::Conflict => "conflict",
            Code::PayloadTooLarge => "payload_too_large",
            Code::OauthNotConfigured => "oauth_not_configured",
            Code::InsufficientScope => "insufficient_scope",
            Code::ReauthRequired => "reauth_required",
            Code::DomainBlocked => "domain_blocked",
            Code::ChatAppNotConfigured => "chat_app_not_configured",
            Code::WorkspaceRequired => "workspace_required",
            Code::UpstreamUnavailable => "upstream_unavailable",
            Code::UpstreamError => "upstream_error",
            Code::VaultUnavailable => "vault_unavailable",
            Code::StorageFull => "storage_full",
            Code::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Some(match s {
            "invalid_argument" => Code::InvalidArgument,
            "not_found" => Code::NotFound,
            "account_not_found" => Code::AccountNotFound,
            "permission_denied" => Code::PermissionDenied,
            "unauthenticated" => Code::Unauthenticated,
            "failed_precondition" => Code::FailedPrecondition,
            "recipient_not_allowed" => Code::RecipientNotAllowed,
            "approval_required" => Code::ApprovalRequired,
            "rate_limited" => Code::RateLimited,
            "conflict" => Code::Conflict,
            "payload_too_large" => Code::PayloadTooLarge,
            "oauth_not_configured" => Code::OauthNotConfigured,
            "insufficient_scope" => Code::InsufficientScope,
            "reauth_required" => Code::ReauthRequired,
            "domain_blocked" => Code::DomainBlocked,
            "chat_app_not_configured" => Code::ChatAppNotConfigured,
            "workspace_required" => Code::WorkspaceRequired,
            "upstream_unavailable" => Code::UpstreamUnavailable,
            "upstream_error" => Code::UpstreamError,
            "vault_unavailable" => Code::VaultUnavailable,
            "storage_full" => Code::StorageFull,
            "internal" => Code::Internal,
            _ => return None,
        })
    }
}

/// An error as every frontend shows it; serialised as its [`Error::envelope`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub details: Value,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// A bad request field: `field` uses paths such as `to[1]` or `attachments[0]`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        let field = field.into();
        let message = message.into();
        Error {
            code: Code::InvalidArgument,
            message: format!("{field}: {message}"),
            details: json!({ "field": field }),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Error {
        Error {
            code: Code::NotFound,
            message: format!("{what} {id} does not exist"),
            details: json!({ "id": id }),
        }
    }

    pub fn with_details(mut self, details: Value) -> Error {
        self.details = details;
        self
    }

    /// An internal failure: logged with its cause, shown without it.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Error {
        tracing::error!(error = %cause, "{context}");
        Error::new(
            Code::Internal,
            format!("{context}; see the commsd log for details"),
        )
    }

    /// The same error naming its field (`details.field`, and the message's
    /// `field: ` prefix) the way its caller spells it: `names` maps a name
    /// to the caller's, and an indexed field follows its array
    /// (`messageIds[2]` → `ids[2]`). Services name fields by their types;
    /// adapters rename them into their own wire names.
    pub fn renaming_field(mut self, names: &[(&str, &str)]) -> Error {
        let Some(field) = self.details["field"].as_str().map(str::to_owned) else {
            return self;
        };
        let renamed = names.iter().find_map(|(from, to)| {
            let rest = field.strip_prefix(from)?;
            (rest.is_empty() || rest.starts_with('[')).then(|| format!("{to}{rest}"))
        });
        if let Some(renamed) = renamed {
            if let Some(text) = self.message.strip_prefix(&format!("{field}:")) {
                self.message = format!("{renamed}:{text}");
            }
            self.details["field"] = Value::String(renamed);
        }
        self
    }

    /// The JSON envelope, with `details`' keys in camelCase at every depth.
    pub fn envelope(&self) -> Value {
        let details = crate::util::camel_keys(&self.details);
        json!({ "code": self.code, "message": self.message, "details": details })
    }
}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.envelope().serialize(s)
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Domain(e) => *e,
            e if e.disk_full() => Error::storage_full(),
            e => Error::internal("database error", e),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if crate::store::is_disk_full(&e) {
            return Error::storage_full();
        }
        Error::internal("database error", e)
    }
}

impl Error {
    /// The data directory's disk is full (SQLite's `SQLITE_FULL`, or
    /// `ENOSPC` writing a file there): what the user can do about it.
    pub fn storage_full() -> Error {
        Error::new(
            Code::StorageFull,
            "no space left in the data directory's disk: nothing was stored or changed; free some space (or move COMMSD_DATA_DIR) and try again",
        )
    }

    /// An I/O error writing under the data directory: `storage_full` when
    /// the disk is full, else internal with `context`.
    pub fn io(context: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            return Error::storage_full();
        }
        Error::internal(context, e)
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        use tonic::Code as G;
        let code = match e.code {
            Code::InvalidArgument | Code::PayloadTooLarge => G::InvalidArgument,
            Code::NotFound | Code::AccountNotFound => G::NotFound,
            Code::PermissionDenied | Code::RecipientNotAllowed => G::PermissionDenied,
            Code::Unauthenticated => G::Unauthenticated,
            Code::FailedPrecondition
            | Code::ApprovalRequired
            | Code::OauthNotConfigured
            | Code::ReauthRequired => G::FailedPrecondition,
            Code::InsufficientScope | Code::DomainBlocked | Code::WorkspaceRequired => {
                G::PermissionDenied
            }
            Code::ChatAppNotConfigured => G::FailedPrecondition,
            Code::UpstreamUnavailable | Code::VaultUnavailable => G::Unavailable,
            Code::UpstreamError => G::Aborted,
            Code::RateLimited | Code::StorageFull => G::ResourceExhausted,
            Code::Conflict => G::AlreadyExists,
            Code::Internal => G::Internal,
        };
        // The envelope travels in the details bytes so clients can show the
        // stable code and the structured details, not only the message.
        let details = serde_json::to_vec(&e.envelope()).unwrap_or_default();
        tonic::Status::with_details(code, e.message, details.into())
    }
}

impl Code {
    /// The HTTP status for this code.
    pub fn http_status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Code::InvalidArgument => S::BAD_REQUEST,
            Code::NotFound | Code::AccountNotFound => S::NOT_FOUND,
            Code::PermissionDenied | Code::RecipientNotAllowed => S::FORBIDDEN,
            Code::Unauthenticated => S::UNAUTHORIZED,
            Code::FailedPrecondition
            | Code::ApprovalRequired
            | Code::Conflict
            | Code::OauthNotConfigured
            | Code::ReauthRequired => S::CONFLICT,
            Code::InsufficientScope | Code::DomainBlocked | Code::WorkspaceRequired => S::FORBIDDEN,
            Code::ChatAppNotConfigured => S::CONFLICT,
            Code::UpstreamUnavailable | Code::VaultUnavailable => S::SERVICE_UNAVAILABLE,
            Code::UpstreamError => S::BAD_GATEWAY,
            Code::RateLimited => S::TOO_MANY_REQUESTS,
            Code::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Code::StorageFull => S::INSUFFICIENT_STORAGE,
            Code::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        let status = self.code.http_status();
        (status, axum::Json(self.envelope())).into_response()
    }
}

/// Parses a JSON request body into `T`; the error names the offending field.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.is_empty() {
        return Err(Error::invalid("body", "expected a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // serde's message already says what was expected; drop the position.
        let message = e.into_inner().to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        naming_the_field(path, message, "body")
    })
}

/// A deserialisation error as `invalid_argument` naming the field: at
/// `path`, or the missing or unknown field the message names; `whole` when
/// the input as a whole was wrong.
pub fn naming_the_field(path: String, message: String, whole: &str) -> Error {
    {
        let top = path.is_empty() || path == ".";
        // A missing field is reported at its parent: name the field itself.
        // So is an unknown one, where the path may stop at its parent.
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
        };
        let missing = named("missing field `")
            .or_else(|| named("duplicate field `"))
            .or_else(|| {
                named("unknown field `")
                    .filter(|name| path != *name && !path.ends_with(&format!(".{name}")))
            });
        let field = match (top, missing) {
            (true, Some(name)) => name.to_owned(),
            (false, Some(name)) => format!("{path}.{name}"),
            (true, None) => whole.to_owned(),
            (false, None) => path,
        };
        Error::invalid(field, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_field_keeps_its_index_and_the_rest_of_the_error() {
        let names = [("messageIds", "ids"), ("maxResults", "max_results")];
        let e = Error::invalid("messageIds[2]", "expected a Gmail id").renaming_field(&names);
        assert_eq!(e.message, "ids[2]: expected a Gmail id");
        assert_eq!(e.details["field"], "ids[2]");
        assert_eq!(e.code, Code::InvalidArgument);
        // Only whole names: `messageIdsX` is another field.
        let other = Error::invalid("messageIdsX", "m").renaming_field(&names);
        assert_eq!(other.details["field"], "messageIdsX");
        // Details beside the field stay; a message without the prefix stays.
        let e = Error::new(Code::NotFound, "message m has no attachment a")
            .with_details(json!({ "field": "maxResults", "attachments": [1] }))
            .renaming_field(&names);
        assert_eq!(
            e.details,
            json!({ "field": "max_results", "attachments": [1] })
        );
        assert_eq!(e.message, "message m has no attachment a");
        // No field: unchanged.
        let e = Error::new(Code::Internal, "x").renaming_field(&names);
        assert_eq!(e.details, json!({}));
    }

    #[test]
    fn the_envelope_spells_details_in_camel_case_and_keeps_values() {
        let e = Error::new(Code::RateLimited, "slow down").with_details(json!({
            "retry_after_ms": 1500,
            "field": "to[1]",
            "upgrade": { "required_scopes": ["a_b"], "command": "x" },
            "parts": [{ "item_id": "ob_1" }],
        }));
        let v = e.envelope();
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(
            v["details"],
            json!({
                "retryAfterMs": 1500,
                "field": "to[1]",
                "upgrade": { "requiredScopes": ["a_b"], "command": "x" },
                "parts": [{ "itemId": "ob_1" }],
            })
        );
        assert_eq!(serde_json::to_value(&e).unwrap(), v);
    }
}
