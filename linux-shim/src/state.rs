//! The state file: the frequency estimate and its uncertainty, so a restart
//! does not re-learn the frequency (chrony's drift file; phc2sys relies on the
//! kernel's frequency instead).
//!
//! Format, one `key value` per line, then a checksum line so a truncated or
//! corrupt file is recognised:
//!
//! ```text
//! keel-state 3
//! freq_ppb -49987.123
//! freq_sd_ppb 0.8
//! saved_unix 1700000000
//! sink CLOCK_REALTIME
//! machine 4c4c4544004a3510804cb4c04f4d3232
//! clocksource kvm-clock
//! source KVM virtual PTP
//! check 1a2b3c4d5e6f7a8b
//! ```
//!
//! The frequency belongs to the clock it steered (`sink`): a file saved for
//! another sink is not used. Version 1 files (without `sink`) were written
//! when keel steered only `CLOCK_REALTIME`, and are read as such.
//!
//! It was also learnt on one machine (`/etc/machine-id`), through one
//! kernel clocksource, following one source PHC ([`Origin`]). A VM image
//! cloned with its state file, a VM restored on another host, or a changed
//! clocksource can be tens of ppm off, so when any of them differs from now
//! or is not known (versions 1 and 2 did not record them; an empty value
//! was unreadable), and when the file is old, [`State::prior`] widens the
//! saved uncertainty before the servo trusts it.
//!
//! Writes are atomic: a temporary file in the same directory, `fsync`,
//! `rename`, then `fsync` of the directory.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use keel_core::engine::SavedPrior;
use keel_core::time::Ppb;

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
    /// What it was learnt on (all unknown for versions 1 and 2).
    pub origin: Origin,
}

/// What a frequency estimate is learnt on. An empty field is unknown (not
/// recorded, or unreadable) and never matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// `/etc/machine-id`.
    pub machine: String,
    /// The kernel clocksource behind `CLOCK_REALTIME`
    /// (`/sys/devices/system/clocksource/clocksource0/current_clocksource`);
    /// [`Origin::NOT_USED`] for a PHC sink, which runs on its own oscillator.
    pub clocksource: String,
    /// The source PHC's clock name.
    pub source: String,
}

impl Origin {
    /// A field that does not apply (the clocksource of a PHC sink).
    pub const NOT_USED: &'static str = "-";

    /// This machine's: `/etc/machine-id` and the current clocksource
    /// (empty when unreadable), with the source's clock name.
    pub fn of_this_machine(source: &str, clocksource_used: bool) -> Self {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        Self {
            machine: read("/etc/machine-id"),
            clocksource: if clocksource_used {
                read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            } else {
                Self::NOT_USED.to_string()
            },
            source: source.to_string(),
        }
    }
}

