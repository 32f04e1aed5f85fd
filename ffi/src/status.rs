//! Status codes.

use core::ffi::c_char;

/// What every fallible function returns. `KEEL_STATUS_OK` (0) is success; the
/// numbers are stable and never reused (a retired code stays listed as a
/// comment). Codes 1–99 are general, 100–199 NTP, 200–299 PTP, 300–399
/// vmclock, 400–499 the time page (`keel_clock_*`). `keel_status_str()` names any of them.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_status {
    /// Success; outputs were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// An argument is out of range (an unknown enum value, a count of zero,
    /// a timestamp with nanoseconds ≥ 10⁹, ...).
    InvalidArgument = 2,
    /// The object was not initialised (or was deinitialised): call its
    /// `_init` function first.
    NotInitialized = 3,
    /// A config struct's `struct_size` is not `sizeof` of the struct this
    /// library was built with.
    StructSize = 4,
    /// An output buffer is too small; nothing was written.
    BufferTooSmall = 5,
    /// A bug inside keel panicked; the object involved may be inconsistent
    /// and should be re-initialised.
    Panic = 6,
    /// The message was accepted but no result is ready yet (e.g. a two-step
    /// Sync waiting for its `Follow_Up`); nothing was written.
    NeedMore = 7,
    /// No usable sample (e.g. every PHC triple had a negative interval).
    NoSample = 8,
    /// The value asked for is not available (e.g. the PI servo gives no
    /// error bound).
    Unavailable = 9,
    /// An error keel does not know how to classify (a newer core error).
    Unknown = 10,
    /// No room for another item (e.g. the engine already has
    /// `KEEL_ENGINE_MAX_SOURCES` sources); nothing changed.
    NoCapacity = 11,
    /// An engine answer (`keel_engine_on_*`) that does not fit the command
    /// the last `keel_engine_poll` returned; nothing changed.
    UnexpectedAnswer = 12,

    /// NTP: the bytes are not an NTP packet (too short, bad extension fields or MAC).
    NtpMalformed = 100,
    /// NTP: the reply's mode is not "server".
    NtpNotServerMode = 101,
    /// NTP: unsupported version (reply not 3 or 4; request not 1–4).
    NtpBadVersion = 102,
    /// NTP: the reply's origin timestamp does not echo the request's cookie
    /// (stale, duplicate or spoofed).
    NtpOriginMismatch = 103,
    /// NTP: Kiss-o'-Death `RATE`: poll less often (`keel_ntp_backoff_poll()`).
    NtpKissRate = 104,
    /// NTP: Kiss-o'-Death `DENY` or `RSTR`: stop using this server.
    NtpKissDeny = 105,
    /// NTP: another Kiss-o'-Death code: drop the packet and carry on.
    NtpKissOther = 106,
    /// NTP: the reply's receive or transmit timestamp is zero.
    NtpZeroTimestamp = 107,
    /// NTP: the server is not synchronised (leap 3 or stratum ≥ 16).
    NtpUnsynchronized = 108,
    /// NTP: the server's transmit timestamp precedes its receive timestamp.
    NtpInconsistent = 109,
    /// NTP: root distance above the configured limit.
    NtpRootDistance = 110,
    /// NTP (server): the request's mode is not "client".
    NtpNotClientRequest = 111,

    /// PTP: shorter than its header, `messageLength` or body, or `messageLength` too small.
    PtpMalformed = 200,
    /// PTP: a timestamp's nanoseconds field is 10⁹ or more.
    PtpBadTimestamp = 201,
    /// PTP: a TLV runs past the end of the message.
    PtpBadTlv = 202,
    /// PTP: not the message type this call expects.
    PtpWrongMessageType = 203,
    /// PTP: the sequence id does not match the pending message.
    PtpSequenceMismatch = 204,
    /// PTP: from another port than the pending message or the master followed.
    PtpSourceMismatch = 205,
    /// PTP: a response addressed to another port.
    PtpNotForUs = 206,
    /// PTP: the twoStepFlag says the opposite of how the message is used.
    PtpStepModeMismatch = 207,
    /// PTP: nothing is pending that this message could complete.
    PtpNothingPending = 208,

    /// vmclock: the page copy is shorter than the structure.
    VmclockTruncated = 300,
    /// vmclock: the magic is not "VCLK".
    VmclockBadMagic = 301,
    /// vmclock: the structure version is not 1.
    VmclockUnsupportedVersion = 302,
    /// vmclock: the hypervisor was updating the page (odd `seq_count`): retry.
    VmclockUpdateInProgress = 303,
    /// vmclock: `seq_count` changed while reading: retry.
    VmclockChanged = 304,
    /// vmclock: the page carries no counter (disruption signal only).
    VmclockNoClock = 305,
    /// vmclock: the time type is smeared or unknown.
    VmclockUnsupportedTimeType = 306,
    /// vmclock: the clock status is UNRELIABLE.
    VmclockUnreliable = 307,
    /// vmclock: the computed time does not fit 64-bit nanoseconds.
    VmclockOutOfRange = 308,
    /// vmclock: the device could not be opened or mapped (`errno` says why).
    VmclockOpen = 309,

    /// Time page: the file could not be opened or mapped (no such file: is
    /// `keel sync` running? no permission: the page is readable by its
    /// group; `errno` says why).
    TimePageOpen = 400,
    /// Time page: the file is not a keel time page of layout version 1.
    TimePageNotAPage = 401,
    /// Time page: the daemon has not written it yet: retry later.
    TimePageNotWritten = 402,
    /// Time page: it was being written at every try: retry.
    TimePageBusy = 403,
    /// Time page: the clocks read before the page's snapshot
    /// (`CLOCK_REALTIME` stepped back since it was taken).
    TimePageCausality = 404,
}

