//! Fits the melody harmonizer on POP909's training songs, writes it, and measures it on the
//! validation songs against their chord annotation (what `reprise train` does for a model that
//! reads chords, without training the model).
//!
//! `cargo run --release --example harmony_fit -- ../shared/data/pop909 OUT/harmony.json`

use reprise::accompany::bars::place;
use reprise::accompany::chords::BeatChord;
use reprise::accompany::harmony::agreement;
use reprise::midi::TrackRole;
use reprise::train::accomp::{annotated_chords, fit_harmonizer, song_bars, track_notes};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(data), Some(out)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: harmony_fit POP909_DIR OUT.json");
    };
    let root = std::path::Path::new(data);
    let started = std::time::Instant::now();
    let h = fit_harmonizer(root, "train")?;
    h.save(std::path::Path::new(out))?;
    let fitted = started.elapsed().as_secs_f64();
    let (mut roots, mut overlap, mut beats) = (0.0, 0.0, 0usize);
    for song in reprise::pop909::songs(root, "valid")? {
        let score = song.score()?;
        let bars = song_bars(&song, &score);
        let melody = place(track_notes(&score, TrackRole::Melody), &bars);
        let ours: Vec<BeatChord> = h.harmonize(&melody, bars.len().saturating_sub(1));
        let truth = annotated_chords(&song.dir, &score, &bars)?;
        let n = truth.iter().flatten().count();
        let (r, o) = agreement(&ours, &truth);
        roots += r * n as f64;
        overlap += o * n as f64;
        beats += n;
    }
    println!(
        "fitted in {fitted:.1} s; validation songs: root right on {:.1} % of {beats} labelled beats, mean pitch-class overlap {:.3}",
        100.0 * roots / beats as f64,
        overlap / beats as f64
    );
    Ok(())
}
