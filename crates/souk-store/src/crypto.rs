//! Secrets at rest: stock lines and provider keys are sealed with AES-256-GCM under the
//! installation's data key; API keys and session tokens are kept only as SHA-256 digests
//! (they carry 160+ random bits, so a slow hash would add nothing but latency).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::StoreError;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Crypto {
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto(..)")
    }
}

impl Crypto {
    pub fn new(data_key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"souk fingerprint key\0");
        h.update(data_key);
        Crypto {
            cipher: Aes256Gcm::new(data_key.into()),
            fingerprint_key: h.finalize().into(),
        }
    }

    /// A fresh random data key.
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        key
    }

    /// Parses a key written as 64 hex characters.
    pub fn parse_key(text: &str) -> Result<[u8; 32], StoreError> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| StoreError::Config("data key must be 64 hex characters".into()))?;
        bytes
            .try_into()
            .map_err(|_| StoreError::Config("data key must be 64 hex characters".into()))
    }

    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and a 12-byte nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        out.extend(sealed);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Crypto);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| StoreError::Crypto)?;
        String::from_utf8(plain).map_err(|_| StoreError::Crypto)
    }

    /// A keyed digest of a stock line: equal lines have equal fingerprints, and the
    /// fingerprint reveals nothing without the key.
    pub fn fingerprint(&self, plaintext: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.fingerprint_key)
            .expect("HMAC takes keys of any length");
        mac.update(plaintext.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The stored form of an API key or session token.
pub fn digest_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

/// A new API key: 40 lowercase hex characters (160 random bits).
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let c = Crypto::new(&Crypto::generate_key());
        let sealed = c.seal("user1:pass1");
        assert_ne!(&sealed[NONCE_LEN..], b"user1:pass1");
        assert_eq!(c.open(&sealed).expect("opens"), "user1:pass1");
        let other = Crypto::new(&Crypto::generate_key());
        assert!(other.open(&sealed).is_err());
        assert_eq!(c.fingerprint("a"), c.fingerprint("a"));
        assert_ne!(c.fingerprint("a"), other.fingerprint("a"));
    }
}
