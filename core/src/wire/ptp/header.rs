//! The common header (§13.3): field offsets, its field types, and [`Header`].

#![allow(clippy::wildcard_imports)]

use super::*;

pub(super) mod field {
    pub const TYPE: usize = 0;
    pub const VERSION: usize = 1;
    pub const LENGTH: usize = 2;
    pub const DOMAIN: usize = 4;
    pub const MINOR_SDO: usize = 5;
    pub const FLAGS: usize = 6;
    pub const CORRECTION: usize = 8;
    pub const TYPE_SPECIFIC: usize = 16;
    pub const SOURCE_PORT: usize = 20;
    pub const SEQUENCE: usize = 30;
    pub const CONTROL: usize = 32;
    pub const LOG_INTERVAL: usize = 33;
    pub const BODY: usize = 34;
    // Announce body, from BODY
    pub const ANN_UTC_OFFSET: usize = BODY + 10;
    pub const ANN_PRIORITY1: usize = BODY + 13;
    pub const ANN_QUALITY: usize = BODY + 14;
    pub const ANN_PRIORITY2: usize = BODY + 18;
    pub const ANN_GM_IDENTITY: usize = BODY + 19;
    pub const ANN_STEPS: usize = BODY + 27;
    pub const ANN_TIME_SOURCE: usize = BODY + 29;
    // Management body, from BODY
    pub const MGMT_STARTING_HOPS: usize = BODY + 10;
    pub const MGMT_HOPS: usize = BODY + 11;
    pub const MGMT_ACTION: usize = BODY + 12;
}

/// Why bytes are not a valid PTP message, or a `Repr` cannot be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Shorter than the header, than `messageLength`, or than the body of its
    /// message type; or an output buffer shorter than [`Repr::buffer_len`].
    Truncated,
    /// `messageLength` is below the header length.
    BadLength,
    /// A timestamp's nanoseconds field is 10⁹ or more.
    BadTimestamp,
    /// A TLV runs past `messageLength`.
    BadTlv,
    /// A `Repr` field does not fit its wire field.
    FieldOutOfRange,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "PTP message shorter than its header, length or body",
            Self::BadLength => "PTP messageLength is shorter than the common header",
            Self::BadTimestamp => "PTP timestamp nanoseconds field is 1e9 or more",
            Self::BadTlv => "PTP TLV runs past the end of the message",
            Self::FieldOutOfRange => "PTP field value does not fit its wire field",
        })
    }
}

impl core::error::Error for Error {}

/// `messageType` (4 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageType {
    /// 0x0 Sync (event).
    Sync,
    /// 0x1 `Delay_Req` (event).
    DelayReq,
    /// 0x2 `Pdelay_Req` (event).
    PdelayReq,
    /// 0x3 `Pdelay_Resp` (event).
    PdelayResp,
    /// 0x8 `Follow_Up`.
    FollowUp,
    /// 0x9 `Delay_Resp`.
    DelayResp,
    /// 0xA `Pdelay_Resp_Follow_Up`.
    PdelayRespFollowUp,
    /// 0xB Announce.
    Announce,
    /// 0xC Signaling.
    Signaling,
    /// 0xD Management.
    Management,
    /// A reserved value (the low 4 bits of the byte).
    Unknown(u8),
}

impl MessageType {
    /// From the 4-bit wire value (higher bits ignored).
    pub const fn from_nibble(v: u8) -> Self {
        match v & 0x0F {
            0x0 => Self::Sync,
            0x1 => Self::DelayReq,
            0x2 => Self::PdelayReq,
            0x3 => Self::PdelayResp,
            0x8 => Self::FollowUp,
            0x9 => Self::DelayResp,
            0xA => Self::PdelayRespFollowUp,
            0xB => Self::Announce,
            0xC => Self::Signaling,
            0xD => Self::Management,
            other => Self::Unknown(other),
        }
    }

