//! Helpers shared by the kernel test files (run in the guest by scripts/kernel-tests.sh).

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `$LVS_IPVSADM` with `args`.
pub(crate) fn ipvsadm(args: &[&str]) -> String {
    ipvsadm_with_input(args, "")
}

/// Runs `$LVS_IPVSADM` with `args` and `input` on its standard input.
pub(crate) fn ipvsadm_with_input(args: &[&str], input: &str) -> String {
    let path = std::env::var("LVS_IPVSADM")
        .expect("LVS_IPVSADM is not set: run by scripts/kernel-tests.sh");
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {path}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write to ipvsadm");
    let out = child.wait_with_output().expect("wait for ipvsadm");
    assert!(
        out.status.success(),
        "{path} {args:?} failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ipvsadm printed non-UTF-8")
}
