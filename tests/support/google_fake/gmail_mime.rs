//! Gmail's view of RFC 5322 messages for the fake: headers as Gmail shows
//! them, the `payload` part tree, snippets, attachments, Gmail's search
//! syntax (the parts of it tests use) and the check Gmail makes before it
//! sends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};

use super::Reply;
use super::gmail::{Mailbox, Msg};

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Gmail refuses to send a message without a recipient.
pub fn check_sendable(raw: &[u8]) -> Result<(), Reply> {
    let p = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Reply::error(400, "invalidArgument", "Invalid RFC822 message"))?;
    if p.to().is_none() && p.cc().is_none() && p.bcc().is_none() {
        return Err(Reply::error(
            400,
            "invalidArgument",
            "Recipient address required",
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ query

fn header_text(raw: &[u8], name: &str) -> String {
    let Some(p) = MessageParser::default().parse(raw) else {
        return String::new();
    };
    let mut out = String::new();
    for h in p.headers() {
        if h.name.as_str().eq_ignore_ascii_case(name) {
            out.push_str(&header_value_text(
                &h.value,
                raw,
                h.offset_start,
                h.offset_end,
            ));
            out.push(' ');
        }
    }
    out
}

pub fn matches_query(mb: &Mailbox, m: &Msg, query: &str) -> bool {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    terms.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        terms.push(cur);
    }
    terms.iter().all(|t| {
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.as_str()),
        };
        let lower = |s: String| s.to_lowercase();
        let hit = match t.split_once(':') {
            Some(("from", v)) => lower(header_text(&m.raw, "From")).contains(&v.to_lowercase()),
            Some(("to", v)) => lower(header_text(&m.raw, "To") + &header_text(&m.raw, "Cc"))
                .contains(&v.to_lowercase()),
            Some(("subject", v)) => {
                lower(header_text(&m.raw, "Subject")).contains(&v.to_lowercase())
            }
            Some(("is", "unread")) => m.labels.iter().any(|l| l == "UNREAD"),
            Some(("is", "read")) => !m.labels.iter().any(|l| l == "UNREAD"),
            Some(("is", "starred")) => m.labels.iter().any(|l| l == "STARRED"),
            Some(("label", v)) | Some(("in", v)) => {
                let id = mb.label_id(v);
                m.labels.contains(&id)
            }
            Some(("has", "attachment")) => attachments_of(&m.raw).next().is_some(),
            _ => {
                let text = lower(
                    header_text(&m.raw, "Subject")
                        + &header_text(&m.raw, "From")
                        + &body_text(&m.raw),
                );
                text.contains(&t.to_lowercase())
            }
        };
        hit != neg
    })
}

// ------------------------------------------------------------------ rendering

/// A header's value as Gmail shows it: RFC 2047 decoded, addresses as
/// `Name <addr>`, message ids with their angle brackets (raw).
fn header_value_text(v: &HeaderValue<'_>, raw: &[u8], start: u32, end: u32) -> String {
    let raw_value = || {
        String::from_utf8_lossy(raw.get(start as usize..end as usize).unwrap_or_default())
            .replace("\r\n", "")
            .trim()
            .to_owned()
    };
    if raw_value().starts_with('<') {
        return raw_value();
    }
    let addr = |a: &mail_parser::Addr<'_>| match (&a.name, &a.address) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (None, Some(e)) => e.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    };
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l
            .iter()
            .map(|s| format!("<{s}>"))
            .collect::<Vec<_>>()
            .join(" "),
        HeaderValue::Address(Address::List(l)) => l.iter().map(addr).collect::<Vec<_>>().join(", "),
        HeaderValue::Address(Address::Group(g)) => g
            .iter()
            .flat_map(|g| g.addresses.iter().map(addr))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::from_utf8_lossy(raw.get(start as usize..end as usize).unwrap_or_default())
            .replace("\r\n", "")
            .trim()
            .to_owned(),
    }
}

fn body_text(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|p| p.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

pub fn snippet(raw: &[u8]) -> String {
    let t = body_text(raw);
    let flat: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(120).collect()
}

pub fn attachments_of(raw: &[u8]) -> impl Iterator<Item = (String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(p) = MessageParser::default().parse(raw) {
        walk_parts(&p, 0, String::new(), &mut |part_id, part| {
            if part.attachment_name().is_some() {
                out.push((part_id.to_owned(), part.contents().to_vec()));
            }
        });
    }
    out.into_iter()
}

pub fn attachment(raw: &[u8], attachment_id: &str) -> Option<Vec<u8>> {
    attachments_of(raw)
        .find(|(pid, _)| attachment_id.ends_with(&format!("-{pid}")))
        .map(|(_, d)| d)
}

fn walk_parts(
    msg: &mail_parser::Message<'_>,
    idx: u32,
    part_id: String,
    f: &mut dyn FnMut(&str, &mail_parser::MessagePart<'_>),
) {
    let Some(part) = msg.part(idx) else { return };
    f(&part_id, part);
    if let PartType::Multipart(children) = &part.body {
        for (i, c) in children.iter().enumerate() {
            let child_id = if part_id.is_empty() {
                i.to_string()
            } else {
                format!("{part_id}.{i}")
            };
            walk_parts(msg, *c, child_id, f);
        }
    }
}

fn part_json(
    msg: &mail_parser::Message<'_>,
    mid: &str,
    idx: u32,
    part_id: String,
    headers_only: Option<&[String]>,
) -> Value {
    let Some(part) = msg.part(idx) else {
        return json!({});
    };
    let raw = msg.raw_message();
    let headers: Vec<Value> = part
        .headers
        .iter()
        .filter(|h| {
            headers_only.is_none_or(|only| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(h.name.as_str())))
        })
        .map(|h| json!({ "name": h.name.as_str(), "value": header_value_text(&h.value, raw, h.offset_start, h.offset_end) }))
        .collect();
    let mime = part
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("plain")).to_lowercase())
        .unwrap_or_else(|| "text/plain".into());
    let mut out = json!({ "partId": part_id, "mimeType": mime, "filename": part.attachment_name().unwrap_or(""), "headers": headers });
    if headers_only.is_some() {
        return out;
    }
    match &part.body {
        PartType::Multipart(children) => {
            out["body"] = json!({ "size": 0 });
            out["parts"] = Value::Array(
                children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let id = if part_id.is_empty() {
                            i.to_string()
                        } else {
                            format!("{part_id}.{i}")
                        };
                        part_json(msg, mid, *c, id, None)
                    })
                    .collect(),
            );
        }
        _ => {
            let data = part.contents();
            if part.attachment_name().is_some() {
                out["body"] =
                    json!({ "size": data.len(), "attachmentId": format!("ANGjdJ{mid}-{part_id}") });
            } else {
                out["body"] = json!({ "size": data.len(), "data": b64url(data) });
            }
        }
    }
    out
}

pub fn render(m: &Msg, format: &str, metadata_headers: &[String]) -> Value {
    let mut out = json!({
        "id": m.id,
        "threadId": m.thread_id,
        "labelIds": m.labels,
        "snippet": snippet(&m.raw),
        "historyId": m.history_id.to_string(),
        "internalDate": m.internal_date.to_string(),
        "sizeEstimate": m.raw.len(),
    });
    match format {
        "raw" => out["raw"] = json!(b64url(&m.raw)),
        "metadata" | "full" => {
            if let Some(p) = MessageParser::default().parse(&m.raw) {
                let only = (format == "metadata").then_some(metadata_headers);
                out["payload"] = part_json(&p, &m.id, 0, String::new(), only);
            }
        }
        _ => {}
    }
    out
}
