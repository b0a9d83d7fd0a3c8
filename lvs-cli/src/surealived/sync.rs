//! The files surealived hands to ipvssync: `ipvsfull.cfg`, the reload flag and the chain of
//! diff files, all written under `flock(LOCK_EX)` on `lock_sync_file` (§3.9 of the reference).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use lvs_core::config::surealived_cfg::MainConfig;
use lvs_core::director::Director;
use lvs_core::formats::diffs::{diff_file_name, DiffRecord};
use lvs_core::formats::ipvsfull::Meta;
use nix::fcntl::{Flock, FlockArg};

/// The writer of the sync files.
#[derive(Debug)]
pub(crate) struct SyncFiles {
    lock: PathBuf,
    full: PathBuf,
    reload: PathBuf,
    diff_dir: PathBuf,
    /// The current diff file and its seconds.
    current: Option<(PathBuf, File)>,
    last_secs: u64,
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot {what}: {e}", path.display())
}

fn ensure_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => {
            std::fs::create_dir_all(d).map_err(|e| io_err("create the directory", d, e))
        }
        _ => Ok(()),
    }
}

impl SyncFiles {
    /// The paths of `cfg`; creates the directories they need.
    pub(crate) fn new(cfg: &MainConfig) -> Result<Self, String> {
        for p in [
            &cfg.lock_sync_file,
            &cfg.full_sync_file,
            &cfg.full_reload_file,
        ] {
            ensure_parent(p)?;
        }
        std::fs::create_dir_all(&cfg.diff_sync_dir)
            .map_err(|e| io_err("create the directory", &cfg.diff_sync_dir, e))?;
        Ok(Self {
            lock: cfg.lock_sync_file.clone(),
            full: cfg.full_sync_file.clone(),
            reload: cfg.full_reload_file.clone(),
            diff_dir: cfg.diff_sync_dir.clone(),
            current: None,
            last_secs: 0,
        })
    }

    /// Takes `flock(LOCK_EX)` on the lock file (created if missing); released on drop.
    fn lock(&self) -> Result<Flock<File>, String> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| io_err("open the lock file", &self.lock, e))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| io_err("lock", &self.lock, e))
    }

    /// The current diff file.
    pub(crate) fn current_diff(&self) -> Option<&Path> {
        self.current.as_ref().map(|(p, _)| p.as_path())
    }

    /// Writes `ipvsfull.cfg` afresh (atomically) with a new diff file, chains the previous
    /// diff file to the new one (`DIFF file=<new>`), and with `touch_reload` creates the
    /// reload flag. `now_unix` names the diff file; a name already used gets the next second,
    /// so every full write has its own file and names keep their order.
    pub(crate) fn full_write(
        &mut self,
        director: &Director,
        now_unix: u64,
        touch_reload: bool,
    ) -> Result<PathBuf, String> {
        let _lock = self.lock()?;
        let mut secs = now_unix.max(self.last_secs + 1);
        let mut path = diff_file_name(&self.diff_dir, secs);
        while path.exists() {
            secs += 1;
            path = diff_file_name(&self.diff_dir, secs);
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err("create the diff file", &path, e))?;
        let meta = Meta::from_unix(i64::try_from(now_unix).unwrap_or(i64::MAX), 0);
        let full = director.full_config(meta, path.display().to_string());
        full.save(&self.full)
            .map_err(|e| format!("{}: cannot write: {e}", self.full.display()))?;
        if let Some((old, mut f)) = self.current.take() {
            if let Err(e) = writeln!(f, "DIFF file={}", path.display()) {
                tracing::error!("{}", io_err("append the DIFF line", &old, e));
            }
        }
        if touch_reload {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.reload)
                .map_err(|e| io_err("create the reload flag", &self.reload, e))?;
        }
        self.current = Some((path.clone(), file));
        self.last_secs = secs;
        Ok(path)
    }

    /// Appends diff records to the current diff file under the lock; each record is one
    /// `write` (the file is not buffered).
    pub(crate) fn append(&mut self, records: &[DiffRecord]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let _lock = self.lock()?;
        let Some((path, f)) = self.current.as_mut() else {
            return Err("no diff file open yet".into());
        };
        for r in records {
            f.write_all(r.write().as_bytes())
                .map_err(|e| io_err("append to", path, e))?;
        }
        f.flush().map_err(|e| io_err("flush", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::xml::{parse_service_xml, TesterRegistry};

    #[test]
    fn full_writes_chain_their_diff_files_and_never_reuse_a_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let cfg = MainConfig {
            lock_sync_file: d.join("lock"),
            full_sync_file: d.join("ipvsfull.cfg"),
            full_reload_file: d.join("reload"),
            diff_sync_dir: d.join("diffs"),
            ..MainConfig::default()
        };
        let services = parse_service_xml(
            r#"<surealived><virtual name="v" addr="10.0.0.1" port="80" proto="tcp" sched="rr" rt="dr">
<tester proto="no-test"/><real name="a" addr="10.1.0.1" port="80" weight="1"/></virtual></surealived>"#,
            "t.xml",
            &TesterRegistry::builtin(),
        )
        .expect("xml");
        let director = Director::new(&services);
        let mut s = SyncFiles::new(&cfg).expect("new");
        let first = s.full_write(&director, 100, true).expect("first");
        assert!(d.join("reload").exists());
        assert!(d.join("lock").exists());
        std::fs::remove_file(d.join("reload")).expect("rm");
        // The same second again: the next second's name.
        let second = s.full_write(&director, 100, false).expect("second");
        assert_eq!(second, d.join("diffs/diff_sync.101"));
        assert!(!d.join("reload").exists(), "a periodic write sets no flag");
        assert_eq!(
            std::fs::read_to_string(&first).expect("first diff"),
            format!("DIFF file={}\n", second.display())
        );
        let full = std::fs::read_to_string(d.join("ipvsfull.cfg")).expect("full");
        assert!(full.contains(&format!("DIFF file={}\n", second.display())));
        // Records go to the current file.
        let rec = director.full_config(Meta::from_unix(0, 0), String::new());
        assert_eq!(rec.virtuals.len(), 1);
        let mut d2 = Director::new(&services);
        let (_, change) = d2
            .rset(
                &services.virtuals[0].key,
                &services.virtuals[0].reals[0].key(),
                Some(lvs_core::state::AdminState::Down),
                None,
            )
            .expect("rset");
        s.append(&change.diff).expect("append");
        let text = std::fs::read_to_string(&second).expect("second diff");
        assert!(text.starts_with("cmd=delreal vname=v "), "{text}");
    }
}
