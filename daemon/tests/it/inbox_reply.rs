//! Replying from the inbox, and one conversation by `threadId`: the reply is
//! staged like any message (to the sender, in the thread), waits for a
//! human, and is the same from REST, the `inbox_reply` tool, `commsctl inbox
//! reply` and the dashboard's Reply button. Refusals name the field and
//! store nothing.

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Env, PORT_ZERO_CONFIG, eventually};
use crate::inbox::{Api, CONFIG, ids, key};

/// How many items the outbox holds (any state).
fn outbox_len(env: &Env) -> usize {
    let run = env.commsctl(&["outbox", "list", "--limit", "500", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["items"].as_array().map_or(0, Vec::len)
}

fn item(env: &Env, id: &str) -> Value {
    let run = env.commsctl(&["outbox", "show", id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn replies_from_the_inbox_are_staged_for_approval_from_every_frontend() {
    let env = Env::new();
    std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}{CONFIG}")).unwrap();
    let _daemon = env.spawn_traced(env.commsd());
    let api = Api::new(&env);
    let admin = key(&env, "tester", "admin,read");
    let agent = key(&env, "agent", "read,stage");
    let reader = key(&env, "reader", "read");

    let mut delivered = Vec::new();
    for body in [
        json!({ "channel": "email", "from": "Zoë Müller <zoe@example.de>", "subject": "Appointment", "body": "Can we move it?" }),
        json!({ "channel": "sms", "from": "+14155550123", "body": "Can I come at 11 instead?" }),
        json!({ "channel": "chat", "from": "Front Desk", "space": "spaces/team", "body": "Is the 10:00 patient here?" }),
        json!({ "channel": "chat", "from": "Dr Lee", "space": "spaces/team", "body": "Room 2 please" }),
        json!({ "channel": "chat", "from": "Billing", "space": "spaces/billing", "body": "Invoices are out" }),
    ] {
        let (status, receipt) = api.post("/api/v1/sandbox/receive", &admin, body);
        assert_eq!(status, 201, "{receipt}");
        delivered.push(receipt["id"].as_str().unwrap().to_owned());
    }
    let [email, sms, chat1, chat2, _billing] = [
        &*delivered[0],
        &*delivered[1],
        &*delivered[2],
        &*delivered[3],
        &*delivered[4],
    ];
    assert!(eventually(Duration::from_secs(10), || {
        api.get("/api/v1/inbox", &agent).1["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 5)
    }));

    // One conversation: the thread filter on listing, search, the tool and the CLI.
    let (status, page) = api.get(
        "/api/v1/inbox?accountId=sandbox&threadId=spaces%2Fteam",
        &agent,
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [chat2, chat1], "{page}");
    let (_, page) = api.get("/api/v1/inbox/search?q=room&threadId=spaces%2Fteam", &agent);
    assert_eq!(ids(&page), [chat2], "{page}");
    let page = api.tool(
        &agent,
        "inbox_list",
        json!({ "threadId": "spaces/billing" }),
    );
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "{page}");
    let run = env.commsctl(&["inbox", "--thread", "spaces/team", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        ids(&serde_json::from_str(&run.stdout).unwrap()),
        [chat2, chat1]
    );
    let (status, e) = api.get("/api/v1/inbox?threadId=%0A", &agent);
    assert_eq!(
        (status, &e["details"]["field"]),
        (400, &json!("threadId")),
        "{e}"
    );

    // Refusals name the field, and nothing is stored.
    let before = outbox_len(&env);
    for (body, status, field) in [
        (
            json!({ "accountId": "sandbox", "channel": "sms", "id": "nope", "text": "Hi" }),
            404,
            "id",
        ),
        (
            json!({ "accountId": "sandbox", "channel": "fax", "id": sms, "text": "Hi" }),
            400,
            "channel",
        ),
        (
            json!({ "accountId": "sandbox", "channel": "sms", "id": sms, "text": "  " }),
            400,
            "text",
        ),
        (
            json!({ "accountId": "sandbox", "channel": "email", "id": sms, "text": "Hi" }),
            404,
            "id",
        ),
    ] {
        let (got, e) = api.post("/api/v1/inbox/reply", &agent, body.clone());
        assert_eq!(got, status, "{body}: {e}");
        assert_eq!(e["details"]["field"], field, "{body}: {e}");
    }
    let (got, e) = api.post(
        "/api/v1/inbox/reply",
        &agent,
        json!({ "accountId": "nobody", "channel": "sms", "id": sms, "text": "Hi" }),
    );
    assert_eq!((got, &e["code"]), (404, &json!("account_not_found")), "{e}");
    let (got, e) = api.post(
        "/api/v1/inbox/reply",
        &agent,
        json!({ "accountId": "sandbox", "channel": "sms", "id": sms, "text": "Hi", "extra": 1 }),
    );
    assert_eq!(got, 400, "{e}");
    let (got, e) = api.post(
        "/api/v1/inbox/reply",
        &reader,
        json!({ "accountId": "sandbox", "channel": "sms", "id": sms, "text": "Hi" }),
    );
    assert_eq!(got, 403, "a read-only key cannot stage: {e}");
    assert_eq!(outbox_len(&env), before, "nothing stored by a refusal");

    // REST: an SMS reply to the number that wrote, waiting for a human;
    // the same clientRequestId returns the same item.
    let body = json!({ "accountId": "sandbox", "channel": "sms", "id": sms,
                       "text": "Yes, 11 is fine", "clientRequestId": "reply-1" });
    let (status, staged) = api.post("/api/v1/inbox/reply", &agent, body.clone());
    assert_eq!(status, 201, "{staged}");
    let id = staged["id"].as_str().unwrap().to_owned();
    assert_eq!(staged["state"], "pending_approval", "{staged}");
    let shown = item(&env, &id);
    let text = shown.to_string();
    assert!(
        text.contains("+14155550123") && text.contains("Yes, 11 is fine"),
        "{shown}"
    );
    let (status, again) = api.post("/api/v1/inbox/reply", &agent, body);
    assert_eq!((status, &again["id"]), (200, &json!(id)), "{again}");

    // The tool: an email reply to the sender with one Re:, approval asked for.
    let staged = api.tool(
        &agent,
        "inbox_reply",
        json!({ "accountId": "sandbox", "channel": "email", "id": email, "text": "Thursday works" }),
    );
    let email_item = staged["item"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{staged}"));
    assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
    let shown = item(&env, email_item).to_string();
    assert!(
        shown.contains("Re: Appointment") && shown.contains("zoe@example.de"),
        "{shown}"
    );

    // The CLI: a chat reply in the same space.
    let run = env.commsctl(&[
        "inbox",
        "reply",
        "--account",
        "sandbox",
        "--channel",
        "chat",
        "--id",
        chat1,
        "--text",
        "On my way",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let staged: Value = serde_json::from_str(&run.stdout).unwrap();
    let chat_item = staged["item"]["id"].as_str().unwrap();
    assert!(item(&env, chat_item).to_string().contains("spaces/team"));

    // The dashboard's Reply button: signed in, with the CSRF token.
    let login: Value = serde_json::from_str(
        &env.commsctl(&["dashboard", "--no-browser", "--json"])
            .stdout,
    )
    .unwrap();
    let url = login["url"].as_str().unwrap();
    let base = url.split("/login").next().unwrap();
    let browser = Client::builder().cookie_store(true).build().unwrap();
    assert!(browser.get(url).send().unwrap().status().is_success());
    let session: Value = browser
        .get(format!("{base}/dashboard/api/session"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let csrf = session["csrfToken"].as_str().unwrap();
    let reply = |token: &str| {
        browser
            .post(format!("{base}/dashboard/api/inbox/reply"))
            .header("origin", base)
            .header("x-csrf-token", token)
            .json(&json!({ "accountId": "sandbox", "channel": "chat", "id": chat2, "text": "Room 2 it is" }))
            .send()
            .unwrap()
    };
    assert_eq!(reply("wrong").status(), 403, "the CSRF token is required");
    let r = reply(csrf);
    assert_eq!(r.status(), 200);
    let staged: Value = r.json().unwrap();
    assert_eq!(staged["state"], "pending_approval", "{staged}");
    assert_eq!(staged["channel"], "chat", "{staged}");
    let page: Value = browser
        .get(format!(
            "{base}/dashboard/api/inbox?accountId=sandbox&threadId=spaces%2Fteam"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&page), [chat2, chat1], "{page}");
    let html = browser
        .get(format!(
            "{base}/inbox/conversation?accountId=sandbox&threadId=spaces%2Fteam"
        ))
        .send()
        .unwrap();
    assert!(html.status().is_success());
    assert_eq!(outbox_len(&env), before + 4, "four replies, each once");
}
