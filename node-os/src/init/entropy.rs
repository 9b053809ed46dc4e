//! The random seed: a file on the state disk mixed into the kernel's pool at boot and
//! replaced at once (and again at shutdown), so two boots never start from the same seed.
//! The seed is written to `/dev/urandom`, which mixes it in without crediting entropy: a disk
//! image cloned to many machines would carry the same seed, and since Linux 5.18 the kernel
//! initializes its generator within about a second from CPU jitter anyway.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const SEED_FILE: &str = "/var/lib/nodeos/random-seed";
const SEED_LEN: usize = 512;

/// Mixes the saved seed in (when there is one), then saves a fresh one.
pub fn seed() -> io::Result<bool> {
    let had = match fs::read(SEED_FILE) {
        Ok(old) if !old.is_empty() => {
            fs::OpenOptions::new()
                .write(true)
                .open("/dev/urandom")?
                .write_all(&old)?;
            true
        }
        _ => false,
    };
    save()?;
    Ok(had)
}

/// Writes a new seed from the kernel's generator (0600, replaced atomically).
pub fn save() -> io::Result<()> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; SEED_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| io::Error::other("the kernel's random generator failed"))?;
    let path = Path::new(SEED_FILE);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("new");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&buf)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}
