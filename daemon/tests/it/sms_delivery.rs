//! Status callbacks applied to sent SMS (`twilio::delivery`), in process:
//! the real store, outbox and dispatcher, a transport that hands items over
//! at once, and callbacks in and out of order, repeated, before the send's
//! answer was recorded, and with error codes (21610 opts the pair out).

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use commsd::accounts::{Accounts, Kind, NewAccount};
use commsd::auth::Caller;
use commsd::events::Bus;
use commsd::outbox::config::{OutboxConfig, PolicyConfig};
use commsd::outbox::dispatch::Dispatcher;
use commsd::outbox::item::Item;
use commsd::outbox::model::{Channel, State};
use commsd::outbox::service::{Outbox, StageContent, StageRequest, Target};
use commsd::outbox::transport::{DeliveryError, Transport, Transports};
use commsd::store::Store;
use commsd::twilio::delivery::{Applied, Deliveries, StatusCallback};
use commsd::twilio::optouts::OptOuts;
use tokio_util::sync::CancellationToken;

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";

struct HandOver;

#[async_trait::async_trait]
impl Transport for HandOver {
    async fn deliver(&self, _item: &Item) -> Result<String, DeliveryError> {
        Ok("handed over".to_owned())
    }
}

fn callback(sid: &str, status: &str, code: Option<u32>) -> StatusCallback {
    StatusCallback {
        message_sid: sid.to_owned(),
        message_status: status.to_owned(),
        error_code: code,
        account_sid: AC.to_owned(),
        from: Some("+15550001111".to_owned()),
        to: Some("+14155550100".to_owned()),
        messaging_service_sid: Some(MG.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_callbacks_move_a_delivery_forward_only_and_explain_failures() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    let (store, _thread) = Store::open(&dir.join("commsd.db")).unwrap();
    let bus = Arc::new(Bus::default());
    let accounts = Arc::new(
        Accounts::load(store.clone(), bus.clone(), "Sandbox <s@commsd.invalid>")
            .await
            .unwrap(),
    );
    let (account, _) = accounts
        .upsert(
            "test",
            NewAccount {
                id: "tw1".to_owned(),
                kind: Kind::Twilio,
                email: MG.to_owned(),
                labels: Vec::new(),
                scopes: Vec::new(),
                settings: serde_json::json!({ "account_sid": AC, "messaging_service_sid": MG }),
            },
        )
        .await
        .unwrap();
    let outbox = Arc::new(
        Outbox::new(
            store.clone(),
            bus,
            accounts.clone(),
            dir.clone(),
            OutboxConfig::default(),
            PolicyConfig::default(),
        )
        .await
        .unwrap(),
    );
    let mut transports = Transports::new(Arc::new(HandOver), accounts.sendable());
    transports.register(Kind::Twilio, Channel::Sms, Arc::new(HandOver));
    let transports = Arc::new(transports);
    outbox.use_transports(transports.clone());
    let shutdown = CancellationToken::new();
    tokio::spawn(Dispatcher::new(outbox.clone(), transports).run(shutdown.clone()));
    let optouts = OptOuts::new(store.clone());
    let deliveries = Deliveries::new(outbox.clone(), accounts.clone(), optouts.clone());
    let human = Caller::cli("test", 1000);

    let send = async |body: &str| -> String {
        let staged = outbox
            .stage(
                &human,
                StageRequest {
                    account: Some(account.id.clone()),
                    priority: Default::default(),
                    client_request_id: None,
                    content: StageContent::Sms {
                        to: "+14155550100".to_owned(),
                        body: body.to_owned(),
                    },
                },
            )
            .await
            .unwrap();
        let id = staged.item.id.clone();
        outbox
            .approve(&human, Target::Ids(vec![id.clone()]))
            .await
            .unwrap();
        for _ in 0..200 {
            if outbox.get(&human, &id).await.unwrap().state == State::Sent {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("item {id} was not sent");
    };
    let detail = async |id: &str| -> String {
        let item = outbox.get(&human, id).await.unwrap();
        item.delivery.map(|d| d.detail).unwrap_or_default()
    };

    // In order, then late and repeated news: the final status stays.
    let one = send("one").await;
    let sid = "SM00000000000000000000000000000001";
    let status = deliveries
        .record_sent(&one, &account.id, MG, "+14155550100", sid, "queued")
        .await
        .unwrap();
    assert_eq!(status, "queued");
    for (s, applied) in [
        ("sent", true),
        ("delivered", true),
        ("sent", false),
        ("undelivered", false),
        ("delivered", false),
    ] {
        let got = deliveries
            .apply_status(callback(sid, s, None))
            .await
            .unwrap();
        assert_eq!(got != Applied::Ignored, applied, "{s}: {got:?}");
    }
    assert_eq!(detail(&one).await, format!("Twilio {sid}: delivered"));

    // A callback before the send's answer was recorded: kept, and the
    // answer's older status does not win.
    let two = send("two").await;
    let sid2 = "SM00000000000000000000000000000002";
    deliveries
        .apply_status(callback(sid2, "sent", None))
        .await
        .unwrap();
    let status = deliveries
        .record_sent(&two, &account.id, MG, "+14155550100", sid2, "queued")
        .await
        .unwrap();
    assert_eq!(status, "sent");
    deliveries
        .apply_status(callback(sid2, "undelivered", Some(30003)))
        .await
        .unwrap();
    let d = detail(&two).await;
    assert!(
        d.starts_with(&format!("Twilio {sid2}: undelivered (")) && d.contains("30003"),
        "{d}"
    );

    // 21610 in a callback: the pair is opted out; staging to it is refused.
    let three = send("three").await;
    let sid3 = "SM00000000000000000000000000000003";
    deliveries
        .record_sent(&three, &account.id, MG, "+14155550100", sid3, "queued")
        .await
        .unwrap();
    deliveries
        .apply_status(callback(sid3, "failed", Some(21610)))
        .await
        .unwrap();
    assert!(detail(&three).await.contains("21610"));
    let list = optouts.list(&human, None).await.unwrap();
    assert_eq!((list.len(), list[0].sender.as_str()), (1, MG), "{list:?}");
    // A callback for another Twilio account is refused, naming AccountSid.
    let mut foreign = callback(sid3, "delivered", None);
    foreign.account_sid = "ACffffffffffffffffffffffffffffffff".to_owned();
    let e = deliveries.apply_status(foreign).await.unwrap_err();
    assert_eq!(e.details["field"], "AccountSid");

    // The audit has each change, without bodies.
    let entries = store
        .call(|c| {
            let mut stmt = c.prepare("SELECT action, COALESCE(result, '') FROM audit_log")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    let statuses = entries
        .iter()
        .filter(|(a, _)| a == "delivery_status")
        .count();
    // sent, delivered; undelivered; failed (the early "sent" had no item yet).
    assert_eq!(statuses, 4, "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|(a, r)| a == "sms_opted_out" && r.contains("error 21610"))
    );
    assert!(!entries.iter().any(|(_, r)| r.contains("three")));
    shutdown.cancel();
}
