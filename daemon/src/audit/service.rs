//! The audit log as a service: every adapter (gRPC, REST, the dashboard)
//! reads it through here, where the grant is checked and the one set of page
//! bounds applies.

use super::{Event, Filter, Verification};
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::store::Store;

/// Events per page when a request does not say.
pub const LIMIT_DEFAULT: usize = 100;
/// The most events one page may hold.
pub const LIMIT_MAX: usize = 1000;

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> AuditLog {
        AuditLog { store }
    }

    /// Events newest first, for a caller with the `read` grant.
    pub async fn list(&self, caller: &Caller, filter: Filter) -> Result<Vec<Event>> {
        caller.require(Grant::Read, "read the audit log")?;
        if filter.limit == 0 || filter.limit > LIMIT_MAX {
            return Err(Error::invalid(
                "limit",
                format!("expected 1 to {LIMIT_MAX}"),
            ));
        }
        Ok(self.store.call(move |c| super::list(c, &filter)).await?)
    }

    /// Walks the whole chain.
    pub async fn verify(&self, caller: &Caller) -> Result<Verification> {
        caller.require(Grant::Read, "verify the audit log")?;
        Ok(self.store.call(|c| super::verify(c)).await?)
    }
}

fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The one reading of a list request's text fields (query strings): empty
/// strings mean "not given"; errors name the field as the caller spelled it
/// (`beforeSeq`, `itemId`).
pub fn filter(
    since: Option<&str>,
    before_seq: Option<&str>,
    item_id: Option<&str>,
    limit: Option<&str>,
) -> Result<Filter> {
    let limit = match given(limit) {
        None => LIMIT_DEFAULT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                Error::invalid("limit", format!("expected a number from 1 to {LIMIT_MAX}"))
            })?,
    };
    let since_ms = given(since)
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|_| {
                    Error::invalid(
                        "since",
                        "expected an RFC 3339 time such as 2026-11-21T09:00:00Z",
                    )
                })
        })
        .transpose()?;
    let before_seq = given(before_seq)
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid("beforeSeq", "expected a positive sequence number"))
        })
        .transpose()?;
    Ok(Filter {
        since_ms,
        before_seq,
        item_id: given(item_id).map(str::to_owned),
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_requests_read_the_same_everywhere() {
        let f = filter(Some("2026-11-21T09:00:00Z"), Some("7"), Some(""), None).unwrap();
        assert_eq!(f.before_seq, Some(7));
        assert_eq!(f.item_id, None);
        assert_eq!(f.limit, LIMIT_DEFAULT);
        assert!(f.since_ms.is_some());
        let field = |e: Error| e.details["field"].as_str().unwrap().to_owned();
        assert_eq!(
            field(filter(Some("yesterday"), None, None, None).unwrap_err()),
            "since"
        );
        assert_eq!(
            field(filter(None, Some("0"), None, None).unwrap_err()),
            "beforeSeq"
        );
        assert_eq!(
            field(filter(None, None, None, Some("1001")).unwrap_err()),
            "limit"
        );
    }
}
