//! Command lines: which subcommand, with which arguments. Pure parsing, so that the multi-call
//! dispatch (argv[0]'s basename, else argv[1]) and every option are tested without running
//! anything. The shell (`sh.rs`) parses each of its lines with the same functions.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The port `serve` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8080;

/// What `print-forever` waits between lines unless told otherwise.
pub const DEFAULT_PRINT_INTERVAL: Duration = Duration::from_millis(1000);

/// The subcommands, as argv[1] or as argv[0]'s basename (a symlink named `sleep` runs `sleep`).
pub const SUBCOMMANDS: &[&str] = &[
    "serve",
    "print",
    "print-forever",
    "sleep",
    "exit",
    "stderr",
    "alloc",
    "cat",
    "ls",
    "env",
    "echo",
    "hostname",
    "true",
    "false",
    "wait-file",
    "write",
    "sh",
    "help",
];

pub const HELP: &str = "\
testapp: the test workload. Usage: testapp [COMMAND [ARGS...]] (no command: serve)

  serve [--port PORT] [--fail-after SECONDS]
      HTTP/1.1 on 0.0.0.0:PORT (default 8080). Prints `serving on :PORT`, then one line per
      request. GET / answers hostname=, pod_ip= (env POD_IP, else the first non-loopback
      local IPv4 address) and the environment, sorted. GET /env, /hostname,
      /echo?msg=TEXT; GET /healthz is 200 \"ok\" until GET or POST /fail (or --fail-after
      SECONDS have passed), then 500 until GET /recover; GET /exit?code=N exits with N.
      SIGTERM exits with status 0, also as a container's PID 1.
  print N [TEXT]          print `line 1 TEXT` .. `line N TEXT`, then exit 0
  print-forever [MS]      print a numbered line every MS milliseconds (default 1000)
  sleep SECONDS           sleep (fractions allowed; `infinity` never wakes)
  exit CODE               exit with CODE
  stderr TEXT             write TEXT to stderr
  alloc MB [--hold]       allocate and touch MB MiB; with --hold keep it and sleep forever
  cat [FILE...]           print files (stdin without FILE)
  ls [DIR]                list DIR (default .), directories with a trailing /
  env                     print the environment, sorted
  echo [ARGS...]          print ARGS
  hostname                print the hostname
  true                    exit 0
  false                   exit 1
  wait-file PATH          wait until PATH exists
  write FILE TEXT         write TEXT and a newline to FILE
  sh [-c COMMAND]         a tiny shell running these commands one line at a time (exit [CODE]
                          leaves it; unknown commands answer `sh: NAME: not found`, status 127)
  help                    this text
";

/// One parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Serve(ServeOptions),
    Print {
        count: u64,
        text: Option<String>,
    },
    PrintForever {
        interval: Duration,
    },
    /// `None` is `infinity`.
    Sleep(Option<Duration>),
    Exit(i32),
    Stderr(String),
    Alloc {
        mib: u64,
        hold: bool,
    },
    /// No files: stdin.
    Cat(Vec<PathBuf>),
    Ls(PathBuf),
    Env,
    Echo(Vec<String>),
    Hostname,
    True,
    False,
    WaitFile(PathBuf),
    Write {
        path: PathBuf,
        text: String,
    },
    /// `None`: read commands from stdin.
    Sh {
        command: Option<String>,
    },
    Help,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServeOptions {
    pub port: u16,
    /// When set, `/healthz` starts failing this long after start.
    pub fail_after: Option<Duration>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            port: DEFAULT_PORT,
            fail_after: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No such subcommand (the shell answers `sh: NAME: not found`).
    Unknown(String),
    /// A known subcommand with arguments it cannot use.
    Usage { command: String, message: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(name) => {
                write!(f, "unknown command {name:?} (`testapp help` lists them)")
            }
            ParseError::Usage { command, message } => write!(f, "{command}: {message}"),
        }
    }
}

/// Parses the process's whole argv.
pub fn parse_argv(argv: &[String]) -> Result<Command, ParseError> {
    let invoked_as = argv.first().map_or("testapp", |a| basename(a));
    if invoked_as != "testapp" && SUBCOMMANDS.contains(&invoked_as) {
        return parse_command(invoked_as, argv.get(1..).unwrap_or_default());
    }
    match argv.get(1).map(String::as_str) {
        None => Ok(Command::Serve(ServeOptions::default())),
        Some("-h" | "--help") => Ok(Command::Help),
        // `testapp --port 9000`: options without a command are serve's.
        Some(option) if option.starts_with('-') => parse_command("serve", &argv[1..]),
        Some(name) => parse_command(name, &argv[2..]),
    }
}

