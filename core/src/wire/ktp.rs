//! KTP, the keel time probe: the protocol between a host's `keel monitor`
//! and the keel in each of its guests, over a channel that bypasses the
//! guest's network (virtio-serial, `AF_VSOCK`).
//!
//! A byte stream of fixed-size, little-endian frames. Every frame starts
//! with the same 16-byte header; its kind fixes its length:
//!
//! ```text
//! off   field
//! 0x00  magic [u8; 3] = "KTP"   0x03 version u8 = 1
//! 0x04  kind u8                 0x05 flags u8 (0)   0x06 len u16 (whole frame)
//! 0x08  seq u32 (the host's, echoed in the reply)   0x0c reserved u32 (0)
//!
//! kind 1 probe request, 56 bytes (as long as the reply: both ways carry
//!        the same bytes, so a byte-serial channel's delay stays symmetric)
//! 0x10  t1 u64 (the host's send time, opaque to the guest, echoed)
//! kind 2 probe reply, 56 bytes
//! 0x10  t1 u64 (echoed)
//! 0x18  t2 u64 (guest CLOCK_REALTIME right after the request was read, ns since 1970)
//! 0x20  t3 u64 (guest CLOCK_REALTIME right before the reply is written, ns)
//! 0x28  epoch u32 (random per daemon start)
//! 0x2c  generation u32 (changes on every step or disruption of the guest clock)
//! 0x30  raw_t2 u64 (guest CLOCK_MONOTONIC_RAW at t2, ns; 0: not given)
//! kind 3 status request, 16 bytes
//! kind 4 status reply, 128 bytes: see [`GuestStatus`]
//! kind 5 control request, 32 bytes
//! 0x10  action u8 (1 re-acquire, 2 step)   0x18 step i64 (ns, + moves the guest clock forward)
//! kind 6 control reply, 24 bytes
//! 0x10  result u8 (see [`ControlResult`])  0x14 generation u32 (after the action)
//! ```
//!
//! A frame of a kind this version does not know keeps its length (16 to
//! [`MAX_LEN`] bytes) and parses as [`Body::Unknown`]: a reader skips it. A
//! bad magic, version or length is garbage: the reader closes the stream.
//!
//! Offsets are guest − host: positive means the guest is ahead.
//!
//! See the [module-level no-panic contract](super).

use core::fmt;

use super::bytes::{self, le_u16, le_u32, le_u64};

/// `magic`.
pub const MAGIC: [u8; 3] = *b"KTP";
/// The version this codec speaks.
pub const VERSION: u8 = 1;
/// Header length, bytes.
pub const HEADER_LEN: usize = 16;
/// The longest frame any version may send, bytes.
pub const MAX_LEN: usize = 256;
/// Probe request and reply length, bytes.
pub const PROBE_LEN: usize = 56;
/// Status reply length, bytes.
pub const STATUS_LEN: usize = 128;
/// Control request length, bytes.
pub const CONTROL_LEN: usize = 32;
/// Control reply length, bytes.
pub const CONTROL_REPLY_LEN: usize = 24;

mod field {
    pub const MAGIC: usize = 0x00;
    pub const VERSION: usize = 0x03;
    pub const KIND: usize = 0x04;
    pub const LEN: usize = 0x06;
    pub const SEQ: usize = 0x08;
    pub const T1: usize = 0x10;
    pub const T2: usize = 0x18;
    pub const T3: usize = 0x20;
    pub const EPOCH: usize = 0x28;
    pub const GENERATION: usize = 0x2c;
    pub const RAW_T2: usize = 0x30;
    pub const ACTION: usize = 0x10;
    pub const STEP: usize = 0x18;
    pub const RESULT: usize = 0x10;
    pub const REPLY_GENERATION: usize = 0x14;
    // status reply
    pub const STATE: usize = 0x10;
    pub const SOURCE: usize = 0x11;
    pub const SERVED: usize = 0x12;
    pub const FLAGS: usize = 0x13;
    pub const LEAP: usize = 0x14;
    pub const TAI: usize = 0x16;
    pub const S_EPOCH: usize = 0x18;
    pub const S_GENERATION: usize = 0x1c;
    pub const OFFSET: usize = 0x20;
    pub const BOUND: usize = 0x28;
    pub const MAXERROR: usize = 0x30;
    pub const ESTERROR: usize = 0x38;
    pub const FREQ: usize = 0x40;
    pub const STEPS: usize = 0x48;
    pub const DISRUPTIONS: usize = 0x50;
    pub const UPDATES: usize = 0x58;
    pub const UPTIME: usize = 0x60;
    pub const UPDATE_AGE: usize = 0x68;
    pub const VERSION_STR: usize = 0x70;
}

