//! A small W3C WebDriver client (the handful of commands the browser tests use) driving
//! Debian's headless Chromium through `chromedriver`, over loopback HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` and `chromium`, from `SOUK_CHROMEDRIVER`/`SOUK_CHROMIUM` or Debian's paths;
/// `None` when either is missing (the browser tests then say they were skipped).
pub fn tools() -> Option<(PathBuf, PathBuf)> {
    let pick = |var: &str, default: &str| {
        let p = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
        p.exists().then_some(p)
    };
    Some((
        pick("SOUK_CHROMEDRIVER", "/usr/bin/chromedriver")?,
        pick("SOUK_CHROMIUM", "/usr/bin/chromium")?,
    ))
}

pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    pub screenshots: PathBuf,
    shots: usize,
}

#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start(screenshots: PathBuf) -> Option<Browser> {
        let (driver_path, chromium) = tools()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            screenshots,
            shots: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let v = browser
            .raw(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,1400"]
                    }
                }}}),
            )
            .await;
        let session = v["sessionId"].as_str().expect("session id").to_owned();
        browser.base = format!("{}/session/{session}", browser.base);
        std::fs::create_dir_all(&browser.screenshots).expect("screenshot folder");
        Some(browser)
    }

    async fn try_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await.expect("webdriver request");
        let v: Value = response.json().await.expect("webdriver JSON");
        if let Some(e) = v["value"].get("error") {
            return Err(format!(
                "webdriver {method} {path}: {e} {}",
                v["value"]["message"]
            ));
        }
        Ok(v["value"].clone())
    }

    async fn raw(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.try_raw(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A property of the element matching `css`, retried while the page is replaced
    /// under it (a navigation between finding and reading).
    async fn read(&self, css: &str, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css).await;
            match self
                .try_raw(
                    reqwest::Method::GET,
                    &format!("/element/{}/{what}", e.0),
                    Value::Null,
                )
                .await
            {
                Ok(v) => return v.as_str().unwrap_or("").to_owned(),
                Err(err) if replaced_under(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.raw(reqwest::Method::POST, path, body).await
    }

    async fn get(&self, path: &str) -> Value {
        self.raw(reqwest::Method::GET, path, Value::Null).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or("").to_owned()
    }

    /// The first element matching `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = self
                .http
                .post(format!("{}/element", self.base))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("find");
            let v: Value = response.json().await.expect("JSON");
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return Element(id.to_owned());
            }
            assert!(Instant::now() < deadline, "no element {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        let v = self
            .execute(
                "return document.querySelector(arguments[0]) !== null;",
                json!([css]),
            )
            .await;
        v.as_bool().unwrap_or(false)
    }

    /// Runs an element command, finding the element again if the page replaced it.
    async fn act(&self, css: &str, command: &str, body: Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css).await;
            match self
                .try_raw(
                    reqwest::Method::POST,
                    &format!("/element/{}/{command}", e.0),
                    body.clone(),
                )
                .await
            {
                Ok(_) => return,
                Err(err) if replaced_under(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.act(css, "clear", json!({})).await;
        self.act(css, "value", json!({"text": text})).await;
    }

    pub async fn click(&self, css: &str) {
        self.act(css, "click", json!({})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        self.read(css, "text").await
    }

    pub async fn value(&self, css: &str) -> String {
        self.read(css, "property/value").await
    }

    /// Waits up to 10 s for the text of `css` to satisfy `check`; returns it.
    pub async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.text(css).await;
            if check(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: {css} still reads {t:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or("").to_owned()
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    pub async fn cookie(&self, name: &str) -> Option<String> {
        let v = self
            .http
            .get(format!("{}/cookie/{name}", self.base))
            .send()
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()?;
        v["value"]["value"].as_str().map(str::to_owned)
    }

    pub async fn cookie_flags(&self, name: &str) -> Value {
        self.get(&format!("/cookie/{name}")).await
    }

    /// Saves a PNG of the viewport as `NN-name.png` in the screenshot folder.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let data = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or(""))
            .expect("base64 screenshot");
        self.shots += 1;
        let path = self
            .screenshots
            .join(format!("{:02}-{name}.png", self.shots));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    pub fn screenshot_dir(&self) -> &Path {
        &self.screenshots
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// The element found is gone because the page was replaced under it: W3C's "stale
/// element reference", or, when the navigation lands mid-command, chromedriver's
/// "unknown error" that the node "does not belong to the document".
fn replaced_under(err: &str) -> bool {
    err.contains("stale element") || err.contains("does not belong to the document")
}
