//! Chord annotations (POP909's `chord_midi.txt`: `start end label` per line, seconds, Harte-style
//! labels such as `C:maj`, `Ab:min/b3`, `F#:sus4(b7)`, `N` for no chord) and the share of a part's
//! sounding time that is made of chord tones.

use std::path::Path;

use crate::error::{Error, Result};

/// A labelled chord over a time span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChordSpan {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Bit `k` set if pitch class `k` (C = 0) is in the chord (bass included).
    pub pitch_classes: u16,
    /// The root's pitch class, 0–11.
    pub root: u8,
}

/// Beats in a bar of the accompaniment grid (bars of four quarter notes, as POP909 counts them).
pub const BEATS_PER_BAR: usize = 4;

/// The chord of one beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BeatChord {
    /// The root's pitch class, 0–11.
    pub root: u8,
    /// Bit `k` set if pitch class `k` (C = 0) is in the chord.
    pub pitch_classes: u16,
}

/// A chord's usual name: `C`, `Am`, `G7`, `Fmaj7`, `Dm7`, `Gsus4`, `Bdim`, `Caug`; other sets
/// as the root and their pitch classes above it, as in `C(0 4 7 9)`.
pub fn chord_name(c: &BeatChord) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
    ];
    let root = NAMES[c.root as usize % 12];
    let mut rel: Vec<u8> = (0..12u8)
        .filter(|k| c.pitch_classes & (1 << ((k + c.root) % 12)) != 0)
        .collect();
    rel.sort_unstable();
    let suffix = match rel[..] {
        [0, 4, 7] => "",
        [0, 3, 7] => "m",
        [0, 4, 7, 10] => "7",
        [0, 4, 7, 11] => "maj7",
        [0, 3, 7, 10] => "m7",
        [0, 5, 7] => "sus4",
        [0, 2, 7] => "sus2",
        [0, 3, 6] => "dim",
        [0, 4, 8] => "aug",
        _ => {
            let list: Vec<String> = rel.iter().map(u8::to_string).collect();
            return format!("{root}({})", list.join(" "));
        }
    };
    format!("{root}{suffix}")
}

/// The chords of `beats` bar by bar, `| C . G . | Am . . . |`: each bar names its first beat's
/// chord, a beat that keeps the chord before it is `.`, an unlabelled beat `N`.
pub fn chords_line(beats: &[Option<BeatChord>]) -> String {
    let mut out = String::new();
    for (i, b) in beats.iter().enumerate() {
        let bar_start = i % BEATS_PER_BAR == 0;
        if bar_start {
            out.push_str("| ");
        }
        match b {
            _ if !bar_start && beats[i - 1] == *b => out.push('.'),
            Some(c) => out.push_str(&chord_name(c)),
            None => out.push('N'),
        }
        out.push(' ');
    }
    if !beats.is_empty() {
        out.push('|');
    }
    out
}

/// The chord at the middle of each beat of `bars` (ticks; [`BEATS_PER_BAR`] beats per bar, so
/// `4 × (bars.len() − 1)` entries), `None` where no chord is labelled.
pub fn beat_chords(
    chords: &[ChordSpan],
    bars: &[u64],
    seconds: impl Fn(u64) -> f64,
) -> Vec<Option<BeatChord>> {
    let mut out = Vec::new();
    for w in bars.windows(2) {
        for k in 0..BEATS_PER_BAR as u64 {
            let tick = w[0] + (w[1] - w[0]) * (2 * k + 1) / (2 * BEATS_PER_BAR as u64);
            let t = seconds(tick);
            let i = chords.partition_point(|c| c.end <= t);
            out.push(chords.get(i).filter(|c| c.start <= t).map(|c| BeatChord {
                root: c.root,
                pitch_classes: c.pitch_classes,
            }));
        }
    }
    out
}

/// The beats' chords as spans in seconds, one per labelled beat of `bars` (ticks), merged where
/// neighbouring beats hold the same chord: the inverse of [`beat_chords`], so that a part can be
/// measured against chords that were given per beat.
pub fn beat_spans(
    beats: &[Option<BeatChord>],
    bars: &[u64],
    seconds: impl Fn(u64) -> f64,
) -> Vec<ChordSpan> {
    let mut out: Vec<ChordSpan> = Vec::new();
    let beat_ticks = bars.windows(2).flat_map(|w| {
        (0..BEATS_PER_BAR as u64).map(move |k| {
            let at = |k: u64| w[0] + (w[1] - w[0]) * k / BEATS_PER_BAR as u64;
            (at(k), at(k + 1))
        })
    });
    for ((from, to), chord) in beat_ticks.zip(beats) {
        let Some(c) = chord else { continue };
        let (start, end) = (seconds(from), seconds(to));
        match out.last_mut() {
            Some(last)
                if last.end == start
                    && (last.root, last.pitch_classes) == (c.root, c.pitch_classes) =>
            {
                last.end = end
            }
            _ => out.push(ChordSpan {
                start,
                end,
                pitch_classes: c.pitch_classes,
                root: c.root,
            }),
        }
    }
    out
}