/// Why bytes are not a KTP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the header or the frame's length (parse), or an
    /// output buffer too short (emit).
    Truncated,
    /// `magic` is not "KTP".
    BadMagic,
    /// `version` is not 1.
    UnsupportedVersion,
    /// `len` is not the length of its kind (or outside 16..=[`MAX_LEN`]).
    BadLength,
    /// A field holds a value its kind does not allow.
    BadField,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "KTP frame shorter than its header or length, or buffer too short",
            Self::BadMagic => "KTP magic is not \"KTP\" (not a keel time probe stream)",
            Self::UnsupportedVersion => "KTP version is not 1",
            Self::BadLength => "KTP frame length does not match its kind",
            Self::BadField => "KTP field value not allowed for its kind",
        })
    }
}

impl core::error::Error for Error {}

/// A zero-copy view of a frame's header.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps any buffer; accessors read zeros outside it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds at least the header.
    ///
    /// # Errors
    /// [`Error::Truncated`] when it does not.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    /// The kind byte.
    pub fn kind(&self) -> u8 {
        bytes::u8_at(self.buffer.as_ref(), field::KIND)
    }

    /// The frame's length field, bytes.
    pub fn len(&self) -> u16 {
        le_u16(self.buffer.as_ref(), field::LEN)
    }

    /// Whether the length field is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number.
    pub fn seq(&self) -> u32 {
        le_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// Checks magic, version and length: the whole frame's length when the
    /// header is good (wait for that many bytes, then [`Frame::parse`]).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadMagic`],
    /// [`Error::UnsupportedVersion`] or [`Error::BadLength`].
    pub fn frame_len(&self) -> Result<usize, Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if bytes::array::<3>(b, field::MAGIC) != MAGIC {
            return Err(Error::BadMagic);
        }
        if bytes::u8_at(b, field::VERSION) != VERSION {
            return Err(Error::UnsupportedVersion);
        }
        let len = usize::from(self.len());
        let ok = match Kind::from_u8(self.kind()) {
            Some(k) => len == k.len(),
            None => (HEADER_LEN..=MAX_LEN).contains(&len),
        };
        if ok { Ok(len) } else { Err(Error::BadLength) }
    }
}

/// The frame kinds this version knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ProbeRequest = 1,
    ProbeReply = 2,
    StatusRequest = 3,
    StatusReply = 4,
    ControlRequest = 5,
    ControlReply = 6,
}

impl Kind {
    const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::ProbeRequest,
            2 => Self::ProbeReply,
            3 => Self::StatusRequest,
            4 => Self::StatusReply,
            5 => Self::ControlRequest,
            6 => Self::ControlReply,
            _ => return None,
        })
    }

    const fn len(self) -> usize {
        match self {
            Self::ProbeRequest | Self::ProbeReply => PROBE_LEN,
            Self::StatusRequest => HEADER_LEN,
            Self::StatusReply => STATUS_LEN,
            Self::ControlRequest => CONTROL_LEN,
            Self::ControlReply => CONTROL_REPLY_LEN,
        }
    }
}

/// A probe reply: the guest's two timestamps and its clock's identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProbeReply {
    /// The host's t1, echoed.
    pub t1: u64,
    /// Guest `CLOCK_REALTIME` right after the request was read, ns since 1970.
    pub t2: u64,
    /// Guest `CLOCK_REALTIME` right before the reply was written, ns.
    pub t3: u64,
    /// Random per daemon start: a restarted guest daemon is a new clock
    /// history.
    pub epoch: u32,
    /// Changes on every step or disruption of the guest clock: an exchange
    /// whose generation differs from the one before straddles a step.
    pub generation: u32,
    /// Guest `CLOCK_MONOTONIC_RAW` at t2, ns (0: not given).
    pub raw_t2: u64,
}