/// Why a saved frequency is trusted less than it says.
#[derive(Clone, Debug, PartialEq)]
pub enum Doubt {
    /// The field was not recorded (an older file) or could not be read.
    Unknown(&'static str),
    /// The field differs from now.
    Differs {
        /// `machine`, `clocksource` or `source`.
        field: &'static str,
        /// Saved.
        saved: String,
        /// Now.
        now: String,
    },
    /// Saved this many days ago (more than `SavedPrior::AGE_FREE_S`).
    Old(f64),
    /// Saved this many seconds in the future: the system clock is behind,
    /// the age is unknown.
    Future(u64),
}

impl Doubt {
    /// Does this point at another machine, clocksource or source (not only
    /// something unknown or old)?
    pub fn is_mismatch(&self) -> bool {
        matches!(self, Self::Differs { .. })
    }
}

impl fmt::Display for Doubt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(field) => write!(f, "its {field} is not known"),
            Self::Differs { field: "machine", .. } => {
                f.write_str("it was learnt on another machine (/etc/machine-id differs: a cloned image, or another host?)")
            }
            Self::Differs { field, saved, now } => {
                write!(f, "it was learnt with {field} \"{saved}\", now \"{now}\"")
            }
            Self::Old(days) => write!(f, "it was saved {days:.1} days ago"),
            Self::Future(s) => write!(
                f,
                "it was saved {s} s in the future (the system clock is behind?), so its age is unknown"
            ),
        }
    }
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
    /// It is not a regular file (a FIFO, a device, a directory...).
    NotAFile(PathBuf, &'static str),
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
            Self::NotAFile(p, what) => write!(
                f,
                "{}: the state file is {what}, not a regular file; ignoring it and starting without a frequency estimate (keel will not write there either: set state_file to a file path, or state_file = \"\" to disable it)",
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
        let line = |v: &str| v.replace(['\n', '\r'], " ");
        let o = &self.origin;
        let body = format!(
            "keel-state 3\nfreq_ppb {:.3}\nfreq_sd_ppb {:.3}\nsaved_unix {}\nsink {}\nmachine {}\nclocksource {}\nsource {}\n",
            self.freq_ppb,
            self.freq_sd_ppb,
            self.saved_unix,
            line(&self.sink),
            line(&o.machine),
            line(&o.clocksource),
            line(&o.source)
        );
        let c = check(&body);
        format!("{body}check {c:016x}\n")
    }

    /// Parses a file's text.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn decode(text: &str) -> Result<Self, &'static str> {
        const HEAD: &str = "keel-state ";
        if !(text.starts_with(HEAD) || HEAD.starts_with(text)) {
            return Err(NOT_KEELS);
        }
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
            Some("keel-state 3") => 3,
            _ => return Err("of an unknown format (expected `keel-state 3`)"),
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
        let origin = if version >= 3 {
            Origin {
                machine: get("machine")?.to_string(),
                clocksource: get("clocksource")?.to_string(),
                source: get("source")?.to_string(),
            }
        } else {
            Origin::default()
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
            origin,
        })
    }

    /// The standard deviation (ppb) to trust the saved frequency with, on
    /// the machine `now` at Unix time `now_unix`, and why it is wider than
    /// saved: the engine decides the width
    /// ([`keel_core::engine::SavedPrior::trusted_sd`]) from whether machine,
    /// clocksource and source are the same and known, and from the age.
    pub fn prior(&self, now: &Origin, now_unix: u64) -> (f64, Vec<Doubt>) {
        let mut doubts = Vec::new();
        let fields = [
            ("machine", &self.origin.machine, &now.machine),
            ("clocksource", &self.origin.clocksource, &now.clocksource),
            ("source", &self.origin.source, &now.source),
        ];
        for (field, saved, current) in fields {
            if saved.is_empty() || current.is_empty() {
                doubts.push(Doubt::Unknown(field));
            } else if saved != current {
                doubts.push(Doubt::Differs {
                    field,
                    saved: saved.clone(),
                    now: current.clone(),
                });
            }
        }
        let age_s = if self.saved_unix > now_unix.saturating_add(3600) {
            doubts.push(Doubt::Future(self.saved_unix - now_unix));
            None
        } else {
            let age = now_unix.saturating_sub(self.saved_unix);
            if age > SavedPrior::AGE_FREE_S {
                #[allow(clippy::cast_precision_loss, reason = "days, for the log")]
                doubts.push(Doubt::Old(age as f64 / 86_400.0));
            }
            Some(age)
        };
        // How far to trust it is the engine's decision.
        let saved = SavedPrior {
            freq: Ppb::from_f64(self.freq_ppb),
            sd: Ppb::from_f64(self.freq_sd_ppb),
            same_origin: !doubts
                .iter()
                .any(|d| matches!(d, Doubt::Unknown(_) | Doubt::Differs { .. })),
            age_s,
        };
        let sd = saved.trusted_sd().to_f64();
        (sd, doubts)
    }

    /// Reads `path`.
    ///
    /// # Errors
    /// Missing, unreadable or bad: never fatal, the caller logs and goes on.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        // Only a regular file is read; a device is not even opened.
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(StateError::NotAFile(
                    path.to_path_buf(),
                    kind_name(m.file_type()),
                ));
            }
            _ => {}
        }
        // Non-blocking: opening a FIFO for reading would otherwise wait for
        // a writer for ever (it may have replaced the file since the check).
        let mut f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(StateError::Io(path.to_path_buf(), e)),
        };
        let meta = f
            .metadata()
            .map_err(|e| StateError::Io(path.to_path_buf(), e))?;
        if !meta.is_file() {
            return Err(StateError::NotAFile(
                path.to_path_buf(),
                kind_name(meta.file_type()),
            ));
        }
        // A state file is a few hundred bytes: anything far larger is not one.
        let mut text = Vec::new();
        (&mut f)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| StateError::Io(path.to_path_buf(), e))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(StateError::Corrupt(
                path.to_path_buf(),
                "far too large to be a keel state file",
            ));
        }
        let text = String::from_utf8(text)
            .map_err(|_| StateError::Corrupt(path.to_path_buf(), "corrupt (not text)"))?;
        Self::decode(&text).map_err(|why| StateError::Corrupt(path.to_path_buf(), why))
    }

    /// Writes `path` atomically: temp file, fsync, rename, fsync of the
    /// directory.
    ///
    /// The temporary (`path` + `.tmp`) is created with `O_EXCL|O_NOFOLLOW`,
    /// so a symbolic link planted there is never followed. One left behind
    /// (a crash between create and rename) is removed and the create tried
    /// once more; unlinking never follows a link either. `path` itself is
    /// replaced only when it is missing or a regular file (or a link to
    /// one): a FIFO, device or directory there is left alone.
    ///
    /// # Errors
    /// Any I/O error (the old file is then left as it was).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(what) = not_a_file(path) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("it is {what}, not a regular file; keel does not replace it"),
            ));
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let mut f = match create_new(&tmp) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A stale temporary (or something planted there): the name is
                // removed, whatever it points to is not touched.
                let meta = std::fs::symlink_metadata(&tmp)?;
                if meta.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!("{} is a directory; remove it", tmp.display()),
                    ));
                }
                std::fs::remove_file(&tmp)?;
                create_new(&tmp)?
            }
            r => r?,
        };
        let written = f
            .write_all(self.encode().as_bytes())
            .and_then(|()| f.sync_all());
        drop(f);
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
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

