//! Writes the example MIDI files in `samples/`, and two short recordings for timbre cloning (the
//! held-out oboe and vibraphone of the neural synth, rendered from the built-in SoundFont with reverb
//! and chorus off, 22.05 kHz mono WAV) with their notes.
//!
//! `cargo run --example make_samples -- ../shared/data/jsb/Jsb16thSeparated.json samples`

use std::path::{Path, PathBuf};

use reprise::midi::{self, Score, SustainSpan, TimeSignature, TrackRole};
use reprise::tokens::grid::JsbData;
use reprise::tokens::{Chorale, GridVocab};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(jsb), Some(out)) = (args.get(1), args.get(2)) else {
        return Err("usage: make_samples JSB_JSON OUT_DIR".into());
    };
    let out = PathBuf::from(out);
    let data = JsbData::load(Path::new(jsb))?;
    let chorale = &data.split("train")?[0];
    // The opening phrase: the first 8 bars (128 sixteenths) of the first training chorale.
    let phrase = Chorale {
        steps: chorale.steps.iter().take(128).copied().collect(),
    };
    let mut score = GridVocab::default().chorale_to_score(&phrase)?;
    score.time_signatures.push(four_four());
    midi::write_file(&score, &out.join("bach-chorale.mid"))?;
    midi::write_file(&piano_phrase()?, &out.join("piano-phrase.mid"))?;
    midi::write_file(&ode_to_joy()?, &out.join("melody-ode-to-joy.mid"))?;
    midi::write_file(&gm_band()?, &out.join("gm-band.mid"))?;
    for (name, program, score) in [
        ("oboe", 68u8, oboe_tune()?),
        ("vibraphone", 11, vibraphone_arpeggios()?),
    ] {
        midi::write_file(&score, &out.join(format!("recording-{name}.mid")))?;
        write_recording(&score, program, &out.join(format!("recording-{name}.wav")))?;
    }
    Ok(())
}