/// What a guest's keel reports about itself (the engine's snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GuestStatus {
    /// The engine's state (`SyncState` as 0 unlocked, 1 jump, 2 locked,
    /// 3 locked-stable, 4 holdover).
    pub state: u8,
    /// The kind of the source in use (0 none, 1 PHC, 2 NTP, 3 PPS).
    pub source: u8,
    /// The served status (0 unknown, 1 synchronized, 2 free-running,
    /// 3 disrupted).
    pub served: u8,
    /// `STA_UNSYNC` as written to the kernel.
    pub unsync: bool,
    /// The guest accepts control requests.
    pub control_enabled: bool,
    /// The guest's PHC is outvoted by its NTP sources.
    pub phc_rejected: bool,
    /// Leap bits as written (0 none, 1 insert, 2 delete).
    pub leap: u8,
    /// TAI − UTC as written, s (`None`: not set).
    pub tai_offset: Option<i16>,
    /// See [`ProbeReply::epoch`].
    pub epoch: u32,
    /// See [`ProbeReply::generation`].
    pub generation: u32,
    /// The guest's own last offset to its reference, ns (guest − reference).
    pub offset_ns: Option<i64>,
    /// The guest's own bound on |offset to true time|, ns.
    pub bound_ns: Option<u64>,
    /// Kernel `maxerror`, µs.
    pub maxerror_us: i64,
    /// Kernel `esterror`, µs.
    pub esterror_us: i64,
    /// The frequency correction in force, 2⁻³² ppb (`Ppb::to_bits`).
    pub freq_bits: i64,
    /// Steps applied.
    pub steps: u64,
    /// Disruptions seen.
    pub disruptions: u64,
    /// Updates run.
    pub updates: u64,
    /// Since the guest daemon started, ns.
    pub uptime_ns: u64,
    /// Since its last update, ns (`None`: none yet).
    pub update_age_ns: Option<u64>,
    /// The guest keel's version, NUL-padded.
    pub version: [u8; 16],
}

impl GuestStatus {
    /// The version as text (up to the first NUL; `?` when not UTF-8).
    pub fn version_str(&self) -> &str {
        let n = self.version.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(self.version.get(..n).unwrap_or(&[])).unwrap_or("?")
    }

    /// The version field for `v` (cut at 16 bytes, on a character boundary).
    pub fn version_field(v: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut n = v.len().min(16);
        while !v.is_char_boundary(n) {
            n -= 1;
        }
        bytes::put(&mut out, 0, v.as_bytes().get(..n).unwrap_or(&[]));
        out
    }
}

/// What a control request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Control {
    /// Throw the estimate away and acquire again (frequency kept).
    Reacquire,
    /// Step the guest clock by this many ns (+: forward).
    Step(i64),
}

/// The guest's answer to a control request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ControlResult {
    /// 0: done (or scheduled for the next update).
    Done,
    /// 1: the guest does not accept control (its default).
    Disabled,
    /// 2: the step is larger than the guest allows.
    TooLarge,
    /// 3: too soon after the last request.
    RateLimited,
    /// 4: the guest does not do this action (a keel guest re-acquires from
    /// its own source rather than step by a host's measurement).
    Unsupported,
    /// Any other value: refused for a reason this version does not know.
    Refused(u8),
}

impl ControlResult {
    const fn to_u8(self) -> u8 {
        match self {
            Self::Done => 0,
            Self::Disabled => 1,
            Self::TooLarge => 2,
            Self::RateLimited => 3,
            Self::Unsupported => 4,
            Self::Refused(v) => v,
        }
    }

    const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Done,
            1 => Self::Disabled,
            2 => Self::TooLarge,
            3 => Self::RateLimited,
            4 => Self::Unsupported,
            v => Self::Refused(v),
        }
    }

    /// The lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Disabled => "disabled",
            Self::TooLarge => "too-large",
            Self::RateLimited => "rate-limited",
            Self::Unsupported => "unsupported",
            Self::Refused(_) => "refused",
        }
    }
}

/// A frame's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Body {
    /// Host → guest: stamp and echo `t1`.
    ProbeRequest {
        /// The host's send time (opaque to the guest).
        t1: u64,
    },
    /// Guest → host.
    ProbeReply(ProbeReply),
    /// Host → guest: send your status.
    StatusRequest,
    /// Guest → host.
    StatusReply(GuestStatus),
    /// Host → guest.
    ControlRequest(Control),
    /// Guest → host.
    ControlReply {
        /// What the guest did.
        result: ControlResult,
        /// The guest clock's generation after it.
        generation: u32,
    },
    /// A kind this version does not know, `len` bytes long: skip it.
    Unknown {
        /// The kind byte.
        kind: u8,
        /// The whole frame's length, bytes.
        len: u16,
    },
}

/// One frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame {
    /// The host's sequence number (echoed in the reply).
    pub seq: u32,
    /// The body.
    pub body: Body,
}

const NO_TAI: i16 = i16::MIN;

