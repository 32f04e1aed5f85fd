//! The state file: the frequency estimate and its uncertainty, so a restart
//! does not re-learn the frequency (chrony's drift file; phc2sys relies on the
//! kernel's frequency instead).
//!
//! Format, one `key value` per line, then a checksum line so a truncated or
//! corrupt file is recognised:
//!
//! ```text
//! keel-state 2
//! freq_ppb -49987.123
//! freq_sd_ppb 0.8
//! saved_unix 1700000000
//! sink CLOCK_REALTIME
//! check 1a2b3c4d5e6f7a8b
//! ```
//!
//! The frequency belongs to the clock it steered (`sink`): a file saved for
//! another sink is not used. Version 1 files (without `sink`) were written
//! when keel steered only `CLOCK_REALTIME`, and are read as such.
//!
//! Writes are atomic: a temporary file in the same directory, `fsync`,
//! `rename`, then `fsync` of the directory.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What survives a restart.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The frequency correction in force, ppb (positive = faster).
    pub freq_ppb: f64,
    /// Its uncertainty (standard deviation), ppb.
    pub freq_sd_ppb: f64,
    /// When it was saved, Unix seconds.
    pub saved_unix: u64,
    /// The clock it steered (`CLOCK_REALTIME`, or the sink PHC as
    /// `/dev/ptpN (clock name)`).
    pub sink: String,
}

/// Why a state file was not used.
#[derive(Debug)]
pub enum StateError {
    /// There is none (first start).
    Missing(PathBuf),
    /// It could not be read.
    Io(PathBuf, std::io::Error),
    /// Its content is wrong (truncated, corrupt, other version).
    Corrupt(PathBuf, &'static str),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(
                f,
                "{}: no state file yet; starting without a frequency estimate",
                p.display()
            ),
            Self::Io(p, e) => write!(
                f,
                "{}: cannot read the state file ({e}); ignoring it and starting without a frequency estimate",
                p.display()
            ),
            Self::Corrupt(p, why) => write!(
                f,
                "{}: state file is {why}; ignoring it and starting without a frequency estimate (it will be rewritten)",
                p.display()
            ),
        }
    }
}

/// FNV-1a 64 of the text before the check line.
fn check(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl State {
    /// The file's text.
    pub fn encode(&self) -> String {
        // One line: a newline in the name would end the field early.
        let sink = self.sink.replace(['\n', '\r'], " ");
        let body = format!(
            "keel-state 2\nfreq_ppb {:.3}\nfreq_sd_ppb {:.3}\nsaved_unix {}\nsink {sink}\n",
            self.freq_ppb, self.freq_sd_ppb, self.saved_unix
        );
        let c = check(&body);
        format!("{body}check {c:016x}\n")
    }

    /// Parses a file's text.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn decode(text: &str) -> Result<Self, &'static str> {
        let Some(pos) = text.rfind("check ") else {
            return Err("truncated (no check line)");
        };
        let (body, tail) = text.split_at(pos);
        let want = tail
            .strip_prefix("check ")
            .and_then(|t| t.strip_suffix('\n'))
            .and_then(|t| u64::from_str_radix(t, 16).ok())
            .ok_or("truncated (incomplete check line)")?;
        if check(body) != want {
            return Err("corrupt (checksum mismatch)");
        }
        let mut lines = body.lines();
        let version = match lines.next() {
            Some("keel-state 1") => 1,
            Some("keel-state 2") => 2,
            _ => return Err("of an unknown format (expected `keel-state 2`)"),
        };
        let mut get = |key: &str| -> Result<&str, &'static str> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or("corrupt (missing field)")
        };
        let freq_ppb: f64 = get("freq_ppb")?
            .parse()
            .map_err(|_| "corrupt (bad number)")?;
        let freq_sd_ppb: f64 = get("freq_sd_ppb")?
            .parse()
            .map_err(|_| "corrupt (bad number)")?;
        let saved_unix: u64 = get("saved_unix")?
            .parse()
            .map_err(|_| "corrupt (bad number)")?;
        let sink = if version == 1 {
            crate::phc::SINK_REALTIME.to_string()
        } else {
            get("sink")?.to_string()
        };
        if !freq_ppb.is_finite()
            || !freq_sd_ppb.is_finite()
            || freq_sd_ppb < 0.0
            || freq_ppb.abs() > 1e8
        {
            return Err("corrupt (value out of range)");
        }
        Ok(Self {
            freq_ppb,
            freq_sd_ppb,
            saved_unix,
            sink,
        })
    }

    /// Reads `path`.
    ///
    /// # Errors
    /// Missing, unreadable or bad: never fatal, the caller logs and goes on.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let text = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(StateError::Io(path.to_path_buf(), e)),
        };
        let text = String::from_utf8(text)
            .map_err(|_| StateError::Corrupt(path.to_path_buf(), "corrupt (not text)"))?;
        Self::decode(&text).map_err(|why| StateError::Corrupt(path.to_path_buf(), why))
    }

    /// Writes `path` atomically: temp file, fsync, rename, fsync of the directory.
    ///
    /// # Errors
    /// Any I/O error (the old file is then left as it was).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.encode().as_bytes())?;
            f.sync_all()?;
        }
        if let Err(e) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // The rename is durable once the directory is synced; a failure here
        // leaves a valid file either way.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st() -> State {
        State {
            freq_ppb: -49_987.125,
            freq_sd_ppb: 0.5,
            saved_unix: 1_700_000_000,
            sink: "CLOCK_REALTIME".into(),
        }
    }

    #[test]
    fn the_sink_is_kept_and_version_1_means_clock_realtime() {
        let phc = State {
            sink: "/dev/ptp1 (igb)".into(),
            ..st()
        };
        let text = phc.encode();
        assert!(text.starts_with("keel-state 2\n"), "{text}");
        assert!(text.contains("\nsink /dev/ptp1 (igb)\ncheck "), "{text}");
        assert_eq!(State::decode(&text).unwrap(), phc);
        // A file of a keel that steered only CLOCK_REALTIME.
        let body = "keel-state 1\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\n";
        let v1 = format!("{body}check {:016x}\n", check(body));
        assert_eq!(State::decode(&v1).unwrap(), st());
        // Version 2 without its sink line is damaged.
        let body = "keel-state 2\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\n";
        let v2 = format!("{body}check {:016x}\n", check(body));
        assert_eq!(State::decode(&v2), Err("corrupt (missing field)"));
    }

    #[test]
    fn round_trip_and_atomic_save() {
        let dir = std::env::temp_dir().join(format!("keel-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("state");
        st().save(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), st());
        assert!(!dir.join("state.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_truncated_corrupt() {
        let text = st().encode();
        assert_eq!(State::decode(&text).unwrap(), st());
        for cut in [0, 5, 20, text.len() - 20, text.len() - 1] {
            assert!(State::decode(&text[..cut]).is_err(), "cut at {cut}");
        }
        let flipped = text.replacen("49987", "49988", 1);
        assert_eq!(State::decode(&flipped), Err("corrupt (checksum mismatch)"));
        let e = State::load(Path::new("/nonexistent/keel/state")).unwrap_err();
        assert!(matches!(e, StateError::Missing(_)));
        assert!(e.to_string().contains("no state file yet"));
    }
}
