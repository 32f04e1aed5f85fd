//! PTP message parsing and slave measurements (E2E and P2P).

use keel_core::measure::ptp::{
    self as m, DelayTimes, E2eSlave, MatchError, PdelayTimes, PtpSample, SyncTimes,
};
use keel_core::time::{Duration, Ppb, PtpTimestamp, TimeInterval, Timestamp};
use keel_core::wire::ptp::{self as w, Body, ClockIdentity, PortIdentity, Repr};

use crate::{check_out, ffi_boundary, keel_status, try_ref, try_slice, write_out};

/// `messageType` Sync.
pub const KEEL_PTP_SYNC: u8 = 0x0;
/// `messageType` `Delay_Req`.
pub const KEEL_PTP_DELAY_REQ: u8 = 0x1;
/// `messageType` `Pdelay_Req`.
pub const KEEL_PTP_PDELAY_REQ: u8 = 0x2;
/// `messageType` `Pdelay_Resp`.
pub const KEEL_PTP_PDELAY_RESP: u8 = 0x3;
/// `messageType` `Follow_Up`.
pub const KEEL_PTP_FOLLOW_UP: u8 = 0x8;
/// `messageType` `Delay_Resp`.
pub const KEEL_PTP_DELAY_RESP: u8 = 0x9;
/// `messageType` `Pdelay_Resp_Follow_Up`.
pub const KEEL_PTP_PDELAY_RESP_FOLLOW_UP: u8 = 0xA;
/// `messageType` Announce.
pub const KEEL_PTP_ANNOUNCE: u8 = 0xB;
/// `messageType` Signaling.
pub const KEEL_PTP_SIGNALING: u8 = 0xC;
/// `messageType` Management.
pub const KEEL_PTP_MANAGEMENT: u8 = 0xD;
/// The twoStepFlag bit of `keel_ptp_message.flags`.
pub const KEEL_PTP_FLAG_TWO_STEP: u16 = 0x0200;
const _: () = assert!(KEEL_PTP_FLAG_TWO_STEP == w::Flags::TWO_STEP);

/// A PTP timestamp as on the wire: 48-bit seconds and nanoseconds (< 10⁹).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_timestamp {
    /// Seconds (below 2⁴⁸).
    pub seconds: u64,
    /// Nanoseconds (below 10⁹).
    pub nanoseconds: u32,
}

/// A port identity: the clock identity (EUI-64) and the port number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_port_identity {
    /// clockIdentity.
    pub clock_identity: [u8; 8],
    /// portNumber.
    pub port_number: u16,
}

/// A parsed PTP message: the common header, the body's fields flattened
/// (fields a type does not have are zero) and where its TLVs are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_message {
    /// `messageType` (4 bits, a `KEEL_PTP_*` constant or a reserved value).
    pub message_type: u8,
    /// `versionPTP`.
    pub version: u8,
    /// `minorVersionPTP`.
    pub minor_version: u8,
    /// `domainNumber`.
    pub domain_number: u8,
    /// `sdoId` (12 bits).
    pub sdo_id: u16,
    /// `flagField` (e.g. `KEEL_PTP_FLAG_TWO_STEP`).
    pub flags: u16,
    /// `correctionField`, 2⁻¹⁶ ns.
    pub correction_q16: i64,
    /// `messageTypeSpecific`.
    pub message_type_specific: u32,
    /// `sourcePortIdentity`.
    pub source_port_identity: keel_ptp_port_identity,
    /// `sequenceId`.
    pub sequence_id: u16,
    /// `controlField`.
    pub control_field: u8,
    /// `logMessageInterval`.
    pub log_message_interval: i8,
    /// The body's timestamp: originTimestamp (Sync, `Delay_Req`, `Pdelay_Req`,
    /// Announce), preciseOriginTimestamp (`Follow_Up`), receiveTimestamp
    /// (`Delay_Resp`), requestReceiptTimestamp (`Pdelay_Resp`),
    /// responseOriginTimestamp (`Pdelay_Resp_Follow_Up`).
    pub timestamp: keel_ptp_timestamp,
    /// requestingPortIdentity (`Delay_Resp`, `Pdelay_Resp`,
    /// `Pdelay_Resp_Follow_Up`) or targetPortIdentity (Signaling, Management).
    pub port_identity: keel_ptp_port_identity,
    /// Announce: currentUtcOffset (TAI − UTC, s).
    pub current_utc_offset: i16,
    /// Announce: grandmasterPriority1.
    pub grandmaster_priority1: u8,
    /// Announce: grandmasterClockQuality.clockClass.
    pub grandmaster_clock_class: u8,
    /// Announce: grandmasterClockQuality.clockAccuracy.
    pub grandmaster_clock_accuracy: u8,
    /// Announce: grandmasterPriority2.
    pub grandmaster_priority2: u8,
    /// Announce: grandmasterClockQuality.offsetScaledLogVariance.
    pub grandmaster_offset_scaled_log_variance: u16,
    /// Announce: grandmasterIdentity.
    pub grandmaster_identity: [u8; 8],
    /// Announce: stepsRemoved.
    pub steps_removed: u16,
    /// Announce: timeSource.
    pub time_source: u8,
    /// Management: startingBoundaryHops.
    pub starting_boundary_hops: u8,
    /// Management: boundaryHops.
    pub boundary_hops: u8,
    /// Management: actionField.
    pub management_action: u8,
    /// Offset of the TLVs (for an unknown type, the whole body) in the input
    /// buffer, bytes.
    pub tlv_offset: usize,
    /// Length of the TLVs, bytes (0 when none).
    pub tlv_len: usize,
}

