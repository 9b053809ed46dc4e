//! `sh`: a tiny line-oriented shell for `kubectl exec -it POD -- /testapp sh` and
//! `kubectl exec POD -- /testapp sh -c "cmd"` in an image that has no other program. Each line
//! is split into words (quotes as a POSIX shell reads them, no expansions) and run as one of
//! testapp's commands; `exit [CODE]` leaves. Deciding what a line means is pure ([`plan`]).

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{self, Command, ParseError};

/// What one line asks for.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// A blank line or a comment.
    Nothing,
    Exit(i32),
    Run(Command),
    /// A line that cannot run: the message for stderr and the status it sets.
    Error {
        message: String,
        status: i32,
    },
}

/// Runs `command` (`sh -c`), or reads lines from stdin until EOF or `exit`, prompting with
/// `$ ` when stdin is a terminal. Returns the status of the last command.
pub fn run(command: Option<String>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Some(line) = command {
        return match run_line(&line, 0, out, err) {
            Flow::Continue(status) | Flow::Exit(status) => status,
        };
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut status = 0;
    let mut line = String::new();
    loop {
        if interactive {
            let _ = write!(out, "$ ");
            let _ = out.flush();
        }
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => {
                if interactive {
                    let _ = writeln!(out);
                }
                return status;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "sh: reading input: {e}");
                return 1;
            }
        }
        match run_line(&line, status, out, err) {
            Flow::Continue(s) => status = s,
            Flow::Exit(s) => return s,
        }
    }
}

enum Flow {
    Continue(i32),
    Exit(i32),
}

fn run_line(line: &str, last_status: i32, out: &mut dyn Write, err: &mut dyn Write) -> Flow {
    match plan(line, last_status) {
        Step::Nothing => Flow::Continue(last_status),
        Step::Exit(status) => Flow::Exit(status),
        Step::Run(command) => {
            let status = crate::commands::run(command, out, err);
            let _ = out.flush();
            Flow::Continue(status)
        }
        Step::Error { message, status } => {
            let _ = writeln!(err, "{message}");
            Flow::Continue(status)
        }
    }
}

/// What `line` asks for, given the status of the command before it (`exit` alone exits with
/// that, as in sh).
pub fn plan(line: &str, last_status: i32) -> Step {
    let words = match split_words(line) {
        Ok(words) => words,
        Err(message) => {
            return Step::Error {
                message: format!("sh: {message}"),
                status: 2,
            }
        }
    };
    let Some((name, args)) = words.split_first() else {
        return Step::Nothing;
    };
    if name == "exit" {
        return match args {
            [] => Step::Exit(last_status),
            [code] => match code.parse() {
                Ok(code) => Step::Exit(code),
                Err(_) => Step::Error {
                    message: format!("sh: exit: {code}: numeric argument required"),
                    status: 2,
                },
            },
            _ => Step::Error {
                message: "sh: exit: too many arguments".into(),
                status: 2,
            },
        };
    }
    match cli::parse_command(name, args) {
        Ok(command) => Step::Run(command),
        Err(ParseError::Unknown(name)) => Step::Error {
            message: format!("sh: {name}: not found"),
            status: 127,
        },
        Err(usage) => Step::Error {
            message: usage.to_string(),
            status: 2,
        },
    }
}

/// Splits a line into words at unquoted whitespace. `'...'` is literal, `"..."` allows `\"`
/// and `\\`, a backslash outside quotes escapes the next character, and an unquoted `#` at
/// the start of a word begins a comment.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_whitespace_and_respect_quotes() {
        let split = |s: &str| split_words(s).unwrap();
        assert_eq!(split("  echo   a\tb \n"), ["echo", "a", "b"]);
        assert_eq!(
            split(r#"echo 'a  b' "c \"d\" \n" e\ f """#),
            ["echo", "a  b", r#"c "d" \n"#, "e f", ""]
        );
        assert_eq!(split("echo a#b # comment"), ["echo", "a#b"]);
        assert!(split("# only a comment").is_empty());
        assert!(split_words("echo 'open").is_err());
        assert!(split_words("echo \"open").is_err());
    }

    #[test]
    fn lines_plan_to_commands_exits_and_errors() {
        assert_eq!(plan("", 3), Step::Nothing);
        assert_eq!(
            plan("echo hi there", 0),
            Step::Run(Command::Echo(vec!["hi".into(), "there".into()]))
        );
        assert_eq!(plan("hostname", 0), Step::Run(Command::Hostname));
        assert_eq!(plan("exit", 5), Step::Exit(5));
        assert_eq!(plan("exit 2", 0), Step::Exit(2));
        assert!(matches!(plan("exit x", 0), Step::Error { status: 2, .. }));
        assert_eq!(
            plan("bash -l", 0),
            Step::Error {
                message: "sh: bash: not found".into(),
                status: 127
            }
        );
        assert!(matches!(plan("sleep", 0), Step::Error { status: 2, .. }));
    }

    #[test]
    fn sh_c_runs_one_command_and_returns_its_status() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(Some("echo 'hello world'".into()), &mut out, &mut err),
            0
        );
        assert_eq!(String::from_utf8(out).unwrap(), "hello world\n");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(Some("nope".into()), &mut out, &mut err), 127);
        assert_eq!(String::from_utf8_lossy(&err), "sh: nope: not found\n");
        assert_eq!(run(Some("exit 4".into()), &mut out, &mut err), 4);
    }
}
