//! The real Linux backend: a PHC source, `CLOCK_REALTIME` or a PHC as the
//! sink, the monotonic clocks.

#![allow(clippy::wildcard_imports)]

use super::*;

/// Reads a clock with `clock_gettime(2)`.
pub fn gettime(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; `clock_gettime` only writes it.
    let rc = unsafe { libc::clock_gettime(clock, &raw mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime of a standard clock cannot fail");
    ts
}

/// A `timespec` as ns (0 before 1970).
pub fn ns_of(ts: libc::timespec) -> u64 {
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// A PHC steered as the sink (what `phc2sys -c /dev/ptpN` does): opened
/// read-write, read against the system clock like the source, and adjusted
/// through its dynamic POSIX clock id.
pub struct PhcSink {
    phc: LinuxPhc,
    reader: Reader,
    label: String,
    max_adj_ppb: i64,
    /// The last good reading of its time, and `CLOCK_MONOTONIC` then.
    last: Option<(u64, u64)>,
}

impl PhcSink {
    /// Opens the sink PHC at `dev` (read-write when `writable`, i.e. unless a
    /// dry run) and reads its `max_adj`.
    ///
    /// # Errors
    /// It cannot be opened, or (when `writable`) it cannot be steered; the
    /// message says how to fix it.
    pub fn open(dev: &Path, label: &str, reader: Reader, writable: bool) -> Result<Self, String> {
        let mut phc = LinuxPhc::open_with(dev, writable).map_err(|(kind, e)| {
            format!(
                "sink {}: cannot open the PHC{}: {e}{}",
                dev.display(),
                if writable { " read-write" } else { "" },
                match kind {
                    PhcError::Permission =>
                        " (steering a PHC needs write access to it: run as root, or add a udev rule giving keel's user rw access)",
                    PhcError::NoDevice => " (`keel phc` lists the PHCs that exist)",
                    _ => "",
                }
            )
        })?;
        let max_adj_ppb = match phc.caps() {
            Ok(c) => i64::from(c.max_adj),
            Err(e) if writable => {
                return Err(format!(
                    "sink {}: cannot read the PHC's capabilities (PTP_CLOCK_GETCAPS): {e}",
                    dev.display()
                ));
            }
            Err(_) => 0,
        };
        if writable && max_adj_ppb <= 0 {
            return Err(format!(
                "sink {} ({label}): its driver cannot adjust its frequency (max_adj {max_adj_ppb} ppb); choose a PHC that can be steered, e.g. a NIC's",
                dev.display()
            ));
        }
        Ok(Self {
            phc,
            reader,
            label: label.to_string(),
            max_adj_ppb,
            last: None,
        })
    }

    /// The PHC's time now. While it cannot be read (the device vanished),
    /// the last reading carried on by `CLOCK_MONOTONIC`, so the servo's time
    /// line and the elapsed-time check stay continuous (the system clock,
    /// possibly on another time scale, would look like a jump).
    fn now(&mut self) -> Option<Timestamp> {
        let mono = ns_of(gettime(libc::CLOCK_MONOTONIC));
        match self.phc.now_ns() {
            Ok(t) => {
                self.last = Some((t, mono));
                Some(Timestamp::from_nanos(t))
            }
            Err(_) => self
                .last
                .map(|(t, m)| Timestamp::from_nanos(t.saturating_add(mono.saturating_sub(m)))),
        }
    }

    /// The driver's `max_adj`, ppb.
    pub fn max_adj_ppb(&self) -> i64 {
        self.max_adj_ppb
    }
}

/// A real PHC steering `CLOCK_REALTIME` or a sink PHC (or only measuring,
/// in a dry run).
pub struct LinuxClock {
    /// The source PHC; `None` with NTP servers alone.
    phc: Option<LinuxPhc>,
    reader: Reader,
    actuator: Option<RealActuator>,
    label: String,
    vmclock: Option<VmclockWatch>,
    sink: Option<PhcSink>,
    /// `CLOCK_REALTIME`'s status bits as last read (their leap bits are kept
    /// when keel has no leap information), saving a query per write.
    status_bits: Option<i32>,
}

impl LinuxClock {
    /// The PHC at `dev`; `actuator` is `None` for a dry run.
    pub fn new(dev: &Path, label: &str, reader: Reader, actuator: Option<RealActuator>) -> Self {
        Self {
            phc: Some(LinuxPhc::new(dev)),
            reader,
            actuator,
            label: label.to_string(),
            vmclock: None,
            sink: None,
            status_bits: None,
        }
    }

    /// No PHC: NTP servers steer `CLOCK_REALTIME` alone; `actuator` is
    /// `None` for a dry run.
    pub fn ntp_only(reader: Reader, actuator: Option<RealActuator>) -> Self {
        Self {
            phc: None,
            reader,
            actuator,
            label: "NTP servers".into(),
            vmclock: None,
            sink: None,
            status_bits: None,
        }
    }

    /// The kernel's status bits: as last read, else queried now.
    fn current_status(&mut self) -> i32 {
        if let Some(b) = self.status_bits {
            return b;
        }
        let b = Self::query().map(|t| t.status).unwrap_or(0);
        self.status_bits = Some(b);
        b
    }

    /// Also watches a vmclock device's disruption marker.
    #[must_use]
    pub fn with_vmclock(mut self, watch: VmclockWatch) -> Self {
        self.vmclock = Some(watch);
        self
    }

    /// Steers `sink` instead of `CLOCK_REALTIME`.
    #[must_use]
    pub fn with_phc_sink(mut self, sink: PhcSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// `adjtimex` read-only query (modes 0).
    pub fn query() -> io::Result<libc::timex> {
        let mut t = timex::query();
        debug_assert!(!timex::writes(&t));
        // SAFETY: `t` is a zeroed timex with modes 0: the kernel only fills it in.
        let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &raw mut t) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(t)
        }
    }
}

impl ClockBackend for LinuxClock {
    fn describe(&self) -> String {
        format!(
            "{} ({}) → {}{}",
            self.phc
                .as_ref()
                .map_or_else(|| "no PHC".into(), |p| p.path().display().to_string()),
            self.label,
            self.sink_name(),
            if self.actuator.is_some() {
                ""
            } else {
                " [dry run: measuring only]"
            }
        )
    }

    fn sink_name(&self) -> String {
        self.sink.as_ref().map_or_else(
            || SINK_REALTIME.to_string(),
            |s| format!("{} ({})", s.phc.path().display(), s.label),
        )
    }

    fn sink_is_realtime(&self) -> bool {
        self.sink.is_none()
    }

    fn origin(&self) -> Origin {
        let source = if self.label == crate::phc::UNKNOWN_PHC {
            ""
        } else {
            &self.label
        };
        Origin::of_this_machine(source, self.sink_is_realtime())
    }

    fn loop_now_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC))
    }

    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32 {
        let left = deadline_ns.saturating_sub(self.loop_now_ns());
        i32::try_from(left.div_ceil(1_000_000)).unwrap_or(i32::MAX)
    }

    fn catch_up(&mut self, _deadline_ns: u64) {}

    fn read(&mut self, samples: usize) -> Result<Measurement, MeasureFailure> {
        self.reader.set_samples(samples);
        let Some(phc) = &mut self.phc else {
            return Err(MeasureFailure {
                device: Device::Source,
                error: PhcError::NoDevice,
                lost: None,
            });
        };
        let src = self
            .reader
            .read(phc)
            .map_err(|f| MeasureFailure::of(Device::Source, f))?;
        let Some(sink) = &mut self.sink else {
            return Ok(Measurement::direct(&src));
        };
        // A PHC pair: both read against the system clock, each with its
        // own best method, and subtracted (as phc2sys does), the source
        // read before and after the sink and taken to its instant.
        let src_lost = lost_of(Device::Source, src.lost);
        let snk = sink.reader.read(&mut sink.phc).map_err(|f| {
            let mut m = MeasureFailure::of(Device::Sink, f);
            m.lost = src_lost.or(m.lost);
            m
        })?;
        // The source once more, to take it to the sink's instant (a failed
        // re-read leaves the first reading as it is).
        let again = self
            .reader
            .read(phc)
            .ok()
            .and_then(|r| r.reading.best_sample());
        let sample = match (src.reading.best_sample(), snk.reading.best_sample()) {
            (Some(a), Some(b)) => {
                let a = again.map_or(a, |a2| source_at(a, a2, b.local_ts));
                Some(pair_sample(a, b))
            }
            _ => None,
        };
        Ok(Measurement {
            sample,
            method: format!("{} / sink {}", src.method, snk.method),
            lost: src_lost.or_else(|| lost_of(Device::Sink, snk.lost)),
        })
    }

    fn reader(&self) -> &Reader {
        &self.reader
    }

    fn has_source(&self) -> bool {
        self.phc.is_some()
    }

    fn sink_now(&mut self) -> Timestamp {
        match &mut self.sink {
            None => self.realtime(),
            // Never read at all (gone since the start): the system clock
            // paces the holdover until it is back.
            Some(s) => match s.now() {
                Some(t) => t,
                None => self.realtime(),
            },
        }
    }

    fn realtime(&mut self) -> Timestamp {
        Timestamp::from_nanos(ns_of(gettime(libc::CLOCK_REALTIME)))
    }

    fn raw_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC_RAW))
    }

    fn suspended_ns(&mut self) -> i64 {
        // A suspend stops the whole machine, whichever clock is the sink (a
        // NIC's PHC may even lose power): a disruption for both.
        let b = ns_of(gettime(libc::CLOCK_BOOTTIME));
        let m = ns_of(gettime(libc::CLOCK_MONOTONIC));
        i64::try_from(b.saturating_sub(m)).unwrap_or(i64::MAX)
    }

    fn frequency(&mut self) -> Option<Ppb> {
        match &mut self.sink {
            None => Self::query().ok().map(|t| {
                self.status_bits = Some(t.status);
                timex::kernel_freq(&t).to_ppb(KernelFreq::USER_HZ)
            }),
            // The kernel reports a PHC's frequency as the last ADJ_FREQUENCY
            // written to it by any process (`dialed_frequency` in
            // ptp_clock_adjtime), so another writer (ptp4l, phc2sys) shows
            // here. It is the kernel's record, not the hardware's: a driver
            // that resets its clock internally (some NICs on a link reset)
            // is not seen by this guard, only by the elapsed-time one. A dry
            // run opens the sink read-only, and the kernel refuses even this
            // query then (EACCES): no reading.
            Some(s) => s.phc.query_frequency().ok(),
        }
    }

    fn max_frequency(&self) -> Ppb {
        self.sink
            .as_ref()
            .map_or_else(realtime_max, |s| Ppb::from_ppb(s.max_adj_ppb))
    }

    fn adjusts(&self) -> bool {
        self.actuator.is_some()
    }

    fn set_frequency(&mut self, ppb: Ppb) -> io::Result<Ppb> {
        match (&self.actuator, &mut self.sink) {
            (None, _) => Ok(ppb),
            (Some(a), None) => {
                let k = KernelFreq::from_ppb(ppb, KernelFreq::USER_HZ);
                a.apply(timex::frequency(k))?;
                Ok(k.to_ppb(KernelFreq::USER_HZ))
            }
            (Some(a), Some(s)) => {
                let (t, applied) = timex::phc_frequency(ppb, s.max_adj_ppb);
                a.apply_phc(&mut s.phc, t)?;
                Ok(applied)
            }
        }
    }

    fn step(&mut self, delta: Duration) -> io::Result<()> {
        match (&self.actuator, &mut self.sink) {
            (None, _) => Ok(()),
            (Some(a), None) => a.apply(timex::step(delta)),
            (Some(a), Some(s)) => a.apply_phc(&mut s.phc, timex::step(delta)),
        }
    }

    fn set_status(&mut self, s: KernelStatus) -> io::Result<()> {
        if self.sink.is_some() {
            return Err(no_status());
        }
        if self.actuator.is_none() {
            return Ok(());
        }
        let current = self.current_status();
        let t = timex::status(s, current);
        self.status_bits = Some(t.status);
        self.actuator.as_ref().map_or(Ok(()), |a| a.apply(t))
    }

    fn adjust(
        &mut self,
        freq: Option<Ppb>,
        status: Option<KernelStatus>,
    ) -> (Option<io::Result<Ppb>>, Option<io::Result<()>>) {
        let (Some(f), Some(s), None, true) =
            (freq, status, self.sink.as_ref(), self.actuator.is_some())
        else {
            let f = freq.map(|f| self.set_frequency(f));
            let s = status.map(|s| self.set_status(s));
            return (f, s);
        };
        // CLOCK_REALTIME: both in one clock_adjtime.
        let k = KernelFreq::from_ppb(f, KernelFreq::USER_HZ);
        let t = timex::frequency_and_status(k, s, self.current_status());
        self.status_bits = Some(t.status);
        let r = self.actuator.as_ref().map_or(Ok(()), |a| a.apply(t));
        match r {
            Ok(()) => (Some(Ok(k.to_ppb(KernelFreq::USER_HZ))), Some(Ok(()))),
            Err(e) => {
                let kind = e.kind();
                (Some(Err(e)), Some(Err(io::Error::from(kind))))
            }
        }
    }

    fn take_disruption(&mut self) -> Option<&'static str> {
        self.vmclock
            .as_mut()
            .is_some_and(VmclockWatch::poll)
            .then_some("live migration or restore signalled by the vmclock disruption marker")
    }

    fn vmclock_marker(&self) -> Option<u64> {
        self.vmclock.as_ref().and_then(VmclockWatch::marker)
    }

    fn host_synchronised(&self) -> Option<bool> {
        self.vmclock
            .as_ref()
            .and_then(VmclockWatch::host_synchronised)
    }

    fn truth(&self) -> Option<Truth> {
        None
    }
}
