//! [`Packet`]: a zero-copy view over a PTP message's bytes.

#![allow(clippy::wildcard_imports)]

use super::*;

/// A read/write view of a PTP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    pub(super) buffer: T,
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
