//! The opt-in Prometheus endpoint: a tiny HTTP/1.0 responder on a TCP
//! listener (loopback by default), driven by the daemon's poll loop.
//!
//! Nothing here ever waits for a client: every socket is non-blocking. A
//! connection is read until the end of its request headers, answered with
//! the text exposition (written as far as the socket takes it, the rest on
//! later wake-ups) and closed. Idle and slow clients cannot starve a scraper:
//! each connection has a deadline ([`DEADLINE`]) from its accept, and when
//! [`MAX_CONNS`] are open a new one is still accepted and the idlest
//! (longest without a byte received) is closed to make room.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Connections kept open at once (a scrape needs one, for milliseconds).
pub const MAX_CONNS: usize = 64;

/// How long a connection may take, from its accept to its answer written.
pub const DEADLINE: Duration = Duration::from_secs(1);

/// Accepts per [`Metrics::serve`] call: a connection flood cannot keep the
/// daemon's loop here (the listener stays readable, so the loop comes back).
const ACCEPTS_PER_CALL: usize = 256;

/// The largest request read (headers included).
const MAX_REQUEST: usize = 8192;

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    /// The answer not yet written (empty while the request is read).
    out: Vec<u8>,
    answered: bool,
    accepted: Instant,
    /// When the last byte came in (or the accept).
    active: Instant,
}

/// What became of a connection on this call.
enum Next {
    Keep,
    Close,
}

/// The listener and its pending connections.
pub struct Metrics {
    listener: TcpListener,
    conns: Vec<Conn>,
}

