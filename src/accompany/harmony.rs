//! Harmonizing a melody: one chord per beat, named by a learned chord tagger
//! (`model::chord_tagger`, trained by `reprise train` on POP909's annotated chords).
//!
//! Each beat is a feature vector of pitch classes (what sounds, what starts, what is held into the
//! beat, the whole melody's pitch-class histogram), its place in the bar, and whether it is silent.
//! A chord class is a root and one of six qualities. Everything about pitch is a pitch class, so a
//! melody transposed by `k` semitones is the same features rotated by `k`: training draws a random
//! rotation per crop, and [`Harmonizer::probabilities`] averages the model over all twelve rotations,
//! which makes the harmonizer exactly transposition-equivariant.

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::bars::GridNote;
use super::chords::{BeatChord, BEATS_PER_BAR};
use crate::error::{Error, Result};
use crate::model::chord_tagger::ChordTagger;

/// Sixteenths in a beat.
const SIXTEENTHS_PER_BEAT: usize = 4;

/// Sixteenths in a bar.
const SIXTEENTHS_PER_BAR: usize = SIXTEENTHS_PER_BEAT * BEATS_PER_BAR;

/// Chord qualities as pitch classes above the root: maj, min, 7, maj7, min7, sus4. The rare
/// diminished, augmented and sus2 chords are learned as their closest quality: fewer, better
/// estimated states name the root more often.
const QUALITIES: [u16; 6] = [
    pc_set(&[0, 4, 7]),
    pc_set(&[0, 3, 7]),
    pc_set(&[0, 4, 7, 10]),
    pc_set(&[0, 4, 7, 11]),
    pc_set(&[0, 3, 7, 10]),
    pc_set(&[0, 5, 7]),
];

/// The bit set of the given pitch classes.
const fn pc_set(pcs: &[u8]) -> u16 {
    let mut set = 0u16;
    let mut i = 0;
    while i < pcs.len() {
        set |= 1 << pcs[i];
        i += 1;
    }
    set
}

/// `set` (12 bits) transposed up by `by` semitones.
fn rotate(set: u16, by: u8) -> u16 {
    let by = u32::from(by % 12);
    let set = u32::from(set & 0xfff);
    (((set << by) | (set >> ((12 - by) % 12))) & 0xfff) as u16
}

/// Jaccard overlap of two pitch-class sets (1 when both are empty).
fn jaccard(a: u16, b: u16) -> f64 {
    let union = (a | b).count_ones();
    if union == 0 {
        return 1.0;
    }
    f64::from((a & b).count_ones()) / f64::from(union)
}

/// A labelled song: its melody and its labelled chord per beat (len = n_bars * BEATS_PER_BAR;
/// None = unlabelled).
pub struct HarmonyExample {
    /// The melody on the bar grid.
    pub melody: Vec<GridNote>,
    /// The chord of each beat, `None` where unlabelled.
    pub chords: Vec<Option<BeatChord>>,
}

/// The quality that best matches a labelled chord's pitch classes above its root.
fn quality_of(chord: BeatChord) -> usize {
    let root = chord.root % 12;
    let mut best = (0, f64::NEG_INFINITY);
    for (q, set) in QUALITIES.iter().enumerate() {
        let overlap = jaccard(chord.pitch_classes & 0xfff, rotate(*set, root));
        if overlap > best.1 {
            best = (q, overlap);
        }
    }
    best.0
}

/// For each of `n_beats` beats, the sixteenths each pitch class of `melody` sounds within it.
fn beat_weights(melody: &[GridNote], n_beats: usize) -> Vec<[f64; 12]> {
    let mut weights = vec![[0.0; 12]; n_beats];
    let end_of_all = n_beats * SIXTEENTHS_PER_BEAT;
    for note in melody {
        let start = note.bar * SIXTEENTHS_PER_BAR + note.pos as usize;
        let end = (start + note.duration as usize).min(end_of_all);
        let pc = usize::from(note.pitch % 12);
        let first = start / SIXTEENTHS_PER_BEAT;
        let last = end.div_ceil(SIXTEENTHS_PER_BEAT).max(first);
        for (t, beat) in weights.iter_mut().enumerate().take(last).skip(first) {
            let beat_start = t * SIXTEENTHS_PER_BEAT;
            let overlap = end.min(beat_start + SIXTEENTHS_PER_BEAT) - start.max(beat_start);
            beat[pc] += overlap as f64;
        }
    }
    weights
}

