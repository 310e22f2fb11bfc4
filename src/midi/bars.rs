//! A score's bars: from its time signatures, or from annotated downbeats.

use super::Score;

/// Start ticks of every bar up to `end` (and one past it), from the time signatures: 4/4 where there
/// is none, and where a signature makes bars shorter than two quarter notes (POP909's files all say
/// 1/4, a placeholder).
pub fn bar_starts(score: &Score, end: u64) -> Vec<u64> {
    let ppq = score.ppq() as u64;
    let mut bars = Vec::new();
    let mut tick = 0u64;
    let mut sigs = score.time_signatures.iter().peekable();
    let mut bar_len = ppq * 4;
    while tick < end {
        while let Some(s) = sigs.peek().filter(|s| s.tick <= tick) {
            let len = ppq * 4 * s.numerator as u64 / s.denominator.max(1) as u64;
            bar_len = if len < ppq * 2 { ppq * 4 } else { len };
            sigs.next();
        }
        bars.push(tick);
        tick += bar_len;
    }
    bars.push(tick);
    bars
}

/// Bar start ticks from annotated downbeats (seconds), e.g. POP909's `beat_midi.txt`: a pickup bar
/// from 0 if the first downbeat is later, then the downbeats, then bars of the last length up to
/// `end` (and one past it).
pub fn bars_from_downbeats(score: &Score, downbeats: &[f64], end: u64) -> Vec<u64> {
    let mut bars: Vec<u64> = downbeats.iter().map(|&s| score.tempo_map.tick(s)).collect();
    bars.dedup();
    if bars.len() < 2 {
        return bar_starts(score, end);
    }
    if bars[0] > 0 {
        bars.insert(0, 0);
    }
    let last_len = bars[bars.len() - 1] - bars[bars.len() - 2];
    while *bars.last().unwrap_or(&0) <= end {
        let next = bars[bars.len() - 1] + last_len.max(1);
        bars.push(next);
    }
    bars
}