impl Metrics {
    /// Listens on `addr`.
    ///
    /// # Errors
    /// Bind failure, with the address.
    pub fn bind(addr: SocketAddr) -> Result<Self, String> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            format!("metrics_listen {addr}: cannot listen: {e} (choose a free port, or set metrics_listen = \"\")")
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("metrics_listen {addr}: {e}"))?;
        Ok(Self {
            listener,
            conns: Vec::new(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The fds to poll.
    pub fn fds(&self) -> Vec<i32> {
        let mut v = vec![self.listener.as_raw_fd()];
        v.extend(self.conns.iter().map(|c| c.s.as_raw_fd()));
        v
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Accepts, reads and answers what is ready, never waiting.
    pub fn serve(&mut self, body: &dyn Fn() -> String) {
        self.serve_at(Instant::now(), body);
    }

    /// [`Metrics::serve`] at time `now` (deadlines are measured against it).
    pub fn serve_at(&mut self, now: Instant, body: &dyn Fn() -> String) {
        for _ in 0..ACCEPTS_PER_CALL {
            let Ok((s, _)) = self.listener.accept() else {
                break;
            };
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= MAX_CONNS {
                self.close_idlest();
            }
            self.conns.push(Conn {
                s,
                buf: Vec::new(),
                out: Vec::new(),
                answered: false,
                accepted: now,
                active: now,
            });
        }
        self.conns.retain_mut(|c| match step(c, now, body) {
            Next::Keep => now.saturating_duration_since(c.accepted) < DEADLINE,
            Next::Close => false,
        });
    }

    /// Closes the connection that has gone longest without sending a byte
    /// (one still reading its request before one being answered).
    fn close_idlest(&mut self) {
        let idlest = self
            .conns
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| (c.answered, c.active))
            .map(|(i, _)| i);
        if let Some(i) = idlest {
            self.conns.swap_remove(i);
        }
    }
}

/// Reads what `c` sent, answers a complete request, writes what the socket
/// takes.
fn step(c: &mut Conn, now: Instant, body: &dyn Fn() -> String) -> Next {
    // Read what came in (after the answer: discarded, so a readable socket
    // does not wake the loop again and again), a bounded amount per call.
    let mut tmp = [0u8; 1024];
    for _ in 0..16 {
        match c.s.read(&mut tmp) {
            Ok(0) => return Next::Close,
            Ok(_) if c.answered => {}
            Ok(n) => {
                c.buf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
                c.active = now;
                if c.buf.len() > MAX_REQUEST {
                    return Next::Close;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
    if !c.answered {
        if !(c.buf.windows(4).any(|w| w == b"\r\n\r\n") || c.buf.windows(2).any(|w| w == b"\n\n")) {
            return Next::Keep;
        }
        c.out = response(&c.buf, &body()).into_bytes();
        c.answered = true;
    }
    while !c.out.is_empty() {
        match c.s.write(&c.out) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                c.out.drain(..n.min(c.out.len()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
    Next::Close
}

/// The HTTP response to `request`.
pub fn response(request: &[u8], body: &str) -> String {
    let line = request.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let ok = line.starts_with(b"GET /metrics ") || line.starts_with(b"GET / ");
    if ok {
        format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        let msg = "keel serves only GET /metrics\n";
        format!(
            "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any request bytes get a well-formed answer: 200 for the metrics
        /// path alone, else 404, with a Content-Length that is the body's.
        #[test]
        fn any_request_gets_a_well_formed_answer(req in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let r = response(&req, "x 1\n");
            let (head, body) = r.split_once("\r\n\r\n").unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            proptest::prop_assert_eq!(len, body.len());
            let line = req.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let ok = line.starts_with(b"GET /metrics ") || line.starts_with(b"GET / ");
            proptest::prop_assert_eq!(head.starts_with("HTTP/1.0 200 OK"), ok);
        }
    }

    #[test]
    fn http_round_trip() {
        let mut m = Metrics::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = m.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        });
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while !client.is_finished() && Instant::now() < deadline {
            m.serve(&|| "keel_up 1\n".to_string());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let out = client.join().unwrap();
        assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
        assert!(out.contains("text/plain; version=0.0.4"));
        assert!(out.ends_with("\r\n\r\nkeel_up 1\n"));
        assert!(response(b"GET /x HTTP/1.1\r\n\r\n", "").starts_with("HTTP/1.0 404"));
    }

    /// Sends a scrape to `addr` and reads the answer (in a thread, while the
    /// test drives the server).
    fn scrape(addr: SocketAddr) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        })
    }

    #[test]
    fn idle_clients_never_starve_a_scraper() {
        for idle_n in [20, 60, 200] {
            let mut m = Metrics::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = m.local_addr().unwrap();
            // Connected, never sending a byte: a slot each, as long as allowed.
            // (In batches below the listen backlog, each accepted.)
            let mut idle = Vec::new();
            for _ in 0..idle_n / 20 {
                idle.extend((0..20).map(|_| TcpStream::connect(addr).unwrap()));
                m.serve(&|| "keel_up 1\n".to_string());
            }
            let client = scrape(addr);
            // Answered long before any idle connection's deadline (the old
            // responder held 8 slots for 2 s each: a scrape behind 20 idle
            // clients waited 4 s, behind 60 every scrape failed).
            let start = Instant::now();
            while !client.is_finished() && start.elapsed() < DEADLINE / 2 {
                m.serve(&|| "keel_up 1\n".to_string());
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert!(
                client.is_finished(),
                "{idle_n} idle clients: no answer within {:?}",
                DEADLINE / 2
            );
            let out = client.join().unwrap();
            assert!(out.ends_with("\r\n\r\nkeel_up 1\n"), "{idle_n}: {out}");
            assert!(m.open_connections() <= MAX_CONNS);
            drop(idle);
        }
    }

    #[test]
    fn slow_and_idle_clients_are_closed_at_their_deadline() {
        let mut m = Metrics::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = m.local_addr().unwrap();
        let t0 = Instant::now();
        let mut idle = TcpStream::connect(addr).unwrap();
        let mut slow = TcpStream::connect(addr).unwrap();
        // A request that never ends (slowloris).
        slow.write_all(b"GET /metrics HTTP/1.0\r\nX: y\r\n")
            .unwrap();
        let mut waited = 0;
        while m.open_connections() < 2 && waited < 1000 {
            m.serve_at(t0, &String::new);
            std::thread::sleep(std::time::Duration::from_millis(1));
            waited += 1;
        }
        assert_eq!(m.open_connections(), 2);
        // Just before the deadline both are still open; at it, both closed.
        m.serve_at(
            t0 + DEADLINE - std::time::Duration::from_millis(1),
            &String::new,
        );
        assert_eq!(m.open_connections(), 2);
        m.serve_at(t0 + DEADLINE, &String::new);
        assert_eq!(m.open_connections(), 0);
        for s in [&mut idle, &mut slow] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut b = [0u8; 16];
            assert_eq!(s.read(&mut b).unwrap_or(0), 0, "closed without an answer");
        }
    }

    #[test]
    fn a_full_house_closes_the_idlest_first() {
        let mut m = Metrics::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = m.local_addr().unwrap();
        let t0 = Instant::now();
        let conns: Vec<TcpStream> = (0..MAX_CONNS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut waited = 0;
        while m.open_connections() < MAX_CONNS && waited < 1000 {
            m.serve_at(t0, &String::new);
            std::thread::sleep(std::time::Duration::from_millis(1));
            waited += 1;
        }
        assert_eq!(m.open_connections(), MAX_CONNS);
        // The last one starts a request later: it is not the idlest.
        let mut busy = conns.last().unwrap().try_clone().unwrap();
        busy.write_all(b"GET /metrics HTTP/1.0\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        m.serve_at(t0 + std::time::Duration::from_millis(10), &String::new);
        // One more arrives: accepted, the oldest idle one closed.
        let _extra = TcpStream::connect(addr).unwrap();
        let mut waited = 0;
        let mut first = conns.first().unwrap().try_clone().unwrap();
        first.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let closed = |s: &mut TcpStream, b: &mut [u8]| matches!(s.read(b), Ok(0));
        while !closed(&mut first, &mut b) && waited < 1000 {
            m.serve_at(t0 + std::time::Duration::from_millis(20), &String::new);
            std::thread::sleep(std::time::Duration::from_millis(1));
            waited += 1;
        }
        assert!(closed(&mut first, &mut b), "the idlest was not closed");
        assert_eq!(m.open_connections(), MAX_CONNS);
        // The one that had sent something is still open and gets its answer.
        busy.write_all(b"\r\n").unwrap();
        m.serve_at(t0 + std::time::Duration::from_millis(30), &|| "x\n".into());
        let mut out = String::new();
        busy.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let _ = busy.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.0 200 OK"), "{out}");
    }
}
