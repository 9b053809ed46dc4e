//! The few Kubernetes resource quantities the kubelet reads and writes: CPU in millicores and
//! memory, storage and counts in whole units. Flags such as `--system-reserved cpu=100m,memory=256Mi`
//! and pod resources arrive in this notation, and Node capacity must be written back in the
//! canonical form kubectl prints (`16318420Ki`, `3900m`).

use std::collections::BTreeMap;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuantityError {
    #[error(
        "quantity {0:?} is not a number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...)"
    )]
    Malformed(String),
    #[error("quantity {0:?} is out of range")]
    Range(String),
    #[error("{0:?}: expected name=quantity")]
    Pair(String),
}

/// Parses a quantity into thousandths of its unit (so `100m` is 100 and `1Gi` is 1024^3 * 1000).
/// Working in milli-units lets one parser serve both CPU and bytes; a value that needs finer
/// precision than a thousandth is rounded up, as Kubernetes rounds requests up.
pub fn parse_milli(s: &str) -> Result<i128, QuantityError> {
    let bad = || QuantityError::Malformed(s.to_string());
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() || num == "+" || num == "-" {
        return Err(bad());
    }
    let (neg, digits) = match num.as_bytes()[0] {
        b'-' => (true, &num[1..]),
        b'+' => (false, &num[1..]),
        _ => (false, num),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // (numerator multiplier, denominator) of the suffix, in milli-units.
    let (mul, div): (i128, i128) = match suffix {
        "m" => (1, 1),
        "" => (1000, 1),
        "k" => (1000 * 1000, 1),
        "M" => (1000 * 1_000_000, 1),
        "G" => (1000 * 1_000_000_000, 1),
        "T" => (1000 * 1_000_000_000_000, 1),
        "P" => (1000 * 1_000_000_000_000_000, 1),
        "E" => (1000 * 1_000_000_000_000_000_000, 1),
        "Ki" => (1000 << 10, 1),
        "Mi" => (1000 << 20, 1),
        "Gi" => (1000 << 30, 1),
        "Ti" => (1000 << 40, 1),
        "Pi" => (1000 << 50, 1),
        "Ei" => (1000 << 60, 1),
        _ if suffix.starts_with(['e', 'E']) => {
            let exp: i32 = suffix[1..].parse().map_err(|_| bad())?;
            if !(-3..=18).contains(&exp) {
                return Err(QuantityError::Range(s.to_string()));
            }
            (10i128.pow((exp + 3) as u32), 1)
        }
        _ => return Err(bad()),
    };
    if int.len() + frac.len() > 30 {
        return Err(QuantityError::Range(s.to_string()));
    }
    let int_v: i128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let scale = 10i128.pow(frac.len() as u32);
    let whole = int_v
        .checked_mul(mul)
        .ok_or_else(|| QuantityError::Range(s.to_string()))?;
    let part = frac_v * mul;
    let rounded_up = (part + scale * div - 1) / (scale * div);
    let v = whole + rounded_up;
    Ok(if neg { -v } else { v })
}

/// Parses a quantity into whole units (bytes, counts), rounding up.
pub fn parse_units(s: &str) -> Result<i128, QuantityError> {
    let m = parse_milli(s)?;
    Ok(if m >= 0 { (m + 999) / 1000 } else { m / 1000 })
}

/// Parses `name=quantity,name=quantity` (the `--system-reserved` / `--kube-reserved` form)
/// into milli-units per resource name.
pub fn parse_resource_list(s: &str) -> Result<BTreeMap<String, i128>, QuantityError> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| QuantityError::Pair(part.to_string()))?;
        out.insert(k.trim().to_string(), parse_milli(v)?);
    }
    Ok(out)
}

/// Formats CPU millicores canonically: whole cores without a suffix, otherwise `m`.
pub fn format_cpu_milli(m: i128) -> String {
    if m % 1000 == 0 {
        (m / 1000).to_string()
    } else {
        format!("{m}m")
    }
}

/// Formats a byte count in the binary form Kubernetes uses for memory and storage read from
/// the machine: the largest of Ki, Mi, Gi, ... that divides it exactly, or plain bytes.
pub fn format_bytes(b: i128) -> String {
    if b == 0 {
        return "0".into();
    }
    let mut v = b;
    let mut i = 0;
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    while i < 6 && v % 1024 == 0 {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_parse_to_millicores() {
        assert_eq!(parse_milli("100m").unwrap(), 100);
        assert_eq!(parse_milli("1").unwrap(), 1000);
        assert_eq!(parse_milli("0.5").unwrap(), 500);
        assert_eq!(parse_milli("1.25").unwrap(), 1250);
        // Finer than a millicore rounds up, as Kubernetes does.
        assert_eq!(parse_milli("0.0001").unwrap(), 1);
        assert_eq!(parse_milli("2e3").unwrap(), 2_000_000);
    }

    #[test]
    fn memory_quantities_parse_to_bytes() {
        assert_eq!(parse_units("256Mi").unwrap(), 256 << 20);
        assert_eq!(parse_units("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_units("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_units("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(parse_units("100").unwrap(), 100);
        assert_eq!(parse_units("1k").unwrap(), 1000);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for s in ["", "m", "Mi", "1.2.3", "1x", "--1", "1 Gi", "abc"] {
            assert!(parse_milli(s).is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn reserved_lists_parse_as_kubelet_flags_are_written() {
        let l = parse_resource_list("cpu=100m, memory=256Mi,ephemeral-storage=1Gi").unwrap();
        assert_eq!(l["cpu"], 100);
        assert_eq!(l["memory"], (256i128 << 20) * 1000);
        assert_eq!(l["ephemeral-storage"], (1i128 << 30) * 1000);
        assert!(parse_resource_list("").unwrap().is_empty());
        assert_eq!(
            parse_resource_list("cpu").unwrap_err(),
            QuantityError::Pair("cpu".into())
        );
    }

    #[test]
    fn quantities_format_canonically() {
        assert_eq!(format_cpu_milli(4000), "4");
        assert_eq!(format_cpu_milli(3900), "3900m");
        assert_eq!(format_bytes(16318420 * 1024), "16318420Ki");
        assert_eq!(format_bytes(100 << 20), "100Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_bytes(0), "0");
    }
}
