//! A program that ends right after its span still exports it: the `threadline::init()` guard
//! flushes on drop, whatever the batch processor's schedule.
//!
//! Runs the `exit_after_span` example as a child process with the file exporter and reads the
//! file it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds the example once (in this test binary's profile) and returns its path.
fn example() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--example",
            "exit_after_span",
            "-p",
            "threadline",
            "--message-format=json-render-diagnostics",
        ]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        let output = cmd.output().expect("run cargo build");
        assert!(
            output.status.success(),
            "building the example failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        executable_from_messages(&stdout).unwrap_or_else(|| {
            // Fall back on the layout: target/<profile>/deps/<this test> → target/<profile>.
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap();
            profile_dir
                .join("examples")
                .join(format!("exit_after_span{}", std::env::consts::EXE_SUFFIX))
        })
    })
}

/// The `executable` of the `exit_after_span` artifact in cargo's JSON messages.
fn executable_from_messages(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#))
        .filter(|l| l.contains(r#""name":"exit_after_span""#))
        .find_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let end = start + l[start..].find('"')?;
            Some(PathBuf::from(l[start..end].replace("\\\\", "\\")))
        })
}

/// Runs the example with `mode` and extra variables; returns its output, the spans file's
/// content and how long it took.
fn run(name: &str, mode: &str, vars: &[(&str, &str)]) -> (Output, String, Duration) {
    let path = std::env::temp_dir().join(format!(
        "threadline-exit-{}-{name}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let mut cmd = Command::new(example());
    cmd.arg(mode);
    // Only the variables this test sets.
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") || key.starts_with("THREADLINE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("OTEL_TRACES_EXPORTER", "file")
        .env("THREADLINE_FILE_PATH", &path)
        .env("OTEL_SERVICE_NAME", "exit-test");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let output = cmd.output().expect("run the example");
    let elapsed = started.elapsed();
    let content = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    (output, content, elapsed)
}

/// Asserts that the file holds exactly the example's one span, as one JSON line.
fn assert_one_span(output: &Output, content: &str, mode: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}: {stderr}",
        output.status
    );
    assert!(
        !stderr.contains("threadline: warning"),
        "unexpected warning: {stderr}"
    );
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 1, "expected one JSON line, found:\n{content}");
    assert!(content.ends_with('\n'), "the line is complete: {content:?}");
    let line = lines[0];
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    for needle in [
        r#""name":"exit-span""#.to_string(),
        r#""parent_span_id":null"#.to_string(),
        format!(r#""attributes":{{"answer":42,"mode":"{mode}"}}"#),
        r#""resource":{"service.name":"exit-test"}"#.to_string(),
        r#""status":null"#.to_string(),
    ] {
        assert!(line.contains(&needle), "{needle} not in {line}");
    }
    // The span has real ids and timestamps.
    assert!(!line.contains(r#""trace_id":"00000000000000000000000000000000""#));
    assert!(!line.contains(r#""start_time_unix_nano":0,"#), "{line}");
}

#[test]
fn default_batch_settings_export_the_last_span_at_exit() {
    let (output, content, _) = run("default", "guard", &[]);
    assert_one_span(&output, &content, "guard");
}

#[test]
fn long_schedule_delay_does_not_delay_or_lose_the_span() {
    // With a 60 s schedule the batch processor would not export on its own before the
    // program ends: only the guard's shutdown can write the span, and it must not wait for
    // the schedule either.
    let vars = [
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
    ];
    for mode in ["guard", "owned", "traced"] {
        let (output, content, elapsed) = run(&format!("long-{mode}"), mode, &vars);
        assert_one_span(&output, &content, mode);
        assert!(
            elapsed < Duration::from_secs(30),
            "{mode}: the program took {elapsed:?}: the guard waited for the schedule"
        );
    }
}

#[test]
fn no_export_when_the_exporter_is_none() {
    // The control: with no exporter nothing is written, so the file content above really
    // comes from the example's span.
    let (output, content, _) = run("none", "guard", &[("OTEL_TRACES_EXPORTER", "none")]);
    assert!(output.status.success());
    assert!(content.is_empty(), "{content}");
}
