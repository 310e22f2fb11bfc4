//! A beat grid in seconds, to place note times in 16th notes and bars.

/// A beat grid in seconds: annotated beat times and which beats start bars.
///
/// Outside the annotated beats the grid goes on at the first (before) or last (after) beat interval,
/// and before the first or after the last downbeat at the length in beats of the first or last
/// annotated bar, so every time maps to a 16th position and a bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Beat times in seconds, strictly increasing, at least two.
    beats: Vec<f64>,
    /// Beat indices (into the extended grid) of bar starts: sorted, distinct, at least one.
    downbeats: Vec<i64>,
}

/// Bar length in beats when the downbeats do not give one (fewer than two).
const DEFAULT_BEATS_PER_BAR: i64 = 4;

impl Grid {
    /// A grid of `beats` (seconds) with bars starting at `downbeats` (seconds, each snapped to the
    /// nearest beat, which may lie on the extended grid).
    ///
    /// `None` if there are fewer than two beats, the beats are not strictly increasing, or a time is
    /// not finite. With no downbeats, bars of 4 beats start at the first beat; with one, bars of 4
    /// beats start there.
    pub fn new(beats: Vec<f64>, downbeats: Vec<f64>) -> Option<Grid> {
        let increasing = beats.windows(2).all(|w| w[0] < w[1]);
        let finite = beats.iter().chain(&downbeats).all(|t| t.is_finite());
        if beats.len() < 2 || !increasing || !finite {
            return None;
        }
        let mut grid = Grid {
            beats,
            downbeats: vec![0],
        };
        let mut bars: Vec<i64> = downbeats
            .iter()
            .map(|&t| (grid.sixteenths(t) / 4.0).round() as i64)
            .collect();
        bars.sort_unstable();
        bars.dedup();
        if !bars.is_empty() {
            grid.downbeats = bars;
        }
        Some(grid)
    }

    /// A constant-tempo grid: `bpm` beats a minute from `first_downbeat` (seconds), a bar every
    /// `beats_per_bar` beats, annotated at least up to `until` (seconds) and for two bars.
    ///
    /// `None` if `bpm` is not positive, `beats_per_bar` is 0 or a time is not finite.
    pub fn uniform(
        bpm: f64,
        beats_per_bar: usize,
        first_downbeat: f64,
        until: f64,
    ) -> Option<Grid> {
        if !(bpm > 0.0 && bpm.is_finite()) || beats_per_bar == 0 || !until.is_finite() {
            return None;
        }
        let period = 60.0 / bpm;
        let span = ((until - first_downbeat) / period).floor().max(0.0) as usize;
        let count = span.max(beats_per_bar.saturating_mul(2)).saturating_add(1);
        let beats: Vec<f64> = (0..count)
            .map(|i| first_downbeat + i as f64 * period)
            .collect();
        let downbeats = beats.iter().copied().step_by(beats_per_bar).collect();
        Grid::new(beats, downbeats)
    }

    /// The position of time `t` (seconds) in 16th notes: 0 at the first beat, each beat split
    /// into 4 equal parts between its annotated neighbours. NaN for a NaN time.
    pub fn sixteenths(&self, t: f64) -> f64 {
        let b = &self.beats;
        let last = b.len() - 1;
        let beat = if t < b[0] {
            (t - b[0]) / (b[1] - b[0])
        } else if t >= b[last] {
            last as f64 + (t - b[last]) / (b[last] - b[last - 1])
        } else {
            let j = b.partition_point(|&x| x <= t).saturating_sub(1);
            j as f64 + (t - b[j]) / (b[j + 1] - b[j])
        };
        4.0 * beat
    }

    /// The bar holding time `t` (0 = the bar at the first downbeat, negative before it) and the
    /// position of `t` in that bar in 16th notes.
    pub fn bar_of(&self, t: f64) -> (i64, f64) {
        let beat = self.sixteenths(t) / 4.0;
        let d = &self.downbeats;
        let last = d.len() - 1;
        let (anchor, bar, len) = if beat < d[0] as f64 {
            (d[0], 0, self.first_bar_beats())
        } else if beat >= d[last] as f64 {
            (d[last], last as i64, self.last_bar_beats())
        } else {
            let j = d.partition_point(|&x| x as f64 <= beat).saturating_sub(1);
            return (j as i64, 4.0 * (beat - d[j] as f64));
        };
        let offset = beat - anchor as f64;
        let m = (offset / len as f64).floor();
        (
            bar.saturating_add(m as i64),
            4.0 * (offset - m * len as f64),
        )
    }

