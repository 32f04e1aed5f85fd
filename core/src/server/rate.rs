//! Response rate limiting per client, with chrony's semantics (`ratelimit
//! interval I burst B leak L kod K`, chrony's `clientlog.c`).
//!
//! - **Who:** a client is its IPv4 address, or the /64 prefix of its IPv6
//!   address ([`ClientKey`]); never the port, so a client that rotates its
//!   source port (or a NAT) shares one bucket.
//! - **Token bucket:** each client earns one response every 2^`interval`
//!   seconds and saves up to `burst` of them; a new client starts with a
//!   full bucket.
//! - **Leak:** a request the bucket does not cover is still answered with
//!   probability 2^−`leak` (and the bucket is emptied), so an attacker
//!   spoofing a victim's address never cuts the victim off.
//! - **Kiss-o'-Death:** a request that is not answered gets a `RATE` Kiss-o'-Death
//!   with probability 2^−`kod` (`kod = 0`: never), telling a well-behaved
//!   client to poll less often.
//! - **Anti-escalation:** a client whose requests come more than twice as
//!   fast after an unanswered one than after an answered one (it retries
//!   faster when ignored) has the leak inverted: most of its requests are
//!   answered, which is less traffic than the retries.
//! - **Global ceiling** (optional): at most `global_per_s` responses a
//!   second (one second of burst) from the buckets, whatever the number of
//!   clients, so table churn from many source addresses cannot turn the
//!   limit off.
//!
//! The table is a fixed array of [`RateTable::WAYS`]-way sets indexed by a
//! hash of the client key seeded by the caller (clients cannot choose
//! collisions without the seed). A new client takes an empty way of its set,
//! else the least recently seen one: O(1) lookup and eviction, no
//! allocation, [`CLIENT_RECORD_BYTES`] bytes per client.
//!
//! Time is kept in ticks of 1/256 s from the request's receive timestamp;
//! a clock step backwards only delays the refill. All randomness comes from
//! the caller's `rand` bits. Integer arithmetic only.

use core::net::{IpAddr, SocketAddr};

use crate::time::NtpTimestamp;

/// Ticks per second of the table's time (1/256 s).
const TICK_LOG2: u32 = 8;

/// An empty way (a real time of 0 is stored as 1).
const EMPTY: u32 = 0;

/// An unknown request interval.
const NO_RATE: u8 = u8::MAX;

/// Bytes of state per client.
pub const CLIENT_RECORD_BYTES: usize = size_of::<Client>();

/// Who a request is from, for rate limiting: the IPv4 address, or the /64
/// prefix of the IPv6 address (an IPv4-mapped IPv6 address counts as its
/// IPv4 address). Never the port.
///
/// An IPv4 key has its upper 32 bits zero, so it shares its value with
/// the IPv6 prefix `0:0:a.b.c.d::/64` inside the reserved `::/8`; two such
/// clients would share a bucket, which only limits them more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientKey(u64);

impl ClientKey {
    /// An IPv4 client.
    pub const fn from_ipv4(octets: [u8; 4]) -> Self {
        Self(u32::from_be_bytes(octets) as u64)
    }

    /// An IPv6 client: its /64 prefix, or the IPv4 address of an
    /// IPv4-mapped address (`::ffff:a.b.c.d`).
    pub const fn from_ipv6(octets: [u8; 16]) -> Self {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = octets;
        let zero = a | b | c | d | e | f | g | h | i | j;
        if zero == 0 && k == 0xFF && l == 0xFF {
            return Self::from_ipv4([m, n, o, p]);
        }
        Self(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
    }

    /// From an address.
    pub const fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::from_ipv4(v4.octets()),
            IpAddr::V6(v6) => Self::from_ipv6(v6.octets()),
        }
    }

    /// From a socket address: the port is ignored, on purpose.
    pub const fn from_socket_addr(addr: SocketAddr) -> Self {
        Self::from_ip(addr.ip())
    }

    /// The key as a number (IPv4: the address; IPv6: the /64 prefix).
    pub const fn to_u64(self) -> u64 {
        self.0
    }
}

/// chrony's `ratelimit` options, plus a global ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateConfig {
    /// log₂ s between the responses a client earns, −8..=12 (chrony's
    /// default 3: one every 8 s).
    pub interval: i8,
    /// Responses a client may save up, 1..=255 (chrony's default 8).
    pub burst: u8,
    /// A request the bucket does not cover is answered with probability
    /// 2^−`leak`, 1..=4 (chrony's default 2: one in four).
    pub leak: u8,
    /// A request left unanswered gets a `RATE` Kiss-o'-Death with
    /// probability 2^−`kod`, 1..=4; 0 = never (chrony's default).
    pub kod: u8,
    /// At most this many responses a second from the buckets, all clients
    /// together (one second of burst); 0 = no ceiling.
    pub global_per_s: u32,
}

