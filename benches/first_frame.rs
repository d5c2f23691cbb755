//! The dashboard's first frame with a 100,000-line known_hosts, rendered to ratatui's
//! `TestBackend` (the issue-7 row "first frame of the dashboard", target < 50 ms).
//!
//! Two figures, because the dashboard is built to draw before it loads: the shell hands the
//! known_hosts load and the inspection to background threads (`initial_effects`) and draws at
//! once, so the *first frame* is `App::dashboard` plus one `render`, whatever the file size. The
//! second figure is what the user waits for until the frame shows the data: reading, parsing and
//! inspecting the 100k-line file plus the browser's load, then one render.
//!
//! Usage: `cargo bench --bench first_frame [-- FILE]`; without FILE a 100,000-line fixture (half
//! hashed) is generated in a temp dir. Prints `first frame: X ms` and `loaded frame: Y ms`
//! (median of 5 runs each). Nothing outside the temp HOME is read.

use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sshdoctor::inspect::{inspect, InspectOptions};
use sshdoctor::paths::SshPaths;
use sshdoctor::tui::app::Inspected;
use sshdoctor::tui::browser::{Load, Loaded};
use sshdoctor::tui::{App, Msg};

const RUNS: usize = 5;
const SIZE: (u16, u16) = (120, 40);
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG3LhRPao+hG3JqZS6Y8vpW0MU7IMHxZNrhqSDDYq2gW";

fn main() -> anyhow::Result<()> {
    let home = tempfile::tempdir()?;
    let ssh = home.path().join(".ssh");
    std::fs::create_dir(&ssh)?;
    let kh = ssh.join("known_hosts");
    // `cargo bench` passes `--bench`; the first other argument is the file to load.
    match std::env::args().skip(1).find(|a| !a.starts_with("--")) {
        Some(file) => std::fs::copy(&file, &kh).map(|_| ())?,
        None => std::fs::write(&kh, fixture())?,
    }
    let paths = SshPaths::with_home(home.path());
    let lines = std::fs::read(&kh).map(|b| memchr_lines(&b))?;

    let first = median(|| first_frame(&paths, &kh))?;
    let loaded = median(|| loaded_frame(&paths, &kh))?;
    println!("known_hosts: {lines} lines");
    println!("first frame: {:.1} ms", ms(first));
    println!("loaded frame: {:.1} ms", ms(loaded));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn memchr_lines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn median(mut run: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        times.push(run()?);
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// What the shell does before the first event: build the app, take its initial effects (which
/// it runs on background threads), draw.
fn first_frame(paths: &SshPaths, kh: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut app = App::dashboard(paths.clone(), None, kh.to_path_buf());
    app.shared.size = SIZE;
    let effects = app.initial_effects();
    let screen = draw(&app)?;
    let took = start.elapsed();
    anyhow::ensure!(!effects.is_empty(), "the dashboard asked for no loading");
    anyhow::ensure!(
        screen.contains("Findings"),
        "the first frame does not show the dashboard"
    );
    Ok(took)
}

/// The frame after the loads the first frame does not wait for: the inspection and the
/// known_hosts browser's load of the same file, then one draw.
fn loaded_frame(paths: &SshPaths, kh: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut app = App::dashboard(paths.clone(), None, kh.to_path_buf());
    app.shared.size = SIZE;
    let _ = app.initial_effects();
    let opts = InspectOptions {
        paths: paths.clone(),
        target: None,
        config_file: None,
        agent_socket: None,
    };
    let inspection = inspect(&opts)?;
    app.update(Msg::Inspected(Box::new(Ok(Inspected {
        inspection,
        perms: Vec::new(),
    }))));
    let bytes = std::fs::read(kh)?;
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        bytes,
    ))));
    draw(&app)?;
    Ok(start.elapsed())
}

fn draw(app: &App) -> anyhow::Result<String> {
    let mut t = Terminal::new(TestBackend::new(SIZE.0, SIZE.1))?;
    t.draw(|f| app.render(f))?;
    let buf = t.backend().buffer();
    Ok(buf.content().iter().map(|c| c.symbol()).collect())
}

/// 100,000 lines, every other one hashed-looking (`|1|salt|hash`, valid base64 of 20 bytes).
fn fixture() -> Vec<u8> {
    let mut out = String::with_capacity(100_000 * 110);
    for i in 0..100_000u32 {
        if i % 2 == 0 {
            out.push_str(&format!(
                "|1|{:0>27}=|{:0>27}= {KEY}\n",
                format!("{i}A"),
                format!("{i}B")
            ));
        } else {
            out.push_str(&format!(
                "host{i}.example.com,10.0.{}.{} {KEY}\n",
                i >> 8 & 255,
                i & 255
            ));
        }
    }
    out.into_bytes()
}
