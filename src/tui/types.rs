//! The types the terminal UI's files share — keys, parameters, jobs and their messages — so that
//! imports go one way: the picker, the worker and the app each import this file, not each other.

use std::path::PathBuf;

use crate::accompany::chords::BeatChord;
use crate::generate::tasks::GenEvent;
use crate::midi::Score;
use crate::ops::engine::{Engine, Voice};

/// Keys the app understands (the runtime maps terminal events to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character key.
    Char(char),
    /// ←
    Left,
    /// →
    Right,
    /// Shift+← (extend the selection)
    ShiftLeft,
    /// Shift+→ (extend the selection)
    ShiftRight,
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

/// The MIDI ports the UI was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    /// The keyboard: a port (index, name, `virtual:NAME`) or a MIDI file played as one.
    pub midi_in: Option<String>,
    /// Where "play to: MIDI out" sends the music.
    pub midi_out: Option<String>,
}

/// Generation, accompaniment and sound settings shown in the parameters pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Index into the models that continue and generate.
    pub model: usize,
    /// Index into the theme models.
    pub theme_model: usize,
    /// Index into the accompaniment models.
    pub accompanist: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Top-k (0 = off).
    pub top_k: usize,
    /// Top-p.
    pub top_p: f32,
    /// Seconds of new music.
    pub seconds: f64,
    /// Bars a piece grown from a theme has.
    pub bars: usize,
    /// Random seed of the next generation.
    pub seed: u64,
    /// The melody's track for accompaniment (`None`: the most melodic one), and the track
    /// harmonize writes voices under (`None`: the whole score's top voice).
    pub track: Option<usize>,
    /// The synthesizer for play and render.
    pub engine: Engine,
    /// The neural synth's timbre.
    pub timbre: String,
    /// Play while generating (continue and generate).
    pub live: bool,
    /// Tempo of the metronome when recording from the keyboard.
    pub bpm: f64,
    /// Play to the MIDI output instead of the synthesizer.
    pub to_midi: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            model: 0,
            theme_model: 0,
            accompanist: 0,
            temperature: 1.0,
            top_k: 0,
            top_p: crate::generate::tasks::DEFAULT_BEAT_TOP_P,
            seconds: 20.0,
            bars: 16,
            seed: 1,
            track: None,
            engine: Engine::Soundfont,
            timbre: "piano".into(),
            live: false,
            bpm: 100.0,
            to_midi: false,
        }
    }
}

impl Params {
    /// The sampler these settings describe.
    pub fn sampler(&self) -> crate::generate::SamplerConfig {
        crate::generate::SamplerConfig {
            temperature: self.temperature,
            top_k: (self.top_k > 0).then_some(self.top_k),
            top_p: self.top_p,
            seed: self.seed,
        }
    }

    /// The engine and timbre for play and render.
    pub fn voice(&self) -> Voice {
        Voice {
            engine: self.engine,
            timbre: self.timbre.clone(),
            ..Voice::default()
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Continue the current music (from its end, or from a point).
    Continue,
    /// Generate from nothing.
    Generate,
    /// Render the current music to WAV.
    Render,
    /// Write a piano part for the current music's melody.
    Accompany,
    /// Grow a piece from a theme (the selected span).
    Theme,
    /// Find the current music's theme.
    Extract,
    /// Rewrite the selected bars between the music before and after them.
    Infill,
    /// Write alto, tenor and bass under a track's melody.
    Harmonize,
    /// Clone a timbre from a recording and render an audition with it.
    Clone,
}

impl JobKind {
    /// The action's name for the status line.
    pub fn verb(self) -> &'static str {
        match self {
            JobKind::Continue => "continuing",
            JobKind::Generate => "generating",
            JobKind::Render => "rendering",
            JobKind::Accompany => "accompanying",
            JobKind::Theme => "growing a piece from the theme",
            JobKind::Extract => "finding the theme",
            JobKind::Infill => "rewriting the selection",
            JobKind::Harmonize => "harmonizing",
            JobKind::Clone => "cloning a timbre",
        }
    }
}

/// Everything a job needs (owned: it moves to the worker thread).
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// What to do.
    pub kind: JobKind,
    /// The model (generations, themes, accompaniment).
    pub model_dir: PathBuf,
    /// The primer (continue), the theme (theme), the song (accompany, extract) or the music to
    /// render.
    pub primer: Option<Score>,
    /// The file the music came from.
    pub origin: Option<PathBuf>,
    /// Continue from this second instead of the end; infill: the span's start.
    pub from: Option<f64>,
    /// Infill: the span's end, seconds.
    pub to: Option<f64>,
    /// Accompaniment: the chords to follow (`None`: the harmonizer's).
    pub chords: Option<Vec<Option<BeatChord>>>,
    /// Generation and sound settings.
    pub params: Params,
    /// Where to write (render).
    pub wav_path: Option<PathBuf>,
    /// The recording to clone a timbre from (clone).
    pub recording: Option<PathBuf>,
}

impl JobSpec {
    /// A job of `kind` on `primer` with `params`; the rest unset.
    pub fn new(kind: JobKind, primer: Option<Score>, params: &Params) -> Self {
        JobSpec {
            kind,
            model_dir: PathBuf::new(),
            primer,
            origin: None,
            from: None,
            to: None,
            chords: None,
            params: params.clone(),
            wav_path: None,
            recording: None,
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone)]
pub enum JobResult {
    /// New music; the new part starts at `generated_from` seconds.
    Generated {
        /// The whole music.
        score: Score,
        /// Start of the new part.
        generated_from: f64,
    },
    /// The theme of the music.
    Extracted {
        /// What was found, in two lines.
        lines: Vec<String>,
        /// Where the theme is, seconds.
        span: (f64, f64),
    },
    /// A WAV file.
    Rendered {
        /// Where.
        path: PathBuf,
        /// Its length.
        seconds: f64,
        /// The engine, in words.
        engine: String,
    },
    /// A timbre cloned from a recording, and a WAV played with it.
    Cloned {
        /// The recording it was cloned from.
        recording: PathBuf,
        /// The timbre file written.
        timbre: PathBuf,
        /// The audition WAV rendered with it.
        audition: PathBuf,
        /// STFT distance of the nearest shipped timbre to the recording.
        before: f64,
        /// STFT distance of the clone to the recording.
        after: f64,
        /// The shipped timbre it started from.
        nearest: String,
    },
}

/// Messages from a job to the UI.
#[derive(Debug, Clone)]
pub enum JobMsg {
    /// A progress line.
    Progress(String),
    /// A token or note of the generation.
    Event(GenEvent),
    /// An accompaniment's chords and melody (before its `Done` with the accompanied song).
    Accompanied {
        /// The song as it was (accompanied again with edited chords).
        song: Score,
        /// Which melody was chosen.
        melody: String,
        /// The chords, one line, when the harmonizer chose them.
        harmonized: Option<String>,
        /// The chord of each beat.
        chords: Vec<Option<BeatChord>>,
    },
    /// The end: the result or a one-line error.
    Done(Result<JobResult, String>),
}
