//! Harmonizing a melody: one chord per beat, chosen by a hidden Markov model learned from labelled songs.
//!
//! The model is transposition-invariant: its hidden states are chords relative to the song's key (as
//! a major tonic; a minor key counts as its relative major), a scale degree (0–11 semitones above
//! the tonic) and a quality from a small vocabulary. When fitting, each song's key is first estimated
//! from the melody with the Krumhansl–Kessler profiles, then re-chosen (a few rounds of hard EM) as
//! the tonic under which its labelled chords are likeliest according to the state prior. The model
//! learns
//! - a prior over states (also the back-off of the transitions),
//! - the probability of keeping the chord, by beat position in the bar and by how many beats the
//!   chord has lasted (an explicit-duration HMM: chords mostly last one or two bars),
//! - the probability of the next state when the chord changes,
//! - for each state, the distribution of melody pitch classes relative to the chord root, each note
//!   counting the sixteenths it sounds within the beat, smoothed towards its quality's distribution.
//!
//! All counts are smoothed and kept as log probabilities. [`Harmonizer::harmonize`] shortlists the
//! tonics under which the melody is likeliest, runs Viterbi over (state, run length) for each and
//! keeps the likelier path.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::accompany::bars::GridNote;
use crate::accompany::chords::{BeatChord, BEATS_PER_BAR};
use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

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

/// Longest run of one chord, in beats, that the stay probabilities tell apart (longer runs share it).
const MAX_RUN: usize = 8;

/// Pseudo-count added to every state of the prior.
const PRIOR_K: f64 = 1.0;

/// Weight of the prior in the smoothing of each transition row (a Dirichlet pseudo-count).
const TRANSITION_K: f64 = 2.0;

/// Pseudo-count added to both outcomes of the stay-or-change estimate.
const STAY_K: f64 = 1.0;

/// Pseudo-count (in sixteenths) added to every relative pitch class of each quality's emissions.
const EMIT_K: f64 = 0.5;

/// Weight (in sixteenths) of the quality's emissions as the Dirichlet prior of each state's.
const STATE_EMIT_K: f64 = 256.0;

/// Rounds of re-estimating each training song's key from its chords under the state prior.
const KEY_ROUNDS: usize = 3;

/// Tonics, the likeliest under the beat-by-beat mixture, that Viterbi decodes to choose the key.
const KEY_CANDIDATES: usize = 2;

/// Krumhansl–Kessler major-key profile, from the tonic up.
const KK_MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];

/// Krumhansl–Kessler minor-key profile, from the tonic up.
const KK_MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
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

/// One song for fitting: its melody and its labelled chord per beat (len = n_bars * BEATS_PER_BAR;
/// None = unlabelled).
pub struct HarmonyExample {
    /// The melody on the bar grid.
    pub melody: Vec<GridNote>,
    /// The chord of each beat, `None` where unlabelled.
    pub chords: Vec<Option<BeatChord>>,
}

/// A melody harmonizer: a key-relative hidden Markov model over chords, one per beat.
///
/// States are numbered `degree * n_qualities + quality`, the degree counted from the song's tonic.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Harmonizer {
    /// Each quality's pitch classes above its root.
    qualities: Vec<u16>,
    /// log P(state), used for the first beat and as the back-off of the transitions.
    log_prior: Vec<f64>,
    /// log P(next | previous, the chord changes), row-major states × states; the diagonal is unused (0).
    log_change: Vec<f64>,
    /// log P(the chord stays | beat position in the bar, beats it has lasted), row-major
    /// positions × [`MAX_RUN`].
    log_stay: Vec<f64>,
    /// log P(the chord changes | beat position, beats it has lasted), laid out as `log_stay`.
    log_move: Vec<f64>,
    /// log P(melody pitch class above the root | state), row-major states × 12.
    log_emit: Vec<f64>,
}

impl Harmonizer {
    /// Learns the model from labelled songs; an error if no beat of any song is labelled.
    ///
    /// Each song's key is first estimated from its melody, then re-chosen a few times as the tonic
    /// under which its labelled chords are likeliest according to the prior fitted so far.
    pub fn fit(examples: &[HarmonyExample]) -> Result<Harmonizer> {
        let songs: Vec<Song> = examples.iter().map(Song::new).collect();
        if songs.iter().all(|s| s.labels.iter().all(Option::is_none)) {
            return Err(Error::Invalid(
                "harmony: no labelled beat to learn from".into(),
            ));
        }
        let mut tonics: Vec<u8> = examples.iter().map(|e| estimate_tonic(&e.melody)).collect();
        for _ in 0..KEY_ROUNDS {
            let log_prior = fit_counts(&songs, &tonics).log_prior();
            tonics = songs
                .iter()
                .map(|s| s.likeliest_tonic(&log_prior))
                .collect();
        }
        Ok(fit_counts(&songs, &tonics).into_model())
    }

