//! Twilio's error codes that SMS users meet, explained for the human who
//! reads the item: what happened and what to do. A code comes back on the
//! create call (HTTP 400 with `code`) or later in a status callback
//! (`ErrorCode` with `undelivered` or `failed`).

use serde::Serialize;

/// What an error is about: what commsd does next depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Concern {
    /// The recipient opted out of this sender: the pair is marked.
    OptedOut,
    /// The credential (auth token or API key) was refused.
    Credentials,
    /// The sender (From or Messaging Service) cannot send this.
    Sender,
    /// The sender's registration (A2P 10DLC, toll-free verification).
    Registration,
    /// The recipient's number.
    Recipient,
    /// The carrier refused or filtered the message.
    Carrier,
}

/// One known code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Known {
    pub code: u32,
    pub concern: Concern,
    /// What happened, in one sentence.
    pub summary: &'static str,
    /// What a human can do about it.
    pub remedy: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        code: 20003,
        concern: Concern::Credentials,
        summary: "Twilio refused the credentials (authentication failed)",
        remedy: "check the Account SID and the auth token (or API key and secret), then add the account again",
    },
    Known {
        code: 21211,
        concern: Concern::Recipient,
        summary: "the To number is not a valid phone number",
        remedy: "write it in E.164 form, e.g. +15551234567",
    },
    Known {
        code: 21603,
        concern: Concern::Sender,
        summary: "no sender: the message had neither From nor MessagingServiceSid",
        remedy: "give the account a From number or a Messaging Service",
    },
    Known {
        code: 21606,
        concern: Concern::Sender,
        summary: "the From number is not an SMS-capable number of this Twilio account",
        remedy: "use a number listed under Phone Numbers in the Twilio console, or a Messaging Service",
    },
    Known {
        code: 21610,
        concern: Concern::OptedOut,
        summary: "the recipient has opted out of messages from this sender (they replied STOP)",
        remedy: "do not message them again unless they reply START",
    },
    Known {
        code: 30003,
        concern: Concern::Recipient,
        summary: "the recipient's handset is unreachable (off, out of coverage, or unable to receive SMS)",
        remedy: "try again later, or reach them another way",
    },
    Known {
        code: 30005,
        concern: Concern::Recipient,
        summary: "the number is unknown to the carrier or no longer exists",
        remedy: "check the number with the recipient",
    },
    Known {
        code: 30007,
        concern: Concern::Carrier,
        summary: "the carrier filtered the message as spam or unwanted",
        remedy: "rephrase it (links and shortened URLs are often filtered) and make sure the sender is registered",
    },
    Known {
        code: 30032,
        concern: Concern::Registration,
        summary: "the toll-free number is not verified, so US and Canadian carriers block it",
        remedy: "complete toll-free verification in the Twilio console, or send from a registered number",
    },
    Known {
        code: 30034,
        concern: Concern::Registration,
        summary: "the US number is not registered for A2P 10DLC, so carriers block it",
        remedy: "register a brand and campaign in the Twilio console and add the number to a Messaging Service",
    },
];

/// What is known about `code`.
pub fn known(code: u32) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.code == code)
}

/// Twilio's page about `code`.
pub fn more_info(code: u32) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}

/// One line for a human: the explanation of a known code, else Twilio's own
/// message (if any), always with the code and its page.
pub fn explain(code: u32, twilio_message: Option<&str>) -> String {
    match (known(code), twilio_message.map(str::trim)) {
        (Some(k), _) => format!(
            "Twilio error {code}: {}; {} ({})",
            k.summary,
            k.remedy,
            more_info(code)
        ),
        (None, Some(m)) if !m.is_empty() => {
            format!("Twilio error {code}: {m} ({})", more_info(code))
        }
        (None, _) => format!("Twilio error {code} ({})", more_info(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_issue_names_is_explained() {
        for code in [
            30034, 30032, 21610, 30003, 30005, 30007, 21603, 21606, 21211, 20003,
        ] {
            let k = known(code).unwrap_or_else(|| panic!("{code} is not explained"));
            assert_eq!(k.code, code);
            assert!(!k.summary.is_empty() && !k.remedy.is_empty());
        }
        assert_eq!(KNOWN.len(), 10, "one entry per code");
    }

    #[test]
    fn explanations_carry_the_code_and_its_page() {
        let text = explain(30034, Some("Message blocked"));
        assert!(
            text.starts_with("Twilio error 30034: the US number is not registered for A2P 10DLC")
        );
        assert!(text.ends_with("(https://www.twilio.com/docs/errors/30034)"));
        assert_eq!(known(21610).map(|k| k.concern), Some(Concern::OptedOut));
        assert_eq!(
            explain(30008, Some("Unknown error")),
            "Twilio error 30008: Unknown error (https://www.twilio.com/docs/errors/30008)"
        );
        assert_eq!(
            explain(99999, None),
            "Twilio error 99999 (https://www.twilio.com/docs/errors/99999)"
        );
    }
}
