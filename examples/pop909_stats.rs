//! Facts about POP909 that set defaults: polyphony (sustain folded in) over time, and performance
//! tokens per second of music. `cargo run --release --example pop909_stats -- ../shared/data/pop909`
use reprise::tokens::{PerformanceVocab, Vocab};

fn main() -> reprise::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or("../shared/data/pop909".into());
    let songs = reprise::pop909::songs(std::path::Path::new(&root), "all")?;
    let scores = reprise::pop909::read_all(&songs)?;
    let mut hist = vec![0u64; 129];
    let (mut tokens, mut seconds) = (0usize, 0f64);
    for score in &scores {
        let piano = reprise::midi::apply_sustain(score);
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
    println!(
        "{} songs, {:.1} h, {tokens} tokens, {:.1} tokens per second of music",
        scores.len(),
        seconds / 3600.0,
        tokens as f64 / seconds
    );
    Ok(())
}
