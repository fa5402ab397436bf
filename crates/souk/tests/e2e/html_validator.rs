//! The W3C's Nu HTML Checker (`vnu.jar`, the validator behind validator.w3.org) over
//! pages the tests rendered. It runs where Java and the jar are found: `SOUK_VNU_JAR`, or
//! `vnu.jar` under `target/tools/` (`.ci/run` fetches it from npm's `vnu-jar`). Elsewhere
//! the check prints that it was skipped, unless `SOUK_REQUIRE_VALIDATOR` is set (as in CI),
//! where a missing checker fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn jar() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SOUK_VNU_JAR") {
        return Some(PathBuf::from(path));
    }
    // CARGO_TARGET_TMPDIR is `<target>/tmp`: the jar sits beside it in `<target>/tools`.
    let tools = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()?
        .join("tools");
    let jar = tools.join("vnu.jar");
    jar.is_file().then_some(jar)
}

/// Validates each `(name, html)` page; fails the test with every error the checker
/// reports, page by page.
pub fn validate(pages: &[(String, String)]) {
    let required = std::env::var_os("SOUK_REQUIRE_VALIDATOR").is_some();
    let Some(jar) = jar() else {
        assert!(
            !required,
            "SOUK_REQUIRE_VALIDATOR is set but no vnu.jar was found"
        );
        eprintln!("skipped: HTML validation (no vnu.jar: set SOUK_VNU_JAR)");
        return;
    };
    // A folder per call: tests validate at the same time in one process, and a shared
    // folder let one test's pages overwrite (or its cleanup delete) another's mid-check.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("html-validation-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("validation folder");
    let mut files = Vec::new();
    for (i, (_, html)) in pages.iter().enumerate() {
        let file = dir.join(format!("page-{i}.html"));
        std::fs::write(&file, html).expect("write a page");
        files.push(file);
    }
    let out = Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "gnu", "--stdout"])
        .args(&files)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            assert!(!required, "java could not start: {e}");
            eprintln!("skipped: HTML validation (java could not start: {e})");
            return;
        }
    };
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::remove_dir_all(&dir).ok();
    // Name each page by its path, not its file.
    let mut named = report.clone();
    for (i, (name, _)) in pages.iter().enumerate().rev() {
        named = named.replace(&format!("file:{}", files[i].display()), name);
    }
    assert!(
        out.status.success() && report.trim().is_empty(),
        "the HTML checker found errors:\n{named}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{} pages validated by vnu.jar", pages.len());
}
