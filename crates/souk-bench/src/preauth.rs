//! What a request costs the server before its key, token, signature or session is checked.
//!
//! Sends each of a list of hostile requests, one after another, for `--seconds` to a
//! running node and reads the node's CPU time (user + system, `/proc/PID/stat`, in 10 ms
//! ticks: hence seconds of sending, not a few rounds) before and after: the CPU per
//! request, beside the same figure for a small request with a wrong key measured in the
//! same run. Prints one JSON line per request.

use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args, Debug)]
pub struct PreauthArgs {
    /// The node: `http://HOST:PORT`.
    #[arg(long)]
    url: String,
    /// The node's process id (its CPU time is read from /proc).
    #[arg(long)]
    pid: u32,
    /// How long each request is sent again and again.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// One hostile request: a name and its raw HTTP/1.1 bytes.
struct Case {
    name: &'static str,
    request: Vec<u8>,
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("Content-Type", "application/json");
/// Just under the 1 MiB body limit.
const MIB: usize = (1 << 20) - 64;

fn cases(csrf: &str) -> Vec<Case> {
    let api =
        |name, query: String, content_type: (&'static str, &'static str), body: Vec<u8>| Case {
            name,
            request: request("POST", &format!("/api/v2{query}"), &[content_type], &body),
        };
    // 999 distinct pairs of ~1 KiB each: the most a body may carry under the cap.
    let value = "x".repeat(MIB / 1000 - 8);
    let wide_form: String = (0..998)
        .map(|i| format!("n{i}={value}&"))
        .chain(["key=wrong&action=balance".to_owned()])
        .collect();
    let wide_json = {
        let mut fields = serde_json::Map::new();
        for i in 0..998 {
            fields.insert(format!("n{i}"), json!(value));
        }
        fields.insert("key".into(), json!("wrong"));
        fields.insert("action".into(), json!("balance"));
        serde_json::Value::Object(fields).to_string().into_bytes()
    };
    let boundary = "bench-boundary";
    let part_value = "x".repeat(MIB / 1000 - 80);
    let multipart: String = (0..998)
        .map(|i| format!("--{boundary}\r\nContent-Disposition: form-data; name=\"n{i}\"\r\n\r\n{part_value}\r\n"))
        .chain([format!("--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nwrong\r\n--{boundary}--\r\n")])
        .collect();
    let multipart_type = format!("multipart/form-data; boundary={boundary}");
    let escapes = format!(
        "{{\"key\":\"wrong\",\"text\":\"{}\"}}",
        "\\u00e9".repeat(MIB / 6 - 8)
    );
    let nested = format!("{{\"a\":{}", "[".repeat(MIB - 8));
    let stub_form: String = (0..998)
        .map(|i| format!("n{i}={value}&"))
        .chain(["api_key=wrong&action=getBalance".to_owned()])
        .collect();
    vec![
        api(
            "baseline: balance with a wrong key",
            String::new(),
            FORM,
            b"key=wrong&action=balance".to_vec(),
        ),
        api(
            "20,000 query pairs + 1 MiB of empty pairs (the finding)",
            format!("?{}", "a&".repeat(20_000)),
            FORM,
            "b&".repeat(MIB / 2).into_bytes(),
        ),
        api(
            "1 MiB form: 1,000 pairs of 1 KiB",
            String::new(),
            FORM,
            wide_form.clone().into_bytes(),
        ),
        api(
            "1,000 query pairs + 1 MiB form of the same names",
            format!(
                "?{}",
                (0..998).map(|i| format!("n{i}=q&")).collect::<String>()
            ),
            FORM,
            wide_form.into_bytes(),
        ),
        api(
            "1 MiB JSON: 1,000 fields of 1 KiB",
            String::new(),
            JSON,
            wide_json.clone(),
        ),
        api(
            "1 MiB JSON string of \\u escapes",
            String::new(),
            JSON,
            escapes.into_bytes(),
        ),
        api(
            "1 MiB JSON nested arrays",
            String::new(),
            JSON,
            nested.into_bytes(),
        ),
        api(
            "1 MiB JSON array of 500,000 numbers",
            String::new(),
            JSON,
            format!(
                "{{\"key\":\"wrong\",\"orders\":[{}1]}}",
                "1,".repeat(MIB / 2 - 16)
            )
            .into_bytes(),
        ),
        Case {
            name: "1 MiB multipart: 1,000 fields of 1 KiB",
            request: request(
                "POST",
                "/api/v2",
                &[("Content-Type", &multipart_type)],
                multipart.as_bytes(),
            ),
        },
        Case {
            name: "stub endpoint: 1 MiB form",
            request: request(
                "POST",
                "/stubs/handler_api.php",
                &[FORM],
                stub_form.as_bytes(),
            ),
        },
        Case {
            name: "supplier API: 1 MiB JSON, wrong key",
            request: request(
                "POST",
                "/api/admin/v2/products",
                &[JSON, ("X-Api-Key", "wrong")],
                &wide_json,
            ),
        },
        Case {
            name: "SMS webhook: 64 KiB, bad signature",
            request: request(
                "POST",
                "/webhooks/sms/0123456789abcdef01234567",
                &[
                    JSON,
                    ("X-Souk-Timestamp", "1"),
                    ("X-Souk-Signature", "sha256=00"),
                ],
                &vec![b' '; 64 * 1024],
            ),
        },
        Case {
            name: "sign-in, wrong password (one argon2 check)",
            request: request(
                "POST",
                "/signin",
                &[FORM, ("Cookie", &format!("souk_csrf={csrf}"))],
                format!("csrf={csrf}&email=nobody%40example.com&password=wrong+password")
                    .as_bytes(),
            ),
        },
    ]
}

/// The process's CPU time so far (user + system), in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("unexpected /proc/PID/stat")
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    // Clock ticks are 1/100 s on Linux.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Sends raw bytes, reads the whole answer; its status.
async fn send(authority: &str, bytes: &[u8]) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("cannot connect to {authority}"))?;
    // A node may answer before reading the whole body (a wrong key refused by the
    // supplier API) and close: the answer is still there to read.
    if let Err(e) = stream.write_all(bytes).await {
        if !matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ) {
            return Err(e).context("sending");
        }
    }
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer).await {
        if answer.is_empty() {
            return Err(e).context("reading");
        }
    }
    let line = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {line:?}"))
}

