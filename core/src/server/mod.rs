//! An NTP server of the clock keel keeps, sans-IO: one call per request.
//!
//! ```text
//! let (n, from, t2) = recv();                       // t2: kernel receive time
//! match respond(&req[..n], t2, ClientKey::from_socket_addr(from),
//!               &view, &mut rate, rand, &mut out) {
//!     Response::Reply(len) => { stamp_transmit(&mut out[..len], now()); send(&out[..len], from) }
//!     Response::Kod(len)   => send(&out[..len], from),
//!     Response::Drop       => {}
//! }
//! ```
//!
//! - **No amplification:** a reply is 48 bytes and only answers a request
//!   of at least 48 bytes, so it is never longer than the request
//!   (extension fields and MACs are not echoed).
//! - **Only client mode:** mode 3 with version 1–4 is answered, with the
//!   request's version; every other mode (symmetric, broadcast, control
//!   and private modes 6 and 7, server replies, Kiss-o'-Death replies) and every packet
//!   shorter than 48 bytes or not a multiple of 4 long is dropped, as
//!   chrony does.
//! - **Rate limiting:** chrony's token bucket per client address with a
//!   random leak and `RATE` Kiss-o'-Death ([`RateTable`]).
//! - **What is served** comes from a [`ServerView`], a snapshot of the
//!   clock taken at each update (LI, stratum, reference id and time, root
//!   delay, and the root dispersion at the reference time with its growth
//!   rate): a request between two updates gets a root dispersion grown to
//!   its receive time, so `root delay / 2 + root dispersion` bounds the
//!   served clock's error whenever the engine's bound does.
//! - **Transmit timestamp:** [`respond`] writes the receive time there as
//!   a placeholder; the caller reads its clock right before sending and
//!   writes it with [`stamp_transmit`] (at [`TRANSMIT_OFFSET`]).
//!
//! Integer arithmetic only, no allocation, never panics; all time and
//! randomness come from the caller.

#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]
#![warn(clippy::indexing_slicing)]

mod rate;

pub use rate::{
    CLIENT_RECORD_BYTES, ClientKey, RateConfig, RateStats, RateTable, Verdict as RateVerdict,
};

use crate::engine::{Engine, LeapBits, SyncState};
use crate::measure::ntp::MAX_DISPERSION;
use crate::servo::Servo;
use crate::time::{Duration, NtpShort, NtpTimestamp, Timestamp};
use crate::wire::ntp::{HEADER_LEN, KissCode, LeapIndicator, ReferenceId};

/// Where the transmit timestamp lies in a reply (8 bytes, big-endian NTP).
pub const TRANSMIT_OFFSET: usize = 40;

/// The stratum of an unsynchronised server (RFC 5905).
pub const UNSYNCHRONIZED_STRATUM: u8 = 16;

/// What [`respond`] did.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Response {
    /// Send nothing.
    Drop,
    /// A reply of this many bytes is in the output buffer: write the
    /// transmit timestamp with [`stamp_transmit`] right before sending it.
    Reply(usize),
    /// A `RATE` Kiss-o'-Death of this many bytes is in the output buffer:
    /// send it as it is.
    Kod(usize),
}

impl Response {
    /// The bytes to send, if any.
    pub const fn len(self) -> usize {
        match self {
            Self::Drop => 0,
            Self::Reply(n) | Self::Kod(n) => n,
        }
    }

    /// Nothing to send?
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// What the server says about its clock: a snapshot taken at an update
/// (`reference_time`), valid for `horizon` after it. [`ServerView::new`]
/// prepares it for answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServedClock {
    /// The clock is synchronised. If not, replies carry LI 3 and stratum
    /// 16, and clients ignore them.
    pub synchronized: bool,
    /// The leap warning to pass on.
    pub leap: LeapIndicator,
    /// The stratum served (1 for a primary reference), clamped to 1–15.
    pub stratum: u8,
    /// The clock's precision, log₂ s.
    pub precision: i8,
    /// The reference id (ASCII at stratum 1, the upstream's IPv4 address
    /// or a hash of its IPv6 address above).
    pub reference_id: ReferenceId,
    /// When the snapshot was taken (the last update), on the served clock.
    pub reference_time: Timestamp,
    /// Round-trip delay to the primary reference.
    pub root_delay: Duration,
    /// Root dispersion at `reference_time`: with `root_delay / 2` it
    /// bounds |served clock − true time| then.
    pub root_dispersion: Duration,
    /// How fast the root dispersion grows after `reference_time`, ppb (ns
    /// per second).
    pub growth_ppb: u32,
    /// How long after `reference_time` the snapshot holds; a request
    /// received later is answered as unsynchronised (a stale snapshot).
    pub horizon: Duration,
}

