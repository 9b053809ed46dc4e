//! Running a parsed command. Output goes to the writers handed in, so the shell and the tests
//! can capture it; the status is returned, never exited with, so the shell can go on.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::cli::{Command, HELP};

const MIB: usize = 1 << 20;

/// Runs `command` and returns its exit status. Commands that run forever (`serve`,
/// `print-forever`, `sleep infinity`, `alloc --hold`) return only if their output fails.
pub fn run(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match execute(command, out, err) {
        Ok(status) => status,
        Err(e) => {
            // Broken pipes (`| head`) end the command quietly.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = writeln!(err, "{e}");
            }
            1
        }
    }
}

fn execute(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<i32> {
    match command {
        Command::Serve(options) => {
            out.flush()?;
            Ok(crate::serve::serve(&options))
        }
        Command::Print { count, text } => {
            for n in 1..=count {
                print_line(out, n, text.as_deref())?;
            }
            out.flush()?;
            Ok(0)
        }
        Command::PrintForever { interval } => {
            for n in 1.. {
                print_line(out, n, None)?;
                out.flush()?;
                std::thread::sleep(interval);
            }
            Ok(0)
        }
        Command::Sleep(Some(duration)) => {
            std::thread::sleep(duration);
            Ok(0)
        }
        Command::Sleep(None) => sleep_forever(),
        Command::Exit(code) => Ok(code),
        Command::Stderr(text) => {
            writeln!(err, "{text}")?;
            Ok(0)
        }
        Command::Alloc { mib, hold } => {
            let held = allocate(mib);
            writeln!(out, "allocated {mib} MiB")?;
            out.flush()?;
            if hold {
                std::hint::black_box(&held);
                sleep_forever()
            } else {
                Ok(0)
            }
        }
        Command::Cat(files) => {
            if files.is_empty() {
                std::io::copy(&mut std::io::stdin().lock(), out)?;
                return Ok(0);
            }
            let mut status = 0;
            for file in files {
                match std::fs::File::open(&file).and_then(|mut f| std::io::copy(&mut f, out)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(e),
                    Err(e) => {
                        writeln!(err, "cat: {}: {e}", file.display())?;
                        status = 1;
                    }
                }
            }
            Ok(status)
        }
        Command::Ls(dir) => match list(&dir) {
            Ok(names) => {
                for name in names {
                    writeln!(out, "{name}")?;
                }
                Ok(0)
            }
            Err(e) => {
                writeln!(err, "ls: {}: {e}", dir.display())?;
                Ok(1)
            }
        },
        Command::Env => {
            out.write_all(crate::routes::env_lines(&crate::pod::sorted_env()).as_bytes())?;
            Ok(0)
        }
        Command::Echo(words) => {
            writeln!(out, "{}", words.join(" "))?;
            Ok(0)
        }
        Command::Hostname => {
            writeln!(out, "{}", crate::pod::hostname())?;
            Ok(0)
        }
        Command::True => Ok(0),
        Command::False => Ok(1),
        Command::WaitFile(path) => {
            while !path.exists() {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(0)
        }
        Command::Write { path, text } => match std::fs::write(&path, format!("{text}\n")) {
            Ok(()) => Ok(0),
            Err(e) => {
                writeln!(err, "write: {}: {e}", path.display())?;
                Ok(1)
            }
        },
        Command::Sh { command } => Ok(crate::sh::run(command, out, err)),
        Command::Help => {
            out.write_all(HELP.as_bytes())?;
            Ok(0)
        }
    }
}

fn print_line(out: &mut dyn Write, n: u64, text: Option<&str>) -> std::io::Result<()> {
    match text {
        Some(text) => writeln!(out, "line {n} {text}"),
        None => writeln!(out, "line {n}"),
    }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Allocates `mib` MiB a MiB at a time and writes every page, so that the memory is resident
/// (charged to the cgroup) and a memory limit below it gets the process OOM-killed part way.
fn allocate(mib: u64) -> Vec<Vec<u8>> {
    let mut held = Vec::new();
    for _ in 0..mib {
        // Not zeroes: zeroed allocations can be mapped lazily and stay unbacked.
        let chunk = vec![0xa5u8; MIB];
        held.push(std::hint::black_box(chunk));
    }
    held
}

/// A directory's entries, sorted, directories marked with a trailing `/`.
fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn run_captured(command: Command) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = run(command, &mut out, &mut err);
        (
            status,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn print_numbers_its_lines() {
        assert_eq!(
            run_captured(Command::Print {
                count: 2,
                text: Some("hi".into())
            }),
            (0, "line 1 hi\nline 2 hi\n".into(), String::new())
        );
        assert_eq!(
            run_captured(Command::Print {
                count: 1,
                text: None
            })
            .1,
            "line 1\n"
        );
    }

    #[test]
    fn exit_false_and_stderr_give_their_statuses_and_streams() {
        assert_eq!(run_captured(Command::Exit(7)).0, 7);
        assert_eq!(run_captured(Command::False).0, 1);
        assert_eq!(
            run_captured(Command::Stderr("oops".into())),
            (0, String::new(), "oops\n".into())
        );
    }

    #[test]
    fn write_cat_ls_and_wait_file_work_on_real_files() {
        let dir = std::env::temp_dir().join(format!("testapp-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let file = dir.join("f.txt");
        let write = Command::Write {
            path: file.clone(),
            text: "hello there".into(),
        };
        assert_eq!(run_captured(write).0, 0);
        assert_eq!(
            run_captured(Command::Cat(vec![file.clone()])),
            (0, "hello there\n".into(), String::new())
        );
        let (status, _, err) = run_captured(Command::Cat(vec![dir.join("missing")]));
        assert_eq!(status, 1);
        assert!(err.starts_with("cat: "), "{err}");
        assert_eq!(run_captured(Command::Ls(dir.clone())).1, "f.txt\nsub/\n");
        assert_eq!(run_captured(Command::WaitFile(file)).0, 0);
        assert_eq!(
            run_captured(Command::Ls(PathBuf::from("/nonexistent"))).0,
            1
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn alloc_without_hold_returns() {
        assert_eq!(
            run_captured(Command::Alloc {
                mib: 2,
                hold: false
            }),
            (0, "allocated 2 MiB\n".into(), String::new())
        );
    }
}
