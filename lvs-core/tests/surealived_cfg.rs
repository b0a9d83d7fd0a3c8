//! `surealived.cfg`: the original's grammar and defaults, our typed validation and warnings.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lvs_core::config::surealived_cfg::{
    load_main_cfg, parse_main_cfg, LogLevel, LogTarget, MainConfig, Modules, RawMainCfg,
    UnwritableValue, MAIN_CFG_KEYS, MAX_WARNINGS,
};

fn cfg(text: &str) -> MainConfig {
    parse_main_cfg(text, "c.cfg").unwrap_or_else(|e| panic!("should parse: {e}"))
}

fn error(text: &str) -> String {
    parse_main_cfg(text, "c.cfg")
        .expect_err("should fail")
        .to_string()
}

fn warnings(c: &MainConfig) -> Vec<String> {
    c.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn the_defaults_table() {
    let d = MainConfig::default();
    assert_eq!(d.maxfd, 1024);
    assert_eq!(
        d.log,
        LogTarget::File("/var/log/surealived/surealived.log".into())
    );
    assert!(!d.use_log && !d.use_syslog && !d.use_tm_in_syslog);
    assert_eq!(d.logging, LogLevel::Info);
    assert_eq!(d.modules_path, Path::new("/usr/lib/surealived/modules/"));
    assert_eq!(d.modules, Modules::All);
    assert_eq!(d.epoll_size, 256);
    assert_eq!(d.loop_interval, Duration::from_millis(100));
    assert_eq!(d.epoll_interval, Duration::from_millis(10));
    assert_eq!(d.startup_delay, Duration::from_millis(1000));
    assert!(!d.debug_comm);
    assert_eq!(d.debug_comm_path, Path::new("/var/log/surealived/comm"));
    assert_eq!(d.memlimit_kb, 0);
    assert_eq!(d.stats_dir, Path::new("/var/log/surealived/stats"));
    assert!(!d.log_stats && !d.log_stats_combined && !d.no_sync);
    assert_eq!(
        d.lock_sync_file,
        Path::new("/var/lib/surealived/ipvsfull.lock")
    );
    assert_eq!(
        d.full_sync_file,
        Path::new("/var/lib/surealived/ipvsfull.cfg")
    );
    assert_eq!(
        d.full_reload_file,
        Path::new("/var/lib/surealived/ipvsfull.reload")
    );
    assert_eq!(d.diff_sync_dir, Path::new("/var/lib/surealived/diffs"));
    assert!(d.use_offline_dump && d.gather_stats);
    assert_eq!(
        d.offline_dump,
        Path::new("/var/lib/surealived/offline.dump")
    );
    assert_eq!(
        d.override_dump,
        Path::new("/var/lib/surealived/override.dump")
    );
    assert_eq!(d.stats_dump, Path::new("/var/lib/surealived/stats.dump"));
    assert_eq!(d.stats_dump_savesec, Duration::from_secs(60));
    assert_eq!(d.notify_dump, Path::new("/var/lib/surealived/notify.dump"));
    assert_eq!(d.listen_addr, "127.0.0.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(d.listen_port, 1337);
    assert_eq!(
        d.ipvssync_log,
        LogTarget::File("/var/log/surealived/ipvssync.log".into())
    );
    assert_eq!(d.ipvssync_logging, LogLevel::Debug);
    assert!(d.warnings.is_empty());

    // The documented table, written as a file, gives the defaults.
    let text: String = MAIN_CFG_KEYS
        .iter()
        .map(|(k, v)| format!("{k} {v}\n"))
        .collect();
    assert_eq!(cfg(&text), d);
    assert_eq!(cfg(""), d);
}

#[test]
fn the_sample_file_loads_without_warnings() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/surealived/surealived.cfg"
    );
    let c = load_main_cfg(Path::new(path)).expect("sample");
    assert_eq!(warnings(&c), Vec::<String>::new());
    assert_eq!(c.maxfd, 2048);
    assert!(c.use_log && c.debug_comm && c.log_stats_combined);
    assert_eq!(c.epoll_size, 1024);
    assert_eq!(c.memlimit_kb, 128_000);
    assert_eq!(c.modules_path, Path::new("/usr/lib/surealived/modules"));
    // every key is in the sample
    for (k, _) in MAIN_CFG_KEYS {
        let text = std::fs::read_to_string(path).expect("read");
        assert!(
            text.lines().any(|l| l.split_whitespace().next() == Some(k)),
            "{k} missing from the sample"
        );
    }
}