/// Offsets of the pitch-class blocks of a beat's features: sounding time, onsets, held into the
/// beat, the melody's histogram.
const PITCH_BLOCKS: [usize; 4] = [0, 12, 24, 36];
/// Offset of the one-hot beat position in the bar.
const POSITION: usize = 48;
/// Offset of the silent-beat flag.
const SILENT: usize = POSITION + BEATS_PER_BAR;
/// Features per beat.
pub const N_FEATURES: usize = SILENT + 1;
/// Chord classes: 12 roots × the qualities.
pub const N_CLASSES: usize = 12 * QUALITIES.len();

/// The features of one beat.
pub type BeatFeatures = [f32; N_FEATURES];

/// The features of each of `n_beats` beats of `melody`.
pub fn beat_features(melody: &[GridNote], n_beats: usize) -> Vec<BeatFeatures> {
    let sounding = beat_weights(melody, n_beats);
    let mut song = [0.0f64; 12];
    for w in &sounding {
        for (s, x) in song.iter_mut().zip(w) {
            *s += x;
        }
    }
    let peak = song.iter().cloned().fold(0.0, f64::max).max(1e-9);
    let mut out: Vec<BeatFeatures> = sounding
        .iter()
        .enumerate()
        .map(|(t, w)| {
            let mut f = [0.0f32; N_FEATURES];
            for pc in 0..12 {
                f[PITCH_BLOCKS[0] + pc] = (w[pc] / SIXTEENTHS_PER_BEAT as f64) as f32;
                f[PITCH_BLOCKS[3] + pc] = (song[pc] / peak) as f32;
            }
            f[POSITION + t % BEATS_PER_BAR] = 1.0;
            f[SILENT] = if w.iter().all(|&x| x == 0.0) {
                1.0
            } else {
                0.0
            };
            f
        })
        .collect();
    for note in melody {
        let start = note.bar * SIXTEENTHS_PER_BAR + note.pos as usize;
        let end = start + note.duration as usize;
        let pc = usize::from(note.pitch % 12);
        if let Some(f) = out.get_mut(start / SIXTEENTHS_PER_BEAT) {
            f[PITCH_BLOCKS[1] + pc] = 1.0;
        }
        // Held: sounding at the first sixteenth of a later beat.
        let first_held = start / SIXTEENTHS_PER_BEAT + 1;
        let last_held = end.saturating_sub(1) / SIXTEENTHS_PER_BEAT;
        for f in out.iter_mut().take(last_held + 1).skip(first_held) {
            f[PITCH_BLOCKS[2] + pc] = 1.0;
        }
    }
    out
}

/// `f` with every pitch class moved up `k` semitones (0–11).
pub fn rotate_features(f: &BeatFeatures, k: usize) -> BeatFeatures {
    let mut out = *f;
    for block in PITCH_BLOCKS {
        for pc in 0..12 {
            out[block + (pc + k) % 12] = f[block + pc];
        }
    }
    out
}

/// The class of a chord: its root and nearest quality.
pub fn chord_class(c: BeatChord) -> usize {
    usize::from(c.root % 12) * QUALITIES.len() + quality_of(c)
}

/// The chord of a class.
pub fn class_chord(class: usize) -> BeatChord {
    let root = (class / QUALITIES.len() % 12) as u8;
    BeatChord {
        root,
        pitch_classes: rotate(QUALITIES[class % QUALITIES.len()], root),
    }
}