impl RateConfig {
    /// chrony's `ratelimit` defaults (`interval 3 burst 8 leak 2`), with a
    /// `RATE` Kiss-o'-Death for one in four of the unanswered requests and no global
    /// ceiling.
    pub const DEFAULT: Self = Self {
        interval: 3,
        burst: 8,
        leak: 2,
        kod: 2,
        global_per_s: 0,
    };

    /// The same with every field brought into its range.
    pub const fn clamped(self) -> Self {
        Self {
            interval: clamp_i8(self.interval, -8, 12),
            burst: if self.burst == 0 { 1 } else { self.burst },
            leak: clamp_u8(self.leak, 1, 4),
            kod: clamp_u8(self.kod, 0, 4),
            global_per_s: self.global_per_s,
        }
    }
}

impl Default for RateConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

const fn clamp_i8(v: i8, lo: i8, hi: i8) -> i8 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

const fn clamp_u8(v: u8, lo: u8, hi: u8) -> u8 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// What the table says of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Answer it.
    Answer,
    /// Send a `RATE` Kiss-o'-Death instead.
    Kod,
    /// Do not answer.
    Drop,
}

/// Counters since the table was made (each wraps at 2⁶⁴).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateStats {
    /// Requests checked.
    pub requests: u64,
    /// Requests the client's bucket (or the global ceiling) did not cover.
    pub limited: u64,
    /// Limited requests answered all the same (the leak, or inverted for
    /// a client that retries faster when ignored).
    pub leaked: u64,
    /// Limited requests that got a `RATE` Kiss-o'-Death.
    pub kods: u64,
    /// Clients that took a way of their set.
    pub new_clients: u64,
    /// ... by evicting another client.
    pub evicted: u64,
}

/// One client's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Client {
    key: u64,
    /// Tick of the last request ([`EMPTY`]: a free way).
    last: u32,
    /// Saved ticks of response credit, up to `cost × burst`.
    tokens: u32,
    /// Request intervals after an answered and after an unanswered
    /// request: 4·log₂(ticks), smoothed ([`NO_RATE`] unknown).
    ivl_answered: u8,
    ivl_dropped: u8,
    /// The last request was not answered.
    dropped: bool,
}

/// The rate limiter: `N` client records (a multiple of [`RateTable::WAYS`]).
#[derive(Clone, Debug)]
pub struct RateTable<const N: usize> {
    on: bool,
    cfg: RateConfig,
    /// Ticks of credit a response costs, and the most a bucket holds.
    cost: u32,
    max_tokens: u32,
    seed: [u64; 2],
    global_tokens: u64,
    global_last: u32,
    stats: RateStats,
    clients: [Client; N],
}

impl<const N: usize> RateTable<N> {
    /// Ways per set: a new client evicts the least recently seen of these.
    pub const WAYS: usize = 4;

    const SETS: u64 = {
        assert!(
            N >= Self::WAYS && N % Self::WAYS == 0,
            "a RateTable holds a positive multiple of 4 clients"
        );
        (N / Self::WAYS) as u64
    };

    /// A table that limits with `cfg` (brought into range), its hash keyed
    /// by `seed` (random per process, e.g. from `getrandom`).
    pub const fn new(cfg: RateConfig, seed: [u64; 2]) -> Self {
        let cfg = cfg.clamped();
        // The interval is clamped to -8..=12: the shift is 0..=20.
        let cost = 1u32 << cfg.interval.wrapping_add(8).unsigned_abs();
        let _ = Self::SETS;
        Self {
            on: true,
            cfg,
            cost,
            max_tokens: cost.saturating_mul(cfg.burst as u32),
            seed: [seed[0], seed[1] | 1],
            global_tokens: (cfg.global_per_s as u64) << TICK_LOG2,
            global_last: EMPTY,
            stats: RateStats {
                requests: 0,
                limited: 0,
                leaked: 0,
                kods: 0,
                new_clients: 0,
                evicted: 0,
            },
            clients: [Client {
                key: 0,
                last: EMPTY,
                tokens: 0,
                ivl_answered: NO_RATE,
                ivl_dropped: NO_RATE,
                dropped: false,
            }; N],
        }
    }

