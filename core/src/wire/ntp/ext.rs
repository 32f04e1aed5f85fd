//! RFC 7822 extension fields: walked with every length checked.

use super::{Error, MAX_MAC_LEN};
use crate::wire::bytes;

/// Smallest extension field (RFC 7822 §3).
pub const MIN_EXTENSION_LEN: usize = 16;
/// Smallest extension field that may end a packet without a MAC (RFC 7822 §7.5).
pub const MIN_LAST_EXTENSION_LEN: usize = 28;

/// One extension field: its type and its value (which includes any padding,
/// since the wire does not say where the padding starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExtensionField<'a> {
    /// Field type.
    pub field_type: u16,
    /// Value bytes, `length − 4` of them.
    pub value: &'a [u8],
}

/// Iterator over the extension fields of a region. Yields `Err` once and
/// stops at the first malformed field.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExtensionFields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> ExtensionFields<'a> {
    /// Walks a region holding only extension fields (no MAC).
    pub const fn new(region: &'a [u8]) -> Self {
        Self {
            rest: region,
            failed: false,
        }
    }
}

/// Reads one field header at the start of `rest`: `(type, total length)`.
fn field_at(rest: &[u8]) -> Result<(u16, usize), Error> {
    if rest.len() < 4 {
        return Err(Error::BadExtensionField);
    }
    let field_type = bytes::be_u16(rest, 0);
    let len = usize::from(bytes::be_u16(rest, 2));
    if len < MIN_EXTENSION_LEN || len % 4 != 0 || len > rest.len() {
        return Err(Error::BadExtensionField);
    }
    Ok((field_type, len))
}

impl<'a> Iterator for ExtensionFields<'a> {
    type Item = Result<ExtensionField<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match field_at(self.rest) {
            Ok((field_type, len)) => {
                let value = bytes::slice(self.rest, 4, len);
                self.rest = self.rest.get(len..).unwrap_or(&[]);
                Some(Ok(ExtensionField { field_type, value }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Splits the bytes after the header into (extension fields, MAC).
pub(super) fn split_trailer(trailer: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let mut pos = 0usize;
    loop {
        let rest = trailer.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Ok((trailer, &[]));
        }
        if rest.len() <= MAX_MAC_LEN {
            return if matches!(rest.len(), 4 | 20 | 24) {
                Ok((bytes::slice(trailer, 0, pos), rest))
            } else {
                Err(Error::BadMac)
            };
        }
        let (_, len) = field_at(rest)?;
        pos = pos.saturating_add(len);
    }
}

/// Checks that `extensions` followed by `mac` splits back into the same two
/// (mirrors [`split_trailer`] without concatenating).
pub(super) fn check_region(extensions: &[u8], mac: &[u8]) -> Result<(), Error> {
    if !matches!(mac.len(), 0 | 4 | 20 | 24) {
        return Err(Error::BadMac);
    }
    let mut pos = 0usize;
    while let Some(rest) = extensions.get(pos..).filter(|r| !r.is_empty()) {
        // `split_trailer` reads any remainder this short as the MAC.
        if rest.len().saturating_add(mac.len()) <= MAX_MAC_LEN {
            return Err(Error::BadExtensionField);
        }
        let (_, len) = field_at(rest)?;
        pos = pos.saturating_add(len);
    }
    Ok(())
}

/// Writes one extension field (header, value, zero padding to a multiple of 4
/// and to at least `min_len` bytes, itself at least 16) at the start of `buf`;
/// returns its length.
///
/// Use `min_len` = [`MIN_LAST_EXTENSION_LEN`] for a field that ends a packet
/// without a MAC.
///
/// # Errors
/// [`Error::Truncated`] when `buf` is too short; [`Error::BadExtensionField`]
/// when the padded length does not fit the 16-bit length field.
pub fn emit_extension_field(
    field_type: u16,
    value: &[u8],
    min_len: usize,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let body = value.len().checked_add(4).ok_or(Error::BadExtensionField)?;
    let len = body
        .max(min_len)
        .max(MIN_EXTENSION_LEN)
        .checked_next_multiple_of(4)
        .ok_or(Error::BadExtensionField)?;
    let len16 = u16::try_from(len).map_err(|_| Error::BadExtensionField)?;
    let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
    out.fill(0);
    bytes::put(out, 0, &field_type.to_be_bytes());
    bytes::put(out, 2, &len16.to_be_bytes());
    bytes::put(out, 4, value);
    Ok(len)
}
