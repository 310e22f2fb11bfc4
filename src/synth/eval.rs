//! How close the neural synth comes to the SoundFont: the multi-resolution STFT distance on notes
//! never seen in training (a seed of their own), per trained timbre; and for each held-out program,
//! its nearest trained timbre against a timbre cloned from a 30-second recording of it.

use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustysynth::SoundFont;

use super::clone::clone_timbre;
use super::data::{make_notes, render_phrase, FitNote, Instrument, NoteExample, HELD_OUT, TRAINED};
use super::model::{NeuralSynth, Timbre, FRAME_RATE};
use crate::error::Result;
use crate::synth::loss::synth_loss;

/// Seed of the evaluation notes (training used the config's seed and `seed ^ 0xA5A5`).
const EVAL_SEED: u64 = 0xE7A1;
/// Frames per evaluation note (as in training: held up to 1.2 s, then the release).
const NOTE_FRAMES: usize = 272;

/// Settings of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Test notes per program.
    pub notes: usize,
    /// Length of the recording each held-out timbre is cloned from, seconds.
    pub recording_seconds: f64,
    /// Adam steps of the cloning.
    pub clone_steps: usize,
    /// Its learning rate.
    pub clone_lr: f64,
}

/// A held-out program's row.
#[derive(Debug, Clone)]
pub struct HeldOutResult {
    /// The program's name.
    pub name: String,
    /// Distance with each trained timbre, in [`TRAINED`] order.
    pub with_trained: Vec<f64>,
    /// The nearest trained timbre and its distance.
    pub nearest: (String, f64),
    /// Distance with the cloned timbre.
    pub cloned: f64,
    /// Seconds the cloning took.
    pub clone_seconds: f64,
    /// The cloned timbre.
    pub timbre: Timbre,
}

/// Distances of the shipped timbres on their own programs, and the cloning comparison.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// Per trained program: its distance with every trained timbre, in [`TRAINED`] order.
    pub trained: Vec<(String, Vec<f64>)>,
    /// Per held-out program.
    pub held_out: Vec<HeldOutResult>,
}

/// Mean STFT distance of `timbre` on `notes` (all of one program).
pub fn distance(net: &NeuralSynth, timbre: &Timbre, notes: &[NoteExample]) -> Result<f64> {
    let notes: Vec<NoteExample> = notes
        .iter()
        .map(|n| NoteExample {
            instrument: 0,
            ..n.clone()
        })
        .collect();
    synth_loss(net, std::slice::from_ref(timbre), &notes, 16)
}

/// A recording of `seconds` of `inst` from the SoundFont: a line of random notes in its range
/// (0.25–1 s long, some overlapping), with the notes as they were played.
pub fn phrase_recording(
    sf: &Arc<SoundFont>,
    inst: &Instrument,
    seconds: f64,
    seed: u64,
) -> Result<(Vec<f32>, Vec<FitNote>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut notes = Vec::new();
    let mut t = 0.1;
    while t < seconds - 1.5 {
        let held = rng.random_range(0.25..1.0f64);
        notes.push(FitNote {
            pitch: rng.random_range(inst.range.0..=inst.range.1),
            velocity: rng.random_range(50u8..=115),
            start: t,
            held,
        });
        t += held * rng.random_range(0.7..1.3f64);
    }
    let audio = render_phrase(sf, inst.program, &notes, seconds)?;
    Ok((audio, notes))
}

/// Runs the evaluation; `log` hears what is being done.
pub fn evaluate(
    net: &NeuralSynth,
    trained: &[Timbre],
    sf: &Arc<SoundFont>,
    settings: &EvalSettings,
    log: &mut dyn FnMut(&str),
) -> Result<EvalResult> {
    let notes_of = |inst: &Instrument, seed: u64| {
        make_notes(
            sf,
            std::slice::from_ref(inst),
            settings.notes,
            NOTE_FRAMES,
            seed,
        )
    };
    let row = |notes: &[NoteExample]| -> Result<Vec<f64>> {
        trained.iter().map(|t| distance(net, t, notes)).collect()
    };
    let mut result = EvalResult {
        trained: Vec::new(),
        held_out: Vec::new(),
    };
    for (i, inst) in TRAINED.iter().enumerate() {
        log(&format!("trained program {}", inst.name));
        result.trained.push((
            inst.name.to_string(),
            row(&notes_of(inst, EVAL_SEED + i as u64)?)?,
        ));
    }
    for (i, inst) in HELD_OUT.iter().enumerate() {
        log(&format!("held-out program {}", inst.name));
        let seed = EVAL_SEED + 100 + i as u64;
        let notes = notes_of(inst, seed)?;
        let with_trained = row(&notes)?;
        let best = (0..trained.len())
            .min_by(|&a, &b| with_trained[a].total_cmp(&with_trained[b]))
            .unwrap_or(0);
        let (audio, fit) = phrase_recording(sf, inst, settings.recording_seconds, seed + 50)?;
        log(&format!(
            "cloning {} from {:.0} s ({} notes), starting from {}",
            inst.name,
            settings.recording_seconds,
            fit.len(),
            TRAINED[best].name
        ));
        let started = Instant::now();
        let timbre = clone_timbre(
            net,
            &trained[best],
            &audio,
            &fit,
            settings.clone_steps,
            settings.clone_lr,
            &mut |_, _| {},
        )?;
        let clone_seconds = started.elapsed().as_secs_f64();
        result.held_out.push(HeldOutResult {
            name: inst.name.to_string(),
            nearest: (TRAINED[best].name.to_string(), with_trained[best]),
            with_trained,
            cloned: distance(net, &timbre, &notes)?,
            clone_seconds,
            timbre,
        });
    }
    Ok(result)
}

impl EvalResult {
    /// The tables as text.
    pub fn report(&self, settings: &EvalSettings) -> String {
        let mut s = format!(
            "multi-resolution STFT distance to the SoundFont, {} unseen notes per program \
             (lower is better)\n\nprogram      ",
            settings.notes
        );
        for t in TRAINED {
            s += &format!("{:>9}", t.name);
        }
        s += "\n";
        for (name, row) in &self.trained {
            s += &format!("{name:<12} ");
            for v in row {
                s += &format!("{v:>9.3}");
            }
            s += "\n";
        }
        for h in &self.held_out {
            s += &format!("{:<12} ", h.name);
            for v in &h.with_trained {
                s += &format!("{v:>9.3}");
            }
            s += "   (held out)\n";
        }
        s += &format!(
            "\nheld-out program  nearest trained timbre   cloned ({:.0} s recording, {} steps)   clone time\n",
            settings.recording_seconds, settings.clone_steps
        );
        for h in &self.held_out {
            s += &format!(
                "{:<17} {:<10} {:>8.3}      {:>8.3} ({:+.1} %)                    {:>6.1} s\n",
                h.name,
                h.nearest.0,
                h.nearest.1,
                h.cloned,
                (h.cloned / h.nearest.1 - 1.0) * 100.0,
                h.clone_seconds
            );
        }
        s += &format!(
            "\n(frame rate {FRAME_RATE:.1} Hz; distances are the training loss: linear + log magnitude \
             summed over FFT sizes 2048/1024/512/256/128)\n"
        );
        s
    }
}