#[test]
fn line_grammar_is_the_originals() {
    let raw = RawMainCfg::parse(
        "#maxfd 1\n   # not a comment\nmaxfd\t4096 and the rest is ignored\n\n\t\nlog stderr",
        "c.cfg",
    );
    let entries: Vec<_> = raw
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_deref(), e.line))
        .collect();
    assert_eq!(
        entries,
        [
            ("#", Some("not"), 2),
            ("maxfd", Some("4096"), 3),
            ("log", Some("stderr"), 6)
        ]
    );
    let c = raw.validate().expect("valid");
    assert_eq!(c.maxfd, 4096);
    assert_eq!(c.log, LogTarget::Stderr);
    assert_eq!(warnings(&c).len(), 1);
    assert!(warnings(&c)[0].starts_with("c.cfg:2: unknown key `#`; allowed: maxfd, log,"));
}

#[test]
fn later_keys_win_with_a_warning() {
    let c = cfg("maxfd 10\nlisten_port 1\nmaxfd 20\n");
    assert_eq!(c.maxfd, 20);
    assert_eq!(
        warnings(&c),
        ["c.cfg:3: duplicate key `maxfd` (first defined at line 1)"]
    );
    // only the value in force is validated, as the original reads only that one
    assert_eq!(cfg("maxfd junk\nmaxfd 5").maxfd, 5);
}

#[test]
fn booleans_are_true_when_they_start_with_t() {
    for (v, want) in [
        ("true", true),
        ("T", true),
        ("tRuE", true),
        ("trash", true),
        ("false", false),
        ("F", false),
    ] {
        let c = cfg(&format!("use_log {v}\n"));
        assert_eq!(c.use_log, want, "{v}");
        assert!(c.warnings.is_empty(), "{v}");
    }
    // `1`, `yes`, `on` are false in the original: loaded as false, with a warning
    for v in ["1", "yes", "on"] {
        let c = cfg(&format!("no_sync {v}\n"));
        assert!(!c.no_sync);
        assert_eq!(
            warnings(&c),
            [format!(
                "c.cfg:1: key `no_sync`: invalid value `{v}`: read as false: a boolean is true \
                 only when it starts with `t` or `T`"
            )]
        );
    }
}

#[test]
fn unknown_keys_and_keys_without_value_are_warnings() {
    let c = cfg("use_logs true\nstats_dump_save 10\nlogging\nlisten_port 99\n");
    assert_eq!(c.listen_port, 99);
    let w = warnings(&c);
    assert_eq!(w.len(), 3);
    assert!(
        w[0].starts_with("c.cfg:1: unknown key `use_logs` (did you mean `use_log`?); allowed: "),
        "{}",
        w[0]
    );
    assert!(
        w[1].starts_with("c.cfg:2: unknown key `stats_dump_save`; allowed: "),
        "{}",
        w[1]
    );
    assert_eq!(
        w[2],
        "c.cfg:3: key `logging`: malformed input: a key without a value; the line is ignored"
    );
}

#[test]
fn all_stands_alone_in_modules() {
    for v in ["all,", "http,all", ",all"] {
        let e = parse_main_cfg(&format!("modules {v}\n"), "m.cfg").expect_err(v);
        assert_eq!(
            e.to_string(),
            format!(
                "m.cfg:1: key `modules`: invalid value `{v}`: `all` stands alone; give `all` or a list of module names"
            )
        );
    }
}

