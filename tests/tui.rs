//! The terminal UI without a terminal: snapshots of the screen on ratatui's `TestBackend` (main screen,
//! help overlay, a known file's piano roll), and the app driven through load → continue → undo → redo →
//! save with a small random model.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use reprise::model::{MusicTransformer, TransformerConfig, VocabKind};
use reprise::tui::app::{App, Effect, Key, ModelInfo, Overlay};
use reprise::tui::worker::{run_job, JobMsg, JobResult};

mod common;
use common::sample;

/// A random grid model named "chorale-test" in `dir`.
fn tiny_model(dir: &Path) -> ModelInfo {
    let cfg = TransformerConfig {
        vocab: VocabKind::Grid,
        vocab_size: VocabKind::Grid.size(),
        d_model: 32,
        n_layers: 1,
        n_heads: 4,
        d_ff: 64,
        max_len: 64,
        dropout: 0.0,
        beat_embedding: false,
    };
    let vm = VarMap::new();
    MusicTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let out = dir.join("chorale-test");
    reprise::train::export(&vm, &cfg, &out).unwrap();
    ModelInfo {
        name: "chorale-test".into(),
        dir: out,
        vocab: VocabKind::Grid,
    }
}

fn screen(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| reprise::tui::view::draw(f, app)).unwrap();
    t
}

fn app_with_chorale(dir: &Path) -> App {
    let mut app = App::new(vec![tiny_model(dir)]);
    app.load(Path::new(&sample("bach-chorale.mid")));
    app
}

#[test]
fn main_screen_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    insta::assert_snapshot!("main_80x24", screen(&mut app, 80, 24).backend());
}

#[test]
fn help_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    assert!(app.key(Key::Char('?')).is_none());
    assert_eq!(app.overlay, Overlay::Help);
    insta::assert_snapshot!("help_80x24", screen(&mut app, 80, 24).backend());
    app.key(Key::Char('x'));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn piano_roll_of_a_known_file_larger_and_zoomed() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    app.key(Key::Char('+'));
    app.key(Key::Up);
    insta::assert_snapshot!("roll_120x32_zoomed", screen(&mut app, 120, 32).backend());
}

#[test]
fn tiny_and_resized_terminals_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    for (w, h) in [(80, 24), (20, 5), (200, 60), (1, 1), (81, 25)] {
        screen(&mut app, w, h);
    }
}

/// Runs the job an effect asks for, inline, feeding its messages to the app.
fn run_effect(app: &mut App, effect: Option<Effect>) -> usize {
    let Some(Effect::Start(spec)) = effect else {
        panic!("expected a job");
    };
    let mut messages = Vec::new();
    run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
        messages.push(m)
    });
    let mut notes_seen_while_running = 0;
    for m in messages {
        if let (JobMsg::Event(_), Some(job)) = (&m, app.job.as_ref()) {
            notes_seen_while_running = job.preview.len();
        }
        app.job_message(m);
    }
    notes_seen_while_running
}

#[test]
fn load_continue_undo_redo_save() {
    let dir = tempfile::tempdir().unwrap();
    let midi = dir.path().join("song.mid");
    std::fs::copy(sample("bach-chorale.mid"), &midi).unwrap();
    let mut app = App::new(vec![tiny_model(dir.path())]);
    app.load(&midi);
    let original = app.score().unwrap().clone();
    app.params.seconds = 5.0;
    // Continue: the job starts, notes stream into the roll's preview, the result becomes current.
    let effect = app.key(Key::Char('c'));
    assert!(app.job.is_some());
    // Keys other than Esc/q are refused while busy.
    assert!(app.key(Key::Char('g')).is_none());
    let streamed = run_effect(&mut app, effect);
    assert!(streamed > 0, "no notes appeared while generating");
    assert!(app.job.is_none());
    let continued = app.score().unwrap().clone();
    assert!(continued.duration() > original.duration() + 4.0);
    assert!(app.status.starts_with("generated"), "{}", app.status);
    // Undo brings the original back, redo the continuation.
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap(), &original);
    app.key(Key::Char('z'));
    assert_eq!(app.status, "nothing to undo");
    app.key(Key::Char('y'));
    assert_eq!(app.score().unwrap(), &continued);
    // Save writes NAME-reprise.mid next to the file; it reads back as the continuation.
    app.key(Key::Char('s'));
    let saved = dir.path().join("song-reprise.mid");
    assert!(app.status.contains("song-reprise.mid"), "{}", app.status);
    let back = reprise::midi::read_file(&saved).unwrap();
    assert_eq!(back.notes.len(), continued.notes.len());
    // A second generation after an undo replaces the redo branch.
    app.key(Key::Char('z'));
    let effect = app.key(Key::Char('c'));
    run_effect(&mut app, effect);
    assert!(!app.history.redo());
    // Quit.
    app.key(Key::Char('q'));
    assert!(app.quit);
}

#[test]
fn render_wav_and_file_picker_from_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let midi = dir.path().join("phrase.mid");
    std::fs::copy(sample("piano-phrase.mid"), &midi).unwrap();
    let mut app = App::new(vec![tiny_model(dir.path())]);
    // Open through the picker: it lists the directory of the current file (here: the cwd, so set one).
    app.load(&midi);
    app.key(Key::Char('o'));
    let Overlay::Picker(p) = &app.overlay else {
        panic!("no picker")
    };
    assert!(p.entries.iter().any(|e| e.name == "phrase.mid"));
    let i = p
        .entries
        .iter()
        .position(|e| e.name == "phrase.mid")
        .unwrap();
    for _ in 0..i.saturating_sub(p.selected) {
        app.key(Key::Down);
    }
    app.key(Key::Enter);
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.status.starts_with("opened phrase.mid"),
        "{}",
        app.status
    );
    // Render WAV.
    let effect = app.key(Key::Char('w'));
    let mut done = None;
    if let Some(Effect::Start(spec)) = effect {
        run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
            if let JobMsg::Done(r) = m {
                done = Some(r)
            }
        });
    }
    let Some(Ok(JobResult::Rendered { path, seconds })) = done else {
        panic!("render failed: {done:?}")
    };
    assert_eq!(path, dir.path().join("phrase-reprise.wav"));
    assert!(seconds > 11.0);
    assert!(std::fs::metadata(&path).unwrap().len() > 1_000_000);
}

#[test]
fn generation_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    app.params.seconds = 300.0;
    let Some(Effect::Start(spec)) = app.key(Key::Char('g')) else {
        panic!()
    };
    assert!(matches!(app.key(Key::Esc), Some(Effect::Cancel)));
    let cancel = Arc::new(AtomicBool::new(true));
    let mut last = None;
    run_job(*spec, cancel, &mut |m| last = Some(m));
    let Some(JobMsg::Done(Err(e))) = last else {
        panic!("expected an error")
    };
    assert_eq!(e, "cancelled");
    app.job_message(JobMsg::Done(Err(e)));
    assert!(app.job.is_none());
    assert_eq!(app.status, "cancelled");
}
