//! Pure reading of what the server sent before encryption starts: its identification line and its
//! KEXINIT. russh consumes these bytes itself and, when the exchange fails, reports only the first
//! failing category; the probe records the raw bytes (see [`Recorder`]) and reads them here so a
//! non-SSH answer can be named and an algorithm mismatch can show the server's whole offer.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// At most this many bytes from the server are kept: the identification line (255 bytes by RFC
/// 4253, plus up to a few pre-banner lines) and the first KEXINIT fit with a wide margin.
pub const RECORD_LIMIT: usize = 64 * 1024;

/// Bytes the server sent, and when its identification line was complete.
#[derive(Debug, Default)]
pub struct Recording {
    pub bytes: Vec<u8>,
    pub id_line_at: Option<Instant>,
}

/// A transparent stream wrapper that keeps a copy of the first [`RECORD_LIMIT`] bytes read.
///
/// russh has no API for the server's identification string when the handshake fails, nor for
/// the server's full algorithm lists; recording under `connect_stream` gives both without
/// changing what russh sees.
pub struct Recorder<S> {
    inner: S,
    log: Arc<Mutex<Recording>>,
}

impl<S> Recorder<S> {
    pub fn new(inner: S) -> (Self, Arc<Mutex<Recording>>) {
        let log = Arc::new(Mutex::new(Recording::default()));
        (
            Recorder {
                inner,
                log: Arc::clone(&log),
            },
            log,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = buf.filled().get(before..).unwrap_or(&[]);
            if !new.is_empty() {
                if let Ok(mut log) = this.log.lock() {
                    let room = RECORD_LIMIT.saturating_sub(log.bytes.len());
                    let take = new.len().min(room);
                    log.bytes.extend_from_slice(new.get(..take).unwrap_or(&[]));
                    if log.id_line_at.is_none() && scan_banner(&log.bytes).id_line.is_some() {
                        log.id_line_at = Some(Instant::now());
                    }
                }
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The start of the server's byte stream, split the way RFC 4253 §4.2 reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BannerScan {
    /// Lines before the identification line (allowed by the RFC; an HTTP or SMTP server's
    /// answer also lands here). Lossy UTF-8, control characters replaced.
    pub pre_lines: Vec<String>,
    /// `SSH-2.0-...` without the line end, once complete.
    pub id_line: Option<String>,
    /// Offset of the first byte after the identification line.
    pub rest: usize,
}

/// Splits recorded bytes into pre-banner lines and the identification line.
pub fn scan_banner(bytes: &[u8]) -> BannerScan {
    let mut scan = BannerScan::default();
    let mut start = 0usize;
    while let Some(rel) = bytes.get(start..).and_then(|b| memchr::memchr(b'\n', b)) {
        let end = start + rel;
        let raw = bytes.get(start..end).unwrap_or(&[]);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = crate::safe_text::from_wire(raw);
        start = end + 1;
        if raw.starts_with(b"SSH-") {
            scan.id_line = Some(line);
            scan.rest = start;
            return scan;
        }
        scan.pre_lines.push(line);
        if scan.pre_lines.len() >= 64 {
            break;
        }
    }
    scan.rest = start;
    scan
}

/// What a server's first bytes say about what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BannerKind {
    /// A proper SSH-2 identification (`SSH-2.0-` or the compatible `SSH-1.99-`).
    Ssh2(String),
    /// `SSH-1.x`: protocol 1 only, which OpenSSH dropped in 7.6.
    Ssh1(String),
    Http(String),
    Tls,
    /// Something else spoke first; the first line is kept as evidence.
    Other(String),
    /// Nothing at all.
    Empty,
}

/// Names what answered, from the recorded bytes.
pub fn classify(bytes: &[u8]) -> BannerKind {
    let scan = scan_banner(bytes);
    if let Some(id) = scan.id_line {
        if id.starts_with("SSH-2.0-") || id.starts_with("SSH-1.99-") {
            return BannerKind::Ssh2(id);
        }
        return BannerKind::Ssh1(id);
    }
    // A TLS record: content type 0x14..=0x17 (handshake, alert, ...) then version 3.x.
    if let [t, 3, ..] = bytes {
        if (0x14..=0x17).contains(t) {
            return BannerKind::Tls;
        }
    }
    let first = scan.pre_lines.first().cloned().unwrap_or_else(|| {
        crate::safe_text::from_wire(bytes.get(..bytes.len().min(80)).unwrap_or(&[]))
    });
    if bytes.is_empty() {
        BannerKind::Empty
    } else if first.starts_with("HTTP/") || first.starts_with("<") {
        BannerKind::Http(first)
    } else {
        BannerKind::Other(first)
    }
}

/// The server's algorithm offer, from its clear-text `SSH_MSG_KEXINIT` (RFC 4253 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KexInit {
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub cipher_c2s: Vec<String>,
    pub cipher_s2c: Vec<String>,
    pub mac_c2s: Vec<String>,
    pub mac_s2c: Vec<String>,
}

const SSH_MSG_KEXINIT: u8 = 20;

/// Reads the server's KEXINIT from the bytes after its identification line. `None` when the
/// bytes are not there (yet) or do not form one; never panics on any input.
pub fn parse_kexinit(after_id: &[u8]) -> Option<KexInit> {
    let len = u32::from_be_bytes(after_id.get(..4)?.try_into().ok()?) as usize;
    let pad = *after_id.get(4)? as usize;
    let payload_len = len.checked_sub(pad)?.checked_sub(1)?;
    let payload = after_id.get(5..5usize.checked_add(payload_len)?)?;
    if *payload.first()? != SSH_MSG_KEXINIT {
        return None;
    }
    let mut rest = payload.get(17..)?;
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let raw = rest.get(4..4usize.checked_add(n)?)?;
        rest = rest.get(4 + n..)?;
        let text = std::str::from_utf8(raw).ok()?;
        lists.push(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    let mut it = lists.into_iter();
    Some(KexInit {
        kex: it.next()?,
        host_key: it.next()?,
        cipher_c2s: it.next()?,
        cipher_s2c: it.next()?,
        mac_c2s: it.next()?,
        mac_s2c: it.next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_list(v: &str) -> Vec<u8> {
        let mut out = (v.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(v.as_bytes());
        out
    }

    fn kexinit_packet(lists: [&str; 10]) -> Vec<u8> {
        let mut payload = vec![SSH_MSG_KEXINIT];
        payload.extend_from_slice(&[7u8; 16]);
        for l in lists {
            payload.extend(name_list(l));
        }
        payload.push(0);
        payload.extend_from_slice(&[0, 0, 0, 0]);
        let pad = 4u8;
        let len = (payload.len() + pad as usize + 1) as u32;
        let mut pkt = len.to_be_bytes().to_vec();
        pkt.push(pad);
        pkt.extend(payload);
        pkt.extend_from_slice(&[0; 4]);
        pkt
    }

    #[test]
    fn reads_the_openssh_identification_and_kexinit() {
        let mut bytes = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec();
        bytes.extend(kexinit_packet([
            "curve25519-sha256,kex-strict-s-v00@openssh.com",
            "ssh-rsa",
            "aes128-ctr",
            "aes256-ctr",
            "hmac-sha1",
            "hmac-sha1",
            "none",
            "none",
            "",
            "",
        ]));
        let scan = scan_banner(&bytes);
        assert_eq!(
            scan.id_line.as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
        );
        let k = parse_kexinit(bytes.get(scan.rest..).unwrap_or(&[])).expect("kexinit");
        assert_eq!(k.host_key, ["ssh-rsa"]);
        assert_eq!(k.kex[1], "kex-strict-s-v00@openssh.com");
        assert_eq!(k.cipher_s2c, ["aes256-ctr"]);
    }

    #[test]
    fn names_what_answered_instead_of_ssh() {
        assert!(matches!(
            classify(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            BannerKind::Http(l) if l == "HTTP/1.1 400 Bad Request"
        ));
        assert_eq!(classify(&[0x15, 3, 3, 0, 2, 2, 70]), BannerKind::Tls);
        assert_eq!(classify(b""), BannerKind::Empty);
        assert!(matches!(classify(b"SSH-1.5-old\n"), BannerKind::Ssh1(_)));
        assert!(matches!(
            classify(b"220 mail.example.com ESMTP\r\n"),
            BannerKind::Other(l) if l.starts_with("220 ")
        ));
        // Pre-banner lines are allowed before the identification.
        assert!(matches!(
            classify(b"hello\r\nSSH-2.0-X\r\n"),
            BannerKind::Ssh2(id) if id == "SSH-2.0-X"
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = classify(&bytes);
            let _ = parse_kexinit(&bytes);
        }
    }
}
