//! The terminal UI without a terminal: snapshots of the screen on ratatui's `TestBackend` (main screen,
//! help overlay, a known file's piano roll, a selection, continuing from the selection, a found theme,
//! the chord editor, the sound parameters), and the app driven through load → continue → undo → redo
//! → save with a small random model, and through the use-case layer's theme and accompaniment.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use reprise::model::{MusicTransformer, TransformerConfig, VocabKind};
use reprise::ops::models::{Architecture, ModelEntry};
use reprise::tui::app::{App, Effect, Key, Overlay};
use reprise::tui::types::{JobKind, JobMsg, JobResult};
use reprise::tui::worker::run_job;

mod common;
use common::sample;

/// A random grid model named "chorale-test" in `dir`.
fn tiny_model(dir: &Path) -> ModelEntry {
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
    ModelEntry {
        name: "chorale-test".into(),
        dir: out,
        architecture: Architecture::MusicTransformer(VocabKind::Grid),
    }
}

fn screen(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.roll_cols = reprise::tui::view::roll_columns(ratatui::layout::Rect::new(0, 0, w, h));
    let app = &*app;
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
    let Some(Ok(JobResult::Rendered { path, seconds, .. })) = done else {
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

/// The theme song of tests/common, written to `dir/song.mid`.
fn theme_song(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("song.mid");
    reprise::midi::write_file(&common::theme_song(0), &path).unwrap();
    path
}

/// Runs the job of `effect` inline, feeding its messages to `app`.
fn run_inline(app: &mut App, effect: Option<Effect>) {
    let Some(Effect::Start(spec)) = effect else {
        panic!("expected a job, got {effect:?}: {}", app.status);
    };
    run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
        app.job_message(m)
    });
}

#[test]
fn shift_arrows_select_a_span_shown_in_the_roll_and_esc_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    screen(&mut app, 120, 32);
    for _ in 0..3 {
        app.key(Key::Right);
    }
    let from = app.cursor;
    for _ in 0..6 {
        app.key(Key::ShiftRight);
    }
    app.key(Key::ShiftLeft);
    let (a, b) = app.selection.expect("a selection");
    assert!((a - from).abs() < 1e-9 && b > a, "{a} {b}");
    assert!((app.cursor - b).abs() < 1e-9);
    insta::assert_snapshot!("selection_120x32", screen(&mut app, 120, 32).backend());
    // Shift-← past the anchor flips the span to the anchor's left.
    for _ in 0..8 {
        app.key(Key::ShiftLeft);
    }
    let (a2, b2) = app.selection.unwrap();
    assert!((b2 - from).abs() < 1e-9 && a2 < from, "{a2} {b2}");
    app.key(Key::Esc);
    assert_eq!(app.selection, None);
}

#[test]
fn continue_from_the_cursor_or_the_selection_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    app.params.seconds = 5.0;
    // At the start there is nothing to continue from.
    assert!(app.key(Key::Char('C')).is_none());
    assert!(app.status.contains("cursor"), "{}", app.status);
    screen(&mut app, 80, 24);
    for _ in 0..4 {
        app.key(Key::Right);
    }
    for _ in 0..4 {
        app.key(Key::ShiftRight);
    }
    let (_, end) = app.selection.unwrap();
    let effect = app.key(Key::Char('C'));
    let Some(Effect::Start(spec)) = &effect else {
        panic!("no job")
    };
    assert_eq!(spec.kind, JobKind::Continue);
    assert_eq!(spec.from, Some(end));
    insta::assert_snapshot!(
        "continue_from_selection_80x24",
        screen(&mut app, 80, 24).backend()
    );
    run_effect(&mut app, effect);
    let doc = app.history.current().unwrap();
    let from = doc.generated_from.unwrap();
    assert!(from <= end + 1e-6 && from > end - 2.0, "{from} vs {end}");
    assert!(app.status.starts_with("generated"), "{}", app.status);
}