    /// A table that answers everything (rate limiting off).
    pub const fn unlimited(seed: [u64; 2]) -> Self {
        let mut t = Self::new(RateConfig::DEFAULT, seed);
        t.on = false;
        t
    }

    /// Does it limit?
    pub const fn is_on(&self) -> bool {
        self.on
    }

    /// The configuration in force (`None` when off).
    pub const fn config(&self) -> Option<RateConfig> {
        if self.on { Some(self.cfg) } else { None }
    }

    /// The poll exponent the server asks for in its replies: the limit's
    /// interval (chrony's `max(client poll, ratelimit interval)`).
    pub const fn min_poll(&self) -> Option<i8> {
        if self.on {
            Some(self.cfg.interval)
        } else {
            None
        }
    }

    /// The counters.
    pub const fn stats(&self) -> RateStats {
        self.stats
    }

    /// How many clients the table holds now.
    pub fn clients(&self) -> usize {
        self.clients.iter().filter(|c| c.last != EMPTY).count()
    }

    /// Checks a request from `key` received at `rx` (NTP format, the
    /// server's clock), with 32 random bits: the leak draws the low
    /// `leak` bits, the Kiss-o'-Death draw the next `kod`.
    pub fn check(&mut self, key: ClientKey, rx: NtpTimestamp, rand: u32) -> Verdict {
        if !self.on {
            return Verdict::Answer;
        }
        let now = tick(rx);
        self.stats.requests = self.stats.requests.wrapping_add(1);
        let global_ok = self.global_refill(now);
        let (cost, max_tokens, cfg) = (self.cost, self.max_tokens, self.cfg);
        let Some((c, new, evicted)) = self.find(key, now) else {
            // Unreachable (every set has WAYS ways); answer rather than panic.
            return Verdict::Answer;
        };
        if !new {
            // Wrapping difference read as signed: a step back refills nothing.
            #[allow(clippy::cast_possible_wrap, reason = "modular difference")]
            let elapsed = now.wrapping_sub(c.last) as i32;
            if elapsed > 0 {
                let e = elapsed.unsigned_abs();
                c.tokens = c.tokens.saturating_add(e).min(max_tokens);
                let slot = if c.dropped {
                    &mut c.ivl_dropped
                } else {
                    &mut c.ivl_answered
                };
                *slot = smooth(*slot, log2x4(e));
            }
        }
        c.last = now;
        let own = c.tokens >= cost;
        let verdict = if own && global_ok {
            c.tokens = c.tokens.wrapping_sub(cost);
            c.dropped = false;
            Verdict::Answer
        } else {
            let mut leak = rand & low_mask(cfg.leak) == 0;
            // The client retries more than twice as fast when ignored:
            // answer most of its requests instead.
            if c.ivl_dropped != NO_RATE
                && c.ivl_answered != NO_RATE
                && u16::from(c.ivl_dropped).wrapping_add(4) < u16::from(c.ivl_answered)
            {
                leak = !leak;
            }
            if leak {
                if !own {
                    c.tokens = 0;
                }
                c.dropped = false;
                Verdict::Answer
            } else {
                c.dropped = true;
                if cfg.kod > 0
                    && rand.checked_shr(u32::from(cfg.leak)).unwrap_or(0) & low_mask(cfg.kod) == 0
                {
                    Verdict::Kod
                } else {
                    Verdict::Drop
                }
            }
        };
        let s = &mut self.stats;
        if new {
            s.new_clients = s.new_clients.wrapping_add(1);
        }
        if evicted {
            s.evicted = s.evicted.wrapping_add(1);
        }
        if !(own && global_ok) {
            s.limited = s.limited.wrapping_add(1);
            match verdict {
                Verdict::Answer => s.leaked = s.leaked.wrapping_add(1),
                Verdict::Kod => s.kods = s.kods.wrapping_add(1),
                Verdict::Drop => {}
            }
        }
        if verdict == Verdict::Answer && global_ok && own {
            self.global_spend();
        }
        verdict
    }

    /// Refills the global bucket to tick `now`; is there a response's
    /// worth in it (always, without a ceiling)?
    fn global_refill(&mut self, now: u32) -> bool {
        let per_s = u64::from(self.cfg.global_per_s);
        if per_s == 0 {
            return true;
        }
        #[allow(clippy::cast_possible_wrap, reason = "modular difference")]
        let elapsed = now.wrapping_sub(self.global_last) as i32;
        if elapsed > 0 {
            let add = u64::from(elapsed.unsigned_abs()).saturating_mul(per_s);
            self.global_tokens = self
                .global_tokens
                .saturating_add(add)
                .min(per_s << TICK_LOG2);
        }
        self.global_last = now;
        self.global_tokens >= 1 << TICK_LOG2
    }

