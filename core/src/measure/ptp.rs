//! PTP slave measurements (IEEE 1588-2019 §11.3, §11.4), sans-IO.
//!
//! **Sign convention.** `offset = local − master`: positive means the local
//! clock is ahead (this is 1588's `offsetFromMaster`).
//!
//! **Time scales.** Master timestamps are taken as they are on the wire; the
//! caller passes local timestamps on the *same* scale (for a PTP-timescale
//! master and a UTC local clock, add TAI − UTC first).
//!
//! End to end (delay request-response), with c the correction fields:
//!
//! ```text
//!  master  t1 ──Sync(c_s)──────▶ t2   slave       [Follow_Up(t1, c_f) if two-step]
//!          t4 ◀──Delay_Req────── t3
//!             ──Delay_Resp(t4, c_r)▶
//!  master→slave  ms = t2 − t1 − c_s − c_f
//!  slave→master  sm = t4 − t3 − c_r
//!  meanPathDelay = (ms + sm) / 2      offset = (ms − sm) / 2
//! ```
//!
//! Peer to peer (peer delay mechanism), two-step responder:
//!
//! ```text
//!  meanLinkDelay = (r·(t4 − t1) − (t3 − t2) − c_resp − c_fup) / 2
//!  offset        = t2_sync − t1_sync − c_s − c_f − meanLinkDelay
//! ```
//!
//! where `r` is the neighbour rate ratio (peer frequency / local frequency)
//! from two successive exchanges. One-step responders put `t3 − t2` into
//! `c_resp` instead.
//!
//! Arithmetic is done in 2⁻¹⁶ ns (the correction fields' unit) in 128 bits
//! and rounded to the nanosecond once at the end; results saturate.

use core::fmt;

use crate::time::{Duration, Ppb, PtpTimestamp, TimeInterval, Timestamp};
use crate::wire::ptp::{Body, PortIdentity, Repr};

/// Why a message does not belong to the exchange it was offered to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MatchError {
    /// Not the expected message type.
    WrongMessageType,
    /// The sequence id does not match the pending message.
    SequenceMismatch,
    /// From a different port than the pending message (or the chosen master).
    SourceMismatch,
    /// A response addressed to another port.
    NotForUs,
    /// The twoStepFlag says the opposite of how the message is being used.
    StepModeMismatch,
    /// Nothing is pending that this message could complete.
    NothingPending,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WrongMessageType => "PTP message of the wrong type for this exchange",
            Self::SequenceMismatch => "PTP sequenceId does not match the pending message",
            Self::SourceMismatch => "PTP message from another port than expected",
            Self::NotForUs => "PTP response addressed to another port",
            Self::StepModeMismatch => "PTP twoStepFlag does not fit this use of the message",
            Self::NothingPending => "PTP message answers nothing pending",
        })
    }
}

impl core::error::Error for MatchError {}

/// The master→slave half: `t1` (master), `t2` (local) and the Sync plus
/// `Follow_Up` corrections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SyncTimes {
    /// Origin time at the master.
    pub t1: PtpTimestamp,
    /// Arrival time, local clock.
    pub t2: Timestamp,
    /// Sum of the Sync and `Follow_Up` correction fields.
    pub correction: TimeInterval,
}

/// The slave→master half: `t3` (local), `t4` (master) and the `Delay_Resp`
/// correction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DelayTimes {
    /// `Delay_Req` send time, local clock.
    pub t3: Timestamp,
    /// `Delay_Req` arrival time at the master.
    pub t4: PtpTimestamp,
    /// The `Delay_Resp` correction field.
    pub correction: TimeInterval,
}

/// One PTP offset measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PtpSample {
    /// local − master: positive means the local clock is ahead.
    pub offset: Duration,
    /// The path delay used (mean path delay E2E, mean link delay P2P).
    pub delay: Duration,
    /// Arrival time of the Sync, local clock: when the offset was true.
    pub local_time: Timestamp,
}

/// 2⁻¹⁶ ns per ns.
const SCALE: i128 = 1 << 16;

