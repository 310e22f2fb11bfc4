//! The terminal UI's state and what each key does to it. No terminal here: the runtime (`tui::run`)
//! draws this state and carries out the [`Effect`]s (threads, audio), and tests drive it directly.
//! The actions that start jobs live in `tui::jobs`.

use std::path::{Path, PathBuf};

use crate::midi::Score;
use crate::model::VocabKind;
use crate::ops::engine::Engine;
use crate::ops::models::{Action, Architecture, ModelEntry};

use super::chords::{ChordSheet, SheetAction};
use super::picker::{Files, Picker};
pub use super::types::{JobKind, JobSpec, Key, Params};

/// One state of the document: the music and where its generated part starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// The music.
    pub score: Score,
    /// Seconds where the last generation's new music starts (`None`: nothing generated).
    pub generated_from: Option<f64>,
}

/// Undo/redo over whole documents (generations replace the music; scores are small).
#[derive(Debug, Clone, Default)]
pub struct History {
    docs: Vec<Doc>,
    index: usize,
}

impl History {
    /// The current document, if any.
    pub fn current(&self) -> Option<&Doc> {
        self.docs.get(self.index)
    }

    /// Makes `doc` current, dropping anything that had been undone.
    pub fn push(&mut self, doc: Doc) {
        if !self.docs.is_empty() {
            self.docs.truncate(self.index + 1);
        }
        self.docs.push(doc);
        self.index = self.docs.len() - 1;
    }

    /// Starts over with `doc` (a newly opened file).
    pub fn reset(&mut self, doc: Doc) {
        self.docs = vec![doc];
        self.index = 0;
    }

    /// Steps back; false if there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        let can = self.index > 0;
        self.index -= usize::from(can);
        can
    }

    /// Steps forward; false if there is nothing to redo.
    pub fn redo(&mut self) -> bool {
        let can = self.index + 1 < self.docs.len();
        self.index += usize::from(can);
        can
    }
}

/// Names of the parameter rows, in order.
pub const PARAM_NAMES: [&str; 15] = [
    "model",
    "theme model",
    "accompanist",
    "temperature",
    "top-k",
    "top-p",
    "length",
    "theme bars",
    "seed",
    "melody",
    "engine",
    "timbre",
    "play live",
    "rec tempo",
    "play to",
];

/// Which pane takes the arrow keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The piano roll: arrows move the cursor and scroll.
    Roll,
    /// The parameters: ↑/↓ choose, ←/→ change.
    Params,
}

/// What covers the main screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// Nothing.
    None,
    /// The key help.
    Help,
    /// The file picker.
    Picker(Picker),
    /// The chord editor over the app's chord sheet.
    Chords,
    /// A few lines to read (any key closes).
    Info {
        /// The title.
        title: String,
        /// The lines.
        lines: Vec<String>,
    },
}

/// The visible window of the piano roll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Seconds at the left edge.
    pub start: f64,
    /// Seconds per column.
    pub seconds_per_col: f64,
    /// Highest pitch shown (top row, upper half).
    pub top_pitch: u8,
}

impl Default for View {
    fn default() -> Self {
        View {
            start: 0.0,
            seconds_per_col: 0.25,
            top_pitch: 84,
        }
    }
}

/// A note being generated, for the roll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreviewNote {
    /// Channel.
    pub channel: u8,
    /// Key.
    pub pitch: u8,
    /// Velocity.
    pub velocity: u8,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds (`None` while it sounds).
    pub end: Option<f64>,
}

/// A running background job.
#[derive(Debug, Clone)]
pub struct Job {
    /// What it does.
    pub kind: JobKind,
    /// Latest progress line.
    pub progress: String,
    /// Notes so far (generations).
    pub preview: Vec<PreviewNote>,
    /// Latest time any preview event reached.
    pub latest: f64,
    /// An accompaniment's melody and chords, until its result comes.
    pub accompanied: Option<(String, String, ChordSheet)>,
}

/// Something the runtime must do after a key.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Start a background job (generation, theme, accompaniment or rendering).
    Start(Box<JobSpec>),
    /// Ask the running job to stop.
    Cancel,
    /// Start playing the current music from this second.
    Play(f64),
    /// Stop playing.
    StopPlaying,
    /// Record from the keyboard at this tempo.
    Record(f64),
    /// Stop recording; the take becomes the music.
    StopRecording,
    /// Play an audio file as it is.
    PlayFile(PathBuf),
}