#[test]
fn adjustments_of_the_original() {
    // loop_interval_ms larger than startup_delay_ms → startup_delay_ms / 2
    let c = cfg("startup_delay_ms 300\nloop_interval_ms 500\n");
    assert_eq!(c.loop_interval, Duration::from_millis(150));
    let c = cfg("startup_delay_ms 1\nloop_interval_ms 5\n");
    assert_eq!(c.loop_interval, Duration::from_millis(1));
    // integer division, as the original (found by fuzzing: 5 / 2 gave 2.5 ms)
    let c = cfg("startup_delay_ms 5\nloop_interval_ms 10\n");
    assert_eq!(c.loop_interval, Duration::from_millis(2));
    let c = cfg("startup_delay_ms 300\nloop_interval_ms 300\n");
    assert_eq!(c.loop_interval, Duration::from_millis(300));
    // epoll_size raised to 256
    assert_eq!(cfg("epoll_size 10").epoll_size, 256);
    assert_eq!(cfg("epoll_size 4096").epoll_size, 4096);
    // debug_comm must be exactly 1
    assert!(cfg("debug_comm 1").debug_comm);
    assert!(!cfg("debug_comm 2").debug_comm);
    assert!(!cfg("debug_comm 0").debug_comm);
}

#[test]
fn typed_values() {
    let c = cfg(
        "logging DBDET\nipvssync_logging warn\nmodules http,dns,,exec\nipvssync_log stderr\n\
         listen_addr ::1\nlisten_port 0\nmemlimit 64000\nstats_dump_savesec 5\n\
         epoll_interval_ms 0\nstats_dir /srv/stats\n",
    );
    assert_eq!(c.logging, LogLevel::Dbdet);
    assert_eq!(c.ipvssync_logging, LogLevel::Warn);
    assert_eq!(
        c.modules,
        Modules::List(vec!["http".into(), "dns".into(), "exec".into()])
    );
    assert_eq!(c.ipvssync_log, LogTarget::Stderr);
    assert_eq!(c.listen_addr, "::1".parse::<IpAddr>().expect("ip"));
    assert_eq!(c.listen_port, 0);
    assert_eq!(c.memlimit_kb, 64000);
    assert_eq!(c.stats_dump_savesec, Duration::from_secs(5));
    assert_eq!(c.epoll_interval, Duration::ZERO);
    assert_eq!(c.stats_dir, PathBuf::from("/srv/stats"));
}

#[test]
fn invalid_values_are_errors_naming_line_and_key() {
    let cases = [
        (
            "# c\n\nmaxfd 12x\n",
            "c.cfg:3: key `maxfd`: invalid value `12x`: expected an unsigned integer",
        ),
        (
            "memlimit -1",
            "c.cfg:1: key `memlimit`: invalid value `-1`: expected an unsigned integer",
        ),
        (
            "epoll_size 99999999999",
            "c.cfg:1: key `epoll_size`: invalid value `99999999999`: out of range (0..4294967295)",
        ),
        (
            "logging verbose",
            "c.cfg:1: key `logging`: invalid value `verbose`: expected one of error, warn, info, debug, dbdet",
        ),
        (
            "ipvssync_logging 3",
            "c.cfg:1: key `ipvssync_logging`: invalid value `3`: expected one of error, warn, info, debug, dbdet",
        ),
        (
            "listen_port 70000",
            "c.cfg:1: key `listen_port`: port `70000` out of range (0..65535)",
        ),
        (
            "listen_port -1",
            "c.cfg:1: key `listen_port`: port `-1` out of range (0..65535)",
        ),
        (
            "listen_port http",
            "c.cfg:1: key `listen_port`: invalid value `http`: expected a port number (0..65535)",
        ),
        (
            "listen_addr localhost",
            "c.cfg:1: key `listen_addr`: invalid address `localhost`: not an IPv4 or IPv6 address",
        ),
        (
            "loop_interval_ms 0",
            "c.cfg:1: key `loop_interval_ms`: invalid value `0`: must be at least 1 (ms)",
        ),
        (
            "startup_delay_ms 0",
            "c.cfg:1: key `startup_delay_ms`: invalid value `0`: must be at least 1 (ms)",
        ),
        (
            "modules ,,",
            "c.cfg:1: key `modules`: invalid value `,,`: expected `all` or a comma-separated list of module names",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text}");
    }
}