/// The class of `class`'s chord moved up `k` semitones.
pub fn rotate_class(class: usize, k: usize) -> usize {
    let q = QUALITIES.len();
    ((class / q + k) % 12) * q + class % q
}

/// The learned harmonizer: a chord tagger with the inputs and outputs it was trained on.
#[derive(Clone)]
pub struct Harmonizer {
    tagger: ChordTagger,
}

impl std::fmt::Debug for Harmonizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harmonizer")
            .field("tagger", self.tagger.config())
            .finish()
    }
}

impl Harmonizer {
    /// Wraps a tagger; an error if its widths are not this harmonizer's features and classes.
    pub fn new(tagger: ChordTagger) -> Result<Harmonizer> {
        let cfg = tagger.config();
        if cfg.n_features != N_FEATURES || cfg.n_classes != N_CLASSES {
            return Err(Error::Invalid(format!(
                "chord tagger reads {} features into {} classes; the harmonizer needs {N_FEATURES} into {N_CLASSES}",
                cfg.n_features, cfg.n_classes
            )));
        }
        Ok(Harmonizer { tagger })
    }

    /// Loads a harmonizer model directory (`config.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Harmonizer> {
        let tagger = ChordTagger::load(dir, &Device::Cpu)?;
        Harmonizer::new(tagger).map_err(|e| Error::bad_file(dir, e.to_string()))
    }

    /// The tagger.
    pub fn tagger(&self) -> &ChordTagger {
        &self.tagger
    }

    /// For each beat, the probability of each class: the mean over the twelve rotations of the
    /// melody (each rotated back), and over the overlapping windows of the model's context that
    /// hold the beat.
    pub fn probabilities(&self, features: &[BeatFeatures]) -> Result<Vec<Vec<f32>>> {
        let n = features.len();
        let mut sum = vec![vec![0.0f32; N_CLASSES]; n];
        let mut count = vec![0usize; n];
        for (start, len) in windows(n, self.tagger.config().max_len) {
            let probs = self
                .window_probabilities(&features[start..start + len])
                .map_err(Error::tensor)?;
            for (i, p) in probs.into_iter().enumerate() {
                sum[start + i].iter_mut().zip(p).for_each(|(s, x)| *s += x);
                count[start + i] += 1;
            }
        }
        for (row, c) in sum.iter_mut().zip(count) {
            row.iter_mut().for_each(|x| *x /= c.max(1) as f32);
        }
        Ok(sum)
    }

    /// Class probabilities of one window (at most the context), averaged over the 12 rotations.
    fn window_probabilities(
        &self,
        features: &[BeatFeatures],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = features.len();
        let device = self.tagger.device();
        let mut data = Vec::with_capacity(12 * len * N_FEATURES);
        for k in 0..12 {
            for f in features {
                data.extend(rotate_features(f, k));
            }
        }
        let x = Tensor::from_vec(data, (12, len, N_FEATURES), device)?;
        let mask = Tensor::ones((12, len), DType::F32, device)?;
        let logits = self.tagger.forward(&x, &mask, false)?;
        let probs = candle_nn::ops::softmax_last_dim(&logits)?.to_vec3::<f32>()?;
        // Rotation k moved class c to rotate_class(c, k): move it back.
        let mut back = vec![vec![0.0f32; N_CLASSES]; len];
        for (k, rows) in probs.iter().enumerate() {
            for (beat, row) in back.iter_mut().zip(rows) {
                for (class, &p) in row.iter().enumerate() {
                    beat[rotate_class(class, 12 - k)] += p / 12.0;
                }
            }
        }
        Ok(back)
    }

    /// The likeliest chord of each of the `n_bars * BEATS_PER_BAR` beats under `melody`.
    pub fn harmonize(&self, melody: &[GridNote], n_bars: usize) -> Result<Vec<BeatChord>> {
        let features = beat_features(melody, n_bars * BEATS_PER_BAR);
        Ok(self.chords(&self.probabilities(&features)?))
    }

    /// The chord of each beat given its class probabilities: the class whose tones are expected
    /// to be chord tones most often ([`safest_class`]).
    pub fn chords(&self, probabilities: &[Vec<f32>]) -> Vec<BeatChord> {
        probabilities
            .iter()
            .map(|p| class_chord(safest_class(p)))
            .collect()
    }
}

