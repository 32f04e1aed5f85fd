//! IEEE 1588-2019 best master clock algorithm: the dataset comparison
//! (§9.3.4, figures 34 and 35) and the state decision (§9.3.3, figure 33), as
//! pure functions. For every field compared, lower is better.

use crate::wire::ptp::{Body, ClockIdentity, ClockQuality, PortIdentity, Repr};

/// What the comparison looks at: the grandmaster's attributes from an
/// Announce (or from the local default dataset), the path length, and who
/// sent and who received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ComparisonDataset {
    /// grandmasterPriority1.
    pub gm_priority1: u8,
    /// grandmasterIdentity.
    pub gm_identity: ClockIdentity,
    /// grandmasterClockQuality.
    pub gm_clock_quality: ClockQuality,
    /// grandmasterPriority2.
    pub gm_priority2: u8,
    /// stepsRemoved.
    pub steps_removed: u16,
    /// The port that sent the Announce (`sourcePortIdentity`).
    pub sender: PortIdentity,
    /// The local port that received it.
    pub receiver: PortIdentity,
}

impl ComparisonDataset {
    /// From an Announce received on `receiver`; `None` for other messages.
    pub fn from_announce(msg: &Repr<'_>, receiver: PortIdentity) -> Option<Self> {
        let Body::Announce(a) = msg.body else {
            return None;
        };
        Some(Self {
            gm_priority1: a.grandmaster_priority1,
            gm_identity: a.grandmaster_identity,
            gm_clock_quality: a.grandmaster_clock_quality,
            gm_priority2: a.grandmaster_priority2,
            steps_removed: a.steps_removed,
            sender: msg.header.source_port_identity,
            receiver,
        })
    }

    /// The local clock's own dataset D0 (§9.3.4: stepsRemoved 0, sender and
    /// receiver both the local port).
    pub const fn local(
        priority1: u8,
        clock_quality: ClockQuality,
        priority2: u8,
        port: PortIdentity,
    ) -> Self {
        Self {
            gm_priority1: priority1,
            gm_identity: port.clock_identity,
            gm_clock_quality: clock_quality,
            gm_priority2: priority2,
            steps_removed: 0,
            sender: port,
            receiver: port,
        }
    }
}

/// Result of comparing dataset A with dataset B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Comparison {
    /// A is better than B.
    Better,
    /// A is better than B by topology only (same grandmaster).
    BetterByTopology,
    /// B is better than A by topology only.
    WorseByTopology,
    /// B is better than A.
    Worse,
    /// Error-1: the Announce came back to the port that sent it.
    Error1,
    /// Error-2: A and B are the same message (duplicate).
    Error2,
}

impl Comparison {
    /// Better or better by topology.
    pub const fn a_wins(self) -> bool {
        matches!(self, Self::Better | Self::BetterByTopology)
    }
}

fn lower_is_better<T: Ord>(a: T, b: T) -> Option<Comparison> {
    match a.cmp(&b) {
        core::cmp::Ordering::Less => Some(Comparison::Better),
        core::cmp::Ordering::Greater => Some(Comparison::Worse),
        core::cmp::Ordering::Equal => None,
    }
}

/// Compares A with B (§9.3.4).
pub fn compare(a: &ComparisonDataset, b: &ComparisonDataset) -> Comparison {
    if a.gm_identity != b.gm_identity {
        // figure 34: different grandmasters
        let (qa, qb) = (a.gm_clock_quality, b.gm_clock_quality);
        return lower_is_better(a.gm_priority1, b.gm_priority1)
            .or_else(|| lower_is_better(qa.clock_class, qb.clock_class))
            .or_else(|| lower_is_better(qa.clock_accuracy, qb.clock_accuracy))
            .or_else(|| {
                lower_is_better(qa.offset_scaled_log_variance, qb.offset_scaled_log_variance)
            })
            .or_else(|| lower_is_better(a.gm_priority2, b.gm_priority2))
            .or_else(|| lower_is_better(a.gm_identity, b.gm_identity))
            .unwrap_or(Comparison::Error2);
    }
    // figure 35: same grandmaster, compare the paths
    let (sa, sb) = (a.steps_removed, b.steps_removed);
    if sa > sb.saturating_add(1) {
        return Comparison::Worse;
    }
    if sb > sa.saturating_add(1) {
        return Comparison::Better;
    }
    if sa > sb {
        return match a.receiver.cmp(&a.sender) {
            core::cmp::Ordering::Less => Comparison::Worse,
            core::cmp::Ordering::Greater => Comparison::WorseByTopology,
            core::cmp::Ordering::Equal => Comparison::Error1,
        };
    }
    if sb > sa {
        return match b.receiver.cmp(&b.sender) {
            core::cmp::Ordering::Less => Comparison::Better,
            core::cmp::Ordering::Greater => Comparison::BetterByTopology,
            core::cmp::Ordering::Equal => Comparison::Error1,
        };
    }
    match a.sender.cmp(&b.sender) {
        core::cmp::Ordering::Less => Comparison::BetterByTopology,
        core::cmp::Ordering::Greater => Comparison::WorseByTopology,
        core::cmp::Ordering::Equal => match a.receiver.port_number.cmp(&b.receiver.port_number) {
            core::cmp::Ordering::Less => Comparison::BetterByTopology,
            core::cmp::Ordering::Greater => Comparison::WorseByTopology,
            core::cmp::Ordering::Equal => Comparison::Error2,
        },
    }
}

