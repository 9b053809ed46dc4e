//! Quantities that remember how they were written, and resource lists (`{"cpu": "500m"}`) of
//! them, with the arithmetic ResourceQuota and LimitRange need.
//!
//! Kubernetes prints quantities in canonical form (`1000m` becomes `1`, `1024Mi` becomes `1Gi`),
//! and which form depends on the quantity's format: decimal SI (`k`, `M`, `m`), binary SI (`Ki`,
//! `Mi`) or decimal exponent (`e3`). Quota messages (`used: requests.cpu=1`) and quota status
//! show sums, and a sum keeps the format of its left operand unless that was zero. Both rules
//! are reproduced here so that our messages and `kubectl describe quota` read as Kubernetes'.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::quantity::Quantity;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// How a quantity is printed, decided by the suffix it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `500m`, `2`, `1k`, `1G`.
    DecimalSi,
    /// `1Ki`, `512Mi`, `1Gi`.
    BinarySi,
    /// `1e3`, `5e-3`.
    DecimalExponent,
}

/// A quantity with its print format.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    /// The value times 10^9 (see [`Quantity`]).
    pub nanos: i128,
    pub format: Format,
}

impl PartialEq for Amount {
    /// Equal values are equal whatever their format, as `Quantity.Cmp` sees them.
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Amount {}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Amount {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Amount {
    /// Zero, as quota usage starts (decimal SI, which the first addend's format replaces).
    pub const ZERO: Amount = Amount {
        nanos: 0,
        format: Format::DecimalSi,
    };

    /// A whole number in decimal SI, as object counts are.
    pub fn count(n: i64) -> Amount {
        Amount {
            nanos: i128::from(n) * NANOS_PER_UNIT,
            format: Format::DecimalSi,
        }
    }

    /// Parses a quantity string, keeping the format its suffix implies.
    pub fn parse(s: &str) -> Result<Amount, &'static str> {
        let q = Quantity::parse(s)?;
        let number_end = s
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && "+-".contains(*c))))
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        let suffix = &s[number_end..];
        let format = if suffix.ends_with('i') {
            Format::BinarySi
        } else if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) {
            Format::DecimalExponent
        } else {
            Format::DecimalSi
        };
        Ok(Amount {
            nanos: q.nanos,
            format,
        })
    }

    /// Parses a JSON quantity (a string, or a bare number as some clients send).
    pub fn from_json(v: &Value) -> Option<Amount> {
        match v {
            Value::String(s) => Amount::parse(s).ok(),
            Value::Number(n) => Amount::parse(&n.to_string()).ok(),
            _ => None,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// `Quantity.Add`: the sum keeps this format, unless this is zero.
    pub fn plus(self, other: Amount) -> Amount {
        Amount {
            nanos: self.nanos.saturating_add(other.nanos),
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    /// `Quantity.Sub`.
    pub fn minus(self, other: Amount) -> Amount {
        Amount {
            nanos: self.nanos.saturating_sub(other.nanos),
            format: if self.nanos == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    /// `Quantity.Value()`: whole units, rounded up.
    pub fn value(&self) -> i128 {
        ceil_div(self.nanos, NANOS_PER_UNIT)
    }

    /// `Quantity.MilliValue()`: thousandths, rounded up.
    pub fn milli_value(&self) -> i128 {
        ceil_div(self.nanos, 1_000_000)
    }

    /// The canonical text Kubernetes prints for this quantity (`Quantity.String()`).
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let mut format = self.format;
        if format == Format::BinarySi {
            // Small or fractional binary quantities print as decimal so nothing is rounded.
            let small = abs < 1024 * NANOS_PER_UNIT as u128;
            if small || !abs.is_multiple_of(NANOS_PER_UNIT as u128) {
                format = Format::DecimalSi;
            }
        }
        if format == Format::BinarySi {
            let mut v = abs / NANOS_PER_UNIT as u128;
            let mut steps = 0;
            while v.is_multiple_of(1024) && steps < 6 {
                v /= 1024;
                steps += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][steps];
            return format!("{sign}{v}{suffix}");
        }
        // Decimal: strip factors of ten, then bring the exponent down to a multiple of three.
        let mut mantissa = abs;
        let mut exp: i32 = -9;
        while mantissa.is_multiple_of(10) {
            mantissa /= 10;
            exp += 1;
        }
        let r = exp.rem_euclid(3);
        if r != 0 {
            mantissa *= 10u128.pow(r as u32);
            exp -= r;
        }
        let suffix = match format {
            Format::DecimalExponent => {
                if exp == 0 {
                    String::new()
                } else {
                    format!("e{exp}")
                }
            }
            _ => match exp {
                -9 => "n".into(),
                -6 => "u".into(),
                -3 => "m".into(),
                0 => String::new(),
                3 => "k".into(),
                6 => "M".into(),
                9 => "G".into(),
                12 => "T".into(),
                15 => "P".into(),
                18 => "E".into(),
                other => format!("e{other}"),
            },
        };
        format!("{sign}{mantissa}{suffix}")
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && a > 0 {
        q + 1
    } else {
        q
    }
}

/// A resource list: resource name to amount, in name order (the order Kubernetes prints).
pub type ResourceList = BTreeMap<String, Amount>;

/// Reads a resource list from a JSON object, skipping values that are not quantities
/// (validation has refused those already on any object that was stored).
pub fn list_from_json(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Amount::from_json(v).map(|a| (k.clone(), a)))
                .collect()
        })
        .unwrap_or_default()
}

/// A resource list as JSON, every amount in canonical form.
pub fn list_to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.canonical())))
            .collect::<Map<String, Value>>(),
    )
}

