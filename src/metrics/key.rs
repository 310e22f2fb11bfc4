//! Key finding with the Krumhansl–Kessler (1982) key profiles.

use serde::Serialize;

use super::Note;

/// Krumhansl–Kessler probe-tone ratings for a major key, from the tonic up by semitones.
pub const MAJOR_PROFILE: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
/// Krumhansl–Kessler probe-tone ratings for a minor key, from the tonic up by semitones.
pub const MINOR_PROFILE: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// Pitch-class names, 0 = C, with the usual key-signature spellings.
const NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// A major or minor key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Key {
    /// The tonic's pitch class, 0 = C … 11 = B.
    pub tonic: u8,
    /// Minor (true) or major (false).
    pub minor: bool,
}

impl Key {
    /// The key's name, like "A minor" or "Eb major".
    pub fn name(&self) -> String {
        let mode = if self.minor { "minor" } else { "major" };
        format!("{} {mode}", NAMES[usize::from(self.tonic % 12)])
    }

    /// The pitch classes (0 = C) that belong to the key: the major scale, or for a minor key the
    /// natural minor scale with the harmonic minor's raised seventh (the leading tone).
    pub fn scale(&self) -> [bool; 12] {
        let steps: &[u8] = if self.minor {
            &[0, 2, 3, 5, 7, 8, 10, 11]
        } else {
            &[0, 2, 4, 5, 7, 9, 11]
        };
        let mut scale = [false; 12];
        for s in steps {
            scale[usize::from((self.tonic + s) % 12)] = true;
        }
        scale
    }
}

/// How two keys relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KeyRelation {
    /// The same key.
    Same,
    /// A major key and the minor key a minor third below (same key signature): C major ↔ A minor.
    Relative,
    /// Major and minor keys on one tonic: C major ↔ C minor.
    Parallel,
    /// Any other pair.
    Other,
}

/// How keys `a` and `b` relate (symmetric).
pub fn key_relation(a: Key, b: Key) -> KeyRelation {
    let (ta, tb) = (a.tonic % 12, b.tonic % 12);
    match (a.minor, b.minor) {
        _ if a == b => KeyRelation::Same,
        (x, y) if x == y => KeyRelation::Other,
        _ if ta == tb => KeyRelation::Parallel,
        (false, true) if (ta + 9) % 12 == tb => KeyRelation::Relative,
        (true, false) if (tb + 9) % 12 == ta => KeyRelation::Relative,
        _ => KeyRelation::Other,
    }
}

/// The Krumhansl–Kessler key of `notes`: the duration-weighted pitch-class histogram is
/// correlated (Pearson) with the 24 major and minor profiles rotated to each tonic, and the best
/// key wins (ties go to the first of C major, C minor, C# major, …).
///
/// Notes are weighted by `end - start` (negative lengths count 0); if all lengths are 0, each note
/// counts 1. `None` when there are no notes.
pub fn find_key(notes: &[Note]) -> Option<Key> {
    if notes.is_empty() {
        return None;
    }
    let hist = histogram(notes);
    let mut best = (
        Key {
            tonic: 0,
            minor: false,
        },
        f64::NEG_INFINITY,
    );
    for key in (0..12u8).flat_map(|tonic| [false, true].map(|minor| Key { tonic, minor })) {
        let r = correlation(&hist, &rotated(key));
        if r > best.1 {
            best = (key, r);
        }
    }
    Some(best.0)
}

/// The duration-weighted pitch-class histogram (note counts if no note has length).
fn histogram(notes: &[Note]) -> [f64; 12] {
    let mut hist = [0.0; 12];
    for n in notes {
        let len = n.end - n.start;
        hist[usize::from(n.pitch % 12)] += if len > 0.0 { len } else { 0.0 };
    }
    if hist.iter().sum::<f64>() <= 0.0 || !hist.iter().all(|h| h.is_finite()) {
        hist = [0.0; 12];
        for n in notes {
            hist[usize::from(n.pitch % 12)] += 1.0;
        }
    }
    hist
}

/// The profile of `key`, indexed by pitch class.
fn rotated(key: Key) -> [f64; 12] {
    let profile = if key.minor {
        &MINOR_PROFILE
    } else {
        &MAJOR_PROFILE
    };
    std::array::from_fn(|pc| profile[(pc + 12 - usize::from(key.tonic % 12)) % 12])
}