/// Semitones above the root of a Harte degree such as `3`, `b7`, `#5`, `9`.
fn degree(d: &str) -> Option<i32> {
    let flats = d.chars().take_while(|&c| c == 'b').count() as i32;
    let sharps = d.chars().take_while(|&c| c == '#').count() as i32;
    let base = match d.trim_start_matches(['b', '#']) {
        "1" => 0,
        "2" | "9" => 2,
        "3" => 4,
        "4" | "11" => 5,
        "5" => 7,
        "6" | "13" => 9,
        "7" => 11,
        _ => return None,
    };
    Some(base + sharps - flats)
}

/// The root's pitch class (0–11) of a chord label such as `Ab:min/b3`.
pub fn chord_root(label: &str) -> Option<u8> {
    let root = label.split_once(':').map_or(label, |(r, _)| r);
    let mut chars = root.chars();
    let letter: i32 = match chars.next()? {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let pc = chars.try_fold(letter, |pc, c| match c {
        '#' => Some(pc + 1),
        'b' => Some(pc - 1),
        _ => None,
    })?;
    Some(pc.rem_euclid(12) as u8)
}

/// The pitch classes of a chord label; `None` for `N`, `X` or a label it cannot read.
pub fn chord_pitch_classes(label: &str) -> Option<u16> {
    let root_pc = chord_root(label)? as i32;
    let rest = label.split_once(':').map_or("maj", |(_, q)| q);
    let (quality, bass) = match rest.split_once('/') {
        Some((q, b)) => (q, Some(b)),
        None => (rest, None),
    };
    let (shorthand, extra) = match quality.split_once('(') {
        Some((s, e)) => (s, e.trim_end_matches(')')),
        None => (quality, ""),
    };
    let mut intervals: Vec<i32> = match shorthand {
        "maj" | "" => vec![0, 4, 7],
        "min" => vec![0, 3, 7],
        "dim" => vec![0, 3, 6],
        "aug" => vec![0, 4, 8],
        "sus2" => vec![0, 2, 7],
        "sus4" => vec![0, 5, 7],
        "7" => vec![0, 4, 7, 10],
        "maj7" => vec![0, 4, 7, 11],
        "min7" => vec![0, 3, 7, 10],
        "minmaj7" => vec![0, 3, 7, 11],
        "dim7" => vec![0, 3, 6, 9],
        "hdim7" => vec![0, 3, 6, 10],
        "maj6" => vec![0, 4, 7, 9],
        "min6" => vec![0, 3, 7, 9],
        "9" => vec![0, 4, 7, 10, 2],
        "maj9" => vec![0, 4, 7, 11, 2],
        "min9" => vec![0, 3, 7, 10, 2],
        _ => return None,
    };
    for e in extra.split(',').filter(|e| !e.is_empty()) {
        if let Some(removed) = e.strip_prefix('*') {
            let r = degree(removed)?;
            intervals.retain(|&i| i != r);
        } else {
            intervals.push(degree(e)?);
        }
    }
    if let Some(b) = bass {
        intervals.push(degree(b)?);
    }
    Some(
        intervals
            .iter()
            .fold(0u16, |m, i| m | 1 << (root_pc + i).rem_euclid(12)),
    )
}

/// Reads `chord_midi.txt`; lines with `N` or an unreadable label are left out (no chord to
/// compare with).
pub fn read_chords(path: &Path) -> Result<Vec<ChordSpan>> {
    let text = crate::input::read_text(path, "chord file")?;
    let mut chords = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        let bad = || Error::bad_file(path, format!("line {}: expected `start end chord`", i + 1));
        let [start, end, label] = cols[..] else {
            return Err(bad());
        };
        let (start, end) = (
            start.parse::<f64>().map_err(|_| bad())?,
            end.parse::<f64>().map_err(|_| bad())?,
        );
        if !(start.is_finite() && end.is_finite() && start >= 0.0 && end >= start) {
            return Err(Error::bad_file(
                path,
                format!(
                    "line {}: times must be seconds with 0 <= start <= end (got {start} {end})",
                    i + 1
                ),
            ));
        }
        if let (Some(pitch_classes), Some(root)) = (chord_pitch_classes(label), chord_root(label)) {
            chords.push(ChordSpan {
                start,
                end,
                pitch_classes,
                root,
            });
        }
    }
    Ok(chords)
}

/// Seconds of `notes` (`start`, `end` seconds, pitch) that sound over a labelled chord, and how many
/// of those are chord tones.
pub fn chord_tone_seconds(notes: &[(f64, f64, u8)], chords: &[ChordSpan]) -> (f64, f64) {
    let (mut tones, mut labelled) = (0.0, 0.0);
    for &(start, end, pitch) in notes {
        let from = chords.partition_point(|c| c.end <= start);
        for c in chords[from..].iter().take_while(|c| c.start < end) {
            let overlap = end.min(c.end) - start.max(c.start);
            if overlap > 0.0 {
                labelled += overlap;
                if c.pitch_classes & (1 << (pitch % 12)) != 0 {
                    tones += overlap;
                }
            }
        }
    }
    (tones, labelled)
}