/// `a − b` in 2⁻¹⁶ ns.
fn diff_scaled(a: Timestamp, b: PtpTimestamp) -> i128 {
    i128::from(a.duration_since(b.to_timestamp()).as_nanos()).saturating_mul(SCALE)
}

/// Rounds 2⁻¹⁶ ns to ns (half away from zero), saturating.
fn round_scaled(v: i128) -> Duration {
    let half = SCALE / 2;
    let r = if v >= 0 {
        v.saturating_add(half) / SCALE
    } else {
        v.saturating_sub(half) / SCALE
    };
    Duration::from_nanos(i64::try_from(r).unwrap_or(if r < 0 { i64::MIN } else { i64::MAX }))
}

impl SyncTimes {
    /// From a one-step Sync (twoStepFlag clear) that arrived at `t2`.
    ///
    /// # Errors
    /// [`MatchError::WrongMessageType`] or [`MatchError::StepModeMismatch`].
    pub fn one_step(sync: &Repr<'_>, t2: Timestamp) -> Result<Self, MatchError> {
        let Body::Sync { origin_timestamp } = sync.body else {
            return Err(MatchError::WrongMessageType);
        };
        if sync.header.flags.two_step() {
            return Err(MatchError::StepModeMismatch);
        }
        Ok(Self {
            t1: origin_timestamp,
            t2,
            correction: sync.header.correction,
        })
    }

    /// From a two-step Sync that arrived at `t2` and its `Follow_Up`.
    ///
    /// # Errors
    /// [`MatchError`] when the messages are not a Sync / `Follow_Up` pair from
    /// the same port with the same sequence id.
    pub fn two_step(
        sync: &Repr<'_>,
        t2: Timestamp,
        follow_up: &Repr<'_>,
    ) -> Result<Self, MatchError> {
        let (
            Body::Sync { .. },
            Body::FollowUp {
                precise_origin_timestamp,
            },
        ) = (sync.body, follow_up.body)
        else {
            return Err(MatchError::WrongMessageType);
        };
        if !sync.header.flags.two_step() {
            return Err(MatchError::StepModeMismatch);
        }
        if sync.header.source_port_identity != follow_up.header.source_port_identity {
            return Err(MatchError::SourceMismatch);
        }
        if sync.header.sequence_id != follow_up.header.sequence_id {
            return Err(MatchError::SequenceMismatch);
        }
        Ok(Self {
            t1: precise_origin_timestamp,
            t2,
            correction: sync
                .header
                .correction
                .saturating_add(follow_up.header.correction),
        })
    }

    /// master→slave time `t2 − t1 − c`, in 2⁻¹⁶ ns.
    fn ms(&self) -> i128 {
        diff_scaled(self.t2, self.t1).saturating_sub(i128::from(self.correction.to_bits()))
    }
}

impl DelayTimes {
    /// From the `Delay_Resp` to our `Delay_Req` (`sequence_id`, sent at `t3` from
    /// `own_port`).
    ///
    /// # Errors
    /// [`MatchError`] when the response is not a `Delay_Resp` to that request.
    pub fn from_delay_resp(
        own_port: PortIdentity,
        sequence_id: u16,
        t3: Timestamp,
        resp: &Repr<'_>,
    ) -> Result<Self, MatchError> {
        let Body::DelayResp {
            receive_timestamp,
            requesting_port_identity,
        } = resp.body
        else {
            return Err(MatchError::WrongMessageType);
        };
        if requesting_port_identity != own_port {
            return Err(MatchError::NotForUs);
        }
        if resp.header.sequence_id != sequence_id {
            return Err(MatchError::SequenceMismatch);
        }
        Ok(Self {
            t3,
            t4: receive_timestamp,
            correction: resp.header.correction,
        })
    }

    /// slave→master time `t4 − t3 − c`, in 2⁻¹⁶ ns.
    fn sm(&self) -> i128 {
        diff_scaled(self.t3, self.t4)
            .saturating_neg()
            .saturating_sub(i128::from(self.correction.to_bits()))
    }
}

