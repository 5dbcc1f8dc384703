//! The webhook router on its own: a token lookup, opt-out register and
//! delivery tracker that record what they were given.

use std::sync::Mutex;

use axum::body::Body;
use sha2::Digest as _;
use tower::ServiceExt as _;

use super::*;
use crate::twilio::signature::{BODY_HASH_PARAM, compute, signed_url};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const NO_TOKEN_SID: &str = "ACffffffffffffffffffffffffffffffff";
const TOKEN: &str = "tok-secret";
const PUBLIC: &str = "https://sms.example.com";
const MSG: &str = "SM0123456789abcdef0123456789abcdef";

/// (account, sender, their number, keyword, OptOutType)
type Recorded = (String, String, String, Keyword, Option<String>);

struct Fakes {
    keywords: Mutex<Vec<Recorded>>,
    statuses: Mutex<Vec<StatusParams>>,
}

#[async_trait::async_trait]
impl TokenSource for Fakes {
    async fn token(&self, sid: &str) -> Result<TokenLookup> {
        Ok(match sid {
            SID => TokenLookup::Found {
                account_id: "tw1".into(),
                token: Secret::new(TOKEN),
            },
            NO_TOKEN_SID => TokenLookup::NoToken {
                account_id: "tw2".into(),
            },
            _ => TokenLookup::UnknownAccount,
        })
    }
}

#[async_trait::async_trait]
impl KeywordSink for Fakes {
    async fn record_keyword(
        &self,
        account: &str,
        sender: &str,
        their: &str,
        keyword: Keyword,
        opt_out_type: Option<&str>,
    ) -> Result<()> {
        self.keywords.lock().unwrap().push((
            account.into(),
            sender.into(),
            their.into(),
            keyword,
            opt_out_type.map(str::to_owned),
        ));
        Ok(())
    }
}

