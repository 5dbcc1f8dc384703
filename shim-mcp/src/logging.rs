//! Logging for commsd's binaries (`commsd`, `comms-mcp`): `COMMSD_LOG`, and
//! the rule that secrets and message bodies never reach a log at any level.
//!
//! commsd's own code logs neither, at any level, so its targets follow
//! `COMMSD_LOG` fully. The libraries it uses trace their protocols: at
//! `trace` async-imap logs `LOGIN "user" "<password>"` and every FETCH, and
//! at `debug` rmcp logs each `tools/call` with its arguments (message
//! bodies). So every target that is not commsd's own is capped at `warn`,
//! whatever `COMMSD_LOG` says, explicit directives such as
//! `COMMSD_LOG=async_imap=trace` included: the cap is a second filter beside
//! the `COMMSD_LOG` one, and an event is written only when both let it
//! through. `log` records (async-imap, rustls, reqwest) are filtered by
//! their own target the same way.
//!
//! `COMMSD_LOG_PROTOCOL_INSECURE=1` lifts the cap for protocol debugging,
//! and the program then says at start-up, on stderr, that secrets and
//! message bodies will be written to the log.

use tracing::Metadata;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::combinator::And;
use tracing_subscriber::filter::{FilterExt, FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The log filter's environment variable, e.g. `info` or `commsd=debug`.
pub const LOG_ENV: &str = "COMMSD_LOG";

/// Set to `1` to let third-party protocol tracing through (it carries
/// passwords, tokens and message bodies).
pub const INSECURE_ENV: &str = "COMMSD_LOG_PROTOCOL_INSECURE";

/// The crates (log targets) that are commsd's own.
const OWN_TARGETS: &[&str] = &[
    "commsd",
    "commsd_mcp",
    "commsd_proto",
    "comms_mcp",
    "commsctl",
];

/// The most a target that is not commsd's own may log.
const THIRD_PARTY_CAP: LevelFilter = LevelFilter::WARN;

/// Whether `target` is one of commsd's crates or a module in one.
pub fn is_own_target(target: &str) -> bool {
    OWN_TARGETS.iter().any(|own| {
        target
            .strip_prefix(own)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

fn capped(meta: &Metadata<'_>) -> bool {
    is_own_target(meta.target()) || THIRD_PARTY_CAP >= *meta.level()
}

fn uncapped(_: &Metadata<'_>) -> bool {
    true
}

/// The filter every commsd binary logs through: `COMMSD_LOG` and the cap.
pub type LogFilter<S> = And<EnvFilter, FilterFn<fn(&Metadata<'_>) -> bool>, S>;

/// What `COMMSD_LOG` and `COMMSD_LOG_PROTOCOL_INSECURE` ask for.
#[derive(Debug)]
pub struct Settings {
    env_filter: EnvFilter,
    /// The cap is lifted.
    pub insecure: bool,
    /// Problems with the variables, for stderr (a log may not exist yet).
    pub notes: Vec<String>,
}

impl Settings {
    /// From the environment; `default` when `COMMSD_LOG` is unset or invalid.
    pub fn from_env(default: &str) -> Settings {
        let log = std::env::var(LOG_ENV).ok();
        let insecure = std::env::var(INSECURE_ENV).ok();
        Settings::new(log.as_deref(), insecure.as_deref(), default)
    }

    /// From the values of `COMMSD_LOG` and `COMMSD_LOG_PROTOCOL_INSECURE`.
    pub fn new(log: Option<&str>, insecure: Option<&str>, default: &str) -> Settings {
        let mut notes = Vec::new();
        let env_filter = match log {
            None => EnvFilter::new(default),
            Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|e| {
                notes.push(format!(
                    "ignoring invalid {LOG_ENV} ({e}); using `{default}`"
                ));
                EnvFilter::new(default)
            }),
        };
        let insecure = match insecure {
            None | Some("" | "0") => false,
            Some("1") => true,
            Some(other) => {
                notes.push(format!(
                    "ignoring {INSECURE_ENV}={other:?}: only 1 lifts the filter on protocol \
                     tracing"
                ));
                false
            }
        };
        Settings {
            env_filter,
            insecure,
            notes,
        }
    }

    /// The filter: `COMMSD_LOG`, and third-party targets at most `warn`
    /// unless the cap is lifted.
    pub fn filter<S>(self) -> LogFilter<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let cap: fn(&Metadata<'_>) -> bool = if self.insecure { uncapped } else { capped };
        self.env_filter.and(FilterFn::new(cap))
    }
}

/// The start-up warning when the cap is lifted.
pub fn insecure_warning(program: &str) -> String {
    format!(
        "{program}: WARNING: {INSECURE_ENV}=1: third-party protocol tracing is not filtered; \
         passwords, OAuth tokens, API keys and message bodies WILL be written to this log. \
         Unset it as soon as you are done debugging, and delete the log."
    )
}

/// Sets up logging to stderr for `program` (`default`: the filter when
/// `COMMSD_LOG` is unset). Notes about the variables, and the warning when
/// the cap is lifted, go to stderr directly, so no filter can hide them.
pub fn init_stderr(program: &str, default: &str, show_target: bool, ansi: bool) {
    let settings = Settings::from_env(default);
    for note in &settings.notes {
        eprintln!("{program}: {note}");
    }
    if settings.insecure {
        eprintln!("{}", insecure_warning(program));
    }
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(show_target)
        .with_filter(settings.filter());
    tracing_subscriber::registry().with(layer).init();
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex, OnceLock};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// Everything logged by `emit` under `settings`, as `init_stderr` sets it up.
    fn logged(settings: Settings, emit: impl FnOnce()) -> String {
        // `log` records reach tracing as in the binaries (`init` installs it).
        static LOG_TRACER: OnceLock<()> = OnceLock::new();
        LOG_TRACER.get_or_init(|| tracing_log::LogTracer::init().unwrap());
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .with_ansi(false)
            .with_filter(settings.filter());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    /// What the libraries really log: async-imap through `log`, rmcp and
    /// hyper through `tracing`; and commsd's own events.
    fn emit() {
        log::trace!(target: "async_imap::client", "encode: input: LOGIN \"ada\" \"imap-password-1\"");
        log::debug!(target: "async_imap", "FETCH body: Dear Jane, your results");
        tracing::debug!(
            target: "rmcp::service",
            request = "CallToolRequest { arguments: {\"text\": \"Dear Jane, your results\"} }",
            "received request"
        );
        tracing::trace!(target: "hyper::proto", "authorization: Bearer cmsd_key_secret");
        tracing::info!(target: "rmcp::service", "Service initialized as server");
        tracing::warn!(target: "rmcp::service", "peer went away");
        log::error!(target: "rustls::conn", "certificate expired");
        tracing::trace!(target: "commsd::mail::client", "own trace event");
        tracing::debug!(target: "commsd_mcp::server", "own debug event");
        tracing::info!(target: "comms_mcp", "own info event");
    }

    const SECRETS: [&str; 3] = ["imap-password-1", "Dear Jane", "cmsd_key_secret"];

    #[test]
    fn third_party_tracing_is_capped_at_warn_whatever_commsd_log_says() {
        for directives in [
            "trace",
            "debug",
            "error,async_imap=trace,rmcp=trace,hyper=trace,commsd=trace,commsd_mcp=trace,comms_mcp=trace",
            "info,async_imap::client=trace,rmcp::service=debug,commsd=trace,commsd_mcp=debug",
            "[{request}]=trace,trace",
        ] {
            let out = logged(Settings::new(Some(directives), None, "info"), emit);
            for secret in SECRETS {
                assert!(
                    !out.contains(secret),
                    "{directives}: {secret} logged:\n{out}"
                );
            }
            assert!(
                !out.contains("Service initialized"),
                "{directives}: an info event of rmcp:\n{out}"
            );
            assert!(
                out.contains("peer went away"),
                "{directives}: warnings stay:\n{out}"
            );
            assert!(
                out.contains("certificate expired"),
                "{directives}: log errors stay:\n{out}"
            );
            assert_eq!(
                out.contains("own trace event"),
                directives.contains("trace"),
                "{directives}: commsd's own trace follows COMMSD_LOG:\n{out}"
            );
            assert!(out.contains("own debug event"), "{directives}:\n{out}");
        }
    }

    #[test]
    fn commsd_log_still_governs_commsd_and_can_silence_third_parties() {
        let out = logged(Settings::new(Some("warn,commsd=debug"), None, "info"), emit);
        assert!(!out.contains("own trace event"), "{out}");
        assert!(out.contains("peer went away"), "{out}");
        let out = logged(Settings::new(Some("off"), None, "info"), emit);
        assert_eq!(out, "");
        // Unset: the binary's default.
        let out = logged(Settings::new(None, None, "info"), emit);
        assert!(
            out.contains("own info event") && !out.contains("own debug event"),
            "{out}"
        );
    }

    #[test]
    fn the_insecure_opt_in_lifts_the_cap() {
        let settings = Settings::new(Some("trace"), Some("1"), "info");
        assert!(settings.insecure && settings.notes.is_empty());
        let out = logged(settings, emit);
        for secret in SECRETS {
            assert!(
                out.contains(secret),
                "{secret} not logged with the opt-in:\n{out}"
            );
        }
        let warning = insecure_warning("commsd");
        assert!(warning.contains("WILL be written"), "{warning}");
        assert!(warning.contains(INSECURE_ENV), "{warning}");
    }

    #[test]
    fn bad_values_are_noted_and_change_nothing() {
        let settings = Settings::new(Some("trace"), Some("yes"), "info");
        assert!(!settings.insecure);
        assert!(
            settings.notes[0].contains("only 1 lifts"),
            "{:?}",
            settings.notes
        );
        let out = logged(settings, emit);
        assert!(!out.contains("imap-password-1"), "{out}");
        let settings = Settings::new(Some("commsd=loud"), None, "info");
        assert!(
            settings.notes[0].contains("ignoring invalid COMMSD_LOG"),
            "{:?}",
            settings.notes
        );
        assert!(!settings.insecure);
    }

    #[test]
    fn own_targets() {
        for own in [
            "commsd",
            "commsd::mail::imap",
            "commsd_mcp::server",
            "comms_mcp",
            "commsd_proto::client",
        ] {
            assert!(is_own_target(own), "{own}");
        }
        for other in [
            "commsdx",
            "commsd_fake",
            "async_imap",
            "rmcp::service",
            "log",
            "",
            "commsd_mcpx::a",
        ] {
            assert!(!is_own_target(other), "{other}");
        }
    }
}
