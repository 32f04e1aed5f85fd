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

/// Asks the kernel to timestamp each datagram `fd` receives
/// (`SO_TIMESTAMPNS`, `CLOCK_REALTIME`).
///
/// # Errors
/// The kernel refused.
pub fn enable_rx_timestamps(fd: i32) -> io::Result<()> {
    set_socket_int(fd, libc::SO_TIMESTAMPNS, 1)
}

/// Asks for a socket receive buffer of `bytes` (`SO_RCVBUF`; the kernel
/// doubles it for its bookkeeping and caps it at `net.core.rmem_max`).
///
/// # Errors
/// The kernel refused.
pub fn set_receive_buffer(fd: i32, bytes: i32) -> io::Result<()> {
    set_socket_int(fd, libc::SO_RCVBUF, bytes)
}

/// `setsockopt(fd, SOL_SOCKET, option, &value)` for an `int` option.
fn set_socket_int(fd: i32, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
    // SAFETY: `value` is a live c_int and `len` its size.
    let rc =
        unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, option, (&raw const value).cast(), len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram from non-blocking `fd` into `buf`: its length
/// and the kernel's receive timestamp (`SCM_TIMESTAMPNS`), when there is
/// one.
///
/// # Errors
/// `WouldBlock` when nothing is waiting; any other receive error.
pub fn recv_timestamped(
    fd: i32,
    buf: &mut [u8],
) -> io::Result<(usize, Option<keel_core::time::Timestamp>)> {
    // Room for a timespec control message, 8-byte aligned.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: `msg` points at `iov` (over `buf`) and `control`, all live
    // and writable for the call.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    let Ok(len) = usize::try_from(n) else {
        return Err(io::Error::last_os_error());
    };
    let mut ts = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled,
    // within `msg_controllen`; the data of an SCM_TIMESTAMPNS message is a
    // timespec, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = core::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if let (Ok(s), Ok(ns)) = (u64::try_from(t.tv_sec), u32::try_from(t.tv_nsec)) {
                    ts = Some(keel_core::time::Timestamp::from_secs_nanos(s, ns));
                }
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok((len, ts))
}

/// [`recv_timestamped`] that also gives the sender's address (an NTP
/// server's request): length, sender, kernel receive timestamp.
///
/// # Errors
/// `WouldBlock` when nothing is waiting; any other receive error; a
/// sender that is not IPv4 or IPv6 is `InvalidData`.
pub fn recv_from_timestamped(
    fd: i32,
    buf: &mut [u8],
) -> io::Result<(
    usize,
    std::net::SocketAddr,
    Option<keel_core::time::Timestamp>,
)> {
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero sockaddr_storage and msghdr are valid values.
    let mut from: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_name = (&raw mut from).cast();
    msg.msg_namelen = libc::socklen_t::try_from(size_of_val(&from)).unwrap_or(0);
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: `msg` points at `from`, `iov` (over `buf`) and `control`,
    // all live and writable for the call.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    let Ok(len) = usize::try_from(n) else {
        return Err(io::Error::last_os_error());
    };
    let addr = match i32::from(from.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET) into
            // the storage, which is large and aligned enough for it.
            let a: libc::sockaddr_in =
                unsafe { core::ptr::read((&raw const from).cast::<libc::sockaddr_in>()) };
            std::net::SocketAddr::new(
                std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)).into(),
                u16::from_be(a.sin_port),
            )
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let a: libc::sockaddr_in6 =
                unsafe { core::ptr::read((&raw const from).cast::<libc::sockaddr_in6>()) };
            std::net::SocketAddr::V6(std::net::SocketAddrV6::new(
                std::net::Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            ))
        }
        _ => return Err(io::Error::from(io::ErrorKind::InvalidData)),
    };
    let mut ts = None;
    // SAFETY: as in `recv_timestamped`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = core::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if let (Ok(s), Ok(ns)) = (u64::try_from(t.tv_sec), u32::try_from(t.tv_nsec)) {
                    ts = Some(keel_core::time::Timestamp::from_secs_nanos(s, ns));
                }
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok((len, addr, ts))
}

/// A non-blocking UDP socket bound to `addr`; an IPv6 one is IPv6 only
/// (`IPV6_V6ONLY`), so `0.0.0.0:123` and `[::]:123` can both be bound.
///
/// # Errors
/// The kernel refused (the address is in use, a port below 1024 without
/// the privilege, no such local address).
pub fn bind_udp(addr: std::net::SocketAddr) -> io::Result<std::net::UdpSocket> {
    use std::net::SocketAddr;
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::sa_family_t::try_from(libc::AF_INET).unwrap_or(2),
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            let len = libc::socklen_t::try_from(size_of_val(&sa)).unwrap_or(16);
            // SAFETY: `sa` is a live sockaddr_in of `len` bytes.
            unsafe { libc::bind(fd, (&raw const sa).cast(), len) }
        }
        SocketAddr::V6(a) => {
            let on: libc::c_int = 1;
            let olen = libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap_or(4);
            // SAFETY: `on` is a live c_int and `olen` its size.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&raw const on).cast(),
                    olen,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: an all-zero sockaddr_in6 is valid; fields set below.
            let mut sa: libc::sockaddr_in6 = unsafe { core::mem::zeroed() };
            sa.sin6_family = libc::sa_family_t::try_from(libc::AF_INET6).unwrap_or(10);
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sa.sin6_flowinfo = a.flowinfo();
            sa.sin6_scope_id = a.scope_id();
            let len = libc::socklen_t::try_from(size_of_val(&sa)).unwrap_or(28);
            // SAFETY: `sa` is a live sockaddr_in6 of `len` bytes.
            unsafe { libc::bind(fd, (&raw const sa).cast(), len) }
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::UdpSocket::from(owned))
}

/// 64 random bits from the kernel (`getrandom(2)`), for NTP cookies.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: `b` is a writable buffer of 8 bytes.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if usize::try_from(n).ok() != Some(b.len()) {
        // Never expected; a cookie from the clocks still changes each call.
        let mut t: libc::timespec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a live timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut t) };
        return u64::try_from(t.tv_nsec).unwrap_or(1) ^ 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_ne_bytes(b)
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

/// An `AF_VSOCK` stream socket (`nonblocking` or not) and the address of
/// `cid`:`port` for `bind(2)` or `connect(2)`.
///
/// # Errors
/// The kernel has no vsock (no `vsock` module).
pub fn vsock_socket(
    cid: u32,
    port: u32,
    nonblocking: bool,
) -> io::Result<(OwnedFd, libc::sockaddr_vm, libc::socklen_t)> {
    let flags =
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket(2) with constant arguments; the fd is owned at once.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_vm is plain data; all zero is a valid start.
    let mut addr: libc::sockaddr_vm = unsafe { core::mem::zeroed() };
    addr.svm_family = libc::sa_family_t::try_from(libc::AF_VSOCK).unwrap_or(0);
    addr.svm_port = port;
    addr.svm_cid = cid;
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_vm>()).unwrap_or(0);
    Ok((fd, addr, len))
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
