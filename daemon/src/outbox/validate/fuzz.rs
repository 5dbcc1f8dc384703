//! Fuzz tier of address and phone number validation (README, Fuzzing):
//! never a panic, accepted values validate again to themselves, refusals
//! name the field.

use proptest::prelude::*;

use super::*;
use crate::error::Code;
use crate::util::fuzz;

/// Mailbox-like input: a display name (bare or quoted), a local part and a
/// domain from characters that matter to RFC 5322, or anything at all.
fn mailbox_like() -> impl Strategy<Value = String> {
    let name = "[a-zA-Z äöü漢🦷\"\\\\(),.;:<>@'\t-]{0,20}";
    let local = "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\"\\\\ ü(),:;<>@\\[\\]-]{0,16}";
    let domain = "[a-zA-Z0-9.\\-\\[\\]:ü]{0,20}";
    prop_oneof![
        3 => (name, local, domain).prop_map(|(n, l, d)| format!("{n} <{l}@{d}>")),
        3 => (local, domain).prop_map(|(l, d)| format!("{l}@{d}")),
        1 => (name, local, domain).prop_map(|(n, l, d)| format!("\"{n}\" <{l}@{d}>")),
        1 => "[ -~]{0,40}",
        1 => any::<String>(),
        1 => "[a-z]{1,8}@[a-z]{1,8}\\.example[ \t\r\n]{0,2}",
        1 => "[a-z ]{500,520}@x\\.org",
    ]
}

fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[+]?[0-9 ().\\-]{0,24}",
        1 => "[ \t]*\\+[0-9０-９٣ ()+.\\-a-z]{0,20}[ \t\r\n]*",
        1 => any::<String>(),
    ]
}

fn assert_refusal(e: &Error, field: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(e.code, Code::InvalidArgument | Code::PayloadTooLarge),
        "{e:?}"
    );
    prop_assert_eq!(e.details["field"].as_str(), Some(field), "{:?}", e);
    prop_assert!(e.message.starts_with(&format!("{field}:")), "{:?}", e);
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::cases())]

    #[test]
    fn fuzz_mailbox_is_idempotent_and_names_the_field(input in mailbox_like()) {
        match mailbox("to", &input) {
            Ok(normalised) => {
                prop_assert_eq!(mailbox("to", &normalised).ok(), Some(normalised.clone()));
                prop_assert!(!normalised.chars().any(char::is_control));
            }
            Err(e) => assert_refusal(&e, "to")?,
        }
    }

    #[test]
    fn fuzz_mailboxes_name_the_first_bad_entry(
        inputs in proptest::collection::vec(mailbox_like(), 0..5),
    ) {
        match mailboxes("cc", &inputs) {
            Ok(all) => {
                prop_assert_eq!(all.len(), inputs.len());
                prop_assert_eq!(mailboxes("cc", &all).ok(), Some(all.clone()));
            }
            Err(e) => {
                let first_bad = inputs
                    .iter()
                    .position(|i| mailbox("x", i).is_err())
                    .unwrap();
                assert_refusal(&e, &format!("cc[{first_bad}]"))?;
            }
        }
    }

    #[test]
    fn fuzz_e164_is_idempotent_and_names_the_field(input in phone_like()) {
        match e164("to", &input) {
            Ok(number) => {
                prop_assert_eq!(e164("to", &number).ok(), Some(number.clone()));
                let digits = number.strip_prefix('+').unwrap();
                prop_assert!((7..=15).contains(&digits.len()), "{}", number);
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", number);
                prop_assert!(!digits.starts_with('0'), "{}", number);
            }
            Err(e) => assert_refusal(&e, "to")?,
        }
    }

    #[test]
    fn fuzz_chat_space_is_idempotent_and_names_the_field(
        input in prop_oneof!["[ ]?spaces/[A-Za-z0-9_/ -]{0,20}", any::<String>()],
    ) {
        match chat_space("space", &input) {
            Ok(space) => prop_assert_eq!(chat_space("space", &space).ok(), Some(space.clone())),
            Err(e) => assert_refusal(&e, "space")?,
        }
    }
}