#[test]
fn find_the_theme_then_grow_a_piece_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let song = theme_song(dir.path());
    let mut app = App::new(Vec::new());
    app.load(&song);
    let effect = app.key(Key::Char('e'));
    run_inline(&mut app, effect);
    let Overlay::Info { lines, .. } = &app.overlay else {
        panic!("no theme overlay: {}", app.status)
    };
    assert!(
        lines[1].starts_with("theme: bars 1–2, found 3 times"),
        "{lines:?}"
    );
    let (a, b) = app.selection.unwrap();
    assert!(a.abs() < 1e-6 && (b - 4.0).abs() < 1e-6, "{a} {b}");
    insta::assert_snapshot!("theme_found_80x24", screen(&mut app, 80, 24).backend());
    app.key(Key::Char('x'));
    assert_eq!(app.overlay, Overlay::None);
    // Grow four bars from the selection with the installed theme model.
    use reprise::ops::models::Action;
    app.models = reprise::tui::installed_models();
    if app.model_for(Action::Theme).is_none() {
        return;
    }
    app.params.bars = 4;
    // The theme is the selection snapped to bar lines.
    app.selection = Some((0.3, 3.8));
    let effect = app.key(Key::Char('t'));
    assert_eq!(app.selection, Some((0.0, 4.0)));
    assert!(app.status.contains("from bars 1–2"), "{}", app.status);
    assert_eq!(app.job.as_ref().unwrap().kind, JobKind::Theme);
    run_inline(&mut app, effect);
    assert!(app.status.starts_with("generated"), "{}", app.status);
    let piece = app.score().unwrap();
    assert!(piece.duration() > 4.0, "{}", piece.duration());
}

#[test]
fn chords_after_accompanying_can_be_edited_and_followed_again() {
    use reprise::accompany::chords::BeatChord;
    use reprise::tui::chords::chord;
    let dir = tempfile::tempdir().unwrap();
    let mut models = vec![tiny_model(dir.path())];
    models.push(ModelEntry {
        name: "accomp-test".into(),
        dir: dir.path().join("accomp-test"),
        architecture: Architecture::ThemeTransformer(
            reprise::model::theme_transformer::ThemeTask::Accompany,
        ),
    });
    let mut app = App::new(models);
    app.load(Path::new(&sample("melody-ode-to-joy.mid")));
    let song = app.score().unwrap().clone();
    // The melody track: auto, then each track.
    app.key(Key::Tab);
    for _ in 0..9 {
        app.key(Key::Down);
    }
    assert_eq!(app.param_value(9), "auto");
    app.key(Key::Right);
    assert!(
        app.param_value(9).starts_with("0:"),
        "{}",
        app.param_value(9)
    );
    assert_eq!(app.params.track, Some(0));
    app.key(Key::Tab);
    // 'k' before any accompaniment says so.
    app.key(Key::Char('k'));
    assert_eq!(app.overlay, Overlay::None);
    let (c, g): (BeatChord, BeatChord) = (chord(0, 0), chord(7, 2));
    let chords = vec![
        Some(c),
        Some(c),
        Some(g),
        Some(g),
        None,
        None,
        Some(c),
        Some(c),
    ];
    app.key(Key::Char('a'));
    app.job_message(JobMsg::Accompanied {
        song: song.clone(),
        melody: "track 0".into(),
        harmonized: Some("| C . G7 . | N . C . |".into()),
        chords,
    });
    app.job_message(JobMsg::Done(Ok(JobResult::Generated {
        score: song.clone(),
        generated_from: 0.0,
    })));
    assert!(
        app.status.contains("| C . G7 . | N . C . |"),
        "{}",
        app.status
    );
    app.key(Key::Char('k'));
    assert_eq!(app.overlay, Overlay::Chords);
    // Second beat: up a tone, minor.
    app.key(Key::Right);
    app.key(Key::Up);
    app.key(Key::Up);
    app.key(Key::Char('m'));
    insta::assert_snapshot!("chord_editor_80x24", screen(&mut app, 80, 24).backend());
    let Some(Effect::Start(spec)) = app.key(Key::Enter) else {
        panic!("no re-accompaniment")
    };
    assert_eq!(spec.kind, JobKind::Accompany);
    assert_eq!(spec.params.track, Some(0));
    let beats = spec.chords.unwrap();
    assert_eq!(beats[1], Some(chord(2, 1)));
    assert_eq!(beats[2], Some(g));
    assert_eq!(spec.primer.unwrap(), song);
}

