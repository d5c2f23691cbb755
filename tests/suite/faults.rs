//! No lost data under concurrency and faults (issue 8, point 4): two sshdoctors removing
//! different hosts from one known_hosts at once, an `ssh`-style `O_APPEND` writer racing a
//! removal, a full disk, a read-only filesystem and `kill -9` in the middle of the write. In every
//! case each line survives or the edit is refused, and the file is either the old or the new
//! content, never a mix. Every file lives in a temp dir; the tmpfs cases mount their own tmpfs
//! (and say so and skip when mounting is not permitted).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::run::{text, Sshdoctor};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// `sshdoctor known-hosts remove HOST -f FILE --yes` with HOME and the journal in `home`.
fn remove_cmd(home: &Path, file: &Path, host: &str) -> Command {
    let mut cmd = Sshdoctor::new(home)
        .args(["known-hosts", "remove", host, "--yes", "-f"])
        .arg(file)
        .env("XDG_STATE_HOME", home.join("state"))
        .command();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn remove(home: &Path, file: &Path, host: &str) -> Output {
    remove_cmd(home, file, host)
        .output()
        .expect("run sshdoctor")
}

fn line(host: &str) -> String {
    format!("{host} {KEY}\n")
}

/// The `.sshdoctor-*` temp files in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sshdoctor-"))
        .collect()
}

/// The apply records' sequence numbers in the journal.
fn journal_seqs(home: &Path) -> Vec<u64> {
    let j = home.join("state/sshdoctor/journal");
    let t = std::fs::read_to_string(j).unwrap_or_default();
    t.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("seq").and_then(|s| s.as_u64()))
        .collect()
}

/// A refusal is exit 1 with the plain-words reason.
fn assert_refused_cleanly(out: &Output) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("changed on disk since") && err.contains("nothing was written"),
        "{err}"
    );
}

#[test]
fn two_sshdoctors_removing_different_hosts_at_once_lose_nothing() {
    // Big enough that reading and planning take a few milliseconds, so the two runs overlap.
    const HOSTS: usize = 2000;
    let home = tempfile::tempdir().expect("temp HOME");
    let file = home.path().join("known_hosts");
    let hosts: Vec<String> = (0..HOSTS).map(|i| format!("host{i}.example")).collect();
    let (mut both, mut one_refused) = (0, 0);
    for round in 0..20 {
        std::fs::write(&file, hosts.iter().map(|h| line(h)).collect::<String>()).expect("write");
        let a = &hosts[round * 101 % HOSTS];
        let b = &hosts[(round * 101 + 7) % HOSTS];
        let pa = remove_cmd(home.path(), &file, a).spawn().expect("spawn");
        let pb = remove_cmd(home.path(), &file, b).spawn().expect("spawn");
        let (oa, ob) = (
            pa.wait_with_output().expect("wait"),
            pb.wait_with_output().expect("wait"),
        );
        let now = std::fs::read_to_string(&file).expect("read");
        let now_lines: std::collections::HashSet<&str> = now.lines().collect();
        for h in &hosts {
            let present = now_lines.contains(line(h).trim_end());
            let out = if h == a {
                &oa
            } else if h == b {
                &ob
            } else {
                assert!(present, "round {round}: {h} was lost (a: {a}, b: {b})");
                continue;
            };
            if out.status.success() {
                assert!(!present, "round {round}: {h} reported removed but is there");
            } else {
                assert!(present, "round {round}: {h} refused but gone");
                assert_refused_cleanly(out);
            }
        }
        match (oa.status.success(), ob.status.success()) {
            (true, true) => both += 1,
            (true, false) | (false, true) => one_refused += 1,
            (false, false) => panic!(
                "round {round}: both refused:\n{}\n{}",
                text(&oa.stderr),
                text(&ob.stderr)
            ),
        }
        assert!(temp_files(home.path()).is_empty(), "round {round}");
    }
    // Every successful removal has its own journal record, so `undo` can revert each one.
    let mut seqs = journal_seqs(home.path());
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "two fixes share a journal sequence number");
    assert_eq!(n, both * 2 + one_refused);
    eprintln!("20 rounds: both removed {both}, one refused {one_refused}");
}

/// Appends `line` the way ssh adds a host: open with `O_APPEND`, one write, close.
fn ssh_style_append(file: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .expect("open for append");
    f.write_all(line.as_bytes()).expect("append");
}

#[test]
fn lines_appended_by_ssh_during_a_removal_survive() {
    let home = tempfile::tempdir().expect("temp HOME");
    let file = home.path().join("known_hosts");
    let hosts: Vec<String> = (0..25).map(|i| format!("old{i}.example")).collect();
    std::fs::write(&file, hosts.iter().map(|h| line(h)).collect::<String>()).expect("write");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, file) = (stop.clone(), file.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                ssh_style_append(&file, &line(&format!("new{n}.example")));
                n += 1;
                // Bursts and pauses, so some removals run between appends (and succeed) and
                // some have an append land in the middle.
                std::thread::sleep(Duration::from_micros(rng.below(40_000)));
            }
            n
        })
    };
    let (mut removed, mut refused) = (Vec::new(), 0);
    for h in &hosts {
        let out = remove(home.path(), &file, h);
        if out.status.success() {
            removed.push(h.clone());
        } else {
            assert_refused_cleanly(&out);
            refused += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let appended = writer.join().expect("writer");
    let now = std::fs::read_to_string(&file).expect("read");
    let lost: Vec<u32> = (0..appended)
        .filter(|n| !now.contains(&line(&format!("new{n}.example"))))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {appended} appended lines lost: {lost:?}",
        lost.len()
    );
    for h in &hosts {
        assert_eq!(
            !now.contains(&line(h)),
            removed.contains(h),
            "{h}: removal reported and file disagree"
        );
    }
    assert!(
        !removed.is_empty(),
        "no removal ever ran between two appends"
    );
    // Nothing but whole lines: the appends were never torn or merged.
    assert!(now.lines().all(|l| l.ends_with(KEY)), "{now}");
    assert!(temp_files(home.path()).is_empty());
    eprintln!(
        "{appended} lines appended during {} removals ({} done, {refused} refused)",
        hosts.len(),
        removed.len()
    );
}

