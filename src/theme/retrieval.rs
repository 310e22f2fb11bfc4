//! Theme retrieval: the melody (the MELODY track, else the top voice) is cut into 2-bar segments at
//! every bar, each segment becomes a transposition-invariant picture of its contour and rhythm, the
//! segments are clustered DBSCAN-style, and the largest cluster is the theme: its first occurrence is
//! the theme, and all its occurrences are the theme regions.

use crate::error::{Error, Result};
use crate::midi::{bar_starts, bars_from_downbeats, Score, TrackRole};

/// Sixteenth-note slots in a segment (2 bars of 4/4; other metres are scaled to the same grid).
pub const SLOTS: usize = 32;
/// Bars per segment.
pub const SEGMENT_BARS: usize = 2;

/// Settings of the retrieval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Largest distance (0–1) between two segments of one cluster.
    pub eps: f64,
    /// Segments (the point included) within `eps` for a segment to seed a cluster.
    pub min_points: usize,
    /// Segments with fewer melody onsets are not candidates.
    pub min_onsets: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            eps: 0.2,
            min_points: 3,
            min_onsets: 5,
        }
    }
}

/// A melody note in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MelodyNote {
    /// Key.
    pub pitch: u8,
    /// Velocity.
    pub velocity: u8,
    /// Onset tick.
    pub start: u64,
    /// Release tick.
    pub end: u64,
}

/// The melody of a score and where it came from.
pub fn melody(score: &Score) -> (Vec<MelodyNote>, &'static str) {
    // The pitched notes that `keep` accepts, as melody notes.
    let pitched = |keep: &dyn Fn(&crate::midi::Note) -> bool| -> Vec<MelodyNote> {
        score
            .notes
            .iter()
            .filter(|n| !n.is_drum() && keep(n))
            .map(|n| MelodyNote {
                pitch: n.pitch,
                velocity: n.velocity,
                start: n.start_tick,
                end: n.end_tick,
            })
            .collect()
    };
    let from_track =
        pitched(&|n| score.tracks.get(n.track).map(|t| t.role) == Some(TrackRole::Melody));
    if !from_track.is_empty() {
        return (monophonic(from_track), "the MELODY track");
    }
    (monophonic(pitched(&|_| true)), "the top voice")
}

/// The skyline: at each onset the highest note; each note ends where the next begins.
pub fn monophonic(mut notes: Vec<MelodyNote>) -> Vec<MelodyNote> {
    notes.sort_by_key(|n| (n.start, std::cmp::Reverse(n.pitch)));
    notes.dedup_by_key(|n| n.start);
    for i in 1..notes.len() {
        let next = notes[i].start;
        notes[i - 1].end = notes[i - 1].end.min(next).max(notes[i - 1].start + 1);
    }
    notes
}

/// One slot of a segment's picture: the sounding pitch relative to the segment's mean, and whether a
/// note starts there.
type Slot = Option<(i16, bool)>;

/// A 2-bar melody segment as [`SLOTS`] slots.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// First bar (0-based).
    pub bar: usize,
    /// The picture.
    pub slots: Vec<Slot>,
    /// Melody onsets inside.
    pub onsets: usize,
}

/// The 2-bar segments starting at every bar of `melody`.
pub fn segments(melody: &[MelodyNote], bars: &[u64]) -> Vec<Segment> {
    (0..bars.len().saturating_sub(SEGMENT_BARS))
        .map(|b| segment(melody, bars[b], bars[b + SEGMENT_BARS], b))
        .collect()
}

fn segment(melody: &[MelodyNote], from: u64, to: u64, bar: usize) -> Segment {
    let inside: Vec<&MelodyNote> = melody
        .iter()
        .filter(|n| n.end > from && n.start < to)
        .collect();
    let mean = if inside.is_empty() {
        0.0
    } else {
        inside.iter().map(|n| n.pitch as f64).sum::<f64>() / inside.len() as f64
    };
    let slot_len = (to - from) as f64 / SLOTS as f64;
    let slots = (0..SLOTS)
        .map(|s| {
            let (a, b) = (
                from as f64 + s as f64 * slot_len,
                from as f64 + (s + 1) as f64 * slot_len,
            );
            let mid = (a + b) / 2.0;
            inside
                .iter()
                .find(|n| {
                    (n.start as f64) <= mid && (n.end as f64) > mid
                        || (n.start as f64 >= a && (n.start as f64) < b)
                })
                .map(|n| {
                    let onset = n.start as f64 >= a && (n.start as f64) < b;
                    ((n.pitch as f64 - mean).round() as i16, onset)
                })
        })
        .collect();
    let onsets = inside.iter().filter(|n| n.start >= from).count();
    Segment { bar, slots, onsets }
}