/// One PTP offset measurement.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_sample {
    /// local − master, ns: positive means the local clock is ahead
    /// (1588's offsetFromMaster).
    pub offset_ns: i64,
    /// The path delay used (mean path delay E2E, mean link delay P2P), ns.
    pub delay_ns: i64,
    /// Arrival time of the Sync, local clock, ns: when the offset was true.
    pub local_time_ns: u64,
}

/// The master→slave half of a measurement.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_sync_times {
    /// Origin time at the master.
    pub t1: keel_ptp_timestamp,
    /// Sync arrival, local clock, ns (on the master's time scale).
    pub t2_ns: u64,
    /// Sum of the Sync and `Follow_Up` corrections, 2⁻¹⁶ ns.
    pub correction_q16: i64,
}

/// The slave→master half of an E2E measurement.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_delay_times {
    /// `Delay_Req` send time, local clock, ns.
    pub t3_ns: u64,
    /// `Delay_Req` arrival at the master.
    pub t4: keel_ptp_timestamp,
    /// The `Delay_Resp` correction, 2⁻¹⁶ ns.
    pub correction_q16: i64,
}

/// One peer-delay exchange.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_ptp_pdelay_times {
    /// `Pdelay_Req` send time, local clock, ns.
    pub t1_ns: u64,
    /// `Pdelay_Req` arrival at the peer (zero from a one-step responder).
    pub t2: keel_ptp_timestamp,
    /// `Pdelay_Resp` send time at the peer (zero from a one-step responder).
    pub t3: keel_ptp_timestamp,
    /// `Pdelay_Resp` arrival, local clock, ns.
    pub t4_ns: u64,
    /// `Pdelay_Resp` + `Pdelay_Resp_Follow_Up` corrections, 2⁻¹⁶ ns.
    pub correction_q16: i64,
}

/// Number of 64-bit words in [`keel_ptp_e2e`].
pub const KEEL_PTP_E2E_STORAGE_WORDS: usize = 32;

/// Caller-owned storage for an E2E slave measurement (one master): feed it
/// every Sync, `Follow_Up` and `Delay_Resp` and tell it when `Delay_Req`s
/// leave. Initialise with `keel_ptp_e2e_init()`.
#[repr(C)]
pub struct keel_ptp_e2e {
    _opaque: [u64; KEEL_PTP_E2E_STORAGE_WORDS],
}

const E2E_MAGIC: u64 = u64::from_le_bytes(*b"keelE2E1");

#[repr(C)]
struct E2eCell {
    magic: u64,
    slave: E2eSlave,
}

const _: () = assert!(
    size_of::<E2eCell>() <= size_of::<keel_ptp_e2e>()
        && align_of::<E2eCell>() <= align_of::<keel_ptp_e2e>(),
    "keel_ptp_e2e storage is too small or under-aligned: raise KEEL_PTP_E2E_STORAGE_WORDS"
);

