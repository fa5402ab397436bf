//! Rules of the job queue that need no I/O.

/// How long a failed job waits before its next try, after `attempt` tries (1-based):
/// 5 s, 10 s, 20 s ... doubling, never more than an hour.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    let doublings = attempt.clamp(1, 20) - 1;
    5_000i64
        .saturating_mul(1i64 << doublings.min(10))
        .min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap_at_an_hour() {
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(2), 10_000);
        assert_eq!(retry_delay_ms(4), 40_000);
        assert_eq!(retry_delay_ms(10), 2_560_000);
        assert_eq!(retry_delay_ms(11), 3_600_000);
        assert_eq!(retry_delay_ms(1_000), 3_600_000);
        assert_eq!(retry_delay_ms(0), 5_000);
        assert_eq!(retry_delay_ms(-3), 5_000);
    }
}
