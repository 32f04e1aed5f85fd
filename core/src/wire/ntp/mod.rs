//! `NTPv4` packets (RFC 5905 §7.3) with RFC 7822 extension fields.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |  0
//! |                         Root Delay (16.16)                    |  4
//! |                      Root Dispersion (16.16)                  |  8
//! |                          Reference ID                         | 12
//! |                  Reference Timestamp (64, 32.32)              | 16
//! |                     Origin Timestamp (64)                     | 24
//! |                     Receive Timestamp (64)                    | 32
//! |                     Transmit Timestamp (64)                   | 40
//! |        Extension fields (RFC 7822), then an optional MAC      | 48
//! ```
//!
//! The header is 48 bytes. After it come zero or more extension fields
//! (type, length, value padded to 4 bytes, at least 16 bytes each) and
//! optionally a MAC (key id + digest, 4, 20 or 24 bytes). Following RFC 7822
//! §7.5, a remainder of at most 24 bytes is read as the MAC; so an extension
//! field that ends a packet without a MAC must be at least 28 bytes long.
//! Both parts are kept as borrowed bytes, so nothing is lost on a round trip.
//!
//! See the [module-level no-panic contract](super).

mod ext;

use core::fmt;

use super::bytes;
use crate::time::{NtpShort, NtpTimestamp};

pub use ext::{
    ExtensionField, ExtensionFields, MIN_EXTENSION_LEN, MIN_LAST_EXTENSION_LEN,
    emit_extension_field,
};

/// Length of the fixed NTP header in bytes.
pub const HEADER_LEN: usize = 48;
/// Longest trailer read as a MAC (key id + SHA-1 digest), RFC 7822 §7.5.
pub const MAX_MAC_LEN: usize = 24;
/// The NTP version this codec writes by default.
pub const VERSION: u8 = 4;

mod field {
    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    pub const POLL: usize = 2;
    pub const PRECISION: usize = 3;
    pub const ROOT_DELAY: usize = 4;
    pub const ROOT_DISPERSION: usize = 8;
    pub const REFERENCE_ID: usize = 12;
    pub const REFERENCE_TS: usize = 16;
    pub const ORIGIN_TS: usize = 24;
    pub const RECEIVE_TS: usize = 32;
    pub const TRANSMIT_TS: usize = 40;
}

/// Why bytes are not a valid NTP packet, or a `Repr` cannot be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the 48-byte header (parse) or than
    /// [`Repr::buffer_len`] (emit).
    Truncated,
    /// An extension field's length is below 16, not a multiple of 4, or runs
    /// past the end of the packet.
    BadExtensionField,
    /// The bytes after the extension fields are not a 4, 20 or 24 byte MAC.
    BadMac,
    /// A `Repr` field does not fit its wire field (version above 7).
    FieldOutOfRange,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "NTP packet shorter than its header or the output buffer too short",
            Self::BadExtensionField => "NTP extension field length is invalid",
            Self::BadMac => "NTP trailer is not a 4, 20 or 24 byte MAC",
            Self::FieldOutOfRange => "NTP field value does not fit its wire field",
        })
    }
}

impl core::error::Error for Error {}

/// Leap indicator (2 bits): a warning of an impending leap second, or "this
/// server is not synchronised".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LeapIndicator {
    /// 0: no warning.
    NoWarning,
    /// 1: the last minute of the day has 61 seconds.
    InsertSecond,
    /// 2: the last minute of the day has 59 seconds.
    DeleteSecond,
    /// 3: unknown, the clock is unsynchronised (also set in Kiss-o'-Death).
    Unsynchronized,
}

impl LeapIndicator {
    /// From the two wire bits (higher bits ignored).
    pub const fn from_bits(v: u8) -> Self {
        match v & 3 {
            0 => Self::NoWarning,
            1 => Self::InsertSecond,
            2 => Self::DeleteSecond,
            _ => Self::Unsynchronized,
        }
    }

    /// The two wire bits.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::NoWarning => 0,
            Self::InsertSecond => 1,
            Self::DeleteSecond => 2,
            Self::Unsynchronized => 3,
        }
    }
}

