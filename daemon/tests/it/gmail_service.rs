//! The Gmail service with its typed inputs and outputs, against the Gmail
//! fake: grants are checked in the service, errors name the contract's
//! fields there and today's wire names in the tool adapter, and a batch
//! part Google asked to wait is retried only after that wait.

use std::time::{Duration, Instant};

use commsd::auth::{Caller, Grant, Grants};
use commsd::error::Code;
use commsd::gmail::types::{
    BodyView, DraftContent, Fetched, GetMessageInput, GetMessagesInput, Listed, Message,
    SearchInput, SendDraftInput,
};
use commsd::gmail::{Format, GmailService};
use commsd::outbox::model::{Decision, State};
use commsd::tools::ToolProvider;
use serde_json::json;

use crate::gmail::{A, A_EMAIL, agent, env, gmail_tools, mail, outbox};
use crate::google_fake::Fault;

fn caller(grants: &[Grant]) -> Caller {
    Caller::key("limited", Grants::from_iter(grants.iter().copied()))
}

#[tokio::test]
async fn gmail_service_takes_typed_inputs_and_checks_grants_itself() {
    let e = env().await;
    let (id, thread) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "Jane Roe <jane@example.org>",
            A_EMAIL,
            "Results",
            "They are fine.",
            "<r1@example.org>",
        ),
        &[],
    );
    let (outbox, _store) = outbox(e.dir.path(), Decision::Confirm).await;
    let service = GmailService::new(e.gmail.clone(), outbox, "http://127.0.0.1:1".into());

    let page = service
        .search(
            &agent(),
            SearchInput {
                account_id: A.to_owned(),
                query: "from:jane".to_owned(),
                ..SearchInput::default()
            },
        )
        .await
        .unwrap();
    assert!(page.untrusted && !page.cache_hit);
    let [Listed::Message(hit)] = page.data.messages.as_slice() else {
        panic!("{:?}", page.data.messages)
    };
    assert_eq!(
        (
            hit.id.as_deref(),
            hit.headers.get("Subject").map(String::as_str),
            hit.unread
        ),
        (Some(id.as_str()), Some("Results"), true)
    );

    let read = service
        .get_message(
            &agent(),
            GetMessageInput {
                account_id: A.to_owned(),
                message_id: id.clone(),
                format: None,
                view: BodyView::default(),
            },
        )
        .await
        .unwrap();
    let Message::Full(full) = &read.data.message else {
        panic!("full by default: {:?}", read.data.message)
    };
    assert_eq!(full.body_text.trim(), "They are fine.");
    assert_eq!(full.summary.thread_id.as_deref(), Some(thread.as_str()));

    // Grants are the service's own: without `read` nothing is read, and
    // without `stage` a draft is made but never staged.
    let err = service
        .get_message(
            &caller(&[Grant::Draft]),
            GetMessageInput {
                account_id: A.to_owned(),
                message_id: id.clone(),
                ..GetMessageInput::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::PermissionDenied, "{err:?}");
    let drafter = caller(&[Grant::Read, Grant::Draft]);
    let draft = service
        .create_draft(
            &drafter,
            commsd::gmail::types::CreateDraftInput {
                account_id: A.to_owned(),
                content: DraftContent {
                    to: vec!["jane@example.org".to_owned()],
                    subject: "Re: Results".to_owned(),
                    body_text: Some("Thank you.".to_owned()),
                    thread_id: Some(thread.clone()),
                    ..DraftContent::default()
                },
            },
        )
        .await
        .unwrap();
    let draft_id = draft.draft_id.clone().unwrap();
    assert_eq!(draft.thread_id.as_deref(), Some(thread.as_str()));
    let send = |caller: Caller| {
        let service = &service;
        let draft_id = draft_id.clone();
        async move {
            service
                .send_draft(
                    &caller,
                    SendDraftInput {
                        account_id: A.to_owned(),
                        draft_id,
                        ..SendDraftInput::default()
                    },
                )
                .await
        }
    };
    let err = send(drafter).await.unwrap_err();
    assert_eq!(err.code, Code::PermissionDenied, "{err:?}");
    let sent = send(agent()).await.unwrap();
    assert_eq!(sent.item.state, State::Draft);
    assert_eq!(sent.thread_id.as_deref(), Some(thread.as_str()));
    assert!(!sent.confirmed && !sent.existing);
    assert!(e.fake.sent(A_EMAIL).is_empty());
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_errors_name_the_services_fields_and_the_tools_own() {
    let e = env().await;
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let service = GmailService::new(e.gmail.clone(), outbox.clone(), "http://127.0.0.1:1".into());
    let tools = gmail_tools(&e, outbox);
    let tool_field = |name: &'static str, args: serde_json::Value| {
        let tools = &tools;
        async move {
            let err = tools.call(&agent(), name, &args).await.unwrap_err();
            err.details["field"].as_str().unwrap().to_owned()
        }
    };

    let err = service
        .search(
            &agent(),
            SearchInput {
                account_id: A.to_owned(),
                max_results: Some(0),
                ..SearchInput::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.details["field"], "maxResults");
    assert!(err.message.starts_with("maxResults: "), "{}", err.message);
    let err = service
        .get_messages(
            &agent(),
            GetMessagesInput {
                account_id: A.to_owned(),
                message_ids: vec!["m1".to_owned(), "not an id".to_owned()],
                format: Some(Format::Metadata),
                view: BodyView::default(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.details["field"], "messageIds[1]");
    // The tools name fields as the service does: the contract's names.
    for (tool, args, field) in [
        (
            "gmail_search_messages",
            json!({ "accountId": A, "maxResults": 0 }),
            "maxResults",
        ),
        (
            "gmail_get_messages_batch",
            json!({ "accountId": A, "messageIds": ["m1", "not an id"] }),
            "messageIds[1]",
        ),
        (
            "gmail_get_message",
            json!({ "accountId": A, "messageId": "not an id" }),
            "messageId",
        ),
        (
            "gmail_get_attachment",
            json!({ "accountId": A, "messageId": "not an id", "attachmentId": "1" }),
            "messageId",
        ),
        (
            "gmail_reply_in_thread",
            json!({ "accountId": A, "threadId": "t1", "replyToMessageId": "not an id", "bodyText": "Hi" }),
            "replyToMessageId",
        ),
        (
            "gmail_get_message",
            json!({ "accountId": A, "messageId": "m1", "maxChars": 5 }),
            "maxChars",
        ),
        (
            "gmail_update_draft",
            json!({ "accountId": A, "draftId": "r1", "patch": { "bogus": 1 } }),
            "patch.bogus",
        ),
        ("gmail_search_messages", json!({ "account": A }), "account"),
    ] {
        assert_eq!(tool_field(tool, args).await, field, "{tool}");
    }
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_a_batch_part_is_retried_only_after_its_retry_after() {
    let e = env().await;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            e.fake
                .deliver(
                    A_EMAIL,
                    &mail(
                        "jane@example.org",
                        A_EMAIL,
                        &format!("S{i}"),
                        "Body",
                        &format!("<w{i}@example.org>"),
                    ),
                    &[],
                )
                .0
        })
        .collect();
    e.fake.inject(Fault {
        path_contains: Some(ids[1].clone()),
        retry_after_s: Some(1),
        in_batch: Some(true),
        ..Fault::new("gmail.users.messages.get", 429)
    });
    let started = Instant::now();
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let service = GmailService::new(e.gmail.clone(), outbox, "http://127.0.0.1:1".into());
    let got = service
        .get_messages(
            &agent(),
            GetMessagesInput {
                account_id: A.to_owned(),
                message_ids: ids.clone(),
                ..GetMessagesInput::default()
            },
        )
        .await
        .unwrap();
    let waited = started.elapsed();
    for (r, id) in got.data.results.iter().zip(&ids) {
        let Fetched::Message { id: got, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(got, id);
    }
    assert!(
        waited >= Duration::from_millis(950),
        "the part was retried after {waited:?}, before Google's Retry-After of 1 s"
    );
    let c = e.fake.counts();
    assert_eq!(
        (c.batches, c.per_method["gmail.users.messages.get"]),
        (1, 4)
    );
    e.fake.assert_no_violations();
}
