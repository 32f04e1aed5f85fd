//! The opt-in Prometheus endpoint: a tiny HTTP/1.0 responder on a TCP
//! listener (loopback by default), driven by the daemon's poll loop. Each
//! connection is read until the end of the request headers (or 2 s), answered
//! with the text exposition, and closed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

const MAX_CONNS: usize = 8;

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    since: Instant,
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

    /// Accepts, reads and answers what is ready.
    pub fn serve(&mut self, body: &dyn Fn() -> String) {
        while self.conns.len() < MAX_CONNS {
            match self.listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(true);
                    self.conns.push(Conn {
                        s,
                        buf: Vec::new(),
                        since: Instant::now(),
                    });
                }
                Err(_) => break,
            }
        }
        self.conns.retain_mut(|c| {
            let mut tmp = [0u8; 1024];
            loop {
                match c.s.read(&mut tmp) {
                    Ok(0) => return false,
                    Ok(n) => {
                        c.buf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
                        if c.buf.len() > 8192 {
                            return false;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return false,
                }
            }
            if c.buf.windows(4).any(|w| w == b"\r\n\r\n") || c.buf.windows(2).any(|w| w == b"\n\n")
            {
                let resp = response(&c.buf, &body());
                let _ = c.s.set_nonblocking(false);
                let _ =
                    c.s.set_write_timeout(Some(std::time::Duration::from_millis(200)));
                let _ = c.s.write_all(resp.as_bytes());
                return false;
            }
            c.since.elapsed() < std::time::Duration::from_secs(2)
        });
    }
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
}