    /// The 4-bit wire value (an `Unknown` value is masked to 4 bits).
    pub const fn to_nibble(self) -> u8 {
        match self {
            Self::Sync => 0x0,
            Self::DelayReq => 0x1,
            Self::PdelayReq => 0x2,
            Self::PdelayResp => 0x3,
            Self::FollowUp => 0x8,
            Self::DelayResp => 0x9,
            Self::PdelayRespFollowUp => 0xA,
            Self::Announce => 0xB,
            Self::Signaling => 0xC,
            Self::Management => 0xD,
            Self::Unknown(v) => v & 0x0F,
        }
    }

    /// Event messages are timestamped on send and receive (port 319).
    pub const fn is_event(self) -> bool {
        matches!(
            self,
            Self::Sync | Self::DelayReq | Self::PdelayReq | Self::PdelayResp
        )
    }

    /// Length of this type's fixed body (0 for unknown types).
    pub const fn body_len(self) -> usize {
        match self {
            Self::Sync | Self::DelayReq | Self::FollowUp | Self::Signaling => 10,
            Self::PdelayReq | Self::PdelayResp | Self::DelayResp | Self::PdelayRespFollowUp => 20,
            Self::Announce => 30,
            Self::Management => 14,
            Self::Unknown(_) => 0,
        }
    }

    /// The deprecated `controlField` value for this type (§13.3.2.13): what
    /// version-1 hardware expects.
    pub const fn control_field(self) -> u8 {
        match self {
            Self::Sync => 0,
            Self::DelayReq => 1,
            Self::FollowUp => 2,
            Self::DelayResp => 3,
            Self::Management => 4,
            _ => 5,
        }
    }
}

/// An 8-byte clock identity (usually an EUI-64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClockIdentity(pub [u8; 8]);

/// A port identity: clock identity and port number. The derived order is the
/// one IEEE 1588 uses when comparing identities (clock identity as an
/// unsigned big-endian number, then port number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PortIdentity {
    /// The clock.
    pub clock_identity: ClockIdentity,
    /// Port number, 1-based (0xFFFF = all ports).
    pub port_number: u16,
}

impl PortIdentity {
    /// Length on the wire.
    pub const WIRE_LEN: usize = 10;

    pub(super) fn read(buf: &[u8], at: usize) -> Self {
        Self {
            clock_identity: ClockIdentity(bytes::array(buf, at)),
            port_number: bytes::be_u16(buf, at.saturating_add(8)),
        }
    }

    pub(super) fn write(self, buf: &mut [u8], at: usize) {
        bytes::put(buf, at, &self.clock_identity.0);
        bytes::put(buf, at.saturating_add(8), &self.port_number.to_be_bytes());
    }
}

/// `flagField` bits (§13.3.2.8). The first octet is the high byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(pub u16);

impl Flags {
    /// alternateMasterFlag.
    pub const ALTERNATE_MASTER: u16 = 0x0100;
    /// twoStepFlag: a `Follow_Up` (or `Pdelay_Resp_Follow_Up`) will follow.
    pub const TWO_STEP: u16 = 0x0200;
    /// unicastFlag.
    pub const UNICAST: u16 = 0x0400;
    /// PTP profile specific 1.
    pub const PROFILE_SPECIFIC_1: u16 = 0x2000;
    /// PTP profile specific 2.
    pub const PROFILE_SPECIFIC_2: u16 = 0x4000;
    /// leap61: the last minute of the current UTC day has 61 seconds.
    pub const LEAP61: u16 = 0x0001;
    /// leap59: the last minute of the current UTC day has 59 seconds.
    pub const LEAP59: u16 = 0x0002;
    /// currentUtcOffsetValid.
    pub const CURRENT_UTC_OFFSET_VALID: u16 = 0x0004;
    /// ptpTimescale: timestamps are TAI (PTP epoch), not ARB.
    pub const PTP_TIMESCALE: u16 = 0x0008;
    /// timeTraceable.
    pub const TIME_TRACEABLE: u16 = 0x0010;
    /// frequencyTraceable.
    pub const FREQUENCY_TRACEABLE: u16 = 0x0020;
    /// synchronizationUncertain.
    pub const SYNCHRONIZATION_UNCERTAIN: u16 = 0x0040;

    /// Whether all bits of `mask` are set.
    pub const fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }

    /// The twoStepFlag.
    pub const fn two_step(self) -> bool {
        self.contains(Self::TWO_STEP)
    }
}

