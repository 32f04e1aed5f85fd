//! PHC access: the read-method prober shared by the real device and the
//! simulated one, the `/dev/ptpN` device, and PHC discovery in sysfs.
//!
//! Probe order PRECISE → EXTENDED → BASIC (phc2sys `sysoff_probe`), three
//! attempts per method to ride over `EBUSY`. A method that stops working is
//! re-probed instead of exiting (a `ptp_kvm` that loses PRECISE after a
//! migration falls back to BASIC); a device that disappears is closed and
//! reopened on a later update. Nothing here is fatal.

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, ReadMethod};
use keel_core::time::Timestamp;

use crate::ptp::{self, Answer as _};

/// Why a PHC read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhcError {
    /// `EBUSY`: transient, retry.
    Busy,
    /// `EOPNOTSUPP`/`ENOTTY`: the driver does not (or no longer) implement
    /// the method.
    NotSupported,
    /// `ENODEV`/`ENOENT`/`ENXIO`: the device is gone.
    NoDevice,
    /// The kernel's answer was malformed, or `EINVAL` (e.g. vmclock while
    /// the host clock is unreliable).
    Invalid,
    /// `EACCES`/`EPERM` opening the device.
    Permission,
    /// Simulation only: the guest is frozen, no code runs.
    Frozen,
    /// Any other errno.
    Os(i32),
}

impl PhcError {
    /// Classifies an errno.
    pub fn from_errno(e: i32) -> Self {
        match e {
            libc::EBUSY | libc::EAGAIN | libc::EINTR => Self::Busy,
            libc::EOPNOTSUPP | libc::ENOTTY | libc::ENOSYS => Self::NotSupported,
            libc::ENODEV | libc::ENOENT | libc::ENXIO => Self::NoDevice,
            libc::EINVAL => Self::Invalid,
            libc::EACCES | libc::EPERM => Self::Permission,
            e => Self::Os(e),
        }
    }
}

impl fmt::Display for PhcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str("device busy (EBUSY)"),
            Self::NotSupported => f.write_str("not supported by the driver (EOPNOTSUPP)"),
            Self::NoDevice => f.write_str("device not present (ENODEV)"),
            Self::Invalid => f.write_str("invalid reading (EINVAL or malformed answer)"),
            Self::Permission => f.write_str("permission denied"),
            Self::Frozen => f.write_str("guest frozen"),
            Self::Os(e) => write!(f, "{}", std::io::Error::from_raw_os_error(*e)),
        }
    }
}

/// A PHC that can be read with each method.
pub trait PhcDevice {
    /// Opens the device if it is not open. Default: always open.
    ///
    /// # Errors
    /// Why it could not be opened.
    fn ensure_open(&mut self) -> Result<(), PhcError> {
        Ok(())
    }
    /// Closes the device (it will be reopened on the next read).
    fn close(&mut self) {}
    /// One read with `method` (`n` triples for the sampled methods).
    ///
    /// # Errors
    /// The classified failure.
    fn read(&mut self, method: ReadMethod, n: usize) -> Result<PhcReading, PhcError>;
}

/// The methods in probe order.
pub const PROBE_ORDER: [ReadMethod; 3] = ReadMethod::PROBE_ORDER;

/// Which methods the prober may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodChoice {
    /// Probe in order.
    Auto,
    /// Only this one.
    Only(ReadMethod),
}

/// A successful read.
#[derive(Clone, Copy, Debug)]
pub struct ReadOk {
    /// The reading.
    pub reading: PhcReading,
    /// The method that produced it.
    pub method: ReadMethod,
    /// Set when the method in use failed and another was probed: the lost
    /// method and its error (a migration hint).
    pub lost: Option<(ReadMethod, PhcError)>,
}

/// A failed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadFailure {
    /// The last error.
    pub error: PhcError,
    /// Set when the method in use stopped working.
    pub lost: Option<(ReadMethod, PhcError)>,
}