/// The share of chord `a`'s pitch classes that are in chord `b`: what a part that plays `a`'s tones
/// would score as chord tones if the chord were `b`.
pub fn tone_share(a: u16, b: u16) -> f64 {
    let own = (a & 0xfff).count_ones();
    if own == 0 {
        return 0.0;
    }
    f64::from((a & b & 0xfff).count_ones()) / f64::from(own)
}

/// The class whose tones are expected to be most often chord tones under `p`: the class `a` that
/// maximises `Σ_b p(b) · tone_share(a, b)` (minimum-Bayes-risk decoding for the accompaniment's
/// chord-tone share, where the likeliest class maximises the chance of naming the chord exactly).
pub fn safest_class(p: &[f32]) -> usize {
    static SHARES: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let shares = SHARES.get_or_init(|| {
        let sets: Vec<u16> = (0..N_CLASSES)
            .map(|c| class_chord(c).pitch_classes)
            .collect();
        sets.iter()
            .flat_map(|&a| sets.iter().map(move |&b| tone_share(a, b)))
            .collect()
    });
    let expected: Vec<f64> = shares
        .chunks(N_CLASSES)
        .map(|row| row.iter().zip(p).map(|(s, &q)| s * f64::from(q)).sum())
        .collect();
    argmax_f64(&expected)
}

/// Index of the largest value (the first of equals).
fn argmax_f64(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Index of the largest value (the first of equals).
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in p.iter().enumerate() {
        if x > p[best] {
            best = i;
        }
    }
    best
}

/// `(start, len)` windows of at most `max_len` over `n` beats: one if it fits, else windows half a
/// context apart, the last ending at `n`.
pub fn windows(n: usize, max_len: usize) -> Vec<(usize, usize)> {
    if n <= max_len {
        return if n == 0 { Vec::new() } else { vec![(0, n)] };
    }
    let hop = (max_len / 2).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start + max_len < n {
        out.push((start, max_len));
        start += hop;
    }
    out.push((n - max_len, max_len));
    out
}