/// What [`State::decode`] says of a file that is not keel's (chrony's drift
/// file, say).
const NOT_KEELS: &str = "not keel's (it does not begin with `keel-state`: another program's file?)";

/// The largest state file read (a real one is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Creates `path` for writing: never an existing file, never through a
/// symbolic link, owner-writable and world-readable.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .mode(0o644)
        .open(path)
}

/// What a file type is, for messages.
fn kind_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// What is at `path` when it exists and is neither a regular file nor a
/// link to one (a save would replace it).
fn not_a_file(path: &Path) -> Option<&'static str> {
    let m = std::fs::symlink_metadata(path).ok()?;
    if m.is_file() {
        return None;
    }
    if m.file_type().is_symlink() {
        // Dangling: nothing is lost by replacing the link.
        let target = std::fs::metadata(path).ok()?;
        return (!target.is_file())
            .then_some("a symbolic link to something that is not a regular file");
    }
    Some(kind_name(m.file_type()))
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    reason = "exact values: constants, max() and whole days"
)]
mod tests {
    use super::*;

    fn st() -> State {
        State {
            freq_ppb: -49_987.125,
            freq_sd_ppb: 0.5,
            saved_unix: 1_700_000_000,
            sink: "CLOCK_REALTIME".into(),
            origin: here(),
        }
    }

    fn here() -> Origin {
        Origin {
            machine: "4c4c4544004a3510804cb4c04f4d3232".into(),
            clocksource: "kvm-clock".into(),
            source: "KVM virtual PTP".into(),
        }
    }

    fn signed(body: &str) -> String {
        format!("{body}check {:016x}\n", check(body))
    }

