//! Progress of long commands on standard error (standard output carries what scripts
//! read). Nothing is shown for work done within a second; after that a spinner with
//! the step and the time taken on a terminal (indicatif), and otherwise a plain line
//! every few seconds (`souk: importing services... 12 s`), so logs of cron jobs and CI
//! show that the work goes on.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Work shows nothing before this (`SOUK_PROGRESS_AFTER`, e.g. `0s` to see every step).
const QUIET_FOR: Duration = Duration::from_secs(1);

fn quiet_for() -> Duration {
    std::env::var("SOUK_PROGRESS_AFTER")
        .ok()
        .and_then(|v| crate::config::parse_duration(&v).ok())
        .unwrap_or(QUIET_FOR)
}
/// Plain lines come this often.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// A long piece of work; `step` names what it does now. Ends when dropped.
pub struct Progress {
    step: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn start(step: &str) -> Progress {
        let step = Arc::new(Mutex::new(step.to_owned()));
        let terminal = std::io::stderr().is_terminal()
            && std::env::var_os("SOUK_PROGRESS").is_none_or(|v| v != "plain");
        let bar = terminal.then(|| {
            let bar = indicatif::ProgressBar::hidden();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            {
                bar.set_style(style);
            }
            bar
        });
        let started = Instant::now();
        let quiet = quiet_for();
        if quiet.is_zero() && bar.is_none() {
            eprintln!(
                "souk: {step_now}... 0 s",
                step_now = step.lock().map(|s| s.clone()).unwrap_or_default()
            );
        }
        let task = tokio::spawn({
            let (step, bar) = (step.clone(), bar.clone());
            async move {
                tokio::time::sleep(quiet).await;
                match bar {
                    Some(bar) => {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                        loop {
                            let now = step.lock().map(|s| s.clone()).unwrap_or_default();
                            bar.set_message(now);
                            bar.tick();
                            tokio::time::sleep(Duration::from_millis(120)).await;
                        }
                    }
                    None => {
                        if quiet.is_zero() {
                            // The first line was said at the start.
                            tokio::time::sleep(LINE_EVERY).await;
                        }
                        loop {
                            let now = step.lock().map(|s| s.clone()).unwrap_or_default();
                            eprintln!("souk: {now}... {} s", started.elapsed().as_secs());
                            tokio::time::sleep(LINE_EVERY).await;
                        }
                    }
                }
            }
        });
        Progress { step, task, bar }
    }

    /// Names the next step.
    pub fn step(&self, step: &str) {
        if let Ok(mut s) = self.step.lock() {
            *s = step.to_owned();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
