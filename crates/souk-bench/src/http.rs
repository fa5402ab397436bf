//! A minimal HTTP/1.1 client over one keep-alive connection (hyper's connection API), so
//! the load generator spends as little CPU per request as possible: on a small machine
//! it shares the cores with the server it measures.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: `host:port` to connect to, and the `Host` header.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub authority: String,
    pub host_header: HeaderValue,
}

impl Endpoint {
    /// Parses `http://host[:port]/path...`; returns the endpoint and the URL's path and
    /// query (`/` when empty).
    pub fn parse(url: &str) -> anyhow::Result<(Endpoint, String)> {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("only http:// URLs are supported, got {other}://"),
            None => bail!("the URL needs a scheme: {url:?}"),
        }
        let host = uri
            .host()
            .with_context(|| format!("the URL has no host: {url:?}"))?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = format!("{host}:{port}");
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let host_header = HeaderValue::from_str(&authority).context("bad host")?;
        Ok((
            Endpoint {
                authority,
                host_header,
            },
            path,
        ))
    }
}

/// What one request sends.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    /// A form body (`application/x-www-form-urlencoded`) for POST.
    pub form: Option<Bytes>,
    /// Extra request headers (`Accept-Encoding: gzip`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// One open connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(endpoint: &Endpoint) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(&endpoint.authority)
            .await
            .with_context(|| format!("cannot connect to {}", endpoint.authority))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection; the
            // next request then reports the failure.
            let _ = connection.await;
        });
        Ok(Connection { sender })
    }

    /// Sends `call` and reads the whole response: (status, body).
    pub async fn send(&mut self, endpoint: &Endpoint, call: &Call) -> anyhow::Result<(u16, Bytes)> {
        self.sender.ready().await.context("connection closed")?;
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(HOST, endpoint.host_header.clone());
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if call.form.is_some() {
            request = request.header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        let request = request
            .body(Full::new(call.form.clone().unwrap_or_default()))
            .context("building the request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the response body")?
            .to_bytes();
        Ok((status, body))
    }
}
