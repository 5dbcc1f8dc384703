//! The fuzz tier's settings, shared by every `fuzz_*` property test.
//!
//! Each property runs [`DEFAULT_CASES`] cases (or what its caller passes)
//! in the normal test tier, and `COMMSD_FUZZ_CASES` cases when that is set,
//! for long runs on demand:
//! `COMMSD_FUZZ_CASES=100000 cargo nextest run -p commsd -E 'test(/fuzz_/)'`.

use proptest::test_runner::Config;

/// Cases per property in the normal test tier.
pub const DEFAULT_CASES: u32 = 256;

/// The environment variable that overrides every property's case count.
pub const CASES_VAR: &str = "COMMSD_FUZZ_CASES";

/// `default` cases, or `$COMMSD_FUZZ_CASES` when set to a number. Failures
/// are not persisted to files: a failure found becomes a named unit test.
pub fn config(default: u32) -> Config {
    let cases = std::env::var(CASES_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The default tier's config: [`DEFAULT_CASES`] cases.
pub fn cases() -> Config {
    config(DEFAULT_CASES)
}