#[async_trait::async_trait]
impl StatusSink for Fakes {
    async fn apply_status(&self, status: StatusParams) -> Result<()> {
        self.statuses.lock().unwrap().push(status);
        Ok(())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    hooks: Arc<Webhooks>,
    fakes: Arc<Fakes>,
    store: Store,
}

fn setup(public_url: Option<&str>, trusted: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (store, thread) = Store::open(&dir.path().join("db")).unwrap();
    // The store thread ends when the last handle is dropped.
    drop(thread);
    let bus = Arc::new(Bus::default());
    let fakes = Arc::new(Fakes {
        keywords: Mutex::default(),
        statuses: Mutex::default(),
    });
    let config = TwilioConfig {
        public_url: public_url.map(str::to_owned),
        trusted_proxies: trusted.iter().map(|s| (*s).to_owned()).collect(),
        ..TwilioConfig::default()
    };
    let hooks = Arc::new(Webhooks {
        config,
        tokens: fakes.clone(),
        inbound: Arc::new(Inbound::new(store.clone(), bus.clone())),
        keywords: fakes.clone(),
        status: fakes.clone(),
        media: None,
        store: store.clone(),
        bus,
        counts: WebhookCounts::default(),
    });
    Setup {
        _dir: dir,
        hooks,
        fakes,
        store,
    }
}

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn inbound(body: &str) -> Vec<(String, String)> {
    params(&[
        ("AccountSid", SID),
        ("MessageSid", MSG),
        ("From", "+15552223333"),
        ("To", "+15550001111"),
        ("Body", body),
        ("NumMedia", "0"),
    ])
}

fn form(p: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
}

fn signed(path: &str, base: &str, p: &[(String, String)]) -> axum::http::Request<Body> {
    let sig = compute(TOKEN.as_bytes(), &signed_url(base, path), p);
    axum::http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(Body::from(form(p)))
        .unwrap()
}

fn from_peer(mut req: axum::http::Request<Body>, peer: &str) -> axum::http::Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

async fn send(s: &Setup, req: axum::http::Request<Body>) -> (StatusCode, String) {
    let resp = router(s.hooks.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn stored(s: &Setup) -> i64 {
    s.store
        .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM sms_messages", [], |r| r.get(0))?))
        .await
        .unwrap()
}

async fn refusals(s: &Setup) -> Vec<String> {
    s.store
        .call(|c| {
            let mut st = c.prepare(
                "SELECT result FROM audit_log WHERE action = 'twilio_webhook_refused' ORDER BY seq",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_signed_message_is_stored_once_and_answered_with_empty_twiml() {
    let s = setup(Some(PUBLIC), &[]);
    let p = inbound("See you at 3");
    let (status, body) = send(&s, signed("/webhooks/twilio/sms", PUBLIC, &p)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<Response></Response>"));
    let (status, _) = send(&s, signed("/webhooks/twilio/sms", PUBLIC, &p)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&s).await, 1);
    let m = s.hooks.inbound.get("tw1", MSG).await.unwrap().unwrap();
    assert_eq!(
        (m.from.as_str(), m.to.as_str()),
        ("+15552223333", "+15550001111")
    );
    assert_eq!(m.body, "See you at 3");
    assert!(s.fakes.keywords.lock().unwrap().is_empty());
    assert!(refusals(&s).await.is_empty());
}

#[tokio::test]
async fn refused_requests_store_nothing_and_are_audited() {
    let s = setup(Some(PUBLIC), &[]);
    let p = inbound("hi");
    // Signed for the loopback URL, not the public one.
    let r = send(
        &s,
        signed("/webhooks/twilio/sms", "http://127.0.0.1:3003", &p),
    )
    .await;
    assert_eq!(r.0, StatusCode::FORBIDDEN);
    // Signed for http, public URL is https.
    let r = send(
        &s,
        signed("/webhooks/twilio/sms", "http://sms.example.com", &p),
    )
    .await;
    assert_eq!(r.0, StatusCode::FORBIDDEN);
    // A parameter added after signing.
    let mut req = signed("/webhooks/twilio/sms", PUBLIC, &p);
    let mut added = p.clone();
    added.push(("Extra".into(), "1".into()));
    *req.body_mut() = Body::from(form(&added));
    assert_eq!(send(&s, req).await.0, StatusCode::FORBIDDEN);
    // No signature at all.
    let req = axum::http::Request::post("/webhooks/twilio/sms")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form(&p)))
        .unwrap();
    assert_eq!(send(&s, req).await.0, StatusCode::FORBIDDEN);
    // An account commsd does not know, one without a token.
    let mut unknown = p.clone();
    unknown[0].1 = "AC00000000000000000000000000000000".into();
    let r = send(&s, signed("/webhooks/twilio/sms", PUBLIC, &unknown)).await;
    assert_eq!(r.0, StatusCode::FORBIDDEN);
    let mut no_token = p.clone();
    no_token[0].1 = NO_TOKEN_SID.into();
    let r = send(&s, signed("/webhooks/twilio/sms", PUBLIC, &no_token)).await;
    assert_eq!(r.0, StatusCode::FORBIDDEN);
    assert_eq!(stored(&s).await, 0);
    let audited = refusals(&s).await;
    assert_eq!(audited.len(), 6, "{audited:?}");
    assert!(audited[0].contains("does not match"), "{}", audited[0]);
    assert!(audited[3].contains("no X-Twilio-Signature"));
    assert!(audited[4].contains("no commsd account"));
    assert!(audited[5].contains("no auth token"));
    for row in &audited {
        assert!(!row.contains(TOKEN) && !row.contains("hi"), "{row}");
    }
    assert_eq!(s.hooks.counts.refused.load(Ordering::Relaxed), 6);
}

#[tokio::test]
async fn without_a_public_url_every_webhook_is_refused() {
    let s = setup(None, &[]);
    let r = send(&s, signed("/webhooks/twilio/sms", PUBLIC, &inbound("hi"))).await;
    assert_eq!(r.0, StatusCode::FORBIDDEN);
    assert!(refusals(&s).await[0].contains("twilio.public_url"));
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let base = "https://tunnel.example.net/prefix";
    let p = inbound("hi");
    let forwarded = |peer: &str| {
        let mut req = signed("/webhooks/twilio/sms", base, &p);
        let h = req.headers_mut();
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert("x-forwarded-host", "tunnel.example.net".parse().unwrap());
        h.insert("x-forwarded-prefix", "/prefix".parse().unwrap());
        from_peer(req, peer)
    };
    let s = setup(Some(PUBLIC), &["10.0.0.0/8"]);
    assert_eq!(
        send(&s, forwarded("192.168.1.5:4000")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(send(&s, forwarded("10.1.2.3:4000")).await.0, StatusCode::OK);
    // The configured URL still works from the trusted proxy.
    let req = from_peer(signed("/webhooks/twilio/sms", PUBLIC, &p), "10.1.2.3:4000");
    assert_eq!(send(&s, req).await.0, StatusCode::OK);
    // With no public URL, a trusted proxy's headers are enough.
    let s = setup(None, &["127.0.0.1"]);
    assert_eq!(
        send(&s, forwarded("127.0.0.1:5000")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn keywords_go_to_the_opt_out_register_with_opt_out_type_first() {
    let s = setup(Some(PUBLIC), &[]);
    let (status, _) = send(
        &s,
        signed("/webhooks/twilio/sms", PUBLIC, &inbound(" stop ")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut p = inbound("arret");
    p[1].1 = "SM0123456789abcdef0123456789abcde0".into();
    p.push(("OptOutType".into(), "STOP".into()));
    p.push((
        "MessagingServiceSid".into(),
        "MG0123456789abcdef0123456789abcdef".into(),
    ));
    assert_eq!(
        send(&s, signed("/webhooks/twilio/sms", PUBLIC, &p)).await.0,
        StatusCode::OK
    );
    let got = s.fakes.keywords.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            (
                "tw1".into(),
                "+15550001111".into(),
                "+15552223333".into(),
                Keyword::OptOut,
                None
            ),
            (
                "tw1".into(),
                "MG0123456789abcdef0123456789abcdef".into(),
                "+15552223333".into(),
                Keyword::OptOut,
                Some("STOP".into())
            ),
        ]
    );
    let m = s.hooks.inbound.get("tw1", MSG).await.unwrap().unwrap();
    assert_eq!(m.keyword.as_deref(), Some("optOut"));
}

#[tokio::test]
async fn status_callbacks_reach_the_delivery_tracker() {
    let s = setup(Some(PUBLIC), &[]);
    let p = params(&[
        ("AccountSid", SID),
        ("MessageSid", MSG),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30007"),
        ("From", "+15550001111"),
        ("To", "+15552223333"),
    ]);
    assert_eq!(
        send(&s, signed("/webhooks/twilio/status", PUBLIC, &p))
            .await
            .0,
        StatusCode::OK
    );
    let mut tampered = signed("/webhooks/twilio/status", PUBLIC, &p);
    let mut other = p.clone();
    other[2].1 = "delivered".into();
    *tampered.body_mut() = Body::from(form(&other));
    assert_eq!(send(&s, tampered).await.0, StatusCode::FORBIDDEN);
    let got = s.fakes.statuses.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_status, "undelivered");
    assert_eq!(got[0].error_code.as_deref(), Some("30007"));
    assert_eq!(got[0].account_id, "tw1");
}

#[tokio::test]
async fn json_bodies_are_checked_by_their_hash() {
    let s = setup(Some(PUBLIC), &[]);
    let body = serde_json::json!({
        "AccountSid": SID, "MessageSid": MSG, "From": "+15552223333",
        "To": "+15550001111", "Body": "json hi", "NumMedia": 0
    })
    .to_string();
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let path = format!("/webhooks/twilio/sms?{BODY_HASH_PARAM}={hash}");
    let sig = compute(TOKEN.as_bytes(), &signed_url(PUBLIC, &path), &[]);
    let req = |b: String| {
        axum::http::Request::post(path.as_str())
            .header("content-type", "application/json")
            .header("x-twilio-signature", sig.as_str())
            .body(Body::from(b))
            .unwrap()
    };
    let tampered = body.replace("json hi", "json ho");
    assert_eq!(send(&s, req(tampered)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&s, req(body)).await.0, StatusCode::OK);
    let m = s.hooks.inbound.get("tw1", MSG).await.unwrap().unwrap();
    assert_eq!(m.body, "json hi");
}

/// Fuzz tier of the webhook routes (README, Fuzzing): arbitrary form
/// bodies, headers and URLs never panic and never answer 5xx; a request
/// signed correctly over arbitrary parameters is never refused as forged.
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::util::fuzz;

    fn odd() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-zA-Z0-9 +=&%?#/:;,.'\"<>äü漢🦷\r\n\t-]{0,16}",
            1 => "\\+[0-9]{6,16}",
            1 => "(STOP|start|HELP|stop all|unsubscribe)",
            1 => "[0-9]{0,3}",
            1 => any::<String>(),
        ]
    }

    /// Parameters around a real webhook's: its names, odd values, extras.
    fn params() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop_oneof![
            proptest::sample::select(vec![
                "MessageSid",
                "SmsSid",
                "From",
                "To",
                "Body",
                "NumMedia",
                "MediaUrl0",
                "MediaContentType0",
                "OptOutType",
                "MessageStatus",
                "SmsStatus",
                "ErrorCode",
                "MessagingServiceSid",
                "AccountSid",
            ])
            .prop_map(str::to_owned),
            odd(),
        ];
        let sid = prop_oneof![Just(SID.to_owned()), Just(NO_TOKEN_SID.to_owned()), odd()];
        (sid, proptest::collection::vec((name, odd()), 0..8)).prop_map(|(sid, mut p)| {
            p.insert(0, ("AccountSid".to_owned(), sid));
            p
        })
    }

    fn header_value() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            "[ -~]{0,24}",
            Just("https".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("application/json".to_owned()),
            any::<String>(),
        ])
    }

    #[derive(Debug)]
    struct Case {
        route: &'static str,
        query: String,
        params: Vec<(String, String)>,
        raw_body: Option<Vec<u8>>,
        sign: bool,
        headers: Vec<(&'static str, Option<String>)>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            proptest::sample::select(vec!["sms", "status"]),
            "(\\?[a-zA-Z0-9=&%._~+-]{0,20})?",
            params(),
            proptest::option::of(any::<Vec<u8>>()),
            any::<bool>(),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "content-type",
                        "x-twilio-signature",
                        "x-twilio-webhooks-signature-settings",
                        "x-forwarded-proto",
                        "x-forwarded-host",
                        "x-forwarded-prefix",
                    ]),
                    header_value(),
                ),
                0..4,
            ),
        )
            .prop_map(|(route, query, params, raw_body, sign, headers)| Case {
                route,
                query,
                params,
                raw_body,
                sign,
                headers,
            })
    }

    fn request(c: &Case) -> axum::http::Request<Body> {
        let path = format!("/webhooks/twilio/{}{}", c.route, c.query);
        let mut builder = axum::http::Request::post(path.as_str());
        if c.sign {
            let sig = compute(TOKEN.as_bytes(), &signed_url(PUBLIC, &path), &c.params);
            builder = builder
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", sig);
        } else {
            for (name, value) in &c.headers {
                if let Some(value) = value
                    .as_deref()
                    .and_then(|v| axum::http::HeaderValue::from_str(v).ok())
                {
                    builder = builder.header(*name, value);
                }
            }
        }
        let body = match (&c.raw_body, c.sign) {
            (Some(raw), false) => raw.clone(),
            _ => form(&c.params).into_bytes(),
        };
        from_peer(builder.body(Body::from(body)).unwrap(), "127.0.0.1:40000")
    }

    proptest! {
        #![proptest_config(fuzz::cases())]

        #[test]
        fn fuzz_webhook_requests_never_answer_5xx(c in case()) {
            thread_local! {
                static SETUP: (tokio::runtime::Runtime, Setup) = {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let s = rt.block_on(async { setup(Some(PUBLIC), &["127.0.0.1/32"]) });
                    (rt, s)
                };
            }
            let (status, body) = SETUP.with(|(rt, s)| rt.block_on(send(s, request(&c))));
            prop_assert!(!status.is_server_error(), "{status} {body}");
            if c.sign && c.params[0].1 == SID {
                prop_assert!(
                    status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                    "a correctly signed request answered {status} {body}"
                );
            }
        }
    }
}
