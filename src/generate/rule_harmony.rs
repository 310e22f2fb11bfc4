//! A rule-based four-part harmonizer, the baseline the voice filler is measured against: the key
//! from the soprano (Krumhansl–Kessler), one diatonic triad per beat containing the soprano's note
//! chosen by a Viterbi pass over chord preferences and common progressions (ending on the tonic),
//! and each beat voiced by the alto, tenor and bass chord tones closest to the previous beat's,
//! inside textbook ranges, in SATB order, with the third present and no parallel fifths or octaves
//! where another voicing avoids them.

use crate::error::{Error, Result};
use crate::metrics::voice_leading::{parallels, RANGES};
use crate::metrics::{find_key, Key, Note};
use crate::tokens::Chorale;

const VOICES: usize = 4;
/// Steps per beat.
const BEAT: usize = 4;

/// A diatonic triad: its scale degree (0–6) and pitch classes (root, third, fifth).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Triad {
    degree: usize,
    tones: [u8; 3],
}

/// The seven triads of `key` (harmonic minor: a major V and a diminished vii°).
fn triads(key: Key) -> Vec<Triad> {
    let scale: [u8; 7] = if key.minor {
        [0, 2, 3, 5, 7, 8, 11]
    } else {
        [0, 2, 4, 5, 7, 9, 11]
    };
    (0..7)
        .map(|d| Triad {
            degree: d,
            tones: [0, 2, 4].map(|k| (key.tonic + scale[(d + k) % 7]) % 12),
        })
        .collect()
}

/// Cost of a degree by itself: tonic, dominant and subdominant first.
const DEGREE_COST: [f64; 7] = [0.0, 0.6, 1.0, 0.3, 0.2, 0.6, 1.2];

/// Cost of going from one degree to the next: the usual progressions are free.
fn transition_cost(from: usize, to: usize) -> f64 {
    match (from, to) {
        (4, 0) | (3, 4) | (1, 4) | (0, _) | (5, 1) | (5, 3) | (3, 0) | (6, 0) => 0.0,
        (a, b) if a == b => 0.4,
        (4, 5) => 0.2,
        _ => 0.8,
    }
}

/// The soprano's pitch at the start of each beat (the first sounding one in the beat), if any.
fn beat_melody(steps: &[[i16; VOICES]]) -> Vec<Option<i16>> {
    steps
        .chunks(BEAT)
        .map(|b| b.iter().map(|s| s[0]).find(|&p| p >= 0))
        .collect()
}

