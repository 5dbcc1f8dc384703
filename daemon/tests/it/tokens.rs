//! The token lifecycle through the library, against the real OAuth server:
//! a sign-in's token is reused, a rejected token is refreshed once however
//! many callers wait, scopes are checked before anything is fetched, and a
//! dead refresh token puts the account in `reauth_required` for good.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use commsd::accounts::oauth::{FlowRequest, refresh_token_entry};
use commsd::accounts::service::AccountService;
use commsd::accounts::{Accounts, State};
use commsd::auth::Caller;
use commsd::error::Code;
use commsd::events::Bus;
use commsd::google::{AccessTokens, Endpoints, Need};
use commsd::store::Store;
use commsd::vault::VaultConfig;
use commsd::vault::{BackendChoice, KdfParams, Secret, Vault};

use crate::oauth::{CLIENT_ID, CLIENT_SECRET, OAuthServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reused_refreshed_once_scope_checked_and_dead_grants_need_reauth() {
    let oauth = Arc::new(
        tokio::task::spawn_blocking(OAuthServer::start)
            .await
            .unwrap(),
    );
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let db = dir.join("commsd.db");
    let (store, _thread) = Store::open(&db).unwrap();
    let accounts = Arc::new(
        Accounts::load(
            store.clone(),
            Arc::new(Bus::default()),
            "Sandbox <s@commsd.invalid>",
        )
        .await
        .unwrap(),
    );
    let vault = Vault::open_with(
        &VaultConfig {
            backend: BackendChoice::File,
            file: None,
        },
        &dir,
        Some(Secret::new("a test passphrase")),
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        },
    );
    let endpoints = Endpoints {
        auth: format!("{}/auth", oauth.base),
        token: format!("{}/token", oauth.base),
        revoke: format!("{}/token/revocation", oauth.base),
        userinfo: format!("{}/me", oauth.base),
        ..Endpoints::default()
    };
    let service = AccountService::new(accounts.clone(), endpoints, vault.clone()).unwrap();
    let human = Caller::cli("test", 1000);
    service
        .set_client(&human, CLIENT_ID, CLIENT_SECRET)
        .await
        .unwrap();

    let started = service
        .add_google(
            &human,
            FlowRequest {
                tier: 1,
                ..FlowRequest::default()
            },
        )
        .await
        .unwrap();
    let url = started.auth_url.clone();
    let server = oauth.clone();
    tokio::task::spawn_blocking(move || server.sign_in(&url, "eve@example.org"))
        .await
        .unwrap();
    let done = service.wait_google(&started.flow_id).await.unwrap();
    let id = done.account.id.clone();
    let tokens = service.tokens.clone();

    // The sign-in's access token is used as is.
    let first = tokens.access_token(&id, Need::GmailRead).await.unwrap();
    assert_eq!(tokens.refreshes(), 0);
    assert_eq!(
        tokens.access_token(&id, Need::GmailRead).await.unwrap(),
        first
    );

    // Google rejected it: fifty concurrent callers share one refresh.
    tokens.rejected(&id, &first).await;
    let calls = (0..50).map(|_| {
        let tokens = tokens.clone();
        let id = id.clone();
        tokio::spawn(async move { tokens.access_token(&id, Need::GmailRead).await })
    });
    let results: Vec<String> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(tokens.refreshes(), 1, "one refresh for fifty callers");
    assert!(results.iter().all(|t| t == &results[0]));
    assert_ne!(results[0], first);

    // A call beyond the granted tier fails before anything is fetched, and
    // says how a human grants more.
    let e = tokens
        .access_token(&id, Need::GmailModify)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::InsufficientScope);
    let command = e.details["command"].as_str().unwrap();
    assert!(
        command.contains("--tier 3") && command.contains("eve@example.org"),
        "{command}"
    );
    assert_eq!(e.details["tool"], "google_add_account");
    let e = tokens.access_token(&id, Need::Contacts).await.unwrap_err();
    assert!(
        e.details["command"]
            .as_str()
            .unwrap()
            .contains("--with contacts"),
        "{e:?}"
    );
    assert_eq!(tokens.refreshes(), 1);

    // The grant is revoked at the server (as when the user removes access):
    // the next refresh gets invalid_grant and the account needs a new sign-in.
    let refresh = vault.get(&refresh_token_entry(&id)).await.unwrap().unwrap();
    service.oauth.revoke(refresh.expose()).await.unwrap();
    tokens.rejected(&id, &results[0]).await;
    let e = tokens.access_token(&id, Need::GmailRead).await.unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired, "{e:?}");
    assert!(
        e.message.contains("7 days"),
        "the Testing-mode hint: {}",
        e.message
    );
    assert_eq!(
        accounts.resolve(Some(&id)).unwrap().state,
        State::ReauthRequired
    );
    // Later calls fail at once, without asking the server again.
    let e = tokens.access_token(&id, Need::GmailRead).await.unwrap_err();
    assert_eq!(e.code, Code::ReauthRequired);
    assert_eq!(tokens.refreshes(), 2);
    // The state is stored.
    let reloaded = Accounts::load(store.clone(), Arc::new(Bus::default()), "s")
        .await
        .unwrap();
    assert_eq!(
        reloaded.resolve(Some(&id)).unwrap().state,
        State::ReauthRequired
    );

    // Signing in again makes it active, with the same id.
    let started = service
        .add_google(
            &human,
            FlowRequest {
                tier: 1,
                ..FlowRequest::default()
            },
        )
        .await
        .unwrap();
    let url = started.auth_url.clone();
    let server = oauth.clone();
    tokio::task::spawn_blocking(move || server.sign_in(&url, "eve@example.org"))
        .await
        .unwrap();
    let again = service.wait_google(&started.flow_id).await.unwrap();
    assert_eq!(again.account.id, id);
    assert_eq!(again.account.state, State::Active);
    tokens.access_token(&id, Need::GmailRead).await.unwrap();
}
