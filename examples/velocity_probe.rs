//! What does cloning from a transcription lose, and where? Clones TimGM6mb's program P (the
//! held-out phrases of `synth-eval --heldout-sf2`) from phrase A three ways, starting from the
//! shipped timbre START: with the notes played; with their times but the transcribed velocities;
//! with the transcribed times but the velocities played. Prints each clone's distance on phrase B.
//! `cargo run --release --example velocity_probe -- 65 brass` (scripts/soundfonts first).

use reprise::audio::decode::Recording;
use reprise::synth::clone::{clone_timbre, CloneSettings, FitNote};
use reprise::synth::ddsp::SAMPLE_RATE;
use reprise::synth::eval::{heldout_phrases, neural_phrase, phrase_distance};
use reprise::synth::render::{load_network, load_timbre, timbre_path};
use reprise::synth::transcribe::transcribe;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(program), Some(start)) = (args.get(1), args.get(2)) else {
        return Err("usage: velocity_probe PROGRAM START_TIMBRE".into());
    };
    let program: u8 = program.parse()?;
    let dir = std::path::Path::new("models/gla-synth");
    let net = load_network(dir)?;
    let t0 = load_timbre(&timbre_path(dir, start), net.config())?;
    let sf = reprise::audio::soundfont::load(Some(std::path::Path::new(
        "/usr/share/sounds/sf2/TimGM6mb.sf2",
    )))?;
    let ((a, notes_a), (b, notes_b)) = heldout_phrases(&sf, program, 20.0)?;
    let rec = Recording {
        samples: a.clone(),
        sample_rate: SAMPLE_RATE,
    };
    let tr = transcribe(&rec)?;
    // Each played note's nearest transcribed note (by onset), and the other way round.
    let near = |n: &FitNote| {
        tr.notes
            .iter()
            .min_by(|x, y| {
                (x.start - n.start)
                    .abs()
                    .total_cmp(&(y.start - n.start).abs())
            })
            .map_or(n.velocity, |m| m.velocity)
    };
    let b_vel: Vec<FitNote> = notes_a
        .iter()
        .map(|n| FitNote {
            velocity: near(n),
            ..*n
        })
        .collect();
    let c_time: Vec<FitNote> = tr
        .notes
        .iter()
        .map(|m| {
            let velocity = notes_a
                .iter()
                .min_by(|x, y| {
                    (x.start - m.start)
                        .abs()
                        .total_cmp(&(y.start - m.start).abs())
                })
                .map_or(m.velocity, |n| n.velocity);
            FitNote {
                pitch: m.pitch,
                velocity,
                start: m.start,
                held: m.end - m.start,
            }
        })
        .collect();
    for (name, notes) in [
        ("played", &notes_a),
        ("transcribed velocities", &b_vel),
        ("transcribed times", &c_time),
    ] {
        let (t, _) = clone_timbre(
            &net,
            &t0,
            &a,
            notes,
            &CloneSettings::default(),
            &mut |_, _| {},
        )?;
        let d = phrase_distance(&neural_phrase(&net, &t, &notes_b, b.len())?, &b)?;
        println!("{name}: {d:.3}");
    }
    Ok(())
}