/// One triad per beat (`None` for silent beats) by Viterbi over the triads holding each beat's note.
fn choose_chords(melody: &[Option<i16>], key: Key) -> Vec<Option<Triad>> {
    let all = triads(key);
    let options: Vec<Vec<Triad>> = melody
        .iter()
        .map(|m| match m {
            Some(p) => {
                let pc = (p % 12) as u8;
                let fit: Vec<Triad> = all
                    .iter()
                    .copied()
                    .filter(|t| t.tones.contains(&pc))
                    .collect();
                if fit.is_empty() {
                    vec![all[0]]
                } else {
                    fit
                }
            }
            None => Vec::new(),
        })
        .collect();
    // cost[i][k]: best cost ending with option k at beat i; back[i][k]: the option before.
    let mut cost: Vec<Vec<f64>> = Vec::new();
    let mut back: Vec<Vec<Option<(usize, usize)>>> = Vec::new();
    let mut last: Option<usize> = None; // the previous beat with options
    for (i, opts) in options.iter().enumerate() {
        let end = i + 1 == options.len() || options[i + 1..].iter().all(Vec::is_empty);
        let mut c = Vec::new();
        let mut b = Vec::new();
        for t in opts {
            let own = DEGREE_COST[t.degree] + if end && t.degree != 0 { 2.0 } else { 0.0 };
            let best = last.and_then(|j| {
                (0..options[j].len())
                    .map(|k| {
                        (
                            cost[j][k] + transition_cost(options[j][k].degree, t.degree),
                            k,
                        )
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(v, k)| (v, (j, k)))
            });
            c.push(own + best.map_or(0.0, |x| x.0));
            b.push(best.map(|x| x.1));
        }
        cost.push(c);
        back.push(b);
        if !opts.is_empty() {
            last = Some(i);
        }
    }
    let mut out = vec![None; options.len()];
    let mut at = last.and_then(|j| {
        (0..options[j].len())
            .min_by(|&a, &b| cost[j][a].total_cmp(&cost[j][b]))
            .map(|k| (j, k))
    });
    while let Some((j, k)) = at {
        out[j] = Some(options[j][k]);
        at = back[j][k];
    }
    out
}

/// Pitches of pitch classes `tones` within `range`.
fn candidates(tones: &[u8], range: (i16, i16)) -> Vec<i16> {
    (range.0..=range.1)
        .filter(|p| tones.contains(&((p % 12) as u8)))
        .collect()
}

/// The alto, tenor and bass for a beat with soprano `s` on `triad`, closest to `prev`.
fn voice(s: i16, triad: Triad, prev: Option<[i16; VOICES]>) -> [i16; VOICES] {
    let tones = triad.tones;
    let mut best = (f64::MAX, [s, -1, -1, -1]);
    for &b in &candidates(&tones, RANGES[3]) {
        for &t in candidates(&tones, RANGES[2])
            .iter()
            .filter(|&&t| t >= b && t <= s)
        {
            for &a in candidates(&tones, RANGES[1])
                .iter()
                .filter(|&&a| a >= t && a <= s)
            {
                let v = [s, a, t, b];
                let c = voicing_cost(v, tones, prev);
                if c < best.0 {
                    best = (c, v);
                }
            }
        }
    }
    best.1
}

fn voicing_cost(v: [i16; VOICES], tones: [u8; 3], prev: Option<[i16; VOICES]>) -> f64 {
    let pcs: Vec<u8> = v.iter().map(|p| (p % 12) as u8).collect();
    let mut c = 0.0;
    if !pcs.contains(&tones[1]) {
        c += 4.0; // no third
    }
    if pcs[3] != tones[0] {
        c += 5.0; // not in root position
    }
    if v[0] - v[1] > 12 || v[1] - v[2] > 12 {
        c += 3.0; // spacing
    }
    if let Some(p) = prev.filter(|p| p.iter().all(|&x| x >= 0)) {
        c += f64::from((v[1] - p[1]).abs() + (v[2] - p[2]).abs())
            + 0.5 * f64::from((v[3] - p[3]).abs());
        c += 6.0 * parallels(&p, &v) as f64;
    }
    c
}

/// The soprano of `given` with alto, tenor and bass written by the rules (steps where the soprano
/// rests for a whole beat are silent).
pub fn harmonize(given: &Chorale) -> Result<Chorale> {
    let soprano: Vec<Note> = given
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s[0] >= 0)
        .map(|(t, s)| Note {
            pitch: s[0] as u8,
            start: t as f64,
            end: t as f64 + 1.0,
            velocity: 80,
        })
        .collect();
    let key = find_key(&soprano)
        .ok_or_else(|| Error::Invalid("the soprano has no notes to harmonize".into()))?;
    let melody = beat_melody(&given.steps);
    let chords = choose_chords(&melody, key);
    let mut out = given.clone();
    for step in &mut out.steps {
        step[1..].fill(-1);
    }
    let mut prev: Option<[i16; VOICES]> = None;
    for (beat, (chord, m)) in chords.iter().zip(&melody).enumerate() {
        let (Some(triad), Some(s)) = (chord, m) else {
            continue;
        };
        let v = voice(*s, *triad, prev);
        for step in out.steps.iter_mut().skip(beat * BEAT).take(BEAT) {
            step[1..].copy_from_slice(&v[1..]);
        }
        prev = Some(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::voice_leading::measure;

    /// A C major tune in quarter notes: C D E F G F E D C.
    fn tune() -> Chorale {
        let pitches = [72i16, 74, 76, 77, 79, 77, 76, 74, 72];
        Chorale {
            steps: pitches
                .iter()
                .flat_map(|&p| std::iter::repeat_n([p, -1, -1, -1], BEAT))
                .collect(),
        }
    }

    #[test]
    fn writes_chord_tones_in_range_in_order_and_ends_on_the_tonic() {
        let given = tune();
        let out = harmonize(&given).unwrap();
        for (o, g) in out.steps.iter().zip(&given.steps) {
            assert_eq!(o[0], g[0]);
            assert!(o[1..].iter().all(|&p| p >= 0));
            assert!(o[0] >= o[1] && o[1] >= o[2] && o[2] >= o[3]);
        }
        let m = measure(&out.steps, &out.steps, &[1, 2, 3]);
        assert_eq!(m.out_of_range, 0);
        assert_eq!(m.parallels, 0, "{:?}", out.steps);
        let last = out.steps.last().unwrap();
        assert_eq!(last[3] % 12, 0, "ends on C in the bass: {last:?}");
    }

    #[test]
    fn silence_is_refused_and_silent_beats_stay_silent() {
        assert!(harmonize(&Chorale {
            steps: vec![[-1; 4]; 8]
        })
        .is_err());
        let mut given = tune();
        for s in &mut given.steps[4..8] {
            s[0] = -1;
        }
        let out = harmonize(&given).unwrap();
        assert!(out.steps[4..8].iter().all(|s| s.iter().all(|&p| p < 0)));
    }
}
