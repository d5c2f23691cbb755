//! Findings as text: the one renderer behind `check`, `probe` and `server` (and `fix`'s list),
//! so a finding reads the same whichever command found it. Everything in a finding that came
//! from a file or a server goes through `safe_text::printable`.

use crate::finding::Finding;
use crate::safe_text::printable;

/// Findings as a person reads them in a terminal: severity, title, then evidence and fixes.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{:<7} {}  [{}]\n",
            f.severity.as_str(),
            printable(&f.title),
            f.id
        ));
        if !f.explanation.is_empty() {
            out.push_str(&format!("        {}\n", printable(&f.explanation)));
        }
        for e in &f.evidence {
            out.push_str(&format!("        evidence: {}\n", printable(e)));
        }
        for fix in &f.fixes {
            out.push_str(&format!(
                "        fix{}: {}  $ {}\n",
                if fix.destructive {
                    " (destructive)"
                } else {
                    ""
                },
                printable(&fix.title),
                printable(&fix.command)
            ));
        }
        out.push('\n');
    }
    out
}
