//! How much of POP909's annotated harmony a melody decides: bars whose melody is the same (the
//! same onsets, durations and intervals, in any key) are compared by the chords `chord_midi.txt`
//! gives them, beat by beat, within one song and across different songs. The number printed is the
//! share of one occurrence's chord tones that are tones of the other's chord: what an accompaniment
//! playing the first chord would score as chord tones against the second.
//!
//! `cargo run --release --example harmony_ambiguity -- ../shared/data/pop909`

use std::collections::HashMap;
use std::path::Path;

use reprise::accompany::chords::BEATS_PER_BAR;
use reprise::accompany::harmony::{tone_share, HarmonyExample};

/// A bar's melody relative to its first note: (position, semitones from the first pitch, duration).
type Pattern = Vec<(u32, i32, u32)>;

/// The chords of one occurrence (pitch classes moved so the bar's first pitch is C), and its song.
struct Occurrence {
    song: usize,
    chords: [Option<u16>; BEATS_PER_BAR],
}

/// Rotates a pitch-class set down by `by` semitones.
fn rotate_down(set: u16, by: u32) -> u16 {
    let s = set & 0xfff;
    ((s >> by) | (s << (12 - by))) & 0xfff
}

/// Every bar with at least `min_notes` melody notes, grouped by pattern.
fn bar_patterns(songs: &[HarmonyExample], min_notes: usize) -> HashMap<Pattern, Vec<Occurrence>> {
    let mut groups: HashMap<Pattern, Vec<Occurrence>> = HashMap::new();
    for (song, e) in songs.iter().enumerate() {
        let n_bars = e.chords.len() / BEATS_PER_BAR;
        let mut bars: Vec<Vec<(u32, u8, u32)>> = vec![Vec::new(); n_bars];
        for n in e.melody.iter().filter(|n| n.bar < n_bars) {
            bars[n.bar].push((n.pos, n.pitch, n.duration));
        }
        for (b, notes) in bars.iter_mut().enumerate() {
            if notes.len() < min_notes {
                continue;
            }
            notes.sort();
            let first = i32::from(notes[0].1);
            let pattern = notes
                .iter()
                .map(|&(pos, pitch, dur)| (pos, i32::from(pitch) - first, dur))
                .collect();
            let mut chords = [None; BEATS_PER_BAR];
            for (k, c) in chords.iter_mut().enumerate() {
                *c = e.chords[b * BEATS_PER_BAR + k]
                    .map(|c| rotate_down(c.pitch_classes, (first % 12) as u32));
            }
            groups
                .entry(pattern)
                .or_default()
                .push(Occurrence { song, chords });
        }
    }
    groups
}

/// Mean tone share over ordered pairs of labelled beats, (within one song, across songs), with
/// their counts. At most `cap` occurrences of a pattern are paired.
fn agreement(groups: &HashMap<Pattern, Vec<Occurrence>>, cap: usize) -> [(f64, usize); 2] {
    let mut out = [(0.0, 0usize); 2];
    for occ in groups.values() {
        let occ = &occ[..occ.len().min(cap)];
        for (i, a) in occ.iter().enumerate() {
            for b in occ
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, b)| b)
            {
                let slot = &mut out[usize::from(a.song != b.song)];
                for (x, y) in a.chords.iter().zip(&b.chords) {
                    if let (Some(x), Some(y)) = (x, y) {
                        slot.0 += tone_share(*x, *y);
                        slot.1 += 1;
                    }
                }
            }
        }
    }
    out.map(|(sum, n)| (sum / n.max(1) as f64, n))
}

fn main() -> reprise::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/pop909".into());
    let root = Path::new(&root);
    let mut songs = reprise::train::accomp::harmony_examples(root, "train")?;
    songs.extend(reprise::train::accomp::harmony_examples(root, "valid")?);
    println!("{} songs (001–873)", songs.len());
    for min_notes in [3, 5] {
        let groups = bar_patterns(&songs, min_notes);
        let [(within, n_within), (across, n_across)] = agreement(&groups, 60);
        println!(
            "bars of ≥{min_notes} melody notes, same melody: chord-tone share {:.1} % within a song ({n_within} beat pairs), {:.1} % across songs ({n_across} beat pairs)",
            100.0 * within,
            100.0 * across
        );
    }
    Ok(())
}
