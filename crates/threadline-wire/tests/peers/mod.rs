//! Running the third-party peers that `scripts/ci` installs into `target/peers-venv`.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs the peers' Python (`THREADLINE_PEERS_PYTHON`) with `args`, feeding it `stdin`, and
/// returns its standard output; a failure shows the peer's standard error.
pub fn run_python(args: &[&str], stdin: &[u8]) -> String {
    let python = std::env::var("THREADLINE_PEERS_PYTHON")
        .expect("THREADLINE_PEERS_PYTHON names the peers' python (scripts/ci sets it)");
    let mut child = Command::new(python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the peers' python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("input written");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "the peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
