//! Training notes for the neural synthesizer: isolated notes rendered from a SoundFont (reverb and
//! chorus off) at the synth's sample rate, across each program's range of pitches and velocities,
//! with the release tail.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::ddsp::{HOP, SAMPLE_RATE};
use super::model::{note_frames, NoteFrame};
use crate::error::{Error, Result};

/// An instrument the synth learns or clones: General MIDI program, name, and pitch range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instrument {
    /// General MIDI program.
    pub program: u8,
    /// The timbre's name.
    pub name: &'static str,
    /// Lowest and highest MIDI key used.
    pub range: (u8, u8),
}

impl Instrument {
    const fn new(program: u8, name: &'static str, range: (u8, u8)) -> Self {
        Instrument {
            program,
            name,
            range,
        }
    }
}

/// The shipped timbres (presets), one per family: the programs a user picks by name.
pub const TRAINED: [Instrument; 6] = [
    Instrument::new(0, "piano", (36, 96)),
    Instrument::new(48, "strings", (40, 88)),
    Instrument::new(73, "flute", (60, 96)),
    Instrument::new(19, "organ", (36, 84)),
    Instrument::new(24, "guitar", (40, 84)),
    Instrument::new(61, "brass", (40, 80)),
];

/// Every program a wide synth run trains (the presets first, then the rest of the catalogue), so
/// that the space of initial states covers many real instruments; only the presets ship.
pub const CATALOGUE: [Instrument; 32] = [
    TRAINED[0],
    TRAINED[1],
    TRAINED[2],
    TRAINED[3],
    TRAINED[4],
    TRAINED[5],
    Instrument::new(4, "electric-piano", (36, 96)),
    Instrument::new(6, "harpsichord", (36, 96)),
    Instrument::new(12, "marimba", (48, 96)),
    Instrument::new(16, "drawbar-organ", (36, 96)),
    Instrument::new(21, "accordion", (48, 89)),
    Instrument::new(22, "harmonica", (60, 84)),
    Instrument::new(25, "steel-guitar", (40, 84)),
    Instrument::new(27, "clean-guitar", (40, 86)),
    Instrument::new(32, "acoustic-bass", (28, 60)),
    Instrument::new(33, "bass", (28, 60)),
    Instrument::new(40, "violin", (55, 100)),
    Instrument::new(42, "cello", (36, 76)),
    Instrument::new(52, "choir", (48, 79)),
    Instrument::new(57, "trombone", (40, 72)),
    Instrument::new(58, "tuba", (28, 58)),
    Instrument::new(60, "french-horn", (41, 77)),
    Instrument::new(64, "soprano-sax", (56, 88)),
    Instrument::new(66, "tenor-sax", (44, 76)),
    Instrument::new(67, "baritone-sax", (36, 69)),
    Instrument::new(69, "english-horn", (52, 81)),
    Instrument::new(70, "bassoon", (34, 72)),
    Instrument::new(71, "clarinet", (50, 91)),
    Instrument::new(72, "piccolo", (74, 102)),
    Instrument::new(74, "recorder", (60, 96)),
    Instrument::new(80, "square-lead", (48, 96)),
    Instrument::new(89, "warm-pad", (36, 84)),
];

/// Two instruments kept out of training, for the cloning test on the bundled bank.
pub const HELD_OUT: [Instrument; 2] = [
    Instrument::new(68, "oboe", (58, 91)),
    Instrument::new(11, "vibraphone", (53, 89)),
];

/// Programs no synth run trains, in any bank: the held-out-bank cloning test's trumpet, alto sax
/// and oboe (`reprise synth-eval --heldout-sf2`), and the vibraphone.
pub const NEVER_TRAINED: [u8; 4] = [56, 65, 68, 11];

/// One rendered note.
#[derive(Debug, Clone)]
pub struct NoteExample {
    /// Index of its instrument in the list it was made from.
    pub instrument: usize,
    /// Frame features.
    pub frames: Vec<NoteFrame>,
    /// Mono audio, `frames.len() · HOP` samples.
    pub audio: Vec<f32>,
}

/// A synthesizer at the synth's rate, reverb and chorus off, channel 0 set to `program`.
fn dry_synth(soundfont: &Arc<SoundFont>, program: u8) -> Result<Synthesizer> {
    let mut settings = SynthesizerSettings::new(SAMPLE_RATE as i32);
    settings.enable_reverb_and_chorus = false;
    let mut synth = Synthesizer::new(soundfont, &settings)
        .map_err(|e| Error::Internal(format!("synthesizer: {e}")))?;
    synth.process_midi_message(0, 0xC0, program as i32, 0);
    Ok(synth)
}

