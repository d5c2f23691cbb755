//! Where things are on screen, as pure arithmetic shared by drawing and by mouse clicks, so a
//! click lands on the row that was drawn there.

use super::app::Pane;

/// Below this, only a "terminal too small" message is drawn.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Rows above a list: the tab bar, the pane's summary line and the column header.
pub const LIST_TOP: u16 = 3;

/// Rows the known_hosts browser gives to the whole line under the cursor (Enter).
pub const BROWSER_DETAIL: usize = 4;

pub fn too_small(size: (u16, u16)) -> bool {
    size.0 < MIN_WIDTH || size.1 < MIN_HEIGHT
}

/// The pane body's height: all but the tab bar, the status line and the footer.
pub fn body_height(size: (u16, u16)) -> usize {
    usize::from(size.1).saturating_sub(3)
}

/// List rows in the findings list while the details are open below it: as few as the findings
/// need, at most a quarter of the body, so the details get the room.
pub fn findings_rows_with_detail(size: (u16, u16), findings: usize) -> usize {
    findings.clamp(1, (body_height(size) / 4).max(1))
}

/// How many list rows a pane shows (`findings`: how many findings there are).
pub fn list_height(size: (u16, u16), pane: Pane, detail: bool, findings: usize) -> usize {
    let rows = body_height(size).saturating_sub(2);
    match pane {
        Pane::Findings if detail => findings_rows_with_detail(size, findings),
        // The Server pane always shows the selected finding's details below its list.
        Pane::Server => findings_rows_with_detail(size, findings),
        Pane::KnownHosts if detail => rows.saturating_sub(BROWSER_DETAIL),
        Pane::Live => 0,
        _ => rows,
    }
}

/// The list row (0 = first shown) at screen row `y`, if `y` is on a list of `height` rows.
pub fn list_row_at(height: usize, y: u16) -> Option<usize> {
    let row = usize::from(y.checked_sub(LIST_TOP)?);
    (row < height).then_some(row)
}

/// The tab bar's text before the first tab.
pub const TAB_PREFIX: &str = " sshdoctor ";

/// The pane whose tab covers column `x`.
pub fn tab_at(panes: &[Pane], x: u16) -> Option<usize> {
    let mut start = TAB_PREFIX.chars().count();
    for (i, p) in panes.iter().enumerate() {
        let w = p.title().chars().count() + 3;
        if (start..start + w).contains(&usize::from(x)) {
            return Some(i);
        }
        start += w;
    }
    None
}
