//! Unit tests of `client.rs` that need no server; the client against
//! Prism and scripted servers is in daemon/tests/it/twilio.rs.

use super::*;

const AC: &str = "AC0123456789abcdef0123456789abcdef";

#[test]
fn sids_are_checked_locally() {
    assert!(Auth::new(AC, None, Secret::new("t")).is_ok());
    for bad in [
        "AC123",
        "ac0123456789abcdef0123456789abcdef",
        "AC0123456789abcdef0123456789abcdeg",
    ] {
        let e = Auth::new(bad, None, Secret::new("t")).unwrap_err();
        assert_eq!(e.details["field"], "accountSid", "{bad}");
    }
    let e = Auth::new(AC, Some("SK1"), Secret::new("t")).unwrap_err();
    assert_eq!(e.details["field"], "apiKey");
    let e = Auth::new(AC, None, Secret::new(" ")).unwrap_err();
    assert_eq!(e.details["field"], "authToken");
}

#[test]
fn a_send_needs_a_sender_and_a_valid_body() {
    let send = Send {
        to: "+1 415 555 0100".to_owned(),
        body: "hi".to_owned(),
        ..Send::default()
    };
    let e = message_form(&send).unwrap_err();
    assert_eq!(e.details["field"], "from");
    assert!(e.message.contains("21603"), "{}", e.message);
    let e = message_form(&Send {
        messaging_service_sid: Some("MG1".to_owned()),
        ..send.clone()
    })
    .unwrap_err();
    assert_eq!(e.details["field"], "messagingServiceSid");
    let e = message_form(&Send {
        from: Some("+14155550199".to_owned()),
        body: "x".repeat(1601),
        ..send.clone()
    })
    .unwrap_err();
    assert_eq!(e.details["field"], "body");
    let form = message_form(&Send {
        from: Some("+14155550199".to_owned()),
        status_callback: Some("https://h/webhooks/twilio/status".to_owned()),
        ..send
    })
    .unwrap();
    assert_eq!(
        form,
        vec![
            ("To", "+14155550100".to_owned()),
            ("From", "+14155550199".to_owned()),
            ("Body", "hi".to_owned()),
            (
                "StatusCallback",
                "https://h/webhooks/twilio/status".to_owned()
            ),
        ]
    );
}

#[test]
fn the_lookup_window_is_in_gmt_days_with_literal_names() {
    let at: jiff::Timestamp = "2024-03-10T23:30:00Z".parse().unwrap();
    let q = ListQuery::around("+14155550100", at, Duration::from_secs(3600));
    let params = q.params();
    assert!(params.contains(&("DateSent>", "2024-03-10".to_owned())));
    assert!(params.contains(&("DateSent<", "2024-03-11".to_owned())));
    assert!(params.contains(&("To", "+14155550100".to_owned())));
}

#[test]
fn rejections_explain_known_codes() {
    let e = SendError::Rejected {
        status: 400,
        code: Some(21610),
        message: "Attempt to send to unsubscribed recipient".to_owned(),
    };
    assert!(e.to_string().contains("opted out"), "{e}");
    let e = upstream(400, br#"{"code": 30034, "message": "x"}"#);
    assert!(e.message.contains("A2P 10DLC"), "{}", e.message);
}
