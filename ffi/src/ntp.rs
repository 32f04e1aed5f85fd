//! NTP client exchange and server replies.

use keel_core::measure::ntp::{
    self as m, ClientConfig, ClientRequest, KissAction, ReplyError, ServerClock, ServerError,
};
use keel_core::time::{Duration, Timestamp};
use keel_core::wire::ntp::{self as w, KissCode, LeapIndicator, ReferenceId};

use crate::{check_out, ffi_boundary, keel_status, try_ref, try_slice, try_slice_mut, write_out};

/// Length of an NTP request or reply without extensions, bytes.
pub const KEEL_NTP_PACKET_LEN: usize = 48;
const _: () = assert!(KEEL_NTP_PACKET_LEN == w::HEADER_LEN);

/// An NTP request in flight: the cookie put on the wire as its transmit
/// timestamp (the reply must echo it) and the client's poll exponent. Plain
/// data: keep one per outstanding request.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_ntp_request {
    /// The 64-bit cookie (never 0).
    pub cookie: u64,
    /// Poll exponent, log₂ s.
    pub poll: i8,
}

/// Client-side limits.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_ntp_client_config {
    /// `sizeof(keel_ntp_client_config)`.
    pub struct_size: usize,
    /// Largest root distance accepted, ns (> 0). Default 1.5 s (RFC 5905 MAXDIST).
    pub max_root_distance_ns: i64,
    /// Local clock precision, log₂ s. Default −20 (about 1 µs).
    pub local_precision: i8,
}

/// One accepted NTP measurement.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_ntp_sample {
    /// local − server, ns: positive means the local clock is ahead (the
    /// opposite sign of RFC 5905's θ).
    pub offset_ns: i64,
    /// Round-trip delay, ns (≥ 0).
    pub delay_ns: i64,
    /// Dispersion of this sample (both precisions plus 15 ppm over the round trip), ns.
    pub dispersion_ns: i64,
    /// The server's root delay, ns.
    pub root_delay_ns: i64,
    /// The server's root dispersion, ns.
    pub root_dispersion_ns: i64,
    /// Root distance (root delay + delay)/2 + root dispersion + dispersion, ns:
    /// the half-width of the interval that contains the true offset.
    pub root_distance_ns: i64,
    /// When the reply arrived (t4), local clock, ns.
    pub local_receive_ns: u64,
    /// The server's reference id (4 bytes as on the wire).
    pub reference_id: [u8; 4],
    /// The server's stratum.
    pub stratum: u8,
    /// The server's leap indicator (0 none, 1 insert, 2 delete, 3 unsynchronised).
    pub leap: u8,
    /// The server's poll exponent.
    pub poll: i8,
}

/// The state of the clock a server answers from.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_ntp_server_clock {
    /// `sizeof(keel_ntp_server_clock)`.
    pub struct_size: usize,
    /// Whether the clock is synchronised; if not, replies carry leap 3 and
    /// stratum 16 so clients ignore them.
    pub synchronized: bool,
    /// Leap warning to pass on (0–2).
    pub leap: u8,
    /// This server's stratum (clamped to 1–15 in replies).
    pub stratum: u8,
    /// Clock precision, log₂ s.
    pub precision: i8,
    /// Reference id (ASCII source name at stratum 1, upstream IPv4 above).
    pub reference_id: [u8; 4],
    /// When the clock was last updated, Unix ns.
    pub reference_time_ns: u64,
    /// Round-trip delay to the primary reference, ns (≥ 0).
    pub root_delay_ns: i64,
    /// Bound on |local − true time| now, ns (≥ 0); the root dispersion is
    /// derived from it.
    pub error_bound_ns: i64,
}

/// A core sample in its C form.
fn sample_to_c(s: &m::NtpSample) -> keel_ntp_sample {
    keel_ntp_sample {
        offset_ns: s.offset.as_nanos(),
        delay_ns: s.delay.as_nanos(),
        dispersion_ns: s.dispersion.as_nanos(),
        root_delay_ns: s.root_delay.as_nanos(),
        root_dispersion_ns: s.root_dispersion.as_nanos(),
        root_distance_ns: s.root_distance().as_nanos(),
        local_receive_ns: s.local_receive.as_nanos(),
        reference_id: s.reference_id.0,
        stratum: s.stratum,
        leap: s.leap.to_bits(),
        poll: s.poll,
    }
}