impl ServedClock {
    /// An unsynchronised clock.
    pub const fn unsynchronized(precision: i8) -> Self {
        Self {
            synchronized: false,
            leap: LeapIndicator::Unsynchronized,
            stratum: UNSYNCHRONIZED_STRATUM,
            precision,
            reference_id: ReferenceId([0; 4]),
            reference_time: Timestamp::EPOCH,
            root_delay: Duration::ZERO,
            root_dispersion: MAX_DISPERSION,
            growth_ppb: 0,
            horizon: Duration::ZERO,
        }
    }
}

/// The source a served clock follows, as [`ServerView::from_engine`]
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Upstream {
    /// Its stratum.
    pub stratum: u8,
    /// Its reference id.
    pub reference_id: ReferenceId,
}

/// Bytes 1–23 of a reply (stratum to reference timestamp), as written
/// once per snapshot; poll (2) and root dispersion (8–11) are filled per
/// request.
type Template = [u8; 23];

/// A [`ServedClock`] prepared for answering: its wire fields are encoded
/// once, when the snapshot is taken, so a request only adds the growth of
/// the root dispersion and its own times. Small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerView {
    clock: ServedClock,
    /// Leap bits when synchronised (LI 3 otherwise).
    leap: u8,
    /// Bytes 1–23 when synchronised, and when not (or stale).
    synced: Template,
    unsynced: Template,
    /// The reference time, NTP format.
    reference: u64,
    /// Root dispersion at the reference time, 16.16 s rounded up.
    dispersion: u32,
    /// The same in 2⁻⁴⁸ s (short units with 32 fraction bits), rounded up.
    dispersion_q32: u64,
    /// Growth in 2⁻¹⁶ s per second, 16 fraction bits, rounded up.
    growth_q16: u64,
    /// The horizon in 16.16 s, rounded down.
    horizon_q16: u64,
}

impl ServerView {
    /// Prepares `clock` for answering.
    pub fn new(clock: ServedClock) -> Self {
        let reference = NtpTimestamp::from_unix(clock.reference_time);
        let dispersion = NtpShort::from_duration_ceil(clock.root_dispersion);
        let template = |stratum: u8, disp: NtpShort| {
            let mut t = [0u8; 23];
            t[0] = stratum;
            t[2] = clock.precision.to_be_bytes()[0];
            t[3..7].copy_from_slice(
                &NtpShort::from_duration_ceil(clock.root_delay)
                    .0
                    .to_be_bytes(),
            );
            t[7..11].copy_from_slice(&disp.0.to_be_bytes());
            t[11..15].copy_from_slice(&clock.reference_id.0);
            t[15..23].copy_from_slice(&reference.to_be_bytes());
            t
        };
        // ns → 16.16 s, rounded down: the horizon is only ever shortened
        // (beyond 2⁵⁷ ns, 4.5 years, it is endless).
        let horizon_q16 = (clock.horizon.as_nanos().max(0).unsigned_abs() >> 9)
            .checked_mul(1 << 16)
            .map_or(u64::MAX, |h| h / 1_953_125);
        Self {
            clock,
            leap: clock.leap.to_bits(),
            synced: template(clock.stratum.clamp(1, 15), dispersion),
            unsynced: template(UNSYNCHRONIZED_STRATUM, dispersion),
            reference: reference.0,
            dispersion: dispersion.0,
            dispersion_q32: {
                // ns · 2⁴⁸ / 10⁹ = ns · 2³⁹ / 1953125, rounded up.
                let ns = u128::from(clock.root_dispersion.as_nanos().max(0).unsigned_abs());
                u64::try_from((ns << 39).div_ceil(1_953_125)).unwrap_or(u64::MAX)
            },
            // ppb → short units (2⁻¹⁶ s) per second, 16 fraction bits,
            // rounded up: ppb · 2³² / 10⁹ < 2³⁵.
            growth_q16: (u64::from(clock.growth_ppb) << 23).div_ceil(1_953_125),
            horizon_q16: if clock.synchronized { horizon_q16 } else { 0 },
        }
    }