/// Counters of the prober.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReaderCounters {
    /// `EBUSY` answers (each retried).
    pub busy: u64,
    /// Probes run.
    pub probes: u64,
    /// Reads that failed in the end.
    pub failures: u64,
    /// Reopen attempts of a vanished device.
    pub reopens: u64,
}

/// The method prober and reader.
#[derive(Clone, Debug)]
pub struct Reader {
    choice: MethodChoice,
    n_samples: usize,
    method: Option<ReadMethod>,
    /// What happened so far.
    pub counters: ReaderCounters,
}

const ATTEMPTS: u32 = 3;

impl Reader {
    /// A reader taking `n_samples` triples per sampled read.
    pub fn new(choice: MethodChoice, n_samples: usize) -> Self {
        Self {
            choice,
            n_samples: n_samples.clamp(1, PHC_MAX_SAMPLES),
            method: None,
            counters: ReaderCounters::default(),
        }
    }

    /// Takes `n` triples per sampled read (PRECISE: cross-timestamps per
    /// burst) from now on, clamped to `1..=PHC_MAX_SAMPLES`: the engine's
    /// count for the read it asked for.
    pub fn set_samples(&mut self, n: usize) {
        self.n_samples = n.clamp(1, PHC_MAX_SAMPLES);
    }

    /// The method in use, if one has been found.
    pub fn method(&self) -> Option<ReadMethod> {
        self.method
    }

    fn attempt<D: PhcDevice>(
        &mut self,
        dev: &mut D,
        m: ReadMethod,
    ) -> Result<PhcReading, PhcError> {
        if m == ReadMethod::Precise && self.n_samples > 1 {
            return self.precise_burst(dev);
        }
        self.attempt_once(dev, m, self.n_samples)
    }

