//! How a harmonizer does on melodies that did not come from POP909: the sopranos of the JSB
//! chorales' `valid` split, each harmonized alone. Each beat's named chord is compared with the
//! pitch classes Bach's four voices sound at the beat's start: the share of the named chord's tones
//! that Bach sounds, and how often its root is among them.
//!
//! `cargo run --release --example harmony_chorales -- ../shared/data/jsb/Jsb16thSeparated.json [MODEL]`
//! (MODEL: a harmonizer name in models/ or a directory; default pop909-chords).

use reprise::accompany::bars::GridNote;
use reprise::accompany::chords::BEATS_PER_BAR;
use reprise::accompany::harmony::{tone_share, Harmonizer};
use reprise::tokens::grid::{Chorale, JsbData};

/// Sixteenths in a bar of the chorale grid (4/4).
const STEPS_PER_BAR: usize = 16;

/// The soprano as grid notes: runs of one pitch are one note (at most 4 bars long).
fn soprano(chorale: &Chorale) -> Vec<GridNote> {
    let mut notes: Vec<GridNote> = Vec::new();
    let mut prev = -1i16;
    for (step, voices) in chorale.steps.iter().enumerate() {
        let pitch = voices[0];
        let held = pitch == prev && notes.last().is_some_and(|n| n.duration < 64);
        match (pitch >= 0, held) {
            (true, true) => notes.last_mut().into_iter().for_each(|n| n.duration += 1),
            (true, false) => notes.push(GridNote {
                bar: step / STEPS_PER_BAR,
                pos: (step % STEPS_PER_BAR) as u32,
                pitch: pitch as u8,
                bin: 20,
                duration: 1,
            }),
            _ => {}
        }
        prev = pitch;
    }
    notes
}

/// The pitch classes the four voices sound at `step`.
fn sounding(chorale: &Chorale, step: usize) -> u16 {
    chorale.steps[step]
        .iter()
        .filter(|&&p| p >= 0)
        .fold(0, |set, &p| set | 1 << (p % 12))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(data) = args.get(1) else {
        anyhow::bail!("usage: harmony_chorales JSB.json [MODEL]");
    };
    let model = args.get(2).map_or("pop909-chords", String::as_str);
    let h = Harmonizer::load(&reprise::model::resolve_model_dir(model)?)?;
    let jsb = JsbData::load(std::path::Path::new(data))?;
    let chorales = jsb.split("valid")?;
    let (mut share, mut root_sounds, mut beats) = (0.0, 0usize, 0usize);
    for chorale in chorales {
        let n_bars = chorale.steps.len().div_ceil(STEPS_PER_BAR);
        let named = h.harmonize(&soprano(chorale), n_bars)?;
        for (beat, chord) in named.iter().enumerate() {
            let step = beat * STEPS_PER_BAR / BEATS_PER_BAR;
            if step >= chorale.steps.len() || sounding(chorale, step) == 0 {
                continue;
            }
            let bach = sounding(chorale, step);
            share += tone_share(chord.pitch_classes, bach);
            root_sounds += usize::from(bach & (1 << chord.root) != 0);
            beats += 1;
        }
    }
    println!(
        "{} valid chorales, {beats} beats: {:.1} % of the named chords' tones sound in Bach's chord, the named root sounds on {:.1} % of beats",
        chorales.len(),
        100.0 * share / beats as f64,
        100.0 * root_sounds as f64 / beats as f64
    );
    Ok(())
}
