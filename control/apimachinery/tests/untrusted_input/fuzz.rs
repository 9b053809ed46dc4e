//! The fuzzing harness: a seeded xorshift PRNG and a runner that executes each case under
//! `catch_unwind`, so that a panic becomes a report naming the test, seed, iteration and input
//! instead of aborting the loop.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

/// xorshift64*: small, fast and deterministic; never seeded with zero.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True once in `n` draws.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of `words`.
    pub fn word<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }

    /// A length that is usually small and sometimes large: `0..=max` with a bias to small.
    pub fn len(&mut self, max: usize) -> usize {
        match self.below(8) {
            0 => self.below(max + 1),
            1..=3 => self.below(max.min(16) + 1),
            _ => self.below(max.min(4) + 1),
        }
    }
}

thread_local! {
    /// Set while a fuzz case runs, so the panic hook records instead of printing.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// Message and location of the last panic inside a case.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string panic payload>".to_string());
                LAST_PANIC.with(|p| *p.borrow_mut() = format!("{message} (at {location})"));
            } else {
                default(info);
            }
        }));
    });
}

/// `n` scaled by `UNTRUSTED_INPUT_SCALE` (default 1), to run longer explorations.
pub fn iterations(n: usize) -> usize {
    std::env::var("UNTRUSTED_INPUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(n, |scale| n * scale)
}

/// Shortens an input for a report, on a character boundary.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..cut], text.len())
}

/// One fuzz loop: its name and seed, the PRNG, and the failures found so far.
pub struct Fuzz {
    pub name: &'static str,
    pub seed: u64,
    pub rng: Rng,
    failures: Vec<String>,
    cases: usize,
    started: Instant,
}

impl Fuzz {
    /// A loop named `name` with its fixed `seed`. `UNTRUSTED_INPUT_SEED` (a number) replaces
    /// every seed, to explore beyond the committed runs.
    pub fn new(name: &'static str, seed: u64) -> Fuzz {
        install_hook();
        let seed = std::env::var("UNTRUSTED_INPUT_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(seed, |s| s ^ seed);
        Fuzz {
            name,
            seed,
            rng: Rng::new(seed),
            failures: Vec::new(),
            cases: 0,
            started: Instant::now(),
        }
    }

    /// Runs one case. `check` returns `Err(text)` when a property does not hold; a panic is
    /// caught and recorded with its message and location. `input` describes the input and is
    /// only rendered on failure.
    pub fn case(
        &mut self,
        iteration: usize,
        input: impl FnOnce() -> String,
        check: impl FnOnce() -> Result<(), String>,
    ) {
        self.cases += 1;
        IN_CASE.with(|c| c.set(true));
        let outcome = panic::catch_unwind(AssertUnwindSafe(check));
        IN_CASE.with(|c| c.set(false));
        let problem = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(violation)) => format!("property violated: {violation}"),
            Err(_) => format!("PANIC: {}", LAST_PANIC.with(|p| p.borrow().clone())),
        };
        let mut report = String::new();
        let _ = write!(
            report,
            "[{} seed={:#x} iteration={iteration}] {problem}\n    input: {}",
            self.name,
            self.seed,
            clip(&input(), 1500)
        );
        self.failures.push(report);
    }

    /// Fails the test with every recorded failure (the first ones in full).
    pub fn finish(self) {
        let elapsed: Duration = self.started.elapsed();
        eprintln!(
            "{}: {} cases in {:.2?}, {} failures",
            self.name,
            self.cases,
            elapsed,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            let shown: Vec<&String> = self.failures.iter().take(8).collect();
            panic!(
                "{} of {} cases failed in {}:\n{}",
                self.failures.len(),
                self.cases,
                self.name,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// Runs `f` on a thread with `stack` bytes of stack, as the server's worker threads have, and
/// propagates its panic.
pub fn on_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .unwrap_or_else(|e| panic::resume_unwind(e))
}