    fn global_spend(&mut self) {
        if self.cfg.global_per_s > 0 {
            self.global_tokens = self.global_tokens.saturating_sub(1 << TICK_LOG2);
        }
    }

    /// The record of `key` (made at tick `now` if new), whether it is
    /// new, and whether it evicted another client.
    fn find(&mut self, key: ClientKey, now: u32) -> Option<(&mut Client, bool, bool)> {
        let h = mix(key.0, self.seed);
        // Lemire's multiply-shift range reduction of the upper 32 bits.
        let set = ((h >> 32).wrapping_mul(Self::SETS)) >> 32;
        let first = usize::try_from(set).ok()?.checked_mul(Self::WAYS)?;
        let ways = self
            .clients
            .get_mut(first..first.checked_add(Self::WAYS)?)?;
        let mut pick = 0usize;
        let mut oldest = 0u32;
        let mut found = None;
        for (i, c) in ways.iter().enumerate() {
            if c.last == EMPTY {
                // A free way: the client is not further on either (ways
                // fill in order and are never freed).
                pick = i;
                break;
            }
            if c.key == key.0 {
                found = Some(i);
                break;
            }
            let age = now.wrapping_sub(c.last);
            if age >= oldest {
                oldest = age;
                pick = i;
            }
        }
        if let Some(i) = found {
            return Some((ways.get_mut(i)?, false, false));
        }
        let c = ways.get_mut(pick)?;
        let evicted = c.last != EMPTY;
        *c = Client {
            key: key.0,
            last: now,
            tokens: self.max_tokens,
            ivl_answered: NO_RATE,
            ivl_dropped: NO_RATE,
            dropped: false,
        };
        Some((c, true, evicted))
    }
}

/// The table's tick (1/256 s, wrapping every 2²⁴ s) of an NTP timestamp;
/// never [`EMPTY`].
#[allow(clippy::cast_possible_truncation, reason = "the 24.8 bits wanted")]
pub(super) const fn tick(t: NtpTimestamp) -> u32 {
    let v = (t.0 >> (32 - TICK_LOG2)) as u32;
    if v == EMPTY { 1 } else { v }
}

/// The low `bits` bits set.
const fn low_mask(bits: u8) -> u32 {
    match 1u32.checked_shl(bits as u32) {
        Some(b) => b.wrapping_sub(1),
        None => u32::MAX,
    }
}

/// 4·log₂(`x`) rounded down to a quarter (0 for 0 and 1), at most 127.
#[allow(clippy::cast_possible_truncation, reason = "at most 4·31 + 3")]
pub(super) const fn log2x4(x: u32) -> u8 {
    if x < 2 {
        return 0;
    }
    let l = 31u32.wrapping_sub(x.leading_zeros());
    // The two bits below the leading one.
    let q = if l >= 2 {
        (x >> l.wrapping_sub(2)) & 3
    } else {
        (x << 1) & 3
    };
    (l.wrapping_mul(4).wrapping_add(q)) as u8
}

/// A quarter of the way from `old` to `new` ([`NO_RATE`]: start at `new`).
#[allow(clippy::cast_possible_truncation, reason = "a mean of two u8")]
pub(super) const fn smooth(old: u8, new: u8) -> u8 {
    if old == NO_RATE {
        return new;
    }
    let v = (old as u16)
        .wrapping_mul(3)
        .wrapping_add(new as u16)
        .wrapping_add(2)
        >> 2;
    if v >= NO_RATE as u16 {
        NO_RATE - 1
    } else {
        v as u8
    }
}

/// A keyed 64-bit mix (two folded multiplies): without the seed, a client
/// cannot choose addresses that share a set.
#[allow(clippy::cast_possible_truncation, reason = "the halves of a product")]
pub(super) const fn mix(key: u64, seed: [u64; 2]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let m = ((key ^ seed[0]) as u128).wrapping_mul(seed[1] as u128);
    let h = (m as u64) ^ ((m >> 64) as u64);
    let m = ((h ^ seed[1]) as u128).wrapping_mul(K as u128);
    (m as u64) ^ ((m >> 64) as u64)
}
