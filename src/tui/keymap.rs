//! The one key table. It drives dispatch, the footer and the `?` help, so what the help says is
//! what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for. The meaning of some actions depends on the pane (Enter opens a finding's
/// details, or an entry's full line in the known_hosts browser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `q`/Esc: close what is open (help, details, filter), or quit from the top level.
    Back,
    /// Ctrl-C: quit at once from anywhere.
    Quit,
    Help,
    NextPane,
    PrevPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Fix,
    Filter,
    Select,
    Delete,
    Undo,
    Rerun,
    /// `A`: the live test again, with agent forwarding (as `ssh -A`).
    ForwardAgent,
    CheckNames,
    Scan,
}

/// Where a binding means something, for the footer and the help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    Findings,
    Live,
    /// The Keys, Permissions and Agent tables.
    Rows,
    KnownHosts,
    /// The Server pane (sshd's side, for the current user).
    Server,
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    /// The key needs Ctrl held.
    pub ctrl: bool,
    /// How the key is written in the footer and help.
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
    pub scopes: &'static [Scope],
    /// Short enough and common enough for the footer.
    pub footer: bool,
}

use Scope::*;

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('q'), KeyCode::Esc],
        ctrl: false,
        label: "q",
        help: "quit, or back (close details, help, filter)",
        action: Action::Back,
        scopes: &[Everywhere],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('c')],
        ctrl: true,
        label: "Ctrl-C",
        help: "quit at once",
        action: Action::Quit,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        ctrl: false,
        label: "?",
        help: "this help",
        action: Action::Help,
        scopes: &[Everywhere],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Tab],
        ctrl: false,
        label: "Tab",
        help: "next pane",
        action: Action::NextPane,
        scopes: &[Findings, Live, Rows, Server],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::BackTab],
        ctrl: false,
        label: "S-Tab",
        help: "previous pane",
        action: Action::PrevPane,
        scopes: &[Findings, Live, Rows, Server],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('k')],
        ctrl: false,
        label: "↑/k",
        help: "move up",
        action: Action::Up,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('j')],
        ctrl: false,
        label: "↓/j",
        help: "move down",
        action: Action::Down,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::PageUp],
        ctrl: false,
        label: "PgUp",
        help: "one page up",
        action: Action::PageUp,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::PageDown],
        ctrl: false,
        label: "PgDn",
        help: "one page down",
        action: Action::PageDown,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Char('g'), KeyCode::Home],
        ctrl: false,
        label: "g",
        help: "to the top",
        action: Action::Top,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Char('G'), KeyCode::End],
        ctrl: false,
        label: "G",
        help: "to the bottom",
        action: Action::Bottom,
        scopes: &[Everywhere],
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Enter],
        ctrl: false,
        label: "Enter",
        help: "details: evidence and fixes (the whole line in known_hosts)",
        action: Action::Enter,
        scopes: &[Findings, KnownHosts],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('f')],
        ctrl: false,
        label: "f",
        help: "apply the selected fix (shows what changes, asks first)",
        action: Action::Fix,
        scopes: &[Findings, Rows, Server],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        ctrl: false,
        label: "/",
        help: "filter by host (hashed entries match a full host name)",
        action: Action::Filter,
        scopes: &[KnownHosts],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char(' ')],
        ctrl: false,
        label: "Space",
        help: "select or unselect the entry",
        action: Action::Select,
        scopes: &[KnownHosts],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('d'), KeyCode::Delete],
        ctrl: false,
        label: "d",
        help: "delete the selected entries, or the one under the cursor (asks first)",
        action: Action::Delete,
        scopes: &[KnownHosts],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('u')],
        ctrl: false,
        label: "u",
        help: "undo the last change sshdoctor made here",
        action: Action::Undo,
        scopes: &[Findings, Rows, KnownHosts, Server],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        ctrl: false,
        label: "r",
        help: "look again: re-read the local files and run the live test again",
        action: Action::Rerun,
        scopes: &[Findings, Live],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('A')],
        ctrl: false,
        label: "A",
        help: "forwarding: run the live test again with agent forwarding, as ssh -A (your agent's keys usable on the server while it runs)",
        action: Action::ForwardAgent,
        // The footer on the Findings pane is full at 80 columns; the key works there too.
        scopes: &[Live],
        footer: true,
    },
    Binding {
        keys: &[KeyCode::Char('s')],
        ctrl: false,
        label: "s",
        help: "stale check: look the host names up in DNS now (flags names that no longer resolve)",
        action: Action::CheckNames,
        scopes: &[KnownHosts],
        // The footer has room at 80 columns for one of s and S: the scan says more.
        footer: false,
    },
    Binding {
        keys: &[KeyCode::Char('S')],
        ctrl: false,
        label: "S",
        help: "scan: fetch each listed host's key now, as ssh-keyscan (asks first; marks entries whose key changed)",
        action: Action::Scan,
        scopes: &[KnownHosts],
        footer: true,
    },
];