/// A CSRF token for the sign-in form: the double-submit cookie `/signin` sets.
async fn csrf(authority: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(authority).await?;
    stream
        .write_all(b"GET /signin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let at = text.find("souk_csrf=").context("no CSRF cookie")? + "souk_csrf=".len();
    Ok(text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect())
}

/// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Ten bursts of 64 wrong sign-ins at once: how many were judged (401) or refused at once
/// (429), and the node's resident memory before and at its peak.
async fn sign_in_bursts(authority: &str, pid: u32, csrf: &str) -> anyhow::Result<()> {
    let rss_before = status_kib(pid, "VmRSS:")?;
    let mut tally = std::collections::BTreeMap::<u16, u32>::new();
    let started = Instant::now();
    for burst in 0..10 {
        let sends = (0..64).map(|i| {
            let body =
                format!("csrf={csrf}&email=burst{burst}-{i}%40example.com&password=wrong+password");
            let bytes = request(
                "POST",
                "/signin",
                &[FORM, ("Cookie", &format!("souk_csrf={csrf}"))],
                body.as_bytes(),
            );
            async move { send(authority, &bytes).await }
        });
        for status in futures::future::join_all(sends).await {
            *tally.entry(status?).or_default() += 1;
        }
    }
    println!(
        "{}",
        json!({
            "request": "10 bursts of 64 wrong sign-ins at once",
            "statuses": tally,
            "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "rss_before_mib": rss_before / 1024,
            "rss_peak_mib": status_kib(pid, "VmHWM:")? / 1024,
        })
    );
    Ok(())
}

pub async fn run(args: PreauthArgs) -> anyhow::Result<()> {
    let authority = args
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let csrf = csrf(&authority).await?;
    let mut baseline: Option<f64> = None;
    for case in cases(&csrf) {
        // One unmeasured send, so allocations that happen once do not count.
        let first = send(&authority, &case.request).await?;
        let cpu_before = cpu_seconds(args.pid)?;
        let started = Instant::now();
        let mut statuses = std::collections::BTreeSet::new();
        statuses.insert(first);
        let mut rounds = 0u32;
        while rounds < 10 || started.elapsed().as_secs_f64() < args.seconds {
            statuses.insert(send(&authority, &case.request).await?);
            rounds += 1;
        }
        let wall_ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
        let cpu_ms = (cpu_seconds(args.pid)? - cpu_before) * 1000.0 / f64::from(rounds);
        if statuses.contains(&429) {
            bail!(
                "{}: rate limited; start the node with the limits off",
                case.name
            );
        }
        let base = *baseline.get_or_insert(cpu_ms.max(0.001));
        println!(
            "{}",
            json!({
                "request": case.name,
                "bytes": case.request.len(),
                "statuses": statuses,
                "rounds": rounds,
                "cpu_ms": (cpu_ms * 1000.0).round() / 1000.0,
                "wall_ms": (wall_ms * 1000.0).round() / 1000.0,
                "cpu_vs_baseline": (cpu_ms / base * 10.0).round() / 10.0,
            })
        );
    }
    sign_in_bursts(&authority, args.pid, &csrf).await
}