/// Every status, in number order (for `keel_status_str` and tests).
const ALL: &[(keel_status, &str)] = &[
    (keel_status::Ok, "OK\0"),
    (
        keel_status::NullPointer,
        "a required pointer argument was NULL\0",
    ),
    (
        keel_status::InvalidArgument,
        "an argument is out of range\0",
    ),
    (
        keel_status::NotInitialized,
        "object not initialised: call its _init function first\0",
    ),
    (
        keel_status::StructSize,
        "struct_size does not match this library's struct\0",
    ),
    (keel_status::BufferTooSmall, "output buffer too small\0"),
    (keel_status::Panic, "internal error: keel panicked\0"),
    (keel_status::NeedMore, "accepted; no result yet\0"),
    (keel_status::NoSample, "no usable sample\0"),
    (keel_status::Unavailable, "value not available\0"),
    (keel_status::Unknown, "unclassified error\0"),
    (keel_status::NoCapacity, "no room for another item\0"),
    (
        keel_status::UnexpectedAnswer,
        "answer does not fit the engine's last command\0",
    ),
    (keel_status::NtpMalformed, "NTP packet malformed\0"),
    (
        keel_status::NtpNotServerMode,
        "NTP reply mode is not server\0",
    ),
    (keel_status::NtpBadVersion, "NTP version not supported\0"),
    (
        keel_status::NtpOriginMismatch,
        "NTP reply origin does not match the request (stale or spoofed)\0",
    ),
    (
        keel_status::NtpKissRate,
        "NTP Kiss-o'-Death RATE: reduce the poll rate\0",
    ),
    (
        keel_status::NtpKissDeny,
        "NTP Kiss-o'-Death DENY/RSTR: stop using this server\0",
    ),
    (keel_status::NtpKissOther, "NTP Kiss-o'-Death: ignore\0"),
    (
        keel_status::NtpZeroTimestamp,
        "NTP reply has a zero receive or transmit timestamp\0",
    ),
    (
        keel_status::NtpUnsynchronized,
        "NTP server is not synchronised\0",
    ),
    (
        keel_status::NtpInconsistent,
        "NTP server transmit precedes its receive timestamp\0",
    ),
    (
        keel_status::NtpRootDistance,
        "NTP server root distance above the limit\0",
    ),
    (
        keel_status::NtpNotClientRequest,
        "NTP request mode is not client\0",
    ),
    (
        keel_status::PtpMalformed,
        "PTP message shorter than its header, length or body\0",
    ),
    (
        keel_status::PtpBadTimestamp,
        "PTP timestamp nanoseconds field is 1e9 or more\0",
    ),
    (
        keel_status::PtpBadTlv,
        "PTP TLV runs past the end of the message\0",
    ),
    (
        keel_status::PtpWrongMessageType,
        "PTP message of the wrong type for this call\0",
    ),
    (
        keel_status::PtpSequenceMismatch,
        "PTP sequenceId does not match the pending message\0",
    ),
    (
        keel_status::PtpSourceMismatch,
        "PTP message from another port than expected\0",
    ),
    (
        keel_status::PtpNotForUs,
        "PTP response addressed to another port\0",
    ),
    (
        keel_status::PtpStepModeMismatch,
        "PTP twoStepFlag does not fit this use of the message\0",
    ),
    (
        keel_status::PtpNothingPending,
        "PTP message answers nothing pending\0",
    ),
    (
        keel_status::VmclockTruncated,
        "vmclock page shorter than its structure\0",
    ),
    (keel_status::VmclockBadMagic, "vmclock magic is not VCLK\0"),
    (
        keel_status::VmclockUnsupportedVersion,
        "vmclock structure version is not 1\0",
    ),
    (
        keel_status::VmclockUpdateInProgress,
        "vmclock page is being updated; retry\0",
    ),
    (
        keel_status::VmclockChanged,
        "vmclock seq_count changed while reading; retry\0",
    ),
    (
        keel_status::VmclockNoClock,
        "vmclock page carries no counter\0",
    ),
    (
        keel_status::VmclockUnsupportedTimeType,
        "vmclock time type is smeared or unknown\0",
    ),
    (
        keel_status::VmclockUnreliable,
        "vmclock clock status is UNRELIABLE\0",
    ),
    (
        keel_status::VmclockOutOfRange,
        "vmclock time does not fit 64-bit nanoseconds\0",
    ),
    (
        keel_status::VmclockOpen,
        "vmclock device could not be opened or mapped\0",
    ),
    (
        keel_status::TimePageOpen,
        "time page could not be opened or mapped (is keel sync running?)\0",
    ),
    (
        keel_status::TimePageNotAPage,
        "not a keel time page of layout version 1\0",
    ),
    (
        keel_status::TimePageNotWritten,
        "time page not written yet; retry\0",
    ),
    (
        keel_status::TimePageBusy,
        "time page was being written at every try; retry\0",
    ),
    (
        keel_status::TimePageCausality,
        "the clock reads before the time page's snapshot (stepped back?)\0",
    ),
];

/// A static, NUL-terminated English description of a status code. Takes a
/// plain integer, so any value is safe: an unknown code gives
/// `"unknown status code"`. Never NULL; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn keel_status_str(status: i32) -> *const c_char {
    let s = ALL
        .iter()
        .find(|(k, _)| *k as i32 == status)
        .map_or("unknown status code\0", |(_, s)| s);
    s.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated_and_unique() {
        for (i, (k, s)) in ALL.iter().enumerate() {
            assert!(
                s.ends_with('\0') && s.find('\0') == Some(s.len() - 1),
                "{k:?}"
            );
            for (k2, _) in ALL.iter().skip(i + 1) {
                assert!((*k as i32) < (*k2 as i32), "ALL is in number order");
            }
        }
    }
}