/// `quota.Add`: every key of either list, summed where both have it.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        out.entry(k.clone())
            .and_modify(|x| *x = x.plus(*v))
            .or_insert(*v);
    }
    out
}

/// Adds `b` into `a` in place (`addResourceList` of the resource helpers).
pub fn add_into(a: &mut ResourceList, b: &ResourceList) {
    for (k, v) in b {
        a.entry(k.clone())
            .and_modify(|x| *x = x.plus(*v))
            .or_insert(*v);
    }
}

/// Raises `a` to `b` wherever `b` is greater or `a` has nothing (`maxResourceList`).
pub fn max_into(a: &mut ResourceList, b: &ResourceList) {
    for (k, v) in b {
        match a.get(k) {
            Some(x) if *v <= *x => {}
            _ => {
                a.insert(k.clone(), *v);
            }
        }
    }
}

/// `quota.SubtractWithNonNegativeResult`: `a - b` per key of either list, floored at zero.
pub fn subtract_non_negative(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    for (k, v) in a {
        let mut d = match b.get(k) {
            Some(o) => v.minus(*o),
            None => *v,
        };
        if d.nanos < 0 {
            d.nanos = 0;
        }
        out.insert(k.clone(), d);
    }
    for k in b.keys() {
        out.entry(k.clone()).or_insert(Amount::ZERO);
    }
    out
}

/// `quota.Mask`: only the named keys.
pub fn mask<'a>(a: &ResourceList, names: impl IntoIterator<Item = &'a String>) -> ResourceList {
    names
        .into_iter()
        .filter_map(|n| a.get(n).map(|v| (n.clone(), *v)))
        .collect()
}

/// `quota.LessThanOrEqual`: the keys of `a` that exceed `b` (keys `b` lacks are unlimited).
pub fn exceeding(a: &ResourceList, b: &ResourceList) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|limit| *v > limit))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether every amount is zero (an empty list is zero).
pub fn is_zero(a: &ResourceList) -> bool {
    a.values().all(Amount::is_zero)
}

/// Keys with a negative amount.
pub fn negative(a: &ResourceList) -> Vec<String> {
    a.iter()
        .filter(|(_, v)| v.nanos < 0)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether two lists hold the same keys with equal amounts (`quota.Equals`).
pub fn equal(a: &ResourceList, b: &ResourceList) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `name=value` pairs in name order, joined by commas, as quota messages print lists.
pub fn pretty(a: &ResourceList) -> String {
    a.iter()
        .map(|(k, v)| format!("{k}={}", v.canonical()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(s: &str) -> String {
        Amount::parse(s).unwrap().canonical()
    }

    #[test]
    fn canonical_forms_match_kubernetes() {
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1500m"), "1500m");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("1000"), "1k");
        assert_eq!(c("1500000"), "1500k");
        assert_eq!(c("1024Mi"), "1Gi");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("1G"), "1G");
        assert_eq!(c("0"), "0");
        assert_eq!(c("-250m"), "-250m");
        assert_eq!(c("100Mi"), "100Mi");
        assert_eq!(c("2E"), "2E");
    }

    #[test]
    fn sums_keep_the_left_format_unless_it_is_zero() {
        let half = Amount::parse("512Mi").unwrap();
        assert_eq!(half.plus(half).canonical(), "1Gi");
        assert_eq!(Amount::ZERO.plus(half).canonical(), "512Mi");
        let g = Amount::parse("1G").unwrap();
        // 1G + 1Gi in decimal SI.
        assert_eq!(
            g.plus(Amount::parse("1Gi").unwrap()).canonical(),
            "2073741824"
        );
        let m = Amount::parse("500m").unwrap();
        assert_eq!(m.plus(m).canonical(), "1");
    }

    #[test]
    fn value_and_milli_value_round_up() {
        let a = Amount::parse("1500m").unwrap();
        assert_eq!(a.value(), 2);
        assert_eq!(a.milli_value(), 1500);
        assert_eq!(Amount::parse("1n").unwrap().milli_value(), 1);
    }

    #[test]
    fn list_operations_follow_quota_helpers() {
        let a = list_from_json(Some(&json!({"cpu": "1", "memory": "1Gi"})));
        let b = list_from_json(Some(&json!({"cpu": "1500m", "pods": "1"})));
        let sum = add(&a, &b);
        assert_eq!(pretty(&sum), "cpu=2500m,memory=1Gi,pods=1");
        let diff = subtract_non_negative(&a, &b);
        assert_eq!(pretty(&diff), "cpu=0,memory=1Gi,pods=0");
        let limit = list_from_json(Some(&json!({"cpu": "2"})));
        assert_eq!(exceeding(&sum, &limit), vec!["cpu".to_string()]);
        assert!(exceeding(&a, &limit).is_empty());
        let names = ["memory".to_string()];
        assert_eq!(pretty(&mask(&sum, &names)), "memory=1Gi");
        assert!(is_zero(&list_from_json(Some(&json!({"x": "0"})))));
        assert!(!is_zero(&a));
        assert_eq!(list_to_json(&sum)["cpu"], "2500m");
        let mut m = a.clone();
        max_into(&mut m, &b);
        assert_eq!(pretty(&m), "cpu=1500m,memory=1Gi,pods=1");
    }
}