    /// The most likely chord of each of the `n_bars * BEATS_PER_BAR` beats under `melody`, the key
    /// being the tonic whose best chord sequence is likeliest.
    pub fn harmonize(&self, melody: &[GridNote], n_bars: usize) -> Vec<BeatChord> {
        let n_beats = n_bars * BEATS_PER_BAR;
        if n_beats == 0 {
            return Vec::new();
        }
        let (tonic, path) = self.decode(&beat_weights(melody, n_beats));
        path.into_iter().map(|s| self.chord_of(s, tonic)).collect()
    }

    /// The tonic whose best state path is likeliest, and that path, for the beats' pitch-class
    /// weights (at least one beat).
    fn decode(&self, weights: &[[f64; 12]]) -> (u8, Vec<usize>) {
        let mut best: (f64, u8, Vec<usize>) = (f64::NEG_INFINITY, 0, Vec::new());
        for tonic in self.key_candidates(weights) {
            let (score, path) = self.viterbi(&self.emissions(weights, tonic));
            if score > best.0 {
                best = (score, tonic, path);
            }
        }
        (best.1, best.2)
    }

    /// The [`KEY_CANDIDATES`] tonics under which the melody is likeliest when each beat's chord is
    /// drawn independently from the prior (a cheap stand-in for the full model), best first.
    fn key_candidates(&self, weights: &[[f64; 12]]) -> Vec<u8> {
        let mut scored: Vec<(f64, u8)> = (0..12u8)
            .map(|k| (self.mixture_score(&self.emissions(weights, k)), k))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(KEY_CANDIDATES);
        scored.into_iter().map(|(_, k)| k).collect()
    }