/// Association mode (3 bits; every value is assigned, so no `Unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// 0: reserved.
    Reserved,
    /// 1: symmetric active.
    SymmetricActive,
    /// 2: symmetric passive.
    SymmetricPassive,
    /// 3: client.
    Client,
    /// 4: server.
    Server,
    /// 5: broadcast.
    Broadcast,
    /// 6: NTP control message.
    Control,
    /// 7: reserved for private use.
    Private,
}

impl Mode {
    /// From the three wire bits (higher bits ignored).
    pub const fn from_bits(v: u8) -> Self {
        match v & 7 {
            0 => Self::Reserved,
            1 => Self::SymmetricActive,
            2 => Self::SymmetricPassive,
            3 => Self::Client,
            4 => Self::Server,
            5 => Self::Broadcast,
            6 => Self::Control,
            _ => Self::Private,
        }
    }

    /// The three wire bits.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::Reserved => 0,
            Self::SymmetricActive => 1,
            Self::SymmetricPassive => 2,
            Self::Client => 3,
            Self::Server => 4,
            Self::Broadcast => 5,
            Self::Control => 6,
            Self::Private => 7,
        }
    }
}

/// The 32-bit reference identifier: four ASCII characters at stratum 0 (kiss
/// code) and 1 (reference source, e.g. `GPS`), an IPv4 address or a hash of an
/// IPv6 address above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReferenceId(pub [u8; 4]);

impl ReferenceId {
    /// As the big-endian `u32` wire value.
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

/// Kiss-o'-Death codes (RFC 5905 §7.4, RFC 8915 `NTSN`), carried in the
/// reference id of a stratum-0 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KissCode {
    /// `ACST`: the association belongs to a unicast server.
    Acst,
    /// `AUTH`: server authentication failed.
    Auth,
    /// `AUTO`: autokey sequence failed.
    Auto,
    /// `BCST`: the association belongs to a broadcast server.
    Bcst,
    /// `CRYP`: cryptographic authentication or identification failed.
    Cryp,
    /// `DENY`: access denied by a remote server; stop using it.
    Deny,
    /// `DROP`: lost peer in symmetric mode.
    Drop,
    /// `RSTR`: access denied due to local policy; stop using it.
    Rstr,
    /// `INIT`: the association has not yet synchronised for the first time.
    Init,
    /// `MCST`: the association belongs to a dynamically discovered server.
    Mcst,
    /// `NKEY`: no key found.
    Nkey,
    /// `NTSN`: NTS negative acknowledgement (RFC 8915).
    Ntsn,
    /// `RATE`: rate exceeded; the client must reduce its poll rate.
    Rate,
    /// `RMOT`: alteration of the association from a remote host running ntpdc.
    Rmot,
    /// `STEP`: a step change in system time has occurred.
    Step,
    /// Any other four bytes.
    Unknown([u8; 4]),
}

impl KissCode {
    /// From the reference id of a stratum-0 packet.
    pub const fn from_reference_id(id: ReferenceId) -> Self {
        match &id.0 {
            b"ACST" => Self::Acst,
            b"AUTH" => Self::Auth,
            b"AUTO" => Self::Auto,
            b"BCST" => Self::Bcst,
            b"CRYP" => Self::Cryp,
            b"DENY" => Self::Deny,
            b"DROP" => Self::Drop,
            b"RSTR" => Self::Rstr,
            b"INIT" => Self::Init,
            b"MCST" => Self::Mcst,
            b"NKEY" => Self::Nkey,
            b"NTSN" => Self::Ntsn,
            b"RATE" => Self::Rate,
            b"RMOT" => Self::Rmot,
            b"STEP" => Self::Step,
            other => Self::Unknown(*other),
        }
    }

