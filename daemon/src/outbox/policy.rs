//! The send policy: which decision (approve, confirm, auto) an item gets,
//! who may be messaged at all (allowlists), and how much may leave (caps).

use crate::error::{Code, Error};
use crate::outbox::config::{Cap, PolicyConfig};
use crate::outbox::model::{Channel, Decision};

/// Checks a recipient pattern's syntax; the error says what is expected.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let ok = pattern == "*"
        || (pattern.starts_with('@') && pattern.len() > 1 && !pattern[1..].contains('@'))
        || (pattern.contains('@') && !pattern.starts_with('@'))
        || is_phone_pattern(pattern)
        || pattern
            .strip_prefix("spaces/")
            .is_some_and(|s| !s.is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{pattern:?} is not a recipient pattern; expected \"*\", \"@example.org\", \
             \"jane@example.org\", \"+14155550100\", \"+4930*\" or \"spaces/AAAA\""
        ))
    }
}

fn is_phone_pattern(p: &str) -> bool {
    let Some(digits) = p.strip_prefix('+') else {
        return false;
    };
    let digits = digits.strip_suffix('*').unwrap_or(digits);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `recipient` (a bare address, an E.164 number or a space name) matches `pattern`.
pub fn matches(pattern: &str, recipient: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(domain) = pattern.strip_prefix('@') {
        return recipient
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return recipient.starts_with(prefix);
    }
    if pattern.contains('@') {
        return pattern.eq_ignore_ascii_case(recipient);
    }
    pattern == recipient
}

/// The decision for an item and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub rule: String,
}

/// The first matching rule decides; otherwise `policy.default`.
pub fn decide(
    policy: &PolicyConfig,
    channel: Channel,
    account: &str,
    recipients: &[String],
) -> Verdict {
    for (i, rule) in policy.rules.iter().enumerate() {
        let channel_ok = rule.channel.is_none_or(|c| c == channel);
        let account_ok = rule.account.as_deref().is_none_or(|a| a == account);
        let recipients_ok = rule.recipients.is_empty()
            || recipients
                .iter()
                .all(|r| rule.recipients.iter().any(|p| matches(p, r)));
        if channel_ok && account_ok && recipients_ok {
            let rule_name = match &rule.name {
                Some(name) => format!("policy.rules[{i}] ({name})"),
                None => format!("policy.rules[{i}]"),
            };
            return Verdict {
                decision: rule.decision,
                rule: rule_name,
            };
        }
    }
    Verdict {
        decision: policy.default,
        rule: "policy.default".to_owned(),
    }
}

/// Refuses recipients outside the channel's allowlist, naming the first one.
pub fn check_allowlist(
    policy: &PolicyConfig,
    channel: Channel,
    recipients: &[String],
) -> Result<(), Error> {
    let Some(list) = policy.allowlist.for_channel(channel) else {
        return Ok(());
    };
    match recipients
        .iter()
        .find(|r| !list.iter().any(|p| matches(p, r)))
    {
        None => Ok(()),
        Some(r) => Err(Error::new(
            Code::RecipientNotAllowed,
            format!(
                "{r} is not on the {} allowlist (policy.allowlist.{}); nothing was staged",
                channel.as_str(),
                channel.as_str()
            ),
        )
        .with_details(serde_json::json!({ "recipient": r, "channel": channel.as_str() }))),
    }
}

/// The caps that apply to `account` on `channel`, with their config index.
pub fn caps_for<'a>(
    policy: &'a PolicyConfig,
    channel: Channel,
    account: &str,
) -> Vec<(usize, &'a Cap)> {
    policy
        .caps
        .iter()
        .enumerate()
        .filter(|(_, c)| c.channel.is_none_or(|ch| ch == channel))
        .filter(|(_, c)| c.account.as_deref().is_none_or(|a| a == account))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn policy(toml: &str) -> PolicyConfig {
        Config::parse(toml).unwrap().policy
    }

    #[test]
    fn default_is_approve_for_everything() {
        let p = PolicyConfig::default();
        for channel in Channel::ALL {
            let v = decide(&p, channel, "sandbox", &["x@y.z".into()]);
            assert_eq!(v.decision, Decision::Approve);
            assert_eq!(v.rule, "policy.default");
        }
    }

    #[test]
    fn first_matching_rule_decides_and_all_recipients_must_match() {
        let p = policy(
            r#"
            [[policy.rules]]
            name = "staff"
            channel = "email"
            recipients = ["@practice.example"]
            decision = "auto"
            [[policy.rules]]
            channel = "sms"
            account = "sandbox"
            recipients = ["+1415*"]
            decision = "confirm"
            "#,
        );
        let staff = decide(
            &p,
            Channel::Email,
            "sandbox",
            &["a@practice.example".into(), "b@PRACTICE.example".into()],
        );
        assert_eq!(staff.decision, Decision::Auto);
        assert_eq!(staff.rule, "policy.rules[0] (staff)");
        let mixed = decide(
            &p,
            Channel::Email,
            "sandbox",
            &["a@practice.example".into(), "c@other.example".into()],
        );
        assert_eq!(
            mixed.decision,
            Decision::Approve,
            "one outside recipient falls back"
        );
        let sms = decide(&p, Channel::Sms, "sandbox", &["+14155550100".into()]);
        assert_eq!(
            (sms.decision, sms.rule.as_str()),
            (Decision::Confirm, "policy.rules[1]")
        );
        let other_account = decide(&p, Channel::Sms, "work", &["+14155550100".into()]);
        assert_eq!(other_account.decision, Decision::Approve);
    }

    #[test]
    fn allowlist_names_the_refused_recipient() {
        let p = policy("[policy.allowlist]\nsms = [\"+1415*\"]\n");
        assert!(check_allowlist(&p, Channel::Sms, &["+14155550100".into()]).is_ok());
        let err = check_allowlist(
            &p,
            Channel::Sms,
            &["+14155550100".into(), "+4930123456".into()],
        )
        .unwrap_err();
        assert_eq!(err.code, Code::RecipientNotAllowed);
        assert!(err.message.contains("+4930123456"), "{}", err.message);
        assert!(
            check_allowlist(&p, Channel::Email, &["any@x.org".into()]).is_ok(),
            "no email list"
        );
    }

    #[test]
    fn patterns() {
        assert!(matches("*", "anything"));
        assert!(matches("@x.org", "a@X.ORG"));
        assert!(!matches("@x.org", "a@sub.x.org"));
        assert!(matches("jane@x.org", "JANE@x.org"));
        assert!(matches("+49*", "+4930123"));
        assert!(!matches("+49", "+4930123"));
        assert!(matches("spaces/AAA", "spaces/AAA"));
        for bad in ["", "x.org", "@", "+", "+12a", "spaces/"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn caps_filter_by_channel_and_account() {
        let p = policy(
            "[[policy.caps]]\nchannel = \"sms\"\nper_hour = 5\n[[policy.caps]]\naccount = \"work\"\nper_day = 100\n",
        );
        assert_eq!(caps_for(&p, Channel::Sms, "sandbox").len(), 1);
        assert_eq!(caps_for(&p, Channel::Sms, "work").len(), 2);
        assert_eq!(caps_for(&p, Channel::Email, "sandbox").len(), 0);
    }
}