/// The initialised E2E slave in `p`.
///
/// # Safety
/// `p` is NULL or points to a valid, aligned `keel_ptp_e2e` not otherwise
/// accessed during the borrow.
unsafe fn e2e_cell<'a>(p: *mut keel_ptp_e2e) -> Result<&'a mut E2eSlave, keel_status> {
    if p.is_null() {
        return Err(keel_status::NullPointer);
    }
    // SAFETY: non-NULL, aligned, at least 8 readable bytes.
    let magic = unsafe { p.cast::<u64>().read() };
    if magic != E2E_MAGIC {
        return Err(keel_status::NotInitialized);
    }
    // SAFETY: the magic is only written by `keel_ptp_e2e_init` together with a
    // valid `E2eCell`; size and alignment are asserted above.
    Ok(unsafe { &mut (*p.cast::<E2eCell>()).slave })
}

fn wire_status(e: w::Error) -> keel_status {
    match e {
        w::Error::Truncated | w::Error::BadLength => keel_status::PtpMalformed,
        w::Error::BadTimestamp => keel_status::PtpBadTimestamp,
        w::Error::BadTlv => keel_status::PtpBadTlv,
        _ => keel_status::Unknown,
    }
}

fn match_status(e: MatchError) -> keel_status {
    match e {
        MatchError::WrongMessageType => keel_status::PtpWrongMessageType,
        MatchError::SequenceMismatch => keel_status::PtpSequenceMismatch,
        MatchError::SourceMismatch => keel_status::PtpSourceMismatch,
        MatchError::NotForUs => keel_status::PtpNotForUs,
        MatchError::StepModeMismatch => keel_status::PtpStepModeMismatch,
        MatchError::NothingPending => keel_status::PtpNothingPending,
        _ => keel_status::Unknown,
    }
}

fn ts_out(t: PtpTimestamp) -> keel_ptp_timestamp {
    keel_ptp_timestamp {
        seconds: t.seconds(),
        nanoseconds: t.nanoseconds(),
    }
}

fn ts_in(t: &keel_ptp_timestamp) -> Result<PtpTimestamp, keel_status> {
    PtpTimestamp::new(t.seconds, t.nanoseconds).map_err(|_| keel_status::InvalidArgument)
}

fn port_out(p: PortIdentity) -> keel_ptp_port_identity {
    keel_ptp_port_identity {
        clock_identity: p.clock_identity.0,
        port_number: p.port_number,
    }
}

fn port_in(p: &keel_ptp_port_identity) -> PortIdentity {
    PortIdentity {
        clock_identity: ClockIdentity(p.clock_identity),
        port_number: p.port_number,
    }
}

fn sample_out(s: PtpSample) -> keel_ptp_sample {
    keel_ptp_sample {
        offset_ns: s.offset.as_nanos(),
        delay_ns: s.delay.as_nanos(),
        local_time_ns: s.local_time.as_nanos(),
    }
}

fn sync_out(s: SyncTimes) -> keel_ptp_sync_times {
    keel_ptp_sync_times {
        t1: ts_out(s.t1),
        t2_ns: s.t2.as_nanos(),
        correction_q16: s.correction.to_bits(),
    }
}

fn sync_in(s: &keel_ptp_sync_times) -> Result<SyncTimes, keel_status> {
    Ok(SyncTimes {
        t1: ts_in(&s.t1)?,
        t2: Timestamp::from_nanos(s.t2_ns),
        correction: TimeInterval::from_bits(s.correction_q16),
    })
}

fn pdelay_out(p: PdelayTimes) -> keel_ptp_pdelay_times {
    keel_ptp_pdelay_times {
        t1_ns: p.t1.as_nanos(),
        t2: ts_out(p.t2),
        t3: ts_out(p.t3),
        t4_ns: p.t4.as_nanos(),
        correction_q16: p.correction.to_bits(),
    }
}

fn pdelay_in(p: &keel_ptp_pdelay_times) -> Result<PdelayTimes, keel_status> {
    Ok(PdelayTimes {
        t1: Timestamp::from_nanos(p.t1_ns),
        t2: ts_in(&p.t2)?,
        t3: ts_in(&p.t3)?,
        t4: Timestamp::from_nanos(p.t4_ns),
        correction: TimeInterval::from_bits(p.correction_q16),
    })
}

