//! Maintenance mode: what PID 1 does when it cannot boot the machine's role, most often
//! because there is no machine config yet (the installer has not provided one) or it is
//! invalid. The reason goes to the console as `node-os: maintenance mode: ...`, naming the
//! config field at fault; PID 1 keeps reaping and honouring the power button, and looks for
//! the config again every few seconds, so a config that appears later boots the machine.

use std::time::Duration;

use node_config::cmdline::Cmdline;
use node_config::source::Source;
use node_config::MachineConfig;

use super::console::say;
use super::events::{Event, Events};
use super::{machineconfig, shutdown};

/// How often the config is looked for again.
pub const RETRY: Duration = Duration::from_secs(5);

/// Returns the machine config once there is a valid one, in maintenance mode until then.
pub fn wait_for_config(ev: &Events, cmdline: &Cmdline) -> (MachineConfig, Source) {
    let mut last: Option<String> = None;
    loop {
        match machineconfig::read(cmdline) {
            Ok(found) => {
                if last.is_some() {
                    say("machine config found; leaving maintenance mode");
                }
                return found;
            }
            Err(e) => {
                let msg = e.to_string();
                if last.as_deref() != Some(msg.as_str()) {
                    say(&format!("maintenance mode: {msg}"));
                    say(&format!(
                        "maintenance mode: looking for the config again every {}s",
                        RETRY.as_secs()
                    ));
                    last = Some(msg);
                }
            }
        }
        idle(ev, RETRY);
    }
}

/// Stays in maintenance mode for good after a fatal boot error.
pub fn hold(ev: &Events, reason: &str) -> ! {
    say(&format!("maintenance mode: {reason}"));
    loop {
        idle(ev, Duration::from_secs(3600));
    }
}

/// Reaps and honours power requests for `d`.
fn idle(ev: &Events, d: Duration) {
    for e in ev.wait(d) {
        if let Event::Power(p, why) = e {
            shutdown::shutdown(ev, None, p, why);
        }
    }
}