/// Parses one command: its name and its arguments.
pub fn parse_command(name: &str, args: &[String]) -> Result<Command, ParseError> {
    let usage = |message: &str| ParseError::Usage {
        command: name.to_string(),
        message: message.to_string(),
    };
    let joined = |from: usize| args.get(from..).unwrap_or_default().join(" ");
    let no_args = |command: Command| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(usage("takes no arguments"))
        }
    };
    match name {
        "serve" => parse_serve(args).map(Command::Serve).map_err(|m| usage(&m)),
        "print" => {
            let count = args
                .first()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| usage("usage: print N [TEXT]"))?;
            let text = (args.len() > 1).then(|| joined(1));
            Ok(Command::Print { count, text })
        }
        "print-forever" => match args {
            [] => Ok(Command::PrintForever {
                interval: DEFAULT_PRINT_INTERVAL,
            }),
            [ms] => ms
                .parse()
                .map(|ms| Command::PrintForever {
                    interval: Duration::from_millis(ms),
                })
                .map_err(|_| usage("usage: print-forever [INTERVAL_MS]")),
            _ => Err(usage("usage: print-forever [INTERVAL_MS]")),
        },
        "sleep" => match args {
            [s] if s == "infinity" || s == "inf" => Ok(Command::Sleep(None)),
            [s] => parse_seconds(s)
                .map(|d| Command::Sleep(Some(d)))
                .ok_or_else(|| usage("SECONDS must be a number or `infinity`")),
            _ => Err(usage("usage: sleep SECONDS")),
        },
        "exit" => match args {
            [] => Ok(Command::Exit(0)),
            [code] => code
                .parse()
                .map(Command::Exit)
                .map_err(|_| usage("CODE must be an integer")),
            _ => Err(usage("usage: exit CODE")),
        },
        "stderr" => Ok(Command::Stderr(joined(0))),
        "alloc" => {
            let mut mib = None;
            let mut hold = false;
            for arg in args {
                match arg.as_str() {
                    "--hold" => hold = true,
                    n => match n.parse() {
                        Ok(n) if mib.is_none() => mib = Some(n),
                        _ => return Err(usage("usage: alloc MB [--hold]")),
                    },
                }
            }
            let mib = mib.ok_or_else(|| usage("usage: alloc MB [--hold]"))?;
            Ok(Command::Alloc { mib, hold })
        }
        "cat" => Ok(Command::Cat(args.iter().map(PathBuf::from).collect())),
        "ls" => match args {
            [] => Ok(Command::Ls(PathBuf::from("."))),
            [dir] => Ok(Command::Ls(PathBuf::from(dir))),
            _ => Err(usage("usage: ls [DIR]")),
        },
        "env" => no_args(Command::Env),
        "echo" => Ok(Command::Echo(args.to_vec())),
        "hostname" => no_args(Command::Hostname),
        // As POSIX's, they ignore their arguments.
        "true" => Ok(Command::True),
        "false" => Ok(Command::False),
        "wait-file" => match args {
            [path] => Ok(Command::WaitFile(PathBuf::from(path))),
            _ => Err(usage("usage: wait-file PATH")),
        },
        "write" => match args {
            [] => Err(usage("usage: write FILE TEXT")),
            [path, ..] => Ok(Command::Write {
                path: PathBuf::from(path),
                text: joined(1),
            }),
        },
        "sh" => match args {
            [] => Ok(Command::Sh { command: None }),
            // Words after the command are its $0, $1..: this shell has no parameters, so
            // they are accepted and unused.
            [c, command, ..] if c == "-c" => Ok(Command::Sh {
                command: Some(command.clone()),
            }),
            _ => Err(usage("usage: sh [-c COMMAND]")),
        },
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(ParseError::Unknown(other.to_string())),
    }
}

fn parse_serve(args: &[String]) -> Result<ServeOptions, String> {
    let mut options = ServeOptions::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--port" => {
                options.port = value()?
                    .parse()
                    .map_err(|_| "--port must be a port number (0-65535)".to_string())?;
            }
            "--fail-after" => {
                let v = value()?;
                options.fail_after =
                    Some(parse_seconds(&v).ok_or("--fail-after must be a number of seconds")?);
            }
            other => {
                return Err(format!(
                    "unknown option {other:?} (usage: serve [--port PORT] [--fail-after SECONDS])"
                ))
            }
        }
    }
    Ok(options)
}