    /// The reference id that carries this code.
    pub const fn to_reference_id(self) -> ReferenceId {
        ReferenceId(match self {
            Self::Acst => *b"ACST",
            Self::Auth => *b"AUTH",
            Self::Auto => *b"AUTO",
            Self::Bcst => *b"BCST",
            Self::Cryp => *b"CRYP",
            Self::Deny => *b"DENY",
            Self::Drop => *b"DROP",
            Self::Rstr => *b"RSTR",
            Self::Init => *b"INIT",
            Self::Mcst => *b"MCST",
            Self::Nkey => *b"NKEY",
            Self::Ntsn => *b"NTSN",
            Self::Rate => *b"RATE",
            Self::Rmot => *b"RMOT",
            Self::Step => *b"STEP",
            Self::Unknown(b) => b,
        })
    }
}

/// A read/write view of an NTP packet in a byte buffer.
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
    /// Wraps a buffer without checking its length (accessors then read zeros
    /// for fields outside the buffer).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds at least the 48-byte header.
    ///
    /// # Errors
    /// [`Error::Truncated`] when it is shorter.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is inside the buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] when it is not.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Leap indicator.
    pub fn leap(&self) -> LeapIndicator {
        LeapIndicator::from_bits(bytes::u8_at(self.b(), field::LI_VN_MODE) >> 6)
    }

    /// Version number (3 bits).
    pub fn version(&self) -> u8 {
        (bytes::u8_at(self.b(), field::LI_VN_MODE) >> 3) & 7
    }

    /// Association mode.
    pub fn mode(&self) -> Mode {
        Mode::from_bits(bytes::u8_at(self.b(), field::LI_VN_MODE))
    }

    /// Stratum: 0 = unspecified or Kiss-o'-Death, 1 = primary, 2–15
    /// secondary, 16 = unsynchronised.
    pub fn stratum(&self) -> u8 {
        bytes::u8_at(self.b(), field::STRATUM)
    }

    /// Poll exponent, log₂ seconds.
    pub fn poll(&self) -> i8 {
        i8::from_be_bytes([bytes::u8_at(self.b(), field::POLL)])
    }

    /// Precision exponent, log₂ seconds.
    pub fn precision(&self) -> i8 {
        i8::from_be_bytes([bytes::u8_at(self.b(), field::PRECISION)])
    }

    /// Root delay: round trip to the primary reference.
    pub fn root_delay(&self) -> NtpShort {
        NtpShort(bytes::be_u32(self.b(), field::ROOT_DELAY))
    }

    /// Root dispersion: error accumulated up to the primary reference.
    pub fn root_dispersion(&self) -> NtpShort {
        NtpShort(bytes::be_u32(self.b(), field::ROOT_DISPERSION))
    }

    /// Reference id (kiss code at stratum 0).
    pub fn reference_id(&self) -> ReferenceId {
        ReferenceId(bytes::array(self.b(), field::REFERENCE_ID))
    }

    /// The kiss code when this is a Kiss-o'-Death packet (stratum 0).
    pub fn kiss_code(&self) -> Option<KissCode> {
        (self.stratum() == 0).then(|| KissCode::from_reference_id(self.reference_id()))
    }

    /// Time the server's clock was last set.
    pub fn reference_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(bytes::be_u64(self.b(), field::REFERENCE_TS))
    }

    /// Origin timestamp: the request's transmit timestamp, echoed.
    pub fn origin_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(bytes::be_u64(self.b(), field::ORIGIN_TS))
    }

    /// Receive timestamp: when the request arrived at the server.
    pub fn receive_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(bytes::be_u64(self.b(), field::RECEIVE_TS))
    }

    /// Transmit timestamp: when this packet left its sender.
    pub fn transmit_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(bytes::be_u64(self.b(), field::TRANSMIT_TS))
    }

    /// Everything after the 48-byte header (extension fields and MAC).
    pub fn trailer(&self) -> &[u8] {
        self.b().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Splits the trailer into the extension-field region and the MAC.
    ///
    /// # Errors
    /// [`Error::BadExtensionField`] or [`Error::BadMac`] when the trailer is
    /// not well formed.
    pub fn split_trailer(&self) -> Result<(&[u8], &[u8]), Error> {
        ext::split_trailer(self.trailer())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_li_vn_mode(&mut self, li: u8, vn: u8, mode: u8) {
        bytes::put_u8(
            self.bm(),
            field::LI_VN_MODE,
            ((li & 3) << 6) | ((vn & 7) << 3) | (mode & 7),
        );
    }

    /// Sets the leap indicator.
    pub fn set_leap(&mut self, v: LeapIndicator) {
        let (vn, mode) = (self.version(), self.mode().to_bits());
        self.set_li_vn_mode(v.to_bits(), vn, mode);
    }

    /// Sets the version number (only the low 3 bits are kept).
    pub fn set_version(&mut self, v: u8) {
        let (li, mode) = (self.leap().to_bits(), self.mode().to_bits());
        self.set_li_vn_mode(li, v, mode);
    }

    /// Sets the mode.
    pub fn set_mode(&mut self, v: Mode) {
        let (li, vn) = (self.leap().to_bits(), self.version());
        self.set_li_vn_mode(li, vn, v.to_bits());
    }

    /// Sets the stratum.
    pub fn set_stratum(&mut self, v: u8) {
        bytes::put_u8(self.bm(), field::STRATUM, v);
    }

    /// Sets the poll exponent.
    pub fn set_poll(&mut self, v: i8) {
        bytes::put(self.bm(), field::POLL, &v.to_be_bytes());
    }

    /// Sets the precision exponent.
    pub fn set_precision(&mut self, v: i8) {
        bytes::put(self.bm(), field::PRECISION, &v.to_be_bytes());
    }

    /// Sets the root delay.
    pub fn set_root_delay(&mut self, v: NtpShort) {
        bytes::put(self.bm(), field::ROOT_DELAY, &v.0.to_be_bytes());
    }

    /// Sets the root dispersion.
    pub fn set_root_dispersion(&mut self, v: NtpShort) {
        bytes::put(self.bm(), field::ROOT_DISPERSION, &v.0.to_be_bytes());
    }

    /// Sets the reference id.
    pub fn set_reference_id(&mut self, v: ReferenceId) {
        bytes::put(self.bm(), field::REFERENCE_ID, &v.0);
    }

    /// Sets the reference timestamp.
    pub fn set_reference_timestamp(&mut self, v: NtpTimestamp) {
        bytes::put(self.bm(), field::REFERENCE_TS, &v.to_be_bytes());
    }

    /// Sets the origin timestamp.
    pub fn set_origin_timestamp(&mut self, v: NtpTimestamp) {
        bytes::put(self.bm(), field::ORIGIN_TS, &v.to_be_bytes());
    }

    /// Sets the receive timestamp.
    pub fn set_receive_timestamp(&mut self, v: NtpTimestamp) {
        bytes::put(self.bm(), field::RECEIVE_TS, &v.to_be_bytes());
    }

    /// Sets the transmit timestamp.
    pub fn set_transmit_timestamp(&mut self, v: NtpTimestamp) {
        bytes::put(self.bm(), field::TRANSMIT_TS, &v.to_be_bytes());
    }
}

/// The fields of an NTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr<'a> {
    /// Leap indicator.
    pub leap: LeapIndicator,
    /// Version number, 0..=7 (4 for `NTPv4`).
    pub version: u8,
    /// Association mode.
    pub mode: Mode,
    /// Stratum (0 = Kiss-o'-Death / unspecified, 16 = unsynchronised).
    pub stratum: u8,
    /// Poll exponent, log₂ s.
    pub poll: i8,
    /// Precision exponent, log₂ s.
    pub precision: i8,
    /// Root delay.
    pub root_delay: NtpShort,
    /// Root dispersion.
    pub root_dispersion: NtpShort,
    /// Reference id (kiss code at stratum 0).
    pub reference_id: ReferenceId,
    /// Reference timestamp.
    pub reference_timestamp: NtpTimestamp,
    /// Origin timestamp.
    pub origin_timestamp: NtpTimestamp,
    /// Receive timestamp.
    pub receive_timestamp: NtpTimestamp,
    /// Transmit timestamp.
    pub transmit_timestamp: NtpTimestamp,
    /// The extension fields, raw (walk them with [`Repr::extension_fields`]).
    pub extensions: &'a [u8],
    /// The MAC (key id + digest), empty when absent.
    pub mac: &'a [u8],
}

