//! The vmclock shared page (Linux `vmclock-abi.h`).

use keel_core::wire::vmclock::{
    self as v, ClockStatus, CounterId, Error, Flags, LeapIndicator, SmearingHint, Snapshot,
    TimeType,
};

use crate::{check_out, ffi_boundary, keel_status, try_ref, try_slice, write_out};

/// Bytes of a page copy without `vm_generation_counter` (the least to parse).
pub const KEEL_VMCLOCK_BASE_LEN: usize = 104;
/// Bytes of a page copy with `vm_generation_counter`.
pub const KEEL_VMCLOCK_FULL_LEN: usize = 112;
const _: () = assert!(KEEL_VMCLOCK_BASE_LEN == v::BASE_LEN && KEEL_VMCLOCK_FULL_LEN == v::FULL_LEN);

/// One consistent copy of the page's fields (raw values as in
/// `vmclock-abi.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_vmclock_snapshot {
    /// `size`: the region size.
    pub size: u32,
    /// `seq_count` as copied.
    pub seq_count: u32,
    /// `disruption_marker`: changes after every counter disruption (live
    /// migration, restore); when it differs from the last value seen, call
    /// `keel_servo_disruption()`.
    pub disruption_marker: u64,
    /// `flags` (`VMCLOCK_FLAG_*` bits).
    pub flags: u64,
    /// `counter_value`, C₁.
    pub counter_value: u64,
    /// `counter_period_frac_sec`, P in 2^-(64+shift) s.
    pub counter_period_frac_sec: u64,
    /// `counter_period_esterror_rate_frac_sec`.
    pub counter_period_esterror_rate_frac_sec: u64,
    /// `counter_period_maxerror_rate_frac_sec`.
    pub counter_period_maxerror_rate_frac_sec: u64,
    /// `time_sec`, whole seconds of T₁.
    pub time_sec: u64,
    /// `time_frac_sec`, fraction of T₁ in 2⁻⁶⁴ s.
    pub time_frac_sec: u64,
    /// `time_esterror_nanosec`.
    pub time_esterror_nanosec: u64,
    /// `time_maxerror_nanosec`.
    pub time_maxerror_nanosec: u64,
    /// `vm_generation_counter`; valid when `has_vm_generation_counter`.
    pub vm_generation_counter: u64,
    /// `tai_offset_sec`: TAI − UTC, s.
    pub tai_offset_sec: i16,
    /// `counter_id` (0 ARM VCNT, 1 x86 TSC, 255 invalid).
    pub counter_id: u8,
    /// `time_type` (0 UTC, 1 TAI, 2 monotonic, 3/4 smeared).
    pub time_type: u8,
    /// `clock_status` (0 unknown, 1 initializing, 2 synchronized, 3 free
    /// running, 4 unreliable).
    pub clock_status: u8,
    /// `leap_second_smearing_hint`.
    pub smearing_hint: u8,
    /// `leap_indicator`.
    pub leap_indicator: u8,
    /// `counter_period_shift`.
    pub counter_period_shift: u8,
    /// Whether the copy was long enough to hold `vm_generation_counter`.
    pub has_vm_generation_counter: bool,
}

/// What a counter value means according to a snapshot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_vmclock_reading {
    /// The time on the page's scale (`time_type`), ns since its epoch.
    pub time_ns: u64,
    /// The time on the UTC scale, ns (a TAI page converted with its TAI
    /// offset); valid when `has_utc`.
    pub utc_ns: u64,
    /// Maximum error, ns (the true time is within `time_ns ± max_error_ns`);
    /// valid when `has_max_error`.
    pub max_error_ns: i64,
    /// Estimated error (one standard deviation), ns; valid when `has_est_error`.
    pub est_error_ns: i64,
    /// The disruption marker this reading belongs to.
    pub disruption_marker: u64,
    /// TAI − UTC, s; valid when `has_tai_offset`.
    pub tai_offset_sec: i16,
    /// The page's time scale (`time_type`).
    pub time_type: u8,
    /// `leap_indicator`.
    pub leap_indicator: u8,
    /// `clock_status`.
    pub clock_status: u8,
    /// Whether `utc_ns` is valid.
    pub has_utc: bool,
    /// Whether `max_error_ns` is valid.
    pub has_max_error: bool,
    /// Whether `est_error_ns` is valid.
    pub has_est_error: bool,
    /// Whether `tai_offset_sec` is valid.
    pub has_tai_offset: bool,
}

fn status(e: Error) -> keel_status {
    match e {
        Error::Truncated => keel_status::VmclockTruncated,
        Error::BadMagic => keel_status::VmclockBadMagic,
        Error::UnsupportedVersion => keel_status::VmclockUnsupportedVersion,
        Error::UpdateInProgress => keel_status::VmclockUpdateInProgress,
        Error::Changed => keel_status::VmclockChanged,
        Error::NoClock => keel_status::VmclockNoClock,
        Error::UnsupportedTimeType => keel_status::VmclockUnsupportedTimeType,
        Error::Unreliable => keel_status::VmclockUnreliable,
        Error::OutOfRange => keel_status::VmclockOutOfRange,
        _ => keel_status::Unknown,
    }
}