#[test]
fn accompany_through_the_use_case_layer() {
    use reprise::ops::models::Action;
    let mut app = App::new(reprise::tui::installed_models());
    if app.model_for(Action::Accompany).is_none() {
        return;
    }
    app.load(Path::new(&sample("melody-ode-to-joy.mid")));
    let notes = app.score().unwrap().notes.len();
    let effect = app.key(Key::Char('a'));
    run_inline(&mut app, effect);
    assert!(app.status.starts_with("accompanied"), "{}", app.status);
    assert!(app.score().unwrap().notes.len() > notes);
    let sheet = app.chords.as_ref().expect("chords to edit");
    assert_eq!(sheet.beats.len() % 4, 0);
}

#[test]
fn sound_parameters_engine_timbre_and_play_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_chorale(dir.path());
    app.timbres = vec!["piano".into(), "strings".into()];
    app.key(Key::Tab);
    for _ in 0..10 {
        app.key(Key::Down);
    }
    app.key(Key::Right); // engine: neural
    app.key(Key::Down);
    app.key(Key::Right); // timbre: strings
    app.key(Key::Down);
    app.key(Key::Right); // play live: on
    assert_eq!(app.params.engine, reprise::ops::engine::Engine::Neural);
    assert_eq!(app.params.timbre, "strings");
    assert!(app.params.live);
    assert_eq!(
        app.params.voice().describe(),
        "neural synth, timbre strings"
    );
    insta::assert_snapshot!("sound_params_80x24", screen(&mut app, 80, 24).backend());
    // Play asks the runtime to play from the cursor; render carries the voice to the worker.
    assert!(matches!(app.key(Key::Char(' ')), Some(Effect::Play(t)) if t == 0.0));
    let Some(Effect::Start(spec)) = app.key(Key::Char('w')) else {
        panic!("no render")
    };
    assert_eq!(
        spec.params.voice().engine,
        reprise::ops::engine::Engine::Neural
    );
    assert!(
        app.status.contains("neural synth, timbre strings"),
        "{}",
        app.status
    );
}

#[test]
fn shift_arrows_map_to_selection_keys() {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let k = |code, m| reprise::tui::map_key(KeyEvent::new(code, m));
    assert_eq!(
        k(KeyCode::Right, KeyModifiers::SHIFT),
        Some(Key::ShiftRight)
    );
    assert_eq!(k(KeyCode::Left, KeyModifiers::SHIFT), Some(Key::ShiftLeft));
    assert_eq!(k(KeyCode::Left, KeyModifiers::NONE), Some(Key::Left));
    assert_eq!(
        k(KeyCode::Char('c'), KeyModifiers::CONTROL),
        Some(Key::Char('q'))
    );
}

#[test]
fn rewrite_the_selected_bars_take_after_take_then_undo() {
    let mut app = App::new(reprise::tui::installed_models());
    app.load(Path::new(&sample("piano-phrase.mid")));
    assert!(app.infill_model().is_some(), "pop909-infill is shipped");
    // Nothing selected yet: a hint, no job.
    assert!(app.key(Key::Char('i')).is_none());
    assert!(app.status.contains("select the bars"), "{}", app.status);
    let original = app.score().unwrap().clone();
    // 84 BPM in 4/4: bars of 2.857 s; the selection snaps to bars 2–3.
    let bar = 4.0 * 60.0 / 84.0;
    app.selection = Some((bar + 0.4, 3.0 * bar - 0.3));
    let effect = app.key(Key::Char('i'));
    let Some(Effect::Start(spec)) = &effect else {
        panic!("no job: {}", app.status)
    };
    assert_eq!(spec.kind, JobKind::Infill);
    let (a, b) = (spec.from.unwrap(), spec.to.unwrap());
    assert!(
        (a - bar).abs() < 1e-3 && (b - 3.0 * bar).abs() < 1e-3,
        "{a} {b}"
    );
    assert!(app.status.contains("rewriting bars 2–3"), "{}", app.status);
    insta::assert_snapshot!("infill_started_80x24", screen(&mut app, 80, 24).backend());
    run_inline(&mut app, effect);
    assert!(app.status.starts_with("generated"), "{}", app.status);
    let first = app.score().unwrap().clone();
    let outside = |s: &reprise::midi::Score| -> Vec<reprise::midi::Note> {
        let mut v: Vec<_> = s
            .notes
            .iter()
            .filter(|n| n.start < a - 1e-6 || n.start >= b - 1e-6)
            .cloned()
            .collect();
        v.sort_by_key(|n| (n.start_tick, n.pitch, n.track));
        v
    };
    assert_eq!(outside(&first), outside(&original));
    // Another take (the next seed), then back to the first take and to the original.
    let effect = app.key(Key::Char('i'));
    run_inline(&mut app, effect);
    let second = app.score().unwrap().clone();
    assert_eq!(outside(&second), outside(&original));
    assert_ne!(second.notes, first.notes, "two seeds, one take");
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap().notes, first.notes);
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap().notes, original.notes);
}