/// Renders one note of `program` held `held` seconds, in `frames` frames in all.
pub fn render_note(
    soundfont: &Arc<SoundFont>,
    program: u8,
    pitch: u8,
    velocity: u8,
    held: f64,
    frames: usize,
) -> Result<Vec<f32>> {
    let mut synth = dry_synth(soundfont, program)?;
    synth.note_on(0, pitch as i32, velocity as i32);
    let n = frames * HOP;
    let on = ((held * SAMPLE_RATE as f64) as usize).min(n);
    let (mut l, mut r) = (vec![0f32; n], vec![0f32; n]);
    synth.render(&mut l[..on], &mut r[..on]);
    synth.note_off(0, pitch as i32);
    synth.render(&mut l[on..], &mut r[on..]);
    Ok(l.iter().zip(&r).map(|(a, b)| 0.5 * (a + b)).collect())
}

/// A note to fit: pitch, velocity, onset and length in seconds (already aligned to the audio).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitNote {
    /// Key.
    pub pitch: u8,
    /// Velocity.
    pub velocity: u8,
    /// Onset, seconds into the recording.
    pub start: f64,
    /// Held for, seconds.
    pub held: f64,
}

/// A phrase of `notes` played with `program`, dry, mono at the synth's rate, `seconds` long (the
/// notes' own times; what rings past the end is cut).
pub fn render_phrase(
    soundfont: &Arc<SoundFont>,
    program: u8,
    notes: &[FitNote],
    seconds: f64,
) -> Result<Vec<f32>> {
    let mut synth = dry_synth(soundfont, program)?;
    let n = (seconds * SAMPLE_RATE as f64).round() as usize;
    let at = |s: f64| ((s * SAMPLE_RATE as f64).round() as usize).min(n);
    let mut events: Vec<(usize, bool, u8, u8)> = notes
        .iter()
        .flat_map(|x| {
            [
                (at(x.start), true, x.pitch, x.velocity),
                (at(x.start + x.held), false, x.pitch, 0),
            ]
        })
        .collect();
    events.sort_by_key(|e| (e.0, e.1));
    let (mut l, mut r) = (vec![0f32; n], vec![0f32; n]);
    let mut pos = 0;
    for (t, on, pitch, velocity) in events {
        synth.render(&mut l[pos..t], &mut r[pos..t]);
        pos = t;
        if on {
            synth.note_on(0, pitch as i32, velocity as i32);
        } else {
            synth.note_off(0, pitch as i32);
        }
    }
    synth.render(&mut l[pos..], &mut r[pos..]);
    Ok(l.iter().zip(&r).map(|(a, b)| 0.5 * (a + b)).collect())
}

/// `per_instrument` random notes of each instrument, each `frames` frames long (held 0.2–1.2 s, the
/// rest is release), pitches across the range, velocities 40–120.
pub fn make_notes(
    soundfont: &Arc<SoundFont>,
    instruments: &[Instrument],
    per_instrument: usize,
    frames: usize,
    seed: u64,
) -> Result<Vec<NoteExample>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let total = frames as f64 * HOP as f64 / SAMPLE_RATE as f64;
    let mut specs = Vec::new();
    for (i, inst) in instruments.iter().enumerate() {
        for _ in 0..per_instrument {
            let pitch = rng.random_range(inst.range.0..=inst.range.1);
            let velocity = rng.random_range(40u8..=120);
            let held = rng.random_range(0.2..1.2f64).min(total * 0.8);
            specs.push((i, inst.program, pitch, velocity, held));
        }
    }
    use rayon::prelude::*;
    specs
        .par_iter()
        .map(|&(i, program, pitch, velocity, held)| {
            let mut f = note_frames(pitch, velocity, held, total - held);
            f.truncate(frames);
            Ok(NoteExample {
                instrument: i,
                audio: render_note(soundfont, program, pitch, velocity, held, frames)?,
                frames: f,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_sound_then_fade() {
        let sf = crate::audio::soundfont::load(None).unwrap();
        let notes = make_notes(&sf, &TRAINED[..2], 2, 160, 1).unwrap();
        assert_eq!(notes.len(), 4);
        for n in &notes {
            assert_eq!(n.frames.len(), 160);
            assert_eq!(n.audio.len(), 160 * HOP);
            let peak = n.audio.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(peak > 0.01, "silent note");
        }
        // Held-out programs are not trained ones, and the catalogue starts with the presets.
        for h in HELD_OUT {
            assert!(NEVER_TRAINED.contains(&h.program));
        }
        for (i, c) in CATALOGUE.iter().enumerate() {
            assert!(!NEVER_TRAINED.contains(&c.program), "{}", c.name);
            assert!(i >= TRAINED.len() || *c == TRAINED[i]);
            assert!(CATALOGUE[..i]
                .iter()
                .all(|d| d.program != c.program && d.name != c.name));
        }
    }
}
