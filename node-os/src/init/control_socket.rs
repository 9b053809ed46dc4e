//! PID 1's control socket, `/run/nodeos/init.sock` (mode 0600, so root only): a client
//! writes one line, `poweroff` or `reboot`, and gets `ok` back before the machine goes
//! down. `node-os poweroff` and `node-os reboot` are its clients. It is local on purpose:
//! powering a node off remotely goes through whoever can reach its console or its BMC.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use super::events::{Power, Requester};

pub const SOCKET: &str = "/run/nodeos/init.sock";

/// A request line's meaning.
pub fn parse_request(line: &str) -> Option<Power> {
    match line.trim() {
        "poweroff" => Some(Power::Off),
        "reboot" => Some(Power::Reboot),
        _ => None,
    }
}

fn handle(mut conn: UnixStream, req: &Requester) {
    let mut line = String::new();
    if BufReader::new(&conn).read_line(&mut line).is_err() {
        return;
    }
    match parse_request(&line) {
        Some(p) => {
            let _ = conn.write_all(b"ok\n");
            req.request(p, "a request on the control socket");
        }
        None => {
            let _ = conn.write_all(b"error: expected poweroff or reboot\n");
        }
    }
}

/// Listens on [`SOCKET`] on its own thread.
pub fn serve(req: Requester) -> std::io::Result<()> {
    let path = Path::new(SOCKET);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("control-socket".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                handle(conn, &req);
            }
        })?;
    Ok(())
}

/// The client side: asks PID 1 (through `socket`) to power off or reboot.
pub fn request(socket: &Path, p: Power) -> std::io::Result<String> {
    let mut conn = UnixStream::connect(socket)?;
    let line = match p {
        Power::Off => "poweroff\n",
        Power::Reboot => "reboot\n",
    };
    conn.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(conn).read_line(&mut answer)?;
    Ok(answer.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_verbs_are_understood() {
        assert_eq!(parse_request("poweroff\n"), Some(Power::Off));
        assert_eq!(parse_request("reboot"), Some(Power::Reboot));
        assert_eq!(parse_request("halt"), None);
        assert_eq!(parse_request(""), None);
    }
}