#[test]
fn harmonize_the_melody_take_after_take_then_undo() {
    let mut app = App::new(reprise::tui::installed_models());
    app.load(Path::new(&sample("melody-ode-to-joy.mid")));
    assert!(app.voice_model().is_some(), "jsb-voices is shipped");
    let original = app.score().unwrap().clone();
    let effect = app.key(Key::Char('h'));
    let Some(Effect::Start(spec)) = &effect else {
        panic!("no job: {}", app.status)
    };
    assert_eq!(spec.kind, JobKind::Harmonize);
    assert!(
        app.status.contains("harmonizing the top voice"),
        "{}",
        app.status
    );
    insta::assert_snapshot!(
        "harmonize_started_80x24",
        screen(&mut app, 80, 24).backend()
    );
    run_inline(&mut app, effect);
    assert!(app.status.starts_with("generated"), "{}", app.status);
    let first = app.score().unwrap().clone();
    let melody = |s: &reprise::midi::Score| s.track_notes(0).cloned().collect::<Vec<_>>();
    assert_eq!(first.tracks.len(), original.tracks.len() + 3);
    assert_eq!(melody(&first), melody(&original));
    // Another take (the next seed), then back to the first take and to the melody alone.
    let effect = app.key(Key::Char('h'));
    run_inline(&mut app, effect);
    let second = app.score().unwrap().clone();
    assert_eq!(melody(&second), melody(&original));
    assert_ne!(second.notes, first.notes, "two seeds, one take");
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap().notes, first.notes);
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap().notes, original.notes);
    // The track parameter names the line to harmonize.
    app.params.track = Some(0);
    let Some(Effect::Start(_)) = app.key(Key::Char('h')) else {
        panic!("no job: {}", app.status)
    };
    assert!(app.status.contains("harmonizing track 0"), "{}", app.status);
}

