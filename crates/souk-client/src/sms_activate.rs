//! sms-activate protocol client (`/stubs/handler_api.php`): rent a number, poll it for
//! the code, complete or cancel it. Upstream SMS providers speak it, and so does Souk.
//!
//! Answers are plain-text tokens at HTTP 200 (`ACCESS_NUMBER:id:phone`, `NO_NUMBERS`,
//! ...); anything else (an HTML page, an empty body, a token we do not know) is a clear
//! error, never a panic or a guess. Outbound calls refuse private, loopback and link-local
//! addresses unless the operator allows them: literal addresses are checked before the
//! call, names when they are resolved, and redirects are not followed.

use std::time::Duration;

/// The longest body read from an upstream.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the provider refused the API key (BAD_KEY)")]
    BadKey,
    #[error("the provider has no numbers (NO_NUMBERS)")]
    NoNumbers,
    #[error("our balance at the provider is too low (NO_BALANCE)")]
    NoBalance,
    #[error("the provider does not know this service (BAD_SERVICE)")]
    BadService,
    #[error("the provider does not know this activation (NO_ACTIVATION)")]
    NoActivation,
    #[error("the provider refused the status change (BAD_STATUS)")]
    BadStatus,
    #[error("the provider refuses to cancel within the first minutes (EARLY_CANCEL_DENIED)")]
    EarlyCancelDenied,
    #[error("the provider's price is above our maximum (WRONG_MAX_PRICE:{0})")]
    WrongMaxPrice(String),
    #[error("the provider banned the account ({0})")]
    Banned(String),
    #[error("the provider answered with the error {0}")]
    Other(String),
    #[error("the provider answered with an empty body")]
    Empty,
    #[error("the provider answered with an HTML page (is the URL right?)")]
    Html,
    #[error("the provider answered something that is not the sms-activate protocol: {0:?}")]
    Garbage(String),
    #[error("the provider answered HTTP {0}")]
    Http(u16),
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("cannot reach the provider: {0}")]
    Transport(String),
    #[error("refused to call {0}: private, loopback and link-local addresses are not allowed (SOUK_ALLOW_PRIVATE_UPSTREAMS=1 allows them)")]
    PrivateAddress(String),
    #[error("invalid provider URL {0:?}")]
    BadUrl(String),
}

impl Error {
    /// True when another provider (or later) may do better: the provider is fine but has
    /// nothing for us right now, or was unreachable.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::NoNumbers | Error::Timeout | Error::Transport(_) | Error::Http(_)
        )
    }
}

/// A rented number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    pub id: String,
    /// Digits as the provider gives them (no `+`).
    pub phone: String,
}

/// `getStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    WaitCode,
    /// Waiting for another SMS; the previous code.
    WaitRetry(String),
    WaitResend,
    Cancel,
    Ok(String),
}

/// `setStatus` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetStatus {
    Ready = 1,
    Retry = 3,
    Complete = 6,
    Cancel = 8,
}

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    key: String,
    timeout: Duration,
    allow_private: bool,
}