impl Frame {
    /// Parses the frame at the start of `buf` (which may hold more).
    ///
    /// # Errors
    /// See [`Packet::frame_len`]; [`Error::BadField`] for a control action
    /// this version does not know.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let p = Packet::new_checked(buf)?;
        let len = p.frame_len()?;
        if buf.len() < len {
            return Err(Error::Truncated);
        }
        let b = bytes::slice(buf, 0, len);
        let seq = p.seq();
        let body = match Kind::from_u8(p.kind()) {
            None => Body::Unknown {
                kind: p.kind(),
                len: p.len(),
            },
            Some(Kind::ProbeRequest) => Body::ProbeRequest {
                t1: le_u64(b, field::T1),
            },
            Some(Kind::ProbeReply) => Body::ProbeReply(ProbeReply {
                t1: le_u64(b, field::T1),
                t2: le_u64(b, field::T2),
                t3: le_u64(b, field::T3),
                epoch: le_u32(b, field::EPOCH),
                generation: le_u32(b, field::GENERATION),
                raw_t2: le_u64(b, field::RAW_T2),
            }),
            Some(Kind::StatusRequest) => Body::StatusRequest,
            Some(Kind::StatusReply) => Body::StatusReply(parse_status(b)),
            Some(Kind::ControlRequest) => {
                Body::ControlRequest(match bytes::u8_at(b, field::ACTION) {
                    1 => Control::Reacquire,
                    2 => Control::Step(i64::from_le_bytes(bytes::array(b, field::STEP))),
                    _ => return Err(Error::BadField),
                })
            }
            Some(Kind::ControlReply) => Body::ControlReply {
                result: ControlResult::from_u8(bytes::u8_at(b, field::RESULT)),
                generation: le_u32(b, field::REPLY_GENERATION),
            },
        };
        Ok(Self { seq, body })
    }

    /// The length [`Frame::emit`] writes, bytes.
    pub const fn buffer_len(&self) -> usize {
        match self.body {
            Body::ProbeRequest { .. } => Kind::ProbeRequest.len(),
            Body::ProbeReply(_) => Kind::ProbeReply.len(),
            Body::StatusRequest => Kind::StatusRequest.len(),
            Body::StatusReply(_) => Kind::StatusReply.len(),
            Body::ControlRequest(_) => Kind::ControlRequest.len(),
            Body::ControlReply { .. } => Kind::ControlReply.len(),
            Body::Unknown { len, .. } => len as usize,
        }
    }

    /// Writes the frame (zeros in reserved and padding bytes); returns its
    /// length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `out` is shorter than
    /// [`Frame::buffer_len`]; [`Error::BadLength`] for an `Unknown` body
    /// whose kind is known or whose length is outside 16..=[`MAX_LEN`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        let kind = match self.body {
            Body::ProbeRequest { .. } => Kind::ProbeRequest as u8,
            Body::ProbeReply(_) => Kind::ProbeReply as u8,
            Body::StatusRequest => Kind::StatusRequest as u8,
            Body::StatusReply(_) => Kind::StatusReply as u8,
            Body::ControlRequest(_) => Kind::ControlRequest as u8,
            Body::ControlReply { .. } => Kind::ControlReply as u8,
            Body::Unknown { kind, .. } => {
                if Kind::from_u8(kind).is_some() || !(HEADER_LEN..=MAX_LEN).contains(&len) {
                    return Err(Error::BadLength);
                }
                kind
            }
        };
        let b = out.get_mut(..len).ok_or(Error::Truncated)?;
        b.fill(0);
        bytes::put(b, field::MAGIC, &MAGIC);
        bytes::put_u8(b, field::VERSION, VERSION);
        bytes::put_u8(b, field::KIND, kind);
        bytes::put(
            b,
            field::LEN,
            &u16::try_from(len).unwrap_or(0).to_le_bytes(),
        );
        bytes::put(b, field::SEQ, &self.seq.to_le_bytes());
        match self.body {
            Body::ProbeRequest { t1 } => bytes::put(b, field::T1, &t1.to_le_bytes()),
            Body::ProbeReply(r) => {
                bytes::put(b, field::T1, &r.t1.to_le_bytes());
                bytes::put(b, field::T2, &r.t2.to_le_bytes());
                bytes::put(b, field::T3, &r.t3.to_le_bytes());
                bytes::put(b, field::EPOCH, &r.epoch.to_le_bytes());
                bytes::put(b, field::GENERATION, &r.generation.to_le_bytes());
                bytes::put(b, field::RAW_T2, &r.raw_t2.to_le_bytes());
            }
            Body::StatusReply(s) => emit_status(b, &s),
            Body::ControlRequest(c) => {
                let (action, step) = match c {
                    Control::Reacquire => (1, 0),
                    Control::Step(ns) => (2, ns),
                };
                bytes::put_u8(b, field::ACTION, action);
                bytes::put(b, field::STEP, &step.to_le_bytes());
            }
            Body::ControlReply { result, generation } => {
                bytes::put_u8(b, field::RESULT, result.to_u8());
                bytes::put(b, field::REPLY_GENERATION, &generation.to_le_bytes());
            }
            Body::StatusRequest | Body::Unknown { .. } => {}
        }
        Ok(len)
    }
}

