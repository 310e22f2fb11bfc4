//! `reprise tui`: a terminal UI over Reprise — a piano roll of the music with a span selection,
//! generation, theme, accompaniment and sound parameters, actions on single keys with a `?` help, and
//! a status line. Every action goes through the use-case layer (`ops`), as the CLI's commands do:
//! jobs run on a worker thread (Esc cancels) and the roll shows notes as they are generated; playback
//! uses `ops::play`, and playing while generating a player thread the runtime owns. The terminal is
//! restored on exit and on panic.
//!
//! Files: `types` (keys, parameters, jobs: what the others share), `app` (state and keys), `jobs`
//! (the actions that start jobs, and their results), `chords` (the chord editor), `picker`, `view`
//! (drawing, from `&App`), `worker` (jobs as `ops` calls), `live` (the player fed while generating),
//! `record` (the keyboard: recording, quantising, MIDI out, playing a render).

pub mod app;
pub mod chords;
pub mod jobs;
pub mod live;
pub mod picker;
pub mod record;
pub mod types;
pub mod view;
pub mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::error::{Error, Result};
use crate::jam::record::RecordSettings;
use crate::ops::live::LiveInput;
use crate::ops::models::Action;
use crate::ops::play::{play, play_file, play_to_port, Play, Playing};
use crate::ops::record::{Record, Recording};
use crate::ports::system::PortSpec;
use app::{App, Effect};
use live::LiveSession;
use types::{JobKind, JobMsg, JobResult, JobSpec, Key};

/// Maps a terminal key to the app's keys (Ctrl-C quits; shift+←/→ extend the selection).
pub fn map_key(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return Some(Key::Char('q'));
    }
    let shift = k.modifiers.contains(KeyModifiers::SHIFT);
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Left if shift => Key::ShiftLeft,
        KeyCode::Right if shift => Key::ShiftRight,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// The installed models the UI offers: every one that continues, grows a theme, accompanies or
/// writes chorale voices.
pub fn installed_models() -> Vec<crate::ops::models::ModelEntry> {
    let mut models = Vec::new();
    for action in [
        Action::Continue,
        Action::Theme,
        Action::Accompany,
        Action::FillVoices,
    ] {
        for m in crate::ops::models::for_action(action) {
            if !models.contains(&m) {
                models.push(m);
            }
        }
    }
    models
}

/// Runs the UI until the user quits. `device` is the audio output (`null` for a silent clock);
/// `ports` the keyboard to record from and the MIDI output to play to.
pub fn run(file: Option<PathBuf>, device: Option<String>, ports: types::Ports) -> Result<()> {
    let mut app = App::new(installed_models());
    app.ports = ports;
    let synth = crate::ops::engine::Voice::default().synth_model;
    if let Ok(dir) = crate::model::resolve_model_dir(&synth) {
        let names = crate::synth::render::timbre_names(&dir);
        if !names.is_empty() {
            app.timbres = names;
        }
    }
    if let Some(f) = &file {
        app.load(f);
    }
    let mut terminal = ratatui::init();
    let result = Runtime::new(device).event_loop(&mut terminal, &mut app);
    ratatui::restore();
    result
}

/// What is sounding: a playback, or the player a generation feeds.
enum Sound {
    /// Playing the music (either engine).
    Playing(Playing),
    /// Playing while generating: the runtime forwards the generation's notes to it.
    Live(LiveSession),
    /// Recording from the keyboard.
    Recording(Recording),
}

impl Sound {
    fn position(&self) -> f64 {
        match self {
            Sound::Playing(p) => p.playback().position(),
            Sound::Live(p) => p.position(),
            Sound::Recording(r) => r.status().seconds,
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Sound::Playing(p) => p.playback().is_done(),
            Sound::Live(p) => p.is_done(),
            Sound::Recording(_) => false,
        }
    }

    /// Stops (all notes off).
    fn stop(self) {
        match self {
            Sound::Playing(p) => {
                let _ = p.stop();
            }
            Sound::Live(p) => p.stop(),
            Sound::Recording(r) => drop(r),
        }
    }
}

/// What the UI owns besides its state: the job channel, the cancel flag, the player.
struct Runtime {
    device: Option<String>,
    tx: mpsc::Sender<JobMsg>,
    rx: mpsc::Receiver<JobMsg>,
    cancel: Arc<AtomicBool>,
    sound: Option<Sound>,
}

impl Runtime {
    fn new(device: Option<String>) -> Self {
        let (tx, rx) = mpsc::channel();
        Runtime {
            device,
            tx,
            rx,
            cancel: Arc::new(AtomicBool::new(false)),
            sound: None,
        }
    }