/// E2E mean path delay `((t2 − t1 − c_s) + (t4 − t3 − c_r)) / 2`.
pub fn e2e_mean_path_delay(sync: &SyncTimes, delay: &DelayTimes) -> Duration {
    round_scaled(sync.ms().saturating_add(delay.sm()) / 2)
}

/// E2E offset from a Sync and a known mean path delay:
/// `t2 − t1 − c − meanPathDelay` (local − master).
pub fn offset_from_master(sync: &SyncTimes, mean_path_delay: Duration) -> PtpSample {
    let d = i128::from(mean_path_delay.as_nanos()).saturating_mul(SCALE);
    PtpSample {
        offset: round_scaled(sync.ms().saturating_sub(d)),
        delay: mean_path_delay,
        local_time: sync.t2,
    }
}

/// The full E2E sample from one Sync and one delay exchange:
/// offset `(ms − sm) / 2`, delay `(ms + sm) / 2`.
pub fn e2e_sample(sync: &SyncTimes, delay: &DelayTimes) -> PtpSample {
    let (ms, sm) = (sync.ms(), delay.sm());
    PtpSample {
        offset: round_scaled(ms.saturating_sub(sm) / 2),
        delay: round_scaled(ms.saturating_add(sm) / 2),
        local_time: sync.t2,
    }
}

/// Collects E2E messages from one master and turns them into samples.
///
/// Feed it every Sync, `Follow_Up` and `Delay_Resp` received (with local receive
/// times for Syncs) and tell it when a `Delay_Req` left. Messages from other
/// ports, stale sequence ids and unmatched follow-ups are refused with a
/// [`MatchError`] and change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct E2eSlave {
    own_port: PortIdentity,
    master: Option<PortIdentity>,
    pending_sync: Option<(u16, Timestamp, TimeInterval)>,
    last_sync: Option<SyncTimes>,
    pending_delay_req: Option<(u16, Timestamp)>,
    mean_path_delay: Option<Duration>,
}

impl E2eSlave {
    /// A slave on `own_port` that follows `master` (`None`: the first port
    /// heard from, which a BMCA would normally choose).
    pub const fn new(own_port: PortIdentity, master: Option<PortIdentity>) -> Self {
        Self {
            own_port,
            master,
            pending_sync: None,
            last_sync: None,
            pending_delay_req: None,
            mean_path_delay: None,
        }
    }

    /// The master followed.
    pub const fn master(&self) -> Option<PortIdentity> {
        self.master
    }

    /// The last mean path delay measured.
    pub const fn mean_path_delay(&self) -> Option<Duration> {
        self.mean_path_delay
    }

    /// The last complete master→slave measurement.
    pub const fn last_sync(&self) -> Option<SyncTimes> {
        self.last_sync
    }

    fn check_source(&mut self, msg: &Repr<'_>) -> Result<(), MatchError> {
        let src = msg.header.source_port_identity;
        match self.master {
            Some(m) if m != src => Err(MatchError::SourceMismatch),
            Some(_) => Ok(()),
            None => {
                self.master = Some(src);
                Ok(())
            }
        }
    }

    fn sample_now(&self) -> Option<PtpSample> {
        Some(offset_from_master(&self.last_sync?, self.mean_path_delay?))
    }

    /// A Sync arrived at local time `t2`. Returns a sample for a one-step
    /// Sync once a path delay is known; a two-step Sync waits for its
    /// `Follow_Up`.
    ///
    /// # Errors
    /// [`MatchError`] for a message that is not a Sync from the master.
    pub fn sync(&mut self, msg: &Repr<'_>, t2: Timestamp) -> Result<Option<PtpSample>, MatchError> {
        if !matches!(msg.body, Body::Sync { .. }) {
            return Err(MatchError::WrongMessageType);
        }
        self.check_source(msg)?;
        if msg.header.flags.two_step() {
            self.pending_sync = Some((msg.header.sequence_id, t2, msg.header.correction));
            Ok(None)
        } else {
            self.pending_sync = None;
            self.last_sync = Some(SyncTimes::one_step(msg, t2)?);
            Ok(self.sample_now())
        }
    }

