//! Resource quantities (`500m`, `1Gi`, `2e3`): syntax check and an exact-enough numeric value.
//!
//! Values are held in nano-units in an `i128`, which is exact for every suffix Kubernetes
//! accepts and for any quantity a real cluster uses; absurd exponents saturate. Comparisons
//! (requests against limits, LimitRange bounds) and the integer check only need that.

use std::cmp::Ordering;

/// Kubernetes' message for a string that is not a quantity at all.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Kubernetes' message for a number followed by an unknown suffix.
pub const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    /// The value times 10^9, rounded up, saturating at the `i128` range.
    pub nanos: i128,
}

impl Quantity {
    /// Parses a quantity string, returning Kubernetes' error message on failure.
    pub fn parse(s: &str) -> Result<Quantity, &'static str> {
        let bytes = s.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let num_start = i;
        let mut mantissa: i128 = 0;
        let mut frac_digits: i32 = 0;
        let mut seen_dot = false;
        let mut digits = 0;
        let mut overflow_digits: i32 = 0;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            if bytes[i] == b'.' {
                if seen_dot {
                    return Err(FORMAT_ERROR);
                }
                seen_dot = true;
            } else {
                digits += 1;
                let d = i128::from(bytes[i] - b'0');
                match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                    Some(m) if m < 10i128.pow(30) => {
                        mantissa = m;
                        if seen_dot {
                            frac_digits += 1;
                        }
                    }
                    // Too many digits to keep: drop the rest, remembering the scale of the
                    // integer part.
                    _ => {
                        if !seen_dot {
                            overflow_digits += 1;
                        }
                    }
                }
            }
            i += 1;
        }
        if i == num_start || digits == 0 {
            return Err(FORMAT_ERROR);
        }
        let suffix = &s[i..];
        // The suffix alphabet of the regular expression, before deciding what it means.
        let shape_ok = {
            let letters_end = suffix
                .find(|c: char| !"eEinumkKMGTP".contains(c))
                .unwrap_or(suffix.len());
            let rest = &suffix[letters_end..];
            let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            rest.chars().all(|c| c.is_ascii_digit())
        };
        if !shape_ok {
            return Err(FORMAT_ERROR);
        }
        let (exp10, exp2): (i32, u32) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            other => {
                let rest = other
                    .strip_prefix('e')
                    .or_else(|| other.strip_prefix('E'))
                    .ok_or(SUFFIX_ERROR)?;
                let exp: i32 = rest.parse().map_err(|_| SUFFIX_ERROR)?;
                // Anything this far out is beyond int64 nano-units either way; refusing it keeps
                // the arithmetic below from overflowing or looping billions of times.
                if !(-1000..=1000).contains(&exp) {
                    return Err(SUFFIX_ERROR);
                }
                (exp, 0)
            }
        };
        let scale = 9 + exp10 - frac_digits + overflow_digits;
        let mut nanos = mantissa;
        if scale >= 0 {
            for _ in 0..scale {
                nanos = nanos.saturating_mul(10);
            }
        } else {
            let mut divisor: i128 = 1;
            for _ in 0..(-scale).min(38) {
                divisor = divisor.saturating_mul(10);
            }
            // Kubernetes rounds sub-nano precision up.
            nanos = (nanos + divisor - 1) / divisor;
        }
        for _ in 0..exp2 {
            nanos = nanos.saturating_mul(2);
        }
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_integer(&self) -> bool {
        self.nanos % 1_000_000_000 == 0
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Parses a JSON quantity, which may arrive as a string or a bare number.
pub fn parse_value(v: &serde_json::Value) -> Result<Quantity, &'static str> {
    match v {
        serde_json::Value::String(s) => Quantity::parse(s),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()),
        _ => Err(FORMAT_ERROR),
    }
}

/// A quantity as written, for messages.
pub fn display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s).unwrap().nanos
    }

    #[test]
    fn decimal_and_binary_suffixes_scale_correctly() {
        assert_eq!(q("1"), 1_000_000_000);
        assert_eq!(q("500m"), 500_000_000);
        assert_eq!(q("0.5"), 500_000_000);
        assert_eq!(q("1Ki"), 1024 * 1_000_000_000);
        assert_eq!(q("1Gi"), (1i128 << 30) * 1_000_000_000);
        assert_eq!(q("1k"), 1_000 * 1_000_000_000);
        assert_eq!(q("2e3"), 2_000 * 1_000_000_000);
        assert_eq!(q("-1"), -1_000_000_000);
        assert_eq!(q("1n"), 1);
    }

    #[test]
    fn comparisons_work_across_suffixes() {
        assert!(Quantity::parse("1Gi").unwrap() > Quantity::parse("1G").unwrap());
        assert!(Quantity::parse("250m").unwrap() < Quantity::parse("0.3").unwrap());
    }

    #[test]
    fn malformed_quantities_get_kubernetes_messages() {
        assert_eq!(Quantity::parse("abc"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1.2.3"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1Kb"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1kk"), Err(SUFFIX_ERROR));
        assert_eq!(Quantity::parse(""), Err(FORMAT_ERROR));
    }

    #[test]
    fn integer_check_sees_fractions() {
        assert!(Quantity::parse("2").unwrap().is_integer());
        assert!(!Quantity::parse("1500m").unwrap().is_integer());
    }
}
