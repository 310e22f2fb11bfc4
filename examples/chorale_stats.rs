//! Four-part-writing statistics of chorales, to compare generated music with Bach's.
//!
//! `cargo run --release --example chorale_stats -- [--skip STEPS] FILE.mid …`
//! `cargo run --release --example chorale_stats -- --jsb ../shared/data/jsb/Jsb16thSeparated.json valid`
//!
//! Per set of chorales: the share of 16th steps where all four voices sound; where the voices keep SATB
//! order (no crossing); where the sounding pitch classes fit one major or minor triad or dominant seventh
//! (chord tones only); the mean note length in 16ths; and each voice's range.

use std::path::Path;

use reprise::tokens::grid::JsbData;
use reprise::tokens::{Chorale, GridVocab};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vocab = GridVocab::default();
    let (label, chorales): (String, Vec<Chorale>) =
        if args.first().map(String::as_str) == Some("--jsb") {
            let (path, split) = (
                args.get(1).ok_or("--jsb PATH SPLIT")?,
                args.get(2).ok_or("--jsb PATH SPLIT")?,
            );
            (
                format!("JSB {split}"),
                JsbData::load(Path::new(path))?.split(split)?.to_vec(),
            )
        } else {
            let (skip, files) = match args.first().map(String::as_str) {
                Some("--skip") => (
                    args.get(1).ok_or("--skip STEPS")?.parse::<usize>()?,
                    &args[2..],
                ),
                _ => (0, &args[..]),
            };
            let mut out = Vec::new();
            for f in files {
                let mut c = vocab.score_to_chorale(&reprise::midi::read_file(Path::new(f))?)?;
                c.steps.drain(..skip.min(c.steps.len()));
                out.push(c);
            }
            (
                format!("{} file(s), first {skip} steps skipped", files.len()),
                out,
            )
        };
    println!("{label}: {}", stats(&chorales));
    Ok(())
}

fn stats(chorales: &[Chorale]) -> String {
    let steps: Vec<&[i16; 4]> = chorales.iter().flat_map(|c| c.steps.iter()).collect();
    let n = steps.len().max(1) as f64;
    let full = steps.iter().filter(|s| s.iter().all(|&p| p >= 0)).count() as f64;
    let ordered = steps
        .iter()
        .filter(|s| s.iter().all(|&p| p >= 0) && s[0] >= s[1] && s[1] >= s[2] && s[2] >= s[3])
        .count() as f64;
    let chordal = steps.iter().filter(|s| is_chord(s)).count() as f64;
    let (mut notes, mut total) = (0usize, 0usize);
    let mut ranges = [(i16::MAX, i16::MIN); 4];
    for c in chorales {
        for v in 0..4 {
            let mut prev = -2;
            for s in &c.steps {
                let p = s[v];
                if p >= 0 {
                    total += 1;
                    if p != prev {
                        notes += 1;
                    }
                    ranges[v] = (ranges[v].0.min(p), ranges[v].1.max(p));
                }
                prev = p;
            }
        }
    }
    let ranges: Vec<String> = ranges
        .iter()
        .zip(["S", "A", "T", "B"])
        .map(|(r, v)| format!("{v} {}–{}", r.0, r.1))
        .collect();
    format!(
        "{} steps; all 4 voices sound {:.1}%; SATB order kept {:.1}%; chord tones only {:.1}%; mean note {:.2} sixteenths; ranges {}",
        steps.len(),
        100.0 * full / n,
        100.0 * ordered / full.max(1.0),
        100.0 * chordal / n,
        total as f64 / notes.max(1) as f64,
        ranges.join(", ")
    )
}

/// True when the sounding pitch classes fit one major or minor triad or dominant seventh chord.
fn is_chord(step: &[i16; 4]) -> bool {
    let pcs: u16 = step
        .iter()
        .filter(|&&p| p >= 0)
        .fold(0, |m, &p| m | 1 << (p % 12));
    if pcs == 0 {
        return false;
    }
    let shapes: [&[u16]; 3] = [&[0, 4, 7], &[0, 3, 7], &[0, 4, 7, 10]];
    (0..12).any(|root| {
        shapes.iter().any(|shape| {
            let chord: u16 = shape.iter().fold(0, |m, &i| m | 1 << ((root + i) % 12));
            pcs & !chord == 0
        })
    })
}