/// Share of labelled beats where prediction and truth have the same root, and the mean Jaccard
/// overlap of their pitch-class sets. A labelled beat beyond the end of `pred` counts as a miss;
/// with no labelled beat both are 0.
pub fn agreement(pred: &[BeatChord], truth: &[Option<BeatChord>]) -> (f64, f64) {
    let (mut n, mut roots, mut overlap) = (0usize, 0usize, 0.0);
    for (t, want) in truth.iter().enumerate() {
        let Some(want) = want else { continue };
        n += 1;
        if let Some(got) = pred.get(t) {
            roots += usize::from(got.root % 12 == want.root % 12);
            overlap += jaccard(got.pitch_classes & 0xfff, want.pitch_classes & 0xfff);
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    (roots as f64 / n as f64, overlap / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chord_tagger::ChordTaggerConfig;
    use candle_nn::{VarBuilder, VarMap};

    /// The triad on `degree` of the major key of `key`.
    fn chord(key: u8, degree: u8, minor: bool) -> BeatChord {
        let root = (key + degree) % 12;
        let set = if minor { QUALITIES[1] } else { QUALITIES[0] };
        BeatChord {
            root,
            pitch_classes: rotate(set, root),
        }
    }

    #[test]
    fn agreement_on_hand_made_chords() {
        let c = chord(0, 0, false);
        let g = chord(0, 7, false);
        let g7 = BeatChord {
            root: 7,
            pitch_classes: rotate(QUALITIES[2], 7),
        };
        let a_min = chord(0, 9, true);
        let (roots, overlap) = agreement(&[c, g, a_min], &[Some(c), Some(g7), None]);
        assert_eq!(roots, 1.0);
        assert!((overlap - 0.875).abs() < 1e-12);
        // A minor against C major: different roots, {0, 4} shared of {9, 0, 4, 7}.
        let (roots, overlap) = agreement(&[a_min, c], &[Some(c), Some(c), Some(c)]);
        assert!((roots - 1.0 / 3.0).abs() < 1e-12);
        assert!((overlap - (0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(agreement(&[c], &[None]), (0.0, 0.0));
    }

    /// A melody of 3 bars: quarter notes, a half note held over a beat, a silent last bar.
    fn melody(up: u8) -> Vec<GridNote> {
        let note = |bar, pos, pitch: u8, duration| GridNote {
            bar,
            pos,
            pitch: pitch + up,
            bin: 20,
            duration,
        };
        vec![
            note(0, 0, 60, 4),
            note(0, 4, 64, 4),
            note(0, 8, 67, 8),
            note(1, 2, 65, 6),
            note(1, 8, 62, 2),
        ]
    }

    #[test]
    fn features_say_what_sounds_starts_and_is_held_in_each_beat() {
        let f = beat_features(&melody(0), 12);
        assert_eq!(f.len(), 12);
        // Beat 2 of bar 0: G starts and sounds the whole beat; beat 3: G is held into it.
        assert_eq!(f[2][PITCH_BLOCKS[0] + 7], 1.0);
        assert_eq!(f[2][PITCH_BLOCKS[1] + 7], 1.0);
        assert_eq!(f[2][PITCH_BLOCKS[2] + 7], 0.0);
        assert_eq!(f[3][PITCH_BLOCKS[1] + 7], 0.0);
        assert_eq!(f[3][PITCH_BLOCKS[2] + 7], 1.0);
        // Beat 0 of bar 1: F starts on its third sixteenth and sounds half of it.
        assert_eq!(f[4][PITCH_BLOCKS[0] + 5], 0.5);
        assert_eq!(f[4][PITCH_BLOCKS[1] + 5], 1.0);
        assert_eq!(f[5][PITCH_BLOCKS[2] + 5], 1.0);
        // The histogram peaks at 1 on the longest pitch class (G: 8 sixteenths) on every beat.
        assert!(f.iter().all(|b| b[PITCH_BLOCKS[3] + 7] == 1.0));
        assert!(f.iter().all(|b| b[PITCH_BLOCKS[3] + 2] == 0.25));
        // Position in the bar; silence.
        assert_eq!(f[6][POSITION + 2], 1.0);
        assert_eq!(f[6][SILENT], 0.0);
        assert!(f[8..].iter().all(|b| b[SILENT] == 1.0));
        assert_eq!(f[7][SILENT], 1.0);
    }

    #[test]
    fn transposing_the_melody_rotates_features_and_classes() {
        for k in 0..12u8 {
            let base = beat_features(&melody(0), 8);
            let moved = beat_features(&melody(k), 8);
            for (a, b) in base.iter().zip(&moved) {
                assert_eq!(&rotate_features(a, usize::from(k)), b);
            }
        }
        for class in 0..N_CLASSES {
            let c = class_chord(class);
            assert_eq!(chord_class(c), class);
            for k in 0..12 {
                let moved = class_chord(rotate_class(class, k));
                assert_eq!(moved.root, (c.root + k as u8) % 12);
                assert_eq!(moved.pitch_classes, rotate(c.pitch_classes, k as u8));
            }
        }
    }

    #[test]
    fn windows_cover_every_beat_within_the_context() {
        assert!(windows(0, 8).is_empty());
        assert_eq!(windows(5, 8), vec![(0, 5)]);
        assert_eq!(windows(8, 8), vec![(0, 8)]);
        assert_eq!(windows(13, 8), vec![(0, 8), (4, 8), (5, 8)]);
        for n in 1..40 {
            let w = windows(n, 6);
            assert!(w.iter().all(|&(s, l)| l <= 6 && s + l <= n));
            assert!((0..n).all(|i| w.iter().any(|&(s, l)| (s..s + l).contains(&i))));
        }
    }

    fn random_harmonizer(max_len: usize) -> Harmonizer {
        let cfg = ChordTaggerConfig {
            architecture: ChordTaggerConfig::ARCHITECTURE.into(),
            n_features: N_FEATURES,
            n_classes: N_CLASSES,
            d_model: 16,
            n_heads: 2,
            d_ff: 32,
            layers: 2,
            max_len,
            dropout: 0.0,
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        Harmonizer::new(ChordTagger::new(&cfg, vb).unwrap()).unwrap()
    }

    /// With random weights: probabilities sum to 1, a transposed melody gets the transposed
    /// chords' probabilities exactly (the rotation average), and a melody longer than the context
    /// is read in windows whose mean is what the windows give one by one.
    #[test]
    fn probabilities_are_transposition_equivariant_and_windowed() {
        let h = random_harmonizer(32);
        let base = h.probabilities(&beat_features(&melody(0), 12)).unwrap();
        for row in &base {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        let moved = h.probabilities(&beat_features(&melody(5), 12)).unwrap();
        for (a, b) in base.iter().zip(&moved) {
            for class in 0..N_CLASSES {
                assert!((a[class] - b[rotate_class(class, 5)]).abs() < 1e-5);
            }
        }
        let chords = h.harmonize(&melody(0), 3).unwrap();
        assert_eq!(chords.len(), 12);

        let short = random_harmonizer(8);
        let features = beat_features(&melody(0), 12);
        let whole = short.probabilities(&features).unwrap();
        let first = short.window_probabilities(&features[0..8]).unwrap();
        let second = short.window_probabilities(&features[4..12]).unwrap();
        for i in 0..12 {
            for class in 0..N_CLASSES {
                let want = match i {
                    0..4 => first[i][class],
                    4..8 => (first[i][class] + second[i - 4][class]) / 2.0,
                    _ => second[i - 4][class],
                };
                assert!((whole[i][class] - want).abs() < 1e-6);
            }
        }
    }

    /// The chord named is the one whose tones are likeliest to be chord tones, not always the
    /// likeliest chord: between G (0.34), C and Am (0.33 each) it is C, which shares two tones
    /// with Am.
    #[test]
    fn the_safest_chord_is_named() {
        let c = chord(0, 0, false);
        let a_min = chord(0, 9, true);
        let g = chord(0, 7, false);
        assert_eq!(tone_share(c.pitch_classes, a_min.pitch_classes), 2.0 / 3.0);
        assert_eq!(tone_share(g.pitch_classes, c.pitch_classes), 1.0 / 3.0);
        assert_eq!(tone_share(0, c.pitch_classes), 0.0);
        let mut p = vec![0.0f32; N_CLASSES];
        p[chord_class(g)] = 0.34;
        p[chord_class(c)] = 0.33;
        p[chord_class(a_min)] = 0.33;
        assert_eq!(argmax(&p), chord_class(g));
        assert_eq!(safest_class(&p), chord_class(c));
        let mut sure = vec![0.0f32; N_CLASSES];
        sure[chord_class(a_min)] = 1.0;
        assert_eq!(safest_class(&sure), chord_class(a_min));
    }

    #[test]
    fn a_tagger_of_other_widths_is_refused() {
        let cfg = ChordTaggerConfig {
            architecture: ChordTaggerConfig::ARCHITECTURE.into(),
            n_features: 4,
            n_classes: N_CLASSES,
            d_model: 8,
            n_heads: 2,
            d_ff: 8,
            layers: 1,
            max_len: 8,
            dropout: 0.0,
        };
        let vb = VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu);
        let err = Harmonizer::new(ChordTagger::new(&cfg, vb).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("features"), "{err}");
    }
}
