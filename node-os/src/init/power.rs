//! The power button. QEMU's `system_powerdown` (and a real machine's button) raises an ACPI
//! event that the kernel's `button` driver reports as KEY_POWER on an input device named
//! "Power Button"; its `evdev` node (`/dev/input/eventN`) is read here, one thread per
//! device, and a press asks PID 1 to power off.

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use super::events::{Power, Requester};

const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;
/// `struct input_event` on 64-bit Linux: a timeval (16 bytes), type, code, value.
const EVENT_LEN: usize = 24;

/// Whether one `input_event` is a press (not a release or repeat) of the power key.
pub fn is_power_press(ev: &[u8]) -> bool {
    if ev.len() < EVENT_LEN {
        return false;
    }
    let kind = u16::from_ne_bytes([ev[16], ev[17]]);
    let code = u16::from_ne_bytes([ev[18], ev[19]]);
    let value = i32::from_ne_bytes([ev[20], ev[21], ev[22], ev[23]]);
    kind == EV_KEY && code == KEY_POWER && value == 1
}

/// The event devices whose input device is a power button.
pub fn buttons() -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir("/sys/class/input") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("event"))
        .filter(|e| {
            fs::read_to_string(e.path().join("device/name"))
                .is_ok_and(|n| n.trim() == "Power Button")
        })
        .map(|e| PathBuf::from("/dev/input").join(e.file_name()))
        .collect();
    v.sort();
    v
}

/// Starts one reader thread per power button; returns how many.
pub fn watch(req: &Requester) -> usize {
    let found = buttons();
    for dev in &found {
        let (dev, req) = (dev.clone(), req.clone());
        let spawned = std::thread::Builder::new()
            .name("power-button".into())
            .spawn(move || {
                let mut f = match fs::File::open(&dev) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!("opening {}: {e}", dev.display());
                        return;
                    }
                };
                let mut buf = [0u8; EVENT_LEN * 16];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            if buf[..n].chunks_exact(EVENT_LEN).any(is_power_press) {
                                req.request(Power::Off, "the power button");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::warn!("reading {}: {e}", dev.display());
                            return;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("starting the power button reader: {e}");
        }
    }
    if found.is_empty() {
        tracing::warn!("no power button found (modules button and evdev loaded?)");
    } else {
        tracing::info!(devices = ?found, "watching the power button");
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&code.to_ne_bytes());
        b.extend_from_slice(&value.to_ne_bytes());
        b
    }

    #[test]
    fn only_a_press_of_the_power_key_counts() {
        assert!(is_power_press(&event(EV_KEY, KEY_POWER, 1)));
        assert!(!is_power_press(&event(EV_KEY, KEY_POWER, 0)), "release");
        assert!(!is_power_press(&event(EV_KEY, 30, 1)), "another key");
        assert!(!is_power_press(&event(0, 0, 0)), "a sync event");
        assert!(!is_power_press(&[0u8; 10]));
    }
}
