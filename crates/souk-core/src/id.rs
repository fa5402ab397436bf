//! Entity ids: 24 lowercase hex characters, ObjectId style (4 bytes of seconds since the
//! epoch, then 8 random bytes), so ids sort roughly by creation time and never collide.

use rand::RngCore;

pub const ENTITY_ID_LEN: usize = 24;

/// A fresh entity id.
pub fn new_entity_id() -> String {
    let secs = chrono::Utc::now().timestamp().clamp(0, i64::from(u32::MAX)) as u32;
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    rand::thread_rng().fill_bytes(&mut bytes[4..]);
    hex::encode(bytes)
}

/// True for a well-formed entity id (24 lowercase hex characters).
pub fn is_entity_id(text: &str) -> bool {
    text.len() == ENTITY_ID_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A reference to a service as buyers write it: its number or its entity id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServiceRef {
    Number(i64),
    Id(String),
}

impl ServiceRef {
    /// Accepts a positive integer or an entity id (case-insensitive hex).
    pub fn parse(text: &str) -> Option<ServiceRef> {
        let t = text.trim();
        if !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(ServiceRef::Number);
        }
        let lower = t.to_ascii_lowercase();
        is_entity_id(&lower).then_some(ServiceRef::Id(lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex() {
        let a = new_entity_id();
        let b = new_entity_id();
        assert!(is_entity_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn service_refs() {
        assert_eq!(ServiceRef::parse("12"), Some(ServiceRef::Number(12)));
        assert_eq!(ServiceRef::parse(" 7 "), Some(ServiceRef::Number(7)));
        assert_eq!(ServiceRef::parse("0"), None);
        assert_eq!(ServiceRef::parse("-3"), None);
        assert_eq!(ServiceRef::parse("1.5"), None);
        assert_eq!(
            ServiceRef::parse("507F1F77BCF86CD799439011"),
            Some(ServiceRef::Id("507f1f77bcf86cd799439011".into()))
        );
        assert_eq!(ServiceRef::parse("507f1f77bcf86cd79943901"), None);
        assert_eq!(ServiceRef::parse("abc"), None);
    }
}
