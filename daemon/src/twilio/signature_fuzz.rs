//! Fuzz tier of `X-Twilio-Signature` (README, Fuzzing): arbitrary requests
//! never panic; a signature made over arbitrary parameters always
//! verifies; changing one character of the URL or of a parameter (so that
//! the signed content changes) always makes it fail.

use proptest::prelude::*;

use super::*;
use crate::util::fuzz;

fn odd() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 +=&%?#/:;,.'\"<>äü漢🦷\r\n\t-]{0,16}",
        1 => any::<String>(),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((odd(), odd()), 0..6)
}

/// Public URLs as configured: scheme, host, optional port and prefix.
fn public_url() -> impl Strategy<Value = String> {
    (
        "(https|http|HTTPS)",
        "[a-z0-9.-]{1,12}|\\[::1\\]|user@[a-z]{1,6}",
        proptest::option::of(0u16..),
        "(/[a-z0-9_-]{0,6}){0,2}/?",
    )
        .prop_map(|(scheme, host, port, prefix)| match port {
            Some(port) => format!("{scheme}://{host}:{port}{prefix}"),
            None => format!("{scheme}://{host}{prefix}"),
        })
}

fn path_and_query() -> impl Strategy<Value = String> {
    "/webhooks/twilio/(sms|status)(\\?[a-zA-Z0-9=&%._~+-]{0,20})?"
}

fn form(p: &[(String, String)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish()
        .into_bytes()
}

/// What the signature covers: the distinct pairs, sorted.
fn signed_set(p: &[(String, String)]) -> Vec<(String, String)> {
    let mut set = p.to_vec();
    set.sort();
    set.dedup();
    set
}

/// `s` with its `at`-th character (modulo its length) replaced by `c`.
fn replace_char(s: &str, at: usize, c: char) -> Option<String> {
    let n = s.chars().count();
    if n == 0 {
        return None;
    }
    let at = at % n;
    Some(
        s.chars()
            .enumerate()
            .map(|(i, old)| if i == at { c } else { old })
            .collect(),
    )
}

proptest! {
    #![proptest_config(fuzz::cases())]

    /// Any request parts: an answer, never a panic.
    #[test]
    fn fuzz_signature_arbitrary_requests_never_panic(
        token in any::<Vec<u8>>(),
        public in prop_oneof![public_url(), any::<String>()],
        path in prop_oneof![path_and_query(), any::<String>()],
        content_type in proptest::option::of(prop_oneof![
            Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
            Just("application/json".to_owned()),
            any::<String>(),
        ]),
        body in any::<Vec<u8>>(),
        signature in proptest::option::of(any::<String>()),
        settings in proptest::option::of("(key=[a-z]{0,4},)?algorithm=[A-Z_0-9]{0,12}|[^\n]{0,20}"),
    ) {
        let req = Request {
            path_and_query: &path,
            content_type: content_type.as_deref(),
            body: &body,
            signature: signature.as_deref(),
            signature_settings: settings.as_deref(),
        };
        let _ = verify(&token, &public, &req);
        let _ = url_variants(&public);
        let _ = url_variants(&path);
    }

    /// A signature over the URL Twilio called and any parameters verifies,
    /// and gives back exactly the parameters sent.
    #[test]
    fn fuzz_signature_over_arbitrary_params_verifies(
        token in any::<Vec<u8>>(),
        public in public_url(),
        path in path_and_query(),
        params in params(),
    ) {
        let body = form(&params);
        let signature = compute(&token, &signed_url(&public, &path), &params);
        let req = Request {
            path_and_query: &path,
            content_type: Some("application/x-www-form-urlencoded"),
            body: &body,
            signature: Some(&signature),
            signature_settings: None,
        };
        prop_assert_eq!(verify(&token, &public, &req), Ok(Verified::Form(params)));
    }

    /// One character of the URL or of one parameter's name or value
    /// replaced: refused, unless the signed content stayed the same (a
    /// change that turns one pair into a copy of another, which Twilio's
    /// algorithm counts once).
    #[test]
    fn fuzz_signature_one_changed_character_fails(
        token in any::<Vec<u8>>(),
        url in prop_oneof![public_url(), public_url().prop_map(|u| format!("{u}/x?a=1"))],
        params in params(),
        target in 0usize..3,
        which in any::<usize>(),
        at in any::<usize>(),
        c in any::<char>(),
    ) {
        let signature = compute(&token, &url, &params);
        let (url2, params2) = match (target, params.len()) {
            (0, _) | (_, 0) => match replace_char(&url, at, c) {
                Some(u) => (u, params.clone()),
                None => return Ok(()),
            },
            (t, n) => {
                let mut p = params.clone();
                let pair = &mut p[which % n];
                let field = if t == 1 { &mut pair.0 } else { &mut pair.1 };
                match replace_char(field, at, c) {
                    Some(changed) => *field = changed,
                    None => return Ok(()),
                }
                (url.clone(), p)
            }
        };
        let unchanged = url2 == url && signed_set(&params2) == signed_set(&params);
        prop_assume!(!unchanged);
        prop_assert!(
            verify_params(&token, &url2, &params2, &signature).is_err(),
            "{url2} {params2:?}"
        );
    }
}