    /// `n_samples` cross-timestamps in a row as one reading, averaged by
    /// [`PhcReading::best_sample`] (reading noise that is independent from
    /// read to read falls as 1/√n; one wild read is trimmed). A failure
    /// after the first success ends the burst early; one before it is the
    /// burst's error.
    fn precise_burst<D: PhcDevice>(&mut self, dev: &mut D) -> Result<PhcReading, PhcError> {
        let mut pairs = [(Timestamp::EPOCH, Timestamp::EPOCH); PHC_MAX_SAMPLES];
        let mut n = 0;
        for slot in pairs.iter_mut().take(self.n_samples) {
            match self.attempt_once(dev, ReadMethod::Precise, 1) {
                Ok(PhcReading::Precise { sys, phc }) => {
                    *slot = (sys, phc);
                    n += 1;
                }
                Ok(PhcReading::Sampled { .. }) => return Err(PhcError::Invalid),
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        PhcReading::from_cross_timestamps(&pairs[..n]).ok_or(PhcError::Invalid)
    }

    fn attempt_once<D: PhcDevice>(
        &mut self,
        dev: &mut D,
        m: ReadMethod,
        n_samples: usize,
    ) -> Result<PhcReading, PhcError> {
        let mut last = PhcError::Busy;
        for _ in 0..ATTEMPTS {
            match dev.read(m, n_samples) {
                Ok(r) => return Ok(r),
                Err(PhcError::Busy) => {
                    self.counters.busy = self.counters.busy.saturating_add(1);
                    last = PhcError::Busy;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Reads once: with the known method, else probing.
    ///
    /// # Errors
    /// [`ReadFailure`] when no method gave a reading now; the reader is
    /// ready to try again at the next update.
    pub fn read<D: PhcDevice>(&mut self, dev: &mut D) -> Result<ReadOk, ReadFailure> {
        let r = self.read_inner(dev);
        if r.is_err() {
            self.counters.failures = self.counters.failures.saturating_add(1);
        }
        r
    }

    fn read_inner<D: PhcDevice>(&mut self, dev: &mut D) -> Result<ReadOk, ReadFailure> {
        if let Err(error) = dev.ensure_open() {
            self.counters.reopens = self.counters.reopens.saturating_add(1);
            self.method = None;
            return Err(ReadFailure { error, lost: None });
        }
        let mut lost = None;
        if let Some(m) = self.method {
            match self.attempt(dev, m) {
                Ok(reading) => {
                    return Ok(ReadOk {
                        reading,
                        method: m,
                        lost: None,
                    });
                }
                // Transient: keep the method.
                Err(error @ (PhcError::Busy | PhcError::Frozen)) => {
                    return Err(ReadFailure { error, lost: None });
                }
                Err(PhcError::NoDevice) => {
                    dev.close();
                    self.method = None;
                    return Err(ReadFailure {
                        error: PhcError::NoDevice,
                        lost: Some((m, PhcError::NoDevice)),
                    });
                }
                Err(e) => {
                    self.method = None;
                    lost = Some((m, e));
                }
            }
        }
        self.counters.probes = self.counters.probes.saturating_add(1);
        let only;
        let candidates: &[ReadMethod] = match self.choice {
            MethodChoice::Auto => &PROBE_ORDER,
            MethodChoice::Only(m) => {
                only = [m];
                &only
            }
        };
        let mut last = lost.map_or(PhcError::NotSupported, |(_, e)| e);
        for &m in candidates {
            // The lost method is tried again only after the others.
            if lost.is_some_and(|(l, _)| l == m) && candidates.len() > 1 {
                continue;
            }
            match self.attempt(dev, m) {
                Ok(reading) => {
                    self.method = Some(m);
                    return Ok(ReadOk {
                        reading,
                        method: m,
                        lost,
                    });
                }
                Err(e @ (PhcError::NoDevice | PhcError::Frozen)) => {
                    if e == PhcError::NoDevice {
                        dev.close();
                    }
                    return Err(ReadFailure { error: e, lost });
                }
                Err(e) => last = e,
            }
        }
        Err(ReadFailure { error: last, lost })
    }
}

/// A `/dev/ptpN` character device: read-only for a source, read-write for a
/// sink (the kernel refuses `clock_adjtime` on a PHC opened without write
/// access, even a read-only query, with `EACCES`).
#[derive(Debug)]
pub struct LinuxPhc {
    path: PathBuf,
    file: Option<File>,
    writable: bool,
}

fn open_file(path: &Path, writable: bool) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
}

impl LinuxPhc {
    /// A device at `path`, opened read-only on first use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            file: None,
            writable: false,
        }
    }

    /// Opens now, read-only.
    ///
    /// # Errors
    /// The open error, classified.
    pub fn open(path: &Path) -> Result<Self, (PhcError, std::io::Error)> {
        Self::open_with(path, false)
    }

    /// Opens now, read-write when `writable` (a sink to steer); reopened the
    /// same way after the device vanished.
    ///
    /// # Errors
    /// The open error, classified.
    pub fn open_with(path: &Path, writable: bool) -> Result<Self, (PhcError, std::io::Error)> {
        let f = open_file(path, writable).map_err(|e| (classify_io(&e), e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Some(f),
            writable,
        })
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dynamic POSIX clock id of the open device (`FD_TO_CLOCKID`); it
    /// changes when the device is reopened.
    ///
    /// # Errors
    /// The device is not open (it vanished and is not back yet).
    pub fn clock_id(&self) -> Result<libc::clockid_t, PhcError> {
        self.fd().map(crate::timex::fd_to_clockid)
    }

    /// The PHC's time (`clock_gettime` on its clock id), ns since the epoch
    /// of its time scale.
    ///
    /// # Errors
    /// The device is gone or the driver failed.
    pub fn now_ns(&mut self) -> Result<u64, PhcError> {
        self.ensure_open()?;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id names the
        // open device, which stays open during the call.
        let rc = unsafe { libc::clock_gettime(self.clock_id()?, &raw mut ts) };
        check(rc)?;
        let secs = u64::try_from(ts.tv_sec).map_err(|_| PhcError::Invalid)?;
        let ns = u64::try_from(ts.tv_nsec).map_err(|_| PhcError::Invalid)?;
        Ok(secs.saturating_mul(1_000_000_000).saturating_add(ns))
    }

    /// Reads the PHC's frequency back: `clock_adjtime` with `modes = 0` on
    /// its clock id (the kernel answers the last `ADJ_FREQUENCY` written to
    /// it, `dialed_frequency`). Needs a read-write open.
    ///
    /// # Errors
    /// The device is gone, or the kernel refused (`EACCES` when opened
    /// read-only).
    pub fn query_frequency(&mut self) -> std::io::Result<keel_core::time::Ppb> {
        let mut t = crate::timex::query();
        debug_assert!(!crate::timex::writes(&t));
        self.adjtime_raw(&mut t)?;
        Ok(crate::timex::phc_freq(&t))
    }

    /// Writes `t` with `clock_adjtime` on the PHC's clock id. Only
    /// [`crate::clock::RealActuator`] calls this (its existence is the proof
    /// that clock writes are allowed).
    ///
    /// # Errors
    /// The device is gone, or the kernel refused (`ERANGE` beyond `max_adj`,
    /// `EOPNOTSUPP`, `EBUSY` for a free-running PHC with virtual clocks).
    pub fn adjtime(
        &mut self,
        _proof: &crate::clock::RealActuator,
        t: &mut libc::timex,
    ) -> std::io::Result<()> {
        self.adjtime_raw(t)
    }

    fn adjtime_raw(&mut self, t: &mut libc::timex) -> std::io::Result<()> {
        self.ensure_open()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let id = self
            .clock_id()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        // SAFETY: `t` is a fully initialised timex the kernel reads and
        // writes back; the clock id names the open device.
        let rc = unsafe { libc::clock_adjtime(id, t) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn fd(&self) -> Result<i32, PhcError> {
        self.file
            .as_ref()
            .map(AsRawFd::as_raw_fd)
            .ok_or(PhcError::NoDevice)
    }

    /// `PTP_CLOCK_GETCAPS`.
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn caps(&mut self) -> Result<ptp::ClockCaps, PhcError> {
        self.ensure_open()?;
        let mut caps = ptp::caps_request();
        // SAFETY: `caps` is a live, properly sized `struct ptp_clock_caps`
        // that the kernel fills in; the fd is open for the call's duration.
        let rc = unsafe { libc::ioctl(self.fd()?, ptp::PTP_CLOCK_GETCAPS, &raw mut caps) };
        check(rc).map(|()| caps)
    }

    /// Pin `index`'s name, function and channel (`PTP_PIN_GETFUNC`).
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn pin(&mut self, index: u32) -> Result<ptp::Pin, PhcError> {
        self.ensure_open()?;
        let mut d = ptp::pin_request(index);
        // SAFETY: `d` is a live, properly sized `struct ptp_pin_desc` that
        // the kernel fills in; the fd is open for the call's duration.
        let rc = unsafe { libc::ioctl(self.fd()?, libc::PTP_PIN_GETFUNC, &raw mut d) };
        check(rc).map(|()| ptp::Pin::from(&d))
    }
}

fn classify_io(e: &std::io::Error) -> PhcError {
    e.raw_os_error()
        .map_or(PhcError::Os(0), PhcError::from_errno)
}

fn check(rc: i32) -> Result<(), PhcError> {
    if rc < 0 {
        Err(classify_io(&std::io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

impl PhcDevice for LinuxPhc {
    fn ensure_open(&mut self) -> Result<(), PhcError> {
        if self.file.is_none() {
            self.file = Some(open_file(&self.path, self.writable).map_err(|e| classify_io(&e))?);
        }
        Ok(())
    }

    fn close(&mut self) {
        self.file = None;
    }

    fn read(&mut self, method: ReadMethod, n: usize) -> Result<PhcReading, PhcError> {
        let fd = self.fd()?;
        match method {
            ReadMethod::Precise => {
                let mut req = ptp::precise_request();
                // SAFETY: `req` is a live `struct ptp_sys_offset_precise` the
                // kernel reads and fills; the fd stays open during the call.
                let rc = unsafe { libc::ioctl(fd, ptp::PTP_SYS_OFFSET_PRECISE, &raw mut req) };
                check(rc)?;
                req.reading().map_err(|_| PhcError::Invalid)
            }
            ReadMethod::Extended => {
                let mut req = ptp::extended_request(n);
                // SAFETY: as above, for `struct ptp_sys_offset_extended`.
                let rc = unsafe { libc::ioctl(fd, ptp::PTP_SYS_OFFSET_EXTENDED, &raw mut req) };
                check(rc)?;
                req.reading().map_err(|_| PhcError::Invalid)
            }
            ReadMethod::Basic => {
                let mut req = ptp::sys_offset_request(n);
                // SAFETY: as above, for `struct ptp_sys_offset`.
                let rc = unsafe { libc::ioctl(fd, ptp::PTP_SYS_OFFSET, &raw mut req) };
                check(rc)?;
                req.reading().map_err(|_| PhcError::Invalid)
            }
        }
    }
}

/// A PHC found in sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhcInfo {
    /// `/dev/ptpN`.
    pub dev: PathBuf,
    /// `/sys/class/ptp/ptpN/clock_name`.
    pub name: String,
}

impl PhcInfo {
    /// Is this a hypervisor's clock (which serves UTC)?
    pub fn is_hypervisor(&self) -> bool {
        is_hypervisor_name(&self.name)
    }
}

/// Hypervisor PHC names (vm-clocks.md §1): these serve the host's UTC.
pub fn is_hypervisor_name(name: &str) -> bool {
    name == "KVM virtual PTP"
        || name == "ptp_vmw"
        || name == "hyperv"
        || name.starts_with("vmclock")
}

/// The PHCs under `sysfs` (normally `/sys/class/ptp`), sorted by number.
pub fn list(sysfs: &Path) -> Vec<PhcInfo> {
    let Ok(rd) = std::fs::read_dir(sysfs) else {
        return Vec::new();
    };
    let mut v: Vec<(u32, PhcInfo)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name();
            let fname = file.to_str()?;
            let n: u32 = fname.strip_prefix("ptp")?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("clock_name"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            Some((
                n,
                PhcInfo {
                    dev: Path::new("/dev").join(fname),
                    name,
                },
            ))
        })
        .collect();
    v.sort_by_key(|(n, _)| *n);
    v.into_iter().map(|(_, i)| i).collect()
}

/// Why a source could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError(pub String);

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves `source` (`auto`, a `/dev/…` path, or a `clock_name`) against
/// the PHCs in `found`. Returns the device and whether it is a hypervisor
/// clock (`None` when unknown, for a path not in sysfs).
///
/// # Errors
/// No matching PHC; the message lists what exists and how to choose.
pub fn resolve(source: &str, found: &[PhcInfo]) -> Result<(PathBuf, Option<bool>), ResolveError> {
    let listing = || {
        if found.is_empty() {
            "no PHC exists (/sys/class/ptp is empty): load the driver, e.g. `modprobe ptp_kvm`"
                .to_string()
        } else {
            let names: Vec<String> = found
                .iter()
                .map(|i| format!("{} \"{}\"", i.dev.display(), i.name))
                .collect();
            format!("found: {}", names.join(", "))
        }
    };
    if source == "auto" {
        return found
            .iter()
            .find(|i| i.is_hypervisor())
            .map(|i| (i.dev.clone(), Some(true)))
            .ok_or_else(|| {
                ResolveError(format!(
                    "\"auto\" found no hypervisor PHC: {}; or set it to a /dev/ptpN path or a PHC clock name",
                    listing()
                ))
            });
    }
    if source.starts_with('/') {
        let p = PathBuf::from(source);
        let hv = found
            .iter()
            .find(|i| i.dev == p)
            .map(PhcInfo::is_hypervisor);
        return Ok((p, hv));
    }
    found
        .iter()
        .find(|i| i.name == source)
        .map(|i| (i.dev.clone(), Some(i.is_hypervisor())))
        .ok_or_else(|| ResolveError(format!("no PHC named \"{source}\" ({})", listing())))
}

/// The label of a PHC whose clock name keel could not read (a path not
/// in sysfs).
pub const UNKNOWN_PHC: &str = "unknown PHC";

/// The sink value that names the system clock.
pub const SINK_REALTIME: &str = "CLOCK_REALTIME";

/// Resolves a PHC `sink` (a `/dev/…` path or a `clock_name`; not `auto`,
/// which only names sources) against the PHCs in `found`.
///
/// # Errors
/// No PHC of that name; the message lists what exists.
pub fn resolve_sink(sink: &str, found: &[PhcInfo]) -> Result<PathBuf, ResolveError> {
    if sink == "auto" {
        return Err(ResolveError(
            "sink \"auto\" is not a clock: use \"CLOCK_REALTIME\", a /dev/ptpN path or a PHC clock name".into(),
        ));
    }
    resolve(sink, found).map(|(p, _)| p)
}

/// Are `a` and `b` the same device? Two paths to one character device (a
/// udev symlink such as `/dev/ptp_kvm`, or a clock name resolved to its
/// `/dev/ptpN`) compare equal by device number; paths that do not exist
/// compare by their canonical (or literal) form.
pub fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => {
            (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) || {
                let char_dev = |m: &std::fs::Metadata| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_char_device()
                };
                char_dev(&ma) && char_dev(&mb) && ma.rdev() == mb.rdev()
            }
        }
        _ => {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canon(a) == canon(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::measure::phc::PhcTriple;
    use keel_core::time::Duration;

    /// A scripted device: answers per method, popped in order.
    struct Script {
        answers: Vec<(ReadMethod, Result<(), PhcError>)>,
        calls: Vec<ReadMethod>,
        closed: u32,
    }

    impl PhcDevice for Script {
        fn close(&mut self) {
            self.closed += 1;
        }
        fn read(&mut self, m: ReadMethod, _n: usize) -> Result<PhcReading, PhcError> {
            self.calls.push(m);
            let i = self
                .answers
                .iter()
                .position(|(am, _)| *am == m)
                .expect("unscripted read");
            let (_, r) = self.answers.remove(i);
            r.map(|()| PhcReading::Precise {
                sys: Timestamp::EPOCH,
                phc: Timestamp::EPOCH,
            })
        }
    }

    use ReadMethod::{Basic, Extended, Precise};

    #[test]
    fn probes_in_order_and_rides_over_ebusy() {
        let mut d = Script {
            answers: vec![
                (Precise, Err(PhcError::NotSupported)),
                (Extended, Err(PhcError::Busy)),
                (Extended, Err(PhcError::Busy)),
                (Extended, Ok(())),
                (Extended, Ok(())),
            ],
            calls: vec![],
            closed: 0,
        };
        let mut r = Reader::new(MethodChoice::Auto, 5);
        let ok = r.read(&mut d).unwrap();
        assert_eq!(ok.method, Extended);
        assert_eq!(r.counters.busy, 2);
        r.read(&mut d).unwrap();
        assert_eq!(
            d.calls,
            vec![Precise, Extended, Extended, Extended, Extended]
        );
    }

    #[test]
    fn lost_method_is_reprobed_not_fatal() {
        let mut d = Script {
            answers: vec![
                (Precise, Ok(())),
                (Precise, Err(PhcError::NotSupported)),
                (Extended, Err(PhcError::NotSupported)),
                (Basic, Ok(())),
            ],
            calls: vec![],
            closed: 0,
        };
        let mut r = Reader::new(MethodChoice::Auto, 1);
        assert_eq!(r.read(&mut d).unwrap().method, Precise);
        let ok = r.read(&mut d).unwrap();
        assert_eq!(ok.method, Basic);
        assert_eq!(ok.lost, Some((Precise, PhcError::NotSupported)));
        assert_eq!(r.method(), Some(Basic));
    }

    #[test]
    fn busy_is_transient_and_nodevice_closes() {
        let mut d = Script {
            answers: vec![
                (Precise, Ok(())),
                (Precise, Err(PhcError::Busy)),
                (Precise, Err(PhcError::Busy)),
                (Precise, Err(PhcError::Busy)),
                (Precise, Err(PhcError::NoDevice)),
            ],
            calls: vec![],
            closed: 0,
        };
        let mut r = Reader::new(MethodChoice::Auto, 1);
        r.read(&mut d).unwrap();
        let f = r.read(&mut d).unwrap_err();
        assert_eq!(f.error, PhcError::Busy);
        assert_eq!(r.method(), Some(Precise));
        let f = r.read(&mut d).unwrap_err();
        assert_eq!(f.error, PhcError::NoDevice);
        assert_eq!(d.closed, 1);
        assert_eq!(r.method(), None);
    }

    /// Cross-timestamps with the given offsets (sys − phc, ns), 1 µs apart.
    struct Burst {
        offsets: Vec<Result<i64, PhcError>>,
        reads: usize,
    }

    impl PhcDevice for Burst {
        fn close(&mut self) {}
        fn read(&mut self, m: ReadMethod, n: usize) -> Result<PhcReading, PhcError> {
            assert_eq!((m, n), (Precise, 1), "a burst reads one at a time");
            let k = self.reads;
            self.reads += 1;
            let off = self
                .offsets
                .get(k)
                .copied()
                .unwrap_or(Err(PhcError::Busy))?;
            let sys = Timestamp::from_nanos(1_000_000_000 + 1000 * k as u64);
            Ok(PhcReading::Precise {
                sys,
                phc: sys.wrapping_sub(Duration::from_nanos(off)),
            })
        }
    }

    #[test]
    fn precise_reads_come_in_bursts_averaged_without_the_wild_one() {
        let mut d = Burst {
            offsets: vec![Ok(100), Ok(90), Ok(1_000_000), Ok(110), Ok(104)],
            reads: 0,
        };
        let mut r = Reader::new(MethodChoice::Only(Precise), 5);
        let s = r.read(&mut d).unwrap().reading.best_sample().unwrap();
        assert_eq!(d.reads, 5);
        // Sorted 90, 100, 104, 110, 1e6: the lowest and highest dropped.
        assert_eq!(s.offset, Duration::from_nanos(104));
        assert_eq!(s.delay, Duration::ZERO);
        // The mean time of the reads kept (k = 0, 4, 3).
        assert_eq!(s.local_ts, Timestamp::from_nanos(1_000_002_333));
    }

    #[test]
    fn a_burst_cut_short_still_counts_but_a_failed_start_fails() {
        let mut d = Burst {
            offsets: vec![Ok(50), Ok(70), Err(PhcError::NotSupported)],
            reads: 0,
        };
        let mut r = Reader::new(MethodChoice::Only(Precise), 5);
        let s = r.read(&mut d).unwrap().reading.best_sample().unwrap();
        assert_eq!(s.offset, Duration::from_nanos(60));
        let mut d = Burst {
            offsets: vec![Err(PhcError::NoDevice)],
            reads: 0,
        };
        assert_eq!(r.read(&mut d).unwrap_err().error, PhcError::NoDevice);
    }

    #[test]
    fn errno_classes() {
        assert_eq!(PhcError::from_errno(libc::EBUSY), PhcError::Busy);
        assert_eq!(
            PhcError::from_errno(libc::EOPNOTSUPP),
            PhcError::NotSupported
        );
        assert_eq!(PhcError::from_errno(libc::ENODEV), PhcError::NoDevice);
        assert_eq!(PhcError::from_errno(libc::EACCES), PhcError::Permission);
        assert_eq!(
            PhcError::from_errno(libc::ESTALE),
            PhcError::Os(libc::ESTALE)
        );
    }

    #[test]
    fn resolve_sources() {
        let found = vec![
            PhcInfo {
                dev: "/dev/ptp0".into(),
                name: "igb".into(),
            },
            PhcInfo {
                dev: "/dev/ptp1".into(),
                name: "KVM virtual PTP".into(),
            },
        ];
        assert_eq!(
            resolve("auto", &found).unwrap(),
            (PathBuf::from("/dev/ptp1"), Some(true))
        );
        assert_eq!(
            resolve("igb", &found).unwrap(),
            (PathBuf::from("/dev/ptp0"), Some(false))
        );
        assert_eq!(
            resolve("/dev/ptp9", &found).unwrap(),
            (PathBuf::from("/dev/ptp9"), None)
        );
        let e = resolve("auto", &found[..1]).unwrap_err();
        assert!(e.0.contains("/dev/ptp0 \"igb\""), "{e}");
        let e = resolve("auto", &[]).unwrap_err();
        assert!(e.0.contains("modprobe ptp_kvm"), "{e}");
        // The caller names the key ("source: …"): the message does not
        // repeat it.
        assert!(e.0.starts_with("\"auto\" found no hypervisor PHC: "), "{e}");
        assert!(!e.0.contains("source"), "{e}");
        let _ = PhcTriple::default();
    }

    #[test]
    fn resolve_sinks_by_path_or_name_never_auto() {
        let found = vec![
            PhcInfo {
                dev: "/dev/ptp0".into(),
                name: "KVM virtual PTP".into(),
            },
            PhcInfo {
                dev: "/dev/ptp1".into(),
                name: "igb".into(),
            },
        ];
        assert_eq!(
            resolve_sink("igb", &found).unwrap(),
            PathBuf::from("/dev/ptp1")
        );
        assert_eq!(
            resolve_sink("/dev/ptp1", &found).unwrap(),
            PathBuf::from("/dev/ptp1")
        );
        let e = resolve_sink("auto", &found).unwrap_err();
        assert!(e.0.contains("sink \"auto\" is not a clock"), "{e}");
        let e = resolve_sink("mlx5", &found).unwrap_err();
        assert_eq!(
            e.0,
            "no PHC named \"mlx5\" (found: /dev/ptp0 \"KVM virtual PTP\", /dev/ptp1 \"igb\")"
        );
    }

    #[test]
    fn same_device_by_identity_not_spelling() {
        let dir = std::env::temp_dir().join(format!("keel-samedev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, "x").unwrap();
        let b = dir.join("b");
        std::fs::write(&b, "y").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert!(same_device(&a, &link));
        assert!(same_device(&a, &dir.join(".").join("a")));
        assert!(!same_device(&a, &b));
        // Not existing: by spelling.
        assert!(same_device(
            Path::new("/nonexistent/ptp3"),
            Path::new("/nonexistent/ptp3")
        ));
        assert!(!same_device(
            Path::new("/nonexistent/ptp3"),
            Path::new("/nonexistent/ptp4")
        ));
        // /dev/null twice: one character device.
        assert!(same_device(
            Path::new("/dev/null"),
            Path::new("/dev/../dev/null")
        ));
        assert!(!same_device(Path::new("/dev/null"), Path::new("/dev/zero")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