/// Pearson's correlation of `x` and `y`; 0 when either is constant.
fn correlation(x: &[f64; 12], y: &[f64; 12]) -> f64 {
    let (mx, my) = (x.iter().sum::<f64>() / 12.0, y.iter().sum::<f64>() / 12.0);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let denom = (sxx * syy).sqrt();
    if denom > 0.0 {
        sxy / denom
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consecutive notes from time 0, as (pitch, seconds).
    fn melody(notes: &[(u8, f64)]) -> Vec<Note> {
        let mut t = 0.0;
        let mut out = Vec::new();
        for &(pitch, len) in notes {
            out.push(Note {
                pitch,
                start: t,
                end: t + len,
                velocity: 80,
            });
            t += len;
        }
        out
    }

    const C_MAJOR: Key = Key {
        tonic: 0,
        minor: false,
    };
    const A_MINOR: Key = Key {
        tonic: 9,
        minor: true,
    };

    #[test]
    fn scales_hold_the_diatonic_notes() {
        let pcs = |k: Key| (0..12).filter(|&p| k.scale()[p]).collect::<Vec<_>>();
        assert_eq!(pcs(C_MAJOR), [0, 2, 4, 5, 7, 9, 11]);
        // A natural minor and the leading tone G#.
        assert_eq!(pcs(A_MINOR), [0, 2, 4, 5, 7, 8, 9, 11]);
        let e_flat = Key {
            tonic: 3,
            minor: false,
        };
        assert_eq!(pcs(e_flat), [0, 2, 3, 5, 7, 8, 10]);
    }

    #[test]
    fn c_major_scale_is_c_major() {
        let scale: Vec<(u8, f64)> = [60, 62, 64, 65, 67, 69, 71, 72].map(|p| (p, 0.5)).to_vec();
        assert_eq!(find_key(&melody(&scale)), Some(C_MAJOR));
    }

    #[test]
    fn a_minor_melody_is_a_minor() {
        let tune = [
            (57, 1.0),
            (59, 0.5),
            (60, 0.5),
            (62, 0.5),
            (64, 1.0),
            (65, 0.5),
            (64, 0.5),
            (62, 0.5),
            (60, 0.5),
            (59, 0.5),
            (57, 2.0),
        ];
        let key = find_key(&melody(&tune)).unwrap();
        assert_eq!(key, A_MINOR);
        assert_eq!(key.name(), "A minor");
        assert_eq!(key_relation(C_MAJOR, key), KeyRelation::Relative);
    }

    #[test]
    fn transposed_melody_moves_the_key() {
        let scale: Vec<(u8, f64)> = [62, 64, 66, 67, 69, 71, 73, 74].map(|p| (p, 0.5)).to_vec();
        let key = find_key(&melody(&scale)).unwrap();
        assert_eq!(
            key,
            Key {
                tonic: 2,
                minor: false
            }
        );
        assert_eq!(key.name(), "D major");
    }

    #[test]
    fn no_notes_no_key_and_zero_lengths_count_notes() {
        assert_eq!(find_key(&[]), None);
        let zero: Vec<Note> = [60, 64, 67, 60]
            .map(|pitch| Note {
                pitch,
                start: 1.0,
                end: 1.0,
                velocity: 80,
            })
            .to_vec();
        assert_eq!(find_key(&zero), Some(C_MAJOR));
    }

    #[test]
    fn key_relations() {
        let key = |tonic, minor| Key { tonic, minor };
        assert_eq!(key_relation(C_MAJOR, C_MAJOR), KeyRelation::Same);
        assert_eq!(key_relation(C_MAJOR, A_MINOR), KeyRelation::Relative);
        assert_eq!(key_relation(A_MINOR, C_MAJOR), KeyRelation::Relative);
        assert_eq!(
            key_relation(key(3, false), key(0, true)),
            KeyRelation::Relative
        );
        assert_eq!(key_relation(C_MAJOR, key(0, true)), KeyRelation::Parallel);
        assert_eq!(key_relation(C_MAJOR, key(7, false)), KeyRelation::Other);
        assert_eq!(key_relation(C_MAJOR, key(4, true)), KeyRelation::Other);
        assert_eq!(key(10, false).name(), "Bb major");
    }
}
