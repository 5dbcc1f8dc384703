//! The Twilio provider's foundations against real peers: signatures against
//! Twilio's own RequestValidator (PyPI twilio), the REST client against
//! Twilio's API contract served by Prism, and the send outcomes a real
//! Twilio cannot be made to produce (lost answers, 5xx, 429) against a
//! scripted TCP server.

use std::time::Duration;

use commsd::twilio::client::{Auth, ListQuery, Send, SendError, TwilioClient};
use commsd::twilio::signature;
use commsd::vault::Secret;
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::twilio_peers::{Prism, oracle};

const AC: &str = "AC0123456789abcdef0123456789abcdef";

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// One oracle case: signed for (`signed_url`, `signed`), checked as
/// received at `url` with `received` (or a JSON `body`).
struct Case {
    what: &'static str,
    token: &'static str,
    signed_url: String,
    signed: Vec<(String, String)>,
    url: String,
    received: Vec<(String, String)>,
    body: Option<&'static str>,
    valid: bool,
}

#[test]
fn twilio_signatures_agree_with_twilios_request_validator() {
    let documented = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    let doc_url = "https://mycompany.com/myapp.php?foo=1&bar=2".to_owned();
    let sms = pairs(&[
        ("MessageSid", "SM0123"),
        ("From", "+15550001111"),
        ("To", "+15550002222"),
        ("Body", "Yes, see you at 3 — thanks! 😀 a+b=c & 100%"),
    ]);
    let public = "https://abc.trycloudflare.com/webhooks/twilio/sms".to_owned();
    let repeated = pairs(&[
        ("MediaUrl", "https://x/2"),
        ("MediaUrl", "https://x/1"),
        ("NumMedia", "2"),
        ("MediaUrl", "https://x/1"),
    ]);
    let json_body = r#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#;
    let hash = hex::encode(sha2::Sha256::digest(json_body.as_bytes()));
    let json_url = format!("https://abc.example/webhooks/twilio/status?bodySHA256={hash}");
    let mut added = sms.clone();
    added.push(("Injected".to_owned(), "1".to_owned()));
    let mut dropped = repeated.clone();
    dropped.pop();
    dropped.remove(0);
    let case = |what,
                signed_url: &str,
                signed: &[(String, String)],
                url: &str,
                received: &[(String, String)],
                valid| Case {
        what,
        token: "12345",
        signed_url: signed_url.to_owned(),
        signed: signed.to_vec(),
        url: url.to_owned(),
        received: received.to_vec(),
        body: None,
        valid,
    };
    let cases = vec![
        case(
            "documented vector",
            &doc_url,
            &documented,
            &doc_url,
            &documented,
            true,
        ),
        case(
            "https, signed without :443",
            &public,
            &sms,
            "https://abc.trycloudflare.com:443/webhooks/twilio/sms",
            &sms,
            true,
        ),
        case(
            "https, signed with :443",
            "https://abc.trycloudflare.com:443/webhooks/twilio/sms",
            &sms,
            &public,
            &sms,
            true,
        ),
        case(
            "http, signed without :80",
            "http://abc.example/hook",
            &sms,
            "http://abc.example:80/hook",
            &sms,
            true,
        ),
        case(
            "http, signed with :80",
            "http://abc.example:80/hook",
            &sms,
            "http://abc.example/hook",
            &sms,
            true,
        ),
        case(
            "signed for https, received as http",
            &public,
            &sms,
            "http://abc.trycloudflare.com/webhooks/twilio/sms",
            &sms,
            false,
        ),
        case(
            "signed for the loopback URL",
            "http://127.0.0.1:3003/webhooks/twilio/sms",
            &sms,
            &public,
            &sms,
            false,
        ),
        case("an added parameter", &public, &sms, &public, &added, false),
        case(
            "repeated names, any order",
            &public,
            &repeated,
            &public,
            &pairs(&[
                ("NumMedia", "2"),
                ("MediaUrl", "https://x/1"),
                ("MediaUrl", "https://x/2"),
            ]),
            true,
        ),
        case(
            "a repeated value dropped",
            &public,
            &repeated,
            &public,
            &dropped,
            false,
        ),
        case(
            "another path",
            &public,
            &sms,
            "https://abc.trycloudflare.com/webhooks/twilio/status",
            &sms,
            false,
        ),
        Case {
            token: "12346",
            ..case("another token", &public, &sms, &public, &sms, false)
        },
        Case {
            body: Some(json_body),
            ..case("JSON body", &json_url, &[], &json_url, &[], true)
        },
        Case {
            body: Some(r#"{"MessageSid":"SM1","MessageStatus":"failed"}"#),
            ..case("JSON body changed", &json_url, &[], &json_url, &[], false)
        },
        Case {
            body: Some(json_body),
            ..case(
                "JSON body, other URL",
                &json_url,
                &[],
                &json_url.replace("status", "sms"),
                &[],
                false,
            )
        },
    ];
    let mut wire = Vec::new();
    let mut ours = Vec::new();
    for c in &cases {
        // The signature Twilio would send: ours, checked against the
        // oracle's below (different tokens sign with the real one).
        let header = signature::compute(b"12345", &c.signed_url, &c.signed);
        let valid = match c.body {
            Some(body) => {
                signature::verify_json(c.token.as_bytes(), &c.url, body.as_bytes(), &header)
            }
            None => signature::verify_params(c.token.as_bytes(), &c.url, &c.received, &header),
        };
        ours.push((header.clone(), valid.is_ok()));
        wire.push(json!({
            "token": c.token,
            "signed_url": c.signed_url,
            "signed_params": if c.token == "12345" { json!(c.signed) } else { json!([]) },
            "url": c.url,
            "params": c.received,
            "body": c.body,
            "signature": header,
        }));
    }
    let answers = oracle(&Value::Array(wire));
    for (i, c) in cases.iter().enumerate() {
        let (header, valid) = &ours[i];
        if c.token == "12345" {
            assert_eq!(
                answers[i]["computed"],
                json!(header),
                "{}: computed signature",
                c.what
            );
        }
        assert_eq!(
            answers[i]["valid"],
            json!(c.valid),
            "{}: Twilio's validator",
            c.what
        );
        assert_eq!(*valid, c.valid, "{}: ours", c.what);
    }
    assert_eq!(ours[0].0, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

fn client(base: &str) -> TwilioClient {
    TwilioClient::new(
        base,
        Auth::new(AC, None, Secret::new("test-auth-token")).unwrap(),
    )
    .unwrap()
}

fn send() -> Send {
    Send {
        to: "+15550002222".to_owned(),
        from: Some("+15550001111".to_owned()),
        body: "Reminder: your appointment is tomorrow at 10:00.".to_owned(),
        status_callback: Some("https://abc.example/webhooks/twilio/status".to_owned()),
        ..Send::default()
    }
}

#[tokio::test]
async fn twilio_client_against_the_rest_contract() {
    let prism = tokio::task::spawn_blocking(Prism::start).await.unwrap();
    let twilio = client(&prism.base);

    // The credential check: Basic auth accepted, the account parsed.
    let account = twilio.fetch_account().await.unwrap();
    assert!(
        account.sid.starts_with("AC") && account.status == "active",
        "{account:?}"
    );
    // The spec's example number is on the account but voice/MMS only;
    // another number is not on it.
    let e = twilio.check_from("+18089255327").await.unwrap_err();
    assert_eq!(e.details["field"], "from", "{}", e.message);
    assert!(e.message.contains("cannot send SMS"), "{}", e.message);
    let e = twilio.check_from("+15550001111").await.unwrap_err();
    assert_eq!(e.details["field"], "from", "{}", e.message);
    assert!(
        e.message.contains("is not a phone number of"),
        "{}",
        e.message
    );

    // A valid send: 201 and the message parsed.
    let sent = twilio.create_message(&send()).await.unwrap();
    assert!(sent.sid.starts_with("SM"), "{sent:?}");
    assert_eq!(sent.status, "queued");
    let with_service = Send {
        from: None,
        messaging_service_sid: Some("MG0123456789abcdef0123456789abcdef".to_owned()),
        ..send()
    };
    twilio.create_message(&with_service).await.unwrap();

    // The contract refuses what the client never sends: no credentials, or no To.
    let raw = reqwest::Client::new();
    let url = format!("{}/2010-04-01/Accounts/{AC}/Messages.json", prism.base);
    let form = [
        ("To", "+15550002222"),
        ("From", "+15550001111"),
        ("Body", "hi"),
    ];
    let no_auth = raw.post(&url).form(&form).send().await.unwrap();
    assert_eq!(no_auth.status().as_u16(), 401);
    let no_to = raw
        .post(&url)
        .basic_auth(AC, Some("t"))
        .form(&form[1..])
        .send()
        .await
        .unwrap();
    assert_eq!(no_to.status().as_u16(), 422);

    // The lookup of an unknown send: To and a GMT day window, pages followed.
    let mut query = ListQuery::around(
        "+15550002222",
        jiff::Timestamp::now(),
        Duration::from_secs(3600),
    );
    query.max_pages = 1;
    let one = twilio.list_messages(&query).await.unwrap();
    assert!(
        !one.is_empty()
            && one
                .iter()
                .all(|m| m.sid.starts_with("SM") || m.sid.starts_with("MM"))
    );
    query.max_pages = 2;
    let two = twilio.list_messages(&query).await.unwrap();
    assert_eq!(two.len(), 2 * one.len(), "the next page was followed");

    // Media: size limit enforced, content type recorded.
    let media = format!(
        "{}/2010-04-01/Accounts/{AC}/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef.json",
        prism.base
    );
    let got = twilio.download_media(&media, 1 << 20).await.unwrap();
    assert!(
        got.content_type
            .as_deref()
            .is_some_and(|t| t.contains("json"))
    );
    assert!(!got.bytes.is_empty());
    let e = twilio.download_media(&media, 8).await.unwrap_err();
    assert_eq!(e.code.as_str(), "payload_too_large", "{}", e.message);
    let e = twilio
        .download_media("https://evil.example/x", 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "mediaUrl");
}

/// What a scripted server does with each request.
#[derive(Clone, Copy)]
enum Script {
    /// Reads the request and closes without a word.
    Vanish,
    Answer(u16, &'static str),
}

/// A server that follows `script` for every request; its base URL.
async fn scripted(script: Script) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // The head, then the body its Content-Length announces.
                loop {
                    let n = conn.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                if let Script::Answer(status, body) = script {
                    let extra = if status == 429 {
                        "Retry-After: 7\r\n"
                    } else {
                        ""
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    base
}

#[tokio::test]
async fn twilio_send_outcomes_say_whether_it_may_have_gone() {
    // Nobody listens: surely not sent.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = client(&closed).create_message(&send()).await.unwrap_err();
    assert!(matches!(e, SendError::NotSent { .. }), "{e:?}");

    // The request went out and the connection closed: may have been sent.
    let e = client(&scripted(Script::Vanish).await)
        .create_message(&send())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Unknown { .. }), "{e:?}");
    let e = client(&scripted(Script::Answer(500, "{}")).await)
        .create_message(&send())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Unknown { .. }), "{e:?}");
    let e = client(&scripted(Script::Answer(200, "not json")).await)
        .create_message(&send())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Unknown { .. }), "{e:?}");

    // Refused before acting: rate limited, or rejected with a code.
    let e = client(&scripted(Script::Answer(429, r#"{"code":20429}"#)).await)
        .create_message(&send())
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::NotSent { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{e:?}"
    );
    let optout =
        r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#;
    let e = client(&scripted(Script::Answer(400, optout)).await)
        .create_message(&send())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SendError::Rejected {
                status: 400,
                code: Some(21610),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("opted out"), "{e}");

    // No sender: refused locally, nothing sent (the server would vanish).
    let vanish = scripted(Script::Vanish).await;
    let e = client(&vanish)
        .create_message(&Send {
            from: None,
            ..send()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Invalid(err) if err.details["field"] == "from"),
        "{e:?}"
    );

    // The credential check names what was wrong.
    let e = client(&scripted(Script::Answer(401, r#"{"code":20003}"#)).await)
        .fetch_account()
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "authToken", "{}", e.message);
    assert!(
        e.message.contains("refused the auth token"),
        "{}",
        e.message
    );
    let e = client(&scripted(Script::Answer(404, r#"{"code":20404}"#)).await)
        .fetch_account()
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "accountSid", "{}", e.message);
    let suspended = r#"{"sid":"AC0123456789abcdef0123456789abcdef","status":"suspended"}"#;
    let e = client(&scripted(Script::Answer(200, suspended)).await)
        .fetch_account()
        .await
        .unwrap_err();
    assert!(e.message.contains("suspended"), "{}", e.message);
    let numbers = r#"{"incoming_phone_numbers":[{"phone_number":"+15550001111","capabilities":{"sms":true}}]}"#;
    let owned = client(&scripted(Script::Answer(200, numbers)).await);
    owned.check_from("+15550001111").await.unwrap();
    let e = client(&closed).fetch_account().await.unwrap_err();
    assert_eq!(e.code.as_str(), "upstream_unavailable", "{}", e.message);
}