/// A C sample back in its core form, refusing what
/// `keel_ntp_process_reply` never writes: a negative delay, dispersion,
/// root delay or root dispersion, a leap indicator other than 0–2 (3 is an
/// unsynchronised server), a stratum other than 1–15.
/// `root_distance_ns` is not read: the core recomputes it.
pub(crate) fn sample_from_c(s: &keel_ntp_sample) -> Result<m::NtpSample, keel_status> {
    if s.delay_ns < 0
        || s.dispersion_ns < 0
        || s.root_delay_ns < 0
        || s.root_dispersion_ns < 0
        || s.leap > 2
        || !(1..=15).contains(&s.stratum)
    {
        return Err(keel_status::InvalidArgument);
    }
    Ok(m::NtpSample {
        offset: Duration::from_nanos(s.offset_ns),
        delay: Duration::from_nanos(s.delay_ns),
        dispersion: Duration::from_nanos(s.dispersion_ns),
        root_delay: Duration::from_nanos(s.root_delay_ns),
        root_dispersion: Duration::from_nanos(s.root_dispersion_ns),
        stratum: s.stratum,
        leap: LeapIndicator::from_bits(s.leap),
        reference_id: ReferenceId(s.reference_id),
        poll: s.poll,
        local_receive: Timestamp::from_nanos(s.local_receive_ns),
    })
}

fn reply_status(e: ReplyError) -> keel_status {
    match e {
        ReplyError::Malformed(_) => keel_status::NtpMalformed,
        ReplyError::NotServerMode(_) => keel_status::NtpNotServerMode,
        ReplyError::BadVersion(_) => keel_status::NtpBadVersion,
        ReplyError::OriginMismatch => keel_status::NtpOriginMismatch,
        ReplyError::KissOfDeath { action, .. } => match action {
            KissAction::ReducePollRate => keel_status::NtpKissRate,
            KissAction::StopUsingServer => keel_status::NtpKissDeny,
            KissAction::Ignore => keel_status::NtpKissOther,
        },
        ReplyError::ZeroTimestamp => keel_status::NtpZeroTimestamp,
        ReplyError::Unsynchronized => keel_status::NtpUnsynchronized,
        ReplyError::Inconsistent => keel_status::NtpInconsistent,
        ReplyError::RootDistanceTooLarge => keel_status::NtpRootDistance,
        _ => keel_status::Unknown,
    }
}

fn server_status(e: ServerError) -> keel_status {
    match e {
        ServerError::Malformed(_) => keel_status::NtpMalformed,
        ServerError::NotClientRequest(_) => keel_status::NtpNotClientRequest,
        ServerError::UnsupportedVersion(_) => keel_status::NtpBadVersion,
        ServerError::Emit(_) => keel_status::BufferTooSmall,
        _ => keel_status::Unknown,
    }
}

/// Writes the default client limits to `*out` (with `struct_size` set).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_ntp_client_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_client_config_default(
    out: *mut keel_ntp_client_config,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        let d = ClientConfig::default();
        let c = keel_ntp_client_config {
            struct_size: size_of::<keel_ntp_client_config>(),
            max_root_distance_ns: d.max_root_distance.as_nanos(),
            local_precision: d.local_precision,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, c) };
        Ok(())
    })
}

/// Prepares a client request whose transmit timestamp is the cookie `random`
/// (64 bits from a cryptographic RNG, e.g. `getrandom()`; 0 becomes 1). The
/// real send time never goes on the wire. `poll` is the client's poll
/// exponent (log₂ s).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_ntp_request`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_request_new(
    random: u64,
    poll: i8,
    out: *mut keel_ntp_request,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        let r = ClientRequest::new(random, poll);
        let v = keel_ntp_request {
            cookie: r.cookie().0,
            poll,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

fn request(r: &keel_ntp_request) -> ClientRequest {
    ClientRequest::new(r.cookie, r.poll)
}

/// Writes the 48-byte request packet to `buf` (`buf_len` bytes) and its length
/// to `*out_len`. Send it, and record the local send time `t1` yourself.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_BUFFER_TOO_SMALL`
/// (`buf_len` < `KEEL_NTP_PACKET_LEN`).
///
/// # Safety
/// `req` is NULL or points to a valid `keel_ntp_request`; `buf` is NULL or
/// valid for writing `buf_len` bytes; `out_len` is NULL or valid for writing a
/// `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_request_emit(
    req: *const keel_ntp_request,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `req` is NULL or valid.
        let r = unsafe { try_ref(req) }?;
        // SAFETY: the caller guarantees `buf` is NULL or `buf_len` writable bytes.
        let b = unsafe { try_slice_mut(buf, buf_len) }?;
        check_out(out_len)?;
        if b.len() < KEEL_NTP_PACKET_LEN {
            return Err(keel_status::BufferTooSmall);
        }
        let n = request(r)
            .emit(b)
            .map_err(|_| keel_status::BufferTooSmall)?;
        // SAFETY: `out_len` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_len, n) };
        Ok(())
    })
}

