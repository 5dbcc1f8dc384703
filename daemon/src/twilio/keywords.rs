//! Opt-out keywords of an inbound SMS. Carriers and Twilio act on them
//! (Twilio blocks further messages from the sender after STOP and answers
//! 21610); commsd records them so that staging refuses an opted-out pair
//! before any call to Twilio.
//!
//! The whole body counts, trimmed, in any case: "stop" opts out, "please
//! stop" does not. With a Messaging Service's Advanced Opt-Out, Twilio
//! classifies the message itself (its keywords may be customised) and sends
//! `OptOutType`, which takes precedence.

use serde::Serialize;

/// What an inbound message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN: &[&str] = &["START", "UNSTOP", "YES"];
const HELP: &[&str] = &["HELP"];

/// The keyword a body is, if it is one.
pub fn classify_body(body: &str) -> Option<Keyword> {
    let word = body.trim();
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
    if is(OPT_OUT) {
        Some(Keyword::OptOut)
    } else if is(OPT_IN) {
        Some(Keyword::OptIn)
    } else if is(HELP) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// Twilio's `OptOutType` parameter (STOP, START, HELP).
pub fn classify_opt_out_type(value: &str) -> Option<Keyword> {
    match value.trim().to_ascii_uppercase().as_str() {
        "STOP" => Some(Keyword::OptOut),
        "START" => Some(Keyword::OptIn),
        "HELP" => Some(Keyword::Help),
        _ => None,
    }
}

/// An inbound message's keyword: `OptOutType` when Twilio sent one it
/// names, else the body's.
pub fn classify(body: &str, opt_out_type: Option<&str>) -> Option<Keyword> {
    match opt_out_type {
        Some(t) if !t.trim().is_empty() => classify_opt_out_type(t).or_else(|| classify_body(body)),
        _ => classify_body(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_body_any_case_trimmed() {
        let table = [
            ("STOP", Some(Keyword::OptOut)),
            ("stop", Some(Keyword::OptOut)),
            ("  Stop \n", Some(Keyword::OptOut)),
            ("StopAll", Some(Keyword::OptOut)),
            ("unsubscribe", Some(Keyword::OptOut)),
            ("cancel", Some(Keyword::OptOut)),
            ("END", Some(Keyword::OptOut)),
            ("quit", Some(Keyword::OptOut)),
            ("revoke", Some(Keyword::OptOut)),
            ("OptOut", Some(Keyword::OptOut)),
            ("start", Some(Keyword::OptIn)),
            ("UNSTOP", Some(Keyword::OptIn)),
            ("yes", Some(Keyword::OptIn)),
            ("help", Some(Keyword::Help)),
            ("please stop", None),
            ("stop.", None),
            ("stopp", None),
            ("opt out", None),
            ("", None),
            ("Yes I'll be there", None),
        ];
        for (body, want) in table {
            assert_eq!(classify_body(body), want, "{body:?}");
        }
    }

    #[test]
    fn opt_out_type_takes_precedence() {
        assert_eq!(classify("arret", Some("STOP")), Some(Keyword::OptOut));
        assert_eq!(classify("stop", Some("START")), Some(Keyword::OptIn));
        assert_eq!(classify("info", Some("help")), Some(Keyword::Help));
        // Absent, empty or unknown: the body decides.
        assert_eq!(classify("stop", None), Some(Keyword::OptOut));
        assert_eq!(classify("stop", Some("")), Some(Keyword::OptOut));
        assert_eq!(classify("hello", Some("OTHER")), None);
    }
}
