//! Request extractors the HTTP adapters share (the API, the dashboard and
//! the providers' routes).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, naming_the_field};

/// The query string, deserialised; a refusal is the error envelope naming
/// the parameter (`invalid_argument`, `details.field`), unknown parameters
/// included when the type denies them, rather than axum's plain-text
/// rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Deserialises a query string (`a=1&b=x`).
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de)
        .map_err(|e| naming_the_field(e.path().to_string(), e.into_inner().to_string(), "query"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Q {
        account_id: Option<String>,
        limit: Option<u32>,
    }

    #[test]
    fn refusals_name_the_parameter() {
        let q: Q = parse("accountId=a&limit=5").unwrap();
        assert_eq!((q.account_id.as_deref(), q.limit), (Some("a"), Some(5)));
        let e = parse::<Q>("unreadOnly=true").unwrap_err();
        assert_eq!(e.details["field"], "unreadOnly", "{e:?}");
        assert!(e.message.contains("accountId"), "{e:?}");
        let e = parse::<Q>("limit=x").unwrap_err();
        assert_eq!(e.details["field"], "limit", "{e:?}");
        let e = parse::<Q>("accountId=a&accountId=b").unwrap_err();
        assert_eq!(e.details["field"], "accountId", "{e:?}");
    }
}
