//! Part-writing measures of four-voice chorales on the 16th-note grid (steps of S, A, T, B pitches,
//! −1 for a rest): chord tones against a reference harmony, parallel fifths and octaves, voice
//! crossing and range violations. Empty input gives zeros.

use serde::Serialize;

/// Voices per step.
const VOICES: usize = 4;
/// Textbook four-part ranges (MIDI, inclusive): soprano C4–G5, alto G3–C5, tenor C3–G4, bass E2–C4.
pub const RANGES: [(i16, i16); VOICES] = [(60, 79), (55, 72), (48, 67), (40, 60)];
/// Steps per beat (quarter note) on the 16th-note grid.
const BEAT: usize = 4;

/// Chord qualities as pitch-class intervals above the root: major, minor, diminished, dominant
/// seventh, minor seventh, half-diminished seventh, major seventh.
const QUALITIES: [&[u8]; 7] = [
    &[0, 4, 7],
    &[0, 3, 7],
    &[0, 3, 6],
    &[0, 4, 7, 10],
    &[0, 3, 7, 10],
    &[0, 3, 6, 10],
    &[0, 4, 7, 11],
];

/// The measures of one chorale (or the sum over many, see `add`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct VoiceLeading {
    /// Steps measured.
    pub steps: usize,
    /// Sounding (step, voice) values of the measured voices.
    pub values: usize,
    /// Of those, values whose pitch class is in the reference chord of their beat.
    pub chord_tones: usize,
    /// Parallel fifths and octaves (any pair of voices, both moving the same way into the same
    /// perfect interval class they left).
    pub parallels: usize,
    /// Steps where a lower voice sounds above the voice next above it.
    pub crossed_steps: usize,
    /// Notes (onsets) of the measured voices.
    pub notes: usize,
    /// Of those, notes outside their voice's textbook range (`RANGES`).
    pub out_of_range: usize,
}

impl VoiceLeading {
    /// Adds another chorale's counts.
    pub fn add(&mut self, o: &VoiceLeading) {
        self.steps += o.steps;
        self.values += o.values;
        self.chord_tones += o.chord_tones;
        self.parallels += o.parallels;
        self.crossed_steps += o.crossed_steps;
        self.notes += o.notes;
        self.out_of_range += o.out_of_range;
    }

    /// Share of the measured voices' sounding values that are chord tones of the reference.
    pub fn chord_tone_share(&self) -> f64 {
        ratio(self.chord_tones, self.values)
    }

    /// Parallel fifths and octaves per 100 steps.
    pub fn parallels_per_100(&self) -> f64 {
        100.0 * ratio(self.parallels, self.steps)
    }

    /// Share of steps with crossed voices.
    pub fn crossing_share(&self) -> f64 {
        ratio(self.crossed_steps, self.steps)
    }