/// Parses `len` bytes of message.
///
/// # Safety
/// `buf` is NULL or points to `len` readable bytes that outlive the result.
unsafe fn parse<'a>(buf: *const u8, len: usize) -> Result<Repr<'a>, keel_status> {
    // SAFETY: guaranteed by the caller.
    let b = unsafe { try_slice(buf, len) }?;
    Repr::parse_bytes(b).map_err(wire_status)
}

fn flatten(buf: &[u8], r: &Repr<'_>) -> keel_ptp_message {
    let h = &r.header;
    let mut out = keel_ptp_message {
        message_type: r.message_type().to_nibble(),
        version: h.version,
        minor_version: h.minor_version,
        domain_number: h.domain_number,
        sdo_id: h.sdo_id,
        flags: h.flags.0,
        correction_q16: h.correction.to_bits(),
        message_type_specific: h.message_type_specific,
        source_port_identity: port_out(h.source_port_identity),
        sequence_id: h.sequence_id,
        control_field: h.control_field,
        log_message_interval: h.log_message_interval,
        ..keel_ptp_message::default()
    };
    match r.body {
        Body::Sync { origin_timestamp }
        | Body::DelayReq { origin_timestamp }
        | Body::PdelayReq { origin_timestamp } => out.timestamp = ts_out(origin_timestamp),
        Body::FollowUp {
            precise_origin_timestamp,
        } => out.timestamp = ts_out(precise_origin_timestamp),
        Body::DelayResp {
            receive_timestamp: t,
            requesting_port_identity: p,
        }
        | Body::PdelayResp {
            request_receipt_timestamp: t,
            requesting_port_identity: p,
        }
        | Body::PdelayRespFollowUp {
            response_origin_timestamp: t,
            requesting_port_identity: p,
        } => {
            out.timestamp = ts_out(t);
            out.port_identity = port_out(p);
        }
        Body::Announce(a) => {
            out.timestamp = ts_out(a.origin_timestamp);
            out.current_utc_offset = a.current_utc_offset;
            out.grandmaster_priority1 = a.grandmaster_priority1;
            out.grandmaster_clock_class = a.grandmaster_clock_quality.clock_class;
            out.grandmaster_clock_accuracy = a.grandmaster_clock_quality.clock_accuracy;
            out.grandmaster_offset_scaled_log_variance =
                a.grandmaster_clock_quality.offset_scaled_log_variance;
            out.grandmaster_priority2 = a.grandmaster_priority2;
            out.grandmaster_identity = a.grandmaster_identity.0;
            out.steps_removed = a.steps_removed;
            out.time_source = a.time_source.to_u8();
        }
        Body::Signaling {
            target_port_identity,
        } => out.port_identity = port_out(target_port_identity),
        Body::Management(mg) => {
            out.port_identity = port_out(mg.target_port_identity);
            out.starting_boundary_hops = mg.starting_boundary_hops;
            out.boundary_hops = mg.boundary_hops;
            out.management_action = mg.action.to_nibble();
        }
        Body::Unknown(_) => {}
    }
    if !r.tlvs.is_empty() {
        out.tlv_offset = r.tlvs.as_ptr().addr().wrapping_sub(buf.as_ptr().addr());
        out.tlv_len = r.tlvs.len();
    }
    out
}

/// Parses a PTP message (`len` bytes at `buf`) into `*out`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_PTP_MALFORMED` (shorter
/// than the header, `messageLength` or the body), `KEEL_STATUS_PTP_BAD_TIMESTAMP`,
/// `KEEL_STATUS_PTP_BAD_TLV`.
///
/// # Safety
/// `buf` is NULL or points to `len` readable bytes; `out` is NULL or valid for
/// writing a `keel_ptp_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_parse(
    buf: *const u8,
    len: usize,
    out: *mut keel_ptp_message,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `buf` is NULL or `len` readable bytes.
        let b = unsafe { try_slice(buf, len) }?;
        check_out(out)?;
        let r = Repr::parse_bytes(b).map_err(wire_status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, flatten(b, &r)) };
        Ok(())
    })
}