/// Issue 24 in the TUI: `r` records from the keyboard the UI was started with (count-in, bars),
/// the take becomes the music, `Q` quantises it (undoable), "play to" picks the MIDI output, and
/// `p` plays the last render as it is.
#[test]
fn record_from_the_keyboard_quantise_and_play_to_midi() {
    use reprise::jam::record::Phase;
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new(vec![tiny_model(dir.path())]);
    assert!(app.key(Key::Char('r')).is_none());
    assert!(app.status.contains("--midi-in"), "{}", app.status);
    app.ports = reprise::tui::types::Ports {
        midi_in: Some("keys.mid".into()),
        midi_out: Some("virtual:reprise".into()),
    };
    assert!(matches!(app.key(Key::Char('r')), Some(Effect::Record(bpm)) if bpm == 100.0));
    app.recording_at(Phase::CountIn(3));
    assert!(app.status.contains("count-in 3"), "{}", app.status);
    app.recording_at(Phase::Recording(2));
    assert!(app.status.contains("recording bar 2"), "{}", app.status);
    assert!(matches!(
        app.key(Key::Char('r')),
        Some(Effect::StopRecording)
    ));
    let mut take = reprise::midi::Score::new(480, 600_000).unwrap();
    let t = take.add_track("Recorded", reprise::midi::TrackRole::Other);
    take.push_note_ticks(t, 0, 0, 60, 90, 5, 470);
    take.push_note_ticks(t, 0, 0, 64, 90, 490, 950);
    take.sort();
    app.recorded(Ok(take));
    assert!(app.recording.is_none());
    assert!(app.status.starts_with("recorded 2 notes"), "{}", app.status);
    assert_eq!(app.score().unwrap().notes[0].start_tick, 5);
    app.key(Key::Char('Q'));
    assert!(app.status.contains("2 notes moved"), "{}", app.status);
    let ticks: Vec<u64> = app
        .score()
        .unwrap()
        .notes
        .iter()
        .map(|n| n.start_tick)
        .collect();
    assert_eq!(ticks, vec![0, 480]);
    app.key(Key::Char('z'));
    assert_eq!(app.score().unwrap().notes[0].start_tick, 5);
    // Play to: audio → MIDI (the port given at start).
    app.key(Key::Tab);
    for _ in 0..14 {
        app.key(Key::Down);
    }
    app.key(Key::Right);
    assert!(app.params.to_midi);
    assert_eq!(app.param_value(14), "MIDI virtual:reprise");
    // p: nothing rendered yet, then the render's WAV.
    assert!(app.key(Key::Char('p')).is_none());
    assert!(app.status.contains("no render yet"), "{}", app.status);
    app.rendered = Some("take.wav".into());
    assert!(
        matches!(app.key(Key::Char('p')), Some(Effect::PlayFile(p)) if p == Path::new("take.wav"))
    );
}

/// `secs` seconds of silence as a mono 16-bit WAV at `path`.
fn silent_wav(path: &Path, secs: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..(secs * 22_050.0) as usize {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Opens the audio picker (`T`) and picks the file `name` in it.
fn pick_recording(app: &mut App, name: &str) -> Option<Effect> {
    assert!(app.key(Key::Char('T')).is_none());
    let Overlay::Picker(p) = &app.overlay else {
        panic!("no picker")
    };
    let i = p.entries.iter().position(|e| e.name == name).unwrap();
    let selected = p.selected;
    for _ in 0..i.saturating_sub(selected) {
        app.key(Key::Down);
    }
    app.key(Key::Enter)
}

/// `T` opens the picker on audio files; picking a recording starts a clone job; its result makes
/// the clone the neural engine's timbre and its audition the WAV `p` plays.
#[test]
fn clone_a_timbre_from_a_recording_picked_in_the_audio_picker() {
    let dir = tempfile::tempdir().unwrap();
    let midi = dir.path().join("song.mid");
    std::fs::copy(sample("piano-phrase.mid"), &midi).unwrap();
    let take = dir.path().join("take.wav");
    silent_wav(&take, 0.5);
    let mut app = App::new(vec![tiny_model(dir.path())]);
    app.load(&midi);
    assert!(app.key(Key::Char('T')).is_none());
    let Overlay::Picker(p) = &app.overlay else {
        panic!("no picker")
    };
    let names: Vec<&str> = p.entries.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"take.wav"), "{names:?}");
    assert!(!names.contains(&"song.mid"), "{names:?}");
    let shown = screen(&mut app, 80, 24).backend().to_string();
    assert!(shown.contains("Clone a timbre from"), "{shown}");
    app.key(Key::Esc);
    assert_eq!(app.overlay, Overlay::None);
    let Some(Effect::Start(spec)) = pick_recording(&mut app, "take.wav") else {
        panic!("no job: {}", app.status)
    };
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(spec.kind, JobKind::Clone);
    assert_eq!(
        spec.recording.as_deref().map(|p| p.file_name().unwrap()),
        Some("take.wav".as_ref())
    );
    assert!(spec.primer.is_some(), "the audition plays the music");
    assert_eq!(app.job.as_ref().unwrap().kind, JobKind::Clone);
    assert!(app.status.contains("take.wav"), "{}", app.status);
    // Where the worker writes: next to the recording.
    let (timbre, audition) = reprise::tui::worker::clone_paths(&take);
    assert_eq!(timbre, dir.path().join("take.timbre.safetensors"));
    assert_eq!(audition, dir.path().join("take.timbre.wav"));
    app.job_message(JobMsg::Progress("cloning: step 3 of at most 200".into()));
    app.job_message(JobMsg::Done(Ok(JobResult::Cloned {
        recording: take.clone(),
        timbre: timbre.clone(),
        audition: audition.clone(),
        before: 2.1,
        after: 1.85,
        nearest: "organ".into(),
    })));
    assert!(app.job.is_none());
    let t = timbre.to_string_lossy().into_owned();
    assert_eq!(app.params.timbre, t);
    assert_eq!(app.params.engine, reprise::ops::engine::Engine::Neural);
    assert!(app.timbres.contains(&t) && app.timbres.contains(&"piano".to_string()));
    assert_eq!(app.param_value(11), "take.timbre");
    assert_eq!(
        app.status,
        "cloned take.wav: distance 2.10 (nearest shipped: organ) → 1.85 · timbre set for \
         play/render · p auditions"
    );
    assert!(matches!(app.key(Key::Char('p')), Some(Effect::PlayFile(p)) if p == audition));
    // Cloning again with the same name adds no second entry; the timbre row cycles through it.
    let n = app.timbres.len();
    app.job_message(JobMsg::Done(Ok(JobResult::Cloned {
        recording: take,
        timbre,
        audition,
        before: 2.1,
        after: 1.8,
        nearest: "organ".into(),
    })));
    assert_eq!(app.timbres.len(), n);
    app.change_param(11, 1);
    assert_eq!(app.params.timbre, "piano");
}

