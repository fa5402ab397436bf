//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, 30-second steps,
//! six digits, as every authenticator app reads them from an `otpauth://` address. The
//! time is passed in; a code is accepted one step either side of now (clock drift).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Steps either side of now a code is still accepted for.
const DRIFT: i64 = 1;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// 20 random bytes (160 bits, RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    secret
}

/// RFC 4648 base32 without padding, as `otpauth://` wants the secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Reads base32 (case and spaces ignored); `None` on any other character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase() as u8;
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The code for one step (RFC 4226 dynamic truncation), `digits` long.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let binary = (u32::from(hash[offset] & 0x7f) << 24)
        | (u32::from(hash[offset + 1]) << 16)
        | (u32::from(hash[offset + 2]) << 8)
        | u32::from(hash[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The step a time in milliseconds falls in.
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_SECS)
}

/// The six-digit code of the step `now_ms` falls in (what an authenticator shows).
pub fn code_at(secret: &[u8], now_ms: i64) -> String {
    format!("{:06}", hotp(secret, step_of(now_ms).max(0) as u64, 6))
}

/// The step `code` is good for, within the drift around now and after `last_step` (a
/// code is accepted once); `None` when it is not a code of this secret now.
pub fn verify(secret: &[u8], code: &str, now_ms: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let now = step_of(now_ms);
    (now - DRIFT..=now + DRIFT)
        .filter(|step| *step >= 0 && last_step.is_none_or(|last| *step > last))
        .find(|step| hotp(secret, *step as u64, 6) == wanted)
}

/// The `otpauth://` address an authenticator app reads from the QR code.
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label: String = form_urlencoded_component(&format!("{issuer}:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        base32(secret),
        form_urlencoded_component(issuer)
    )
}

/// Percent-encodes everything but unreserved characters.
fn form_urlencoded_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors() {
        // RFC 6238 appendix B, SHA1, the low six digits of its eight.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59_000), "287082");
        assert_eq!(code_at(secret, 1_111_111_109_000), "081804");
        assert_eq!(code_at(secret, 1_234_567_890_000), "005924");
        assert_eq!(code_at(secret, 2_000_000_000_000), "279037");
    }

    #[test]
    fn base32_round_trip() {
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let secret = new_secret();
        assert_eq!(from_base32(&base32(&secret)), Some(secret));
        assert_eq!(from_base32("not base32!"), None);
    }

    #[test]
    fn a_code_is_good_once_and_near_now() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890_000;
        let code = code_at(secret, now);
        let step = verify(secret, &code, now, None).expect("accepted");
        assert_eq!(step, step_of(now));
        assert_eq!(verify(secret, &code, now, Some(step)), None);
        assert_eq!(verify(secret, &code, now + 10 * 60_000, None), None);
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, "abcdef", now, None), None);
    }
}