/// A tmpfs mounted for one test, unmounted (lazily) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `256k`), or says why not and returns None.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here (needs root): {}",
                    text(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .output()
            .expect("run mount");
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Removes `host` from `file` where writing must fail, and checks the user is told why and that
/// the file is byte-identical with no temp file left.
fn assert_fails_and_keeps_the_original(home: &Path, file: &Path, host: &str, reason: &str) {
    let before = std::fs::read(file).expect("read");
    let out = remove(home, file, host);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(reason), "expected {reason:?} in: {err}");
    assert!(
        err.contains(&file.display().to_string()) || err.contains("known_hosts"),
        "{err}"
    );
    assert_eq!(std::fs::read(file).expect("read"), before, "file changed");
    let dir = file.parent().expect("dir");
    assert!(temp_files(dir).is_empty(), "{:?}", temp_files(dir));
    assert!(!dir.join("known_hosts.old").exists());
    assert!(journal_seqs(home).is_empty(), "a failed fix was journaled");
}

#[test]
fn a_full_disk_leaves_the_original_intact() {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp HOME");
    let file = fs.path().join("known_hosts");
    let content: String = (0..600).map(|i| line(&format!("h{i}.example"))).collect();
    std::fs::write(&file, &content).expect("write");
    // Fill the rest of the disk.
    let mut filler = std::fs::File::create(fs.path().join("filler")).expect("filler");
    let chunk = vec![0u8; 4096];
    while filler.write_all(&chunk).is_ok() {}
    let _ = filler.write_all(&[0]);
    drop(filler);
    assert_fails_and_keeps_the_original(
        home.path(),
        &file,
        "h3.example",
        "No space left on device",
    );
    // Once there is room again the same edit goes through.
    std::fs::remove_file(fs.path().join("filler")).expect("rm filler");
    let out = remove(home.path(), &file, "h3.example");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!std::fs::read_to_string(&file)
        .expect("read")
        .contains("h3.example"));
}

#[test]
fn a_read_only_filesystem_leaves_the_original_intact() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let home = tempfile::tempdir().expect("temp HOME");
    let file = fs.path().join("known_hosts");
    let content: String = (0..20).map(|i| line(&format!("h{i}.example"))).collect();
    std::fs::write(&file, &content).expect("write");
    fs.remount_read_only();
    // Root ignores mode bits, so the filesystem itself must refuse.
    assert_fails_and_keeps_the_original(home.path(), &file, "h3.example", "Read-only file system");
}

/// xorshift64: reproducible "random" kill moments without a crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn kill_9_during_a_removal_leaves_old_or_new_content_never_a_mix() {
    const LINES: usize = 50_000;
    const ROUNDS: usize = 10;
    let home = tempfile::tempdir().expect("temp HOME");
    let file = home.path().join("known_hosts");
    let mut lines: Vec<String> = (0..LINES).map(|i| line(&format!("h{i}.example"))).collect();
    std::fs::write(&file, lines.concat()).expect("write");
    // How long one uninterrupted removal takes; the kills are spread over that time.
    let start = Instant::now();
    let out = remove(home.path(), &file, "h0.example");
    let full = start.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    lines.remove(0);
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        lines.concat()
    );

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let (mut old_kept, mut new_written, mut temps_left) = (0, 0, 0usize);
    for round in 1..=ROUNDS {
        let victim = format!("h{}.example", round * 1000);
        let idx = lines
            .iter()
            .position(|l| l == &line(&victim))
            .expect("victim present");
        let mut child = remove_cmd(home.path(), &file, &victim)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Odd rounds: any moment of the run. Even rounds: aim at the write itself, a few
        // hundred microseconds after the temp file appears.
        let wait = if round % 2 == 1 {
            let w = rng.below(full.as_micros() as u64 + 1);
            std::thread::sleep(Duration::from_micros(w));
            w
        } else {
            while temp_files(home.path()).is_empty() && child.try_wait().ok().flatten().is_none() {
                std::thread::yield_now();
            }
            let w = rng.below(800);
            std::thread::sleep(Duration::from_micros(w));
            w
        };
        kill9(&mut child);
        let now = std::fs::read_to_string(&file).expect("read");
        let old = lines.concat();
        if now == old {
            old_kept += 1;
        } else {
            lines.remove(idx);
            assert!(
                now == lines.concat(),
                "round {round} (seed {seed}, kill after {wait} us): the file is neither the old \
                 nor the new content ({} bytes, old {}, new {})",
                now.len(),
                old.len(),
                lines.concat().len()
            );
            new_written += 1;
        }
        temps_left = temps_left.max(temp_files(home.path()).len());
    }
    // A kill between creating the temp file and renaming it leaves it; the next edit removes it.
    let out = remove(home.path(), &file, "h1.example");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        temp_files(home.path()).is_empty(),
        "stale temp files not cleaned: {:?}",
        temp_files(home.path())
    );
    eprintln!(
        "seed {seed}, one removal {full:?}: {ROUNDS} kills, old content {old_kept}, new content \
         {new_written}, at most {temps_left} temp file(s) left before the cleanup"
    );
}