    /// A `Follow_Up` arrived. Returns a sample once a path delay is known.
    ///
    /// # Errors
    /// [`MatchError`] when it does not follow the pending two-step Sync.
    pub fn follow_up(&mut self, msg: &Repr<'_>) -> Result<Option<PtpSample>, MatchError> {
        let Body::FollowUp {
            precise_origin_timestamp,
        } = msg.body
        else {
            return Err(MatchError::WrongMessageType);
        };
        self.check_source(msg)?;
        let (seq, t2, c_sync) = self.pending_sync.ok_or(MatchError::NothingPending)?;
        if seq != msg.header.sequence_id {
            return Err(MatchError::SequenceMismatch);
        }
        self.pending_sync = None;
        self.last_sync = Some(SyncTimes {
            t1: precise_origin_timestamp,
            t2,
            correction: c_sync.saturating_add(msg.header.correction),
        });
        Ok(self.sample_now())
    }

    /// Our `Delay_Req` with `sequence_id` left at local time `t3`.
    pub fn delay_req_sent(&mut self, sequence_id: u16, t3: Timestamp) {
        self.pending_delay_req = Some((sequence_id, t3));
    }

    /// A `Delay_Resp` arrived. Updates the mean path delay and returns a full
    /// sample built with the last Sync.
    ///
    /// # Errors
    /// [`MatchError`] when it does not answer the pending `Delay_Req`.
    pub fn delay_resp(&mut self, msg: &Repr<'_>) -> Result<Option<PtpSample>, MatchError> {
        if !matches!(msg.body, Body::DelayResp { .. }) {
            return Err(MatchError::WrongMessageType);
        }
        self.check_source(msg)?;
        let (seq, t3) = self.pending_delay_req.ok_or(MatchError::NothingPending)?;
        let delay = DelayTimes::from_delay_resp(self.own_port, seq, t3, msg)?;
        self.pending_delay_req = None;
        let Some(sync) = self.last_sync else {
            return Ok(None);
        };
        let s = e2e_sample(&sync, &delay);
        self.mean_path_delay = Some(s.delay);
        Ok(Some(s))
    }
}

/// One peer-delay exchange: `t1`, `t4` on the local clock, `t2`, `t3` on the
/// peer's, and the response corrections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PdelayTimes {
    /// `Pdelay_Req` send time, local clock.
    pub t1: Timestamp,
    /// `Pdelay_Req` arrival at the peer (zero from a one-step responder).
    pub t2: PtpTimestamp,
    /// `Pdelay_Resp` send time at the peer (zero from a one-step responder).
    pub t3: PtpTimestamp,
    /// `Pdelay_Resp` arrival, local clock.
    pub t4: Timestamp,
    /// `Pdelay_Resp` plus `Pdelay_Resp_Follow_Up` corrections (one-step: includes
    /// the responder's turnaround time).
    pub correction: TimeInterval,
}

impl PdelayTimes {
    fn check_resp(
        own_port: PortIdentity,
        sequence_id: u16,
        resp: &Repr<'_>,
    ) -> Result<PtpTimestamp, MatchError> {
        let Body::PdelayResp {
            request_receipt_timestamp,
            requesting_port_identity,
        } = resp.body
        else {
            return Err(MatchError::WrongMessageType);
        };
        if requesting_port_identity != own_port {
            return Err(MatchError::NotForUs);
        }
        if resp.header.sequence_id != sequence_id {
            return Err(MatchError::SequenceMismatch);
        }
        Ok(request_receipt_timestamp)
    }

