//! The beat a session plays on: a tempo and where the first bar starts. Given (`--bpm`) or estimated
//! from the first phrase's onsets, taking the player's first note as the first downbeat.

/// A beat grid: beats every `60 / bpm` seconds from `origin`, four to the bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beat {
    /// Beats per minute.
    pub bpm: f64,
    /// Session seconds of the first downbeat.
    pub origin: f64,
}

/// Beats per bar (the model's bars are 4/4).
pub const BEATS_PER_BAR: f64 = 4.0;

/// Tempi the estimate chooses from.
pub const BPM_RANGE: std::ops::RangeInclusive<f64> = 60.0..=180.0;

/// Onsets needed before a tempo is estimated.
pub const MIN_ONSETS: usize = 4;

impl Beat {
    /// Seconds per beat.
    pub fn beat_seconds(&self) -> f64 {
        60.0 / self.bpm
    }

    /// Seconds per bar.
    pub fn bar_seconds(&self) -> f64 {
        self.beat_seconds() * BEATS_PER_BAR
    }

    /// The first beat at or after `t` (the origin if `t` is before it).
    pub fn next_beat(&self, t: f64) -> f64 {
        let k = ((t - self.origin) / self.beat_seconds() - 1e-9)
            .ceil()
            .max(0.0);
        self.origin + k * self.beat_seconds()
    }
}

/// How well a grid of `bpm` from `origin` explains `onsets`: the mean over onsets of a Gaussian of
/// their distance to the nearest eighth note (σ 40 ms, typical human timing), minus a prior for
/// tempi far from 100 BPM. A tempo and its double fit a phrase on the tempo's eighths equally well
/// (the double's eighths hold them all); the prior chooses the one nearer 100 BPM, which is right
/// for played tempi from about 71 to 141 BPM: outside that, give the tempo.
fn fit(onsets: &[f64], origin: f64, bpm: f64) -> f64 {
    const SIGMA: f64 = 0.04;
    let eighth = 30.0 / bpm;
    let sum: f64 = onsets
        .iter()
        .map(|&t| {
            let x = (t - origin) / eighth;
            let d = (x - x.round()).abs() * eighth;
            (-(d * d) / (2.0 * SIGMA * SIGMA)).exp()
        })
        .sum();
    sum / onsets.len() as f64 - 0.1 * (bpm / 100.0).log2().powi(2)
}

/// The tempo (60–180 BPM, half-BPM steps) that best puts `onsets` (seconds, sorted) on beats and
/// eighths, with the first onset as the first downbeat; `None` with fewer than [`MIN_ONSETS`].
/// Returns the beat and its fit (the mean weight, 1.0 for onsets exactly on beats).
pub fn estimate(onsets: &[f64]) -> Option<(Beat, f64)> {
    if onsets.len() < MIN_ONSETS {
        return None;
    }
    let origin = onsets[0];
    let (lo, hi) = (*BPM_RANGE.start(), *BPM_RANGE.end());
    let steps = ((hi - lo) * 2.0) as usize;
    let (bpm, score) = (0..=steps)
        .map(|i| lo + i as f64 * 0.5)
        .map(|bpm| (bpm, fit(onsets, origin, bpm)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((Beat { bpm, origin }, score))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Onsets of a phrase in quarters and eighths at `bpm`, with a deterministic ±`jitter` s wobble.
    fn phrase(bpm: f64, jitter: f64) -> Vec<f64> {
        let eighths = [0, 2, 3, 4, 6, 8, 10, 11, 12, 14, 16, 17, 18, 20, 24, 26, 28];
        eighths
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let wobble = jitter * ((i as f64 * 2.39).sin());
                1.0 + e as f64 * 30.0 / bpm + wobble
            })
            .collect()
    }

    #[test]
    fn the_tempo_of_a_played_phrase_is_found() {
        for bpm in [72.0, 90.0, 100.0, 120.0, 140.0] {
            let (beat, fit) = estimate(&phrase(bpm, 0.02)).unwrap();
            assert!((beat.bpm - bpm).abs() / bpm < 0.02, "{bpm}: {beat:?}");
            assert!(fit > 0.5, "{fit}");
            assert!((beat.origin - 1.0).abs() < 0.03);
        }
    }

    #[test]
    fn too_few_onsets_give_no_tempo() {
        assert_eq!(estimate(&[0.0, 0.5, 1.0]), None);
    }

    #[test]
    fn beats_and_bars() {
        let b = Beat {
            bpm: 120.0,
            origin: 1.0,
        };
        assert_eq!(b.bar_seconds(), 2.0);
        assert_eq!(b.next_beat(1.0), 1.0);
        assert_eq!(b.next_beat(1.2), 1.5);
        assert_eq!(b.next_beat(0.0), 1.0);
    }
}