    /// Writes the model as JSON, all-or-nothing.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer(w, self).map_err(|e| Error::io(path, e.into()))
        })
    }

    /// Reads a model written by [`Harmonizer::save`]; an error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Harmonizer> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let model: Harmonizer = serde_json::from_str(&text)
            .map_err(|e| Error::bad_file(path, format!("not a harmony model: {e}")))?;
        model
            .check()
            .map_err(|msg| Error::bad_file(path, format!("inconsistent harmony model: {msg}")))?;
        Ok(model)
    }

    /// Checks the table sizes and values; the message says what is wrong.
    fn check(&self) -> std::result::Result<(), String> {
        let q = self.qualities.len();
        let s = 12 * q;
        let sizes = [
            (self.log_prior.len(), s, "prior"),
            (self.log_change.len(), s * s, "transitions"),
            (self.log_stay.len(), BEATS_PER_BAR * MAX_RUN, "stay"),
            (self.log_move.len(), BEATS_PER_BAR * MAX_RUN, "change"),
            (self.log_emit.len(), 12 * s, "emissions"),
        ];
        if q == 0 {
            return Err("no chord qualities".into());
        }
        for (got, want, name) in sizes {
            if got != want {
                return Err(format!("{name} has {got} entries, expected {want}"));
            }
        }
        let tables = [
            &self.log_prior,
            &self.log_change,
            &self.log_stay,
            &self.log_move,
            &self.log_emit,
        ];
        if tables.iter().any(|t| t.iter().any(|v| !v.is_finite())) {
            return Err("non-finite log probability".into());
        }
        Ok(())
    }

    /// Number of hidden states.
    fn n_states(&self) -> usize {
        12 * self.qualities.len()
    }

    /// The chord of state `s` in the key of `tonic`.
    fn chord_of(&self, s: usize, tonic: u8) -> BeatChord {
        let q = self.qualities.len();
        let root = ((usize::from(tonic) + s / q) % 12) as u8;
        BeatChord {
            root,
            pitch_classes: rotate(self.qualities[s % q], root),
        }
    }

    /// log P(each beat's melody | each state) in the key of `tonic`, row-major beats × states; 0
    /// for a silent beat.
    fn emissions(&self, weights: &[[f64; 12]], tonic: u8) -> Vec<f64> {
        let (n, q) = (self.n_states(), self.qualities.len());
        let mut out = vec![0.0; weights.len() * n];
        for (w, row) in weights.iter().zip(out.chunks_mut(n)) {
            for (s, e) in row.iter_mut().enumerate() {
                let root = (usize::from(tonic) + s / q) % 12;
                let table = &self.log_emit[s * 12..(s + 1) * 12];
                *e = (0..12)
                    .filter(|&pc| w[pc] > 0.0)
                    .map(|pc| w[pc] * table[(pc + 12 - root) % 12])
                    .sum::<f64>();
            }
        }
        out
    }

    /// log P(melody) for row-major beats × states emissions if each beat's state were drawn from
    /// the prior independently of the others.
    fn mixture_score(&self, emit: &[f64]) -> f64 {
        emit.chunks(self.n_states())
            .map(|row| {
                let m = row
                    .iter()
                    .zip(&self.log_prior)
                    .map(|(e, p)| e + p)
                    .fold(f64::NEG_INFINITY, f64::max);
                m + row
                    .iter()
                    .zip(&self.log_prior)
                    .map(|(e, p)| (e + p - m).exp())
                    .sum::<f64>()
                    .ln()
            })
            .sum()
    }

    /// For each state, the best score of leaving it at a beat in bar position `pos` and the run
    /// length (index) it leaves from.
    fn leaving(&self, score: &[f64], pos: usize) -> Vec<(f64, usize)> {
        score
            .chunks(MAX_RUN)
            .map(|runs| {
                let mut best = (f64::NEG_INFINITY, 0);
                for (d, v) in runs.iter().enumerate() {
                    let v = v + self.log_move[pos * MAX_RUN + d];
                    if v > best.0 {
                        best = (v, d);
                    }
                }
                best
            })
            .collect()
    }

    /// The best way into state `j` as a new chord: the score and the (state, run) cell it comes from.
    fn best_change(&self, leave: &[(f64, usize)], j: usize) -> (f64, usize) {
        let n = leave.len();
        let mut best = (f64::NEG_INFINITY, 0);
        for (i, (v, d)) in leave.iter().enumerate() {
            if i == j {
                continue;
            }
            let v = v + self.log_change[i * n + j];
            if v > best.0 {
                best = (v, i * MAX_RUN + d);
            }
        }
        best
    }

    /// One Viterbi step into a beat at bar position `pos` with emissions `emit`: the new scores of
    /// the (state, run) cells, filling their back-pointers.
    fn step(&self, score: &[f64], emit: &[f64], pos: usize, back: &mut [u32]) -> Vec<f64> {
        let leave = self.leaving(score, pos);
        let mut next = vec![f64::NEG_INFINITY; score.len()];
        for (j, e) in emit.iter().enumerate() {
            let cell = j * MAX_RUN;
            let (v, from) = self.best_change(&leave, j);
            (next[cell], back[cell]) = (v + e, from as u32);
            for d in 1..MAX_RUN {
                let stay = |d: usize| score[cell + d] + self.log_stay[pos * MAX_RUN + d];
                let (v, from) = if d + 1 == MAX_RUN && stay(d) > stay(d - 1) {
                    (stay(d), d)
                } else {
                    (stay(d - 1), d - 1)
                };
                (next[cell + d], back[cell + d]) = (v + e, (cell + from) as u32);
            }
        }
        next
    }

    /// The best path's log probability and its state per beat, for row-major beats × states
    /// emissions (at least one beat). The hidden cells are (state, beats the chord has lasted).
    fn viterbi(&self, emit: &[f64]) -> (f64, Vec<usize>) {
        let n = self.n_states();
        let cells = n * MAX_RUN;
        let mut score = vec![f64::NEG_INFINITY; cells];
        for s in 0..n {
            score[s * MAX_RUN] = self.log_prior[s] + emit[s];
        }
        let n_beats = emit.len() / n;
        let mut back = vec![0u32; n_beats * cells];
        for t in 1..n_beats {
            let (emit_t, back_t) = (
                &emit[t * n..(t + 1) * n],
                &mut back[t * cells..(t + 1) * cells],
            );
            score = self.step(&score, emit_t, t % BEATS_PER_BAR, back_t);
        }
        let (best, path) = backtrack(&score, &back, cells);
        (best, path.into_iter().map(|c| c / MAX_RUN).collect())
    }
}

