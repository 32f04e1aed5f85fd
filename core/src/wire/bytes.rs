//! Bounds-checked byte access shared by the codecs. Reads outside the buffer
//! give zeros, writes outside it do nothing (see the contract in `wire`).

/// `N` bytes at `at`, or zeros when they are not all inside `buf`.
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = at.checked_add(N).and_then(|end| buf.get(at..end)) {
        out.copy_from_slice(src);
    }
    out
}

/// The byte at `at`, or zero.
pub(crate) fn u8_at(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Big-endian `u16` at `at`, or zero.
pub(crate) fn be_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array(buf, at))
}

/// Big-endian `u32` at `at`, or zero.
pub(crate) fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(buf, at))
}

/// Big-endian `u64` at `at`, or zero.
pub(crate) fn be_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(buf, at))
}

/// Little-endian `u16` at `at`, or zero.
pub(crate) fn le_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array(buf, at))
}

/// Little-endian `u32` at `at`, or zero.
pub(crate) fn le_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(buf, at))
}

/// Little-endian `u64` at `at`, or zero.
pub(crate) fn le_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(buf, at))
}

/// Copies `src` to `buf[at..]` when it fits; otherwise does nothing.
pub(crate) fn put(buf: &mut [u8], at: usize, src: &[u8]) {
    if let Some(dst) = at
        .checked_add(src.len())
        .and_then(|end| buf.get_mut(at..end))
    {
        dst.copy_from_slice(src);
    }
}

/// Writes one byte when `at` is inside `buf`.
pub(crate) fn put_u8(buf: &mut [u8], at: usize, v: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = v;
    }
}

/// `buf[from..to]`, or an empty slice when the range is not inside `buf`.
pub(crate) fn slice(buf: &[u8], from: usize, to: usize) -> &[u8] {
    buf.get(from..to).unwrap_or(&[])
}
