//! Every tool of the catalog, called through a real MCP client (rmcp,
//! spawning the real `comms-mcp` over stdio) with the contract's argument
//! names, its structured result checked against the outputSchema the same
//! listing advertises (the `jsonschema` crate, JSON Schema 2020-12), and
//! its one text block the same JSON. Gmail tools run against the Google
//! fake, the email tools against the sandbox's inbox.

use std::collections::BTreeSet;

use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::gmail_daemon::{ADA, mail, setup_apis};
use crate::google_fake::chat::ChatFake;
use crate::harness::binary;

const ALL_TOOLSETS: &str = "[mcp]\ntoolsets = [\"accounts\", \"gmail_read\", \"gmail_compose\", \"gmail_modify\", \"email\", \"outbox\", \"chat\", \"sms\", \"contacts\", \"inbox\"]\n";

struct Client {
    service: RunningService<RoleClient, ()>,
    tools: Vec<Tool>,
    called: BTreeSet<String>,
}

impl Client {
    /// Calls `name` with `args`; checks the result against the tool's
    /// outputSchema and that the text block carries the same JSON.
    async fn call(&mut self, name: &str, args: Value) -> Value {
        let (structured, is_error) = self.run(name, args.clone()).await;
        assert!(!is_error, "{name} {args}: {structured:#}");
        self.check_schema(name, &structured);
        structured
    }

    /// Calls `name`, which must be refused: the error envelope, as
    /// structuredContent and text alike.
    async fn refused(&mut self, name: &str, args: Value) -> Value {
        let (structured, is_error) = self.run(name, args.clone()).await;
        assert!(is_error, "{name} {args} was not refused: {structured:#}");
        assert!(structured["code"].is_string(), "{name}: {structured:#}");
        structured
    }

    async fn run(&mut self, name: &str, args: Value) -> (Value, bool) {
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = args.as_object().cloned();
        let result: CallToolResult = self
            .service
            .call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let structured = result
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{name}: no structuredContent: {result:?}"));
        assert_eq!(result.content.len(), 1, "{name}: one text block");
        let text = &result.content[0].as_text().expect("a text block").text;
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            structured,
            "{name}"
        );
        self.called.insert(name.to_owned());
        (structured, result.is_error == Some(true))
    }

    fn check_schema(&self, name: &str, structured: &Value) {
        let tool = self
            .tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is not listed"));
        let schema = Value::Object(
            tool.output_schema
                .as_deref()
                .cloned()
                .unwrap_or_else(|| panic!("{name} has no outputSchema")),
        );
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{name}: the outputSchema is not valid JSON Schema: {e}"));
        let problems: Vec<String> = validator
            .iter_errors(structured)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "{name}: the result does not match the outputSchema:\n{}\n{structured:#}",
            problems.join("\n")
        );
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

