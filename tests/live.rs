//! Live call and response (issue 24) without hardware: a scripted player on a clock the test
//! moves, a sink that records what was sent and when, and the shipped beat-aware model answering.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use reprise::jam::take::AnswerReport;
use reprise::jam::{Answerer, Ask, Event, Note, Pause, Session, Settings, TempoSetting};
use reprise::ports::scripted::{Clock, ManualClock, ScriptedSource};
use reprise::ports::{Message, MidiSink, MidiSource, Timed};

mod common;
use common::{assert_bad_input, reprise};

/// Records (time, message) on the test's clock.
#[derive(Clone)]
struct TimedSink {
    clock: ManualClock,
    log: Arc<Mutex<Vec<(f64, Message)>>>,
}

impl MidiSink for TimedSink {
    fn send(&mut self, message: Message) -> reprise::Result<()> {
        self.log.lock().unwrap().push((self.clock.now(), message));
        Ok(())
    }
}

const BPM: f64 = 100.0;
const BEAT: f64 = 0.6;

/// A C-major phrase of eight eighth notes from `at` (two bars at 100 BPM with the rests).
fn phrase(at: f64, out: &mut Vec<Timed>) {
    for (i, pitch) in [60u8, 64, 67, 72, 71, 67, 65, 62].into_iter().enumerate() {
        let t = at + i as f64 * BEAT / 2.0;
        out.push(Timed {
            time: t,
            message: Message::NoteOn {
                channel: 0,
                pitch,
                velocity: 90,
            },
        });
        out.push(Timed {
            time: t + BEAT / 2.0 - 0.02,
            message: Message::NoteOff { channel: 0, pitch },
        });
    }
}

fn settings(tempo: TempoSetting) -> Settings {
    Settings {
        tempo,
        pause: Pause::Bar,
        answer_bars: 2,
        channel: 1,
        thru: None,
        seed: 7,
        lockstep: true,
    }
}

/// Runs `script` through a session answering with `answerer` until `until`, in 5 ms steps.
fn run(
    script: Vec<Timed>,
    answerer: Arc<dyn Answerer>,
    settings: Settings,
    until: f64,
) -> (Vec<(f64, Message)>, Vec<Event>, reprise::jam::take::Take) {
    let clock = ManualClock::default();
    let sink = TimedSink {
        clock: clock.clone(),
        log: Arc::default(),
    };
    let log = sink.log.clone();
    let mut source = ScriptedSource::new(script, clock.clone());
    let mut session = Session::new(settings, answerer, sink).unwrap();
    let mut events = Vec::new();
    let mut played = Vec::new();
    let steps = (until / 0.005) as usize;
    for i in 0..=steps {
        let now = i as f64 * 0.005;
        clock.set(now);
        source.poll(&mut played);
        events.extend(session.step(now, &played).unwrap());
        played.clear();
    }
    let take = session.finish(until).unwrap();
    let log = log.lock().unwrap().clone();
    (log, events, take)
}