/// Writes t3 into an emitted probe reply, right before it is sent (t3 is
/// read as late as possible); does nothing to any other frame.
pub fn set_t3(frame: &mut [u8], t3: u64) {
    if bytes::u8_at(frame, field::KIND) == Kind::ProbeReply as u8 {
        bytes::put(frame, field::T3, &t3.to_le_bytes());
    }
}

fn parse_status(b: &[u8]) -> GuestStatus {
    let flags = bytes::u8_at(b, field::FLAGS);
    let tai = i16::from_le_bytes(bytes::array(b, field::TAI));
    let offset = i64::from_le_bytes(bytes::array(b, field::OFFSET));
    let bound = le_u64(b, field::BOUND);
    let age = le_u64(b, field::UPDATE_AGE);
    GuestStatus {
        state: bytes::u8_at(b, field::STATE),
        source: bytes::u8_at(b, field::SOURCE),
        served: bytes::u8_at(b, field::SERVED),
        unsync: flags & 1 != 0,
        control_enabled: flags & 2 != 0,
        phc_rejected: flags & 4 != 0,
        leap: bytes::u8_at(b, field::LEAP),
        tai_offset: (tai != NO_TAI).then_some(tai),
        epoch: le_u32(b, field::S_EPOCH),
        generation: le_u32(b, field::S_GENERATION),
        offset_ns: (offset != i64::MIN).then_some(offset),
        bound_ns: (bound != u64::MAX).then_some(bound),
        maxerror_us: i64::from_le_bytes(bytes::array(b, field::MAXERROR)),
        esterror_us: i64::from_le_bytes(bytes::array(b, field::ESTERROR)),
        freq_bits: i64::from_le_bytes(bytes::array(b, field::FREQ)),
        steps: le_u64(b, field::STEPS),
        disruptions: le_u64(b, field::DISRUPTIONS),
        updates: le_u64(b, field::UPDATES),
        uptime_ns: le_u64(b, field::UPTIME),
        update_age_ns: (age != u64::MAX).then_some(age),
        version: bytes::array(b, field::VERSION_STR),
    }
}

fn emit_status(b: &mut [u8], s: &GuestStatus) {
    let flags =
        u8::from(s.unsync) | u8::from(s.control_enabled) << 1 | u8::from(s.phc_rejected) << 2;
    bytes::put_u8(b, field::STATE, s.state);
    bytes::put_u8(b, field::SOURCE, s.source);
    bytes::put_u8(b, field::SERVED, s.served);
    bytes::put_u8(b, field::FLAGS, flags);
    bytes::put_u8(b, field::LEAP, s.leap);
    let tai = s.tai_offset.unwrap_or(NO_TAI);
    bytes::put(b, field::TAI, &tai.to_le_bytes());
    bytes::put(b, field::S_EPOCH, &s.epoch.to_le_bytes());
    bytes::put(b, field::S_GENERATION, &s.generation.to_le_bytes());
    bytes::put(
        b,
        field::OFFSET,
        &s.offset_ns.unwrap_or(i64::MIN).to_le_bytes(),
    );
    bytes::put(
        b,
        field::BOUND,
        &s.bound_ns.unwrap_or(u64::MAX).to_le_bytes(),
    );
    bytes::put(b, field::MAXERROR, &s.maxerror_us.to_le_bytes());
    bytes::put(b, field::ESTERROR, &s.esterror_us.to_le_bytes());
    bytes::put(b, field::FREQ, &s.freq_bits.to_le_bytes());
    bytes::put(b, field::STEPS, &s.steps.to_le_bytes());
    bytes::put(b, field::DISRUPTIONS, &s.disruptions.to_le_bytes());
    bytes::put(b, field::UPDATES, &s.updates.to_le_bytes());
    bytes::put(b, field::UPTIME, &s.uptime_ns.to_le_bytes());
    bytes::put(
        b,
        field::UPDATE_AGE,
        &s.update_age_ns.unwrap_or(u64::MAX).to_le_bytes(),
    );
    bytes::put(b, field::VERSION_STR, &s.version);
}

#[cfg(test)]
mod tests;
