//! Facts about POP909 that set defaults: polyphony (sustain folded in) over time, note lengths
//! (as written, and with the sustain folded in), notes starting together (within a 32nd note), and
//! performance tokens per second of music. `cargo run --release --example pop909_stats -- ../shared/data/pop909`
use reprise::tokens::{PerformanceVocab, Vocab};

fn main() -> reprise::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or("../shared/data/pop909".into());
    let songs = reprise::pop909::songs(std::path::Path::new(&root), "all")?;
    let scores = reprise::pop909::read_all(&songs)?;
    let mut hist = vec![0u64; 129];
    let mut lengths: Vec<f64> = Vec::new();
    let mut written: Vec<f64> = Vec::new();
    let mut together = vec![0u64; 129];
    let (mut tokens, mut seconds) = (0usize, 0f64);
    for score in &scores {
        let piano = reprise::midi::apply_sustain(score);
        lengths.extend(
            piano
                .notes
                .iter()
                .filter(|n| !n.is_drum())
                .map(|n| n.duration()),
        );
        written.extend(
            score
                .notes
                .iter()
                .filter(|n| !n.is_drum())
                .map(|n| n.duration()),
        );
        let mut onsets = std::collections::HashMap::<u64, usize>::new();
        let slot = (score.ppq() as u64 / 8).max(1);
        for n in score.notes.iter().filter(|n| !n.is_drum()) {
            *onsets.entry(n.start_tick / slot).or_default() += 1;
        }
        onsets.values().for_each(|&k| together[k.min(128)] += 1);
        let steps = (piano.duration() * 100.0).ceil() as usize + 1;
        let mut delta = vec![0i32; steps + 2];
        for n in piano.notes.iter().filter(|n| !n.is_drum()) {
            let on = (n.start * 100.0).round() as usize;
            let off = ((n.end * 100.0).round() as usize).max(on + 1);
            delta[on.min(steps)] += 1;
            delta[off.min(steps + 1)] -= 1;
        }
        let mut sounding = 0i32;
        for d in delta {
            sounding += d;
            hist[sounding.clamp(0, 128) as usize] += 1;
        }
        tokens += PerformanceVocab::default().encode(score)?.len();
        seconds += score.duration();
    }
    let total: u64 = hist.iter().sum();
    let mut acc = 0u64;
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        let k = hist
            .iter()
            .position(|&h| {
                acc += h;
                acc as f64 >= q * total as f64
            })
            .unwrap_or(128);
        acc = 0;
        println!("polyphony quantile {q}: {k} keys");
    }
    let all: u64 = together.iter().sum();
    let mut acc = 0u64;
    for (k, &count) in together.iter().enumerate().filter(|(_, &c)| c > 0) {
        acc += count;
        let share = 100.0 * acc as f64 / all as f64;
        println!("notes starting together: {k}: {count} onsets ({share:.3} % at most {k})");
    }
    for (what, lengths) in [
        ("as written", &mut written),
        ("pedal folded in", &mut lengths),
    ] {
        lengths.sort_by(f64::total_cmp);
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            let i = ((q * lengths.len() as f64) as usize).min(lengths.len().saturating_sub(1));
            let l = lengths.get(i).unwrap_or(&0.0);
            println!("note length ({what}) quantile {q}: {l:.2} s");
        }
        let over = |s: f64| lengths.iter().filter(|&&l| l >= s).count();
        let (four, eight, n) = (over(4.0), over(8.0), lengths.len());
        println!("notes ({what}) of 4 s or more: {four}, 8 s or more: {eight} of {n}");
    }
    println!(
        "{} songs, {:.1} h, {tokens} tokens, {:.1} tokens per second of music",
        scores.len(),
        seconds / 3600.0,
        tokens as f64 / seconds
    );
    Ok(())
}