/// `sizeof(keel_ptp_e2e)` as this library was built.
#[unsafe(no_mangle)]
pub extern "C" fn keel_ptp_e2e_storage_size() -> usize {
    size_of::<keel_ptp_e2e>()
}

/// Initialises an E2E slave on `own_port` following `master` (NULL: the first
/// port heard from).
///
/// Errors: `KEEL_STATUS_NULL_POINTER` (`e2e` or `own_port`).
///
/// # Safety
/// `e2e` is NULL or valid for writing a `keel_ptp_e2e`; `own_port` is NULL or
/// valid; `master` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_init(
    e2e: *mut keel_ptp_e2e,
    own_port: *const keel_ptp_port_identity,
    master: *const keel_ptp_port_identity,
) -> keel_status {
    ffi_boundary!({
        check_out(e2e)?;
        // SAFETY: the caller guarantees `own_port` is NULL or valid.
        let own = port_in(unsafe { try_ref(own_port) }?);
        let master = if master.is_null() {
            None
        } else {
            // SAFETY: non-NULL and valid per the caller.
            Some(port_in(unsafe { try_ref(master) }?))
        };
        let cell = E2eCell {
            magic: E2E_MAGIC,
            slave: E2eSlave::new(own, master),
        };
        // SAFETY: non-NULL, valid for a `keel_ptp_e2e`, which fits an `E2eCell`
        // (asserted above); the old contents hold nothing to drop.
        unsafe { e2e.cast::<E2eCell>().write(cell) };
        Ok(())
    })
}

/// Shared tail of the E2E message functions.
///
/// # Safety
/// `out` is non-NULL and valid for writing a `keel_ptp_sample`.
unsafe fn e2e_result(
    r: Result<Option<PtpSample>, MatchError>,
    out: *mut keel_ptp_sample,
) -> Result<(), keel_status> {
    let s = r.map_err(match_status)?.ok_or(keel_status::NeedMore)?;
    // SAFETY: guaranteed by the caller.
    unsafe { write_out(out, sample_out(s)) };
    Ok(())
}

/// A Sync (`len` bytes) arrived at local time `t2_ns` (on the master's time
/// scale). `KEEL_STATUS_OK` with a sample for a one-step Sync once a path
/// delay is known; `KEEL_STATUS_NEED_MORE` otherwise (a two-step Sync waits
/// for its `Follow_Up`).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`, the
/// parse errors of `keel_ptp_parse()`, `KEEL_STATUS_PTP_WRONG_MESSAGE_TYPE`,
/// `KEEL_STATUS_PTP_SOURCE_MISMATCH` (not from the master; nothing changes).
///
/// # Safety
/// `e2e` is NULL or points to a valid `keel_ptp_e2e`; `msg` is NULL or points
/// to `len` readable bytes; `out` is NULL or valid for writing a
/// `keel_ptp_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_sync(
    e2e: *mut keel_ptp_e2e,
    msg: *const u8,
    len: usize,
    t2_ns: u64,
    out: *mut keel_ptp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `e2e` is NULL or valid.
        let s = unsafe { e2e_cell(e2e) }?;
        check_out(out)?;
        // SAFETY: the caller guarantees `msg` is NULL or `len` readable bytes.
        let r = unsafe { parse(msg, len) }?;
        // SAFETY: `out` checked non-NULL above.
        unsafe { e2e_result(s.sync(&r, Timestamp::from_nanos(t2_ns)), out) }
    })
}

/// A `Follow_Up` (`len` bytes) arrived. `KEEL_STATUS_OK` with a sample once a
/// path delay is known, else `KEEL_STATUS_NEED_MORE`.
///
/// Errors: as `keel_ptp_e2e_sync()`, plus `KEEL_STATUS_PTP_NOTHING_PENDING`
/// and `KEEL_STATUS_PTP_SEQUENCE_MISMATCH`.
///
/// # Safety
/// As `keel_ptp_e2e_sync()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_follow_up(
    e2e: *mut keel_ptp_e2e,
    msg: *const u8,
    len: usize,
    out: *mut keel_ptp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `e2e` is NULL or valid.
        let s = unsafe { e2e_cell(e2e) }?;
        check_out(out)?;
        // SAFETY: the caller guarantees `msg` is NULL or `len` readable bytes.
        let r = unsafe { parse(msg, len) }?;
        // SAFETY: `out` checked non-NULL above.
        unsafe { e2e_result(s.follow_up(&r), out) }
    })
}