impl Client {
    /// `url` is the provider's base (`https://api.example.com`) or its full
    /// `.../stubs/handler_api.php`.
    pub fn new(
        url: &str,
        key: &str,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<Client, Error> {
        let mut endpoint =
            reqwest::Url::parse(url.trim()).map_err(|_| Error::BadUrl(url.to_owned()))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(Error::BadUrl(url.to_owned()));
        }
        if !endpoint.path().ends_with(".php") {
            let path = format!(
                "{}/stubs/handler_api.php",
                endpoint.path().trim_end_matches('/')
            );
            endpoint.set_path(&path);
        }
        Ok(Client {
            http: crate::guard::shared_client(allow_private),
            endpoint,
            key: key.to_owned(),
            timeout,
            allow_private,
        })
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// `getBalance`: the balance as the provider prints it.
    pub async fn balance(&self) -> Result<String, Error> {
        let body = self.call("getBalance", &[]).await?;
        match body.split_once(':') {
            Some(("ACCESS_BALANCE", amount)) => Ok(amount.trim().to_owned()),
            _ => Err(classify(&body)),
        }
    }

    /// `getNumber`: rents a number for `service` in `country` (the protocol's number).
    pub async fn get_number(&self, service: &str, country: Option<i64>) -> Result<Number, Error> {
        let country = country.map(|c| c.to_string());
        let mut params = vec![("service", service)];
        if let Some(c) = &country {
            params.push(("country", c));
        }
        let body = self.call("getNumber", &params).await?;
        parse_number(&body)
    }

    /// `getStatus` of a rental.
    pub async fn get_status(&self, id: &str) -> Result<Status, Error> {
        let body = self.call("getStatus", &[("id", id)]).await?;
        parse_status(&body)
    }

    /// `setStatus`: returns the provider's `ACCESS_*` token.
    pub async fn set_status(&self, id: &str, status: SetStatus) -> Result<String, Error> {
        let value = (status as u8).to_string();
        let body = self
            .call("setStatus", &[("id", id), ("status", &value)])
            .await?;
        if body.starts_with("ACCESS_") {
            Ok(body)
        } else {
            Err(classify(&body))
        }
    }

    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        if !self.allow_private {
            check_host(&self.endpoint)?;
        }
        let mut query: Vec<(&str, &str)> = vec![("api_key", &self.key), ("action", action)];
        query.extend_from_slice(params);
        let response = self
            .http
            .get(self.endpoint.clone())
            .query(&query)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = read_body(response).await?;
        let text = body.trim();
        // Some providers send their tokens with a 4xx status: the token says more.
        if !status.is_success() && !looks_like_token(text) {
            return Err(Error::Http(status.as_u16()));
        }
        if text.is_empty() {
            return Err(Error::Empty);
        }
        if text.starts_with('<') {
            return Err(Error::Html);
        }
        Ok(text.to_owned())
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<String, Error> {
    let bytes = crate::guard::read_capped(&mut response, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::guard::BodyError::Transport(e) => transport_error(e),
            crate::guard::BodyError::TooLarge => {
                Error::Garbage(format!("a body over {MAX_BODY} bytes"))
            }
        })?;
    String::from_utf8(bytes).map_err(|_| Error::Garbage("a body that is not UTF-8".into()))
}

fn transport_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout;
    }
    // The resolver's refusal travels inside the connect error.
    if let Some(host) = crate::guard::refused_host(&e) {
        return Error::PrivateAddress(host);
    }
    Error::Transport(e.without_url().to_string())
}

fn looks_like_token(text: &str) -> bool {
    let head = text.split(':').next().unwrap_or("");
    !head.is_empty()
        && head
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
}

/// An error token (or anything else) as an `Error`.
pub fn classify(body: &str) -> Error {
    let text = body.trim();
    if text.is_empty() {
        return Error::Empty;
    }
    if text.starts_with('<') {
        return Error::Html;
    }
    let (head, rest) = text.split_once(':').unwrap_or((text, ""));
    match head {
        "BAD_KEY" => Error::BadKey,
        "NO_NUMBERS" => Error::NoNumbers,
        "NO_BALANCE" => Error::NoBalance,
        "BAD_SERVICE" => Error::BadService,
        "NO_ACTIVATION" | "WRONG_ACTIVATION_ID" => Error::NoActivation,
        "BAD_STATUS" => Error::BadStatus,
        "EARLY_CANCEL_DENIED" => Error::EarlyCancelDenied,
        "WRONG_MAX_PRICE" => Error::WrongMaxPrice(rest.to_owned()),
        "BANNED" => Error::Banned(rest.to_owned()),
        _ if looks_like_token(text) && text.len() <= 64 => Error::Other(text.to_owned()),
        _ => Error::Garbage(text.chars().take(80).collect()),
    }
}

/// `ACCESS_NUMBER:id:phone`.
pub fn parse_number(body: &str) -> Result<Number, Error> {
    let text = body.trim();
    let mut parts = text.splitn(3, ':');
    if parts.next() != Some("ACCESS_NUMBER") {
        return Err(classify(text));
    }
    let (Some(id), Some(phone)) = (parts.next(), parts.next()) else {
        return Err(Error::Garbage(text.chars().take(80).collect()));
    };
    let phone = phone.trim().trim_start_matches('+');
    let id_ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let phone_ok = (7..=15).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit());
    if !id_ok || !phone_ok {
        return Err(Error::Garbage(text.chars().take(80).collect()));
    }
    Ok(Number {
        id: id.to_owned(),
        phone: phone.to_owned(),
    })
}