    /// The length of bar `bar` (numbered as by [`Grid::bar_of`]) in 16th notes.
    pub fn bar_sixteenths(&self, bar: i64) -> f64 {
        let d = &self.downbeats;
        let beats = if bar < 0 {
            self.first_bar_beats()
        } else if bar < d.len() as i64 - 1 {
            d[bar as usize + 1] - d[bar as usize]
        } else {
            self.last_bar_beats()
        };
        4.0 * beats as f64
    }

    /// Beats in the first annotated bar (the default without two downbeats).
    fn first_bar_beats(&self) -> i64 {
        match self.downbeats.as_slice() {
            [a, b, ..] => b - a,
            _ => DEFAULT_BEATS_PER_BAR,
        }
    }

    /// Beats in the last annotated bar (the default without two downbeats).
    fn last_bar_beats(&self) -> i64 {
        match self.downbeats.as_slice() {
            [.., a, b] => b - a,
            _ => DEFAULT_BEATS_PER_BAR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn rejects_short_or_unsorted_beats() {
        assert!(Grid::new(vec![], vec![]).is_none());
        assert!(Grid::new(vec![1.0], vec![]).is_none());
        assert!(Grid::new(vec![0.0, 1.0, 1.0], vec![]).is_none());
        assert!(Grid::new(vec![0.0, 2.0, 1.0], vec![]).is_none());
        assert!(Grid::new(vec![0.0, f64::NAN], vec![]).is_none());
        assert!(Grid::new(vec![0.0, 1.0], vec![f64::INFINITY]).is_none());
        assert!(Grid::new(vec![0.0, 1.0], vec![]).is_some());
    }

    #[test]
    fn non_uniform_grid_maps_within_beats() {
        let g = Grid::new(vec![0.0, 0.5, 1.5, 2.0], vec![0.0]).unwrap();
        assert!(close(g.sixteenths(1.0), 6.0));
        assert!(close(g.sixteenths(0.25), 2.0));
        assert!(close(g.sixteenths(1.5), 8.0));
    }

    #[test]
    fn grid_extends_beyond_both_ends() {
        let g = Grid::new(vec![1.0, 1.5, 2.5, 3.0], vec![1.0]).unwrap();
        // Before: the first interval (0.5 s a beat); after: the last (0.5 s a beat).
        assert!(close(g.sixteenths(0.0), -8.0));
        assert!(close(g.sixteenths(4.0), 12.0 + 8.0));
    }

    #[test]
    fn bars_follow_downbeats_and_extend() {
        // One beat a second; a 3-beat bar at 0, then a 2-beat bar at 3, last downbeat at 5.
        let beats: Vec<f64> = (0..8).map(f64::from).collect();
        let g = Grid::new(beats, vec![0.0, 3.0, 5.0]).unwrap();
        assert_eq!(g.bar_of(0.0), (0, 0.0));
        assert_eq!(g.bar_of(2.5), (0, 10.0));
        assert_eq!(g.bar_of(3.25), (1, 1.0));
        // After the last downbeat: bars of 2 beats (the last annotated bar).
        assert_eq!(g.bar_of(5.0), (2, 0.0));
        assert_eq!(g.bar_of(7.5), (3, 2.0));
        assert_eq!(g.bar_of(9.0), (4, 0.0));
        // Before the first: bars of 3 beats (the first annotated bar).
        assert_eq!(g.bar_of(-1.0), (-1, 8.0));
        assert_eq!(g.bar_sixteenths(-3), 12.0);
        assert_eq!(g.bar_sixteenths(0), 12.0);
        assert_eq!(g.bar_sixteenths(1), 8.0);
        assert_eq!(g.bar_sixteenths(9), 8.0);
    }

    #[test]
    fn downbeats_snap_to_beats_and_default_to_four() {
        let beats = vec![0.0, 1.0, 2.0];
        let g = Grid::new(beats.clone(), vec![1.1]).unwrap();
        assert_eq!(g.bar_of(1.0), (0, 0.0));
        assert_eq!(g.bar_of(5.0), (1, 0.0));
        let g = Grid::new(beats, vec![]).unwrap();
        assert_eq!(g.bar_of(4.5), (1, 2.0));
        assert_eq!(g.bar_sixteenths(0), 16.0);
    }

    #[test]
    fn uniform_grid_at_120_bpm_in_three_four() {
        let g = Grid::uniform(120.0, 3, 1.0, 1.0).unwrap();
        assert!(close(g.sixteenths(1.125), 1.0));
        assert_eq!(g.bar_of(2.5), (1, 0.0));
        assert_eq!(g.bar_of(100.0).0, 66);
        assert_eq!(g.bar_sixteenths(5), 12.0);
        assert!(Grid::uniform(0.0, 4, 0.0, 10.0).is_none());
        assert!(Grid::uniform(120.0, 0, 0.0, 10.0).is_none());
    }
}
