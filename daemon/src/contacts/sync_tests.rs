//! Sync against a small stand-in for the People API: a personal account
//! refuses the directory (400 FAILED_PRECONDITION, as Google answers for a
//! gmail.com account), and the saved and other contacts still sync, with
//! one progress report per stored page.

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Progress, ProgressSink};
use crate::accounts::{Accounts, Kind, NewAccount, google};
use crate::contacts::record::Source;
use crate::contacts::{Contacts, ContactsConfig};
use crate::error::{Code, Error};
use crate::events::Bus;
use crate::google::{AccessTokens, Need};
use crate::store::Store;

struct Token;

#[async_trait::async_trait]
impl AccessTokens for Token {
    async fn access_token(&self, _account: &str, _need: Need) -> Result<String, Error> {
        Ok("t".into())
    }
    async fn rejected(&self, _account: &str, _token: &str) {}
}

fn person(id: &str, name: &str) -> Value {
    json!({
        "resourceName": format!("people/{id}"), "etag": "e1",
        "names": [{ "displayName": name }],
        "emailAddresses": [{ "value": format!("{id}@example.com") }],
    })
}

/// `saved_status`: what connections.list answers on its first page.
async fn people(uri: Uri, saved_status: StatusCode) -> Response {
    let q = uri.query().unwrap_or_default();
    let body = match uri.path() {
        "/v1/people/me/connections" if saved_status != StatusCode::OK => {
            return (
                saved_status,
                axum::Json(json!({ "error": { "code": 400, "message": "Invalid personFields", "status": "INVALID_ARGUMENT" } })),
            )
                .into_response();
        }
        "/v1/people/me/connections" if q.contains("pageToken=p2") => json!({
            "connections": [person("c3", "Carol Example")],
            "nextSyncToken": "s1", "totalItems": 3,
        }),
        "/v1/people/me/connections" => json!({
            "connections": [person("c1", "Ann Example"), person("c2", "Bob Example")],
            "nextPageToken": "p2", "totalItems": 3,
        }),
        "/v1/otherContacts" => json!({ "otherContacts": [], "nextSyncToken": "o1" }),
        "/v1/people:listDirectoryPeople" => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": { "code": 400, "message": "Must be a G Suite domain user.", "status": "FAILED_PRECONDITION" } })),
            )
                .into_response();
        }
        "/v1/contactGroups" => json!({ "contactGroups": [] }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    axum::Json(body).into_response()
}

struct Setup {
    _dir: tempfile::TempDir,
    contacts: Contacts,
    account: crate::accounts::Account,
}

async fn setup(saved_status: StatusCode) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |uri: Uri| people(uri, saved_status));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&dir.path().join("db")).unwrap();
    let accounts = Arc::new(
        Accounts::load(store.clone(), Arc::new(Bus::default()), "me@localhost")
            .await
            .unwrap(),
    );
    let (account, _) = accounts
        .upsert(
            "test",
            NewAccount {
                id: Accounts::new_id(),
                kind: Kind::Google,
                email: "me@gmail.com".into(),
                labels: vec!["personal".into()],
                scopes: vec![
                    google::CONTACTS.into(),
                    google::CONTACTS_OTHER_READONLY.into(),
                    google::DIRECTORY_READONLY.into(),
                ],
                settings: json!({}),
            },
        )
        .await
        .unwrap();
    assert!(
        account.modules.contains(&"directory"),
        "{:?}",
        account.modules
    );
    let config = ContactsConfig {
        max_attempts: 1,
        ..ContactsConfig::default()
    };
    let contacts = Contacts::new(&base, Arc::new(Token), &config, accounts, store).unwrap();
    Setup {
        _dir: dir,
        contacts,
        account,
    }
}

#[tokio::test]
async fn a_refused_directory_leaves_the_other_sources_synced_with_progress_per_page() {
    let s = setup(StatusCode::OK).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let sink: ProgressSink = Some(tx);
    let done = s.contacts.sync_account(&s.account, &sink).await.unwrap();
    drop(sink);

    let sources = &done["sources"];
    assert_eq!(sources["saved"]["stored"], 3, "{done}");
    assert_eq!(sources["saved"]["requests"], 2, "{done}");
    assert_eq!(sources["other"]["stored"], 0, "{done}");
    assert_eq!(
        sources["directory"]["error"]["code"], "upstream_error",
        "the directory's refusal is reported in its entry: {done}"
    );
    assert!(
        sources["directory"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Must be a G Suite domain user"),
        "{done}"
    );
    assert_eq!(sources["groups"]["requests"], 1, "{done}");
    assert_eq!(s.contacts.book().people.len(), 3);

    let mut pages = Vec::new();
    while let Some(p) = rx.recv().await {
        pages.push(p);
    }
    let saved: Vec<_> = pages.iter().filter(|p| p.source == Source::Saved).collect();
    assert_eq!(saved.len(), 2, "{pages:?}");
    assert_eq!((saved[0].page, saved[0].stored), (1, 2));
    assert_eq!((saved[1].page, saved[1].stored), (2, 3));
    assert_eq!(saved[1].total, Some(3));
    assert!(
        saved
            .iter()
            .all(|p| p.account == s.account.id && !p.resumed)
    );
    assert!(pages.iter().all(|p| p.source != Source::Directory));
}

#[tokio::test]
async fn a_refused_saved_source_still_fails_the_sync() {
    // Only the directory is optional: the same refusal of saved contacts
    // is the sync's failure.
    let s = setup(StatusCode::BAD_REQUEST).await;
    let e = s
        .contacts
        .sync_account(&s.account, &None)
        .await
        .unwrap_err();
    assert_ne!(e.code, Code::Internal, "{e:?}");
    assert!(e.message.contains("Invalid personFields"), "{}", e.message);
}