/// Our `Delay_Req` with `sequence_id` left at local time `t3_ns`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `e2e` is NULL or points to a valid `keel_ptp_e2e`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_delay_req_sent(
    e2e: *mut keel_ptp_e2e,
    sequence_id: u16,
    t3_ns: u64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `e2e` is NULL or valid.
        let s = unsafe { e2e_cell(e2e) }?;
        s.delay_req_sent(sequence_id, Timestamp::from_nanos(t3_ns));
        Ok(())
    })
}

/// A `Delay_Resp` (`len` bytes) arrived: updates the mean path delay and,
/// with a Sync already measured, gives a full sample (`KEEL_STATUS_OK`);
/// `KEEL_STATUS_NEED_MORE` when no Sync has completed yet.
///
/// Errors: as `keel_ptp_e2e_sync()`, plus `KEEL_STATUS_PTP_NOTHING_PENDING`,
/// `KEEL_STATUS_PTP_NOT_FOR_US`, `KEEL_STATUS_PTP_SEQUENCE_MISMATCH`.
///
/// # Safety
/// As `keel_ptp_e2e_sync()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_delay_resp(
    e2e: *mut keel_ptp_e2e,
    msg: *const u8,
    len: usize,
    out: *mut keel_ptp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `e2e` is NULL or valid.
        let s = unsafe { e2e_cell(e2e) }?;
        check_out(out)?;
        // SAFETY: the caller guarantees `msg` is NULL or `len` readable bytes.
        let r = unsafe { parse(msg, len) }?;
        // SAFETY: `out` checked non-NULL above.
        unsafe { e2e_result(s.delay_resp(&r), out) }
    })
}

/// The last mean path delay measured, ns.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNAVAILABLE` (no delay exchange completed yet).
///
/// # Safety
/// `e2e` is NULL or points to a valid `keel_ptp_e2e`; `out_ns` is NULL or valid
/// for writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_mean_path_delay(
    e2e: *const keel_ptp_e2e,
    out_ns: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `e2e` is NULL or valid; only read.
        let s = unsafe { e2e_cell(e2e.cast_mut()) }?;
        check_out(out_ns)?;
        let d = s.mean_path_delay().ok_or(keel_status::Unavailable)?;
        // SAFETY: `out_ns` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_ns, d.as_nanos()) };
        Ok(())
    })
}

/// The master→slave half from a one-step Sync (`len` bytes, twoStepFlag
/// clear) that arrived at local time `t2_ns`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, parse errors,
/// `KEEL_STATUS_PTP_WRONG_MESSAGE_TYPE`, `KEEL_STATUS_PTP_STEP_MODE_MISMATCH`.
///
/// # Safety
/// `sync` is NULL or points to `len` readable bytes; `out` is NULL or valid
/// for writing a `keel_ptp_sync_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_sync_times_one_step(
    sync: *const u8,
    len: usize,
    t2_ns: u64,
    out: *mut keel_ptp_sync_times,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `sync` is NULL or `len` readable bytes.
        let r = unsafe { parse(sync, len) }?;
        let s = SyncTimes::one_step(&r, Timestamp::from_nanos(t2_ns)).map_err(match_status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sync_out(s)) };
        Ok(())
    })
}

/// The master→slave half from a two-step Sync that arrived at `t2_ns` and its
/// `Follow_Up`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, parse errors, `_WRONG_MESSAGE_TYPE`,
/// `_STEP_MODE_MISMATCH`, `_SOURCE_MISMATCH`, `_SEQUENCE_MISMATCH`.
///
/// # Safety
/// `sync`/`follow_up` are NULL or point to `sync_len`/`follow_up_len`
/// readable bytes; `out` is NULL or valid for writing a `keel_ptp_sync_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_sync_times_two_step(
    sync: *const u8,
    sync_len: usize,
    t2_ns: u64,
    follow_up: *const u8,
    follow_up_len: usize,
    out: *mut keel_ptp_sync_times,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `sync` is NULL or `sync_len` bytes.
        let s = unsafe { parse(sync, sync_len) }?;
        // SAFETY: the caller guarantees `follow_up` is NULL or `follow_up_len` bytes.
        let f = unsafe { parse(follow_up, follow_up_len) }?;
        let t = SyncTimes::two_step(&s, Timestamp::from_nanos(t2_ns), &f).map_err(match_status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sync_out(t)) };
        Ok(())
    })
}

