//! Standard output for the CLI. A reader that goes away (`sshdoctor check | head -0`, a pager
//! quit early) ends the program quietly with status 0, as ripgrep does, instead of the panic
//! (exit 101) that std's `println!` gives on a broken pipe. The `println!`/`print!` macros of
//! the `cli` module route here.

use std::io::Write;

/// Writes `args` (and a newline when `newline`) to stdout.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        drop(out);
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("sshdoctor: cannot write the output: {e}");
        std::process::exit(1);
    }
}
