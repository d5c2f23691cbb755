//! Big buffers (a 30 MB known_hosts, its line table, the edited copy) backed by transparent huge
//! pages where the kernel allows it.
//!
//! Why: filling a fresh 30 MB buffer costs one page fault per 4 KiB page, about 7,500 of them,
//! which takes as long as reading the file from the page cache. With `MADV_HUGEPAGE` the kernel
//! backs the buffer with 2 MiB pages instead (on Linux with THP set to `madvise` or `always`).
//! The advice is only advice: where huge pages are off, or the call fails, nothing changes.

use std::io::Read;
use std::path::Path;

/// Below this, a buffer is left alone (small files, ordinary allocations).
#[cfg(target_os = "linux")]
const BIG: usize = 4 << 20;

/// `Vec::with_capacity(n)`, with huge pages asked for when the buffer is big.
pub fn vec_with_capacity<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    advise_huge_pages(
        v.as_ptr() as usize,
        n.saturating_mul(std::mem::size_of::<T>()),
    );
    v
}

/// `std::fs::read`, into a buffer from [`vec_with_capacity`].
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = usize::try_from(f.metadata()?.len()).unwrap_or(0);
    // One spare byte, so reading to the end needs no reallocation.
    let mut bytes = vec_with_capacity(len.saturating_add(1));
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Huge pages are a Linux feature (`MADV_HUGEPAGE`); elsewhere the buffer stays as allocated.
#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _len: usize) {}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, len: usize) {
    if len < BIG {
        return;
    }
    const PAGE: usize = 4096;
    let start = addr.saturating_add(PAGE - 1) & !(PAGE - 1);
    let end = addr.saturating_add(len) & !(PAGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation this process owns (the Vec's capacity);
        // MADV_HUGEPAGE only changes how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let big: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 251) as u8).collect();
        for content in [&b""[..], b"x\r\n", &big] {
            std::fs::write(&p, content).unwrap();
            assert_eq!(read_file(&p).unwrap(), content);
        }
        assert!(read_file(&dir.path().join("missing")).is_err());
    }
}
