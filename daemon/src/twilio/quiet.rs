//! Quiet hours (`[sms] quiet_hours = "21:00-08:00"`, `time_zone`): an
//! approved SMS that comes due inside them waits until they end, unless the
//! approver overrode them. The clock is a parameter, so tests use any time.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

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

    #[test]
    fn bad_windows_are_named() {
        for bad in ["21:00", "25:00-08:00", "21:00-21:00", "9pm-8am"] {
            assert!(QuietHours::parse(bad, Some("UTC")).is_err(), "{bad}");
        }
        assert!(QuietHours::parse("21:00-08:00", Some("Mars/Olympus")).is_err());
    }
}
