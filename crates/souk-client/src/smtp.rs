//! Sending one e-mail through the operator's SMTP relay (lettre, rustls on ring).
//!
//! The relay's name is resolved here, once, and the connection goes to the address that
//! was checked: unless private destinations are allowed, a relay that resolves to a
//! private or loopback address is refused (the same rule as every outbound call, see
//! [`crate::guard`]), and a relay spoken to in the clear (`plain`) must be on a private
//! or loopback address, so passwords and one-time links never cross the internet
//! unencrypted. Every step is bounded: connecting and each command by
//! [`COMMAND_TIMEOUT`], the whole exchange by [`SEND_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::guard::is_private;

/// Connecting, and every command, waits at most this long.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole exchange (resolve, connect, TLS, auth, message) waits at most this long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which the relay must offer (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a relay on a private or loopback address.
    Plain,
}

impl Security {
    pub const ALL: [Security; 3] = [Security::StartTls, Security::Tls, Security::Plain];

    pub fn parse(text: &str) -> Option<Security> {
        match text.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "plain" => Some(Security::Plain),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::Plain => "plain",
        }
    }

    /// The usual port.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// Where and how to hand mail over.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Both or neither: authentication is optional (a local relay may need none).
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Shop <noreply@shop.example>` or a bare address.
    pub from: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// One plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// The relay refused for good (a 5xx reply: unknown recipient, sender not allowed,
    /// bad credentials). Trying the same message again would be refused again.
    #[error("the relay refused: {0}")]
    Refused(String),
    /// Could not be handed over this time (4xx reply, network down, timeout, TLS
    /// failure): worth another try later.
    #[error("could not send: {0}")]
    Failed(String),
    /// The message or the settings cannot be used (an address that does not parse, a
    /// relay on a refused address); nothing was sent.
    #[error("{0}")]
    Invalid(String),
}

impl SmtpError {
    /// True when another try cannot succeed without something changing.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, SmtpError::Failed(_))
    }
}

/// A mailbox as lettre reads it, or why not.
pub fn mailbox(text: &str, what: &str) -> Result<Mailbox, SmtpError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| SmtpError::Invalid(format!("{what} is not an e-mail address: {e}")))
}

/// The name Souk gives itself in `EHLO`: the domain of its sender address (a relay
/// checks the name is a domain; the machine's host name is often not one).
fn hello_name(from: &Mailbox) -> ClientId {
    ClientId::Domain(from.email.domain().to_owned())
}

/// The relay's addresses, checked against the private-destination rule.
async fn resolve(relay: &Relay, allow_private: bool) -> Result<SocketAddr, SmtpError> {
    let host = relay
        .host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(COMMAND_TIMEOUT, tokio::net::lookup_host((host, relay.port)))
            .await
            .map_err(|_| SmtpError::Failed(format!("resolving {host} timed out")))?
            .map_err(|e| SmtpError::Failed(format!("cannot resolve {host}: {e}")))?
            .collect();
    if addrs.is_empty() {
        return Err(SmtpError::Failed(format!("{host} has no address")));
    }
    let usable: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| allow_private || !is_private(a.ip()))
        .collect();
    let Some(first) = usable.first().copied() else {
        return Err(SmtpError::Invalid(format!(
            "the relay {host} is on a private or local address (set SOUK_ALLOW_PRIVATE_UPSTREAMS=1 to allow)"
        )));
    };
    if relay.security == Security::Plain && !is_private(first.ip()) {
        return Err(SmtpError::Invalid(format!(
            "security plain is only for a relay on a private or loopback address; {host} is public: use starttls or tls"
        )));
    }
    Ok(first)
}

/// Sends `mail` through `relay`.
pub async fn send(relay: &Relay, allow_private: bool, mail: &Mail) -> Result<(), SmtpError> {
    let from = mailbox(&relay.from, "the sender")?;
    let to = mailbox(&mail.to, "the recipient")?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| SmtpError::Invalid(format!("the message cannot be built: {e}")))?;
    let exchange = async {
        let addr = resolve(relay, allow_private).await?;
        let host = relay.host.trim().to_owned();
        let tls = match relay.security {
            Security::Plain => Tls::None,
            secure => {
                // The certificate is checked against the name configured, not the
                // address connected to.
                let params = TlsParameters::new(host.clone())
                    .map_err(|e| SmtpError::Invalid(format!("TLS settings: {e}")))?;
                if secure == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(addr.port())
                .tls(tls)
                .hello_name(hello_name(&from))
                .timeout(Some(COMMAND_TIMEOUT));
        if let (Some(user), Some(password)) = (&relay.username, &relay.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let transport = builder.build();
        transport.send(message).await.map(|_| ()).map_err(classify)
    };
    tokio::time::timeout(SEND_TIMEOUT, exchange)
        .await
        .map_err(|_| SmtpError::Failed(format!("no answer within {} s", SEND_TIMEOUT.as_secs())))?
}

/// A permanent reply (5xx) is a refusal; everything else may pass on another try.
fn classify(e: lettre::transport::smtp::Error) -> SmtpError {
    let text = error_text(&e);
    if e.is_permanent() {
        SmtpError::Refused(text)
    } else {
        SmtpError::Failed(text)
    }
}

/// The error with its causes, on one line (lettre's own text leaves the reply out).
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_security() {
        assert_eq!(Security::parse(" STARTTLS "), Some(Security::StartTls));
        assert_eq!(Security::parse("tls"), Some(Security::Tls));
        assert_eq!(Security::parse("plain"), Some(Security::Plain));
        assert_eq!(Security::parse("ssl"), None);
        for s in Security::ALL {
            assert_eq!(Security::parse(s.as_str()), Some(s));
        }
    }

    #[tokio::test]
    async fn plain_only_to_private_relays() {
        let relay = Relay {
            host: "1.1.1.1".into(),
            port: 25,
            security: Security::Plain,
            username: None,
            password: None,
            from: "shop@example.com".into(),
        };
        let refused = resolve(&relay, true)
            .await
            .expect_err("plain to a public address");
        assert!(refused.is_permanent(), "{refused}");
        let local = Relay {
            host: "127.0.0.1".into(),
            ..relay.clone()
        };
        assert!(
            resolve(&local, false).await.is_err(),
            "loopback without allow_private"
        );
        assert!(resolve(&local, true).await.is_ok());
    }

    #[tokio::test]
    async fn refuses_bad_addresses_before_connecting() {
        let relay = Relay {
            host: "127.0.0.1".into(),
            port: 9,
            security: Security::Plain,
            username: None,
            password: None,
            from: "not an address".into(),
        };
        let mail = Mail {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
        };
        assert!(matches!(
            send(&relay, true, &mail).await,
            Err(SmtpError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn hands_mail_to_a_relay_and_reads_its_refusals() {
        let sink = souk_fakes::smtp::SmtpSink::start().await;
        let relay = Relay {
            host: sink.host().into(),
            port: sink.port(),
            security: Security::Plain,
            username: None,
            password: None,
            from: "Shop <shop@example.com>".into(),
        };
        let long = format!(
            "https://shop.example/password/reset?token={}",
            "ab".repeat(32)
        );
        let mail = Mail {
            to: "buyer@example.com".into(),
            subject: "Заказ выполнен".into(),
            text: format!("Hello.\n.leading dot\n{long}\n"),
        };
        send(&relay, true, &mail).await.expect("sent");
        let got = sink.received_by("buyer@example.com");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].from, "shop@example.com");
        assert_eq!(got[0].subject(), "Заказ выполнен");
        assert!(
            got[0].text().contains(".leading dot\n"),
            "{}",
            got[0].text()
        );
        assert!(got[0].text().contains(&long), "{}", got[0].text());

        sink.refuse_next(1, "451 4.3.0 try later");
        let later = send(&relay, true, &mail)
            .await
            .expect_err("refused for now");
        assert!(!later.is_permanent(), "{later}");
        sink.refuse_next(1, "550 5.1.1 no such user");
        let never = send(&relay, true, &mail)
            .await
            .expect_err("refused for good");
        assert!(matches!(never, SmtpError::Refused(_)), "{never}");
        assert!(never.to_string().contains("no such user"), "{never}");
        assert_eq!(sink.received().len(), 1);
    }
}
