//! Resource quantities as the scheduler counts them: cpu in millicores, memory in bytes.
//!
//! Parsing is delegated to `control_apimachinery::admission::Quantity` so there is one
//! quantity grammar in the workspace. Like Kubernetes' `MilliValue()` and `Value()`, both
//! conversions round up; a string that does not parse counts as zero, because the API server
//! rejects such objects before they can reach the scheduler.

use control_apimachinery::admission::Quantity as Parsed;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Nano-units of the quantity, or zero when it does not parse.
fn nanos(q: &str) -> i128 {
    Parsed::parse(q).map(|p| p.nanos).unwrap_or(0)
}

/// Rounds `nanos / divisor` up (towards positive infinity), saturating into `i64`.
fn ceil_div(nanos: i128, divisor: i128) -> i64 {
    let q = nanos.div_euclid(divisor) + i128::from(nanos.rem_euclid(divisor) != 0);
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `"100m"` → 100, `"2"` → 2000, `"1.5"` → 1500.
pub fn millis(q: &Quantity) -> i64 {
    millis_str(&q.0)
}

/// The string form of [`millis`].
pub fn millis_str(q: &str) -> i64 {
    ceil_div(nanos(q), 1_000_000)
}

/// `"128Mi"` → 134217728, `"1G"` → 1000000000, `"1e3"` → 1000.
pub fn value(q: &Quantity) -> i64 {
    value_str(&q.0)
}

/// The string form of [`value`].
pub fn value_str(q: &str) -> i64 {
    ceil_div(nanos(q), 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_millicores() {
        assert_eq!(millis_str("100m"), 100);
        assert_eq!(millis_str("2"), 2000);
        assert_eq!(millis_str("1.5"), 1500);
        assert_eq!(
            millis_str("0.0001"),
            1,
            "sub-millicore values round up like MilliValue"
        );
    }

    #[test]
    fn memory_quantities_become_bytes() {
        assert_eq!(value_str("128Mi"), 128 * 1024 * 1024);
        assert_eq!(value_str("1G"), 1_000_000_000);
        assert_eq!(value_str("1e3"), 1000);
        assert_eq!(value_str("1Ki"), 1024);
    }

    #[test]
    fn malformed_quantities_count_as_zero() {
        assert_eq!(value_str("lots"), 0);
    }
}