impl<'a> Repr<'a> {
    /// A packet with every field zero, version 4, the given mode and no
    /// extensions: a starting point for building requests and replies.
    pub const fn empty(mode: Mode) -> Self {
        Self {
            leap: LeapIndicator::NoWarning,
            version: VERSION,
            mode,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort(0),
            reference_id: ReferenceId([0; 4]),
            reference_timestamp: NtpTimestamp::ZERO,
            origin_timestamp: NtpTimestamp::ZERO,
            receive_timestamp: NtpTimestamp::ZERO,
            transmit_timestamp: NtpTimestamp::ZERO,
            extensions: &[],
            mac: &[],
        }
    }

    /// Parses a packet view. The extension fields and MAC borrow from the
    /// view's buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] for a short buffer, [`Error::BadExtensionField`] /
    /// [`Error::BadMac`] for a malformed trailer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, Error> {
        packet.check_len()?;
        let inner: &'a T = packet.buffer;
        let buf: &'a [u8] = inner.as_ref();
        let (extensions, mac) = ext::split_trailer(buf.get(HEADER_LEN..).unwrap_or(&[]))?;
        Ok(Self {
            leap: packet.leap(),
            version: packet.version(),
            mode: packet.mode(),
            stratum: packet.stratum(),
            poll: packet.poll(),
            precision: packet.precision(),
            root_delay: packet.root_delay(),
            root_dispersion: packet.root_dispersion(),
            reference_id: packet.reference_id(),
            reference_timestamp: packet.reference_timestamp(),
            origin_timestamp: packet.origin_timestamp(),
            receive_timestamp: packet.receive_timestamp(),
            transmit_timestamp: packet.transmit_timestamp(),
            extensions,
            mac,
        })
    }

    /// Parses bytes directly (`Packet::new_checked` + [`Repr::parse`]).
    ///
    /// # Errors
    /// As [`Repr::parse`].
    pub fn parse_bytes(buf: &'a [u8]) -> Result<Self, Error> {
        Self::parse(&Packet::new_checked(buf)?)
    }

    /// The extension fields.
    pub fn extension_fields(&self) -> ExtensionFields<'a> {
        ExtensionFields::new(self.extensions)
    }

    /// The kiss code when this is a Kiss-o'-Death packet (stratum 0).
    pub fn kiss_code(&self) -> Option<KissCode> {
        (self.stratum == 0).then(|| KissCode::from_reference_id(self.reference_id))
    }

    /// Bytes needed to emit this packet.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            .saturating_add(self.extensions.len())
            .saturating_add(self.mac.len())
    }

    /// Writes the packet to the start of `buf` and returns the length written.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` is shorter than [`Repr::buffer_len`];
    /// [`Error::FieldOutOfRange`] for a version above 7;
    /// [`Error::BadExtensionField`] / [`Error::BadMac`] when `extensions` and
    /// `mac` would not parse back as they are.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.version > 7 {
            return Err(Error::FieldOutOfRange);
        }
        ext::check_region(self.extensions, self.mac)?;
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
        let mut p = Packet::new_unchecked(&mut *out);
        p.set_li_vn_mode(self.leap.to_bits(), self.version, self.mode.to_bits());
        p.set_stratum(self.stratum);
        p.set_poll(self.poll);
        p.set_precision(self.precision);
        p.set_root_delay(self.root_delay);
        p.set_root_dispersion(self.root_dispersion);
        p.set_reference_id(self.reference_id);
        p.set_reference_timestamp(self.reference_timestamp);
        p.set_origin_timestamp(self.origin_timestamp);
        p.set_receive_timestamp(self.receive_timestamp);
        p.set_transmit_timestamp(self.transmit_timestamp);
        bytes::put(out, HEADER_LEN, self.extensions);
        bytes::put(
            out,
            HEADER_LEN.saturating_add(self.extensions.len()),
            self.mac,
        );
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