/// The chord of each beat of `bars` from POP909's `chord_midi.txt` in `dir` (the song's).
pub fn annotated_chords(
    dir: &Path,
    score: &crate::midi::Score,
    bars: &[u64],
) -> Result<Vec<Option<BeatChord>>> {
    let spans = read_chords(&dir.join("chord_midi.txt"))?;
    Ok(beat_chords(&spans, bars, |t| score.tempo_map.seconds(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcs(label: &str) -> Vec<u8> {
        let m = chord_pitch_classes(label).unwrap();
        (0..12).filter(|k| m & (1 << k) != 0).collect()
    }

    #[test]
    fn reads_the_labels_pop909_uses() {
        assert_eq!(pcs("C:maj"), [0, 4, 7]);
        assert_eq!(pcs("A:min7"), [0, 4, 7, 9]);
        assert_eq!(pcs("Ab:min/b3"), [3, 8, 11]);
        assert_eq!(pcs("F#:sus4(b7)"), [1, 4, 6, 11]);
        assert_eq!(pcs("B:hdim7"), [2, 5, 9, 11]);
        assert_eq!(pcs("G:7/3"), [2, 5, 7, 11]);
        assert_eq!(pcs("C:maj7/7"), [0, 4, 7, 11]);
        assert_eq!(pcs("D"), [2, 6, 9]);
        assert_eq!(chord_pitch_classes("N"), None);
        assert_eq!(chord_pitch_classes("C:weird"), None);
        assert_eq!(chord_pitch_classes("H:maj"), None);
        assert_eq!(chord_root("Ab:min/b3"), Some(8));
        assert_eq!(chord_root("Cb:maj"), Some(11));
        assert_eq!(chord_root("N"), None);
        let named = |label: &str| {
            chord_name(&BeatChord {
                root: chord_root(label).unwrap(),
                pitch_classes: chord_pitch_classes(label).unwrap(),
            })
        };
        assert_eq!(named("A:min"), "Am");
        assert_eq!(named("Bb:7"), "Bb7");
        assert_eq!(named("F#:sus4"), "F#sus4");
        assert_eq!(named("C:maj6"), "C(0 4 7 9)");
        let c = chord_pitch_classes("C:maj").map(|p| BeatChord {
            root: 0,
            pitch_classes: p,
        });
        let g = chord_pitch_classes("G:maj").map(|p| BeatChord {
            root: 7,
            pitch_classes: p,
        });
        assert_eq!(
            chords_line(&[c, c, g, g, None, None, c, c]),
            "| C . G . | N . C . |"
        );
    }

    #[test]
    fn beat_spans_invert_beat_chords() {
        let c = |root: u8| {
            Some(BeatChord {
                root,
                pitch_classes: 1 << root | 1 << ((root + 4) % 12) | 1 << ((root + 7) % 12),
            })
        };
        let beats = vec![c(0), c(0), None, c(7), c(5), c(5), c(5), c(0)];
        let bars = [0u64, 960, 2400];
        let secs = |t: u64| t as f64 / 960.0;
        let spans = beat_spans(&beats, &bars, secs);
        assert_eq!(spans.len(), 4, "{spans:?}");
        assert_eq!((spans[0].start, spans[0].end), (0.0, 0.5));
        assert_eq!(
            (spans[2].start, spans[2].end),
            (1.0, 1.0 + 360.0 * 3.0 / 960.0)
        );
        assert_eq!(beat_chords(&spans, &bars, secs), beats);
    }

    #[test]
    fn chord_tone_time_counts_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chord_midi.txt");
        std::fs::write(&path, "0.0\t1.0\tN\n1.0\t2.0\tC:maj\n2.0\t3.0\tG:maj\n").unwrap();
        let chords = read_chords(&path).unwrap();
        assert_eq!(chords.len(), 2);
        assert_eq!((chords[0].root, chords[1].root), (0, 7));
        // Two bars of 4 s at 100 ticks a second: beat middles at 0.5, 1.5, … 7.5 s.
        let beats = beat_chords(&chords, &[0, 400, 800], |t| t as f64 / 100.0);
        assert_eq!(beats.len(), 8);
        let roots: Vec<Option<u8>> = beats.iter().map(|b| b.map(|c| c.root)).collect();
        assert_eq!(roots[..4], [None, Some(0), Some(7), None]);
        assert_eq!(beats[1].unwrap().pitch_classes, 0b1001_0001);
        // E (64) from 0.5 to 2.5: 0.5 s unlabelled, 1 s a C-chord tone, 0.5 s not in G.
        let (tones, labelled) = chord_tone_seconds(&[(0.5, 2.5, 64)], &chords);
        assert!((tones - 1.0).abs() < 1e-9 && (labelled - 1.5).abs() < 1e-9);
        std::fs::write(&path, "0.0 1.0\n").unwrap();
        assert!(read_chords(&path)
            .unwrap_err()
            .to_string()
            .contains("line 1"));
    }
}