/// The slave→master half from the `Delay_Resp` (`len` bytes) to our
/// `Delay_Req` (`sequence_id`, sent at local `t3_ns` from `own_port`).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, parse errors, `_WRONG_MESSAGE_TYPE`,
/// `_NOT_FOR_US`, `_SEQUENCE_MISMATCH`.
///
/// # Safety
/// `own_port` is NULL or valid; `resp` is NULL or points to `len` readable
/// bytes; `out` is NULL or valid for writing a `keel_ptp_delay_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_delay_times_from_resp(
    own_port: *const keel_ptp_port_identity,
    sequence_id: u16,
    t3_ns: u64,
    resp: *const u8,
    len: usize,
    out: *mut keel_ptp_delay_times,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `own_port` is NULL or valid.
        let own = port_in(unsafe { try_ref(own_port) }?);
        check_out(out)?;
        // SAFETY: the caller guarantees `resp` is NULL or `len` readable bytes.
        let r = unsafe { parse(resp, len) }?;
        let d = DelayTimes::from_delay_resp(own, sequence_id, Timestamp::from_nanos(t3_ns), &r)
            .map_err(match_status)?;
        let v = keel_ptp_delay_times {
            t3_ns: d.t3.as_nanos(),
            t4: ts_out(d.t4),
            correction_q16: d.correction.to_bits(),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// The E2E sample from one Sync and one delay exchange: offset
/// `((t2 − t1 − c_s) − (t4 − t3 − c_r)) / 2`, delay the mean path delay
/// `(... + ...) / 2`, rounded to ns, saturating.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT` (a
/// timestamp with nanoseconds ≥ 10⁹ or seconds ≥ 2⁴⁸).
///
/// # Safety
/// `sync` and `delay` are NULL or valid; `out` is NULL or valid for writing a
/// `keel_ptp_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_e2e_sample(
    sync: *const keel_ptp_sync_times,
    delay: *const keel_ptp_delay_times,
    out: *mut keel_ptp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `sync` is NULL or valid.
        let s = sync_in(unsafe { try_ref(sync) }?)?;
        // SAFETY: the caller guarantees `delay` is NULL or valid.
        let d = unsafe { try_ref(delay) }?;
        check_out(out)?;
        let d = DelayTimes {
            t3: Timestamp::from_nanos(d.t3_ns),
            t4: ts_in(&d.t4)?,
            correction: TimeInterval::from_bits(d.correction_q16),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sample_out(m::e2e_sample(&s, &d))) };
        Ok(())
    })
}

/// A peer-delay exchange from a one-step `Pdelay_Resp` (`len` bytes) to our
/// `Pdelay_Req` (`sequence_id`, sent at local `t1_ns` from `own_port`),
/// received at local `t4_ns`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, parse errors, `_WRONG_MESSAGE_TYPE`,
/// `_NOT_FOR_US`, `_SEQUENCE_MISMATCH`, `_STEP_MODE_MISMATCH`.
///
/// # Safety
/// `own_port` is NULL or valid; `resp` is NULL or points to `len` readable
/// bytes; `out` is NULL or valid for writing a `keel_ptp_pdelay_times`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_pdelay_one_step(
    own_port: *const keel_ptp_port_identity,
    sequence_id: u16,
    t1_ns: u64,
    resp: *const u8,
    len: usize,
    t4_ns: u64,
    out: *mut keel_ptp_pdelay_times,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `own_port` is NULL or valid.
        let own = port_in(unsafe { try_ref(own_port) }?);
        check_out(out)?;
        // SAFETY: the caller guarantees `resp` is NULL or `len` readable bytes.
        let r = unsafe { parse(resp, len) }?;
        let p = PdelayTimes::one_step(
            own,
            sequence_id,
            Timestamp::from_nanos(t1_ns),
            &r,
            Timestamp::from_nanos(t4_ns),
        )
        .map_err(match_status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, pdelay_out(p)) };
        Ok(())
    })
}

