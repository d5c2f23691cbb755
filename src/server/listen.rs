//! What sshd listens on: the listening TCP sockets in `/proc/net/tcp` and `/proc/net/tcp6`, and
//! whether one of them serves an address sshd is configured to listen on.
//!
//! Why a module of its own: "Connection refused" is a server-side fact too (sshd not running,
//! failed to start, or bound elsewhere), told by comparing sshd's ListenAddress with the kernel's
//! socket table rather than by anything in sshd's config or log.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The listening TCP sockets in `/proc/net/tcp` or `/proc/net/tcp6` text.
pub fn parse_proc_net_tcp(text: &str) -> Vec<(IpAddr, u16)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (a, p) = local.split_once(':')?;
            let port = u16::from_str_radix(p, 16).ok()?;
            let ip = match a.len() {
                8 => IpAddr::V4(Ipv4Addr::from(
                    u32::from_str_radix(a, 16).ok()?.to_ne_bytes(),
                )),
                32 => {
                    let mut b = [0u8; 16];
                    for i in 0..4 {
                        let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
                        b.get_mut(i * 4..i * 4 + 4)?
                            .copy_from_slice(&w.to_ne_bytes());
                    }
                    IpAddr::V6(Ipv6Addr::from(b))
                }
                _ => return None,
            };
            Some((ip, port))
        })
        .collect()
}

/// `host:port`, with brackets around an IPv6 host as sshd -T prints it.
pub(super) fn host_port(h: &str, p: u16) -> String {
    if h.contains(':') {
        format!("[{h}]:{p}")
    } else {
        format!("{h}:{p}")
    }
}

/// Whether a socket listening on `sock` serves connections to `want:port`.
pub(super) fn serves(sock: &(IpAddr, u16), want: &str, port: u16) -> bool {
    if sock.1 != port {
        return false;
    }
    match want.parse::<IpAddr>() {
        Ok(w) => sock.0 == w || sock.0.is_unspecified() && sock.0.is_ipv4() == w.is_ipv4(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_listeners() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A4CE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n   1: 0100007F:A4CF 0100007F:1234 01 x\n";
        assert_eq!(
            parse_proc_net_tcp(t),
            vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), 0xA4CE)]
        );
    }
}
