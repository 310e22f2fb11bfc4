//! Snapping notes to the grid: each onset and release moves to the nearest sixteenth of its bar
//! (on the score's time signatures), no note shorter than a sixteenth. What a recorded take needs
//! before a beat-aware model reads it as written music.

use super::bars::bar_starts;
use super::score::Score;

/// Sixteenths in a quarter note.
const PER_QUARTER: u64 = 4;

/// The nearest sixteenth to `tick`, counted from the start of its bar in `bars` (sorted bar starts).
fn snap(tick: u64, bars: &[u64], sixteenth: u64) -> u64 {
    let bar = bars[bars.partition_point(|&b| b <= tick).saturating_sub(1)];
    let k = (tick - bar + sixteenth / 2) / sixteenth;
    bar + k * sixteenth
}

/// Quantises the notes of `score` that start within `span` (seconds; `None`: all) to sixteenths;
/// returns how many notes moved. Drums and other tracks are quantised alike.
pub fn quantize(score: &mut Score, span: Option<(f64, f64)>) -> usize {
    let sixteenth = (score.ppq() as u64 / PER_QUARTER).max(1);
    let end = score.end_tick() + 4 * score.ppq() as u64;
    let mut bars = bar_starts(score, end);
    if bars.first() != Some(&0) {
        bars.insert(0, 0);
    }
    let mut moved = 0;
    for n in &mut score.notes {
        if span.is_some_and(|(a, b)| n.start < a - 1e-9 || n.start >= b) {
            continue;
        }
        let start = snap(n.start_tick, &bars, sixteenth);
        let end = snap(n.end_tick, &bars, sixteenth).max(start + sixteenth);
        if (start, end) != (n.start_tick, n.end_tick) {
            moved += 1;
        }
        n.start_tick = start;
        n.end_tick = end;
    }
    score.retime();
    score.sort();
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::TrackRole;

    #[test]
    fn onsets_and_releases_go_to_the_nearest_sixteenth() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("keys", TrackRole::Other);
        s.push_note_ticks(t, 0, 0, 60, 80, 10, 470); // → 0–480
        s.push_note_ticks(t, 0, 0, 62, 80, 1000, 1010); // → 960–1080 (a sixteenth at least)
        s.push_note_ticks(t, 0, 0, 64, 80, 1920, 2400); // on the grid already
        s.sort();
        assert_eq!(quantize(&mut s, None), 2);
        let ticks: Vec<(u64, u64)> = s.notes.iter().map(|n| (n.start_tick, n.end_tick)).collect();
        assert_eq!(ticks, vec![(0, 480), (960, 1080), (1920, 2400)]);
        assert!((s.notes[1].start - 1.0).abs() < 1e-9);
    }

    #[test]
    fn only_the_span_moves() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("keys", TrackRole::Other);
        s.push_note_ticks(t, 0, 0, 60, 80, 10, 470);
        s.push_note_ticks(t, 0, 0, 62, 80, 1930, 2000);
        s.sort();
        assert_eq!(quantize(&mut s, Some((1.5, 3.0))), 1);
        assert_eq!(s.notes[0].start_tick, 10);
        assert_eq!(s.notes[1].start_tick, 1920);
    }
}
