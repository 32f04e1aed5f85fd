//! PTPv2.1 messages (IEEE 1588-2019 §13): the common header, every message
//! body, and the TLVs that follow them.
//!
//! ```text
//! offset  field (common header, §13.3)
//!  0      majorSdoId (4) | messageType (4)
//!  1      minorVersionPTP (4) | versionPTP (4)
//!  2      messageLength (u16)
//!  4      domainNumber     5  minorSdoId
//!  6      flagField (u16)
//!  8      correctionField (i64, ns × 2¹⁶)
//! 16      messageTypeSpecific (u32)
//! 20      sourcePortIdentity (clockIdentity 8 + portNumber 2)
//! 30      sequenceId (u16)
//! 32      controlField     33  logMessageInterval (i8)
//! 34      body, then TLVs up to messageLength
//! ```
//!
//! Bodies (§13.5–13.12), from offset 34:
//!
//! | message | body |
//! |---|---|
//! | Sync, `Delay_Req` | originTimestamp (10) |
//! | `Pdelay_Req` | originTimestamp (10), reserved (10) |
//! | `Pdelay_Resp` | requestReceiptTimestamp (10), requestingPortIdentity (10) |
//! | `Follow_Up` | preciseOriginTimestamp (10) |
//! | `Delay_Resp` | receiveTimestamp (10), requestingPortIdentity (10) |
//! | `Pdelay_Resp_Follow_Up` | responseOriginTimestamp (10), requestingPortIdentity (10) |
//! | Announce | originTimestamp (10), currentUtcOffset (i16), reserved, grandmasterPriority1, grandmasterClockQuality (4), grandmasterPriority2, grandmasterIdentity (8), stepsRemoved (u16), timeSource |
//! | Signaling | targetPortIdentity (10) |
//! | Management | targetPortIdentity (10), startingBoundaryHops, boundaryHops, actionField (low 4 bits), reserved |
//!
//! Bytes after `messageLength` (transport padding) are ignored. Bytes between
//! the body and `messageLength` are TLVs; they are kept as a borrowed slice in
//! [`Repr::tlvs`], walked with [`Tlvs`], and emitted back unchanged, so TLVs of
//! unknown types survive a round trip. Reserved fields are written as zero.
//!
//! See the [module-level no-panic contract](super).

mod tlv;

use core::fmt;

use super::bytes;
use crate::time::{PtpTimestamp, TimeInterval};

pub use tlv::{TLV_HEADER_LEN, Tlv, TlvType, Tlvs};

/// Length of the common header.
pub const HEADER_LEN: usize = 34;
/// UDP port for event messages (Sync, `Delay_Req`, Pdelay_*).
pub const EVENT_PORT: u16 = 319;
/// UDP port for general messages.
pub const GENERAL_PORT: u16 = 320;

mod field {
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

    fn read(buf: &[u8], at: usize) -> Self {
        Self {
            clock_identity: ClockIdentity(bytes::array(buf, at)),
            port_number: bytes::be_u16(buf, at.saturating_add(8)),
        }
    }