/// The recommended state of a port and the decision code behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Recommendation {
    /// Stay LISTENING (nothing heard on a listening port).
    Listening,
    /// M1: this clock (class 1–127) beats everything heard on the port.
    MasterM1,
    /// M2: this clock beats the best clock heard anywhere.
    MasterM2,
    /// M3: the port is master towards a worse part of the network.
    MasterM3,
    /// S1: the best clock was heard on this port; follow it.
    Slave,
    /// P1: a class 1–127 clock beaten on this port.
    PassiveP1,
    /// P2: the best clock is elsewhere and this port's best is redundant.
    PassiveP2,
}

/// The state decision (§9.3.3, figure 33) for one port.
///
/// - `d0`: the local clock ([`ComparisonDataset::local`]);
/// - `erbest`: the best Announce received on this port, if any;
/// - `ebest`: the best Announce received on any port, if any;
/// - `listening`: the port is LISTENING.
pub fn state_decision(
    d0: &ComparisonDataset,
    erbest: Option<&ComparisonDataset>,
    ebest: Option<&ComparisonDataset>,
    listening: bool,
) -> Recommendation {
    if erbest.is_none() && listening {
        return Recommendation::Listening;
    }
    let beats = |other: Option<&ComparisonDataset>| other.is_none_or(|o| compare(d0, o).a_wins());
    if (1..=127).contains(&d0.gm_clock_quality.clock_class) {
        return if beats(erbest) {
            Recommendation::MasterM1
        } else {
            Recommendation::PassiveP1
        };
    }
    if beats(ebest) {
        return Recommendation::MasterM2;
    }
    match (erbest, ebest) {
        (Some(r), Some(b)) if r == b => Recommendation::Slave,
        (Some(r), Some(b)) if compare(b, r) == Comparison::BetterByTopology => {
            Recommendation::PassiveP2
        }
        _ => Recommendation::MasterM3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(id: u8, n: u16) -> PortIdentity {
        PortIdentity {
            clock_identity: ClockIdentity([id; 8]),
            port_number: n,
        }
    }

    fn ds(
        gm: u8,
        p1: u8,
        class: u8,
        steps: u16,
        sender: PortIdentity,
        receiver: PortIdentity,
    ) -> ComparisonDataset {
        ComparisonDataset {
            gm_priority1: p1,
            gm_identity: ClockIdentity([gm; 8]),
            gm_clock_quality: ClockQuality {
                clock_class: class,
                clock_accuracy: 0xFE,
                offset_scaled_log_variance: 0xFFFF,
            },
            gm_priority2: 128,
            steps_removed: steps,
            sender,
            receiver,
        }
    }

    #[test]
    fn different_grandmasters() {
        let me = port(9, 1);
        let a = ds(1, 128, 248, 0, port(1, 1), me);
        let b = ds(2, 128, 248, 0, port(2, 1), me);
        // identity breaks the tie
        assert_eq!(compare(&a, &b), Comparison::Better);
        assert_eq!(compare(&b, &a), Comparison::Worse);
        // priority1 beats everything after it
        let b1 = ComparisonDataset {
            gm_priority1: 127,
            ..b
        };
        assert_eq!(compare(&a, &b1), Comparison::Worse);
        // class beats accuracy
        let a6 = ComparisonDataset {
            gm_clock_quality: ClockQuality {
                clock_class: 6,
                ..a.gm_clock_quality
            },
            ..a
        };
        let b_acc = ComparisonDataset {
            gm_clock_quality: ClockQuality {
                clock_accuracy: 0x20,
                ..b.gm_clock_quality
            },
            ..b
        };
        assert_eq!(compare(&a6, &b_acc), Comparison::Better);
        assert_eq!(compare(&a, &b_acc), Comparison::Worse);
    }

    #[test]
    fn same_grandmaster_topology() {
        let me1 = port(9, 1);
        let me2 = port(9, 2);
        // two steps apart: the shorter path wins outright
        let a = ds(1, 128, 248, 1, port(3, 1), me1);
        let b = ds(1, 128, 248, 3, port(4, 1), me2);
        assert_eq!(compare(&a, &b), Comparison::Better);
        assert_eq!(compare(&b, &a), Comparison::Worse);
        // one step apart: decided by receiver vs sender of the longer one
        let b = ds(1, 128, 248, 2, port(4, 1), me2);
        // B's receiver (9…) is above its sender (4…): A wins by topology only
        assert_eq!(compare(&a, &b), Comparison::BetterByTopology);
        let b_low = ds(1, 128, 248, 2, port(12, 1), me2); // receiver < sender
        assert_eq!(compare(&a, &b_low), Comparison::Better);
        let b_hi = ds(1, 128, 248, 2, port(4, 1), me2);
        assert_eq!(compare(&b_hi, &a), Comparison::WorseByTopology);
        let b_self = ds(1, 128, 248, 2, me2, me2);
        assert_eq!(compare(&b_self, &a), Comparison::Error1);
        // equal steps: lower sender wins by topology, then receiver port number
        let c = ds(1, 128, 248, 1, port(2, 1), me2);
        assert_eq!(compare(&c, &a), Comparison::BetterByTopology);
        assert_eq!(compare(&a, &c), Comparison::WorseByTopology);
        let a2 = ds(1, 128, 248, 1, port(3, 1), me2);
        assert_eq!(compare(&a, &a2), Comparison::BetterByTopology);
        assert_eq!(compare(&a, &a), Comparison::Error2);
    }

    #[test]
    fn decisions() {
        let me = port(9, 1);
        let d0 = ComparisonDataset::local(
            128,
            ClockQuality {
                clock_class: 248,
                clock_accuracy: 0xFE,
                offset_scaled_log_variance: 0xFFFF,
            },
            128,
            me,
        );
        let better = ds(1, 128, 248, 0, port(1, 1), me);
        let worse = ds(20, 128, 248, 0, port(20, 1), me);
        assert_eq!(
            state_decision(&d0, None, None, true),
            Recommendation::Listening
        );
        assert_eq!(
            state_decision(&d0, None, None, false),
            Recommendation::MasterM2
        );
        assert_eq!(
            state_decision(&d0, Some(&better), Some(&better), false),
            Recommendation::Slave
        );
        assert_eq!(
            state_decision(&d0, Some(&worse), Some(&worse), false),
            Recommendation::MasterM2
        );
        // the best is on another port; this port hears a worse GM: master M3
        let other_port_best = ds(1, 128, 248, 0, port(1, 1), port(9, 2));
        assert_eq!(
            state_decision(
                &d0,
                Some(&ds(5, 128, 248, 0, port(5, 1), me)),
                Some(&other_port_best),
                false
            ),
            Recommendation::MasterM3
        );
        // the same GM on both ports, this path longer by topology: passive P2
        let here = ds(1, 128, 248, 1, port(7, 1), me);
        let there = ds(1, 128, 248, 1, port(3, 1), port(9, 2));
        assert_eq!(
            state_decision(&d0, Some(&here), Some(&there), false),
            Recommendation::PassiveP2
        );
        // a class-6 local clock
        let gm = ComparisonDataset {
            gm_clock_quality: ClockQuality {
                clock_class: 6,
                ..d0.gm_clock_quality
            },
            ..d0
        };
        assert_eq!(
            state_decision(&gm, Some(&worse), Some(&worse), false),
            Recommendation::MasterM1
        );
        let gm_beaten = ComparisonDataset {
            gm_priority1: 200,
            ..gm
        };
        assert_eq!(
            state_decision(&gm_beaten, Some(&better), Some(&better), false),
            Recommendation::PassiveP1
        );
    }
}
