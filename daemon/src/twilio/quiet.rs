//! Quiet hours (`[sms] quiet_hours = "21:00-08:00"`, `time_zone`): an
//! approved SMS that comes due inside them waits until they end, unless the
//! approver overrode them. The clock is a parameter, so tests use any time.

use std::sync::Arc;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use rusqlite::{OptionalExtension, params};

use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::events::now_unix_ms;
use crate::outbox::item::Item;
use crate::outbox::model::{Channel, State};
use crate::outbox::service::Outbox;

/// A daily window, possibly across midnight, in one time zone.
#[derive(Debug, Clone)]
pub struct QuietHours {
    start: Time,
    end: Time,
    tz: TimeZone,
    text: String,
}

fn hhmm(s: &str) -> Result<Time, String> {
    let (h, m) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not HH:MM"))?;
    let (h, m): (i8, i8) = (
        h.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
    );
    Time::new(h, m, 0, 0).map_err(|_| format!("{s:?} is not a time of day (00:00 to 23:59)"))
}

impl QuietHours {
    /// `"21:00-08:00"` in `tz` (an IANA name; `None`: the system's zone).
    pub fn parse(text: &str, tz: Option<&str>) -> Result<QuietHours, String> {
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?}: expected START-END, e.g. \"21:00-08:00\""))?;
        let (start, end) = (hhmm(a)?, hhmm(b)?);
        if start == end {
            return Err(format!("{text:?}: the start and the end are the same time"));
        }
        let tz = match tz {
            Some(name) => {
                TimeZone::get(name).map_err(|_| format!("{name:?} is not a time zone name"))?
            }
            None => TimeZone::system(),
        };
        let text = format!(
            "{}-{} {}",
            start.strftime("%H:%M"),
            end.strftime("%H:%M"),
            tz.iana_name().unwrap_or("local time")
        );
        Ok(QuietHours {
            start,
            end,
            tz,
            text,
        })
    }

    /// When the quiet hours around `now` end; `None` when `now` is outside them.
    pub fn ends_after(&self, now: Timestamp) -> Option<Zoned> {
        let local = now.to_zoned(self.tz.clone());
        let t = local.time();
        let inside = if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        };
        if !inside {
            return None;
        }
        let today_end = local
            .date()
            .to_datetime(self.end)
            .to_zoned(self.tz.clone())
            .ok()?;
        if today_end.timestamp() > now {
            Some(today_end)
        } else {
            let tomorrow = local.date().tomorrow().ok()?;
            tomorrow
                .to_datetime(self.end)
                .to_zoned(self.tz.clone())
                .ok()
        }
    }

    /// The hold reason an item shows while it waits.
    pub fn reason(&self, until: &Zoned) -> String {
        format!(
            "quiet hours ({}): waits until {}",
            self.text,
            until.strftime("%Y-%m-%d %H:%M %Z")
        )
    }
}

/// Quiet hours as the SMS transport applies them, and a human's override.
pub struct Quiet {
    hours: Option<QuietHours>,
    outbox: Arc<Outbox>,
}

impl Quiet {
    pub fn new(hours: Option<QuietHours>, outbox: Arc<Outbox>) -> Quiet {
        Quiet { hours, outbox }
    }