    #[test]
    fn the_sink_is_kept_and_version_1_means_clock_realtime() {
        let phc = State {
            sink: "/dev/ptp1 (igb)".into(),
            origin: Origin {
                clocksource: Origin::NOT_USED.into(),
                ..here()
            },
            ..st()
        };
        let text = phc.encode();
        assert!(text.starts_with("keel-state 3\n"), "{text}");
        assert!(
            text.contains("\nsink /dev/ptp1 (igb)\nmachine 4c4c4544004a3510804cb4c04f4d3232\nclocksource -\nsource KVM virtual PTP\ncheck "),
            "{text}"
        );
        assert_eq!(State::decode(&text).unwrap(), phc);
        let unknown = State {
            origin: Origin::default(),
            ..st()
        };
        // A file of a keel that steered only CLOCK_REALTIME.
        let v1 =
            signed("keel-state 1\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\n");
        assert_eq!(State::decode(&v1).unwrap(), unknown);
        // Version 2: the sink, nothing about the machine.
        let v2 = signed(
            "keel-state 2\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\nsink CLOCK_REALTIME\n",
        );
        assert_eq!(State::decode(&v2).unwrap(), unknown);
        // Version 2 without its sink line is damaged.
        let v2 =
            signed("keel-state 2\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\n");
        assert_eq!(State::decode(&v2), Err("corrupt (missing field)"));
        // Version 3 without its source line too.
        let v3 = signed(
            "keel-state 3\nfreq_ppb -49987.125\nfreq_sd_ppb 0.500\nsaved_unix 1700000000\nsink CLOCK_REALTIME\nmachine m\nclocksource tsc\n",
        );
        assert_eq!(State::decode(&v3), Err("corrupt (missing field)"));
        // Unreadable fields are saved empty and read back so.
        let blank = State {
            origin: Origin {
                machine: String::new(),
                ..here()
            },
            ..st()
        };
        assert!(blank.encode().contains("\nmachine \n"));
        assert_eq!(State::decode(&blank.encode()).unwrap(), blank);
    }

    const T0: u64 = 1_700_000_000;
    const DAY: u64 = 86_400;

    #[test]
    fn the_prior_is_kept_on_the_same_machine_when_fresh() {
        assert_eq!(st().prior(&here(), T0), (0.5, vec![]));
        assert_eq!(st().prior(&here(), T0 + DAY), (0.5, vec![]));
        // Saved a little "after" now (the clock was stepped back): no doubt.
        assert_eq!(st().prior(&here(), T0 - 600), (0.5, vec![]));
    }