/// The best final cell's score and the cell path ending in it, following the back-pointers.
fn backtrack(score: &[f64], back: &[u32], n: usize) -> (f64, Vec<usize>) {
    let mut best = 0;
    for (s, v) in score.iter().enumerate() {
        if *v > score[best] {
            best = s;
        }
    }
    let n_beats = back.len() / n;
    let mut path = vec![best; n_beats];
    for t in (1..n_beats).rev() {
        path[t - 1] = back[t * n + path[t]] as usize;
    }
    (score[best], path)
}

/// A training song reduced to what fitting reads.
struct Song {
    /// Melody weight per beat and pitch class.
    weights: Vec<[f64; 12]>,
    /// Per beat, the labelled chord's root and best-matching quality.
    labels: Vec<Option<(u8, usize)>>,
}

impl Song {
    /// The song's beat weights and labels.
    fn new(example: &HarmonyExample) -> Song {
        Song {
            weights: beat_weights(&example.melody, example.chords.len()),
            labels: example
                .chords
                .iter()
                .map(|c| c.map(|c| (c.root % 12, quality_of(c))))
                .collect(),
        }
    }

    /// The tonic under which the labelled chords' states are likeliest according to `log_prior`.
    fn likeliest_tonic(&self, log_prior: &[f64]) -> u8 {
        let mut best = (0u8, f64::NEG_INFINITY);
        for tonic in 0..12u8 {
            let score: f64 = self
                .labels
                .iter()
                .flatten()
                .map(|&(root, q)| log_prior[state(root, q, tonic)])
                .sum();
            if score > best.1 {
                best = (tonic, score);
            }
        }
        best.0
    }
}

/// The counts of `songs`, each read in the key of its tonic in `tonics`.
fn fit_counts(songs: &[Song], tonics: &[u8]) -> Counts {
    let mut counts = Counts::new(QUALITIES.len());
    for (song, &tonic) in songs.iter().zip(tonics) {
        counts.add_song(song, tonic);
    }
    counts
}

/// Raw counts gathered while fitting.
struct Counts {
    /// Number of qualities.
    q: usize,
    /// Beats per state.
    prior: Vec<f64>,
    /// Changes from one state to another, row-major.
    change: Vec<f64>,
    /// Beats keeping the previous beat's chord, by bar position and run length so far.
    stay: Vec<f64>,
    /// Beats changing chord, by bar position and run length so far.
    moved: Vec<f64>,
    /// Melody weight per state and pitch class above the root.
    emit: Vec<f64>,
}

impl Counts {
    /// Empty counts for `q` qualities.
    fn new(q: usize) -> Self {
        let s = 12 * q;
        Counts {
            q,
            prior: vec![0.0; s],
            change: vec![0.0; s * s],
            stay: vec![0.0; BEATS_PER_BAR * MAX_RUN],
            moved: vec![0.0; BEATS_PER_BAR * MAX_RUN],
            emit: vec![0.0; 12 * s],
        }
    }

    /// Adds one song's labelled beats, read in the key of `tonic`.
    fn add_song(&mut self, song: &Song, tonic: u8) {
        let mut run = 0;
        let mut prev = None;
        for (t, label) in song.labels.iter().enumerate() {
            let Some(s) = label.map(|(root, q)| state(root, q, tonic)) else {
                (run, prev) = (0, None);
                continue;
            };
            self.prior[s] += 1.0;
            self.add_emission(s, tonic, &song.weights[t]);
            if let Some(p) = prev {
                self.add_transition(p, s, t % BEATS_PER_BAR, run);
            }
            run = if prev == Some(s) { run + 1 } else { 1 };
            prev = Some(s);
        }
    }

    /// Adds the melody heard over a beat of state `s`.
    fn add_emission(&mut self, s: usize, tonic: u8, weights: &[f64; 12]) {
        let root = (usize::from(tonic) + s / self.q) % 12;
        for (pc, w) in weights.iter().enumerate() {
            self.emit[s * 12 + (pc + 12 - root) % 12] += w;
        }
    }

    /// Adds a step from state `prev`, which has lasted `run` beats, to `next` at bar position `pos`.
    fn add_transition(&mut self, prev: usize, next: usize, pos: usize, run: usize) {
        let cell = pos * MAX_RUN + run.clamp(1, MAX_RUN) - 1;
        if prev == next {
            self.stay[cell] += 1.0;
        } else {
            self.moved[cell] += 1.0;
            self.change[prev * 12 * self.q + next] += 1.0;
        }
    }

