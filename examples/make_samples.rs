//! Writes the example MIDI files in `samples/`.
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
    Ok(())
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
