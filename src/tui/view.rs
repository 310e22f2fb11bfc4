//! Drawing the terminal UI: piano roll, parameters, actions, status line, and the help and file-picker
//! overlays. Works from 80×24 up.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Focus, Overlay, PARAM_NAMES};
use crate::console::clock;

/// Width of the right-hand column (parameters and actions).
const SIDE: u16 = 26;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &mut App) {
    let [main, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
    let [roll, side] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(SIDE)]).areas(main);
    let [params, actions] =
        Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(side);
    draw_roll(f, app, roll);
    draw_params(f, app, params);
    draw_actions(f, app, actions);
    draw_status(f, app, status);
    match &app.overlay {
        Overlay::Help => draw_help(f, app),
        Overlay::Picker(_) => draw_picker(f, app),
        Overlay::None => {}
    }
}

fn focused(block: Block<'_>, on: bool) -> Block<'_> {
    if on {
        block.border_style(Style::default().fg(Color::Yellow))
    } else {
        block
    }
}

fn draw_roll(f: &mut Frame, app: &mut App, area: Rect) {
    let title = match &app.path {
        Some(p) => format!(
            " Reprise — {} ",
            p.file_name().map_or("".into(), |n| n.to_string_lossy())
        ),
        None => " Reprise ".into(),
    };
    let block = focused(
        Block::default().borders(Borders::ALL).title(title),
        app.focus == Focus::Roll,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    app.roll_cols = inner.width.saturating_sub(GUTTER);
    render_roll(app, inner, f.buffer_mut());
}

/// Columns of pitch labels at the left of the roll.
const GUTTER: u16 = 4;

/// Track colours (primer); generated notes are drawn in [`NEW_COLOR`].
const PALETTE: [(u8, u8, u8); 6] = [
    (80, 180, 255),
    (110, 220, 110),
    (240, 200, 80),
    (200, 130, 255),
    (255, 120, 120),
    (90, 220, 220),
];
/// Colour of generated notes.
const NEW_COLOR: (u8, u8, u8) = (255, 150, 40);

fn shade((r, g, b): (u8, u8, u8), velocity: u8) -> Color {
    let k = 0.35 + 0.65 * velocity.min(127) as f64 / 127.0;
    let s = |c: u8| (c as f64 * k).round() as u8;
    Color::Rgb(s(r), s(g), s(b))
}

const NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

/// Pitch name with octave, C4 = 60.
pub fn pitch_name(p: u8) -> String {
    format!("{}{}", NAMES[p as usize % 12], p as i32 / 12 - 1)
}

/// One roll cell's two halves: (upper, lower) colours.
type CellColors = (Option<Color>, Option<Color>);

/// The piano roll: time to the right, two pitches per row (upper and lower half blocks), a ruler on
/// top, pitch names on the left, primer notes in track colours and generated notes in orange (brighter
/// = louder), the cursor, the playhead and the start of the generated part.
pub fn render_roll(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height < 2 || area.width <= GUTTER + 1 {
        return;
    }
    let v = app.view;
    let cols = (area.width - GUTTER) as usize;
    let rows = (area.height - 1) as usize;
    let x0 = area.x + GUTTER;
    let col_of = |t: f64| ((t - v.start) / v.seconds_per_col).floor();
    // Ruler.
    let ruler_y = area.y;
    // A label every `interval` seconds (1, 2, 5, 10, … so that labels are ≥ 8 columns apart).
    let interval = [
        0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
    ]
    .into_iter()
    .find(|i| i / v.seconds_per_col >= 8.0)
    .unwrap_or(600.0);
    let mut t = (v.start / interval).ceil() * interval;
    while let Some(c) = Some(col_of(t)).filter(|&c| c < cols as f64) {
        let c = c.max(0.0) as usize;
        let label = if interval < 1.0 {
            clock(t)
        } else {
            clock(t).trim_end_matches(".0").to_string()
        };
        let text = format!("┆{label}");
        let style = Style::default().fg(Color::DarkGray);
        buf.set_stringn(x0 + c as u16, ruler_y, &text, cols - c, style);
        t += interval;
    }
    // Cells.
    let mut cells: Vec<CellColors> = vec![(None, None); cols * rows];
    let mut paint = |pitch: u8, start: f64, end: f64, color: Color| {
        let top = v.top_pitch as i32;
        let d = top - pitch as i32;
        if d < 0 || d >= 2 * rows as i32 {
            return;
        }
        let (row, upper) = ((d / 2) as usize, d % 2 == 0);
        let (a, b) = (
            col_of(start).max(0.0),
            col_of(end - 1e-9).min(cols as f64 - 1.0),
        );
        if b < a {
            return;
        }
        for c in a as usize..=b as usize {
            let cell = &mut cells[row * cols + c];
            if upper {
                cell.0 = Some(color);
            } else {
                cell.1 = Some(color);
            }
        }
    };
    let doc = app.history.current();
    if let Some(doc) = doc {
        let from = doc.generated_from.unwrap_or(f64::INFINITY);
        let mut notes: Vec<_> = doc.score.notes.iter().filter(|n| !n.is_drum()).collect();
        notes.sort_by_key(|n| n.velocity);
        for n in notes {
            let color = if n.start >= from - 1e-6 {
                shade(NEW_COLOR, n.velocity)
            } else {
                shade(PALETTE[n.track % PALETTE.len()], n.velocity)
            };
            paint(n.pitch, n.start, n.end, color);
        }
    }
    if let Some(job) = &app.job {
        for n in &job.preview {
            let end = n.end.unwrap_or(job.latest.max(n.start + v.seconds_per_col));
            paint(n.pitch, n.start, end, shade(NEW_COLOR, n.velocity));
        }
    }
    let marker_col = |t: Option<f64>| {
        t.map(col_of)
            .filter(|c| (0.0..cols as f64).contains(c))
            .map(|c| c as usize)
    };
    let cursor = marker_col(Some(app.cursor));
    let playhead = marker_col(app.playhead);
    let boundary = marker_col(doc.and_then(|d| d.generated_from));
    for row in 0..rows {
        let y = area.y + 1 + row as u16;
        let upper_pitch = v.top_pitch as i32 - 2 * row as i32;
        // Pitch labels at the Cs.
        for (p, _) in [(upper_pitch, 0), (upper_pitch - 1, 1)] {
            if (0..128).contains(&p) && p % 12 == 0 {
                buf.set_stringn(
                    area.x,
                    y,
                    pitch_name(p as u8),
                    GUTTER as usize,
                    Style::default().fg(Color::Gray),
                );
            }
        }
        for c in 0..cols {
            let x = x0 + c as u16;
            let (up, lo) = cells[row * cols + c];
            let mut bg = Color::Reset;
            if Some(c) == cursor {
                bg = Color::Rgb(60, 60, 60);
            }
            if Some(c) == playhead {
                bg = Color::Rgb(120, 30, 30);
            }
            let Some(cell) = buf.cell_mut((x, y)) else {
                continue;
            };
            match (up, lo) {
                (Some(u), Some(l)) => {
                    cell.set_symbol("▀").set_fg(u).set_bg(l);
                }
                (Some(u), None) => {
                    cell.set_symbol("▀").set_fg(u).set_bg(bg);
                }
                (None, Some(l)) => {
                    cell.set_symbol("▄").set_fg(l).set_bg(bg);
                }
                (None, None) => {
                    let symbol = if Some(c) == boundary {
                        "┊"
                    } else if Some(c) == playhead || Some(c) == cursor {
                        "│"
                    } else if (upper_pitch.rem_euclid(12) == 0)
                        || ((upper_pitch - 1).rem_euclid(12) == 0)
                    {
                        "·"
                    } else {
                        " "
                    };
                    cell.set_symbol(symbol).set_fg(Color::DarkGray).set_bg(bg);
                }
            }
        }
    }
}

fn draw_params(f: &mut Frame, app: &App, area: Rect) {
    let block = focused(
        Block::default().borders(Borders::ALL).title(" Parameters "),
        app.focus == Focus::Params,
    );
    let lines: Vec<Line> = PARAM_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let selected = app.focus == Focus::Params && i == app.selected_param;
            let style = if selected {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(format!("{name:<12}"), style.fg(Color::Gray)),
                Span::styled(app.param_value(i), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// The action keys, as shown (Accompany only when its model is installed).
pub fn actions(app: &App) -> Vec<(&'static str, &'static str)> {
    let mut a = vec![("o", "open MIDI"), ("c", "continue"), ("g", "generate")];
    if app.has_model("pop909-accomp") {
        a.push(("a", "accompany"));
    }
    a.extend([
        (
            "space",
            if app.playhead.is_some() {
                "stop"
            } else {
                "play from cursor"
            },
        ),
        ("w", "render WAV"),
        ("s", "save MIDI"),
        ("z / y", "undo / redo"),
        ("?", "help"),
        ("q", "quit"),
    ]);
    a
}

fn draw_actions(f: &mut Frame, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" Actions ");
    let busy = app.job.is_some();
    let lines: Vec<Line> = actions(app)
        .into_iter()
        .map(|(k, what)| {
            let style = if busy && !matches!(k, "q" | "?") {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(format!("{k:>6} "), style.fg(Color::Yellow)),
                Span::styled(what, style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let text = match &app.job {
        Some(job) => format!("⏳ {}", job.progress),
        None => app.status.clone(),
    };
    let position = match app.playhead {
        Some(t) => format!(" ▶ {} ", clock(t)),
        None => format!(" cursor {} ", clock(app.cursor)),
    };
    let [left, right] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(position.chars().count() as u16),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(text).style(Style::default().fg(Color::White).bg(Color::Rgb(30, 30, 50))),
        left,
    );
    f.render_widget(
        Paragraph::new(position).style(Style::default().fg(Color::Black).bg(Color::Yellow)),
        right,
    );
}

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The help text, one line per key.
pub const HELP: [(&str, &str); 17] = [
    ("o", "open a MIDI file (file picker)"),
    ("c", "continue the music with the chosen model"),
    ("g", "generate new music from nothing"),
    ("Esc", "cancel a running generation or render"),
    ("space", "play from the cursor / stop"),
    ("w", "render to WAV next to the file"),
    ("s", "save MIDI next to the file (NAME-reprise.mid)"),
    ("z / y", "undo / redo a generation"),
    ("Tab", "switch between roll and parameters"),
    ("← →", "roll: move the cursor · params: change"),
    ("↑ ↓", "roll: scroll pitches · params: choose"),
    ("Home End", "cursor to start / end"),
    ("+ -", "zoom in / out"),
    ("?", "this help"),
    ("q", "quit"),
    ("", ""),
    ("", "orange = generated · ┊ = where it starts"),
];

fn draw_help(f: &mut Frame, app: &App) {
    let area = centred(f.area(), 60, HELP.len() as u16 + 4);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>9}  "), Style::default().fg(Color::Yellow)),
                Span::raw(*what),
            ])
        })
        .collect();
    if app.has_model("pop909-accomp") {
        lines.push(Line::from(
            "        a  accompany the melody with a piano part",
        ));
    }
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys — any key closes "),
        ),
        area,
    );
}

fn draw_picker(f: &mut Frame, app: &App) {
    let Overlay::Picker(p) = &app.overlay else {
        return;
    };
    let area = centred(f.area(), 64, 18);
    let items: Vec<ListItem> = if p.entries.is_empty() {
        vec![ListItem::new("(no MIDI files here)")]
    } else {
        p.entries
            .iter()
            .map(|e| {
                let style = if e.is_dir {
                    Style::default().fg(Color::Cyan)
                } else {
                    Style::default()
                };
                ListItem::new(Span::styled(e.name.clone(), style))
            })
            .collect()
    };
    let title = format!(" Open — {} ", p.dir.display());
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_bottom(" ↑↓ choose · Enter open · Backspace up · Esc close "),
        )
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ");
    let mut state = ListState::default().with_selected(Some(p.selected));
    f.render_widget(Clear, area);
    f.render_stateful_widget(list, area, &mut state);
}