    /// The smoothed log prior.
    fn log_prior(&self) -> Vec<f64> {
        smoothed_prior(&self.prior).iter().map(|p| p.ln()).collect()
    }

    /// The smoothed model.
    fn into_model(self) -> Harmonizer {
        let prior = smoothed_prior(&self.prior);
        let log_change = change_table(&self.change, &prior);
        let (log_stay, log_move) = self
            .stay
            .iter()
            .zip(&self.moved)
            .map(|(stay, moved)| {
                let total = stay + moved + 2.0 * STAY_K;
                (
                    ((stay + STAY_K) / total).ln(),
                    ((moved + STAY_K) / total).ln(),
                )
            })
            .unzip();
        Harmonizer {
            qualities: QUALITIES[..self.q].to_vec(),
            log_prior: prior.iter().map(|p| p.ln()).collect(),
            log_change,
            log_stay,
            log_move,
            log_emit: emission_table(&self.emit, self.q),
        }
    }
}

/// log P(pitch class above the root | state) from per-state counts (states × 12): each state's row
/// is smoothed towards its quality's add-k smoothed row.
fn emission_table(counts: &[f64], q: usize) -> Vec<f64> {
    let mut by_quality = vec![0.0; q * 12];
    for (s, row) in counts.chunks(12).enumerate() {
        for (pc, c) in row.iter().enumerate() {
            by_quality[(s % q) * 12 + pc] += c;
        }
    }
    let quality_p: Vec<f64> = by_quality
        .chunks(12)
        .flat_map(|row| {
            let total: f64 = row.iter().sum::<f64>() + 12.0 * EMIT_K;
            row.iter().map(move |c| (c + EMIT_K) / total)
        })
        .collect();
    let k = STATE_EMIT_K;
    counts
        .chunks(12)
        .enumerate()
        .flat_map(|(s, row)| {
            let back_off = &quality_p[(s % q) * 12..(s % q + 1) * 12];
            let total: f64 = row.iter().sum::<f64>() + k;
            row.iter()
                .zip(back_off)
                .map(move |(c, p)| ((c + k * p) / total).ln())
        })
        .collect()
}

/// Add-k smoothed state probabilities.
fn smoothed_prior(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum::<f64>() + PRIOR_K * counts.len() as f64;
    counts.iter().map(|c| (c + PRIOR_K) / total).collect()
}

