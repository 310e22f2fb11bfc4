//! The terminal UI's state and what each key does to it. No terminal here: the runtime (`tui::run`)
//! draws this state and carries out the [`Effect`]s (threads, audio), and tests drive it directly.

use std::path::{Path, PathBuf};

use crate::generate::tasks::GenEvent;
use crate::midi::Score;
use crate::model::VocabKind;
use crate::tokens::NoteEvent;

use super::picker::Picker;
use super::worker::{JobKind, JobMsg, JobResult, JobSpec};

/// A model the UI can use.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Short name (its directory under `models/`).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its vocabulary.
    pub vocab: VocabKind,
}

/// The accompaniment model's name in `models/`.
pub const ACCOMPANIST: &str = "pop909-accomp";

/// The accompaniment model's directory, if it is installed.
pub fn find_accompanist() -> Option<PathBuf> {
    crate::model::resolve_model_dir(ACCOMPANIST)
        .ok()
        .filter(|d| d.join("model.safetensors").is_file())
}

/// Finds the models shipped in `models/` (or next to the binary, as `resolve_model_dir` does).
pub fn discover_models() -> Vec<ModelInfo> {
    let Ok(any) = crate::model::resolve_model_dir("jsb-chorales") else {
        return Vec::new();
    };
    let Some(root) = any.parent() else {
        return Vec::new();
    };
    let mut models: Vec<ModelInfo> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let dir = e.path();
                    let cfg =
                        crate::model::TransformerConfig::load(&dir.join("config.json")).ok()?;
                    dir.join("model.safetensors").is_file().then(|| ModelInfo {
                        name: e.file_name().to_string_lossy().into_owned(),
                        dir,
                        vocab: cfg.vocab,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models
}

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

/// Generation settings shown in the parameters pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Index into the app's models.
    pub model: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Top-k (0 = off).
    pub top_k: usize,
    /// Top-p.
    pub top_p: f32,
    /// Seconds of new music.
    pub seconds: f64,
    /// Random seed of the next generation.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            model: 0,
            temperature: 1.0,
            top_k: 0,
            top_p: crate::generate::tasks::DEFAULT_BEAT_TOP_P,
            seconds: 20.0,
            seed: 1,
        }
    }
}

/// Names of the parameter rows, in order.
pub const PARAM_NAMES: [&str; 6] = ["model", "temperature", "top-k", "top-p", "length", "seed"];

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
}

/// Something the runtime must do after a key.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Start a background job (generation or rendering).
    Start(Box<JobSpec>),
    /// Ask the running job to stop.
    Cancel,
    /// Start playing the current music from this second.
    Play(f64),
    /// Stop playing.
    StopPlaying,
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
    /// The playhead while playing.
    pub playhead: Option<f64>,
    /// Models found.
    pub models: Vec<ModelInfo>,
    /// The accompaniment model's directory, when installed (the `a` key).
    pub accompanist: Option<PathBuf>,
    /// Set by quit.
    pub quit: bool,
    /// Width of the roll in columns at the last draw (for paging).
    pub roll_cols: u16,
}

/// Keys the app understands (the runtime maps terminal events to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character key.
    Char(char),
    /// ←
    Left,
    /// →
    Right,
    /// ↑
    Up,
    /// ↓
    Down,
    /// Enter
    Enter,
    /// Esc
    Esc,
    /// Tab
    Tab,
    /// Home
    Home,
    /// End
    End,
    /// Backspace
    Backspace,
}

impl App {
    /// An empty app with these models.
    pub fn new(models: Vec<ModelInfo>) -> Self {
        let mut params = Params::default();
        // Prefer a piano model when there is one (it takes any MIDI file), the beat-aware one first.
        let piano = |v: VocabKind| models.iter().position(|m| m.vocab == v);
        if let Some(i) = piano(VocabKind::Remi).or_else(|| piano(VocabKind::Performance)) {
            params.model = i;
        }
        App {
            path: None,
            history: History::default(),
            params,
            selected_param: 0,
            focus: Focus::Roll,
            overlay: Overlay::None,
            status: "o open a MIDI file · g generate · ? help".into(),
            job: None,
            view: View::default(),
            cursor: 0.0,
            playhead: None,
            models,
            accompanist: None,
            quit: false,
            roll_cols: 56,
        }
    }

    /// The current music, if any.
    pub fn score(&self) -> Option<&Score> {
        self.history.current().map(|d| &d.score)
    }