/// Renders `score` with `program` from the built-in SoundFont, dry, at 22 050 Hz mono.
fn write_recording(
    score: &Score,
    program: u8,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use rustysynth::{Synthesizer, SynthesizerSettings};
    let sf = reprise::audio::soundfont::load(None)?;
    let rate = 22_050u32;
    let mut settings = SynthesizerSettings::new(rate as i32);
    settings.enable_reverb_and_chorus = false;
    let mut synth = Synthesizer::new(&sf, &settings)?;
    synth.process_midi_message(0, 0xC0, program as i32, 0);
    let mut events: Vec<(u64, bool, u8, u8)> = Vec::new();
    for n in &score.notes {
        let at = |s: f64| (s * rate as f64).round() as u64;
        events.push((at(n.start), true, n.pitch, n.velocity));
        events.push((at(n.end), false, n.pitch, 0));
    }
    events.sort_by_key(|e| (e.0, e.1));
    let end = events.last().map_or(0, |e| e.0) + rate as u64; // one second of release
    let (mut l, mut r) = (vec![0f32; end as usize], vec![0f32; end as usize]);
    let mut pos = 0usize;
    for (at, on, pitch, vel) in events {
        let at = at as usize;
        synth.render(&mut l[pos..at], &mut r[pos..at]);
        pos = at;
        if on {
            synth.note_on(0, pitch as i32, vel as i32);
        } else {
            synth.note_off(0, pitch as i32);
        }
    }
    let n = l.len();
    synth.render(&mut l[pos..n], &mut r[pos..n]);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for (a, b) in l.iter().zip(&r) {
        w.write_sample((((a + b) * 0.5).clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// A 16-second oboe line: steps, leaps and held notes across the instrument's middle range.
fn oboe_tune() -> Result<Score, reprise::Error> {
    let mut s = Score::new(480, 600_000)?;
    s.time_signatures.push(four_four());
    let t = s.add_track("Oboe", TrackRole::Melody);
    // (pitch, length in eighths, velocity)
    let tune: [(u8, u64, u8); 24] = [
        (67, 2, 80),
        (69, 2, 85),
        (71, 2, 90),
        (74, 4, 100),
        (72, 2, 85),
        (71, 2, 80),
        (69, 4, 75),
        (67, 2, 70),
        (64, 2, 75),
        (66, 2, 85),
        (67, 6, 95),
        (76, 2, 100),
        (74, 2, 95),
        (72, 2, 90),
        (71, 2, 85),
        (69, 3, 80),
        (71, 1, 80),
        (72, 4, 90),
        (62, 2, 60),
        (66, 2, 70),
        (69, 2, 80),
        (74, 2, 95),
        (72, 2, 85),
        (67, 8, 90),
    ];
    let mut at = 0;
    for (pitch, eighths, vel) in tune {
        let len = eighths * Q / 2;
        s.push_note_ticks(t, 0, 68, pitch, vel, at, at + len - 40);
        at += len;
    }
    s.sort();
    Ok(s)
}

/// Vibraphone arpeggios over four chords, notes left to ring into each other.
fn vibraphone_arpeggios() -> Result<Score, reprise::Error> {
    let mut s = Score::new(480, 500_000)?;
    s.time_signatures.push(four_four());
    let t = s.add_track("Vibraphone", TrackRole::Melody);
    let chords: [[u8; 4]; 4] = [
        [60, 64, 67, 71],
        [57, 60, 64, 69],
        [62, 65, 69, 72],
        [55, 59, 62, 67],
    ];
    let mut at = 0;
    for (i, chord) in chords.iter().cycle().take(8).enumerate() {
        for (j, &p) in chord.iter().chain(chord.iter().rev()).enumerate() {
            let vel = 70 + ((i * 7 + j * 11) % 40) as u8;
            s.push_note_ticks(t, 0, 11, p + 12 * (j as u8 % 2), vel, at, at + Q);
            at += Q / 2;
        }
    }
    s.sort();
    Ok(s)
}

fn four_four() -> TimeSignature {
    TimeSignature {
        tick: 0,
        numerator: 4,
        denominator: 4,
    }
}

/// Ticks of a quarter note at 480 PPQ.
const Q: u64 = 480;

/// Four bars of piano at 84 BPM: C – Am – F – G, a right-hand melody over broken left-hand chords,
/// with the sustain pedal changed every bar.
fn piano_phrase() -> Result<Score, reprise::Error> {
    let mut s = Score::new(480, 714_286)?;
    s.time_signatures.push(four_four());
    let t = s.add_track("Piano", TrackRole::Other);
    let chords: [[u8; 3]; 4] = [[48, 55, 64], [45, 52, 60], [41, 48, 57], [43, 50, 59]];
    for (bar, chord) in chords.iter().enumerate() {
        let b = bar as u64 * 4 * Q;
        for (i, step) in [0usize, 1, 2, 1, 0, 1, 2, 1].iter().enumerate() {
            let at = b + i as u64 * Q / 2;
            s.push_note_ticks(
                t,
                0,
                0,
                chord[*step],
                58 + (i % 2) as u8 * 6,
                at,
                at + Q / 2,
            );
        }
        s.sustain.push(SustainSpan {
            channel: 0,
            track: t,
            start_tick: b + 10,
            end_tick: b + 4 * Q - 10,
            start: 0.0,
            end: 0.0,
        });
    }
    // (pitch, start in eighths, length in eighths)
    let melody: [(u8, u64, u64); 14] = [
        (76, 0, 3),
        (74, 3, 1),
        (72, 4, 2),
        (67, 6, 2),
        (72, 8, 3),
        (71, 11, 1),
        (69, 12, 4),
        (69, 16, 2),
        (72, 18, 2),
        (77, 20, 3),
        (76, 23, 1),
        (74, 24, 3),
        (71, 27, 1),
        (74, 28, 4),
    ];
    for (pitch, start, len) in melody {
        let at = start * Q / 2;
        s.push_note_ticks(t, 0, 0, pitch, 82, at, at + len * Q / 2 - 20);
    }
    s.retime();
    s.sort();
    Ok(s)
}

/// The main theme of Beethoven's "Ode to Joy" (public domain) as a single flute melody at 100 BPM.
fn ode_to_joy() -> Result<Score, reprise::Error> {
    let mut s = Score::new(480, 600_000)?;
    s.time_signatures.push(four_four());
    let t = s.add_track("Melody", TrackRole::Melody);
    // (pitch, length in quarters ×2)
    let tune: [(u8, u64); 30] = [
        (64, 2),
        (64, 2),
        (65, 2),
        (67, 2),
        (67, 2),
        (65, 2),
        (64, 2),
        (62, 2),
        (60, 2),
        (60, 2),
        (62, 2),
        (64, 2),
        (64, 3),
        (62, 1),
        (62, 4),
        (64, 2),
        (64, 2),
        (65, 2),
        (67, 2),
        (67, 2),
        (65, 2),
        (64, 2),
        (62, 2),
        (60, 2),
        (60, 2),
        (62, 2),
        (64, 2),
        (62, 3),
        (60, 1),
        (60, 4),
    ];
    let mut at = 0;
    for (pitch, halves) in tune {
        let len = halves * Q / 2;
        s.push_note_ticks(t, 0, 73, pitch + 12, 90, at, at + len - 30);
        at += len;
    }
    s.sort();
    Ok(s)
}

/// Eight bars of a General MIDI band at 110 BPM: drums, bass, piano, strings and a lead.
fn gm_band() -> Result<Score, reprise::Error> {
    let mut s = Score::new(480, 545_455)?;
    s.time_signatures.push(four_four());
    let drums = s.add_track("Drums", TrackRole::Drums);
    let bass = s.add_track("Bass", TrackRole::Other);
    let piano = s.add_track("Piano", TrackRole::Other);
    let strings = s.add_track("Strings", TrackRole::Other);
    let lead = s.add_track("Lead", TrackRole::Melody);
    let roots: [u8; 8] = [45, 41, 48, 43, 45, 41, 48, 43]; // Am F C G
    let thirds: [u8; 8] = [3, 4, 4, 4, 3, 4, 4, 4];
    for (bar, &root) in roots.iter().enumerate() {
        let b = bar as u64 * 4 * Q;
        for beat in 0..4u64 {
            let at = b + beat * Q;
            s.push_note_ticks(
                drums,
                9,
                0,
                if beat % 2 == 0 { 36 } else { 38 },
                100,
                at,
                at + 60,
            );
            s.push_note_ticks(drums, 9, 0, 42, 70, at, at + 60);
            s.push_note_ticks(drums, 9, 0, 42, 55, at + Q / 2, at + Q / 2 + 60);
            s.push_note_ticks(bass, 1, 33, root - 12, 95, at, at + Q - 40);
            for (i, p) in [root + 12, root + 12 + thirds[bar], root + 19]
                .into_iter()
                .enumerate()
            {
                let off = if beat % 2 == 1 { Q / 2 } else { 0 };
                s.push_note_ticks(piano, 2, 0, p, 70 - 4 * i as u8, at + off, at + off + Q / 2);
            }
        }
        for p in [root + 12, root + 12 + thirds[bar], root + 19, root + 24] {
            s.push_note_ticks(strings, 3, 48, p, 55, b, b + 4 * Q);
        }
        let line = [
            root + 24,
            root + 24 + thirds[bar],
            root + 31,
            root + 24 + thirds[bar],
        ];
        for (i, p) in line.into_iter().enumerate() {
            let at = b + i as u64 * Q;
            s.push_note_ticks(lead, 4, 81, p, 85, at, at + Q - 30);
        }
    }
    s.sort();
    Ok(s)
}
