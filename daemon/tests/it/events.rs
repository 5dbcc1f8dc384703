//! `GET /api/v1/events` on a real daemon: Server-Sent Events with ids, a
//! resume with `Last-Event-ID` after a disconnect (what was missed, in
//! order, none twice), `resync` for an id of another run, a bad id refused
//! naming the header, and the same stream as a WebSocket.

use std::io::{BufRead, BufReader};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Env, PORT_ZERO_CONFIG};

struct Sse {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

#[derive(Debug, Clone)]
struct Ev {
    id: Option<String>,
    name: String,
    data: Value,
}

impl Sse {
    fn next(&mut self) -> Ev {
        let (mut id, mut name, mut data) = (None, String::new(), String::new());
        loop {
            let line = self.lines.next().expect("the stream ended").unwrap();
            if line.is_empty() {
                if !name.is_empty() {
                    return Ev {
                        id,
                        name,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("event: ").or(line.strip_prefix("event:")) {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                data.push_str(v);
            }
        }
    }

    /// Events until `n` of them are named `name`.
    fn until(&mut self, name: &str, n: usize) -> Vec<Ev> {
        let mut all = Vec::new();
        while all.iter().filter(|e: &&Ev| e.name == name).count() < n {
            all.push(self.next());
        }
        all
    }
}

fn seq(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

#[test]
fn events_resume_after_a_disconnect_with_no_gap_and_no_duplicate() {
    let env = Env::new();
    std::fs::write(&env.config, PORT_ZERO_CONFIG).unwrap();
    let _daemon = env.start();
    let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let key = |name: &str, grants: &str| {
        let run = env.commsctl(&["keys", "create", name, "--grants", grants, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<Value>(&run.stdout).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin = key("human", "read,admin");
    let reader = key("agent", "read");
    let http = reqwest::blocking::Client::new();
    let receive = |i: usize| {
        let r = http
            .post(format!("{url}/api/v1/sandbox/receive"))
            .bearer_auth(&admin)
            .json(&json!({ "channel": "sms", "from": "+14155550100", "body": format!("message {i}") }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    };
    let open = |last: Option<&str>| {
        let mut r = http
            .get(format!("{url}/api/v1/events"))
            .bearer_auth(&reader);
        if let Some(id) = last {
            r = r.header("Last-Event-ID", id);
        }
        let resp = r.send().unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Sse {
            lines: BufReader::new(resp).lines(),
        }
    };

    let mut sse = open(None);
    receive(1);
    receive(2);
    let first = sse.until("received", 2);
    let last = first.last().unwrap().id.clone().unwrap();
    for e in &first {
        assert!(e.id.is_some(), "{e:?}");
        assert!(
            !e.data.to_string().contains("message 1"),
            "events never carry content: {e:?}"
        );
    }
    drop(sse);

    // Missed while away: two messages (and their audit rows).
    receive(3);
    receive(4);
    let mut sse = open(Some(&last));
    let resumed = sse.until("received", 2);
    let seqs: Vec<u64> = resumed
        .iter()
        .map(|e| seq(e.id.as_ref().unwrap()))
        .collect();
    let expected: Vec<u64> = (seq(&last) + 1..=seq(&last) + seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "consecutive from the resume point: {resumed:?}"
    );
    // Live after the replay, still consecutive.
    receive(5);
    let live = sse.until("received", 1);
    assert_eq!(
        seq(live[0].id.as_ref().unwrap()),
        seqs.last().unwrap() + 1,
        "{live:?}"
    );
    drop(sse);

    // An id of another daemon run: resync first.
    let mut sse = open(Some("1-3"));
    assert_eq!(sse.next().name, "resync");
    drop(sse);

    // A malformed id is refused, naming the header.
    let r = http
        .get(format!("{url}/api/v1/events"))
        .bearer_auth(&reader)
        .header("Last-Event-ID", "yesterday")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert_eq!(body["details"]["field"], "Last-Event-ID", "{body}");
    // No key, no events.
    let r = http.get(format!("{url}/api/v1/events")).send().unwrap();
    assert_eq!(r.status(), 401);

    // The same stream as a WebSocket, resumed with ?after=.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ws_url = format!(
        "{}/api/v1/events?after={last}",
        url.replacen("http", "ws", 1)
    );
    let frames: Vec<Value> = rt.block_on(async {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = ws_url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {reader}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut frames = Vec::new();
        while frames
            .iter()
            .filter(|f: &&Value| f["event"] == "received")
            .count()
            < 3
        {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
                .await
                .expect("a frame within 10 s")
                .unwrap()
                .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                frames.push(serde_json::from_str(&t).unwrap());
            }
        }
        frames
    });
    let ws_seqs: Vec<u64> = frames
        .iter()
        .map(|f| seq(f["id"].as_str().unwrap()))
        .collect();
    assert_eq!(ws_seqs[0], seq(&last) + 1, "{frames:?}");
    assert!(ws_seqs.windows(2).all(|w| w[1] == w[0] + 1), "{ws_seqs:?}");
    let received = frames.iter().find(|f| f["event"] == "received").unwrap();
    assert_eq!(received["data"]["channel"], "sms", "{received}");
}