/// log P(next | previous, change): each row's counts smoothed towards the prior (diagonal left at 0).
fn change_table(counts: &[f64], prior: &[f64]) -> Vec<f64> {
    let n = prior.len();
    let mut table = vec![0.0; n * n];
    for i in 0..n {
        let row = &counts[i * n..(i + 1) * n];
        let total: f64 = row.iter().sum::<f64>() + TRANSITION_K * (1.0 - prior[i]);
        for j in (0..n).filter(|&j| j != i) {
            table[i * n + j] = ((row[j] + TRANSITION_K * prior[j]) / total).ln();
        }
    }
    table
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

/// The state of a chord with root pitch class `root` and quality `q` in the key of `tonic`.
fn state(root: u8, q: usize, tonic: u8) -> usize {
    let degree = (usize::from(root) + 12 - usize::from(tonic)) % 12;
    degree * QUALITIES.len() + q
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

/// The melody's major tonic (a minor key gives its relative major), 0 for an empty melody.
fn estimate_tonic(melody: &[GridNote]) -> u8 {
    let mut hist = [0.0; 12];
    for note in melody {
        hist[usize::from(note.pitch % 12)] += f64::from(note.duration);
    }
    let mut best = (0u8, f64::NEG_INFINITY);
    for tonic in 0..12u8 {
        for (profile, to_major) in [(&KK_MAJOR, 0u8), (&KK_MINOR, 3u8)] {
            let r = key_correlation(&hist, profile, tonic);
            if r > best.1 {
                best = ((tonic + to_major) % 12, r);
            }
        }
    }
    best.0
}

/// Pearson correlation of `hist` read from `tonic` up with `profile` (0 if either is flat).
fn key_correlation(hist: &[f64; 12], profile: &[f64; 12], tonic: u8) -> f64 {
    let mean_h = hist.iter().sum::<f64>() / 12.0;
    let mean_p = profile.iter().sum::<f64>() / 12.0;
    let (mut cov, mut var_h, mut var_p) = (0.0, 0.0, 0.0);
    for (k, p) in profile.iter().enumerate() {
        let h = hist[(usize::from(tonic) + k) % 12] - mean_h;
        let p = p - mean_p;
        cov += h * p;
        var_h += h * h;
        var_p += p * p;
    }
    let denom = (var_h * var_p).sqrt();
    if denom > 0.0 {
        cov / denom
    } else {
        0.0
    }
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

    /// Semitones of a triad's root, third and fifth and the root an octave up.
    fn triad_tones(minor: bool) -> [u8; 4] {
        [0, if minor { 3 } else { 4 }, 7, 12]
    }

    /// The triad on `degree` of the major key of `key`.
    fn chord(key: u8, degree: u8, minor: bool) -> BeatChord {
        let root = (key + degree) % 12;
        let set = if minor { QUALITIES[1] } else { QUALITIES[0] };
        BeatChord {
            root,
            pitch_classes: rotate(set, root),
        }
    }

    /// A song in `key`, one chord per bar from `prog` (degree, minor), a chord tone on each beat
    /// chosen by `pattern`.
    fn song(key: u8, prog: &[(u8, bool)], pattern: [usize; 4]) -> HarmonyExample {
        let mut melody = Vec::new();
        let mut chords = Vec::new();
        for (bar, &(degree, minor)) in prog.iter().enumerate() {
            let tones = triad_tones(minor);
            for (beat, &tone) in pattern.iter().enumerate() {
                let pitch = 60 + (key + degree) % 12 + tones[tone];
                melody.push(GridNote {
                    bar,
                    pos: 4 * beat as u32,
                    pitch,
                    bin: 16,
                    duration: 4,
                });
                chords.push(Some(chord(key, degree, minor)));
            }
        }
        HarmonyExample { melody, chords }
    }

    const I_IV_V_I: [(u8, bool); 8] = [
        (0, false),
        (5, false),
        (7, false),
        (0, false),
        (0, false),
        (5, false),
        (7, false),
        (0, false),
    ];
    const I_VI_IV_V: [(u8, bool); 8] = [
        (0, false),
        (9, true),
        (5, false),
        (7, false),
        (0, false),
        (9, true),
        (5, false),
        (7, false),
    ];

    fn corpus() -> Vec<HarmonyExample> {
        let patterns = [[0, 1, 2, 1], [2, 1, 0, 3], [1, 2, 3, 2]];
        let mut songs = Vec::new();
        for (i, key) in [0u8, 7, 2, 5, 10, 3].into_iter().enumerate() {
            songs.push(song(key, &I_IV_V_I, patterns[i % 3]));
            songs.push(song(key, &I_VI_IV_V, patterns[(i + 1) % 3]));
        }
        songs
    }

    #[test]
    fn learns_progressions_in_a_new_key() {
        let model = Harmonizer::fit(&corpus()).unwrap();
        let prog = [
            (0, false),
            (9, true),
            (5, false),
            (7, false),
            (0, false),
            (5, false),
            (7, false),
            (0, false),
        ];
        let test = song(9, &prog, [0, 2, 1, 3]);
        let pred = model.harmonize(&test.melody, prog.len());
        let (roots, overlap) = agreement(&pred, &test.chords);
        assert!(
            roots >= 0.9,
            "root agreement {roots}, pitch overlap {overlap}"
        );
    }

    #[test]
    fn harmonize_gives_one_chord_per_beat_even_without_melody() {
        let model = Harmonizer::fit(&corpus()).unwrap();
        let chords = model.harmonize(&[], 5);
        assert_eq!(chords.len(), 5 * BEATS_PER_BAR);
        assert!(chords.iter().all(|c| c.root < 12 && c.pitch_classes != 0));
        assert!(model.harmonize(&[], 0).is_empty());
        let test = song(4, &I_IV_V_I, [0, 1, 2, 1]);
        assert_eq!(model.harmonize(&test.melody, 3).len(), 3 * BEATS_PER_BAR);
    }

    #[test]
    fn save_load_round_trip() {
        let model = Harmonizer::fit(&corpus()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harmony.json");
        model.save(&path).unwrap();
        let loaded = Harmonizer::load(&path).unwrap();
        let test = song(11, &I_VI_IV_V, [2, 1, 0, 1]);
        assert_eq!(
            model.harmonize(&test.melody, 8),
            loaded.harmonize(&test.melody, 8)
        );
        assert!(Harmonizer::load(&dir.path().join("missing.json")).is_err());
        std::fs::write(&path, "{\"qualities\": [1]}").unwrap();
        assert!(matches!(
            Harmonizer::load(&path),
            Err(Error::BadFile { .. })
        ));
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

    #[test]
    fn fit_without_labels_is_an_error() {
        assert!(Harmonizer::fit(&[]).is_err());
        let mut unlabelled = song(0, &I_IV_V_I, [0, 1, 2, 1]);
        unlabelled.chords.iter_mut().for_each(|c| *c = None);
        assert!(Harmonizer::fit(&[unlabelled]).is_err());
    }

    #[test]
    fn key_and_chord_mapping() {
        let scale = |tonic: u8| -> Vec<GridNote> {
            [0u8, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0]
                .iter()
                .enumerate()
                .map(|(i, s)| GridNote {
                    bar: i / 4,
                    pos: 4 * (i % 4) as u32,
                    pitch: 60 + tonic + s,
                    bin: 16,
                    duration: if *s % 12 == 0 { 8 } else { 4 },
                })
                .collect()
        };
        assert_eq!(estimate_tonic(&scale(0)), 0);
        assert_eq!(estimate_tonic(&scale(7)), 7);
        assert_eq!(estimate_tonic(&[]), 0);
        let g7 = BeatChord {
            root: 7,
            pitch_classes: pc_set(&[7, 11, 2, 5]),
        };
        // G7 in C: degree 7, quality "7".
        assert_eq!(state(g7.root, quality_of(g7), 0), 7 * QUALITIES.len() + 2);
        let w = beat_weights(
            &[GridNote {
                bar: 0,
                pos: 2,
                pitch: 62,
                bin: 1,
                duration: 7,
            }],
            2,
        );
        assert_eq!((w[0][2], w[1][2]), (2.0, 4.0));
    }

    #[test]
    fn training_key_is_the_tonic_that_explains_the_chords() {
        let songs: Vec<Song> = corpus().iter().map(Song::new).collect();
        let true_keys = [0u8, 0, 7, 7, 2, 2, 5, 5, 10, 10, 3, 3];
        let log_prior = fit_counts(&songs, &true_keys).log_prior();
        for key in [4u8, 9, 11] {
            let test = Song::new(&song(key, &I_IV_V_I, [0, 0, 0, 0]));
            assert_eq!(test.likeliest_tonic(&log_prior), key);
        }
    }

    #[test]
    fn key_is_chosen_by_likelihood() {
        let model = Harmonizer::fit(&corpus()).unwrap();
        for key in [1u8, 4, 6, 8, 11] {
            let test = song(key, &I_VI_IV_V, [2, 1, 0, 1]);
            let weights = beat_weights(&test.melody, test.chords.len());
            assert_eq!(model.decode(&weights).0, key, "song in key {key}");
        }
    }

    #[test]
    fn stay_probabilities_follow_the_chord_runs() {
        // Every corpus chord lasts a bar, so chords change on the downbeat after four beats.
        let model = Harmonizer::fit(&corpus()).unwrap();
        let cell = |pos: usize, run: usize| pos * MAX_RUN + run - 1;
        let (stay, change) = (&model.log_stay, &model.log_move);
        assert!(change[cell(0, 4)] > stay[cell(0, 4)]);
        for pos in 1..BEATS_PER_BAR {
            assert!(stay[cell(pos, pos)] > change[cell(pos, pos)], "beat {pos}");
        }
    }

    #[test]
    fn state_emissions_back_off_to_their_quality() {
        let q = QUALITIES.len();
        let mut counts = vec![0.0; 12 * 12 * q];
        counts[..12].copy_from_slice(&[9.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0, 0.0]);
        let table = emission_table(&counts, q);
        // State 0 (I major) saw the notes; state q (bII major) saw none and gets the quality's row.
        let (seen, unseen) = (&table[..12], &table[12 * q..12 * q + 12]);
        for row in [seen, unseen] {
            assert!((row.iter().map(|v| v.exp()).sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert!(unseen[0] > unseen[7] && unseen[7] > unseen[4] && unseen[4] > unseen[1]);
        assert!(unseen.iter().zip(seen).all(|(u, s)| (u - s).abs() < 0.1));
        assert!(seen[0] > unseen[0]);
    }
}
