//! The HTTP API through the real daemon: keys, the auth matrix, grants,
//! idempotency, limits, loopback checks, and the stage → approve → deliver path.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG, eventually};

struct Api {
    env: Env,
    _daemon: Daemon,
    url: String,
    http: Client,
}

impl Api {
    fn start(extra_config: &str) -> Api {
        Api::start_with(extra_config, false)
    }

    /// With `traced`, the daemon logs at `COMMSD_LOG=trace` into `env.log_path()`.
    fn start_with(extra_config: &str, traced: bool) -> Api {
        Api::start_logging(extra_config, traced.then_some("trace"))
    }

    /// With a `level`, the daemon logs at `COMMSD_LOG=level` into `env.log_path()`.
    fn start_logging(extra_config: &str, level: Option<&str>) -> Api {
        let env = Env::new();
        std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}{extra_config}")).unwrap();
        let daemon = match level {
            Some(level) => env.spawn_logged(env.commsd(), level),
            None => env.start(),
        };
        let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
        Api {
            env,
            _daemon: daemon,
            url,
            http: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Creates a key with commsctl and returns its token.
    fn key(&self, name: &str, grants: &str, extra: &[&str]) -> String {
        let mut args = vec!["keys", "create", name, "--grants", grants, "--json"];
        args.extend_from_slice(extra);
        let run = self.env.commsctl(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let created: Value = serde_json::from_str(&run.stdout).unwrap();
        created["token"].as_str().unwrap().to_owned()
    }

    fn get(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        let r = self.http.get(format!("{}{path}", self.url));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn post(&self, path: &str, token: &str, body: Value) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
    }

    fn items(&self, token: &str) -> Vec<Value> {
        let page: Value = self
            .get("/api/v1/staged", Some(token))
            .send()
            .unwrap()
            .json()
            .unwrap();
        page["items"].as_array().unwrap().clone()
    }
}

fn envelope(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    assert!(
        r.headers().get("x-request-id").is_some(),
        "every response carries a request id"
    );
    let body: Value = r.json().expect("an error envelope");
    assert!(
        body["code"].is_string() && body["message"].is_string() && body["details"].is_object(),
        "{body}"
    );
    body
}

fn email() -> Value {
    json!({ "to": ["Jane Roe <jane@example.org>"], "subject": "Your appointment on Tuesday", "bodyText": "Dear Jane, see you at 9:00." })
}

#[test]
fn authentication_matrix() {
    let api = Api::start("");
    let good = api.key("reader", "read", &[]);
    let revoked = api.key("gone", "read", &[]);
    assert_eq!(api.env.commsctl(&["keys", "revoke", "gone"]).code, 0);
    let expired = api.key("brief", "read", &["--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(1100));

    let missing = api.get("/api/v1/status", None).send().unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let body = envelope(missing, 401);
    assert_eq!(
        (body["code"].as_str(), body["details"]["reason"].as_str()),
        (Some("unauthenticated"), Some("missing"))
    );

    for (header, reason) in [
        ("Bearer nope".to_owned(), "malformed"),
        (format!("Basic {good}"), "malformed"),
        (
            format!("Bearer cmsd_{}_{}", "a".repeat(8), "b".repeat(40)),
            "unknown",
        ),
        // The right id with a wrong secret (one character changed: never
        // the same one, or the token would be the good key 1 time in 32).
        (
            format!(
                "Bearer {}{}",
                &good[..good.len() - 1],
                if good.ends_with('x') { 'y' } else { 'x' }
            ),
            "unknown",
        ),
        (format!("Bearer {revoked}"), "revoked"),
        (format!("Bearer {expired}"), "expired"),
    ] {
        let r = api
            .http
            .get(format!("{}/api/v1/status", api.url))
            .header("authorization", &header)
            .send()
            .unwrap();
        let body = envelope(r, 401);
        assert_eq!(body["details"]["reason"], reason, "{header}: {body}");
    }

    let ok = api.get("/api/v1/status", Some(&good)).send().unwrap();
    assert_eq!(ok.status(), 200);

    // Missing grant: 403 naming the grant, and nothing stored.
    let staged = api
        .post("/api/v1/email/stage", &good, email())
        .send()
        .unwrap();
    let body = envelope(staged, 403);
    assert_eq!(
        (body["code"].as_str(), body["details"]["grant"].as_str()),
        (Some("permission_denied"), Some("stage"))
    );
    assert!(api.items(&good).is_empty());

    // Failed authentications are audited (the key's secret never is).
    let audit = api.env.commsctl(&["audit", "list", "--json"]);
    let events: Value = serde_json::from_str(&audit.stdout).unwrap();
    let failures: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth_failed")
        .collect();
    assert_eq!(failures.len(), 7, "{events:#}");
    assert!(
        !audit.stdout.contains(&good[14..]),
        "no secret in the audit log"
    );
}

#[test]
fn only_admin_keys_approve_and_the_whole_path_delivers() {
    let api = Api::start("");
    let agent = api.key("gemini-cli", "read,stage", &[]);
    let human = api.key("front-desk", "read,admin", &[]);

    let r = api
        .post("/api/v1/email/stage", &agent, email())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let item: Value = r.json().unwrap();
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["state"], "pending_approval");
    assert_eq!(item["requester"], "key:gemini-cli");

    let refused = api
        .post(&format!("/api/v1/staged/{id}/approve"), &agent, json!({}))
        .send()
        .unwrap();
    assert_eq!(envelope(refused, 403)["details"]["grant"], "admin");

    let approved = api
        .post(&format!("/api/v1/staged/{id}/approve"), &human, json!({}))
        .send()
        .unwrap();
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().unwrap();
    assert_eq!(approved["approval"]["by"], "key:front-desk");

    assert!(eventually(Duration::from_secs(10), || {
        let item: Value = api
            .get(&format!("/api/v1/staged/{id}"), Some(&agent))
            .send()
            .unwrap()
            .json()
            .unwrap();
        item["state"] == "sent"
    }));
    let maildir = api.env.data.join("sandbox/Maildir/new");
    let file = std::fs::read_dir(&maildir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let message = std::fs::read_to_string(file).unwrap();
    assert!(
        message.contains("Subject: Your appointment on Tuesday"),
        "{message}"
    );

    let audit: Value = api
        .get(&format!("/api/v1/audit?itemId={id}"), Some(&agent))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let actors: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert!(actors.contains(&("staged", "key:gemini-cli")), "{actors:?}");
    assert!(
        actors.contains(&("approved", "key:front-desk")),
        "{actors:?}"
    );

    // Reject and cancel: only pending items, own items for agents.
    let other: Value = api
        .post(
            "/api/v1/sms/stage",
            &agent,
            json!({ "to": "+14155550100", "body": "Reminder" }),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let oid = other["id"].as_str().unwrap();
    let no_reason = api
        .post(&format!("/api/v1/staged/{oid}/reject"), &human, json!({}))
        .send()
        .unwrap();
    assert_eq!(envelope(no_reason, 400)["details"]["field"], "reason");
    let rejected: Value = api
        .post(
            &format!("/api/v1/staged/{oid}/reject"),
            &human,
            json!({ "reason": "Wrong patient" }),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(rejected["state"], "rejected");
    let late = api
        .post(&format!("/api/v1/staged/{oid}/cancel"), &agent, json!({}))
        .send()
        .unwrap();
    assert_eq!(envelope(late, 409)["code"], "failed_precondition");
}

#[test]
fn send_lets_the_policy_decide() {
    let api =
        Api::start("[[policy.rules]]\nrecipients = [\"@practice.example\"]\ndecision = \"auto\"\n");
    let agent = api.key("agent", "read,stage,send", &[]);
    let stage_only = api.key("stager", "read,stage", &[]);

    let pending = api
        .post("/api/v1/email/send", &agent, email())
        .send()
        .unwrap();
    assert_eq!(pending.status(), 202);
    let pending: Value = pending.json().unwrap();
    assert_eq!(pending["pendingApproval"], true);
    assert!(pending["reviewUrl"].as_str().unwrap().contains(&format!(
        "/review/{}",
        pending["item"]["id"].as_str().unwrap()
    )));

    let internal = json!({ "to": ["dr.who@practice.example"], "subject": "Rota", "bodyText": "x" });
    let sent = api
        .post("/api/v1/email/send", &agent, internal.clone())
        .send()
        .unwrap();
    assert_eq!(sent.status(), 200);
    let sent: Value = sent.json().unwrap();
    assert_eq!(
        (
            sent["item"]["state"].as_str(),
            sent["pendingApproval"].as_bool()
        ),
        (Some("sent"), Some(false))
    );

    let refused = api
        .post("/api/v1/email/send", &stage_only, internal)
        .send()
        .unwrap();
    assert_eq!(envelope(refused, 403)["details"]["grant"], "send");
}

/// The roadmap's documented request, byte for byte as curl sends it:
/// `to` a string, `body` the plain text. Answered with the staged item and
/// its review link; `body` beside `bodyText` is refused by name.
#[test]
fn the_documented_curl_request_stages_verbatim() {
    let api = Api::start("");
    let key = api.key("curl", "read,stage,send", &[]);
    let documented = r#"{"to": "patient@example.com", "subject": "Appointment Reminder", "body": "Your appointment is tomorrow at 2 PM"}"#;
    let r = api
        .http
        .post(format!("{}/api/v1/email/send", api.url))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .body(documented)
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let staged: Value = r.json().unwrap();
    assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
    let content = &staged["item"]["content"];
    assert_eq!(content["to"], json!(["patient@example.com"]), "{staged}");
    assert_eq!(content["subject"], "Appointment Reminder", "{staged}");
    assert_eq!(
        content["bodyText"], "Your appointment is tomorrow at 2 PM",
        "{staged}"
    );
    let id = staged["item"]["id"].as_str().unwrap();
    assert!(
        staged["reviewUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/review/{id}")),
        "{staged}"
    );
    let both = json!({ "to": "a@example.org", "subject": "x", "body": "y", "bodyText": "z" });
    let refused = api.post("/api/v1/email/send", &key, both).send().unwrap();
    assert_eq!(envelope(refused, 400)["details"]["field"], "body");
    assert_eq!(api.items(&key).len(), 1, "nothing stored for the refusal");
}

#[test]
fn json_errors_name_the_field_and_store_nothing() {
    let api = Api::start("");
    let key = api.key("agent", "read,stage", &[]);
    for (body, field) in [
        (json!({ "to": 5 }), "to"),
        (
            json!({ "to": ["jane@example.org"], "bodyText": "x", "colour": "red" }),
            "colour",
        ),
        (json!({ "bodyText": "x" }), "to"),
        (
            json!({ "to": ["jane@example.org", "nonsense"], "bodyText": "x" }),
            "to[1]",
        ),
        (
            json!({ "to": ["jane@example.org"], "bodyText": "x", "priority": "urgent" }),
            "priority",
        ),
        (
            json!({ "to": ["jane@example.org"], "bodyText": "x", "attachments": ["relative.pdf"] }),
            "attachments[0]",
        ),
    ] {
        let r = api
            .post("/api/v1/email/stage", &key, body.clone())
            .send()
            .unwrap();
        let err = envelope(r, 400);
        assert_eq!(err["code"], "invalid_argument", "{body}: {err}");
        assert_eq!(err["details"]["field"], field, "{body}: {err}");
    }
    let unknown = api
        .post(
            "/api/v1/email/stage",
            &key,
            json!({ "to": ["jane@example.org"], "bodyText": "x", "colour": "red" }),
        )
        .send()
        .unwrap();
    assert!(
        envelope(unknown, 400)["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let bad_query = api
        .get("/api/v1/staged?limit=9999", Some(&key))
        .send()
        .unwrap();
    assert_eq!(envelope(bad_query, 400)["details"]["field"], "limit");
    // A misspelt parameter is refused by name, never silently ignored.
    for (path, field) in [
        ("/api/v1/staged?acount=x", "acount"),
        ("/api/v1/audit?before_seq=3", "before_seq"),
        ("/api/v1/email/inbox?unreadOnly=true", "unreadOnly"),
        ("/api/v1/email/inbox?unread=maybe", "unread"),
    ] {
        let refused = api.get(path, Some(&key)).send().unwrap();
        let e = envelope(refused, 400);
        assert_eq!(e["details"]["field"], field, "{path}: {e}");
        assert_eq!(e["code"], "invalid_argument", "{path}: {e}");
    }
    let nothing = api
        .get("/api/v1/staged/ob_doesnotexist", Some(&key))
        .send()
        .unwrap();
    assert_eq!(envelope(nothing, 404)["code"], "not_found");
    assert!(api.items(&key).is_empty());
}

#[test]
fn idempotency_key_returns_the_first_result() {
    let api = Api::start("");
    let key = api.key("agent", "read,stage", &[]);
    let first = api
        .post("/api/v1/email/stage", &key, email())
        .header("idempotency-key", "abc-1")
        .send()
        .unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().unwrap();
    let again = api
        .post("/api/v1/email/stage", &key, email())
        .header("idempotency-key", "abc-1")
        .send()
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().unwrap(), first_body);
    assert_eq!(api.items(&key).len(), 1);

    let mut different = email();
    different["subject"] = json!("Something else");
    let conflict = api
        .post("/api/v1/email/stage", &key, different)
        .header("idempotency-key", "abc-1")
        .send()
        .unwrap();
    assert_eq!(
        envelope(conflict, 409)["details"]["field"],
        "Idempotency-Key"
    );
    // Keys are per API key: another client's same header value is its own.
    let other = api.key("other", "read,stage", &[]);
    let theirs = api
        .post("/api/v1/email/stage", &other, email())
        .header("idempotency-key", "abc-1")
        .send()
        .unwrap();
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_eq!(api.items(&key).len(), 2);
}

#[test]
fn size_and_rate_limits() {
    let api = Api::start("[api]\nmax_body_bytes = 2048\nrequests_per_minute = 60\n");
    let key = api.key("agent", "read,stage", &[]);
    let mut big = email();
    big["bodyText"] = json!("x".repeat(4096));
    let r = api.post("/api/v1/email/stage", &key, big).send().unwrap();
    assert_eq!(envelope(r, 413)["code"], "payload_too_large");

    let r = api
        .get("/api/v1/status", Some(&key))
        .header("x-padding", "y".repeat(20_000))
        .send()
        .unwrap();
    assert_eq!(envelope(r, 431)["code"], "payload_too_large");

    // 60 a minute with a burst of 6: the burst passes, then 429 with Retry-After.
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let r = api.get("/api/v1/status", Some(&key)).send().unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = r.json().unwrap();
            assert_eq!(body["code"], "rate_limited");
            assert!(body["details"]["retryAfterMs"].as_u64().unwrap() > 0);
        }
    }
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 4,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Another key has its own budget.
    let other = api.key("other", "read", &[]);
    assert_eq!(
        api.get("/api/v1/status", Some(&other))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn foreign_host_or_origin_is_refused_and_changes_nothing() {
    let api = Api::start("");
    let key = api.key("agent", "read,stage", &[]);
    for (name, value) in [
        ("host", "evil.example"),
        ("host", "evil.example:3002"),
        ("origin", "http://evil.example"),
        ("origin", "null"),
    ] {
        let r = api
            .post("/api/v1/email/stage", &key, email())
            .header(name, value)
            .send()
            .unwrap();
        let body = envelope(r, 403);
        assert_eq!(body["code"], "permission_denied", "{name}: {value}");
    }
    assert!(api.items(&key).is_empty(), "nothing was staged");
    let local = api
        .post("/api/v1/email/stage", &key, email())
        .header("origin", "http://127.0.0.1:1234")
        .send()
        .unwrap();
    assert_eq!(local.status(), 201);
    // No CORS: no preflight answer, no Access-Control headers.
    let preflight = api
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/email/stage", api.url),
        )
        .send()
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(preflight.status(), 405);
}

#[test]
fn request_ids_are_echoed_or_made() {
    let api = Api::start("");
    let key = api.key("agent", "read", &[]);
    let r = api
        .get("/api/v1/status", Some(&key))
        .header("x-request-id", "trace-42")
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    let r = api
        .get("/api/v1/status", Some(&key))
        .header("x-request-id", "bad id with spaces")
        .send()
        .unwrap();
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[test]
fn openapi_document_covers_every_route() {
    let api = Api::start("");
    let key = api.key("admin", "read,draft,stage,send,admin", &[]);
    let doc: Value = api
        .get("/api/v1/openapi.json", Some(&key))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("get", "/api/v1/status"),
        ("get", "/api/v1/accounts"),
        ("post", "/api/v1/accounts/google"),
        ("get", "/api/v1/accounts/google/flows/{flowId}"),
        ("patch", "/api/v1/accounts/{accountId}"),
        ("delete", "/api/v1/accounts/{accountId}"),
        ("get", "/api/v1/google/client"),
        ("get", "/api/v1/gmail/{accountId}/messages"),
        ("get", "/api/v1/gmail/{accountId}/messages/{messageId}"),
        ("get", "/api/v1/gmail/{accountId}/threads/{threadId}"),
        (
            "post",
            "/api/v1/gmail/{accountId}/messages/{messageId}/attachments/{attachmentId}",
        ),
        ("post", "/api/v1/gmail/{accountId}/drafts"),
        ("put", "/api/v1/gmail/{accountId}/drafts/{draftId}"),
        ("post", "/api/v1/gmail/{accountId}/drafts/{draftId}/send"),
        (
            "post",
            "/api/v1/gmail/{accountId}/messages/{messageId}/reply",
        ),
        ("post", "/api/v1/gmail/{accountId}/messages/modify"),
        ("post", "/api/v1/email/stage"),
        ("post", "/api/v1/email/send"),
        ("post", "/api/v1/sms/stage"),
        ("post", "/api/v1/sms/send"),
        ("post", "/api/v1/chat/stage"),
        ("post", "/api/v1/chat/send"),
        ("get", "/api/v1/chat/spaces"),
        ("get", "/api/v1/chat/messages"),
        ("get", "/api/v1/contacts"),
        ("post", "/api/v1/contacts"),
        ("put", "/api/v1/contacts/{id}"),
        ("delete", "/api/v1/contacts/{id}"),
        ("get", "/api/v1/contacts/resolve"),
        ("get", "/api/v1/email/inbox"),
        ("get", "/api/v1/email/read/{messageId}"),
        ("post", "/api/v1/sandbox/receive"),
        ("get", "/api/v1/sms/inbox"),
        ("get", "/api/v1/sms/threads/{number}"),
        ("get", "/api/v1/inbox"),
        ("get", "/api/v1/inbox/search"),
        ("post", "/api/v1/inbox/reply"),
        ("get", "/api/v1/staged"),
        ("get", "/api/v1/staged/{id}"),
        ("post", "/api/v1/staged/{id}/approve"),
        ("post", "/api/v1/staged/{id}/reject"),
        ("post", "/api/v1/staged/{id}/cancel"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/openapi.json"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    // And every documented operation is served (none answers 404 "no such route").
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "the document has operations this test does not know"
    );
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let path = path
                .replace("{id}", "ob_0000000000")
                .replace("{account}", "nobody@example.org")
                .replace("{accountId}", "nobody@example.org")
                .replace("{messageId}", "m123")
                .replace("{threadId}", "t123")
                .replace("{flowId}", "no-such-flow")
                .replace("{draftId}", "r123")
                .replace("{attachmentId}", "att0");
            let url = format!("{}{}", api.url, path);
            let request = match method.as_str() {
                "get" => api.http.get(&url),
                "delete" => api.http.delete(&url),
                "patch" => api.http.patch(&url).json(&json!({})),
                "put" => api.http.put(&url).json(&json!({})),
                _ => api.http.post(&url).json(&json!({})),
            };
            let r = request.bearer_auth(&key).send().unwrap();
            if r.status() == 404 {
                let body: Value = r.json().unwrap();
                assert_ne!(
                    body["message"], "no such route; see /api/v1/openapi.json",
                    "{method} {path} is documented but not served"
                );
            }
        }
    }
    let accounts: Value = api
        .get("/api/v1/accounts", Some(&key))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(accounts["accounts"][0]["accountId"], "sandbox");
}

#[test]
fn keys_cli_shows_the_token_once_and_warns_before_expiry() {
    let api = Api::start("");
    let created = api
        .env
        .commsctl(&["keys", "create", "gemini-cli", "--grants", "read,stage"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let token = created
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("cmsd_"))
        .unwrap()
        .to_owned();
    assert!(created.stdout.contains("only time the key is shown"));
    let list = api.env.commsctl(&["keys", "list", "--json"]);
    assert!(
        !list.stdout.contains(&token[14..]),
        "list never shows the secret"
    );
    let keys: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(keys[0]["grants"], json!(["read", "stage"]));
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(
        api.get("/api/v1/status", Some(&token))
            .send()
            .unwrap()
            .status(),
        200
    );
    let used: Value =
        serde_json::from_str(&api.env.commsctl(&["keys", "list", "--json"]).stdout).unwrap();
    assert!(used[0]["last_used_at"].is_string());

    let rotated = api
        .env
        .commsctl(&["keys", "rotate", "gemini-cli", "--json"]);
    let new_token = serde_json::from_str::<Value>(&rotated.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.get("/api/v1/status", Some(&token))
            .send()
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        api.get("/api/v1/status", Some(&new_token))
            .send()
            .unwrap()
            .status(),
        200
    );

    let bad = api
        .env
        .commsctl(&["keys", "create", "x", "--grants", "read,root"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("grants:") && bad.stderr.contains("root"),
        "{}",
        bad.stderr
    );

    api.key("soon", "read", &["--expires", "3d"]);
    let status = api.env.commsctl(&["status"]);
    assert!(
        status
            .stdout
            .contains("warning    API key soon expires in 2 days"),
        "{}",
        status.stdout
    );
    let json: Value = api
        .get("/api/v1/status", Some(&new_token))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn agents_attach_only_from_the_configured_directories() {
    let outgoing = tempfile::tempdir().unwrap();
    let letter = outgoing.path().join("directions.pdf");
    std::fs::write(&letter, b"%PDF-1.4 directions").unwrap();
    let api = Api::start(&format!(
        "[outbox]\nattachment_dirs = [\"{}\"]\n",
        outgoing.path().display()
    ));
    let agent = api.key("agent", "read,stage", &[]);
    let mut body = email();
    // A file the daemon can read but an agent has no business mailing out.
    let secret = api.env.root.path().join("id_ed25519");
    std::fs::write(&secret, b"PRIVATE KEY").unwrap();
    body["attachments"] = json!([secret.display().to_string()]);
    let refused = api
        .post("/api/v1/email/stage", &agent, body.clone())
        .send()
        .unwrap();
    let err = envelope(refused, 403);
    assert_eq!(err["details"]["field"], "attachments[0]", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("attachment_dirs"),
        "{err}"
    );
    assert!(api.items(&agent).is_empty());

    // A symbolic link inside the directory is refused by name, wherever it
    // points: the file is opened without following links, so a link swapped
    // between the check and the copy cannot smuggle the secret out.
    let link = outgoing.path().join("scan.pdf");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    body["attachments"] = json!([link.display().to_string()]);
    let refused = api
        .post("/api/v1/email/stage", &agent, body.clone())
        .send()
        .unwrap();
    let err = envelope(refused, 403);
    assert_eq!(err["details"]["field"], "attachments[0]", "{err}");
    assert_eq!(
        err["message"],
        format!(
            "attachments[0]: {} is a symbolic link or passes through one; agents may attach \
             only files inside [outbox] attachment_dirs, named without symbolic links",
            link.display()
        ),
        "{err}"
    );
    assert!(api.items(&agent).is_empty());

    body["attachments"] = json!([letter.display().to_string()]);
    let ok = api
        .post("/api/v1/email/stage", &agent, body)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 201);
    let item: Value = ok.json().unwrap();
    assert_eq!(
        item["content"]["attachments"][0]["filename"],
        "directions.pdf"
    );
}

/// Clients that hang up right after their stage request reached the daemon:
/// every item that was stored is counted, listed and announced, exactly as
/// if the client had waited for the answer.
#[test]
fn stage_requests_whose_clients_hang_up_are_counted_listed_and_announced() {
    use std::io::Write as _;
    let api = Api::start("");
    let agent = api.key("hangs-up", "read,stage", &[]);
    let human = api.key("human", "read,admin", &[]);
    // Warm the cached queue page, so a stale cache would show.
    assert!(api.items(&human).is_empty());
    let events = api
        .env
        .commsctl_command(&["events", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        api.env.status_json()["counts"]["event_subscribers"] == 1
    }));

    let addr = api.url.trim_start_matches("http://").to_owned();
    let body = json!({ "to": "+14155550100", "body": "Reminder: tomorrow 9:00" }).to_string();
    let request = format!(
        "POST /api/v1/sms/stage HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {agent}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // 20 at once, closed as soon as the request is written; then 20 more,
    // each closed a little later than the one before, to land the hang-up at
    // different points of the request's work.
    let mut streams: Vec<_> = (0..20)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    for s in &mut streams {
        s.write_all(request.as_bytes()).unwrap();
    }
    drop(streams);
    for i in 0..20u64 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_micros(i * 150));
        drop(s);
    }

    // Whatever was stored (any number up to 40) is what status counts, the
    // queue lists and the event stream announced.
    let db = rusqlite::Connection::open(api.env.data.join("commsd.db")).unwrap();
    let stored = || -> u64 {
        db.query_row("SELECT count(*) FROM outbox_items", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as u64
    };
    // Settled: the count stops moving.
    let mut last = u64::MAX;
    assert!(eventually(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(200));
        let now = stored();
        let settled = now == last;
        last = now;
        settled
    }));
    let stored = stored();
    assert!(
        stored > 0,
        "no request reached the daemon; the test proves nothing"
    );
    let status = api.env.status_json();
    assert_eq!(
        status["counts"]["outbox_pending_approval"]
            .as_u64()
            .unwrap_or(0),
        stored,
        "status counts: {}",
        status["counts"]
    );
    let listed = api
        .get("/api/v1/staged?limit=100", Some(&human))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(listed, stored, "the cached queue page is stale");

    api.env.commsctl(&["daemon", "stop"]);
    let out = events.wait_with_output().unwrap();
    let announced = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("pending_approval"))
        .count() as u64;
    assert_eq!(announced, stored, "events announced for stored items");
}

#[test]
fn at_trace_the_api_and_mcp_over_http_log_no_key_and_no_body() {
    let api = Api::start_with("", true);
    let key = api.key("agent", "read,stage", &[]);
    let body = "Dear Jane, your HbA1c is 6.1 %, nothing to worry about.";
    let subject = "Your lab values";
    let mut email = email();
    email["subject"] = json!(subject);
    email["bodyText"] = json!(body);
    let staged = api
        .post("/api/v1/email/stage", &key, email.clone())
        .send()
        .unwrap();
    assert_eq!(staged.status(), 201);
    assert!(api.items(&key)[0].to_string().contains(body));
    // A wrong key is audited and refused; the presented secret is not logged.
    // One character changed, never to itself (1 key in 32 ends in x).
    let wrong = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('x') { 'y' } else { 'x' }
    );
    let refused = api.get("/api/v1/staged", Some(&wrong)).send().unwrap();
    assert_eq!(refused.status(), 401);

    // The same through /mcp, where rmcp traces each tools/call with its arguments.
    let mcp = |id: u64, method: &str, params: Value| {
        api.http
            .post(format!("{}/mcp", api.url))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .send()
            .unwrap()
    };
    let init = mcp(
        1,
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": { "name": "trace-test", "version": "1" } }),
    );
    assert_eq!(init.status(), 200);
    let mcp_body = "Dear Joe, your X-ray shows a healed fracture.";
    let called = mcp(
        2,
        "tools/call",
        json!({ "name": "email_stage", "arguments": {
            "to": ["joe@example.org"], "subject": "X-ray", "bodyText": mcp_body } }),
    );
    assert_eq!(called.status(), 200);
    let called: Value = called.json().unwrap();
    assert_eq!(called["result"]["isError"], false, "{called}");
    let listed: Value = mcp(
        3,
        "tools/call",
        json!({ "name": "outbox_list", "arguments": {} }),
    )
    .json()
    .unwrap();
    assert!(listed.to_string().contains("X-ray"), "{listed}");

    crate::harness::assert_log_holds_no_secret(
        &api.env.log_path(),
        "api request",
        &[
            ("API key", &key),
            ("API key's secret", key.rsplit('_').next().unwrap()),
            ("wrong API key", &wrong),
            ("message body", body),
            ("subject", subject),
            ("message body sent through /mcp", mcp_body),
        ],
    );
}

/// The default log (`info`) has one line per `/mcp` request, commsd's own:
/// the JSON-RPC method, the tool, the caller, the outcome and the time it
/// took; rmcp's own lines are not there, nor arguments or results.
#[test]
fn the_default_log_has_one_line_per_mcp_request_and_no_content() {
    let api = Api::start_logging("", Some("info"));
    let key = api.key("agent", "read,stage", &[]);
    let mcp = |id: u64, method: &str, params: Value| {
        api.http
            .post(format!("{}/mcp", api.url))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("x-request-id", format!("mcp-log-{id}"))
            .json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .send()
            .unwrap()
    };
    let init = mcp(
        1,
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": { "name": "log-test", "version": "1" } }),
    );
    assert_eq!(init.status(), 200);
    let body = "Dear Joe, the cast comes off on Friday.";
    let called: Value = mcp(
        2,
        "tools/call",
        json!({ "name": "email_stage", "arguments": {
            "to": "joe@example.org", "subject": "Cast", "bodyText": body } }),
    )
    .json()
    .unwrap();
    assert_eq!(called["result"]["isError"], false, "{called}");
    let refused: Value = mcp(
        3,
        "tools/call",
        json!({ "name": "outbox_get", "arguments": { "itemId": "ob_nonexistent" } }),
    )
    .json()
    .unwrap();
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let unknown: Value = mcp(4, "tools/call", json!({ "name": "no_such_tool" }))
        .json()
        .unwrap();
    assert!(unknown["error"].is_object(), "{unknown}");
    assert_eq!(mcp(5, "tools/list", json!({})).status(), 200);

    let log = std::fs::read_to_string(api.env.log_path()).unwrap();
    let line = |id: u64| {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("mcp-log-{id}")))
            .collect();
        assert_eq!(lines.len(), 1, "one line for request {id}:\n{log}");
        lines[0].to_owned()
    };
    let l = line(1);
    assert!(
        l.contains("rpc_method=\"initialize\"") && l.contains("outcome=\"ok\""),
        "{l}"
    );
    let l = line(2);
    for part in [
        "rpc_method=\"tools/call\"",
        "tool=\"email_stage\"",
        "actor=\"key:agent\"",
        "outcome=\"ok\"",
        "elapsed_ms=",
        "status=200",
    ] {
        assert!(l.contains(part), "{part} in {l}");
    }
    assert!(
        line(3).contains("outcome=\"tool_error:not_found\""),
        "{log}"
    );
    assert!(line(4).contains("outcome=\"rpc_error:-32602\""), "{log}");
    assert!(line(5).contains("rpc_method=\"tools/list\""), "{log}");
    // Only commsd's own line: rmcp says nothing at the default level.
    assert!(!log.contains("rmcp"), "{log}");
    for secret in [body, "Cast", "joe@example.org", &key] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

#[test]
fn the_insecure_protocol_log_opt_in_says_so_at_start_up_and_logs_what_it_warned_of() {
    let env = Env::new();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_LOG_PROTOCOL_INSECURE", "1");
    let _daemon = env.spawn_traced(cmd);
    let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let log = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        log.contains(
            "commsd: WARNING: COMMSD_LOG_PROTOCOL_INSECURE=1: third-party protocol tracing is \
             not filtered; passwords, OAuth tokens, API keys and message bodies WILL be written \
             to this log."
        ),
        "{log}"
    );
    // rmcp's tracing now comes through, arguments and all.
    let run = env.commsctl(&["keys", "create", "agent", "--grants", "stage", "--json"]);
    let key = serde_json::from_str::<Value>(&run.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = Client::new()
        .post(format!("{url}/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(
            &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": { "name": "insecure-client-name", "version": "1" } } }),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("serve_inner") && l.contains("insecure-client-name")),
        "rmcp's trace of the request is missing:\n{log}"
    );
}