/// Validates a reply to `req` and computes the sample. `t1_ns` is when the
/// request left and `t4_ns` when the reply arrived, both local clock, Unix ns.
/// `config` may be NULL for the defaults.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_STRUCT_SIZE`,
/// `KEEL_STATUS_NTP_*`: malformed, not server mode, bad version, origin
/// mismatch (stale/spoofed: ignore it), Kiss-o'-Death (`_KISS_RATE`: back off
/// with `keel_ntp_backoff_poll()`; `_KISS_DENY`: stop using the server;
/// `_KISS_OTHER`: ignore), zero timestamp, unsynchronised, inconsistent, root
/// distance above the limit.
///
/// # Safety
/// `req` is NULL or points to a valid `keel_ntp_request`; `reply` is NULL or
/// points to `reply_len` readable bytes; `config` is NULL or points to a valid
/// `keel_ntp_client_config`; `out` is NULL or valid for writing a
/// `keel_ntp_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_process_reply(
    req: *const keel_ntp_request,
    reply: *const u8,
    reply_len: usize,
    t1_ns: u64,
    t4_ns: u64,
    config: *const keel_ntp_client_config,
    out: *mut keel_ntp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `req` is NULL or valid.
        let r = unsafe { try_ref(req) }?;
        // SAFETY: the caller guarantees `reply` is NULL or `reply_len` readable bytes.
        let bytes = unsafe { try_slice(reply, reply_len) }?;
        check_out(out)?;
        let cfg = if config.is_null() {
            ClientConfig::default()
        } else {
            // SAFETY: non-NULL, and the caller guarantees it is valid.
            let c = unsafe { try_ref(config) }?;
            if c.struct_size != size_of::<keel_ntp_client_config>() {
                return Err(keel_status::StructSize);
            }
            if c.max_root_distance_ns <= 0 {
                return Err(keel_status::InvalidArgument);
            }
            ClientConfig {
                max_root_distance: Duration::from_nanos(c.max_root_distance_ns),
                local_precision: c.local_precision,
            }
        };
        let s = request(r)
            .process_reply(
                bytes,
                Timestamp::from_nanos(t1_ns),
                Timestamp::from_nanos(t4_ns),
                &cfg,
            )
            .map_err(reply_status)?;
        let v = sample_to_c(&s);
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// The poll exponent to use after a `RATE` kiss: at least one more than
/// `current` and at least the server's `server_poll`, at most `max_poll`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_ntp_backoff_poll(current: i8, server_poll: i8, max_poll: i8) -> i8 {
    m::backoff_poll(current, server_poll, max_poll)
}

/// Builds the reply to a client request (`request`, `request_len` bytes) into
/// `buf`: `t2_ns` is when the request arrived and `t3_ns` when the reply
/// leaves (best estimate), both on the server clock, Unix ns. Writes the reply
/// length (48; extensions are not echoed) to `*out_len`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_STRUCT_SIZE`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (leap > 2 or a negative delay/bound),
/// `KEEL_STATUS_NTP_MALFORMED`, `KEEL_STATUS_NTP_NOT_CLIENT_REQUEST`,
/// `KEEL_STATUS_NTP_BAD_VERSION`, `KEEL_STATUS_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `clock` is NULL or points to a valid `keel_ntp_server_clock`; `request` is
/// NULL or points to `request_len` readable bytes; `buf` is NULL or valid for
/// writing `buf_len` bytes; `out_len` is NULL or valid for writing a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_server_reply(
    clock: *const keel_ntp_server_clock,
    request: *const u8,
    request_len: usize,
    t2_ns: u64,
    t3_ns: u64,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `clock` is NULL or valid.
        let c = unsafe { try_ref(clock) }?;
        // SAFETY: the caller guarantees `request` is NULL or `request_len` bytes.
        let q = unsafe { try_slice(request, request_len) }?;
        // SAFETY: the caller guarantees `buf` is NULL or `buf_len` writable bytes.
        let b = unsafe { try_slice_mut(buf, buf_len) }?;
        check_out(out_len)?;
        if c.struct_size != size_of::<keel_ntp_server_clock>() {
            return Err(keel_status::StructSize);
        }
        if c.leap > 2 || c.root_delay_ns < 0 || c.error_bound_ns < 0 {
            return Err(keel_status::InvalidArgument);
        }
        let sc = ServerClock {
            synchronized: c.synchronized,
            leap: LeapIndicator::from_bits(c.leap),
            stratum: c.stratum,
            precision: c.precision,
            reference_id: ReferenceId(c.reference_id),
            reference_time: Timestamp::from_nanos(c.reference_time_ns),
            root_delay: Duration::from_nanos(c.root_delay_ns),
            error_bound: Duration::from_nanos(c.error_bound_ns),
        };
        let n = m::server_reply(
            &sc,
            q,
            Timestamp::from_nanos(t2_ns),
            Timestamp::from_nanos(t3_ns),
            b,
        )
        .map_err(server_status)?;
        // SAFETY: `out_len` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_len, n) };
        Ok(())
    })
}