/// A recording Reprise cannot clone from (here: silence) ends the job with a one-line error in
/// the status line, not a panic, and writes nothing.
#[test]
fn cloning_from_silence_reports_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let take = dir.path().join("quiet.wav");
    silent_wav(&take, 0.5);
    let mut app = App::new(vec![tiny_model(dir.path())]);
    // No music: the picker opens next to where the music would be saved, the audition is a scale.
    app.path = Some(dir.path().join("untitled.mid"));
    let Some(Effect::Start(spec)) = pick_recording(&mut app, "quiet.wav") else {
        panic!("no job")
    };
    assert!(spec.primer.is_none());
    let mut last = None;
    run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
        last = Some(m.clone());
        app.job_message(m)
    });
    let Some(JobMsg::Done(Err(e))) = last else {
        panic!("expected an error, got {last:?}")
    };
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("quiet.wav"), "{e}");
    assert!(app.job.is_none());
    assert_eq!(app.status, e);
    assert_eq!(app.params.engine, reprise::ops::engine::Engine::Soundfont);
    assert!(app.rendered.is_none());
    let (timbre, audition) = reprise::tui::worker::clone_paths(&take);
    assert!(!timbre.exists() && !audition.exists());
}

/// The whole clone job on the shipped oboe recording with the shipped synth (slow: run with
/// `cargo test --release --test tui -- --ignored`): the timbre and its audition are written next
/// to the recording and the app plays and renders with the clone.
#[test]
#[ignore = "needs models/gla-synth; slow without --release"]
fn clone_the_oboe_recording_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let take = dir.path().join("oboe.wav");
    std::fs::copy(sample("recording-oboe.wav"), &take).unwrap();
    let mut app = App::new(vec![tiny_model(dir.path())]);
    app.path = Some(dir.path().join("untitled.mid"));
    let effect = pick_recording(&mut app, "oboe.wav");
    let mut lines = Vec::new();
    let Some(Effect::Start(spec)) = effect else {
        panic!("no job")
    };
    run_job(*spec, Arc::new(AtomicBool::new(false)), &mut |m| {
        if let JobMsg::Progress(p) = &m {
            lines.push(p.clone());
        }
        app.job_message(m)
    });
    assert!(app.status.starts_with("cloned oboe.wav"), "{}", app.status);
    assert!(lines.iter().any(|l| l.contains("transcribed")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("step 1 of")), "{lines:?}");
    let (timbre, audition) = reprise::tui::worker::clone_paths(&take);
    assert!(timbre.is_file() && audition.is_file());
    assert_eq!(app.params.timbre, timbre.to_string_lossy());
    assert_eq!(app.rendered.as_deref(), Some(audition.as_path()));
    eprintln!("{}", app.status);
}