    #[test]
    fn another_machine_clocksource_or_source_widens_the_prior() {
        let (sd, d) = st().prior(
            &Origin {
                machine: "0123".into(),
                ..here()
            },
            T0,
        );
        assert_eq!(sd, SavedPrior::MISMATCH_SD.to_f64());
        assert_eq!(d.len(), 1);
        assert!(d[0].is_mismatch());
        assert!(d[0].to_string().contains("another machine"), "{}", d[0]);
        let (sd, d) = st().prior(
            &Origin {
                clocksource: "tsc".into(),
                source: "ptp_vmw".into(),
                ..here()
            },
            T0,
        );
        assert_eq!(sd, SavedPrior::MISMATCH_SD.to_f64());
        assert_eq!(
            d.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "it was learnt with clocksource \"kvm-clock\", now \"tsc\"",
                "it was learnt with source \"KVM virtual PTP\", now \"ptp_vmw\""
            ]
        );
        // Unknown: an older file, or a field unreadable then or now.
        let old = State {
            origin: Origin::default(),
            ..st()
        };
        let (sd, d) = old.prior(&here(), T0);
        assert_eq!(sd, SavedPrior::MISMATCH_SD.to_f64());
        assert_eq!(
            d,
            [
                Doubt::Unknown("machine"),
                Doubt::Unknown("clocksource"),
                Doubt::Unknown("source")
            ]
        );
        assert!(!d[0].is_mismatch());
        let (_, d) = st().prior(
            &Origin {
                machine: String::new(),
                ..here()
            },
            T0,
        );
        assert_eq!(d, [Doubt::Unknown("machine")]);
        // Wider than the mismatch floor already: kept.
        let wide = State {
            freq_sd_ppb: 25_000.0,
            ..old
        };
        assert_eq!(wide.prior(&here(), T0).0, 25_000.0);
    }

    #[test]
    fn age_widens_the_prior_by_wander_up_to_a_cap() {
        let (sd, d) = st().prior(&here(), T0 + 3 * DAY);
        assert!((sd - 3_000.5).abs() < 1e-9, "{sd}");
        assert_eq!(d, [Doubt::Old(3.0)]);
        assert_eq!(d[0].to_string(), "it was saved 3.0 days ago");
        let (sd, _) = st().prior(&here(), T0 + 400 * DAY);
        assert_eq!(sd, SavedPrior::MISMATCH_SD.to_f64());
        // Saved in the future: the age is unknown.
        let (sd, d) = st().prior(&here(), T0 - DAY);
        assert_eq!(sd, SavedPrior::MISMATCH_SD.to_f64());
        assert_eq!(d, [Doubt::Future(DAY)]);
        // Saved at the epoch's end: no overflow.
        let late = State {
            saved_unix: u64::MAX,
            ..st()
        };
        assert_eq!(late.prior(&here(), u64::MAX).0, 0.5);
        assert_eq!(late.prior(&here(), 0).0, SavedPrior::MISMATCH_SD.to_f64());
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
        // Another program's file (chrony's drift file) is named as such; an
        // empty or cut header is still a truncated file.
        assert_eq!(State::decode("-12.345 0.678\n"), Err(NOT_KEELS));
        assert_eq!(State::decode("keel-"), Err("truncated (no check line)"));
        let e = State::load(Path::new("/nonexistent/keel/state")).unwrap_err();
        assert!(matches!(e, StateError::Missing(_)));
        assert!(e.to_string().contains("no state file yet"));
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keel-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mkfifo(p: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_fifo_or_device_as_state_file_never_blocks_and_is_never_replaced() {
        let dir = tmpdir("fifo");
        let fifo = dir.join("state");
        mkfifo(&fifo);
        // Loaded in a thread: the old code blocked for ever in open(2).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let fifo = fifo.clone();
            move || tx.send(State::load(&fifo).map_err(|e| e.to_string()))
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("State::load blocked on a FIFO")
            .unwrap_err();
        assert!(
            e.ends_with("state: the state file is a FIFO, not a regular file; ignoring it and starting without a frequency estimate (keel will not write there either: set state_file to a file path, or state_file = \"\" to disable it)"),
            "{e}"
        );
        // Saving does not replace it.
        let e = st().save(&fifo).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is a FIFO, not a regular file; keel does not replace it"
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert!(!dir.join("state.tmp").exists());
        // A device: not opened, not replaced.
        let e = State::load(Path::new("/dev/null")).unwrap_err();
        assert!(
            matches!(e, StateError::NotAFile(_, "a character device")),
            "{e}"
        );
        // A directory.
        let e = State::load(&dir).unwrap_err();
        assert!(matches!(e, StateError::NotAFile(_, "a directory")), "{e}");
        assert!(st().save(&dir).is_err());
        // A link to a FIFO is refused; a link to a regular file is read.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(matches!(
            State::load(&link).unwrap_err(),
            StateError::NotAFile(_, "a FIFO")
        ));
        assert!(st().save(&link).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_temporary_never_follows_a_link_and_a_stale_one_is_replaced() {
        let dir = tmpdir("tmp");
        let p = dir.join("state");
        // A link planted at the temporary's name: the save goes through, the
        // link's target is untouched.
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("state.tmp")).unwrap();
        st().save(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(State::load(&p).unwrap(), st());
        assert!(std::fs::symlink_metadata(dir.join("state.tmp")).is_err());
        // A dangling link there: the save does not create its target.
        let target = dir.join("created-through-link");
        std::os::unix::fs::symlink(&target, dir.join("state.tmp")).unwrap();
        st().save(&p).unwrap();
        assert!(!target.exists());
        // A stale temporary of a crashed keel: replaced.
        std::fs::write(dir.join("state.tmp"), "keel-state 3\nfreq_p").unwrap();
        let newer = State {
            freq_ppb: 12.5,
            ..st()
        };
        newer.save(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), newer);
        assert!(!dir.join("state.tmp").exists());
        // A directory there: an error, the old file kept.
        std::fs::create_dir(dir.join("state.tmp")).unwrap();
        let e = st().save(&p).unwrap_err();
        assert!(
            e.to_string()
                .contains("state.tmp is a directory; remove it"),
            "{e}"
        );
        assert_eq!(State::load(&p).unwrap(), newer);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
