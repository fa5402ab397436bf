//! sms-activate protocol client.