/// Distance 0–1 between two segments, over the slots where either sounds: 1 if only one sounds; if
/// both do, ¾ · min(|Δpitch|, 3)/3 plus ¼ if only one has an onset there. Transposing a segment leaves
/// its picture unchanged, so transposed repeats are at distance 0.
pub fn distance(a: &Segment, b: &Segment) -> f64 {
    let (mut cost, mut counted) = (0.0, 0usize);
    for (x, y) in a.slots.iter().zip(&b.slots) {
        cost += match (x, y) {
            (None, None) => continue,
            (Some((p, on)), Some((q, on2))) => {
                0.75 * ((p - q).abs().min(3) as f64 / 3.0) + if on != on2 { 0.25 } else { 0.0 }
            }
            _ => 1.0,
        };
        counted += 1;
    }
    if counted == 0 {
        0.0
    } else {
        cost / counted as f64
    }
}

/// DBSCAN over segments; neighbours exclude overlapping segments (closer than [`SEGMENT_BARS`] bars).
/// Returns the cluster of each segment (`None` = noise).
pub fn cluster(segs: &[Segment], s: &Settings) -> Vec<Option<usize>> {
    let n = segs.len();
    let candidate: Vec<bool> = segs.iter().map(|g| g.onsets >= s.min_onsets).collect();
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    candidate[i]
                        && candidate[j]
                        && (i == j || i.abs_diff(j) >= SEGMENT_BARS)
                        && distance(&segs[i], &segs[j]) <= s.eps
                })
                .collect()
        })
        .collect();
    let core: Vec<bool> = neighbours
        .iter()
        .map(|nb| nb.len() >= s.min_points)
        .collect();
    let mut label = vec![None; n];
    let mut next = 0;
    for i in 0..n {
        if !core[i] || label[i].is_some() {
            continue;
        }
        let mut stack = vec![i];
        label[i] = Some(next);
        while let Some(p) = stack.pop() {
            if !core[p] {
                continue;
            }
            for &q in &neighbours[p] {
                if label[q].is_none() {
                    label[q] = Some(next);
                    stack.push(q);
                }
            }
        }
        next += 1;
    }
    label
}

/// The result of a retrieval.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// First bar of the theme (its first occurrence), 0-based.
    pub bar: usize,
    /// Theme regions as bar ranges `[first, end)`: every occurrence, overlapping ones merged.
    pub regions: Vec<(usize, usize)>,
    /// Number of occurrences (segments in the cluster).
    pub occurrences: usize,
    /// Bar start ticks of the song.
    pub bars: Vec<u64>,
    /// Where the melody came from.
    pub melody_source: &'static str,
}

/// Finds the theme of `score`, or says why there is none. `downbeats` (seconds), when known, give the
/// bars; otherwise the time signatures do.
pub fn find_theme(score: &Score, downbeats: Option<&[f64]>, settings: &Settings) -> Result<Theme> {
    let (mel, source) = melody(score);
    if mel.is_empty() {
        return Err(Error::Invalid(
            "no melody: the file has no pitched notes".into(),
        ));
    }
    let end = mel.iter().map(|n| n.end).max().unwrap_or(0);
    let bars = match downbeats {
        Some(d) => bars_from_downbeats(score, d, end),
        None => bar_starts(score, end),
    };
    let segs = segments(&mel, &bars);
    let labels = cluster(&segs, settings);
    let clusters = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let best = (0..clusters).max_by_key(|&c| {
        let members: Vec<usize> = (0..segs.len()).filter(|&i| labels[i] == Some(c)).collect();
        // Most occurrences; ties go to the earlier cluster.
        (members.len(), std::cmp::Reverse(members[0]))
    });
    let Some(best) = best else {
        return Err(Error::Invalid(format!(
            "no theme found: no 2-bar melody segment recurs {} times ({} segments from {source})",
            settings.min_points,
            segs.len()
        )));
    };
    let members: Vec<usize> = (0..segs.len())
        .filter(|&i| labels[i] == Some(best))
        .collect();
    let mut regions: Vec<(usize, usize)> = Vec::new();
    for &m in &members {
        let (a, b) = (segs[m].bar, segs[m].bar + SEGMENT_BARS);
        match regions.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => regions.push((a, b)),
        }
    }
    Ok(Theme {
        bar: segs[members[0]].bar,
        regions,
        occurrences: members.len(),
        bars,
        melody_source: source,
    })
}