    /// Until when an approved SMS waits, and why; `None` outside quiet
    /// hours or when a human let it go.
    pub async fn hold(&self, item: &Item, now_ms: i64) -> Option<(i64, String)> {
        let hours = self.hours.as_ref()?;
        let until = hours.ends_after(Timestamp::from_millisecond(now_ms).ok()?)?;
        let id = item.id.clone();
        let overridden = self
            .outbox
            .store()
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT 1 FROM sms_quiet_overrides WHERE item_id = ?1",
                    params![id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
            })
            .await
            // Unreadable: wait, the safe side at night.
            .unwrap_or(false);
        if overridden {
            return None;
        }
        Some((until.timestamp().as_millisecond(), hours.reason(&until)))
    }

    /// A human lets an approved SMS go out in quiet hours (`admin`,
    /// audited): it is due at once.
    pub async fn override_item(&self, caller: &Caller, item_id: &str) -> Result<Item> {
        caller.require(Grant::Admin, "send an SMS during quiet hours")?;
        let item = self.outbox.get(caller, item_id).await?;
        if item.channel != Channel::Sms {
            return Err(Error::invalid(
                "itemId",
                format!("item {item_id} is not an SMS; quiet hours apply to SMS only"),
            ));
        }
        if !matches!(
            item.state,
            State::Approved | State::PendingApproval | State::Draft
        ) {
            return Err(Error::invalid(
                "itemId",
                format!(
                    "item {item_id} is {}; only an SMS waiting to go out can skip quiet hours",
                    item.state.as_str()
                ),
            ));
        }
        let (id, by) = (item.id.clone(), caller.actor.clone());
        self.outbox
            .store()
            .write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO sms_quiet_overrides (item_id, by, at_ms) VALUES (?1, ?2, ?3)",
                    params![id, by, now_unix_ms()],
                )?;
                Ok::<_, crate::store::StoreError>(())
            })
            .await?;
        self.outbox
            .release_hold(caller, item_id, "quiet hours overridden")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn across_midnight_and_within_a_day() {
        let q = QuietHours::parse("21:00-08:00", Some("Europe/Paris")).unwrap();
        // 22:30 in Paris (UTC+1 in January): until 08:00 the next day.
        let end = q.ends_after(at("2026-01-10T21:30:00Z")).unwrap();
        assert_eq!(end.timestamp(), at("2026-01-11T07:00:00Z"));
        // 05:00 in Paris: until 08:00 the same day.
        let end = q.ends_after(at("2026-01-11T04:00:00Z")).unwrap();
        assert_eq!(end.timestamp(), at("2026-01-11T07:00:00Z"));
        // Noon: not quiet; 08:00 sharp is not quiet either.
        assert!(q.ends_after(at("2026-01-11T11:00:00Z")).is_none());
        assert!(q.ends_after(at("2026-01-11T07:00:00Z")).is_none());
        let r = q.reason(&end);
        assert!(
            r.contains("21:00-08:00 Europe/Paris") && r.contains("08:00"),
            "{r}"
        );

        let lunch = QuietHours::parse("12:00-13:30", Some("UTC")).unwrap();
        assert_eq!(
            lunch
                .ends_after(at("2026-01-11T12:10:00Z"))
                .unwrap()
                .timestamp(),
            at("2026-01-11T13:30:00Z")
        );
        assert!(lunch.ends_after(at("2026-01-11T13:30:00Z")).is_none());
    }

    /// Minutes from `a` to `b` on a 24-hour dial.
    fn dial(a: Time, b: Time) -> i64 {
        let m = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
        (m(b) - m(a)).rem_euclid(24 * 60)
    }

    proptest::proptest! {
        #![proptest_config(crate::util::fuzz::cases())]

        /// The wall clock jumping to any time (backwards or forwards, across
        /// daylight-saving changes, in zones with 30-minute shifts): inside
        /// quiet hours the hold ends after now and at most the window's
        /// length (and an hour of daylight saving) later, never at once and
        /// never a day late; outside them nothing is held.
        #[test]
        fn fault_clock_jumps_quiet_hours_end_after_now_within_the_window(
            start in 0i8..24, start_m in 0i8..60, end in 0i8..24, end_m in 0i8..60,
            tz in proptest::sample::select(vec![
                "UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe",
                "Asia/Kolkata", "America/Sao_Paulo", "Europe/London",
            ]),
            // 1900 to 2200, and jumps of up to ±3 days from there.
            secs in -2_208_988_800i64..7_258_118_400,
            jump in -259_200i64..259_200,
        ) {
            let (s, e) = (Time::new(start, start_m, 0, 0).unwrap(), Time::new(end, end_m, 0, 0).unwrap());
            proptest::prop_assume!(s != e);
            let text = format!("{}-{}", s.strftime("%H:%M"), e.strftime("%H:%M"));
            let q = QuietHours::parse(&text, Some(tz)).unwrap();
            let window = dial(s, e);
            for now in [secs, secs + jump] {
                let now = Timestamp::from_second(now).unwrap();
                let local = now.to_zoned(q.tz.clone()).time();
                let inside = if s < e { local >= s && local < e } else { local >= s || local < e };
                match q.ends_after(now) {
                    None => proptest::prop_assert!(!inside, "{text} {tz} at {now}: inside, not held"),
                    Some(until) => {
                        proptest::prop_assert!(inside, "{text} {tz} at {now}: held outside");
                        let left = until.timestamp().as_second() - now.as_second();
                        proptest::prop_assert!(left > 0, "{text} {tz} at {now}: ends at {until}, not after now");
                        proptest::prop_assert!(
                            left <= (window + 60) * 60,
                            "{text} {tz} at {now} ({local}): held until {until}, {left} s for a {window}-minute window"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fault_clock_jumps_to_the_ends_of_time_never_panic() {
        let q = QuietHours::parse("21:00-08:00", Some("America/New_York")).unwrap();
        for now in [Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH] {
            let _ = q.ends_after(now);
        }
    }

    #[test]
    fn bad_windows_are_named() {
        for bad in ["21:00", "25:00-08:00", "21:00-21:00", "9pm-8am"] {
            assert!(QuietHours::parse(bad, Some("UTC")).is_err(), "{bad}");
        }
        assert!(QuietHours::parse("21:00-08:00", Some("Mars/Olympus")).is_err());
    }
}