/// Builds a Kiss-o'-Death reply to a client request, with the four ASCII
/// bytes `code` (e.g. `"RATE"`, `"DENY"`, `"RSTR"`) as its kiss code; writes
/// the length to `*out_len`.
///
/// Errors: as `keel_ntp_server_reply()`.
///
/// # Safety
/// `request` is NULL or points to `request_len` readable bytes; `code` is NULL
/// or points to 4 readable bytes; `buf` is NULL or valid for writing `buf_len`
/// bytes; `out_len` is NULL or valid for writing a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ntp_kiss_reply(
    request: *const u8,
    request_len: usize,
    code: *const u8,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `request` is NULL or `request_len` bytes.
        let q = unsafe { try_slice(request, request_len) }?;
        // SAFETY: the caller guarantees `code` is NULL or 4 readable bytes.
        let code = unsafe { try_slice(code, 4) }?;
        // SAFETY: the caller guarantees `buf` is NULL or `buf_len` writable bytes.
        let b = unsafe { try_slice_mut(buf, buf_len) }?;
        check_out(out_len)?;
        let mut id = [0u8; 4];
        id.copy_from_slice(code);
        let kc = KissCode::from_reference_id(ReferenceId(id));
        let n = m::kiss_reply(q, kc, b).map_err(server_status)?;
        // SAFETY: `out_len` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_len, n) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> m::NtpSample {
        m::NtpSample {
            offset: Duration::from_nanos(-12_345),
            delay: Duration::from_nanos(300_000),
            dispersion: Duration::from_nanos(2_000),
            root_delay: Duration::from_nanos(1_000),
            root_dispersion: Duration::from_nanos(10_000),
            stratum: 2,
            leap: LeapIndicator::InsertSecond,
            reference_id: ReferenceId(*b"GPS\0"),
            poll: 6,
            local_receive: Timestamp::from_nanos(1_700_000_000_000_000_000),
        }
    }

    #[test]
    fn a_sample_goes_to_c_and_back_unchanged() {
        let s = sample();
        let c = sample_to_c(&s);
        assert_eq!(c.root_distance_ns, 150_500 + 10_000 + 2_000);
        assert_eq!(sample_from_c(&c), Ok(s));
        // the root distance is recomputed, not read
        let c2 = keel_ntp_sample {
            root_distance_ns: -1,
            ..c
        };
        assert_eq!(sample_from_c(&c2), Ok(s));
    }

    #[test]
    fn what_process_reply_never_writes_is_refused() {
        let c = sample_to_c(&sample());
        let bad = [
            keel_ntp_sample { delay_ns: -1, ..c },
            keel_ntp_sample {
                dispersion_ns: -1,
                ..c
            },
            keel_ntp_sample {
                root_delay_ns: -1,
                ..c
            },
            keel_ntp_sample {
                root_dispersion_ns: i64::MIN,
                ..c
            },
            keel_ntp_sample { leap: 3, ..c },
            keel_ntp_sample { leap: 4, ..c },
            keel_ntp_sample { stratum: 0, ..c },
            keel_ntp_sample { stratum: 16, ..c },
        ];
        for b in bad {
            assert_eq!(
                sample_from_c(&b),
                Err(keel_status::InvalidArgument),
                "{b:?}"
            );
        }
    }
}