    /// From a one-step `Pdelay_Resp` (twoStepFlag clear) to our `Pdelay_Req`
    /// (`sequence_id`, sent at `t1`), received at `t4`.
    ///
    /// # Errors
    /// [`MatchError`] when the response does not answer that request.
    pub fn one_step(
        own_port: PortIdentity,
        sequence_id: u16,
        t1: Timestamp,
        resp: &Repr<'_>,
        t4: Timestamp,
    ) -> Result<Self, MatchError> {
        Self::check_resp(own_port, sequence_id, resp)?;
        if resp.header.flags.two_step() {
            return Err(MatchError::StepModeMismatch);
        }
        Ok(Self {
            t1,
            t2: PtpTimestamp::default(),
            t3: PtpTimestamp::default(),
            t4,
            correction: resp.header.correction,
        })
    }

    /// From a two-step `Pdelay_Resp` and its `Pdelay_Resp_Follow_Up`.
    ///
    /// # Errors
    /// [`MatchError`] when the pair does not answer that request.
    pub fn two_step(
        own_port: PortIdentity,
        sequence_id: u16,
        t1: Timestamp,
        resp: &Repr<'_>,
        t4: Timestamp,
        follow_up: &Repr<'_>,
    ) -> Result<Self, MatchError> {
        let t2 = Self::check_resp(own_port, sequence_id, resp)?;
        if !resp.header.flags.two_step() {
            return Err(MatchError::StepModeMismatch);
        }
        let Body::PdelayRespFollowUp {
            response_origin_timestamp,
            requesting_port_identity,
        } = follow_up.body
        else {
            return Err(MatchError::WrongMessageType);
        };
        if requesting_port_identity != own_port {
            return Err(MatchError::NotForUs);
        }
        if follow_up.header.sequence_id != sequence_id {
            return Err(MatchError::SequenceMismatch);
        }
        if follow_up.header.source_port_identity != resp.header.source_port_identity {
            return Err(MatchError::SourceMismatch);
        }
        Ok(Self {
            t1,
            t2,
            t3: response_origin_timestamp,
            t4,
            correction: resp
                .header
                .correction
                .saturating_add(follow_up.header.correction),
        })
    }

    /// Mean link delay `(r·(t4 − t1) − (t3 − t2) − c) / 2`, with
    /// `r = 1 + neighbor_rate_ratio` (pass [`Ppb::ZERO`] when unknown).
    pub fn mean_link_delay(&self, neighbor_rate_ratio: Ppb) -> Duration {
        let local = self.t4.duration_since(self.t1);
        let local_in_peer = local.saturating_add(neighbor_rate_ratio.phase_over(local));
        let peer_turnaround = self
            .t3
            .to_timestamp()
            .duration_since(self.t2.to_timestamp());
        let v = i128::from(local_in_peer.as_nanos())
            .saturating_sub(i128::from(peer_turnaround.as_nanos()))
            .saturating_mul(SCALE)
            .saturating_sub(i128::from(self.correction.to_bits()));
        round_scaled(v / 2)
    }
}

/// Neighbour rate ratio − 1, in ppb (positive: the peer's clock runs faster),
/// from two two-step exchanges: `(t3' − t3) / (t4' − t4) − 1`. `None` when the
/// local interval is not positive or a responder gave no `t3`.
pub fn neighbor_rate_ratio(earlier: &PdelayTimes, later: &PdelayTimes) -> Option<Ppb> {
    if earlier.t3 == PtpTimestamp::default() || later.t3 == PtpTimestamp::default() {
        return None;
    }
    let local = i128::from(later.t4.duration_since(earlier.t4).as_nanos());
    let peer = i128::from(
        later
            .t3
            .to_timestamp()
            .duration_since(earlier.t3.to_timestamp())
            .as_nanos(),
    );
    if local <= 0 {
        return None;
    }
    // (peer − local)/local · 10⁹ ppb, as I32F32 bits; |peer − local| < 2^64,
    // × 10⁹ × 2³² < 2^126.
    let bits = peer
        .checked_sub(local)?
        .checked_mul(1_000_000_000)?
        .checked_mul(1 << 32)?
        / local;
    let bits = i64::try_from(bits).unwrap_or(if bits < 0 { i64::MIN } else { i64::MAX });
    Some(Ppb::from_bits(bits))
}