    fn write(self, buf: &mut [u8], at: usize) {
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

/// A read/write view of a PTP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

#[cfg(feature = "defmt")]
impl<T: AsRef<[u8]>> defmt::Format for Packet<T> {
    /// The raw bytes of the view.
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Packet {{ {=[u8]:02x} }}", self.buffer.as_ref());
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (accessors then read zeros for
    /// fields outside the buffer).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    ///
    /// # Errors
    /// As [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header fits the buffer, that `messageLength` is at
    /// least the header and at most the buffer, and that it covers the fixed
    /// body of the message type.
    ///
    /// # Errors
    /// [`Error::Truncated`] or [`Error::BadLength`].
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.b().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let msg_len = usize::from(self.message_length());
        if msg_len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if msg_len > len || msg_len < HEADER_LEN.saturating_add(self.message_type().body_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// `messageType`.
    pub fn message_type(&self) -> MessageType {
        MessageType::from_nibble(bytes::u8_at(self.b(), field::TYPE))
    }

    /// `sdoId`: majorSdoId (4 bits) and minorSdoId (8 bits) as 12 bits.
    pub fn sdo_id(&self) -> u16 {
        (u16::from(bytes::u8_at(self.b(), field::TYPE) >> 4) << 8)
            | u16::from(bytes::u8_at(self.b(), field::MINOR_SDO))
    }

    /// `versionPTP` (2 for IEEE 1588-2008 and -2019).
    pub fn version(&self) -> u8 {
        bytes::u8_at(self.b(), field::VERSION) & 0x0F
    }

    /// `minorVersionPTP` (1 for IEEE 1588-2019).
    pub fn minor_version(&self) -> u8 {
        bytes::u8_at(self.b(), field::VERSION) >> 4
    }

    /// `messageLength`: header, body and TLVs.
    pub fn message_length(&self) -> u16 {
        bytes::be_u16(self.b(), field::LENGTH)
    }

    /// `domainNumber`.
    pub fn domain_number(&self) -> u8 {
        bytes::u8_at(self.b(), field::DOMAIN)
    }

    /// `flagField`.
    pub fn flags(&self) -> Flags {
        Flags(bytes::be_u16(self.b(), field::FLAGS))
    }

    /// `correctionField` in ns × 2¹⁶ (negative values are valid).
    pub fn correction(&self) -> TimeInterval {
        TimeInterval::from_bits(i64::from_be_bytes(bytes::array(
            self.b(),
            field::CORRECTION,
        )))
    }

    /// `messageTypeSpecific`.
    pub fn message_type_specific(&self) -> u32 {
        bytes::be_u32(self.b(), field::TYPE_SPECIFIC)
    }

    /// `sourcePortIdentity`.
    pub fn source_port_identity(&self) -> PortIdentity {
        PortIdentity::read(self.b(), field::SOURCE_PORT)
    }

    /// `sequenceId`.
    pub fn sequence_id(&self) -> u16 {
        bytes::be_u16(self.b(), field::SEQUENCE)
    }

    /// `controlField` (deprecated).
    pub fn control_field(&self) -> u8 {
        bytes::u8_at(self.b(), field::CONTROL)
    }

    /// `logMessageInterval`.
    pub fn log_message_interval(&self) -> i8 {
        i8::from_be_bytes([bytes::u8_at(self.b(), field::LOG_INTERVAL)])
    }

    /// The first body field of every timestamped message: originTimestamp
    /// (Sync, `Delay_Req`, `Pdelay_Req`, Announce), preciseOriginTimestamp
    /// (`Follow_Up`), receiveTimestamp (`Delay_Resp`), requestReceiptTimestamp
    /// (`Pdelay_Resp`) or responseOriginTimestamp (`Pdelay_Resp_Follow_Up`).
    ///
    /// # Errors
    /// [`Error::BadTimestamp`] when its nanoseconds are 10⁹ or more.
    pub fn timestamp(&self) -> Result<PtpTimestamp, Error> {
        PtpTimestamp::from_bytes(bytes::array(self.b(), field::BODY))
            .map_err(|_| Error::BadTimestamp)
    }

    /// The port identity at body offset 10: requestingPortIdentity of
    /// `Delay_Resp`, `Pdelay_Resp` and `Pdelay_Resp_Follow_Up`.
    pub fn requesting_port_identity(&self) -> PortIdentity {
        PortIdentity::read(self.b(), field::BODY.saturating_add(10))
    }

    /// The port identity at body offset 0: targetPortIdentity of Signaling
    /// and Management.
    pub fn target_port_identity(&self) -> PortIdentity {
        PortIdentity::read(self.b(), field::BODY)
    }

    /// The bytes from the end of the fixed body to `messageLength`: TLVs for
    /// known types, the whole body for unknown ones.
    pub fn tlv_region(&self) -> &[u8] {
        let start = HEADER_LEN.saturating_add(self.message_type().body_len());
        bytes::slice(self.b(), start, usize::from(self.message_length()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets `messageType`, keeping majorSdoId.
    pub fn set_message_type(&mut self, v: MessageType) {
        let hi = bytes::u8_at(self.b(), field::TYPE) & 0xF0;
        bytes::put_u8(self.bm(), field::TYPE, hi | v.to_nibble());
    }

    /// Sets `sdoId` (12 bits; higher bits ignored).
    pub fn set_sdo_id(&mut self, v: u16) {
        let [hi, lo] = v.to_be_bytes();
        let ty = bytes::u8_at(self.b(), field::TYPE) & 0x0F;
        bytes::put_u8(self.bm(), field::TYPE, ((hi & 0x0F) << 4) | ty);
        bytes::put_u8(self.bm(), field::MINOR_SDO, lo);
    }

    /// Sets `versionPTP` and `minorVersionPTP` (4 bits each).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        bytes::put_u8(
            self.bm(),
            field::VERSION,
            ((minor & 0x0F) << 4) | (major & 0x0F),
        );
    }

    /// Sets `messageLength`.
    pub fn set_message_length(&mut self, v: u16) {
        bytes::put(self.bm(), field::LENGTH, &v.to_be_bytes());
    }

    /// Sets `domainNumber`.
    pub fn set_domain_number(&mut self, v: u8) {
        bytes::put_u8(self.bm(), field::DOMAIN, v);
    }

    /// Sets `flagField`.
    pub fn set_flags(&mut self, v: Flags) {
        bytes::put(self.bm(), field::FLAGS, &v.0.to_be_bytes());
    }

    /// Sets `correctionField`.
    pub fn set_correction(&mut self, v: TimeInterval) {
        bytes::put(self.bm(), field::CORRECTION, &v.to_bits().to_be_bytes());
    }

    /// Sets `messageTypeSpecific`.
    pub fn set_message_type_specific(&mut self, v: u32) {
        bytes::put(self.bm(), field::TYPE_SPECIFIC, &v.to_be_bytes());
    }

    /// Sets `sourcePortIdentity`.
    pub fn set_source_port_identity(&mut self, v: PortIdentity) {
        v.write(self.bm(), field::SOURCE_PORT);
    }

    /// Sets `sequenceId`.
    pub fn set_sequence_id(&mut self, v: u16) {
        bytes::put(self.bm(), field::SEQUENCE, &v.to_be_bytes());
    }

    /// Sets `controlField`.
    pub fn set_control_field(&mut self, v: u8) {
        bytes::put_u8(self.bm(), field::CONTROL, v);
    }

    /// Sets `logMessageInterval`.
    pub fn set_log_message_interval(&mut self, v: i8) {
        bytes::put(self.bm(), field::LOG_INTERVAL, &v.to_be_bytes());
    }

    /// Sets the first body timestamp (see [`Packet::timestamp`]); a one-step
    /// clock patches Sync's originTimestamp this way.
    pub fn set_timestamp(&mut self, v: PtpTimestamp) {
        bytes::put(self.bm(), field::BODY, &v.to_bytes());
    }

    /// Sets the port identity at body offset 10 (requestingPortIdentity).
    pub fn set_requesting_port_identity(&mut self, v: PortIdentity) {
        v.write(self.bm(), field::BODY.saturating_add(10));
    }

    /// Sets the port identity at body offset 0 (targetPortIdentity).
    pub fn set_target_port_identity(&mut self, v: PortIdentity) {
        v.write(self.bm(), field::BODY);
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

/// Announce body (§13.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Announce {
    /// originTimestamp (may be zero).
    pub origin_timestamp: PtpTimestamp,
    /// currentUtcOffset: TAI − UTC, seconds.
    pub current_utc_offset: i16,
    /// grandmasterPriority1.
    pub grandmaster_priority1: u8,
    /// grandmasterClockQuality.
    pub grandmaster_clock_quality: ClockQuality,
    /// grandmasterPriority2.
    pub grandmaster_priority2: u8,
    /// grandmasterIdentity.
    pub grandmaster_identity: ClockIdentity,
    /// stepsRemoved.
    pub steps_removed: u16,
    /// timeSource.
    pub time_source: TimeSource,
}

/// Management body (§15.4.1), before its TLVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Management {
    /// targetPortIdentity.
    pub target_port_identity: PortIdentity,
    /// startingBoundaryHops.
    pub starting_boundary_hops: u8,
    /// boundaryHops.
    pub boundary_hops: u8,
    /// actionField.
    pub action: ManagementAction,
}

/// A message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Body {
    /// Sync: originTimestamp (zero or approximate in two-step mode).
    Sync {
        /// originTimestamp.
        origin_timestamp: PtpTimestamp,
    },
    /// `Delay_Req`.
    DelayReq {
        /// originTimestamp.
        origin_timestamp: PtpTimestamp,
    },
    /// `Pdelay_Req`.
    PdelayReq {
        /// originTimestamp.
        origin_timestamp: PtpTimestamp,
    },
    /// `Pdelay_Resp`.
    PdelayResp {
        /// requestReceiptTimestamp (t2), or zero in one-step mode.
        request_receipt_timestamp: PtpTimestamp,
        /// requestingPortIdentity.
        requesting_port_identity: PortIdentity,
    },
    /// `Follow_Up`.
    FollowUp {
        /// preciseOriginTimestamp (t1).
        precise_origin_timestamp: PtpTimestamp,
    },
    /// `Delay_Resp`.
    DelayResp {
        /// receiveTimestamp (t4).
        receive_timestamp: PtpTimestamp,
        /// requestingPortIdentity.
        requesting_port_identity: PortIdentity,
    },
    /// `Pdelay_Resp_Follow_Up`.
    PdelayRespFollowUp {
        /// responseOriginTimestamp (t3).
        response_origin_timestamp: PtpTimestamp,
        /// requestingPortIdentity.
        requesting_port_identity: PortIdentity,
    },
    /// Announce.
    Announce(Announce),
    /// Signaling (its content is in the TLVs).
    Signaling {
        /// targetPortIdentity.
        target_port_identity: PortIdentity,
    },
    /// Management (its content is in the TLVs).
    Management(Management),
    /// A message type this codec does not know; its whole body is in
    /// [`Repr::tlvs`].
    Unknown(u8),
}

impl Body {
    /// The message type of this body.
    pub const fn message_type(&self) -> MessageType {
        match self {
            Self::Sync { .. } => MessageType::Sync,
            Self::DelayReq { .. } => MessageType::DelayReq,
            Self::PdelayReq { .. } => MessageType::PdelayReq,
            Self::PdelayResp { .. } => MessageType::PdelayResp,
            Self::FollowUp { .. } => MessageType::FollowUp,
            Self::DelayResp { .. } => MessageType::DelayResp,
            Self::PdelayRespFollowUp { .. } => MessageType::PdelayRespFollowUp,
            Self::Announce(_) => MessageType::Announce,
            Self::Signaling { .. } => MessageType::Signaling,
            Self::Management(_) => MessageType::Management,
            Self::Unknown(v) => MessageType::Unknown(*v),
        }
    }
}

/// A PTP message: header, body, and TLVs (borrowed, unparsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr<'a> {
    /// Common header fields.
    pub header: Header,
    /// The body, which also gives the message type.
    pub body: Body,
    /// TLVs after the body (walk them with [`Repr::tlvs`]); for an unknown
    /// message type, the whole body.
    pub tlvs: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a message view. TLVs borrow from the view's buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] / [`Error::BadLength`] for bad lengths,
    /// [`Error::BadTimestamp`] for a timestamp with nanoseconds ≥ 10⁹,
    /// [`Error::BadTlv`] when the TLVs of a known message type do not add up.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, Error> {
        packet.check_len()?;
        let inner: &'a T = packet.buffer;
        let buf: &'a [u8] = inner.as_ref();
        let ty = packet.message_type();
        let start = HEADER_LEN.saturating_add(ty.body_len());
        let tlvs = bytes::slice(buf, start, usize::from(packet.message_length()));
        let header = Header {
            sdo_id: packet.sdo_id(),
            version: packet.version(),
            minor_version: packet.minor_version(),
            domain_number: packet.domain_number(),
            flags: packet.flags(),
            correction: packet.correction(),
            message_type_specific: packet.message_type_specific(),
            source_port_identity: packet.source_port_identity(),
            sequence_id: packet.sequence_id(),
            control_field: packet.control_field(),
            log_message_interval: packet.log_message_interval(),
        };
        let body = match ty {
            MessageType::Sync => Body::Sync {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::DelayReq => Body::DelayReq {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::PdelayReq => Body::PdelayReq {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::PdelayResp => Body::PdelayResp {
                request_receipt_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::FollowUp => Body::FollowUp {
                precise_origin_timestamp: packet.timestamp()?,
            },
            MessageType::DelayResp => Body::DelayResp {
                receive_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::PdelayRespFollowUp => Body::PdelayRespFollowUp {
                response_origin_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::Announce => Body::Announce(Announce {
                origin_timestamp: packet.timestamp()?,
                current_utc_offset: i16::from_be_bytes(bytes::array(buf, field::ANN_UTC_OFFSET)),
                grandmaster_priority1: bytes::u8_at(buf, field::ANN_PRIORITY1),
                grandmaster_clock_quality: ClockQuality {
                    clock_class: bytes::u8_at(buf, field::ANN_QUALITY),
                    clock_accuracy: bytes::u8_at(buf, field::ANN_QUALITY.saturating_add(1)),
                    offset_scaled_log_variance: bytes::be_u16(
                        buf,
                        field::ANN_QUALITY.saturating_add(2),
                    ),
                },
                grandmaster_priority2: bytes::u8_at(buf, field::ANN_PRIORITY2),
                grandmaster_identity: ClockIdentity(bytes::array(buf, field::ANN_GM_IDENTITY)),
                steps_removed: bytes::be_u16(buf, field::ANN_STEPS),
                time_source: TimeSource::from_u8(bytes::u8_at(buf, field::ANN_TIME_SOURCE)),
            }),
            MessageType::Signaling => Body::Signaling {
                target_port_identity: packet.target_port_identity(),
            },
            MessageType::Management => Body::Management(Management {
                target_port_identity: packet.target_port_identity(),
                starting_boundary_hops: bytes::u8_at(buf, field::MGMT_STARTING_HOPS),
                boundary_hops: bytes::u8_at(buf, field::MGMT_HOPS),
                action: ManagementAction::from_nibble(bytes::u8_at(buf, field::MGMT_ACTION)),
            }),
            MessageType::Unknown(v) => Body::Unknown(v),
        };
        if !matches!(body, Body::Unknown(_)) {
            tlv::check(tlvs)?;
        }
        Ok(Self { header, body, tlvs })
    }

    /// Parses bytes directly (`Packet::new_checked` + [`Repr::parse`]).
    ///
    /// # Errors
    /// As [`Repr::parse`].
    pub fn parse_bytes(buf: &'a [u8]) -> Result<Self, Error> {
        Self::parse(&Packet::new_checked(buf)?)
    }

    /// The message type.
    pub const fn message_type(&self) -> MessageType {
        self.body.message_type()
    }

    /// Walks the TLVs (empty for an unknown message type's raw body only if
    /// it happens to be TLV-shaped).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.tlvs)
    }

    /// `messageLength` of the emitted message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            .saturating_add(self.message_type().body_len())
            .saturating_add(self.tlvs.len())
    }

    /// Writes the message to the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` is shorter than [`Repr::buffer_len`];
    /// [`Error::FieldOutOfRange`] when a field does not fit (sdoId above 12
    /// bits, version fields above 4 bits, an unknown type above 4 bits or
    /// naming a known type, a length above 65535); [`Error::BadTlv`] when the
    /// TLVs of a known type do not parse back.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let h = &self.header;
        let ty = self.message_type();
        if h.sdo_id > 0x0FFF
            || h.version > 0x0F
            || h.minor_version > 0x0F
            || MessageType::from_nibble(ty.to_nibble()) != ty
        {
            return Err(Error::FieldOutOfRange);
        }
        if let Body::Management(m) = self.body {
            if ManagementAction::from_nibble(m.action.to_nibble()) != m.action {
                return Err(Error::FieldOutOfRange);
            }
        }
        if let Body::Unknown(v) = self.body {
            if v > 0x0F {
                return Err(Error::FieldOutOfRange);
            }
        } else {
            tlv::check(self.tlvs)?;
        }
        let len = self.buffer_len();
        let len16 = u16::try_from(len).map_err(|_| Error::FieldOutOfRange)?;
        let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
        out.fill(0);
        let mut p = Packet::new_unchecked(&mut *out);
        p.set_sdo_id(h.sdo_id);
        p.set_message_type(ty);
        p.set_version(h.version, h.minor_version);
        p.set_message_length(len16);
        p.set_domain_number(h.domain_number);
        p.set_flags(h.flags);
        p.set_correction(h.correction);
        p.set_message_type_specific(h.message_type_specific);
        p.set_source_port_identity(h.source_port_identity);
        p.set_sequence_id(h.sequence_id);
        p.set_control_field(h.control_field);
        p.set_log_message_interval(h.log_message_interval);
        match self.body {
            Body::Sync {
                origin_timestamp: t,
            }
            | Body::DelayReq {
                origin_timestamp: t,
            }
            | Body::PdelayReq {
                origin_timestamp: t,
            }
            | Body::FollowUp {
                precise_origin_timestamp: t,
            } => p.set_timestamp(t),
            Body::PdelayResp {
                request_receipt_timestamp: t,
                requesting_port_identity: id,
            }
            | Body::DelayResp {
                receive_timestamp: t,
                requesting_port_identity: id,
            }
            | Body::PdelayRespFollowUp {
                response_origin_timestamp: t,
                requesting_port_identity: id,
            } => {
                p.set_timestamp(t);
                p.set_requesting_port_identity(id);
            }
            Body::Announce(a) => {
                p.set_timestamp(a.origin_timestamp);
                let q = a.grandmaster_clock_quality;
                bytes::put(
                    out,
                    field::ANN_UTC_OFFSET,
                    &a.current_utc_offset.to_be_bytes(),
                );
                bytes::put_u8(out, field::ANN_PRIORITY1, a.grandmaster_priority1);
                bytes::put_u8(out, field::ANN_QUALITY, q.clock_class);
                bytes::put_u8(out, field::ANN_QUALITY.saturating_add(1), q.clock_accuracy);
                bytes::put(
                    out,
                    field::ANN_QUALITY.saturating_add(2),
                    &q.offset_scaled_log_variance.to_be_bytes(),
                );
                bytes::put_u8(out, field::ANN_PRIORITY2, a.grandmaster_priority2);
                bytes::put(out, field::ANN_GM_IDENTITY, &a.grandmaster_identity.0);
                bytes::put(out, field::ANN_STEPS, &a.steps_removed.to_be_bytes());
                bytes::put_u8(out, field::ANN_TIME_SOURCE, a.time_source.to_u8());
            }
            Body::Signaling {
                target_port_identity,
            } => p.set_target_port_identity(target_port_identity),
            Body::Management(m) => {
                p.set_target_port_identity(m.target_port_identity);
                bytes::put_u8(out, field::MGMT_STARTING_HOPS, m.starting_boundary_hops);
                bytes::put_u8(out, field::MGMT_HOPS, m.boundary_hops);
                bytes::put_u8(out, field::MGMT_ACTION, m.action.to_nibble());
            }
            Body::Unknown(_) => {}
        }
        bytes::put(out, HEADER_LEN.saturating_add(ty.body_len()), self.tlvs);
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
