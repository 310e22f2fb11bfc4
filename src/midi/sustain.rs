//! Sustain pedal: folding CC64 spans into note lengths.

use std::collections::HashMap;

use super::score::{Score, SustainSpan};

/// Returns `score` with the sustain pedal folded into note lengths and no sustain spans left.
///
/// A note released while the pedal is down on its channel sounds on until the pedal lifts, or until the
/// same pitch is struck again on that channel, whichever comes first (Oore et al. 2018).
pub fn apply_sustain(score: &Score) -> Score {
    let mut spans_by_channel: HashMap<u8, Vec<&SustainSpan>> = HashMap::new();
    for s in &score.sustain {
        spans_by_channel.entry(s.channel).or_default().push(s);
    }
    for spans in spans_by_channel.values_mut() {
        spans.sort_by_key(|s| s.start_tick);
    }
    let mut onsets: HashMap<(u8, u8), Vec<u64>> = HashMap::new();
    for n in &score.notes {
        onsets
            .entry((n.channel, n.pitch))
            .or_default()
            .push(n.start_tick);
    }
    for v in onsets.values_mut() {
        v.sort_unstable();
    }
    let mut out = score.clone();
    out.sustain.clear();
    for n in &mut out.notes {
        let Some(spans) = spans_by_channel.get(&n.channel) else {
            continue;
        };
        let Some(pedal_up) = pedal_release(spans, n.end_tick) else {
            continue;
        };
        let next_onset = onsets
            .get(&(n.channel, n.pitch))
            .and_then(|v| v.get(v.partition_point(|&t| t <= n.start_tick)).copied())
            .unwrap_or(u64::MAX);
        let end = pedal_up.min(next_onset).max(n.end_tick);
        if end != n.end_tick {
            n.end_tick = end;
            n.end = score.tempo_map.seconds(end);
        }
    }
    out
}

/// The latest pedal release among spans holding the pedal down at `tick` (spans may overlap).
fn pedal_release(spans: &[&SustainSpan], tick: u64) -> Option<u64> {
    let upto = spans.partition_point(|s| s.start_tick <= tick);
    spans[..upto]
        .iter()
        .filter(|s| s.end_tick > tick)
        .map(|s| s.end_tick)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::score::Score;

    fn span(channel: u8, start_tick: u64, end_tick: u64) -> SustainSpan {
        SustainSpan {
            channel,
            track: 0,
            start_tick,
            end_tick,
            start: 0.0,
            end: 0.0,
        }
    }

    #[test]
    fn pedal_extends_until_release_or_restrike() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("p", Default::default());
        s.push_note_ticks(t, 0, 0, 60, 80, 0, 100); // held by pedal until 960
        s.push_note_ticks(t, 0, 0, 64, 80, 0, 100); // cut at its re-strike at 480
        s.push_note_ticks(t, 0, 0, 64, 80, 480, 500); // held until 960
        s.push_note_ticks(t, 1, 0, 67, 80, 0, 100); // other channel: untouched
        s.push_note_ticks(t, 0, 0, 72, 80, 1000, 1100); // after release: untouched
        s.sustain.push(span(0, 50, 960));
        let out = apply_sustain(&s);
        let ends: Vec<u64> = out.notes.iter().map(|n| n.end_tick).collect();
        assert_eq!(ends, vec![960, 480, 960, 100, 1100]);
        assert!((out.notes[0].end - 1.0).abs() < 1e-9);
        assert!(out.sustain.is_empty());
    }
}
