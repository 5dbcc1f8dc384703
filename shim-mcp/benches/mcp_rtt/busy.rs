//! A CPU kept busy

use std::process::{Child, Command, Stdio};

use crate::Result;

/// A `nice -n 19` shell busy loop: keeps one vCPU out of idle while taking
/// almost no time from the measured processes. Killed on drop.
pub(crate) struct BusyLoop(Child);

impl BusyLoop {
    pub(crate) fn start() -> Result<Self> {
        let child = Command::new("nice")
            .args(["-n", "19", "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start `nice -n 19 sh`: {e}"))?;
        Ok(BusyLoop(child))
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The cpuidle driver and guest halt polling, which decide what a wake-up
/// of an idle vCPU costs.
pub(crate) fn cpuidle() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned())
    };
    format!(
        "cpuidle driver {}, guest_halt_poll_ns {}",
        read("/sys/devices/system/cpu/cpuidle/current_driver"),
        read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    )
}