/// The whole UI state.
pub struct App {
    /// The file the music came from (or will be saved next to).
    pub path: Option<PathBuf>,
    /// The music, with undo/redo.
    pub history: History,
    /// Generation settings.
    pub params: Params,
    /// The parameter row selected in the parameters pane.
    pub selected_param: usize,
    /// Where the arrows go.
    pub focus: Focus,
    /// Overlay on top of the screen.
    pub overlay: Overlay,
    /// The status line.
    pub status: String,
    /// The running job.
    pub job: Option<Job>,
    /// The roll's window.
    pub view: View,
    /// The cursor, seconds (playback starts here).
    pub cursor: f64,
    /// A selected span of the roll, seconds (shift+←/→; Esc clears).
    pub selection: Option<(f64, f64)>,
    /// The playhead while playing.
    pub playhead: Option<f64>,
    /// The installed models (each action lists those that serve it).
    pub models: Vec<ModelEntry>,
    /// The neural synth's timbres.
    pub timbres: Vec<String>,
    /// The chords of the last accompaniment (the `k` editor).
    pub chords: Option<ChordSheet>,
    /// Set by quit.
    pub quit: bool,
    /// Width of the roll in columns (the runtime sets it from the terminal's size; for paging).
    pub roll_cols: u16,
    /// The MIDI ports the UI was started with.
    pub ports: super::types::Ports,
    /// Where a recording from the keyboard is, while one runs.
    pub recording: Option<crate::jam::record::Phase>,
    /// The last WAV rendered (`p` plays it).
    pub rendered: Option<PathBuf>,
}

impl App {
    /// An empty app with these models.
    pub fn new(models: Vec<ModelEntry>) -> Self {
        let mut app = App {
            path: None,
            history: History::default(),
            params: Params::default(),
            selected_param: 0,
            focus: Focus::Roll,
            overlay: Overlay::None,
            status: "o open a MIDI file · g generate · ? help".into(),
            job: None,
            view: View::default(),
            cursor: 0.0,
            selection: None,
            playhead: None,
            models,
            timbres: vec!["piano".into()],
            chords: None,
            quit: false,
            roll_cols: 56,
            ports: Default::default(),
            recording: None,
            rendered: None,
        };
        // Prefer a piano model when there is one (it takes any MIDI file), the beat-aware one first.
        let list = app.models_for(Action::Continue);
        let piano = |v: VocabKind| {
            list.iter()
                .position(|m| m.architecture == Architecture::MusicTransformer(v))
        };
        if let Some(i) = piano(VocabKind::Remi).or_else(|| piano(VocabKind::Performance)) {
            app.params.model = i;
        }
        app
    }

    /// The installed models that serve `action`, by name.
    pub fn models_for(&self, action: Action) -> Vec<&ModelEntry> {
        self.models.iter().filter(|m| m.can(action)).collect()
    }

    /// The model chosen for `action` (continue and generate share one).
    pub fn model_for(&self, action: Action) -> Option<&ModelEntry> {
        let i = match action {
            Action::Theme => self.params.theme_model,
            Action::Accompany => self.params.accompanist,
            _ => self.params.model,
        };
        self.models_for(action).get(i).copied()
    }

