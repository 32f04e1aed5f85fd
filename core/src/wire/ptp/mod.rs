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

mod body;
mod header;
mod repr;
mod tlv;
mod view;

use core::fmt;

use super::bytes;
use crate::time::{PtpTimestamp, TimeInterval};

pub use body::*;
pub use header::*;
pub use repr::*;
pub use tlv::{TLV_HEADER_LEN, Tlv, TlvType, Tlvs};
pub use view::*;

use header::field;

/// Length of the common header.
pub const HEADER_LEN: usize = 34;
/// UDP port for event messages (Sync, `Delay_Req`, Pdelay_*).
pub const EVENT_PORT: u16 = 319;
/// UDP port for general messages.
pub const GENERAL_PORT: u16 = 320;

#[cfg(test)]
mod tests;