    /// A view of an unsynchronised clock.
    pub fn unsynchronized(precision: i8) -> Self {
        Self::new(ServedClock::unsynchronized(precision))
    }

    /// The clock as given.
    pub const fn clock(&self) -> &ServedClock {
        &self.clock
    }

    /// What `engine`'s clock serves at sink time `at` (just after an
    /// update), valid for `horizon`:
    ///
    /// - **synchronised** while the engine is locked or holding over with
    ///   a bound under 16 s (RFC 5905's MAXDISP);
    /// - **stratum and reference id:** `phc` as it is while the PHC steers
    ///   (chrony serves a refclock at stratum 1), `ntp` one stratum down
    ///   while NTP steers; unsynchronised when NTP steers and `ntp` is
    ///   `None`;
    /// - **root delay 0 and root dispersion = the engine's bound**, growing
    ///   at the rate the engine serves applications
    ///   ([`Engine::served_at`]): the client's root distance is keel's
    ///   bound;
    /// - **leap** from the engine's leap-second table (the kernel status
    ///   bits it writes).
    pub fn from_engine<S: Servo>(
        engine: &Engine<S>,
        at: Timestamp,
        horizon: Duration,
        precision: i8,
        phc: Upstream,
        ntp: Option<Upstream>,
    ) -> Self {
        let served = engine.served_at(at, horizon);
        let locked = matches!(
            engine.status().state,
            SyncState::Locked | SyncState::LockedStable | SyncState::Holdover
        );
        let source = if engine.ntp_steers() {
            ntp.map(|u| Upstream {
                stratum: u.stratum.saturating_add(1),
                ..u
            })
        } else {
            Some(phc)
        };
        let (Some(src), true) = (source, locked && served.bound < MAX_DISPERSION) else {
            return Self::new(ServedClock {
                reference_id: source.map_or(ReferenceId([0; 4]), |s| s.reference_id),
                reference_time: at,
                ..ServedClock::unsynchronized(precision)
            });
        };
        let leap = match engine.leap_bits() {
            LeapBits::Insert => LeapIndicator::InsertSecond,
            LeapBits::Delete => LeapIndicator::DeleteSecond,
            LeapBits::None | LeapBits::Keep => LeapIndicator::NoWarning,
        };
        Self::new(ServedClock {
            synchronized: true,
            leap,
            stratum: src.stratum,
            precision,
            reference_id: src.reference_id,
            reference_time: at,
            root_delay: Duration::ZERO,
            root_dispersion: served.bound,
            growth_ppb: served.growth_ppb,
            horizon,
        })
    }

    /// The root dispersion served for a request received at `rx`: at the
    /// reference time plus the growth since, rounded up to 2⁻¹⁶ s;
    /// `None` when the clock is unsynchronised or `rx` is past the
    /// horizon. Before the reference time it is the reference time's.
    pub fn root_dispersion_at(&self, rx: Timestamp) -> Option<NtpShort> {
        self.dispersion_at(NtpTimestamp::from_unix(rx))
    }

    fn dispersion_at(&self, rx: NtpTimestamp) -> Option<NtpShort> {
        // Age in 32.32 s, read as signed (NTP era arithmetic); rounded up
        // to 16.16 s.
        #[allow(clippy::cast_possible_wrap, reason = "modular difference")]
        let age = rx.0.wrapping_sub(self.reference) as i64;
        let age_q16 = age.max(0).unsigned_abs().saturating_add(0xFFFF) >> 16;
        if age_q16 > self.horizon_q16 || !self.clock.synchronized {
            return None;
        }
        // Both in 2⁻⁴⁸ s: added, then rounded up once.
        let total = age_q16
            .checked_mul(self.growth_q16)
            .and_then(|g| g.checked_add(self.dispersion_q32))
            .and_then(|t| t.checked_add(u64::from(u32::MAX)))
            .map_or(u64::MAX, |t| t >> 32);
        Some(NtpShort(u32::try_from(total).unwrap_or(u32::MAX)))
    }
}