    /// The infilling model, when it is installed.
    pub fn infill_model(&self) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.name == crate::ops::infill::DEFAULT_MODEL)
    }

    /// The chorale voice filler harmonize uses (the shipped one by preference).
    pub fn voice_model(&self) -> Option<&ModelEntry> {
        let fillers = || self.models.iter().filter(|m| m.can(Action::FillVoices));
        fillers()
            .find(|m| m.name == crate::ops::harmonize::DEFAULT_MODEL)
            .or_else(|| fillers().next())
    }

    /// The model chosen in the parameters for continue and generate.
    pub fn model(&self) -> Option<&ModelEntry> {
        self.model_for(Action::Continue)
    }

    /// The current music, if any.
    pub fn score(&self) -> Option<&Score> {
        self.history.current().map(|d| &d.score)
    }

    /// Loads a MIDI file as a new document.
    pub fn load(&mut self, path: &Path) {
        match crate::midi::read_file(path) {
            Ok(score) => {
                self.status = format!(
                    "opened {} ({} notes, {:.1} s) · c continue · ? help",
                    path.file_name().map_or("".into(), |n| n.to_string_lossy()),
                    score.notes.len(),
                    score.duration()
                );
                self.fit_view(&score);
                self.cursor = 0.0;
                self.selection = None;
                self.chords = None;
                self.history.reset(Doc {
                    score,
                    generated_from: None,
                });
                self.path = Some(path.to_path_buf());
            }
            Err(e) => self.status = e.to_string(),
        }
    }

    /// Centres the pitch window on the music and shows it from the start.
    fn fit_view(&mut self, score: &Score) {
        let pitched = score.notes.iter().filter(|n| !n.is_drum());
        let (lo, hi) = pitched.fold((127u8, 0u8), |(l, h), n| (l.min(n.pitch), h.max(n.pitch)));
        if lo <= hi {
            self.view.top_pitch = hi.saturating_add(2).clamp(30, 127);
        }
        self.view.start = 0.0;
    }

    /// Handles one key; returns what the runtime must do.
    pub fn key(&mut self, key: Key) -> Option<Effect> {
        if self.overlay != Overlay::None {
            return self.overlay_key(key);
        }
        if self.job.is_some() {
            return self.busy_key(key);
        }
        if let Some(effect) = self.action_key(key) {
            return effect;
        }
        if self.view_key(key) {
            return None;
        }
        match self.focus {
            Focus::Roll => self.roll_key(key),
            Focus::Params => self.param_key(key),
        }
        None
    }

    fn overlay_key(&mut self, key: Key) -> Option<Effect> {
        match &mut self.overlay {
            Overlay::Picker(p) => {
                let files = p.files;
                if let Some(path) = p.key(key) {
                    self.overlay = Overlay::None;
                    match files {
                        Files::Midi => self.load(&path),
                        Files::Audio => return self.clone_timbre(path),
                    }
                } else if p.closed {
                    self.overlay = Overlay::None;
                }
                None
            }
            Overlay::Chords => {
                let action = self
                    .chords
                    .as_mut()
                    .map_or(SheetAction::Close, |s| s.key(key));
                match action {
                    SheetAction::Stay => None,
                    SheetAction::Close => {
                        self.overlay = Overlay::None;
                        None
                    }
                    SheetAction::Reaccompany => {
                        self.overlay = Overlay::None;
                        self.reaccompany()
                    }
                }
            }
            _ => {
                self.overlay = Overlay::None;
                None
            }
        }
    }

    fn busy_key(&mut self, key: Key) -> Option<Effect> {
        match key {
            Key::Esc => Some(Effect::Cancel),
            Key::Char('q') => {
                self.quit = true;
                Some(Effect::Cancel)
            }
            _ => {
                self.status = "busy: Esc cancels".into();
                None
            }
        }
    }

    /// The action keys (any focus); `None` if `key` is not one.
    fn action_key(&mut self, key: Key) -> Option<Option<Effect>> {
        let Key::Char(c) = key else {
            return None;
        };
        Some(match c {
            'q' => {
                self.quit = true;
                self.playhead.is_some().then_some(Effect::StopPlaying)
            }
            'c' => self.generation(JobKind::Continue, None),
            'C' => self.continue_from_cursor(),
            'g' => self.generation(JobKind::Generate, None),
            't' => self.grow_theme(),
            'e' => self.extract_theme(),
            'i' => self.infill_selection(),
            'h' => self.harmonize_track(),
            'a' => self.accompany(None),
            'k' => self.open_chords(),
            ' ' => self.toggle_play(),
            'w' => self.render_wav(),
            'r' => self.toggle_record(),
            'Q' => self.quantise(),
            'p' => self.play_render(),
            's' => {
                self.save();
                None
            }
            'z' => {
                self.status = if self.history.undo() {
                    "undone"
                } else {
                    "nothing to undo"
                }
                .into();
                None
            }
            'y' => {
                self.status = if self.history.redo() {
                    "redone"
                } else {
                    "nothing to redo"
                }
                .into();
                None
            }
            _ => return None,
        })
    }

    /// Keys that change what is shown; false if `key` is not one.
    fn view_key(&mut self, key: Key) -> bool {
        match key {
            Key::Char('?') => self.overlay = Overlay::Help,
            Key::Char('o') => self.open_picker(Files::Midi),
            Key::Char('T') => {
                self.open_picker(Files::Audio);
                self.status = "pick a recording of one voice to clone its timbre".into();
            }
            Key::Tab => {
                self.focus = match self.focus {
                    Focus::Roll => Focus::Params,
                    Focus::Params => Focus::Roll,
                }
            }
            Key::Char('+') | Key::Char('=') => {
                self.view.seconds_per_col = (self.view.seconds_per_col / 2.0).max(1.0 / 64.0)
            }
            Key::Char('-') => {
                self.view.seconds_per_col = (self.view.seconds_per_col * 2.0).min(8.0)
            }
            Key::Esc if self.selection.is_some() => {
                self.selection = None;
                self.status = "selection cleared".into();
            }
            Key::ShiftLeft | Key::ShiftRight => self.extend_selection(key == Key::ShiftRight),
            _ => return false,
        }
        true
    }

    /// Opens the file picker on the opened file's folder (or the current one), listing `files`.
    fn open_picker(&mut self, files: Files) {
        let dir = self
            .path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        self.overlay = Overlay::Picker(Picker::list(&dir, files));
    }

    fn open_chords(&mut self) -> Option<Effect> {
        match &self.chords {
            Some(s) if !s.beats.is_empty() => self.overlay = Overlay::Chords,
            _ => self.status = "no chords yet: accompany first (a)".into(),
        }
        None
    }

    /// The roll's page and cursor step, seconds.
    fn steps(&self) -> (f64, f64) {
        let page = self.view.seconds_per_col * self.roll_cols.max(1) as f64;
        (page, page / 8.0)
    }

    /// Moves the cursor one step and stretches the selection with it (from the cursor when there
    /// is none).
    fn extend_selection(&mut self, right: bool) {
        let (_, step) = self.steps();
        let end = self.score().map_or(0.0, Score::duration);
        let anchor = match self.selection {
            Some((a, b)) if (self.cursor - a).abs() < 1e-9 => b,
            Some((a, _)) => a,
            None => self.cursor,
        };
        self.cursor = if right {
            (self.cursor + step).min(end)
        } else {
            (self.cursor - step).max(0.0)
        };
        let (a, b) = (anchor.min(self.cursor), anchor.max(self.cursor));
        self.selection = (b - a > 1e-9).then_some((a, b));
        if let Some((a, b)) = self.selection {
            self.status = format!(
                "selected {}–{} · t grow a piece from it · C continue from its end · Esc clears",
                crate::console::clock(a),
                crate::console::clock(b)
            );
        }
        self.follow_cursor();
    }

    fn roll_key(&mut self, key: Key) {
        let (_, step) = self.steps();
        let end = self.score().map_or(0.0, Score::duration);
        match key {
            Key::Left => self.cursor = (self.cursor - step).max(0.0),
            Key::Right => self.cursor = (self.cursor + step).min(end),
            Key::Home => self.cursor = 0.0,
            Key::End => self.cursor = end,
            Key::Up => self.view.top_pitch = self.view.top_pitch.saturating_add(4).min(127),
            Key::Down => self.view.top_pitch = self.view.top_pitch.saturating_sub(4).max(12),
            _ => {}
        }
        self.follow_cursor();
    }

    /// Keeps the cursor in view.
    fn follow_cursor(&mut self) {
        let (page, _) = self.steps();
        if self.cursor < self.view.start || self.cursor >= self.view.start + page {
            self.view.start = (self.cursor - page / 4.0).max(0.0);
        }
    }

    fn param_key(&mut self, key: Key) {
        let n = PARAM_NAMES.len();
        let sign = match key {
            Key::Up => {
                self.selected_param = (self.selected_param + n - 1) % n;
                return;
            }
            Key::Down => {
                self.selected_param = (self.selected_param + 1) % n;
                return;
            }
            Key::Left => -1i64,
            Key::Right => 1,
            _ => return,
        };
        self.change_param(self.selected_param, sign);
    }

    /// Steps parameter row `i` by `sign` (±1).
    pub fn change_param(&mut self, i: usize, sign: i64) {
        let cycle = |v: usize, n: usize| (v as i64 + sign).rem_euclid(n.max(1) as i64) as usize;
        let counts =
            [Action::Continue, Action::Theme, Action::Accompany].map(|a| self.models_for(a).len());
        let tracks = self.score().map_or(0, |s| s.tracks.len());
        let timbres = self.timbres.clone();
        let f = sign as f32;
        let p = &mut self.params;
        match i {
            0 => p.model = cycle(p.model, counts[0]),
            1 => p.theme_model = cycle(p.theme_model, counts[1]),
            2 => p.accompanist = cycle(p.accompanist, counts[2]),
            3 => p.temperature = (p.temperature + 0.05 * f).clamp(0.05, 2.0),
            4 => p.top_k = (p.top_k as i64 + 4 * sign).clamp(0, 128) as usize,
            5 => p.top_p = ((p.top_p + 0.05 * f) * 100.0).round().clamp(5.0, 100.0) / 100.0,
            6 => p.seconds = (p.seconds + 5.0 * sign as f64).clamp(5.0, 300.0),
            7 => p.bars = (p.bars as i64 + 4 * sign).clamp(4, 128) as usize,
            8 => p.seed = (p.seed as i64 + sign).max(0) as u64,
            // auto, then each track.
            9 => {
                let v = p.track.map_or(0, |t| t + 1);
                p.track = cycle(v, tracks + 1).checked_sub(1);
            }
            10 => {
                p.engine = match p.engine {
                    Engine::Soundfont => Engine::Neural,
                    Engine::Neural => Engine::Soundfont,
                }
            }
            11 => {
                let at = timbres.iter().position(|t| *t == p.timbre).unwrap_or(0);
                if let Some(t) = timbres.get(cycle(at, timbres.len())) {
                    p.timbre = t.clone();
                }
            }
            12 => p.live = !p.live,
            13 => p.bpm = (p.bpm + 2.0 * sign as f64).clamp(40.0, 240.0),
            14 => p.to_midi = !p.to_midi,
            _ => {}
        }
    }

    /// The value of parameter row `i`, as shown.
    pub fn param_value(&self, i: usize) -> String {
        let p = &self.params;
        let name = |a: Action| {
            self.model_for(a)
                .map_or("(none)".into(), |m| m.name.clone())
        };
        match i {
            0 => name(Action::Continue),
            1 => name(Action::Theme),
            2 => name(Action::Accompany),
            3 => format!("{:.2}", p.temperature),
            4 if p.top_k == 0 => "off".into(),
            4 => p.top_k.to_string(),
            5 => format!("{:.2}", p.top_p),
            6 => format!("{:.0} s", p.seconds),
            7 => p.bars.to_string(),
            8 => p.seed.to_string(),
            9 => match (p.track, self.score()) {
                (None, _) => "auto".into(),
                (Some(t), Some(s)) => s
                    .tracks
                    .get(t)
                    .map_or(format!("track {t}"), |tr| format!("{t}: {}", tr.name)),
                (Some(t), None) => format!("track {t}"),
            },
            10 => match p.engine {
                Engine::Soundfont => "SoundFont".into(),
                Engine::Neural => "neural".into(),
            },
            // A cloned timbre's file by its name.
            11 => match p.timbre.strip_suffix(".safetensors") {
                Some(t) => Path::new(t)
                    .file_name()
                    .map_or(t.into(), |n| n.to_string_lossy().into_owned()),
                None => p.timbre.clone(),
            },
            12 => if p.live { "on" } else { "off" }.into(),
            13 => format!("{:.0} BPM", p.bpm),
            14 if p.to_midi => match &self.ports.midi_out {
                Some(port) => format!("MIDI {port}"),
                None => "MIDI (none: --midi-out)".into(),
            },
            14 => "audio".into(),
            _ => String::new(),
        }
    }

    /// `NAME-reprise.EXT` next to the opened file (or in the current directory).
    pub fn output_path(&self, ext: &str) -> PathBuf {
        let (dir, stem) = match &self.path {
            Some(p) => (
                p.parent().map(Path::to_path_buf).unwrap_or_default(),
                p.file_stem()
                    .map_or("untitled".into(), |s| s.to_string_lossy().into_owned()),
            ),
            None => (PathBuf::new(), "untitled".into()),
        };
        dir.join(format!("{stem}-reprise.{ext}"))
    }

    /// Writes the current music as MIDI next to the opened file.
    pub fn save(&mut self) {
        let Some(score) = self.score() else {
            self.status = "nothing to save".into();
            return;
        };
        let path = self.output_path("mid");
        self.status = match crate::midi::write_file(score, &path) {
            Ok(()) => format!("saved {}", path.display()),
            Err(e) => e.to_string(),
        };
    }

    fn toggle_play(&mut self) -> Option<Effect> {
        if self.playhead.is_some() {
            return Some(Effect::StopPlaying);
        }
        if self.score().is_none() {
            self.status = "nothing to play: open a file first".into();
            return None;
        }
        Some(Effect::Play(self.cursor))
    }
}