/// Seconds as `sleep` takes them: a non-negative decimal number (`0.5`, `10`).
pub fn parse_seconds(s: &str) -> Option<Duration> {
    let seconds: f64 = s.parse().ok()?;
    (0.0..1e12)
        .contains(&seconds)
        .then(|| Duration::from_secs_f64(seconds))
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn parse(words: &[&str]) -> Result<Command, ParseError> {
        parse_argv(&argv(words))
    }

    #[test]
    fn no_command_serves_on_the_default_port() {
        assert_eq!(
            parse(&["/testapp"]),
            Ok(Command::Serve(ServeOptions::default()))
        );
        assert_eq!(
            parse(&["/testapp", "--port", "9000"]),
            Ok(Command::Serve(ServeOptions {
                port: 9000,
                fail_after: None
            }))
        );
    }

    #[test]
    fn argv0_named_after_a_command_runs_that_command() {
        assert_eq!(
            parse(&["/usr/bin/serve", "--port=81"]),
            Ok(Command::Serve(ServeOptions {
                port: 81,
                fail_after: None
            }))
        );
        assert_eq!(
            parse(&["sleep", "2"]),
            Ok(Command::Sleep(Some(Duration::from_secs(2))))
        );
        assert_eq!(parse(&["/bin/testapp", "exit", "3"]), Ok(Command::Exit(3)));
    }

    #[test]
    fn serve_takes_port_and_fail_after_in_both_spellings() {
        assert_eq!(
            parse(&["testapp", "serve", "--port=1234", "--fail-after", "1.5"]),
            Ok(Command::Serve(ServeOptions {
                port: 1234,
                fail_after: Some(Duration::from_millis(1500))
            }))
        );
        assert!(parse(&["testapp", "serve", "--port"]).is_err());
        assert!(parse(&["testapp", "serve", "--port", "70000"]).is_err());
        assert!(parse(&["testapp", "serve", "--verbose"]).is_err());
    }

    #[test]
    fn print_takes_a_count_and_optional_text() {
        assert_eq!(
            parse(&["t", "print", "3"]),
            Ok(Command::Print {
                count: 3,
                text: None
            })
        );
        assert_eq!(
            parse(&["t", "print", "2", "hello", "world"]),
            Ok(Command::Print {
                count: 2,
                text: Some("hello world".into())
            })
        );
        assert!(parse(&["t", "print"]).is_err());
        assert!(parse(&["t", "print", "-1"]).is_err());
        assert_eq!(
            parse(&["t", "print-forever"]),
            Ok(Command::PrintForever {
                interval: DEFAULT_PRINT_INTERVAL
            })
        );
        assert_eq!(
            parse(&["t", "print-forever", "50"]),
            Ok(Command::PrintForever {
                interval: Duration::from_millis(50)
            })
        );
    }

    #[test]
    fn sleep_accepts_fractions_and_infinity_only() {
        assert_eq!(
            parse(&["t", "sleep", "0.25"]),
            Ok(Command::Sleep(Some(Duration::from_millis(250))))
        );
        assert_eq!(parse(&["t", "sleep", "infinity"]), Ok(Command::Sleep(None)));
        for bad in ["-1", "NaN", "soon", "1e300"] {
            assert!(parse(&["t", "sleep", bad]).is_err(), "{bad}");
        }
        assert!(parse(&["t", "sleep"]).is_err());
    }

    #[test]
    fn exit_alloc_and_file_commands_parse_their_arguments() {
        assert_eq!(parse(&["t", "exit", "-2"]), Ok(Command::Exit(-2)));
        assert_eq!(parse(&["t", "exit"]), Ok(Command::Exit(0)));
        assert!(parse(&["t", "exit", "x"]).is_err());
        assert_eq!(
            parse(&["t", "alloc", "--hold", "64"]),
            Ok(Command::Alloc {
                mib: 64,
                hold: true
            })
        );
        assert_eq!(
            parse(&["t", "alloc", "8"]),
            Ok(Command::Alloc {
                mib: 8,
                hold: false
            })
        );
        assert!(parse(&["t", "alloc", "8", "9"]).is_err());
        assert!(parse(&["t", "alloc", "--hold"]).is_err());
        assert_eq!(
            parse(&["t", "write", "/tmp/x", "a", "b"]),
            Ok(Command::Write {
                path: "/tmp/x".into(),
                text: "a b".into()
            })
        );
        assert_eq!(
            parse(&["t", "cat", "a", "b"]),
            Ok(Command::Cat(vec!["a".into(), "b".into()]))
        );
        assert_eq!(parse(&["t", "ls"]), Ok(Command::Ls(".".into())));
        assert_eq!(
            parse(&["t", "wait-file", "/ready"]),
            Ok(Command::WaitFile("/ready".into()))
        );
        assert!(parse(&["t", "env", "x"]).is_err());
        assert_eq!(parse(&["t", "false", "ignored"]), Ok(Command::False));
    }

    #[test]
    fn sh_runs_interactively_or_one_command() {
        assert_eq!(parse(&["t", "sh"]), Ok(Command::Sh { command: None }));
        assert_eq!(
            parse(&["t", "sh", "-c", "echo hi", "arg0"]),
            Ok(Command::Sh {
                command: Some("echo hi".into())
            })
        );
        assert!(parse(&["t", "sh", "-c"]).is_err());
    }

    #[test]
    fn unknown_commands_are_told_apart_from_usage_errors() {
        assert_eq!(
            parse(&["t", "frobnicate"]),
            Err(ParseError::Unknown("frobnicate".into()))
        );
        assert!(matches!(
            parse(&["t", "sleep"]),
            Err(ParseError::Usage { .. })
        ));
        assert_eq!(parse(&["t", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn help_mentions_every_command() {
        for name in SUBCOMMANDS {
            assert!(HELP.contains(&format!("  {name}")), "{name}");
        }
    }
}