/// Keys that are not in the table because they only exist inside a prompt.
pub const MODAL_HELP: &[(&str, &str)] = &[
    ("y", "in a confirmation: yes (any other key: no)"),
    ("yes", "to trust a CHANGED host key: type yes, then Enter"),
    (
        "password",
        "in the password prompt (f on \"only passwords\"): type it (one star a character), Enter tries it once, Esc cancels",
    ),
    (
        "type",
        "while filtering: narrow the list; Enter keeps it, Esc clears it",
    ),
    ("mouse", "click selects a row, the wheel scrolls"),
];

/// The keys as a Markdown table (README's "Dashboard" section), from this table, so the
/// document cannot drift from what the keys do (a test compares them).
pub fn markdown_table() -> String {
    let mut out = String::from("| key | what it does |\n|---|---|\n");
    for b in BINDINGS {
        out.push_str(&format!("| `{}` | {} |\n", b.label, b.help));
    }
    for (k, h) in MODAL_HELP {
        out.push_str(&format!("| `{k}` | {h} |\n"));
    }
    out
}

/// The action bound to a key press, if any.
pub fn lookup(key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if key.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    BINDINGS
        .iter()
        .find(|b| b.ctrl == ctrl && b.keys.contains(&key.code))
        .map(|b| b.action)
}

/// The bindings that apply in a scope, in table order.
pub fn bindings_for(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |b| b.scopes.contains(&Everywhere) || b.scopes.contains(&scope))
}

/// The footer line for a scope: `q quit  ? help  ...`, with each help cut to its first word(s).
pub fn footer(scope: Scope) -> Vec<Hint> {
    bindings_for(scope)
        .filter(|b| b.footer)
        .map(|b| Hint {
            key: b.label,
            label: short(b.help),
            action: b.action,
        })
        .collect()
}

/// One footer entry: the key, its short meaning and what it does (so the app can leave out
/// what would do nothing here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub key: &'static str,
    pub label: &'static str,
    pub action: Action,
}

/// The first words of a help text, up to a comma or parenthesis: "quit, or back" → "quit".
fn short(help: &str) -> &str {
    let end = help.find([',', '(', ':']).unwrap_or(help.len());
    let s = help[..end].trim();
    match s {
        "apply the selected fix" => "fix",
        "details" => "details",
        "filter by host" => "filter",
        "select or unselect the entry" => "select",
        "delete the selected entries" => "delete",
        "undo the last change sshdoctor made here" => "undo",
        "run the live test again" => "re-run",
        "stale check" => "stale?",
        "this help" => "help",
        "next pane" => "pane",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn every_documented_key_dispatches() {
        assert_eq!(
            lookup(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Back)
        );
        assert_eq!(
            lookup(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(lookup(&key(KeyCode::Char('c'), KeyModifiers::NONE)), None);
        assert_eq!(
            lookup(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            lookup(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
        assert_eq!(
            lookup(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
    }

    #[test]
    fn no_key_is_bound_twice() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                for k in a.keys {
                    assert!(
                        !(a.ctrl == b.ctrl && b.keys.contains(k)),
                        "{k:?} bound twice"
                    );
                }
            }
        }
    }

    #[test]
    fn footer_is_short_words() {
        let f = footer(Scope::KnownHosts);
        let text: Vec<String> = f.iter().map(|h| format!("{} {}", h.key, h.label)).collect();
        assert!(text.contains(&"d delete".to_string()), "{text:?}");
        assert!(text.contains(&"/ filter".to_string()), "{text:?}");
    }
}
