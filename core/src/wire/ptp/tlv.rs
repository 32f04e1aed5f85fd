//! PTP TLVs (IEEE 1588-2019 §14): type, length, value; walked with every
//! length checked. Unknown types are yielded like known ones, so a caller can
//! skip them and emit them back unchanged.

use super::Error;
use crate::wire::bytes;

/// Length of a TLV's type and length fields.
pub const TLV_HEADER_LEN: usize = 4;

/// TLV types (IEEE 1588-2019 Table 52).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlvType {
    /// 0x0001 MANAGEMENT.
    Management,
    /// 0x0002 `MANAGEMENT_ERROR_STATUS`.
    ManagementErrorStatus,
    /// 0x0003 `ORGANIZATION_EXTENSION`.
    OrganizationExtension,
    /// 0x0004 `REQUEST_UNICAST_TRANSMISSION`.
    RequestUnicastTransmission,
    /// 0x0005 `GRANT_UNICAST_TRANSMISSION`.
    GrantUnicastTransmission,
    /// 0x0006 `CANCEL_UNICAST_TRANSMISSION`.
    CancelUnicastTransmission,
    /// 0x0007 `ACKNOWLEDGE_CANCEL_UNICAST_TRANSMISSION`.
    AcknowledgeCancelUnicastTransmission,
    /// 0x0008 `PATH_TRACE`.
    PathTrace,
    /// 0x0009 `ALTERNATE_TIME_OFFSET_INDICATOR`.
    AlternateTimeOffsetIndicator,
    /// 0x4000 `ORGANIZATION_EXTENSION_PROPAGATE`.
    OrganizationExtensionPropagate,
    /// 0x8000 `ORGANIZATION_EXTENSION_DO_NOT_PROPAGATE`.
    OrganizationExtensionDoNotPropagate,
    /// Any other value.
    Unknown(u16),
}

impl TlvType {
    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            0x0001 => Self::Management,
            0x0002 => Self::ManagementErrorStatus,
            0x0003 => Self::OrganizationExtension,
            0x0004 => Self::RequestUnicastTransmission,
            0x0005 => Self::GrantUnicastTransmission,
            0x0006 => Self::CancelUnicastTransmission,
            0x0007 => Self::AcknowledgeCancelUnicastTransmission,
            0x0008 => Self::PathTrace,
            0x0009 => Self::AlternateTimeOffsetIndicator,
            0x4000 => Self::OrganizationExtensionPropagate,
            0x8000 => Self::OrganizationExtensionDoNotPropagate,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Management => 0x0001,
            Self::ManagementErrorStatus => 0x0002,
            Self::OrganizationExtension => 0x0003,
            Self::RequestUnicastTransmission => 0x0004,
            Self::GrantUnicastTransmission => 0x0005,
            Self::CancelUnicastTransmission => 0x0006,
            Self::AcknowledgeCancelUnicastTransmission => 0x0007,
            Self::PathTrace => 0x0008,
            Self::AlternateTimeOffsetIndicator => 0x0009,
            Self::OrganizationExtensionPropagate => 0x4000,
            Self::OrganizationExtensionDoNotPropagate => 0x8000,
            Self::Unknown(v) => v,
        }
    }
}

/// One TLV, borrowing its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tlv<'a> {
    /// Type.
    pub tlv_type: TlvType,
    /// Value (`lengthField` bytes).
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// For a MANAGEMENT TLV: the `managementId` and the data after it.
    pub fn management(&self) -> Option<(u16, &'a [u8])> {
        if self.tlv_type != TlvType::Management || self.value.len() < 2 {
            return None;
        }
        Some((
            bytes::be_u16(self.value, 0),
            self.value.get(2..).unwrap_or(&[]),
        ))
    }

    /// Bytes this TLV takes on the wire.
    pub fn buffer_len(&self) -> usize {
        TLV_HEADER_LEN.saturating_add(self.value.len())
    }

    /// Writes the TLV at the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` is too short; [`Error::FieldOutOfRange`]
    /// when the value is longer than 65535 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = u16::try_from(self.value.len()).map_err(|_| Error::FieldOutOfRange)?;
        let total = self.buffer_len();
        let out = buf.get_mut(..total).ok_or(Error::Truncated)?;
        bytes::put(out, 0, &self.tlv_type.to_u16().to_be_bytes());
        bytes::put(out, 2, &len.to_be_bytes());
        bytes::put(out, TLV_HEADER_LEN, self.value);
        Ok(total)
    }
}

/// Iterator over a TLV region. Yields `Err` once and stops at the first TLV
/// whose header or value runs past the end.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tlvs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Tlvs<'a> {
    /// Walks `region`.
    pub const fn new(region: &'a [u8]) -> Self {
        Self {
            rest: region,
            failed: false,
        }
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<Tlv<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let len = usize::from(bytes::be_u16(self.rest, 2));
        let end = TLV_HEADER_LEN.saturating_add(len);
        match self.rest.get(TLV_HEADER_LEN..end) {
            Some(value) if self.rest.len() >= TLV_HEADER_LEN => {
                let tlv_type = TlvType::from_u16(bytes::be_u16(self.rest, 0));
                self.rest = self.rest.get(end..).unwrap_or(&[]);
                Some(Ok(Tlv { tlv_type, value }))
            }
            _ => {
                self.failed = true;
                Some(Err(Error::BadTlv))
            }
        }
    }
}

/// Checks that a region is a whole number of well-formed TLVs.
pub(super) fn check(region: &[u8]) -> Result<(), Error> {
    for tlv in Tlvs::new(region) {
        tlv?;
    }
    Ok(())
}