    /// The model chosen in the parameters.
    pub fn model(&self) -> Option<&ModelInfo> {
        self.models.get(self.params.model)
    }

    /// True if a model with this name is installed (Accompany and Theme are shown only then).
    pub fn has_model(&self, name: &str) -> bool {
        self.models.iter().any(|m| m.name == name)
            || name == ACCOMPANIST && self.accompanist.is_some()
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
        match &mut self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return None;
            }
            Overlay::Picker(p) => {
                if let Some(path) = p.key(key) {
                    self.overlay = Overlay::None;
                    self.load(&path);
                } else if p.closed {
                    self.overlay = Overlay::None;
                }
                return None;
            }
            Overlay::None => {}
        }
        if self.job.is_some() {
            return match key {
                Key::Esc => Some(Effect::Cancel),
                Key::Char('q') => {
                    self.quit = true;
                    Some(Effect::Cancel)
                }
                _ => {
                    self.status = "busy: Esc cancels".into();
                    None
                }
            };
        }
        match (self.focus, key) {
            (_, Key::Char('q')) => {
                self.quit = true;
                self.playhead.is_some().then_some(Effect::StopPlaying)
            }
            (_, Key::Char('?')) => {
                self.overlay = Overlay::Help;
                None
            }
            (_, Key::Char('o')) => {
                let dir = self
                    .path
                    .as_ref()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or_else(|| PathBuf::from("."));
                self.overlay = Overlay::Picker(Picker::open(&dir));
                None
            }
            (_, Key::Tab) => {
                self.focus = match self.focus {
                    Focus::Roll => Focus::Params,
                    Focus::Params => Focus::Roll,
                };
                None
            }
            (_, Key::Char('c')) => self.generation(JobKind::Continue),
            (_, Key::Char('g')) => self.generation(JobKind::Generate),
            (_, Key::Char('a')) => self.accompany(),
            (_, Key::Char(' ')) => self.toggle_play(),
            (_, Key::Char('w')) => self.render_wav(),
            (_, Key::Char('s')) => {
                self.save();
                None
            }
            (_, Key::Char('z')) => {
                self.status = if self.history.undo() {
                    "undone".into()
                } else {
                    "nothing to undo".into()
                };
                None
            }
            (_, Key::Char('y')) => {
                self.status = if self.history.redo() {
                    "redone".into()
                } else {
                    "nothing to redo".into()
                };
                None
            }
            (_, Key::Char('+')) | (_, Key::Char('=')) => {
                self.view.seconds_per_col = (self.view.seconds_per_col / 2.0).max(1.0 / 64.0);
                None
            }
            (_, Key::Char('-')) => {
                self.view.seconds_per_col = (self.view.seconds_per_col * 2.0).min(8.0);
                None
            }
            (Focus::Roll, k) => {
                self.roll_key(k);
                None
            }
            (Focus::Params, k) => {
                self.param_key(k);
                None
            }
        }
    }

    fn roll_key(&mut self, key: Key) {
        let page = self.view.seconds_per_col * self.roll_cols as f64;
        let step = page / 8.0;
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
        // Keep the cursor in view.
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
            Key::Left => -1.0,
            Key::Right => 1.0,
            _ => return,
        };
        let p = &mut self.params;
        match self.selected_param {
            0 if !self.models.is_empty() => {
                let m = self.models.len() as i64;
                p.model = ((p.model as i64 + sign as i64).rem_euclid(m)) as usize;
            }
            1 => p.temperature = (p.temperature + 0.05 * sign as f32).clamp(0.05, 2.0),
            2 => p.top_k = (p.top_k as i64 + 4 * sign as i64).clamp(0, 128) as usize,
            3 => {
                p.top_p = ((p.top_p + 0.05 * sign as f32) * 100.0)
                    .round()
                    .clamp(5.0, 100.0)
                    / 100.0
            }
            4 => p.seconds = (p.seconds + 5.0 * sign).clamp(5.0, 300.0),
            5 => p.seed = (p.seed as i64 + sign as i64).max(0) as u64,
            _ => {}
        }
    }

    /// The value of parameter row `i`, as shown.
    pub fn param_value(&self, i: usize) -> String {
        let p = &self.params;
        match i {
            0 => self.model().map_or("(none)".into(), |m| m.name.clone()),
            1 => format!("{:.2}", p.temperature),
            2 if p.top_k == 0 => "off".into(),
            2 => p.top_k.to_string(),
            3 => format!("{:.2}", p.top_p),
            4 => format!("{:.0} s", p.seconds),
            5 => p.seed.to_string(),
            _ => String::new(),
        }
    }

    fn generation(&mut self, kind: JobKind) -> Option<Effect> {
        let Some(model) = self.model().cloned() else {
            self.status = "no model installed in models/".into();
            return None;
        };
        let primer = match kind {
            JobKind::Continue => match self.score() {
                Some(s) => Some(s.clone()),
                None => {
                    self.status = "open a MIDI file first (o), or generate (g)".into();
                    return None;
                }
            },
            _ => None,
        };
        let spec = JobSpec {
            kind,
            model_dir: model.dir.clone(),
            primer,
            params: self.params.clone(),
            wav_path: None,
        };
        self.start_job(kind, format!("{} with {}…", kind.verb(), model.name));
        Some(Effect::Start(Box::new(spec)))
    }

    /// Accompanies the loaded music's melody with the accompaniment model.
    fn accompany(&mut self) -> Option<Effect> {
        let Some(dir) = self.accompanist.clone() else {
            self.status = format!("accompany needs models/{ACCOMPANIST}");
            return None;
        };
        let Some(score) = self.score().cloned() else {
            self.status = "open a melody first (o)".into();
            return None;
        };
        let spec = JobSpec {
            kind: JobKind::Accompany,
            model_dir: dir,
            primer: Some(score),
            params: self.params.clone(),
            wav_path: None,
        };
        self.start_job(
            JobKind::Accompany,
            format!("accompanying with {ACCOMPANIST}…"),
        );
        Some(Effect::Start(Box::new(spec)))
    }

    fn start_job(&mut self, kind: JobKind, status: String) {
        self.status = status.clone();
        self.job = Some(Job {
            kind,
            progress: status,
            preview: Vec::new(),
            latest: 0.0,
        });
    }

    fn render_wav(&mut self) -> Option<Effect> {
        let Some(score) = self.score().cloned() else {
            self.status = "nothing to render: open a file first".into();
            return None;
        };
        let path = self.output_path("wav");
        self.start_job(JobKind::Render, format!("rendering {}…", path.display()));
        Some(Effect::Start(Box::new(JobSpec {
            kind: JobKind::Render,
            model_dir: PathBuf::new(),
            primer: Some(score),
            params: self.params.clone(),
            wav_path: Some(path),
        })))
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

    /// Takes a message from the running job.
    pub fn job_message(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::Progress(p) => {
                if let Some(j) = self.job.as_mut() {
                    j.progress = p;
                }
            }
            JobMsg::Event(GenEvent::Note { channel, event, .. }) => self.preview(channel, event),
            JobMsg::Event(GenEvent::Token(_)) => {}
            JobMsg::Done(result) => {
                self.job = None;
                match result {
                    Ok(JobResult::Generated {
                        score,
                        generated_from,
                    }) => {
                        let notes = score.notes.len();
                        self.history.push(Doc {
                            score,
                            generated_from: Some(generated_from),
                        });
                        self.params.seed += 1;
                        self.status = format!(
                            "generated: {notes} notes, new music from {} · s save · z undo · space play",
                            crate::console::clock(generated_from)
                        );
                    }
                    Ok(JobResult::Rendered { path, seconds }) => {
                        self.status = format!("wrote {} ({seconds:.1} s)", path.display());
                    }
                    Err(e) => self.status = e,
                }
            }
        }
    }

    fn preview(&mut self, channel: u8, event: NoteEvent) {
        let cols = self.roll_cols as f64 * self.view.seconds_per_col;
        let Some(job) = self.job.as_mut() else { return };
        match event {
            NoteEvent::On {
                pitch,
                velocity,
                time,
            } => {
                job.preview.push(PreviewNote {
                    channel,
                    pitch,
                    velocity,
                    start: time,
                    end: None,
                });
                job.latest = job.latest.max(time);
            }
            NoteEvent::Off { pitch, time } => {
                if let Some(n) = job
                    .preview
                    .iter_mut()
                    .rev()
                    .find(|n| n.channel == channel && n.pitch == pitch && n.end.is_none())
                {
                    n.end = Some(time);
                }
                job.latest = job.latest.max(time);
            }
        }
        // Follow the new music.
        let latest = job.latest;
        if latest > self.view.start + cols * 0.9 {
            self.view.start = (latest - cols * 0.5).max(0.0);
        }
    }
}
