//! An SMTP sink for tests: a tiny server on `127.0.0.1:0` speaking enough RFC 5321 for a
//! client that is configured `plain` (EHLO/HELO, MAIL FROM, RCPT TO, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT; no TLS, no AUTH), recording every message it
//! accepts. It can refuse the next messages with a reply of the test's choosing
//! ([`SmtpSink::refuse_next`]), at the end of DATA, as a relay that rejects a message does.
//!
//! The message's text is read back with [`Received::text`] (the body decoded from
//! quoted-printable or base64) and [`Received::subject`] (encoded words decoded), written
//! here independently of the sender's encoder.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// One message as the sink accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The envelope: `MAIL FROM` and every `RCPT TO`, without angle brackets.
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-unstuffed, lines ending in CRLF.
    pub data: String,
}

impl Received {
    /// The headers, unfolded, as (lower-case name, value).
    pub fn headers(&self) -> Vec<(String, String)> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = out.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        out
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The subject, RFC 2047 encoded words decoded.
    pub fn subject(&self) -> String {
        decode_words(&self.header("subject").unwrap_or_default())
    }

    /// The body of a single-part message, its transfer encoding undone, lines ending in
    /// `\n`.
    pub fn text(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        let encoding = self
            .header("content-transfer-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => quoted_printable(body),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(body.replace(['\r', '\n'], ""))
                .unwrap_or_default(),
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }
}

/// Undoes quoted-printable: soft line breaks dropped, `=XX` to its byte.
fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if let Some(hex) = bytes.get(i + 1..i + 3) {
                if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Decodes `=?charset?B|Q?...?=` words (UTF-8 assumed), the whitespace between two
/// adjacent encoded words dropped.
fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let (Some(encoding), Some(tail)) = (parts.get(1), parts.get(2)) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let Some(end) = tail.find("?=") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let payload = &tail[..end];
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(payload)
                .unwrap_or_default()
        } else {
            quoted_printable(&payload.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        last_was_word = true;
        // Skip "=?", charset, "?", encoding, "?", payload, "?=".
        let consumed = start + 2 + parts[0].len() + 1 + encoding.len() + 1 + end + 2;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    /// Replies for the next messages' end of DATA, in order (`"550 5.1.1 no such user"`).
    refusals: VecDeque<String>,
    /// Refused messages (their envelope), for the test to see the tries.
    refused: Vec<Received>,
}

/// The running sink; it stops when dropped.
pub struct SmtpSink {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    _stop: oneshot::Sender<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let state = Arc::clone(&state);
                        tokio::spawn(async move {
                            let _ = session(socket, state).await;
                        });
                    }
                }
            }
        });
        SmtpSink {
            port,
            shared,
            _stop: stop,
        }
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Messages accepted for `address`, oldest first.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Messages refused so far (by [`SmtpSink::refuse_next`]).
    pub fn refused(&self) -> Vec<Received> {
        self.lock().refused.clone()
    }

    /// Forgets what was received and refused.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.received.clear();
        s.refused.clear();
    }

    /// Refuses the next `n` messages with `reply` (`"451 4.3.0 try later"`, `"550 5.1.1
    /// no such user"`) at the end of their DATA.
    pub fn refuse_next(&self, n: usize, reply: &str) {
        let mut s = self.lock();
        for _ in 0..n {
            s.refusals.push_back(reply.to_owned());
        }
    }
}

/// The address inside `FROM:<a@b>` / `TO:<a@b> SIZE=..`.
fn path_of(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

async fn session(socket: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 sink.localhost ESMTP souk-fakes\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING".into()
        } else if upper.starts_with("HELO") {
            "250 sink.localhost".into()
        } else if let Some(arg) = upper.strip_prefix("MAIL FROM:") {
            let _ = arg;
            from = Some(path_of(&command["MAIL FROM:".len()..]));
            to.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 5.5.1 MAIL first".into()
            } else {
                to.push(path_of(&command["RCPT TO:".len()..]));
                "250 2.1.5 OK".into()
            }
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                "503 5.5.1 RCPT first".into()
            } else {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let text = text.strip_prefix('.').unwrap_or(text);
                    data.push_str(text);
                    data.push_str("\r\n");
                }
                let message = Received {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                };
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                match s.refusals.pop_front() {
                    Some(refusal) => {
                        s.refused.push(message);
                        refusal
                    }
                    None => {
                        s.received.push(message);
                        "250 2.0.0 OK queued".into()
                    }
                }
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 2.0.0 OK".into()
        } else if upper == "NOOP" {
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not implemented".into()
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_senders_encode() {
        assert_eq!(quoted_printable("a=3Db=\r\nc"), b"a=bc");
        assert_eq!(
            decode_words("=?utf-8?b?0JfQsNC60LDQtw==?= =?utf-8?q?_done?="),
            "Заказ done"
        );
        assert_eq!(decode_words("plain subject"), "plain subject");
        let m = Received {
            from: "a@x.example".into(),
            to: vec!["b@x.example".into()],
            data: "Subject: Hi\r\n there\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nlink=3Dx=\r\ny\r\n".into(),
        };
        assert_eq!(m.subject(), "Hi there");
        assert_eq!(m.text(), "link=xy\n");
    }
}
