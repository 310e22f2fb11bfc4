//! Drawing the terminal UI: piano roll, parameters, actions, status line, and the help and file-picker
//! overlays. Works from 80×24 up.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Focus, Overlay, PARAM_NAMES};
use super::picker::Files;
use crate::console::clock;

/// Width of the right-hand column (parameters and actions).
const SIDE: u16 = 26;

/// The screen's panes: roll, parameters, actions, status line.
fn panes(area: Rect) -> [Rect; 4] {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let [roll, side] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(SIDE)]).areas(main);
    let rows = PARAM_NAMES.len() as u16 + 2;
    let [params, actions] =
        Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(side);
    [roll, params, actions, status]
}

/// Columns of notes the roll has on a screen of this size (the runtime tells the app, for paging).
pub fn roll_columns(area: Rect) -> u16 {
    let [roll, ..] = panes(area);
    roll.width.saturating_sub(2 + GUTTER)
}

/// Draws the whole screen (reads the state, changes nothing).
pub fn draw(f: &mut Frame, app: &App) {
    let [roll, params, actions, status] = panes(f.area());
    draw_roll(f, app, roll);
    draw_params(f, app, params);
    draw_actions(f, app, actions);
    draw_status(f, app, status);
    match &app.overlay {
        Overlay::Help => draw_help(f),
        Overlay::Picker(_) => draw_picker(f, app),
        Overlay::Chords => draw_chords(f, app),
        Overlay::Info { title, lines } => draw_info(f, title, lines),
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

fn draw_roll(f: &mut Frame, app: &App, area: Rect) {
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

/// Background of the selected span.
const SELECTION_BG: Color = Color::Rgb(30, 50, 90);

/// The roll's geometry: where time and pitch land on the screen.
struct Grid {
    x0: u16,
    y0: u16,
    cols: usize,
    rows: usize,
    start: f64,
    seconds_per_col: f64,
    top_pitch: u8,
}

impl Grid {
    fn new(app: &App, area: Rect) -> Grid {
        Grid {
            x0: area.x + GUTTER,
            y0: area.y,
            cols: (area.width - GUTTER) as usize,
            rows: (area.height - 1) as usize,
            start: app.view.start,
            seconds_per_col: app.view.seconds_per_col,
            top_pitch: app.view.top_pitch,
        }
    }

    /// The column of time `t` (may be off screen).
    fn col_of(&self, t: f64) -> f64 {
        ((t - self.start) / self.seconds_per_col).floor()
    }

    /// The on-screen column of `t`, if any.
    fn marker(&self, t: Option<f64>) -> Option<usize> {
        t.map(|t| self.col_of(t))
            .filter(|c| (0.0..self.cols as f64).contains(c))
            .map(|c| c as usize)
    }
}

/// The piano roll: time to the right, two pitches per row (upper and lower half blocks), a ruler on
/// top, pitch names on the left, primer notes in track colours and generated notes in orange (brighter
/// = louder), the selection, the cursor, the playhead and the start of the generated part.
pub fn render_roll(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height < 2 || area.width <= GUTTER + 1 {
        return;
    }
    let g = Grid::new(app, area);
    draw_ruler(&g, buf);
    let cells = note_cells(app, &g);
    let doc = app.history.current();
    let markers = Markers {
        cursor: g.marker(Some(app.cursor)),
        playhead: g.marker(app.playhead),
        boundary: g.marker(doc.and_then(|d| d.generated_from)),
        selection: app
            .selection
            .map(|(a, b)| (g.col_of(a), g.col_of(b - 1e-9))),
    };
    for row in 0..g.rows {
        draw_row(
            &g,
            buf,
            row,
            &cells[row * g.cols..(row + 1) * g.cols],
            &markers,
        );
    }
}

/// Time labels along the top: a label every 1, 2, 5, 10, … seconds, at least 8 columns apart.
fn draw_ruler(g: &Grid, buf: &mut Buffer) {
    let interval = [
        0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
    ]
    .into_iter()
    .find(|i| i / g.seconds_per_col >= 8.0)
    .unwrap_or(600.0);
    let mut t = (g.start / interval).ceil() * interval;
    while let Some(c) = Some(g.col_of(t)).filter(|&c| c < g.cols as f64) {
        let c = c.max(0.0) as usize;
        let label = if interval < 1.0 {
            clock(t)
        } else {
            clock(t).trim_end_matches(".0").to_string()
        };
        let text = format!("┆{label}");
        let style = Style::default().fg(Color::DarkGray);
        buf.set_stringn(g.x0 + c as u16, g.y0, &text, g.cols - c, style);
        t += interval;
    }
}

/// The colours of every cell: the music's notes, then the notes being generated.
fn note_cells(app: &App, g: &Grid) -> Vec<CellColors> {
    let mut cells: Vec<CellColors> = vec![(None, None); g.cols * g.rows];
    let mut paint = |pitch: u8, start: f64, end: f64, color: Color| {
        let d = g.top_pitch as i32 - pitch as i32;
        if d < 0 || d >= 2 * g.rows as i32 {
            return;
        }
        let (row, upper) = ((d / 2) as usize, d % 2 == 0);
        let (a, b) = (
            g.col_of(start).max(0.0),
            g.col_of(end - 1e-9).min(g.cols as f64 - 1.0),
        );
        if b < a {
            return;
        }
        for c in a as usize..=b as usize {
            let cell = &mut cells[row * g.cols + c];
            if upper {
                cell.0 = Some(color);
            } else {
                cell.1 = Some(color);
            }
        }
    };
    if let Some(doc) = app.history.current() {
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
            let end = n.end.unwrap_or(job.latest.max(n.start + g.seconds_per_col));
            paint(n.pitch, n.start, end, shade(NEW_COLOR, n.velocity));
        }
    }
    cells
}

/// The columns of the roll's markers.
struct Markers {
    cursor: Option<usize>,
    playhead: Option<usize>,
    boundary: Option<usize>,
    /// First and last column of the selection (may be off screen).
    selection: Option<(f64, f64)>,
}

/// One row of the roll: its pitch label and its cells.
fn draw_row(g: &Grid, buf: &mut Buffer, row: usize, cells: &[CellColors], m: &Markers) {
    let y = g.y0 + 1 + row as u16;
    let upper_pitch = g.top_pitch as i32 - 2 * row as i32;
    // Pitch labels at the Cs.
    for p in [upper_pitch, upper_pitch - 1] {
        if (0..128).contains(&p) && p % 12 == 0 {
            let style = Style::default().fg(Color::Gray);
            buf.set_stringn(
                g.x0 - GUTTER,
                y,
                pitch_name(p as u8),
                GUTTER as usize,
                style,
            );
        }
    }
    let has_c = upper_pitch.rem_euclid(12) == 0 || (upper_pitch - 1).rem_euclid(12) == 0;
    for (c, &(up, lo)) in cells.iter().enumerate() {
        let selected = m
            .selection
            .is_some_and(|(a, b)| (a..=b).contains(&(c as f64)));
        let bg = if Some(c) == m.playhead {
            Color::Rgb(120, 30, 30)
        } else if Some(c) == m.cursor {
            Color::Rgb(60, 60, 60)
        } else if selected {
            SELECTION_BG
        } else {
            Color::Reset
        };
        let Some(cell) = buf.cell_mut((g.x0 + c as u16, y)) else {
            continue;
        };
        match (up, lo) {
            (Some(u), Some(l)) => cell.set_symbol("▀").set_fg(u).set_bg(l),
            (Some(u), None) => cell.set_symbol("▀").set_fg(u).set_bg(bg),
            (None, Some(l)) => cell.set_symbol("▄").set_fg(l).set_bg(bg),
            (None, None) => {
                let symbol = if Some(c) == m.boundary {
                    "┊"
                } else if Some(c) == m.playhead || Some(c) == m.cursor {
                    "│"
                } else if selected {
                    "░"
                } else if has_c {
                    "·"
                } else {
                    " "
                };
                cell.set_symbol(symbol).set_fg(Color::DarkGray).set_bg(bg)
            }
        };
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

/// The action keys, as shown (theme and accompaniment only when a model for them is installed).
pub fn actions(app: &App) -> Vec<(&'static str, &'static str)> {
    use crate::ops::models::Action;
    let mut a = vec![
        ("o", "open MIDI"),
        ("c", "continue"),
        ("C", "from cursor"),
        ("g", "generate"),
    ];
    if app.model_for(Action::Theme).is_some() {
        a.push(("t", "grow theme"));
    }
    if app.infill_model().is_some() {
        a.push(("i", "rewrite sel."));
    }
    if app.voice_model().is_some() {
        a.push(("h", "harmonize"));
    }
    a.push(("e", "find theme"));
    if app.model_for(Action::Accompany).is_some() {
        a.push(("a", "accompany"));
        if app.chords.is_some() {
            a.push(("k", "edit chords"));
        }
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
        ("T", "clone timbre"),
    ]);
    if app.rendered.is_some() {
        a.push(("p", "play the WAV"));
    }
    if app.ports.midi_in.is_some() {
        a.push((
            "r",
            if app.recording.is_some() {
                "stop recording"
            } else {
                "record"
            },
        ));
    }
    a.extend([
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
pub const HELP: [(&str, &str); 40] = [
    ("o", "open a MIDI file"),
    ("c", "continue from the end"),
    ("C", "continue from the cursor"),
    ("", "  (or the selection's end)"),
    ("g", "generate from nothing"),
    ("t", "grow a piece from the"),
    ("", "  selection as its theme"),
    ("e", "find the theme, select it"),
    ("i", "rewrite the selected bars"),
    ("", "  (again: another take)"),
    ("h", "harmonize: alto, tenor,"),
    ("", "  bass under the melody"),
    ("a", "accompany the melody"),
    ("k", "chords: ←→ beat ↑↓ root"),
    ("", "  m quality n none b bar"),
    ("", "  Enter accompany again"),
    ("Esc", "cancel a job / clear sel."),
    ("space", "play from cursor / stop"),
    ("w", "render WAV next to file"),
    ("p", "play the rendered WAV"),
    ("T", "clone a timbre from a"),
    ("", "  recording (p auditions)"),
    ("r", "record from the keyboard"),
    ("", "  (count-in; r stops)"),
    ("Q", "quantise to sixteenths"),
    ("s", "save NAME-reprise.mid"),
    ("z / y", "undo / redo"),
    ("Tab", "roll ⇄ parameters"),
    ("← →", "roll: cursor · params:"),
    ("", "  change the value"),
    ("⇧← ⇧→", "select a span"),
    ("↑ ↓", "roll: pitches · params:"),
    ("", "  choose a row"),
    ("Home End", "cursor to start / end"),
    ("+ -", "zoom in / out"),
    ("?  q", "this help · quit"),
    ("params", "engine, timbre: play and"),
    ("", "  render · play live: hear"),
    ("", "  it while generating"),
    ("", "orange new · ┊ its start"),
];

fn help_lines(rows: &[(&str, &str)]) -> Vec<Line<'static>> {
    rows.iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>8} "), Style::default().fg(Color::Yellow)),
                Span::raw(what.to_string()),
            ])
        })
        .collect()
}