/// Answers one request: `request` is the datagram received at `rx` (the
/// kernel's receive timestamp, on the served clock) from `client`; `rand`
/// is 32 random bits for the rate limiter's draws. The reply is written
/// to the start of `out` (at least 48 bytes).
///
/// [`Response::Reply`] and [`Response::Kod`] lengths are 48 and never more
/// than `request.len()`. A reply carries `rx` as a placeholder transmit
/// timestamp: overwrite it with [`stamp_transmit`] right before sending.
pub fn respond<const N: usize>(
    request: &[u8],
    rx: Timestamp,
    client: ClientKey,
    view: &ServerView,
    rate: &mut RateTable<N>,
    rand: u32,
    out: &mut [u8],
) -> Response {
    // Checks on the raw bytes, before any state is touched (chrony's
    // check_packet_format, then the mode).
    let (Some(head), Some(out)) = (
        request.first_chunk::<HEADER_LEN>(),
        out.first_chunk_mut::<HEADER_LEN>(),
    ) else {
        return Response::Drop;
    };
    if request.len() % 4 != 0 {
        return Response::Drop;
    }
    let lvm = head[0];
    let version = (lvm >> 3) & 7;
    if lvm & 7 != 3 || !(1..=4).contains(&version) {
        return Response::Drop;
    }
    let t2 = NtpTimestamp::from_unix(rx);
    let verdict = rate.check(client, t2, rand);
    let poll = i8::from_be_bytes([head[2]]);
    let poll = rate.min_poll().map_or(poll, |p| p.max(poll));
    let origin: [u8; 8] = head[40..48].try_into().unwrap_or([0; 8]);
    match verdict {
        rate::Verdict::Drop => Response::Drop,
        rate::Verdict::Kod => {
            // Leap 3, stratum 0, the code as reference id; the request's
            // transmit timestamp as origin (so the client can match it)
            // and in place of the server's times (no time is given).
            *out = [0; HEADER_LEN];
            out[0] = (3 << 6) | (version << 3) | 4;
            out[2] = poll.to_be_bytes()[0];
            out[12..16].copy_from_slice(&KissCode::Rate.to_reference_id().0);
            out[24..32].copy_from_slice(&origin);
            out[32..40].copy_from_slice(&origin);
            out[40..48].copy_from_slice(&origin);
            Response::Kod(HEADER_LEN)
        }
        rate::Verdict::Answer => {
            let (leap, template, dispersion) = match view.dispersion_at(t2) {
                Some(d) => (view.leap, &view.synced, d.0),
                None => (3, &view.unsynced, view.dispersion),
            };
            out[0] = (leap << 6) | (version << 3) | 4;
            out[1..24].copy_from_slice(template);
            out[2] = poll.to_be_bytes()[0];
            out[8..12].copy_from_slice(&dispersion.to_be_bytes());
            out[24..32].copy_from_slice(&origin);
            let t2 = t2.to_be_bytes();
            out[32..40].copy_from_slice(&t2);
            out[40..48].copy_from_slice(&t2);
            Response::Reply(HEADER_LEN)
        }
    }
}

/// Writes the transmit timestamp `t3` (read from the clock right before
/// sending) into a reply that [`respond`] built; never earlier than the
/// reply's receive timestamp (a clock stepped back in between). Does
/// nothing to a buffer shorter than 48 bytes.
pub fn stamp_transmit(reply: &mut [u8], t3: Timestamp) {
    let Some(out) = reply.first_chunk_mut::<HEADER_LEN>() else {
        return;
    };
    let rx = u64::from_be_bytes(out[32..40].try_into().unwrap_or([0; 8]));
    let tx = NtpTimestamp::from_unix(t3).0;
    #[allow(clippy::cast_possible_wrap, reason = "modular difference")]
    let tx = if (tx.wrapping_sub(rx) as i64) < 0 {
        rx
    } else {
        tx
    };
    out[TRANSMIT_OFFSET..HEADER_LEN].copy_from_slice(&tx.to_be_bytes());
}

#[cfg(test)]
mod tests;