    fn event_loop(&mut self, terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<()> {
        let io = |e: std::io::Error| Error::Internal(format!("terminal: {e}"));
        loop {
            // At most a few hundred messages per frame, so keys stay responsive.
            for _ in 0..512 {
                match self.rx.try_recv() {
                    Ok(m) => {
                        self.forward(&m);
                        app.job_message(m);
                    }
                    Err(_) => break,
                }
            }
            self.follow_player(app);
            let size = terminal.size().map_err(io)?;
            app.roll_cols = view::roll_columns(size.into());
            terminal.draw(|f| view::draw(f, app)).map_err(io)?;
            if app.quit && app.job.is_none() {
                self.stop_sound();
                return Ok(());
            }
            if !event::poll(Duration::from_millis(33)).map_err(io)? {
                continue;
            }
            if let Event::Key(k) = event::read().map_err(io)? {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                if let Some(effect) = map_key(k).and_then(|key| app.key(key)) {
                    self.apply(effect, app);
                }
            }
        }
    }

    fn stop_sound(&mut self) {
        if let Some(s) = self.sound.take() {
            s.stop();
        }
    }

    /// Passes a generation's notes and result on to the player fed while generating.
    fn forward(&self, m: &JobMsg) {
        let Some(Sound::Live(live)) = &self.sound else {
            return;
        };
        match m {
            JobMsg::Event(e) => live.event(*e),
            JobMsg::Done(Ok(JobResult::Generated { score, .. })) => {
                live.finish(Some(score.clone()))
            }
            JobMsg::Done(_) => live.finish(None),
            JobMsg::Progress(_) | JobMsg::Accompanied { .. } => {}
        }
    }

    fn follow_player(&mut self, app: &mut App) {
        if let Some(Sound::Recording(r)) = &self.sound {
            let status = r.status();
            if app.recording != Some(status.phase) {
                app.recording_at(status.phase);
            }
            if status.finished {
                self.stop_recording(app);
            }
            return;
        }
        match &self.sound {
            Some(s) if s.is_done() => {
                self.stop_sound();
                app.playhead = None;
            }
            Some(s) => app.playhead = Some(s.position()),
            None => {}
        }
    }

    fn apply(&mut self, effect: Effect, app: &mut App) {
        match effect {
            Effect::Start(spec) => self.start_job(*spec, app),
            Effect::Cancel => self.cancel.store(true, Ordering::Release),
            Effect::Play(from) => {
                self.stop_sound();
                match self.start_playing(app, from) {
                    Ok(p) => {
                        app.playhead = Some(from);
                        app.status =
                            format!("playing ({}) · space stops", app.params.voice().describe());
                        self.sound = Some(Sound::Playing(p));
                    }
                    Err(e) => app.status = e.to_string(),
                }
            }
            Effect::StopPlaying => {
                self.stop_sound();
                app.playhead = None;
                app.status = "stopped".into();
            }
            Effect::Record(bpm) => self.start_recording(app, bpm),
            Effect::StopRecording => self.stop_recording(app),
            Effect::PlayFile(path) => {
                self.stop_sound();
                match play_file(&path, self.device.as_deref(), 0.0) {
                    Ok(p) => {
                        app.playhead = Some(0.0);
                        app.status = format!("playing {} · space stops", path.display());
                        self.sound = Some(Sound::Playing(p));
                    }
                    Err(e) => app.status = e.to_string(),
                }
            }
        }
    }

    fn start_recording(&mut self, app: &mut App, bpm: f64) {
        self.stop_sound();
        app.playhead = None;
        let Some(input) = app.ports.midi_in.as_deref() else {
            app.recorded(Err(Error::Invalid("no keyboard: --midi-in PORT".into())));
            return;
        };
        let req = Record {
            input: LiveInput::parse(input),
            soundfont: None,
            device: self.device.clone(),
            settings: RecordSettings {
                bpm,
                count_in_bars: 1,
                metronome: true,
                thru: Some(0),
            },
        };
        match Recording::start(req) {
            Ok(r) => self.sound = Some(Sound::Recording(r)),
            Err(e) => app.recorded(Err(e)),
        }
    }

    fn stop_recording(&mut self, app: &mut App) {
        match self.sound.take() {
            Some(Sound::Recording(r)) => app.recorded(r.stop()),
            other => {
                self.sound = other;
                app.recording = None;
            }
        }
    }

    fn start_job(&mut self, spec: JobSpec, app: &mut App) {
        self.cancel = Arc::new(AtomicBool::new(false));
        let generation = matches!(spec.kind, JobKind::Continue | JobKind::Generate);
        if spec.params.live && generation {
            self.stop_sound();
            let base = match (&spec.primer, spec.from) {
                (Some(s), Some(t)) => s.until(t),
                (Some(s), None) => s.clone(),
                (None, _) => crate::midi::Score::new(480, 500_000).expect("constant tempo"),
            };
            match LiveSession::start(base, self.device.clone()) {
                Ok(p) => self.sound = Some(Sound::Live(p)),
                Err(e) => {
                    if let Some(job) = app.job.as_mut() {
                        job.progress = format!("{} (not playing: {e})", job.progress);
                    }
                }
            }
        }
        let (tx, cancel) = (self.tx.clone(), self.cancel.clone());
        let spawned = std::thread::Builder::new()
            .name("reprise-worker".into())
            .spawn(move || {
                worker::run_job(spec, cancel, &mut |m| {
                    let _ = tx.send(m);
                })
            });
        if let Err(e) = spawned {
            app.job_message(JobMsg::Done(Err(format!("worker thread: {e}"))));
        }
    }

    fn start_playing(&self, app: &App, from: f64) -> Result<Playing> {
        let score = app
            .score()
            .ok_or_else(|| Error::Invalid("nothing to play".into()))?;
        if app.params.to_midi {
            let port = app.ports.midi_out.as_deref().ok_or_else(|| {
                Error::Invalid("no MIDI output: start the UI with --midi-out PORT".into())
            })?;
            return play_to_port(score, &PortSpec::parse(port), from);
        }
        play(&Play {
            score: score.clone(),
            origin: app
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from("the music")),
            voice: app.params.voice(),
            device: self.device.clone(),
            from,
        })
    }
}