fn snap_out(s: &Snapshot) -> keel_vmclock_snapshot {
    keel_vmclock_snapshot {
        size: s.size,
        seq_count: s.seq_count,
        disruption_marker: s.disruption_marker,
        flags: s.flags.0,
        counter_value: s.counter_value,
        counter_period_frac_sec: s.counter_period_frac_sec,
        counter_period_esterror_rate_frac_sec: s.counter_period_esterror_rate_frac_sec,
        counter_period_maxerror_rate_frac_sec: s.counter_period_maxerror_rate_frac_sec,
        time_sec: s.time_sec,
        time_frac_sec: s.time_frac_sec,
        time_esterror_nanosec: s.time_esterror_nanosec,
        time_maxerror_nanosec: s.time_maxerror_nanosec,
        vm_generation_counter: s.vm_generation_counter.unwrap_or(0),
        tai_offset_sec: s.tai_offset_sec,
        counter_id: s.counter_id.to_u8(),
        time_type: s.time_type.to_u8(),
        clock_status: s.clock_status.to_u8(),
        smearing_hint: s.smearing_hint.to_u8(),
        leap_indicator: s.leap_indicator.to_u8(),
        counter_period_shift: s.counter_period_shift,
        has_vm_generation_counter: s.vm_generation_counter.is_some(),
    }
}

fn snap_in(s: &keel_vmclock_snapshot) -> Snapshot {
    Snapshot {
        size: s.size,
        counter_id: CounterId::from_u8(s.counter_id),
        time_type: TimeType::from_u8(s.time_type),
        seq_count: s.seq_count,
        disruption_marker: s.disruption_marker,
        flags: Flags(s.flags),
        clock_status: ClockStatus::from_u8(s.clock_status),
        smearing_hint: SmearingHint::from_u8(s.smearing_hint),
        tai_offset_sec: s.tai_offset_sec,
        leap_indicator: LeapIndicator::from_u8(s.leap_indicator),
        counter_period_shift: s.counter_period_shift,
        counter_value: s.counter_value,
        counter_period_frac_sec: s.counter_period_frac_sec,
        counter_period_esterror_rate_frac_sec: s.counter_period_esterror_rate_frac_sec,
        counter_period_maxerror_rate_frac_sec: s.counter_period_maxerror_rate_frac_sec,
        time_sec: s.time_sec,
        time_frac_sec: s.time_frac_sec,
        time_esterror_nanosec: s.time_esterror_nanosec,
        time_maxerror_nanosec: s.time_maxerror_nanosec,
        vm_generation_counter: s
            .has_vm_generation_counter
            .then_some(s.vm_generation_counter),
    }
}

/// Parses a copy of the page (`len` ≥ `KEEL_VMCLOCK_BASE_LEN` bytes) without
/// checking `seq_count` (use `keel_vmclock_read_consistent()` for that).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_VMCLOCK_TRUNCATED`,
/// `_BAD_MAGIC`, `_UNSUPPORTED_VERSION`.
///
/// # Safety
/// `page` is NULL or points to `len` readable bytes; `out` is NULL or valid
/// for writing a `keel_vmclock_snapshot`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_vmclock_parse(
    page: *const u8,
    len: usize,
    out: *mut keel_vmclock_snapshot,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `page` is NULL or `len` readable bytes.
        let p = unsafe { try_slice(page, len) }?;
        check_out(out)?;
        let s = Snapshot::parse(p).map_err(status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, snap_out(&s)) };
        Ok(())
    })
}

/// Reads a consistent snapshot: `page` is a copy of the page taken first,
/// `second_seq_count` the page's `seq_count` read again after the copy and
/// after reading the CPU counter.
///
/// Errors: as `keel_vmclock_parse()`, plus `KEEL_STATUS_VMCLOCK_UPDATE_IN_PROGRESS`
/// and `KEEL_STATUS_VMCLOCK_CHANGED`: copy again and retry.
///
/// # Safety
/// As `keel_vmclock_parse()`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_vmclock_read_consistent(
    page: *const u8,
    len: usize,
    second_seq_count: u32,
    out: *mut keel_vmclock_snapshot,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `page` is NULL or `len` readable bytes.
        let p = unsafe { try_slice(page, len) }?;
        check_out(out)?;
        let s = v::read_consistent(p, second_seq_count).map_err(status)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, snap_out(&s)) };
        Ok(())
    })
}

/// The time at CPU counter value `counter` (TSC or CNTVCT read between the
/// page copy and the second `seq_count` read): `T₁ + P·(C − C₁)` and its error
/// bounds.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_VMCLOCK_NO_CLOCK`,
/// `_UNSUPPORTED_TIME_TYPE`, `_UNRELIABLE`, `_OUT_OF_RANGE`.
///
/// # Safety
/// `snapshot` is NULL or valid; `out` is NULL or valid for writing a
/// `keel_vmclock_reading`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_vmclock_time_at(
    snapshot: *const keel_vmclock_snapshot,
    counter: u64,
    out: *mut keel_vmclock_reading,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `snapshot` is NULL or valid.
        let s = snap_in(unsafe { try_ref(snapshot) }?);
        check_out(out)?;
        let r = s.time_at(counter).map_err(status)?;
        let utc = r.utc();
        let v = keel_vmclock_reading {
            time_ns: r.time.as_nanos(),
            utc_ns: utc.map_or(0, |t| t.as_nanos()),
            max_error_ns: r.max_error.map_or(0, |d| d.as_nanos()),
            est_error_ns: r.est_error.map_or(0, |d| d.as_nanos()),
            disruption_marker: r.disruption_marker,
            tai_offset_sec: r.tai_offset.map_or(0, |o| o.0),
            time_type: r.time_type.to_u8(),
            leap_indicator: r.leap_indicator.to_u8(),
            clock_status: r.clock_status.to_u8(),
            has_utc: utc.is_some(),
            has_max_error: r.max_error.is_some(),
            has_est_error: r.est_error.is_some(),
            has_tai_offset: r.tai_offset.is_some(),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}
