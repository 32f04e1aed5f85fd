//! Message bodies (§13.5–13.12): [`Announce`], [`Management`], [`Body`].

#![allow(clippy::wildcard_imports)]

use super::*;

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