/// `ClockQuality` (§5.3.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClockQuality {
    /// clockClass (6 = primary reference, 248 = default, 255 = slave-only).
    pub clock_class: u8,
    /// clockAccuracy (0x20 = 25 ns … 0x31 = > 10 s, 0xFE = unknown).
    pub clock_accuracy: u8,
    /// offsetScaledLogVariance.
    pub offset_scaled_log_variance: u16,
}

/// `timeSource` (§7.6.2.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeSource {
    /// 0x10 `ATOMIC_CLOCK`.
    AtomicClock,
    /// 0x20 GNSS.
    Gnss,
    /// 0x30 `TERRESTRIAL_RADIO`.
    TerrestrialRadio,
    /// 0x39 `SERIAL_TIME_CODE`.
    SerialTimeCode,
    /// 0x40 PTP.
    Ptp,
    /// 0x50 NTP.
    Ntp,
    /// 0x60 `HAND_SET`.
    HandSet,
    /// 0x90 OTHER.
    Other,
    /// 0xA0 `INTERNAL_OSCILLATOR`.
    #[default]
    InternalOscillator,
    /// Any other value.
    Unknown(u8),
}

impl TimeSource {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0x10 => Self::AtomicClock,
            0x20 => Self::Gnss,
            0x30 => Self::TerrestrialRadio,
            0x39 => Self::SerialTimeCode,
            0x40 => Self::Ptp,
            0x50 => Self::Ntp,
            0x60 => Self::HandSet,
            0x90 => Self::Other,
            0xA0 => Self::InternalOscillator,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::AtomicClock => 0x10,
            Self::Gnss => 0x20,
            Self::TerrestrialRadio => 0x30,
            Self::SerialTimeCode => 0x39,
            Self::Ptp => 0x40,
            Self::Ntp => 0x50,
            Self::HandSet => 0x60,
            Self::Other => 0x90,
            Self::InternalOscillator => 0xA0,
            Self::Unknown(v) => v,
        }
    }
}

/// Management `actionField` (4 bits, §15.4.1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ManagementAction {
    /// 0 GET.
    Get,
    /// 1 SET.
    Set,
    /// 2 RESPONSE.
    Response,
    /// 3 COMMAND.
    Command,
    /// 4 ACKNOWLEDGE.
    Acknowledge,
    /// A reserved value (4 bits).
    Unknown(u8),
}

impl ManagementAction {
    /// From the 4-bit wire value (higher bits ignored).
    pub const fn from_nibble(v: u8) -> Self {
        match v & 0x0F {
            0 => Self::Get,
            1 => Self::Set,
            2 => Self::Response,
            3 => Self::Command,
            4 => Self::Acknowledge,
            other => Self::Unknown(other),
        }
    }

    /// The 4-bit wire value.
    pub const fn to_nibble(self) -> u8 {
        match self {
            Self::Get => 0,
            Self::Set => 1,
            Self::Response => 2,
            Self::Command => 3,
            Self::Acknowledge => 4,
            Self::Unknown(v) => v & 0x0F,
        }
    }
}

/// The common header's fields, less `messageType` and `messageLength` (which
/// follow from the body and TLVs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// `sdoId` (12 bits; 0 for the default profiles, 0x100 for gPTP).
    pub sdo_id: u16,
    /// `versionPTP` (4 bits; 2).
    pub version: u8,
    /// `minorVersionPTP` (4 bits; 1 for 1588-2019, 0 for 1588-2008).
    pub minor_version: u8,
    /// `domainNumber`.
    pub domain_number: u8,
    /// `flagField`.
    pub flags: Flags,
    /// `correctionField`, ns (negative values are valid).
    pub correction: TimeInterval,
    /// `messageTypeSpecific`.
    pub message_type_specific: u32,
    /// `sourcePortIdentity`.
    pub source_port_identity: PortIdentity,
    /// `sequenceId`.
    pub sequence_id: u16,
    /// `controlField` (see [`MessageType::control_field`]).
    pub control_field: u8,
    /// `logMessageInterval`.
    pub log_message_interval: i8,
}