    /// Share of the measured voices' notes outside their range.
    pub fn out_of_range_share(&self) -> f64 {
        ratio(self.out_of_range, self.notes)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Measures `steps`: chord tones and ranges over the voices in `measured`, against the chords of
/// `reference` (a chorale of the same length, e.g. Bach's); parallels and crossing over all voices.
pub fn measure(
    steps: &[[i16; VOICES]],
    reference: &[[i16; VOICES]],
    measured: &[usize],
) -> VoiceLeading {
    let chords = beat_chords(reference);
    let mut m = VoiceLeading {
        steps: steps.len(),
        ..VoiceLeading::default()
    };
    for (t, step) in steps.iter().enumerate() {
        let chord = chords.get(t / BEAT).copied().unwrap_or(0);
        for &v in measured {
            let p = step[v];
            if p < 0 {
                continue;
            }
            m.values += 1;
            m.chord_tones += usize::from(chord & (1 << (p % 12)) != 0);
            if t == 0 || steps[t - 1][v] != p {
                m.notes += 1;
                let (lo, hi) = RANGES[v];
                m.out_of_range += usize::from(p < lo || p > hi);
            }
        }
        m.crossed_steps += usize::from(crossed(step));
        if t > 0 {
            m.parallels += parallels(&steps[t - 1], step);
        }
    }
    m
}

/// True when a lower voice sounds above the next higher sounding voice.
fn crossed(step: &[i16; VOICES]) -> bool {
    let sounding: Vec<i16> = step.iter().copied().filter(|&p| p >= 0).collect();
    sounding.windows(2).any(|w| w[1] > w[0])
}

/// Parallel perfect fifths and octaves (unisons) between two consecutive steps, over all pairs.
pub fn parallels(a: &[i16; VOICES], b: &[i16; VOICES]) -> usize {
    let mut n = 0;
    for i in 0..VOICES {
        for j in i + 1..VOICES {
            let (a1, a2, b1, b2) = (a[i], a[j], b[i], b[j]);
            if a1 < 0 || a2 < 0 || b1 < 0 || b2 < 0 || a1 == b1 || a2 == b2 {
                continue;
            }
            let same_way = (b1 - a1).signum() == (b2 - a2).signum();
            let class = |x: i16, y: i16| (x - y).rem_euclid(12);
            let (before, after) = (class(a1, a2), class(b1, b2));
            if same_way && before == after && (before == 0 || before == 7) {
                n += 1;
            }
        }
    }
    n
}

/// The reference chord of each beat, as a pitch-class bit set: the triad or seventh chord that
/// best explains the beat's sounding values (+1 per value in the chord, −1 per value outside,
/// −0.5 per chord tone nobody sounds), triads before sevenths on ties; 0 for a silent beat.
pub fn beat_chords(steps: &[[i16; VOICES]]) -> Vec<u16> {
    steps
        .chunks(BEAT)
        .map(|beat| {
            let mut counts = [0i32; 12];
            for &p in beat.iter().flatten().filter(|&&p| p >= 0) {
                counts[(p % 12) as usize] += 1;
            }
            best_chord(&counts)
        })
        .collect()
}

fn best_chord(counts: &[i32; 12]) -> u16 {
    let total: i32 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let mut best = (f64::MIN, 0u16);
    for quality in QUALITIES {
        for root in 0..12u8 {
            let set: u16 = quality.iter().map(|&i| 1u16 << ((root + i) % 12)).sum();
            let inside: i32 = (0..12)
                .filter(|&pc| set & (1 << pc) != 0)
                .map(|pc| counts[pc])
                .sum();
            let missing = (0..12)
                .filter(|&pc| set & (1 << pc) != 0 && counts[pc] == 0)
                .count();
            let score = f64::from(2 * inside - total) - 0.5 * missing as f64;
            if score > best.0 {
                best = (score, set);
            }
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallels_count_only_perfect_intervals_moving_together() {
        // C5/C4 → D5/D4: parallel octave between S and A.
        assert_eq!(parallels(&[72, 60, -1, -1], &[74, 62, -1, -1]), 1);
        // fifths G4/C4 → A4/D4 in S and T.
        assert_eq!(parallels(&[67, -1, 60, -1], &[69, -1, 62, -1]), 1);
        // contrary motion into an octave, and a held voice: not parallels.
        assert_eq!(parallels(&[72, 60, -1, -1], &[74, 50, -1, -1]), 0);
        assert_eq!(parallels(&[72, 60, -1, -1], &[72, 60, -1, -1]), 0);
        // a third moving to a third: none; a compound fifth (19) counts.
        assert_eq!(parallels(&[76, 72, -1, -1], &[77, 74, -1, -1]), 0);
        assert_eq!(parallels(&[79, -1, -1, 60], &[81, -1, -1, 62]), 1);
    }

    #[test]
    fn chords_crossing_and_ranges_are_counted() {
        // Beat 1: C major with a passing D in the alto; beat 2: G major, alto above soprano once.
        let steps = [
            [72, 64, 55, 48],
            [72, 62, 55, 48],
            [72, 64, 55, 48],
            [72, 64, 55, 48],
            [71, 67, 55, 43],
            [71, 74, 55, 43],
            [71, 67, 55, 43],
            [71, 67, 55, 31],
        ];
        let chords = beat_chords(&steps);
        let c_major = (1 << 0) | (1 << 4) | (1 << 7);
        let g_major = (1 << 7) | (1 << 11) | (1 << 2);
        assert_eq!(chords, vec![c_major, g_major]);
        let m = measure(&steps, &steps, &[1, 2, 3]);
        assert_eq!(m.values, 24);
        assert_eq!(m.chord_tones, 23); // the alto's D in beat 1
        assert_eq!(m.crossed_steps, 1);
        assert!((m.crossing_share() - 1.0 / 8.0).abs() < 1e-12);
        // bass 31 is below E2; alto 74 above C5
        assert_eq!(m.out_of_range, 2);
        assert_eq!(VoiceLeading::default().chord_tone_share(), 0.0);
    }
}