impl Theme {
    /// The theme's melody as a score of its own (one MELODY track from tick 0, the song's tempo there).
    pub fn to_score(&self, song: &Score) -> Result<Score> {
        let (mel, _) = melody(song);
        let (from, to) = (self.bars[self.bar], self.bars[self.bar + SEGMENT_BARS]);
        let us = (60e6 / song.tempo_map.bpm(from)).round() as u32;
        let mut out = Score::new(song.ppq(), us)?;
        // The signature in force (4/4 for none, or for a placeholder like POP909's 1/4).
        let sig = song
            .time_signatures
            .iter()
            .rfind(|t| t.tick <= from)
            .filter(|t| t.numerator as u64 * 4 / t.denominator.max(1) as u64 >= 2)
            .map_or((4, 4), |t| (t.numerator, t.denominator));
        out.time_signatures = vec![crate::midi::TimeSignature {
            tick: 0,
            numerator: sig.0,
            denominator: sig.1,
        }];
        let t = out.add_track("MELODY", TrackRole::Melody);
        for n in mel.iter().filter(|n| n.start >= from && n.start < to) {
            out.push_note_ticks(
                t,
                0,
                0,
                n.pitch,
                n.velocity,
                n.start - from,
                n.end.min(to) - from,
            );
        }
        out.sort();
        Ok(out)
    }

    /// "bars 9–10, 25–28" (1-based, as musicians count).
    pub fn describe_regions(&self) -> String {
        self.regions
            .iter()
            .map(|(a, b)| format!("{}–{}", a + 1, b))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::melody_bars as song;

    const A1: &[(u8, u64, u64)] = &[(60, 0, 4), (62, 4, 4), (64, 8, 4), (67, 12, 4)];
    const A2: &[(u8, u64, u64)] = &[(65, 0, 6), (64, 6, 2), (62, 8, 8)];
    const B1: &[(u8, u64, u64)] = &[(70, 0, 2), (69, 2, 2), (67, 4, 12)];
    const B2: &[(u8, u64, u64)] = &[(72, 0, 16)];
    const C1: &[(u8, u64, u64)] = &[(55, 0, 8), (57, 8, 8)];

    fn up(bar: &[(u8, u64, u64)], k: u8) -> Vec<(u8, u64, u64)> {
        bar.iter().map(|&(p, a, l)| (p + k, a, l)).collect()
    }

    #[test]
    fn a_transposed_repeat_is_at_distance_zero() {
        let a5 = up(A1, 5);
        let a5b = up(A2, 5);
        let s = song(&[A1, A2, &a5, &a5b]);
        let (mel, src) = melody(&s);
        assert_eq!(src, "the MELODY track");
        let segs = segments(&mel, &bar_starts(&s, 4 * 1920));
        assert_eq!(segs.len(), 3);
        assert_eq!(distance(&segs[0], &segs[2]), 0.0);
        assert!(distance(&segs[0], &segs[1]) > 0.3);
    }

    #[test]
    fn the_most_repeated_segment_is_the_theme() {
        // A A' B C A B A: "A1 A2" occurs three times (once transposed), "B1 B2" twice.
        let (a1t, a2t) = (up(A1, 2), up(A2, 2));
        let bars: Vec<&[(u8, u64, u64)]> = vec![
            A1, A2, B1, B2, C1, C1, A1, A2, &a1t, &a2t, B1, B2, C1, C1, A1, A2,
        ];
        let s = song(&bars);
        let t = find_theme(&s, None, &Settings::default()).unwrap();
        assert_eq!(t.bar, 0);
        assert_eq!(t.occurrences, 4);
        assert_eq!(t.regions, [(0, 2), (6, 10), (14, 16)]);
        assert_eq!(t.describe_regions(), "1–2, 7–10, 15–16");
        let theme = t.to_score(&s).unwrap();
        assert_eq!(theme.notes.len(), A1.len() + A2.len());
        assert_eq!(theme.notes[0].start_tick, 0);
        assert_eq!(theme.tracks[0].role, TrackRole::Melody);
    }

    #[test]
    fn no_repetition_means_no_theme() {
        let s = song(&[A1, A2, B1, B2, C1]);
        let err = find_theme(&s, None, &Settings::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no theme found"), "{err}");
        let empty = Score::new(480, 500_000).unwrap();
        assert!(find_theme(&empty, None, &Settings::default())
            .unwrap_err()
            .to_string()
            .contains("no melody"));
    }

    #[test]
    fn top_voice_when_there_is_no_melody_track() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("piano", TrackRole::Other);
        s.push_note_ticks(t, 0, 0, 60, 80, 0, 480);
        s.push_note_ticks(t, 0, 0, 72, 80, 0, 960);
        s.push_note_ticks(t, 0, 0, 67, 80, 480, 960);
        let (mel, src) = melody(&s);
        assert_eq!(src, "the top voice");
        assert_eq!(
            mel.iter()
                .map(|n| (n.pitch, n.start, n.end))
                .collect::<Vec<_>>(),
            [(72, 0, 480), (67, 480, 960)]
        );
    }
}