/// P2P offset from a Sync and the mean link delay to the peer:
/// `t2 − t1 − c − meanLinkDelay` (local − master). The same formula as
/// [`offset_from_master`]; transparent clocks on the path have already added
/// their link delays to the correction field.
pub fn p2p_sample(sync: &SyncTimes, mean_link_delay: Duration) -> PtpSample {
    offset_from_master(sync, mean_link_delay)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::cast_possible_wrap,
        reason = "test delays and times are far below 2^63"
    )]

    use super::*;
    use crate::wire::ptp::{ClockIdentity, Flags, Header};
    use proptest::prelude::*;

    const MASTER: PortIdentity = PortIdentity {
        clock_identity: ClockIdentity([1; 8]),
        port_number: 1,
    };
    const ME: PortIdentity = PortIdentity {
        clock_identity: ClockIdentity([2; 8]),
        port_number: 1,
    };

    fn ts(ns: u64) -> PtpTimestamp {
        PtpTimestamp::from_timestamp(Timestamp::from_nanos(ns))
    }

    fn msg(body: Body, seq: u16, two_step: bool, corr_ns_x65536: i64) -> Repr<'static> {
        Repr {
            header: Header {
                version: 2,
                flags: Flags(if two_step { Flags::TWO_STEP } else { 0 }),
                correction: TimeInterval::from_bits(corr_ns_x65536),
                source_port_identity: MASTER,
                sequence_id: seq,
                ..Header::default()
            },
            body,
            tlvs: &[],
        }
    }

    /// A world where the slave is `offset` ns ahead, the path is `d` ns each
    /// way and a transparent clock adds `resid` ns residence to both.
    #[test]
    fn e2e_two_step_with_corrections() {
        let base = 1_700_000_000_000_000_000u64;
        let offset = 12_345i64;
        let d = 50_000u64;
        let resid = 1_500u64;
        let t1 = base;
        let t2 = Timestamp::from_nanos(t1 + d + resid).wrapping_add(Duration::from_nanos(offset));
        let t3 = t2.wrapping_add(Duration::from_millis(1));
        let t4 = t3.wrapping_sub(Duration::from_nanos(offset)).as_nanos() + d + resid;
        let mut s = E2eSlave::new(ME, None);
        // Sync's correction carries part of the residence time, Follow_Up the
        // rest, one of them as a negative fractional value
        let sync = msg(
            Body::Sync {
                origin_timestamp: ts(0),
            },
            10,
            true,
            (2000i64 << 16) + (1 << 15),
        );
        let fup = msg(
            Body::FollowUp {
                precise_origin_timestamp: ts(t1),
            },
            10,
            true,
            -(500i64 << 16) - (1 << 15),
        );
        assert_eq!(s.sync(&sync, t2), Ok(None));
        assert_eq!(s.follow_up(&fup), Ok(None));
        s.delay_req_sent(3, t3);
        let resp = msg(
            Body::DelayResp {
                receive_timestamp: ts(t4),
                requesting_port_identity: ME,
            },
            3,
            false,
            (resid as i64) << 16,
        );
        let sample = s.delay_resp(&resp).unwrap().unwrap();
        assert_eq!(sample.offset.as_nanos(), offset);
        assert_eq!(sample.delay.as_nanos(), d as i64);
        assert_eq!(s.mean_path_delay(), Some(Duration::from_nanos(d as i64)));
        assert_eq!(s.master(), Some(MASTER));
        // next Sync gives a sample straight away
        let sync2 = msg(
            Body::Sync {
                origin_timestamp: ts(0),
            },
            11,
            true,
            (resid as i64) << 16,
        );
        let t2b = t2.wrapping_add(Duration::from_secs(1));
        let fup2 = msg(
            Body::FollowUp {
                precise_origin_timestamp: ts(t1 + 1_000_000_000),
            },
            11,
            true,
            0,
        );
        s.sync(&sync2, t2b).unwrap();
        assert_eq!(
            s.follow_up(&fup2).unwrap().unwrap().offset.as_nanos(),
            offset
        );
    }

    #[test]
    fn e2e_one_step_and_refusals() {
        let mut s = E2eSlave::new(ME, Some(MASTER));
        let t1 = 1_000_000_000_000u64;
        let sync = msg(
            Body::Sync {
                origin_timestamp: ts(t1),
            },
            1,
            false,
            0,
        );
        // slave 1 µs behind, 10 µs path
        let t2 = Timestamp::from_nanos(t1 + 10_000 - 1_000);
        assert_eq!(s.sync(&sync, t2), Ok(None));
        s.delay_req_sent(9, Timestamp::from_nanos(t1 + 20_000));
        let resp = msg(
            Body::DelayResp {
                receive_timestamp: ts(t1 + 31_000),
                requesting_port_identity: ME,
            },
            9,
            false,
            0,
        );
        let sample = s.delay_resp(&resp).unwrap().unwrap();
        assert_eq!(sample.offset, Duration::from_nanos(-1_000));
        assert_eq!(sample.delay, Duration::from_nanos(10_000));
        // stale response, response for another port, wrong master, stray follow-up
        assert_eq!(s.delay_resp(&resp), Err(MatchError::NothingPending));
        s.delay_req_sent(10, Timestamp::from_nanos(t1));
        let other = msg(
            Body::DelayResp {
                receive_timestamp: ts(t1),
                requesting_port_identity: MASTER,
            },
            10,
            false,
            0,
        );
        assert_eq!(s.delay_resp(&other), Err(MatchError::NotForUs));
        let stale = msg(
            Body::DelayResp {
                receive_timestamp: ts(t1),
                requesting_port_identity: ME,
            },
            9,
            false,
            0,
        );
        assert_eq!(s.delay_resp(&stale), Err(MatchError::SequenceMismatch));
        let mut foreign = sync;
        foreign.header.source_port_identity = ME;
        assert_eq!(s.sync(&foreign, t2), Err(MatchError::SourceMismatch));
        let fup = msg(
            Body::FollowUp {
                precise_origin_timestamp: ts(t1),
            },
            1,
            true,
            0,
        );
        assert_eq!(s.follow_up(&fup), Err(MatchError::NothingPending));
        assert_eq!(s.sync(&fup, t2), Err(MatchError::WrongMessageType));
        // a two-step Sync's follow-up must match its sequence id
        let sync2 = msg(
            Body::Sync {
                origin_timestamp: ts(0),
            },
            2,
            true,
            0,
        );
        s.sync(&sync2, t2).unwrap();
        assert_eq!(s.follow_up(&fup), Err(MatchError::SequenceMismatch));
        assert_eq!(
            SyncTimes::one_step(&sync2, t2),
            Err(MatchError::StepModeMismatch)
        );
        assert_eq!(
            SyncTimes::two_step(&sync, t2, &fup),
            Err(MatchError::StepModeMismatch)
        );
    }

    #[test]
    fn negative_correction_moves_offset_up() {
        // c = −2.5 ns: the master→slave time grows by 2.5 ns
        let sync = SyncTimes {
            t1: ts(1_000),
            t2: Timestamp::from_nanos(1_100),
            correction: TimeInterval::from_bits(-(5 << 15)),
        };
        let s = offset_from_master(&sync, Duration::from_nanos(100));
        assert_eq!(s.offset.as_nanos(), 3); // 2.5 rounded away from zero
    }

    #[test]
    fn peer_delay() {
        // link 800 ns each way, peer turnaround 5 µs, peer clock far off
        let t1 = Timestamp::from_nanos(10_000_000);
        let t2 = ts(900_000_000_000);
        let t3 = ts(900_000_005_000);
        let t4 = Timestamp::from_nanos(10_000_000 + 800 + 5_000 + 800);
        let resp = msg(
            Body::PdelayResp {
                request_receipt_timestamp: t2,
                requesting_port_identity: ME,
            },
            4,
            true,
            0,
        );
        let fup = msg(
            Body::PdelayRespFollowUp {
                response_origin_timestamp: t3,
                requesting_port_identity: ME,
            },
            4,
            true,
            0,
        );
        let p = PdelayTimes::two_step(ME, 4, t1, &resp, t4, &fup).unwrap();
        assert_eq!(p.mean_link_delay(Ppb::ZERO), Duration::from_nanos(800));
        // one-step: the turnaround is in the correction field
        let resp1 = msg(
            Body::PdelayResp {
                request_receipt_timestamp: ts(0),
                requesting_port_identity: ME,
            },
            4,
            false,
            5_000 << 16,
        );
        let p1 = PdelayTimes::one_step(ME, 4, t1, &resp1, t4).unwrap();
        assert_eq!(p1.mean_link_delay(Ppb::ZERO), Duration::from_nanos(800));
        assert_eq!(
            PdelayTimes::one_step(ME, 5, t1, &resp1, t4),
            Err(MatchError::SequenceMismatch)
        );
        assert_eq!(
            PdelayTimes::two_step(ME, 4, t1, &resp1, t4, &fup),
            Err(MatchError::StepModeMismatch)
        );
        // rate ratio: peer runs 100 ppm fast
        let later = PdelayTimes {
            t1: t1.wrapping_add(Duration::from_secs(1)),
            t2: ts(900_000_000_000 + 1_000_100_000),
            t3: ts(900_000_005_000 + 1_000_100_000),
            t4: t4.wrapping_add(Duration::from_secs(1)),
            correction: TimeInterval::ZERO,
        };
        let r = neighbor_rate_ratio(&p, &later).unwrap();
        assert_eq!(r.floor_ppb(), 100_000);
        assert_eq!(neighbor_rate_ratio(&later, &p), None);
        assert_eq!(neighbor_rate_ratio(&p1, &later), None);
        // with r, (t4 − t1) is scaled into the peer's time base
        let d = PdelayTimes {
            correction: TimeInterval::ZERO,
            ..later
        }
        .mean_link_delay(r);
        // 6600 ns · 1.0001 = 6600.66 → 6601 (ns resolution); (6601 − 5000) / 2 = 800.5 → 801
        assert_eq!(d.as_nanos(), 801);
        let sync = SyncTimes {
            t1: ts(5_000),
            t2: Timestamp::from_nanos(5_800),
            correction: TimeInterval::ZERO,
        };
        assert_eq!(
            p2p_sample(&sync, Duration::from_nanos(800)).offset,
            Duration::ZERO
        );
    }

    proptest! {
        #[test]
        fn e2e_recovers_offset(
            t1 in 1u64 << 40..1u64 << 62,
            offset in -1_000_000_000i64..1_000_000_000,
            d in 0u64..10_000_000,
            c1 in -1_000_000i64..1_000_000,
            c2 in -1_000_000i64..1_000_000,
        ) {
            // corrections describe residence time that really happened
            let ms_true = d as i64 + c1;
            let sm_true = d as i64 + c2;
            let t2 = Timestamp::from_nanos(t1).wrapping_add(Duration::from_nanos(ms_true + offset));
            let t3 = t2.wrapping_add(Duration::from_micros(100));
            let t4 = t3.wrapping_add(Duration::from_nanos(sm_true - offset));
            let sync = SyncTimes { t1: ts(t1), t2, correction: TimeInterval::from_nanos(c1) };
            let delay = DelayTimes { t3, t4: PtpTimestamp::from_timestamp(t4), correction: TimeInterval::from_nanos(c2) };
            let s = e2e_sample(&sync, &delay);
            prop_assert_eq!(s.offset.as_nanos(), offset);
            prop_assert_eq!(s.delay.as_nanos(), d as i64);
            prop_assert_eq!(e2e_mean_path_delay(&sync, &delay).as_nanos(), d as i64);
        }
    }
}
