//! `reprise tui`: a terminal UI over Reprise — a piano roll of the music, generation parameters,
//! actions on single keys with a `?` help, and a status line. Generation and rendering run on a worker
//! thread (Esc cancels) and the roll shows notes as they are generated; playback uses the live player.
//! The terminal is restored on exit and on panic.

pub mod app;
pub mod picker;
pub mod view;
pub mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::audio::playback::{PlayOptions, Player};
use crate::error::{Error, Result};
use app::{App, Effect, Key};
use worker::JobMsg;

/// Maps a terminal key to the app's keys (Ctrl-C quits).
pub fn map_key(k: KeyEvent) -> Option<Key> {
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return Some(Key::Char('q'));
    }
    Some(match k.code {
        KeyCode::Char(c) => Key::Char(c),
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

/// Runs the UI until the user quits. `device` is the audio output (`null` for a silent clock).
pub fn run(file: Option<PathBuf>, device: Option<String>) -> Result<()> {
    let mut app = App::new(app::discover_models());
    app.accompanist = app::find_accompanist();
    if let Some(f) = &file {
        app.load(f);
    }
    let mut terminal = ratatui::init();
    let result = Runtime::new(device).event_loop(&mut terminal, &mut app);
    ratatui::restore();
    result
}

/// What the UI owns besides its state: the job channel, the cancel flag, the player.
struct Runtime {
    device: Option<String>,
    tx: mpsc::Sender<JobMsg>,
    rx: mpsc::Receiver<JobMsg>,
    cancel: Arc<AtomicBool>,
    player: Option<Player>,
}

impl Runtime {
    fn new(device: Option<String>) -> Self {
        let (tx, rx) = mpsc::channel();
        Runtime {
            device,
            tx,
            rx,
            cancel: Arc::new(AtomicBool::new(false)),
            player: None,
        }
    }

    fn event_loop(&mut self, terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> Result<()> {
        let io = |e: std::io::Error| Error::Internal(format!("terminal: {e}"));
        loop {
            // At most a few hundred messages per frame, so keys stay responsive.
            for _ in 0..512 {
                match self.rx.try_recv() {
                    Ok(m) => app.job_message(m),
                    Err(_) => break,
                }
            }
            self.follow_player(app);
            terminal.draw(|f| view::draw(f, app)).map_err(io)?;
            if app.quit && app.job.is_none() {
                if let Some(p) = self.player.take() {
                    p.stop();
                }
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

    fn follow_player(&mut self, app: &mut App) {
        if let Some(p) = &self.player {
            if p.is_done() {
                if let Some(p) = self.player.take() {
                    p.stop();
                }
                app.playhead = None;
            } else {
                app.playhead = Some(p.position());
            }
        }
    }

    fn apply(&mut self, effect: Effect, app: &mut App) {
        match effect {
            Effect::Start(spec) => {
                self.cancel = Arc::new(AtomicBool::new(false));
                let (tx, cancel) = (self.tx.clone(), self.cancel.clone());
                let spawned = std::thread::Builder::new()
                    .name("reprise-worker".into())
                    .spawn(move || {
                        worker::run_job(*spec, cancel, &mut |m| {
                            let _ = tx.send(m);
                        })
                    });
                if let Err(e) = spawned {
                    app.job_message(JobMsg::Done(Err(format!("worker thread: {e}"))));
                }
            }
            Effect::Cancel => self.cancel.store(true, Ordering::Release),
            Effect::Play(from) => {
                if let Some(p) = self.player.take() {
                    p.stop();
                }
                match self.start_player(app, from) {
                    Ok(p) => {
                        app.playhead = Some(from);
                        app.status = "playing · space stops".into();
                        self.player = Some(p);
                    }
                    Err(e) => app.status = e.to_string(),
                }
            }
            Effect::StopPlaying => {
                if let Some(p) = self.player.take() {
                    p.stop();
                }
                app.playhead = None;
                app.status = "stopped".into();
            }
        }
    }

    fn start_player(&self, app: &App, from: f64) -> Result<Player> {
        let score = app
            .score()
            .ok_or_else(|| Error::Invalid("nothing to play".into()))?;
        let sf = crate::audio::soundfont::load(None)?;
        let output = crate::audio::device::open_output(self.device.as_deref())?;
        let opts = PlayOptions {
            from_seconds: from,
            ..Default::default()
        };
        Player::start(score, &sf, output, opts)
    }
}