#[test]
fn round_trip_through_text() {
    let c = cfg(
        "maxfd 7\nlog stderr\nuse_log t\nlogging error\nmodules tcp\nepoll_size 300\n\
         startup_delay_ms 100\nloop_interval_ms 900\ndebug_comm 1\nlisten_addr 10.0.0.1\n",
    );
    let again = cfg(&c.to_cfg_text().expect("writable"));
    assert_eq!(again, c);
    // every value the parser can give is written so that it reads back the same
    let c = cfg("log ./stderr
ipvssync_log stderr
modules a,,b,
stats_dir /a\u{a0}b\x00
         modules_path #not-a-comment
listen_addr ::ffff:10.0.0.1
");
    let text = c.to_cfg_text().expect("writable");
    assert_eq!(cfg(&text), c);
    assert!(cfg(&text).warnings.is_empty());
}

/// What the grammar cannot hold is an error, not a file that reads back differently.
#[test]
fn unwritable_values_are_refused() {
    type Change<'a> = &'a dyn Fn(&mut MainConfig);
    let with = |f: Change| {
        let mut c = MainConfig::default();
        f(&mut c);
        c.to_cfg_text().map(|_| ()).map_err(|e| e.to_string())
    };
    let cases: [(Change, &str); 11] = [
        (
            &|c| c.stats_dir = "/var/my stats".into(),
            "key `stats_dir`: cannot write `/var/my stats` to surealived.cfg: a value cannot \
             contain whitespace (the line is split on it, the rest ignored)",
        ),
        (
            &|c| c.log = LogTarget::File("stderr".into()),
            "key `log`: cannot write `stderr` to surealived.cfg: a file named `stderr` reads back \
             as standard error; name it `./stderr`",
        ),
        (
            &|c| c.modules = Modules::List(vec![]),
            "key `modules`: cannot write `[]` to surealived.cfg: an empty list; use Modules::All \
             or name the modules",
        ),
        (
            &|c| c.modules = Modules::List(vec!["all".into()]),
            "key `modules`: cannot write `[\"all\"]` to surealived.cfg: `all` in a list reads \
             back as an error; use Modules::All",
        ),
        (
            &|c| c.modules = Modules::List(vec!["a,b".into()]),
            "key `modules`: cannot write `[\"a,b\"]` to surealived.cfg: a module name must be \
             non-empty and without `,`",
        ),
        (
            &|c| c.modules = Modules::List(vec!["a b".into()]),
            "key `modules`: cannot write `a b` to surealived.cfg: a value cannot contain \
             whitespace (the line is split on it, the rest ignored)",
        ),
        (
            &|c| c.notify_dump = "".into(),
            "key `notify_dump`: cannot write `` to surealived.cfg: an empty value reads back as \
             a key without value",
        ),
        (
            &|c| c.offline_dump = format!("/{}", "x".repeat(1024)).into(),
            "key `offline_dump`: cannot write `/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...` \
             to surealived.cfg: longer than 1024 bytes (only the first 1024 are read)",
        ),
        (
            &|c| c.epoll_size = 10,
            "key `epoll_size`: cannot write `10` to surealived.cfg: below 256; it reads back as 256",
        ),
        (
            &|c| c.loop_interval = Duration::from_micros(1500),
            "key `loop_interval_ms`: cannot write `1.5ms` to surealived.cfg: not a whole number \
             of milliseconds",
        ),
        (
            &|c| c.loop_interval = Duration::from_secs(2),
            "key `loop_interval_ms`: cannot write `2s` to surealived.cfg: larger than \
             startup_delay; it reads back as startup_delay / 2",
        ),
    ];
    for (f, want) in cases {
        assert_eq!(with(f), Err(want.to_string()));
    }
    let e: UnwritableValue = MainConfig {
        stats_dump_savesec: Duration::from_millis(1500),
        ..MainConfig::default()
    }
    .to_cfg_text()
    .expect_err("sub-second");
    assert_eq!(e.key, "stats_dump_savesec");
    // warnings are not part of the text, and do not stop it
    let c = cfg("nonsense 1\n");
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(cfg(&c.to_cfg_text().expect("writable")).warnings, []);
}

#[test]
fn a_leading_bom_is_not_part_of_the_first_key() {
    let c = cfg("\u{feff}maxfd 77\nlisten_port 9\n");
    assert_eq!(c.maxfd, 77);
    assert_eq!(c.listen_port, 9);
    assert!(c.warnings.is_empty(), "{:?}", warnings(&c));
    // elsewhere it is an ordinary character of a key, and messages show it escaped
    let c = cfg("maxfd 1\n\u{feff}maxfd 2\n");
    assert_eq!(c.maxfd, 1);
    assert_eq!(
        warnings(&c)[0].split(';').next(),
        Some("c.cfg:2: unknown key `\\u{feff}maxfd` (did you mean `maxfd`?)")
    );
    let c = cfg("\x1b[31mred 1\n");
    assert!(
        warnings(&c)[0].starts_with("c.cfg:1: unknown key `\\u{1b}[31mred`;"),
        "{:?}",
        warnings(&c)
    );
    assert_eq!(
        error("listen_port 1\x07\n"),
        "c.cfg:1: key `listen_port`: invalid value `1\\u{7}`: expected a port number (0..65535)"
    );
}

#[test]
fn warnings_are_capped() {
    // A million unknown keys: a hundred warnings and one that counts the rest.
    let text = "x\n".repeat(1_000_000);
    let c = cfg(&text);
    assert_eq!(c.warnings.len(), MAX_WARNINGS + 1);
    let w = warnings(&c);
    assert!(w[0].starts_with("c.cfg:1: unknown key `x`;"), "{}", w[0]);
    assert_eq!(
        w[MAX_WARNINGS],
        format!(
            "c.cfg:{}: {} more warnings not shown (only the first {MAX_WARNINGS} are kept)",
            MAX_WARNINGS + 1,
            1_000_000 - MAX_WARNINGS
        )
    );
    // the same for every kind of warning, and exactly at the limit nothing is left out
    let text = "maxfd 1\n".repeat(MAX_WARNINGS + 1);
    assert_eq!(cfg(&text).warnings.len(), MAX_WARNINGS);
    let text = "maxfd 1\n".repeat(MAX_WARNINGS + 2) + "use_log 1\n";
    let w = warnings(&cfg(&text));
    assert_eq!(w.len(), MAX_WARNINGS + 1);
    assert_eq!(
        w[MAX_WARNINGS],
        format!(
            "c.cfg:{}: 2 more warnings not shown (only the first {MAX_WARNINGS} are kept)",
            MAX_WARNINGS + 2
        )
    );
}

#[test]
fn long_tokens_are_cut_as_sscanf_cuts_them() {
    // a 40-byte key: the first 32 bytes are the key, the other 8 the value
    let c = cfg(&format!("{}\n", "x".repeat(40)));
    assert_eq!(
        warnings(&c)[0].split(';').next(),
        Some(format!("c.cfg:1: unknown key `{}`", "x".repeat(32)).as_str())
    );
    let long = format!("/{}", "p".repeat(2000));
    let c = cfg(&format!("stats_dir {long}\n"));
    assert_eq!(c.stats_dir.as_os_str().len(), 1024);
}

#[test]
fn load_missing_file_gives_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("surealived.cfg");
    assert_eq!(
        load_main_cfg(&missing).expect("defaults"),
        MainConfig::default()
    );
    std::fs::write(&missing, "maxfd 9\n").expect("write");
    assert_eq!(load_main_cfg(&missing).expect("file").maxfd, 9);
    // a directory is not a missing file
    let e = load_main_cfg(dir.path()).expect_err("directory");
    assert!(
        e.to_string().contains(&dir.path().display().to_string()),
        "{e}"
    );
    // errors are labelled with the path as given
    std::fs::write(&missing, "maxfd x\n").expect("write");
    let e = load_main_cfg(&missing).expect_err("invalid");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1: key `maxfd`: invalid value `x`: expected an unsigned integer",
            missing.display()
        )
    );
}

#[test]
fn nasty_inputs_do_not_panic() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    for text in [
        String::from_utf8_lossy(&binary).into_owned(),
        "\u{0}\u{0}".into(),
        "é".repeat(40) + " " + &"é".repeat(600),
        "\r\r\r".into(),
        "maxfd".into(),
        "x".repeat(1_000_000),
    ] {
        let _ = parse_main_cfg(&text, "n.cfg");
    }
}