/// A peer-delay exchange from a two-step `Pdelay_Resp` and its
/// `Pdelay_Resp_Follow_Up`.
///
/// Errors: as `keel_ptp_pdelay_one_step()`, plus `_SOURCE_MISMATCH`.
///
/// # Safety
/// As `keel_ptp_pdelay_one_step()`; `follow_up` is NULL or points to
/// `follow_up_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_pdelay_two_step(
    own_port: *const keel_ptp_port_identity,
    sequence_id: u16,
    t1_ns: u64,
    resp: *const u8,
    resp_len: usize,
    t4_ns: u64,
    follow_up: *const u8,
    follow_up_len: usize,
    out: *mut keel_ptp_pdelay_times,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `own_port` is NULL or valid.
        let own = port_in(unsafe { try_ref(own_port) }?);
        check_out(out)?;
        // SAFETY: the caller guarantees `resp` is NULL or `resp_len` readable bytes.
        let r = unsafe { parse(resp, resp_len) }?;
        // SAFETY: the caller guarantees `follow_up` is NULL or `follow_up_len` bytes.
        let f = unsafe { parse(follow_up, follow_up_len) }?;
        let p = PdelayTimes::two_step(
            own,
            sequence_id,
            Timestamp::from_nanos(t1_ns),
            &r,
            Timestamp::from_nanos(t4_ns),
            &f,
        )
        .map_err(match_status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, pdelay_out(p)) };
        Ok(())
    })
}

/// Mean link delay `(r·(t4 − t1) − (t3 − t2) − c) / 2`, ns, with
/// `r = 1 + neighbor_rate_ratio` (ppb 32.32; pass 0 when unknown).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT` (bad
/// timestamp).
///
/// # Safety
/// `pdelay` is NULL or valid; `out_ns` is NULL or valid for writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_mean_link_delay(
    pdelay: *const keel_ptp_pdelay_times,
    neighbor_rate_ratio_ppb_q32: i64,
    out_ns: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `pdelay` is NULL or valid.
        let p = pdelay_in(unsafe { try_ref(pdelay) }?)?;
        check_out(out_ns)?;
        let d = p.mean_link_delay(Ppb::from_bits(neighbor_rate_ratio_ppb_q32));
        // SAFETY: `out_ns` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_ns, d.as_nanos()) };
        Ok(())
    })
}

/// Neighbour rate ratio − 1 (ppb 32.32; positive: the peer's clock runs
/// faster) from two two-step exchanges: `(t3' − t3) / (t4' − t4) − 1`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT` (bad
/// timestamp), `KEEL_STATUS_UNAVAILABLE` (local interval not positive, or a
/// one-step responder gave no `t3`).
///
/// # Safety
/// `earlier` and `later` are NULL or valid; `out_q32` is NULL or valid for
/// writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_neighbor_rate_ratio(
    earlier: *const keel_ptp_pdelay_times,
    later: *const keel_ptp_pdelay_times,
    out_q32: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `earlier` is NULL or valid.
        let a = pdelay_in(unsafe { try_ref(earlier) }?)?;
        // SAFETY: the caller guarantees `later` is NULL or valid.
        let b = pdelay_in(unsafe { try_ref(later) }?)?;
        check_out(out_q32)?;
        let r = m::neighbor_rate_ratio(&a, &b).ok_or(keel_status::Unavailable)?;
        // SAFETY: `out_q32` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_q32, r.to_bits()) };
        Ok(())
    })
}

/// P2P offset from a Sync and the mean link delay to the peer (ns):
/// `t2 − t1 − c − meanLinkDelay` (local − master).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT` (bad
/// timestamp).
///
/// # Safety
/// `sync` is NULL or valid; `out` is NULL or valid for writing a `keel_ptp_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_ptp_p2p_sample(
    sync: *const keel_ptp_sync_times,
    mean_link_delay_ns: i64,
    out: *mut keel_ptp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `sync` is NULL or valid.
        let s = sync_in(unsafe { try_ref(sync) }?)?;
        check_out(out)?;
        let p = m::p2p_sample(&s, Duration::from_nanos(mean_link_delay_ns));
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sample_out(p)) };
        Ok(())
    })
}