#[test]
fn every_tool_answers_with_the_contract_names_and_its_output_schema() {
    // Chat's fake starts on the runtime the Gmail fake runs on.
    let chat = std::sync::OnceLock::new();
    let setup = setup_apis(
        &["--tier", "3", "--with", "chat"],
        ALL_TOOLSETS,
        |rt, oauth| {
            let fake = rt.block_on(ChatFake::start());
            fake.trust_introspection(
                &format!("{}/token/introspection", oauth.base),
                "imap-rs",
                "imap-rs-secret",
            );
            fake.add_space("spaces/FRONTDESK", "Front desk");
            let apis = format!("chat = \"{}\"\n", fake.base);
            chat.set(fake).ok();
            apis
        },
    );
    let chat = chat.into_inner().unwrap();
    let chat_message = chat.post(
        "spaces/FRONTDESK",
        "bob@practice.example",
        "Is the 10:00 patient here?",
        None,
    );
    let account = setup.account_id.clone();
    let (m1, t1) = setup.fake.deliver(
        ADA,
        &mail(
            "Jane Roe <jane@example.org>",
            "Appointment on Tuesday",
            "Tue, 17 Nov 2026 09:30:00 +0000",
            "Dear Dr. Roe,\n\ncan we move my appointment to 10:00?\n\nJane",
            "<appt-1@example.org>",
        ),
        &[],
    );
    let (m2, _) = setup.fake.deliver(
        ADA,
        format!(
            "From: Lab <lab@example.org>\r\nTo: {ADA}\r\nSubject: Results\r\nDate: Wed, 18 Nov 2026 14:05:00 +0000\r\nMessage-ID: <lab-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe results are attached.\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"results.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--b1--\r\n"
        )
        .as_bytes(),
        &["INBOX"],
    );
    // Mail in the sandbox's inbox, for the email tools.
    let received = setup.env.commsctl(&[
        "sandbox",
        "receive",
        "email",
        "--from",
        "Ann Example <ann@example.org>",
        "--subject",
        "Lab results",
        "--body",
        "Your HbA1c is fine.",
    ]);
    assert_eq!(received.code, 0, "{}", received.stderr);
    let texted = setup.env.commsctl(&[
        "sandbox",
        "receive",
        "sms",
        "--from",
        "+14155550123",
        "--body",
        "Can I come at 11 instead?",
    ]);
    assert_eq!(texted.code, 0, "{}", texted.stderr);

    let mut command = tokio::process::Command::new(binary("comms-mcp"));
    command
        .env_clear()
        .env("HOME", &setup.env.home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COMMSD_SOCKET", &setup.env.socket)
        .env("COMMSD_CONFIG", &setup.env.config)
        .stderr(std::process::Stdio::null());
    setup.rt.block_on(async {
        let service =
            ().serve(TokioChildProcess::new(command).unwrap())
                .await
                .expect("comms-mcp answers initialize");
        let tools = service.list_all_tools().await.unwrap();
        let mut c = Client {
            service,
            tools,
            called: BTreeSet::new(),
        };

        // Accounts.
        let listed = c.call("google_list_accounts", json!({})).await;
        assert_eq!(listed["accounts"][0]["accountId"], account.as_str());
        assert_eq!(listed["accounts"][0]["email"], ADA);
        c.call(
            "google_set_account_labels",
            json!({ "accountId": account, "labels": ["clinic"] }),
        )
        .await;
        let flow = c
            .call(
                "google_add_account",
                json!({ "label": "second", "scopesTier": 1 }),
            )
            .await;
        assert!(
            flow["authUrl"].is_string() && flow["flowId"].is_string(),
            "{flow}"
        );

        // Gmail reads.
        let found = c
            .call(
                "gmail_search_messages",
                json!({ "accountId": account, "query": "in:inbox", "maxResults": 10 }),
            )
            .await;
        let ids: Vec<&str> = found["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&m1.as_str()), "{found}");
        let message = c
            .call(
                "gmail_get_message",
                json!({ "accountId": account, "messageId": m1, "format": "full" }),
            )
            .await;
        assert_eq!(message["threadId"], t1.as_str(), "{message}");
        assert!(message["bodyText"].as_str().unwrap().contains("10:00"));
        assert_eq!(message["headers"]["Subject"], "Appointment on Tuesday");
        c.call(
            "gmail_get_messages_batch",
            json!({ "accountId": account, "messageIds": [m1, m2], "format": "metadata" }),
        )
        .await;
        let thread = c
            .call(
                "gmail_get_thread",
                json!({ "accountId": account, "threadId": t1 }),
            )
            .await;
        assert_eq!(thread["threadId"], t1.as_str());
        let lab = c
            .call(
                "gmail_get_message",
                json!({ "accountId": account, "messageId": m2 }),
            )
            .await;
        let attachment_id = s(&lab, "/attachments/0/attachmentId").to_owned();
        c.call(
            "gmail_get_attachment",
            json!({ "accountId": account, "messageId": m2, "attachmentId": attachment_id }),
        )
        .await;

        // Gmail drafts and gated sends.
        let draft = c
            .call(
                "gmail_create_draft",
                json!({ "accountId": account, "to": ["jane@example.org"], "subject": "Tuesday",
                        "bodyText": "Dear Jane, 10:00 works." }),
            )
            .await;
        let draft_id = s(&draft, "/draftId").to_owned();
        c.call(
            "gmail_update_draft",
            json!({ "accountId": account, "draftId": draft_id,
                    "patch": { "subject": "Tuesday at 10:00" } }),
        )
        .await;
        let staged = c
            .call(
                "gmail_send_draft",
                json!({ "accountId": account, "draftId": draft_id }),
            )
            .await;
        assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
        assert!(staged["reviewUrl"].is_string(), "{staged}");
        c.call(
            "gmail_reply_in_thread",
            json!({ "accountId": account, "threadId": t1, "replyToMessageId": m1,
                    "bodyText": "See you then." }),
        )
        .await;

        // Gmail labels.
        c.call(
            "gmail_modify_labels",
            json!({ "accountId": account, "messageIds": [m2], "addLabelIds": ["STARRED"] }),
        )
        .await;
        c.call(
            "gmail_mark_read_unread",
            json!({ "accountId": account, "messageIds": [m2], "read": true }),
        )
        .await;
        c.call(
            "gmail_archive",
            json!({ "accountId": account, "messageIds": [m2] }),
        )
        .await;

        // The email tools on the sandbox's inbox.
        let inbox = c
            .call(
                "email_list_messages",
                json!({ "accountId": "sandbox", "limit": 5 }),
            )
            .await;
        let sandbox_id = s(&inbox, "/messages/0/id").to_owned();
        c.call(
            "email_search_messages",
            json!({ "accountId": "sandbox", "text": "HbA1c", "unread": true }),
        )
        .await;
        let read = c
            .call(
                "email_get_message",
                json!({ "accountId": "sandbox", "messageId": sandbox_id, "maxChars": 500 }),
            )
            .await;
        assert!(read.to_string().contains("HbA1c"), "{read}");
        c.call(
            "email_mark_read_unread",
            json!({ "accountId": "sandbox", "messageIds": [sandbox_id], "read": true }),
        )
        .await;
        c.call(
            "email_move",
            json!({ "accountId": "sandbox", "messageId": sandbox_id, "destination": "archive" }),
        )
        .await;

        // Chat.
        let spaces = c
            .call(
                "chat_list_spaces",
                json!({ "accountId": account, "limit": 10 }),
            )
            .await;
        assert_eq!(spaces["spaces"][0]["name"], "spaces/FRONTDESK", "{spaces}");
        let messages = c
            .call(
                "chat_list_messages",
                json!({ "accountId": account, "space": "spaces/FRONTDESK", "limit": 10 }),
            )
            .await;
        assert_eq!(
            messages["messages"][0]["id"],
            chat_message.as_str(),
            "{messages}"
        );
        let one = c
            .call(
                "chat_get_message",
                json!({ "accountId": account, "messageId": chat_message }),
            )
            .await;
        assert_eq!(one["text"], "Is the 10:00 patient here?", "{one}");

        // SMS, on the sandbox's inbox.
        let texts = c
            .call(
                "sms_list_messages",
                json!({ "accountId": "sandbox", "number": "+14155550123", "limit": 5 }),
            )
            .await;
        assert_eq!(
            texts["messages"][0]["body"], "Can I come at 11 instead?",
            "{texts}"
        );
        let thread_id = s(&texts, "/messages/0/threadId").to_owned();
        let thread = c
            .call(
                "sms_get_thread",
                json!({ "accountId": "sandbox", "threadId": thread_id }),
            )
            .await;
        assert!(thread.to_string().contains("11 instead"), "{thread}");

        // The unified inbox, fed by the sandbox (indexed as it arrives).
        let mut found = Value::Null;
        for _ in 0..50 {
            found = c
                .call(
                    "inbox_search",
                    json!({ "query": "11 instead", "channel": "sms", "limit": 5 }),
                )
                .await;
            if found["messages"].as_array().is_some_and(|m| !m.is_empty()) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(found["messages"][0]["accountId"], "sandbox", "{found}");
        assert_eq!(found["untrusted"], true, "{found}");
        let listed = c
            .call("inbox_list", json!({ "accountId": "sandbox", "limit": 50 }))
            .await;
        assert!(listed.to_string().contains("11 instead"), "{listed}");
        let id = s(&found, "/messages/0/id").to_owned();
        let reply = c
            .call(
                "inbox_reply",
                json!({ "accountId": "sandbox", "channel": "sms", "id": id, "text": "11 is fine" }),
            )
            .await;
        assert!(reply["item"]["id"].is_string(), "{reply}");
        assert_eq!(reply["item"]["channel"], "sms", "{reply}");
        // Contacts, on the sandbox's address book.
        let found = c
            .call("contacts_search", json!({ "query": "jose muller", "accountId": "sandbox" }))
            .await;
        assert_eq!(found["people"][0]["name"], "José Müller", "{found}");
        let person = s(&found, "/people/0/id").to_owned();
        let got = c.call("contacts_get", json!({ "personId": person })).await;
        assert_eq!(got["id"], person.as_str(), "{got}");
        let listed = c
            .call("contacts_list", json!({ "accountId": "sandbox", "limit": 2 }))
            .await;
        assert_eq!(listed["people"].as_array().unwrap().len(), 2, "{listed}");
        let resolved = c
            .call("contacts_resolve", json!({ "query": "Sam Taylor", "channel": "email" }))
            .await;
        assert_eq!(resolved["status"], "ambiguous", "{resolved}");
        let created = c
            .call(
                "contacts_create",
                json!({ "accountId": "sandbox", "name": "Contract Person", "emails": [{ "value": "cp@example.com", "type": "work" }] }),
            )
            .await;
        let cp = s(&created, "/id").to_owned();
        let updated = c
            .call("contacts_update", json!({ "personId": cp, "patch": { "phones": ["+14155550199"] } }))
            .await;
        assert_eq!(updated["phones"][0]["value"], "+14155550199", "{updated}");
        let deleted = c.call("contacts_delete", json!({ "personId": cp })).await;
        assert_eq!(deleted["deleted"], true, "{deleted}");
        let synced = c.call("contacts_sync", json!({ "accountId": "sandbox" })).await;
        assert!(synced["accounts"].is_array(), "{synced}");

        // The outbox.
        let email = c
            .call(
                "email_stage",
                json!({ "accountId": account, "to": "jane@example.org", "subject": "Reminder",
                        "bodyText": "Tuesday at 10:00.", "clientRequestId": "contract-1" }),
            )
            .await;
        let item_id = s(&email, "/item/id").to_owned();
        c.call(
            "sms_send",
            json!({ "to": "+14155550100", "body": "Reminder: Tuesday 10:00" }),
        )
        .await;
        c.call(
            "chat_send_message",
            json!({ "space": "spaces/AAAA1234", "text": "The 10:00 patient is confirmed" }),
        )
        .await;
        let page = c
            .call(
                "outbox_list",
                json!({ "state": ["pending_approval"], "accountId": account, "limit": 10 }),
            )
            .await;
        assert!(
            page["items"].as_array().unwrap().len() >= 2,
            "the draft send, the reply and the email: {page}"
        );
        let got = c.call("outbox_get", json!({ "itemId": item_id })).await;
        assert_eq!(got["item"]["id"], item_id.as_str(), "{got}");
        let cancelled = c.call("outbox_cancel", json!({ "itemId": item_id })).await;
        assert_eq!(cancelled["item"]["state"], "cancelled", "{cancelled}");

        // Removing an account needs `admin`, which an agent over comms-mcp
        // never has (README): refused, naming the grant.
        let refused = c
            .refused("google_remove_account", json!({ "accountId": account }))
            .await;
        assert_eq!(refused["code"], "permission_denied", "{refused}");
        assert_eq!(refused["details"]["grant"], "admin", "{refused}");

        let listed: BTreeSet<String> = c.tools.iter().map(|t| t.name.to_string()).collect();
        let missed: Vec<_> = listed.difference(&c.called).collect();
        assert!(missed.is_empty(), "tools not called: {missed:?}");
        c.service.cancel().await.unwrap();
    });
}
