//! The binaries' `-t` mode, run as an operator runs them: every example passes, every broken file
//! of the tables fails with exactly its message, and the modes of later releases say so plainly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run(bin: &str, args: &[&str]) -> Output {
    let exe = match bin {
        "surealived" => env!("CARGO_BIN_EXE_surealived"),
        "ipvssync" => env!("CARGO_BIN_EXE_ipvssync"),
        "feedbackd-master" => env!("CARGO_BIN_EXE_feedbackd-master"),
        "feedbackd-agent" => env!("CARGO_BIN_EXE_feedbackd-agent"),
        other => panic!("unknown binary {other}"),
    };
    Command::new(exe)
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Rows of an EXPECTED.tsv: (file, columns after the file).
fn table(rel: &str) -> Vec<(String, Vec<String>)> {
    let t = std::fs::read_to_string(root().join(rel)).expect("read table");
    t.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut cols = l.split('\t').map(str::to_string);
            let file = cols.next().expect("file column");
            (file, cols.collect())
        })
        .collect()
}

fn files(rel_dir: &str, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join(rel_dir))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .map(|n| format!("{rel_dir}/{n}"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_surealived_example_passes_check() {
    let examples = files("examples/surealived", ".xml");
    assert!(examples.len() >= 10, "examples: {examples:?}");
    for xml in &examples {
        let out = run(
            "surealived",
            &["-t", "-c", "examples/surealived/surealived.cfg", xml],
        );
        assert!(
            out.status.success(),
            "{xml}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).starts_with(&format!("{xml}: OK: ")),
            "{xml}: {}",
            text(&out.stdout)
        );
        assert_eq!(text(&out.stderr), "", "{xml}: no warning expected");
    }
}

#[test]
fn every_broken_xml_fails_with_its_message() {
    let rows = table("examples/broken/EXPECTED.tsv");
    assert!(rows.len() >= 15, "rows: {}", rows.len());
    let mut listed: Vec<String> = rows
        .iter()
        .map(|(f, _)| format!("examples/broken/{f}"))
        .collect();
    listed.sort();
    assert_eq!(
        files("examples/broken", ".xml"),
        listed,
        "every broken file has exactly one row"
    );
    for (file, cols) in rows {
        let path = format!("examples/broken/{file}");
        let out = run(
            "surealived",
            &["-t", "-c", "examples/surealived/surealived.cfg", &path],
        );
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(
            text(&out.stderr),
            format!("surealived: {}\n", cols[0]),
            "{path}"
        );
        assert_eq!(text(&out.stdout), "", "{path}");
    }
}

#[test]
fn every_feedbackd_example_passes_check() {
    let examples = files("examples/feedbackd", ".conf");
    let (mut masters, mut agents) = (0, 0);
    for conf in &examples {
        let bin = if conf.contains("master") {
            masters += 1;
            "feedbackd-master"
        } else {
            agents += 1;
            "feedbackd-agent"
        };
        let out = run(bin, &["-t", "-c", conf]);
        assert!(
            out.status.success(),
            "{conf}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).starts_with(&format!("{conf}: OK: ")));
    }
    assert!(masters >= 1 && agents >= 2, "{examples:?}");
}

#[test]
fn every_broken_feedbackd_file_fails_with_its_message() {
    let rows = table("examples/broken-feedbackd/EXPECTED.tsv");
    assert!(rows.len() >= 10, "rows: {}", rows.len());
    for (file, cols) in rows {
        let path = format!("examples/broken-feedbackd/{file}");
        let bin = match cols[0].as_str() {
            "master" => "feedbackd-master",
            "agent" => "feedbackd-agent",
            other => panic!("{file}: kind {other}"),
        };
        let out = run(bin, &["-t", "-c", &path]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(text(&out.stderr), format!("{bin}: {}\n", cols[1]), "{path}");
    }
}

#[test]
fn master_without_allow_list_warns_which_line_to_add() {
    let out = run(
        "feedbackd-master",
        &["-t", "-c", "examples/feedbackd/howto-master.conf"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("warning:"), "{err}");
    assert!(err.contains("allow = 0.0.0.0/0"), "{err}");
}

fn cfg_pointing_to(dir: &Path, full: &Path) -> PathBuf {
    let cfg = dir.join("surealived.cfg");
    std::fs::write(&cfg, format!("full_sync_file {}\n", full.display())).expect("write cfg");
    cfg
}

#[test]
fn ipvssync_checks_the_full_config_the_cfg_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = root().join("lvs-core/tests/fixtures/ipvsfull.cfg");
    let cfg = cfg_pointing_to(dir.path(), &fixture);
    let out = run("ipvssync", &["-t", "-c", cfg.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": OK: "),
        "{}",
        text(&out.stdout)
    );

    let broken = dir.path().join("ipvsfull.cfg");
    std::fs::write(
        &broken,
        "meta version=1.0 mdate=2024-05-01 mtime=12:00:00\n\nDIFF file=/tmp/d/diff_sync.1\n\n\
         real rname=a raddr=192.0.2.1 rport=80 rweight=1\n",
    )
    .expect("write");
    let cfg = cfg_pointing_to(dir.path(), &broken);
    let out = run("ipvssync", &["-t", "-c", cfg.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("ipvssync: {}:5: ", broken.display())),
        "{err}"
    );
}

#[test]
fn ipvssync_names_a_missing_full_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.cfg");
    let cfg = cfg_pointing_to(dir.path(), &missing);
    let out = run("ipvssync", &["-t", "-c", cfg.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nope.cfg"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn surealived_reports_a_bad_main_cfg_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("surealived.cfg");
    std::fs::write(&cfg, "# sample\nlisten_port 99999\n").expect("write");
    let out = run(
        "surealived",
        &[
            "-t",
            "-c",
            cfg.to_str().expect("utf-8"),
            "examples/surealived/demo.xml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("surealived: {}:2: ", cfg.display())),
        "{err}"
    );
    assert!(err.contains("listen_port"), "{err}");
}

#[test]
fn surealived_warns_about_a_misspelled_cfg_key_but_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("surealived.cfg");
    std::fs::write(&cfg, "stats_dump_savesecs 30\n").expect("write");
    let out = run(
        "surealived",
        &[
            "-t",
            "-c",
            cfg.to_str().expect("utf-8"),
            "examples/surealived/demo.xml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("warning:"), "{err}");
    assert!(err.contains("stats_dump_savesec"), "{err}");
}

#[test]
fn missing_files_are_named() {
    let out = run("surealived", &["-t", "no/such/services.xml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no/such/services.xml"));
    let out = run("feedbackd-agent", &["-t", "-c", "no/such/agent.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no/such/agent.conf"));
}

#[test]
fn help_and_version() {
    for bin in [
        "surealived",
        "ipvssync",
        "feedbackd-master",
        "feedbackd-agent",
    ] {
        let out = run(bin, &["-V"]);
        assert!(out.status.success(), "{bin}");
        assert_eq!(
            text(&out.stdout),
            format!("{bin} {}\n", env!("CARGO_PKG_VERSION"))
        );
        let out = run(bin, &["--help"]);
        assert!(out.status.success(), "{bin}");
        assert!(text(&out.stdout).contains("-t"), "{bin}");
    }
    // feedbackd's -u is the usage alias of -h, as in the HOWTO.
    let out = run("feedbackd-agent", &["-u"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Usage: feedbackd-agent"));
}