/// The help, in two columns so that it fits 80×24.
fn draw_help(f: &mut Frame) {
    let half = HELP.len().div_ceil(2);
    let area = centred(f.area(), 78, half as u16 + 2);
    f.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Keys — any key closes ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    f.render_widget(Paragraph::new(help_lines(&HELP[..half])), left);
    f.render_widget(Paragraph::new(help_lines(&HELP[half..])), right);
}

/// The chord editor: one line per bar, the beat being edited reversed.
fn draw_chords(f: &mut Frame, app: &App) {
    let Some(sheet) = &app.chords else {
        return;
    };
    let per_bar = crate::accompany::chords::BEATS_PER_BAR;
    let height = f.area().height.saturating_sub(4).max(3);
    let visible = height.saturating_sub(2) as usize;
    let cursor_bar = sheet.cursor / per_bar;
    let first = cursor_bar.saturating_sub(visible.saturating_sub(1));
    let lines: Vec<Line> = (first..sheet.bars().min(first + visible))
        .map(|bar| {
            let mut spans = vec![Span::styled(
                format!("bar {:>3}  ", bar + 1),
                Style::default().fg(Color::Gray),
            )];
            for (i, name) in sheet.bar_text(bar).into_iter().enumerate() {
                let style = if bar * per_bar + i == sheet.cursor {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                spans.push(Span::styled(format!("{name:<7}"), style));
            }
            Line::from(spans)
        })
        .collect();
    let area = centred(f.area(), 60, height);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Chords (4 beats a bar) ")
                .title_bottom(" ←→ beat ↑↓ root m quality n none b bar Enter redo "),
        ),
        area,
    );
}

/// A few lines to read, any key closes.
fn draw_info(f: &mut Frame, title: &str, lines: &[String]) {
    let area = centred(f.area(), 76, lines.len() as u16 + 4);
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.as_str())).collect();
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {title} "))
                .title_bottom(" any key closes "),
        ),
        area,
    );
}

fn draw_picker(f: &mut Frame, app: &App) {
    let Overlay::Picker(p) = &app.overlay else {
        return;
    };
    let area = centred(f.area(), 64, 18);
    let (title, empty) = match p.files {
        Files::Midi => ("Open", "(no MIDI files here)"),
        Files::Audio => ("Clone a timbre from", "(no audio files here)"),
    };
    let items: Vec<ListItem> = if p.entries.is_empty() {
        vec![ListItem::new(empty)]
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
    let title = format!(" {title} — {} ", p.dir.display());
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