fn reports(events: &[Event]) -> Vec<AnswerReport> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Answered(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// Every note-on on a channel is followed by its note-off.
fn assert_all_released(log: &[(f64, Message)]) {
    let mut sounding: Vec<(u8, u8)> = Vec::new();
    for (_, m) in log {
        match *m {
            Message::NoteOn { channel, pitch, .. } => sounding.push((channel, pitch)),
            Message::NoteOff { channel, pitch } => {
                if let Some(i) = sounding.iter().position(|&s| s == (channel, pitch)) {
                    sounding.remove(i);
                }
            }
            Message::Control { .. } | Message::Program { .. } => {}
        }
    }
    assert!(sounding.is_empty(), "left sounding: {sounding:?}");
}

/// Plays a fixed arpeggio, one note per beat, for the asked bars.
struct Arpeggio;

impl Answerer for Arpeggio {
    fn answer(
        &self,
        _: &[Note],
        ask: &Ask,
        _: &Arc<AtomicBool>,
        out: &mut dyn FnMut(Timed),
    ) -> reprise::Result<()> {
        let beat = ask.beat.beat_seconds();
        for i in 0..ask.bars * 4 {
            let t = ask.start + i as f64 * beat;
            let (channel, pitch) = (ask.channel, 48 + (i % 4) as u8 * 4);
            out(Timed {
                time: t,
                message: Message::NoteOn {
                    channel,
                    pitch,
                    velocity: 80,
                },
            });
            out(Timed {
                time: t + beat * 0.9,
                message: Message::NoteOff { channel, pitch },
            });
        }
        Ok(())
    }
}

#[test]
fn an_answer_starts_on_the_beat_after_a_bar_of_silence_and_stops_when_the_player_comes_in() {
    let mut script = Vec::new();
    phrase(1.0, &mut script);
    // The phrase's last release is at 1 + 7 × 0.3 + 0.28 = 3.38 s; a bar (2.4 s) later, less a
    // quarter beat, is 5.63 s: the answer starts on the next beat, 5.8 s.
    phrase(7.3, &mut script); // comes in during the answer (5.8–10.6 s)
    let (log, events, take) = run(
        script,
        Arc::new(Arpeggio),
        settings(TempoSetting::Given(BPM)),
        18.0,
    );
    let r = reports(&events);
    assert_eq!(r.len(), 2, "{events:?}");
    assert_eq!(r[0].start, 5.8);
    assert!(r[0].interrupted);
    assert_eq!(r[0].first_sent, Some(5.8));
    // 5.8, 6.4, 7.0 sounded; 7.3 interrupted: the note of 7.0 released at once, nothing after.
    let answer_on: Vec<f64> = log
        .iter()
        .filter(|(_, m)| matches!(m, Message::NoteOn { channel: 1, .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(&answer_on[..3], &[5.8, 6.4, 7.0]);
    assert!(answer_on[3..].iter().all(|&t| t > 9.0), "{answer_on:?}");
    let cut = log
        .iter()
        .find(|(t, m)| *t > 7.0 && matches!(m, Message::NoteOff { channel: 1, .. }))
        .unwrap();
    assert_eq!(cut.0, 7.3);
    // The second phrase ends at 9.68 s: its answer at the beat after 11.93 s, 12.4 s, uninterrupted.
    assert_eq!(r[1].start, 12.4);
    assert!(!r[1].interrupted);
    assert_eq!(r[1].notes, 8);
    assert_all_released(&log);
    assert_eq!(take.player.len(), 16);
    assert_eq!(take.reprise.len(), 3 + 8);
}

#[test]
fn a_draft_is_dropped_unheard_when_the_player_goes_on() {
    let mut script = Vec::new();
    phrase(1.0, &mut script);
    phrase(4.6, &mut script); // 1.2 s after the first phrase: drafting began, the answer had not
    let (log, events, _) = run(
        script,
        Arc::new(Arpeggio),
        settings(TempoSetting::Given(BPM)),
        15.0,
    );
    let r = reports(&events);
    assert_eq!(r.len(), 1, "{events:?}");
    assert!(r[0].start > 9.0);
    assert!(log.iter().all(|(t, _)| *t >= r[0].start));
}

#[test]
fn too_short_a_phrase_for_a_tempo_is_pointed_out() {
    let mut script = Vec::new();
    phrase(1.0, &mut script);
    script.truncate(6); // three notes
    let (log, events, _) = run(
        script,
        Arc::new(Arpeggio),
        settings(TempoSetting::Estimate),
        5.0,
    );
    assert_eq!(events, vec![Event::Listening, Event::NeedNotes]);
    assert!(log.is_empty());
}

/// The shipped model answers in the player's key and on the beat, and lets no note hang.
#[test]
fn the_model_answers_in_key_on_the_beat() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/pop909-beat");
    let model = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu).unwrap();
    let req = reprise::ops::live::Live::new(
        reprise::ops::live::LiveInput::File("unused.mid".into()),
        reprise::ops::live::LiveOutput::Audio {
            voice: Default::default(),
            device: None,
        },
        settings(TempoSetting::Estimate),
    );
    let answerer = reprise::ops::live::answerer(model, &req);
    let mut script = Vec::new();
    phrase(1.0, &mut script);
    phrase(3.4, &mut script);
    let (log, events, take) = run(
        script,
        Arc::new(answerer),
        settings(TempoSetting::Estimate),
        20.0,
    );
    let tempo = events.iter().find_map(|e| match e {
        Event::Tempo {
            bpm,
            estimated: Some(_),
        } => Some(*bpm),
        _ => None,
    });
    assert_eq!(tempo, Some(BPM), "{events:?}");
    let r = reports(&events);
    assert_eq!(r.len(), 1, "{events:?}");
    assert!(!r[0].interrupted);
    assert!(r[0].notes >= 4, "{:?}", r[0]);
    assert!(r[0].lateness().unwrap() <= 0.005, "{:?}", r[0]);
    let ons: Vec<(f64, u8)> = log
        .iter()
        .filter_map(|(t, m)| match m {
            Message::NoteOn {
                channel: 1, pitch, ..
            } => Some((*t, *pitch)),
            _ => None,
        })
        .collect();
    let sixteenth = BEAT / 4.0;
    for (t, _) in &ons {
        let grid = (t - 1.0) / sixteenth;
        assert!(
            (grid - grid.round()).abs() * sixteenth < 1e-6,
            "{t} off the grid"
        );
        assert!(*t >= r[0].start && *t < r[0].start + 2.0 * 4.0 * BEAT + 0.01);
    }
    let in_key = ons
        .iter()
        .filter(|(_, p)| [0, 2, 4, 5, 7, 9, 11].contains(&(p % 12)))
        .count();
    assert!(
        in_key * 10 >= ons.len() * 9,
        "{in_key} of {} in C major",
        ons.len()
    );
    assert_all_released(&log);
    assert_eq!(take.reprise.len(), ons.len());
}

#[test]
fn live_plays_a_file_as_the_keyboard_and_records_the_session() {
    live_session(&[]);
}

/// The same through the neural synth: the keys and the answer are played by its voices.
#[test]
fn live_answers_through_the_neural_synth() {
    live_session(&["--engine", "neural", "--timbre", "flute"]);
}

fn live_session(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let phrase_path = dir.path().join("phrase.mid");
    let mut s = reprise::midi::Score::new(480, 600_000).unwrap();
    let t = s.add_track("Keys", reprise::midi::TrackRole::Other);
    for (i, p) in [60u8, 64, 67, 72, 71, 67, 65, 62].into_iter().enumerate() {
        let start = i as u64 * 240;
        s.push_note_ticks(t, 0, 0, p, 90, start, start + 220);
    }
    s.sort();
    reprise::midi::write_file(&s, &phrase_path).unwrap();
    let record = dir.path().join("session.mid");
    let out = reprise(
        &[
            "live",
            "--input",
            phrase_path.to_str().unwrap(),
            "--device",
            "null",
            "--bpm",
            "100",
            "--answer-bars",
            "1",
            "--seed",
            "3",
            "--record",
            record.to_str().unwrap(),
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect::<Vec<&str>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tempo 100 BPM (given)"), "{stderr}");
    assert!(stderr.contains("answered:"), "{stderr}");
    let take = reprise::midi::read_file(&record).unwrap();
    assert_eq!(take.tracks.len(), 2);
    assert_eq!(take.notes.iter().filter(|n| n.track == 0).count(), 8);
    assert!(take.notes.iter().any(|n| n.track == 1));
}

#[test]
fn live_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let phrase = dir.path().join("p.mid");
    std::fs::copy(common::sample("piano-phrase.mid"), &phrase).unwrap();
    let p = phrase.to_str().unwrap();
    let same = reprise(&["live", "--input", p, "--device", "null", "--record", p]);
    assert_bad_input(&same, "p.mid", "");
    let tiny = reprise(&["live", "--input", p, "--answer-bars", "0"]);
    assert_eq!(tiny.status.code(), Some(2));
    let pause = reprise(&["live", "--input", p, "--pause", "soon"]);
    assert_eq!(pause.status.code(), Some(2));
    let not_beat = reprise(&[
        "live",
        "--input",
        p,
        "--device",
        "null",
        "--model",
        "jsb-chorales",
    ]);
    assert_bad_input(&not_beat, "jsb-chorales", "beat-aware");
    if !std::path::Path::new("/dev/snd/seq").exists() {
        let port = reprise(&["live", "--input", "0", "--device", "null"]);
        assert_bad_input(&port, "", "no MIDI system");
        let out = reprise(&["live", "--input", p, "--midi-out", "0"]);
        assert_bad_input(&out, "", "no MIDI system");
        let play = reprise(&["play", p, "--midi-out", "virtual:reprise"]);
        assert_bad_input(&play, "", "no MIDI system");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_session_and_still_writes_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("cut.mid");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["live", "--input", &common::sample("piano-phrase.mid")])
        .args(["--device", "null", "--bpm", "84", "--record"])
        .arg(&record)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The phrase starts a second in; by four seconds some of it was played.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let take = reprise::midi::read_file(&record).unwrap();
    let played = take.notes.iter().filter(|n| n.track == 0).count();
    assert!(
        played > 0 && played < 46,
        "{played} of the 46 notes: {stderr}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn record_takes_a_phrase_to_the_metronome_and_quantises_it() {
    let dir = tempfile::tempdir().unwrap();
    let phrase_path = dir.path().join("phrase.mid");
    let mut s = reprise::midi::Score::new(480, 600_000).unwrap();
    let t = s.add_track("Keys", reprise::midi::TrackRole::Other);
    for (i, p) in [60u8, 64, 67, 72].into_iter().enumerate() {
        let start = i as u64 * 480 + 7; // a little late on every beat
        s.push_note_ticks(t, 0, 0, p, 90, start, start + 400);
    }
    s.sort();
    reprise::midi::write_file(&s, &phrase_path).unwrap();
    let take = dir.path().join("take.mid");
    let out = reprise(&[
        "record",
        "--input",
        phrase_path.to_str().unwrap(),
        "-o",
        take.to_str().unwrap(),
        "--bpm",
        "100",
        "--device",
        "null",
        "--quantize",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("count-in: 4") && stderr.contains("recording at 100 BPM"),
        "{stderr}"
    );
    let got = reprise::midi::read_file(&take).unwrap();
    let starts: Vec<u64> = got.notes.iter().map(|n| n.start_tick).collect();
    assert_eq!(starts, vec![0, 480, 960, 1440]);
    let same = reprise(&[
        "record",
        "--input",
        phrase_path.to_str().unwrap(),
        "-o",
        phrase_path.to_str().unwrap(),
    ]);
    assert_bad_input(&same, "phrase.mid", "");
}

/// An answerer that panics: the session says the answer failed and listens on.
struct Panics;

impl Answerer for Panics {
    fn answer(
        &self,
        _: &[Note],
        _: &Ask,
        _: &Arc<AtomicBool>,
        _: &mut dyn FnMut(Timed),
    ) -> reprise::Result<()> {
        panic!("the model broke")
    }
}

#[test]
fn a_panicking_answer_is_reported_and_the_session_listens_on() {
    let mut script = Vec::new();
    phrase(1.0, &mut script);
    let (log, events, take) = run(
        script,
        Arc::new(Panics),
        settings(TempoSetting::Given(BPM)),
        8.0,
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Failed(why) if why.contains("panic"))),
        "{events:?}"
    );
    assert!(log.is_empty());
    assert_eq!(take.player.len(), 8);
}
