//! Small wrappers over glibc: `poll(2)`, `signalfd(2)`, privilege checks.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `poll(2)` over `fds`; `EINTR` counts as "nothing ready".
///
/// # Errors
/// Any other poll error.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, writable slice of `n` pollfd structs.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// A pollfd waiting for input.
pub fn pollin(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// The signals the daemon handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop.
    Stop(i32),
    /// SIGHUP: reload.
    Reload,
}

/// SIGTERM, SIGINT and SIGHUP delivered through a signalfd in the poll loop.
pub struct Signals(OwnedFd);

impl Signals {
    /// Blocks the three signals and opens the signalfd.
    ///
    /// # Errors
    /// The kernel refused.
    pub fn new() -> io::Result<Self> {
        // SAFETY: an all-zero sigset_t is a valid (empty) set for sigemptyset
        // to initialise; every call below gets a pointer to this live local.
        let fd = unsafe {
            let mut set: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, libc::SIGTERM);
            libc::sigaddset(&raw mut set, libc::SIGINT);
            libc::sigaddset(&raw mut set, libc::SIGHUP);
            if libc::sigprocmask(libc::SIG_BLOCK, &raw const set, core::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::signalfd(-1, &raw const set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The fd to poll.
    pub fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    /// The next pending signal, if any.
    pub fn next(&self) -> Option<Signal> {
        // SAFETY: an all-zero signalfd_siginfo is a valid value (plain integers).
        let mut info: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
        let size = size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is a writable buffer of exactly `size` bytes.
        let n = unsafe { libc::read(self.fd(), (&raw mut info).cast(), size) };
        if usize::try_from(n).ok() != Some(size) {
            return None;
        }
        let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
        Some(if sig == libc::SIGHUP {
            Signal::Reload
        } else {
            Signal::Stop(sig)
        })
    }
}

/// Does this process have `CAP_SYS_TIME` (or is it root)?
pub fn can_set_time() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    cap_eff_has(
        &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
        25,
    )
}

/// Parses `CapEff:` of `/proc/self/status` for capability `bit`.
pub fn cap_eff_has(status: &str, bit: u32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|m| m & (1u64 << bit) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_parsing() {
        assert!(cap_eff_has("Name:\tkeel\nCapEff:\t0000000002000000\n", 25));
        assert!(!cap_eff_has("CapEff:\t0000000000000000\n", 25));
        assert!(!cap_eff_has("", 25));
        assert!(cap_eff_has("CapEff:\t000001ffffffffff\n", 25));
    }
}