/// `STATUS_*`.
pub fn parse_status(body: &str) -> Result<Status, Error> {
    let text = body.trim();
    let (head, rest) = text.split_once(':').unwrap_or((text, ""));
    Ok(match head {
        "STATUS_WAIT_CODE" => Status::WaitCode,
        "STATUS_WAIT_RETRY" => Status::WaitRetry(rest.to_owned()),
        "STATUS_WAIT_RESEND" => Status::WaitResend,
        "STATUS_CANCEL" => Status::Cancel,
        "STATUS_OK" if !rest.trim().is_empty() => Status::Ok(rest.trim().to_owned()),
        _ => return Err(classify(text)),
    })
}

pub use crate::guard::is_private;

/// Refuses a URL whose host is a private literal address (names are checked when they
/// are resolved).
fn check_host(url: &reqwest::Url) -> Result<(), Error> {
    crate::guard::check_literal_host(url).map_err(|e| match e {
        crate::guard::GuardError::Private(host) => Error::PrivateAddress(host),
        crate::guard::GuardError::Unresolvable(url) => Error::BadUrl(url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(
            parse_number("ACCESS_NUMBER:635468021:79584123456"),
            Ok(Number {
                id: "635468021".into(),
                phone: "79584123456".into()
            })
        );
        assert_eq!(
            parse_number("ACCESS_NUMBER:1:+15550100001\n").map(|n| n.phone),
            Ok("15550100001".into())
        );
        assert_eq!(parse_number("NO_NUMBERS"), Err(Error::NoNumbers));
        assert_eq!(parse_number("NO_BALANCE"), Err(Error::NoBalance));
        assert_eq!(parse_number("BAD_KEY"), Err(Error::BadKey));
        assert_eq!(
            parse_number("WRONG_MAX_PRICE:12.5"),
            Err(Error::WrongMaxPrice("12.5".into()))
        );
        assert_eq!(
            parse_number("<html><body>502</body></html>"),
            Err(Error::Html)
        );
        assert_eq!(parse_number(""), Err(Error::Empty));
        assert!(matches!(
            parse_number("ACCESS_NUMBER:1"),
            Err(Error::Garbage(_))
        ));
        assert!(matches!(
            parse_number("ACCESS_NUMBER:1:not-a-phone"),
            Err(Error::Garbage(_))
        ));
        assert!(matches!(
            parse_number("{\"ok\":true}"),
            Err(Error::Garbage(_))
        ));
        assert_eq!(
            parse_number("SOMETHING_NEW"),
            Err(Error::Other("SOMETHING_NEW".into()))
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status("STATUS_WAIT_CODE"), Ok(Status::WaitCode));
        assert_eq!(
            parse_status("STATUS_OK:48213"),
            Ok(Status::Ok("48213".into()))
        );
        assert_eq!(
            parse_status("STATUS_WAIT_RETRY:48213"),
            Ok(Status::WaitRetry("48213".into()))
        );
        assert_eq!(parse_status("STATUS_CANCEL"), Ok(Status::Cancel));
        assert_eq!(parse_status("NO_ACTIVATION"), Err(Error::NoActivation));
        assert!(matches!(parse_status("STATUS_OK:"), Err(Error::Other(_))));
        assert!(matches!(
            parse_status("lorem ipsum"),
            Err(Error::Garbage(_))
        ));
    }

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn refuses_private_upstreams_unless_allowed() {
        let guarded =
            Client::new("http://127.0.0.1:9/", "k", Duration::from_secs(1), false).expect("client");
        assert_eq!(
            guarded.balance().await,
            Err(Error::PrivateAddress("127.0.0.1".into()))
        );
        let guarded =
            Client::new("http://localhost:9", "k", Duration::from_secs(1), false).expect("client");
        assert!(matches!(
            guarded.balance().await,
            Err(Error::PrivateAddress(_))
        ));
        assert_eq!(
            guarded.endpoint(),
            "http://localhost:9/stubs/handler_api.php"
        );
        // Allowed: the call is made (and fails to connect: nothing listens on port 9).
        let open =
            Client::new("http://127.0.0.1:9", "k", Duration::from_secs(1), true).expect("client");
        assert!(matches!(
            open.balance().await,
            Err(Error::Transport(_) | Error::Timeout)
        ));
        assert!(matches!(
            Client::new("ftp://x", "k", Duration::from_secs(1), true),
            Err(Error::BadUrl(_))
        ));
    }
}
