//! Name lookups through the system resolver (getaddrinfo, as ssh does), outside the live
//! probe's own DNS stage: the known_hosts browser's "does this name still exist" check and the
//! addresses `known-hosts remove --all-aliases` removes with a name. Network code lives in
//! `probe`; these are the blocking lookups the views run on their own threads.

use std::net::ToSocketAddrs;
use std::time::Duration;

/// What a DNS lookup of a known_hosts name said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Resolves,
    /// The resolver answered that the name does not exist.
    NoSuchName,
    /// No answer in time, or a temporary failure: says nothing about the name.
    Unknown,
}

/// One lookup through the system resolver. "Name or service not known" and "No address
/// associated with hostname" are definite; anything else (EAI_AGAIN, no network) is not.
pub fn system_resolve(name: &str) -> Resolution {
    match (name, 22).to_socket_addrs() {
        Ok(addrs) if addrs.len() > 0 => Resolution::Resolves,
        Ok(_) => Resolution::NoSuchName,
        Err(e) => {
            let text = e.to_string();
            if text.contains("not known") || text.contains("No address associated") {
                Resolution::NoSuchName
            } else {
                Resolution::Unknown
            }
        }
    }
}

/// The addresses of `host` (none for an IP address itself), looked up with the system resolver
/// and bounded by `timeout`: a hung DNS server must not hang a fix. The lookup left running
/// past the deadline finishes on its own thread.
pub fn addresses(host: &str, port: u16, timeout: Duration) -> Vec<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Vec::new();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let h = host.to_string();
    std::thread::spawn(move || {
        let ips: Vec<String> = (h.as_str(), port)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip().to_string()).collect())
            .unwrap_or_default();
        let _ = tx.send(ips);
    });
    let mut ips = rx.recv_timeout(timeout).unwrap_or_default();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_address_has_no_other_addresses_and_localhost_resolves() {
        assert!(addresses("127.0.0.1", 22, Duration::from_secs(5)).is_empty());
        assert_eq!(system_resolve("localhost"), Resolution::Resolves);
    }
}
