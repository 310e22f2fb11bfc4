//! Monophonic transcription: the notes of a one-voice recording, so that a timbre can be cloned
//! without a MIDI file of what was played.
//!
//! The recording is resampled to 16 kHz and tracked with YIN (de Cheveigné & Kawahara 2002): the
//! difference function (by FFT), its cumulative mean normalized form d′, the first dip under an
//! absolute threshold (0.12) and parabolic interpolation, every 5 ms over 40 Hz–2 kHz; a 10 ms RMS
//! envelope beside it. Voiced, loud enough frames with a steady MIDI pitch make notes: a note ends
//! when the pitch moves by a semitone or more (rounded, with 0.75-semitone hysteresis) for 20 ms or
//! the sound stops for 30 ms, and a repeated note splits at an energy rise of 6 dB within 20 ms.
//! Notes under 60 ms are dropped; velocity follows the note's loudest RMS (the median note is 80).
//! Each onset then moves back to where its attack starts, and each end back from the end of the
//! release tail to where the release starts (the note-off), so that a clone does not learn a
//! note's tail as its hold.
//!
//! Refused, one line each: silence, noise (too few voiced frames), and several notes at once (see
//! [`transcribe`]).

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::audio::decode::Recording;
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};

/// The analysis sample rate, Hz.
pub const RATE: u32 = 16_000;
/// Frame hop, samples (5 ms).
const HOP: usize = 80;
/// YIN integration window, samples (25 ms).
const WINDOW: usize = 400;
/// Longest lag, samples (40 Hz).
const MAX_LAG: usize = 400;
/// Shortest lag, samples (2 kHz).
const MIN_LAG: usize = 8;
/// FFT size of the difference function (at least `WINDOW + MAX_LAG`).
const DIFF_FFT: usize = 1024;
/// YIN's absolute threshold on d′.
const THRESHOLD: f64 = 0.12;
/// A frame is voiced when its best d′ is under this.
const VOICED: f64 = 0.25;
/// Half the RMS envelope's window, samples (10 ms in all).
const RMS_HALF: usize = 80;
/// Frames below the loudest by more than this many dB are not part of a note.
const RANGE_DB: f64 = 40.0;
/// And neither are frames below this level, dBFS.
const FLOOR_DB: f64 = -60.0;
/// A whole recording under this RMS is silent.
const SILENT_RMS: f64 = 1e-4;
/// Frames a new pitch must hold to end a note (20 ms).
const PITCH_HOLD: usize = 4;
/// Frames of silence or no pitch that end a note (30 ms).
const GAP_HOLD: usize = 6;
/// Shortest note kept, frames (60 ms).
const MIN_NOTE: usize = 12;
/// Rise in dB within `RISE_SPAN` frames that splits a repeated note.
const ONSET_DB: f64 = 6.0;
/// Frames over which an onset rise is measured (20 ms).
const RISE_SPAN: usize = 4;
/// Least share of the sounding frames that must be voiced.
const MIN_VOICED: f64 = 0.4;
/// Most share of the notes' time that may look like several notes at once.
const MAX_POLYPHONIC: f64 = 0.3;
/// FFT size of the harmonic check (128 ms).
const SPECTRUM_FFT: usize = 2048;

/// One transcribed note.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TranscribedNote {
    /// MIDI key.
    pub pitch: u8,
    /// MIDI velocity, from the note's loudest RMS (the median note of the recording is 80).
    pub velocity: u8,
    /// Onset, seconds into the recording.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// The notes heard in a recording and how sure the tracker was.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The notes, in time order, never overlapping.
    pub notes: Vec<TranscribedNote>,
    /// Mean periodicity (1 − d′) over the voiced frames, 0–1.
    pub confidence: f64,
    /// Share of the sounding frames that have a pitch, 0–1.
    pub voiced_fraction: f64,
}

impl Transcription {
    /// The notes as a score: one track, channel 0, program 0, at 120 BPM.
    pub fn to_score(&self) -> Result<Score> {
        let mut score = Score::new(480, 500_000)?;
        let track = score.add_track("transcribed", TrackRole::Melody);
        for n in &self.notes {
            score.push_note_seconds(track, 0, 0, n.pitch, n.velocity, n.start, n.end);
        }
        score.sort();
        Ok(score)
    }

    /// The lowest and highest pitch, if there are notes.
    pub fn range(&self) -> Option<(u8, u8)> {
        let lo = self.notes.iter().map(|n| n.pitch).min()?;
        let hi = self.notes.iter().map(|n| n.pitch).max()?;
        Some((lo, hi))
    }
}

/// A key's name with its octave, C4 = 60 (sharps: `C#4`).
pub fn note_name(pitch: u8) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!("{}{}", NAMES[pitch as usize % 12], pitch as i32 / 12 - 1)
}

/// One analysis frame: pitch (fractional MIDI, when voiced), d′ at the chosen lag, level in dBFS.
#[derive(Debug, Clone, Copy)]
struct Frame {
    midi: Option<f64>,
    aperiodicity: f64,
    db: f64,
}

/// Transcribes a one-voice recording.
///
/// Refuses silence (RMS under 1e-4), noise (under 40 % of the sounding frames voiced) and several
/// notes at once. The last is checked on each note's spectrum: a note whose fundamental is 30 dB or
/// more under its strongest harmonic looks like two tones whose common period YIN found (a fifth,
/// 220 + 329.6 Hz, tracks as 110 Hz with no energy there); refused when over 30 % of the notes' time
/// looks so. Chords that are not near-periodic leave most frames unvoiced and are refused as noise.
/// Measured in the tests below: single harmonic tones, the SoundFont's flute and clarinet and the
/// shipped oboe recording pass; the fifth, white noise and silence are refused.
pub fn transcribe(rec: &Recording) -> Result<Transcription> {
    let rms = (rec.samples.iter().map(|v| (*v as f64).powi(2)).sum::<f64>()
        / rec.samples.len().max(1) as f64)
        .sqrt();
    if rms < SILENT_RMS {
        return Err(Error::Invalid(
            "the recording is silent: nothing to transcribe".into(),
        ));
    }
    let x = at_analysis_rate(rec)?;
    let frames = track(&x);
    let floor = level_floor(&frames);
    let sounding: Vec<&Frame> = frames.iter().filter(|f| f.db >= floor).collect();
    let voiced: Vec<&&Frame> = sounding.iter().filter(|f| f.midi.is_some()).collect();
    let voiced_fraction = voiced.len() as f64 / sounding.len().max(1) as f64;
    let notes = tighten(segment(&frames, floor), &frames);
    if voiced_fraction < MIN_VOICED || notes.is_empty() {
        return Err(Error::Invalid(format!(
            "no steady pitch in {:.0} % of the sound (noise, unpitched or chords?): \
             give the notes played with --notes",
            100.0 * (1.0 - voiced_fraction)
        )));
    }
    let poly = polyphonic_share(&x, &frames, &notes);
    if poly > MAX_POLYPHONIC {
        return Err(Error::Invalid(format!(
            "{:.0} % of it sounds like several notes at once: transcription is for one voice; \
             give the notes played with --notes",
            100.0 * poly
        )));
    }
    let confidence =
        voiced.iter().map(|f| 1.0 - f.aperiodicity).sum::<f64>() / voiced.len().max(1) as f64;
    Ok(Transcription {
        notes: timed(&notes, &frames),
        confidence,
        voiced_fraction,
    })
}

/// The recording at `RATE`, as f64.
fn at_analysis_rate(rec: &Recording) -> Result<Vec<f64>> {
    let y = super::resample::resample(&rec.samples, rec.sample_rate, RATE)?;
    Ok(y.iter().map(|&v| v as f64).collect())
}

/// Seconds into the recording of frame `f` (the centre of its window).
fn frame_time(f: usize) -> f64 {
    (f * HOP + WINDOW / 2) as f64 / RATE as f64
}

/// The level under which a frame is not part of a note, dBFS.
fn level_floor(frames: &[Frame]) -> f64 {
    let loudest = frames
        .iter()
        .map(|f| f.db)
        .fold(f64::NEG_INFINITY, f64::max);
    (loudest - RANGE_DB).max(FLOOR_DB)
}

/// Every frame of `x` (16 kHz): pitch, aperiodicity and level.
fn track(x: &[f64]) -> Vec<Frame> {
    let count = x.len().div_ceil(HOP);
    let mut padded = x.to_vec();
    padded.resize(count * HOP + WINDOW + MAX_LAG, 0.0);
    let mut energy = vec![0.0; padded.len() + 1];
    for (i, v) in padded.iter().enumerate() {
        energy[i + 1] = energy[i] + v * v;
    }
    let mut yin = Yin::new();
    (0..count)
        .map(|f| {
            let t = f * HOP;
            let d = yin.difference(&padded, &energy, t);
            let (lag, aperiodicity) = pick(&cumulative_mean_normalized(&d));
            let voiced = aperiodicity < VOICED;
            // Two periods (at least 10 ms): a low note's level does not ripple with its waveform.
            let half = if voiced { lag.round() as usize } else { 0 };
            let c = t + WINDOW / 2;
            let half = half.clamp(RMS_HALF, c);
            let e = (energy[c + half] - energy[c - half]) / (2 * half) as f64;
            Frame {
                midi: voiced.then(|| hz_to_midi(RATE as f64 / lag)),
                aperiodicity,
                db: 10.0 * (e + 1e-12).log10(),
            }
        })
        .collect()
}

/// Fractional MIDI key of a frequency.
fn hz_to_midi(hz: f64) -> f64 {
    69.0 + 12.0 * (hz / 440.0).log2()
}

/// The YIN difference function by FFT, with its buffers.
struct Yin {
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    a: Vec<Complex<f64>>,
    b: Vec<Complex<f64>>,
}

impl Yin {
    fn new() -> Self {
        let mut planner = FftPlanner::new();
        Yin {
            forward: planner.plan_fft_forward(DIFF_FFT),
            inverse: planner.plan_fft_inverse(DIFF_FFT),
            a: vec![Complex::default(); DIFF_FFT],
            b: vec![Complex::default(); DIFF_FFT],
        }
    }

    /// d(τ) = Σ_{j<W} (x[t+j] − x[t+j+τ])² for τ in 0..=MAX_LAG, as the two energies (from the
    /// prefix sums `energy`) less twice the cross-correlation (by FFT).
    fn difference(&mut self, x: &[f64], energy: &[f64], t: usize) -> Vec<f64> {
        for (i, (a, b)) in self.a.iter_mut().zip(self.b.iter_mut()).enumerate() {
            *a = Complex::new(if i < WINDOW { x[t + i] } else { 0.0 }, 0.0);
            *b = Complex::new(if i < WINDOW + MAX_LAG { x[t + i] } else { 0.0 }, 0.0);
        }
        self.forward.process(&mut self.a);
        self.forward.process(&mut self.b);
        for (a, b) in self.a.iter_mut().zip(&self.b) {
            *a = a.conj() * b;
        }
        self.inverse.process(&mut self.a);
        let head = energy[t + WINDOW] - energy[t];
        (0..=MAX_LAG)
            .map(|tau| {
                let lagged = energy[t + tau + WINDOW] - energy[t + tau];
                let cross = self.a[tau].re / DIFF_FFT as f64;
                (head + lagged - 2.0 * cross).max(0.0)
            })
            .collect()
    }
}

/// d′(τ) = d(τ) · τ / Σ_{j=1..τ} d(j), with d′(0) = 1.
fn cumulative_mean_normalized(d: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    let mut out = vec![1.0; d.len()];
    for tau in 1..d.len() {
        sum += d[tau];
        out[tau] = if sum > 0.0 {
            d[tau] * tau as f64 / sum
        } else {
            1.0
        };
    }
    out
}

/// The lag (fractional samples) and its d′: the first dip under the threshold, followed down to its
/// minimum, or the lowest d′ when none dips; refined by a parabola through three points.
fn pick(dn: &[f64]) -> (f64, f64) {
    let mut tau = match (MIN_LAG..=MAX_LAG).find(|&t| dn[t] < THRESHOLD) {
        Some(t) => t,
        None => (MIN_LAG..=MAX_LAG)
            .min_by(|&a, &b| dn[a].total_cmp(&dn[b]))
            .unwrap_or(MIN_LAG),
    };
    while tau < MAX_LAG && dn[tau + 1] < dn[tau] {
        tau += 1;
    }
    if tau <= MIN_LAG || tau >= MAX_LAG {
        return (tau as f64, dn[tau]);
    }
    let (l, c, r) = (dn[tau - 1], dn[tau], dn[tau + 1]);
    let curve = l - 2.0 * c + r;
    let shift = if curve > 0.0 {
        (0.5 * (l - r) / curve).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    (tau as f64 + shift, (c - 0.25 * (l - r) * shift).max(0.0))
}

/// A note in frames, before it is timed.
#[derive(Debug, Clone)]
struct Span {
    /// First frame.
    start: usize,
    /// One past the last frame.
    end: usize,
    /// The rounded key its frames were grouped by.
    key: i32,
}

impl Span {
    /// The note: key the median of its frames' pitches, velocity from its loudest frame's level
    /// `peak` dB against `reference`, the median note's (see [`MEDIAN_VELOCITY`]).
    fn timed(&self, frames: &[Frame], peak: f64, reference: f64) -> TranscribedNote {
        let part = &frames[self.start..self.end];
        let mut keys: Vec<f64> = part.iter().filter_map(|f| f.midi).collect();
        keys.sort_by(f64::total_cmp);
        let key = keys
            .get(keys.len() / 2)
            .map_or(self.key as f64, |k| k.round());
        let velocity = MEDIAN_VELOCITY * 10f64.powf((peak - reference) / 40.0);
        TranscribedNote {
            pitch: key.clamp(0.0, 127.0) as u8,
            velocity: velocity.round().clamp(1.0, 127.0) as u8,
            start: frame_time(self.start),
            end: frame_time(self.end),
        }
    }

    /// The level of the note's loudest frame, dB.
    fn peak(&self, frames: &[Frame]) -> f64 {
        frames[self.start..self.end]
            .iter()
            .map(|f| f.db)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The velocity of the median note's level: mezzo-forte. A recording says nothing of the level it
/// was played at, only of its notes' levels against each other (40 dB per factor of 10 in
/// velocity, as General MIDI synths play velocity); anchoring the loudest note at the top instead
/// put every other note 10–15 under the velocity it was played at, on SoundFont phrases of
/// velocities 50–115.
const MEDIAN_VELOCITY: f64 = 80.0;

/// The notes, timed, their velocities around the median note's level.
fn timed(notes: &[Span], frames: &[Frame]) -> Vec<TranscribedNote> {
    let peaks: Vec<f64> = notes.iter().map(|n| n.peak(frames)).collect();
    let mut sorted = peaks.clone();
    sorted.sort_by(f64::total_cmp);
    let reference = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    notes
        .iter()
        .zip(peaks)
        .map(|(n, peak)| n.timed(frames, peak, reference))
        .collect()
}

/// Each frame's key: `None` when quiet or unvoiced; `current` (the open note's key) while the
/// pitch stays within 0.75 semitone of it.
fn key_of(frame: &Frame, floor: f64, current: Option<i32>) -> Option<i32> {
    let midi = frame.midi.filter(|_| frame.db >= floor)?;
    match current {
        Some(k) if (midi - k as f64).abs() < 0.75 => Some(k),
        _ => Some(midi.round() as i32),
    }
}

/// Each note's onset moved back to where its attack starts (the steepest rise, where the onset
/// was found, is 10–20 ms into it) and its end moved back from the end of the release tail to
/// where the release starts (the note-off: a clone fitted to notes held into their tails learns
/// a release that is too short).
fn tighten(mut notes: Vec<Span>, frames: &[Frame]) -> Vec<Span> {
    let db: Vec<f64> = frames.iter().map(|f| f.db).collect();
    let mut before = 0;
    for n in notes.iter_mut() {
        n.start = attack_start(&db, n.start, before);
        n.end = release_start(&db, n.start, n.end);
        before = n.end;
    }
    notes
}

/// Rise in dB from one frame to the next that counts as part of an attack.
const ATTACK_STEP_DB: f64 = 1.0;
/// Frames an onset may move back to its attack's start (50 ms).
const ATTACK_BACK: usize = 10;
/// Fall in dB over `RISE_SPAN` frames that counts as part of a release (0.375 dB per 5 ms).
const RELEASE_FALL_DB: f64 = 1.5;

/// The first frame of the run of rising frames (each ≥ `ATTACK_STEP_DB` over the one before) that
/// `start` is in, at most `ATTACK_BACK` frames back and not before `earliest`.
fn attack_start(db: &[f64], start: usize, earliest: usize) -> usize {
    let lo = earliest.max(start.saturating_sub(ATTACK_BACK)).max(1);
    let mut s = start;
    while s > lo && db[s - 1] - db[s - 2] >= ATTACK_STEP_DB {
        s -= 1;
    }
    s
}

/// Where the release tail that ends the note (frames `start..end`) begins: the first frame of the
/// last run of frames whose level fell ≥ `RELEASE_FALL_DB` over the `RISE_SPAN` frames before
/// them, less the lag of that test; `end` when the note does not end in a fall. The frames at the
/// very end may be rising already (the next note's attack) and are skipped.
fn release_start(db: &[f64], start: usize, end: usize) -> usize {
    let lo = start + MIN_NOTE + RISE_SPAN;
    let falls = |g: usize| db[g - RISE_SPAN] - db[g] >= RELEASE_FALL_DB;
    let mut e = end - 1;
    while e > lo && !falls(e) && end - e <= RISE_SPAN {
        e -= 1;
    }
    if e <= lo || !falls(e) {
        return end;
    }
    while e > lo && falls(e - 1) {
        e -= 1;
    }
    (e + 1 - RISE_SPAN).max(start + MIN_NOTE)
}

/// Frames where the level rises by `ONSET_DB` within `RISE_SPAN` frames, at the steepest point.
fn onsets(frames: &[Frame]) -> Vec<bool> {
    let rise: Vec<f64> = (0..frames.len())
        .map(|f| {
            let before = frames[f.saturating_sub(RISE_SPAN)..f.max(1)]
                .iter()
                .map(|x| x.db)
                .fold(f64::INFINITY, f64::min);
            frames[f].db - before
        })
        .collect();
    (0..frames.len())
        .map(|f| {
            let near = f.saturating_sub(3)..(f + 4).min(frames.len());
            rise[f] >= ONSET_DB && near.clone().all(|g| rise[g] <= rise[f])
        })
        .collect()
}

/// Groups frames into notes (see the module's doc); notes under `MIN_NOTE` frames are dropped.
fn segment(frames: &[Frame], floor: f64) -> Vec<Span> {
    let onset = onsets(frames);
    let mut notes = Vec::new();
    let mut open: Option<Span> = None;
    let mut pending: (Option<i32>, usize, usize) = (None, 0, 0); // key, first frame, frames held
    for (f, frame) in frames.iter().enumerate() {
        let key = key_of(frame, floor, open.as_ref().map(|s| s.key));
        if let Some(s) = open.as_mut().filter(|s| Some(s.key) == key) {
            if onset[f] && f - s.start >= MIN_NOTE {
                notes.push(Span {
                    end: f,
                    ..s.clone()
                });
                s.start = f;
            }
            s.end = f + 1;
            pending = (key, f + 1, 0);
            continue;
        }
        if pending.0 != key || pending.2 == 0 {
            pending = (key, f, 0);
        }
        pending.2 += 1;
        let hold = if key.is_some() { PITCH_HOLD } else { GAP_HOLD };
        if pending.2 >= hold || (open.is_none() && key.is_some()) {
            let start = match key {
                Some(_) => attack_before(&onset, pending.1, earliest(open.as_ref(), &notes)),
                None => pending.1,
            };
            notes.extend(open.take().map(|o| Span {
                end: o.end.min(start).max(o.start),
                ..o
            }));
            open = key.map(|k| Span {
                start,
                end: f + 1,
                key: k,
            });
            pending = (key, f + 1, 0);
        }
    }
    notes.extend(open);
    notes.retain(|n| n.end - n.start >= MIN_NOTE);
    notes
}

/// The last onset in the 150 ms up to frame `at` (not before `earliest`), else `at`: a pitch is
/// found only once a noisy attack (a plucked bass) or the last note's ring has faded.
fn attack_before(onset: &[bool], at: usize, earliest: usize) -> usize {
    (earliest.max(at.saturating_sub(30))..=at)
        .rev()
        .find(|&g| onset[g])
        .unwrap_or(at)
}

/// The first frame a new note may claim: past the open note's first `MIN_NOTE` frames when it is
/// long enough to keep, else past the last note kept.
fn earliest(open: Option<&Span>, notes: &[Span]) -> usize {
    match open {
        Some(o) if o.end - o.start >= MIN_NOTE => o.start + MIN_NOTE,
        _ => notes
            .iter()
            .rev()
            .find(|n| n.end - n.start >= MIN_NOTE)
            .map_or(0, |n| n.end),
    }
}

/// Share of the notes' time whose spectrum looks like two tones or more (see [`transcribe`]).
fn polyphonic_share(x: &[f64], frames: &[Frame], notes: &[Span]) -> f64 {
    let fft = FftPlanner::new().plan_fft_forward(SPECTRUM_FFT);
    let mut total = 0usize;
    let mut flagged = 0usize;
    for n in notes {
        let mid = (n.start + n.end) / 2;
        let Some(midi) = frames[mid].midi else {
            continue;
        };
        let hz = 440.0 * 2f64.powf((midi - 69.0) / 12.0);
        let centre = mid * HOP + WINDOW / 2;
        total += n.end - n.start;
        if weak_fundamental(&spectrum(x, centre, fft.as_ref()), hz) {
            flagged += n.end - n.start;
        }
    }
    flagged as f64 / total.max(1) as f64
}

/// Magnitudes of a Hann-windowed `SPECTRUM_FFT` block of `x` centred on `centre`.
fn spectrum(x: &[f64], centre: usize, fft: &dyn Fft<f64>) -> Vec<f64> {
    let half = SPECTRUM_FFT / 2;
    let mut buf: Vec<Complex<f64>> = (0..SPECTRUM_FFT)
        .map(|i| {
            let v = (centre + i).checked_sub(half).and_then(|j| x.get(j));
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / SPECTRUM_FFT as f64).cos();
            Complex::new(v.copied().unwrap_or(0.0) * w, 0.0)
        })
        .collect();
    fft.process(&mut buf);
    buf[..half].iter().map(|c| c.norm()).collect()
}

/// True when the fundamental `hz` is 30 dB or more under the strongest of its first 8 harmonics.
fn weak_fundamental(mag: &[f64], hz: f64) -> bool {
    let bin_hz = RATE as f64 / SPECTRUM_FFT as f64;
    let peak = |k: usize| {
        let centre = k as f64 * hz / bin_hz;
        let reach = (0.03 * centre).max(1.5);
        let lo = (centre - reach).floor().max(0.0) as usize;
        let hi = ((centre + reach).ceil() as usize).min(mag.len() - 1);
        mag[lo..=hi].iter().copied().fold(0.0, f64::max)
    };
    let harmonics: Vec<f64> = (1..=8)
        .take_while(|&k| k as f64 * hz < 0.45 * RATE as f64)
        .map(peak)
        .collect();
    let strongest = harmonics.iter().copied().fold(0.0, f64::max);
    harmonics.len() > 1 && harmonics[0] < strongest * 10f64.powf(-30.0 / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const TEST_RATE: u32 = 44_100;

    /// Harmonic tones (5 partials at 1/k) `(key, start, end)` with 10 ms ramps, `seconds` long.
    fn tones(notes: &[(f64, f64, f64)], seconds: f64) -> Recording {
        let sr = TEST_RATE as f64;
        let mut x = vec![0f32; (seconds * sr) as usize];
        for &(key, start, end) in notes {
            let hz = 440.0 * 2f64.powf((key - 69.0) / 12.0);
            for i in (start * sr) as usize..((end * sr) as usize).min(x.len()) {
                let t = i as f64 / sr;
                let ramp = ((t - start) / 0.01).min((end - t) / 0.01).min(1.0);
                let v: f64 = (1..=5)
                    .map(|k| (std::f64::consts::TAU * hz * k as f64 * t).sin() / k as f64)
                    .sum();
                x[i] += (0.2 * ramp * v) as f32;
            }
        }
        Recording {
            samples: x,
            sample_rate: TEST_RATE,
        }
    }

    /// Asserts the transcription's (pitch, onset) pairs match `want` (onsets within 30 ms).
    fn assert_notes(t: &Transcription, want: &[(u8, f64)]) {
        let got: Vec<(u8, f64)> = t.notes.iter().map(|n| (n.pitch, n.start)).collect();
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((p, s), (wp, ws)) in got.iter().zip(want) {
            assert_eq!(p, wp, "{got:?}");
            assert!((s - ws).abs() < 0.03, "onset {s} for {ws}: {got:?}");
        }
    }

    #[test]
    fn single_tones_give_their_key_and_onset() {
        let a3 = transcribe(&tones(&[(57.0, 0.3, 1.5)], 2.0)).unwrap();
        assert_notes(&a3, &[(57, 0.3)]);
        assert!((a3.notes[0].end - 1.5).abs() < 0.05, "{:?}", a3.notes);
        assert!(a3.confidence > 0.9 && a3.voiced_fraction > 0.9, "{a3:?}");
        let c5 = transcribe(&tones(&[(72.0, 0.2, 1.0)], 1.5)).unwrap();
        assert_notes(&c5, &[(72, 0.2)]);
        let low = transcribe(&tones(&[(36.0, 0.2, 1.2)], 1.5)).unwrap();
        assert_notes(&low, &[(36, 0.2)]);
    }

    /// One tone as a wind instrument plays it: `attack` s linear rise, held to `off`, then a
    /// release falling 60 dB in 0.5 s (as a SoundFont's volume envelope), `seconds` long.
    fn enveloped(key: f64, start: f64, attack: f64, off: f64, seconds: f64) -> Recording {
        let mut rec = tones(&[(key, start, seconds)], seconds);
        let sr = TEST_RATE as f64;
        for (i, v) in rec.samples.iter_mut().enumerate() {
            let t = i as f64 / sr;
            let gain = if t < off {
                ((t - start) / attack).clamp(0.0, 1.0)
            } else {
                10f64.powf(-3.0 * (t - off) / 0.25)
            };
            *v *= gain as f32;
        }
        rec
    }

    #[test]
    fn a_note_starts_at_its_attack_and_ends_where_its_release_starts() {
        for (attack, off) in [(0.005, 0.8), (0.04, 1.1), (0.08, 0.6)] {
            let t = transcribe(&enveloped(69.0, 0.25, attack, off, 2.0)).unwrap();
            assert_eq!(t.notes.len(), 1, "{t:?}");
            let n = t.notes[0];
            assert!((n.start - 0.25).abs() < 0.012, "attack {attack}: {n:?}");
            assert!((n.end - off).abs() < 0.02, "release at {off}: {n:?}");
        }
    }

    #[test]
    fn a_sequence_with_a_repeated_note_is_split() {
        let seq = [
            (60.0, 0.2, 0.7),
            (64.0, 0.7, 1.2),
            (67.0, 1.3, 1.8),
            (67.0, 1.9, 2.4),
        ];
        let t = transcribe(&tones(&seq, 3.0)).unwrap();
        assert_notes(&t, &[(60, 0.2), (64, 0.7), (67, 1.3), (67, 1.9)]);
        let score = t.to_score().unwrap();
        assert_eq!(score.tracks.len(), 1);
        assert_eq!(score.notes.len(), 4);
        assert!(score.notes.iter().all(|n| n.program == 0 && n.channel == 0));
        assert_eq!(t.range(), Some((60, 67)));
    }

    #[test]
    fn a_repeated_note_without_a_gap_splits_at_its_attack() {
        let mut rec = tones(&[(62.0, 0.2, 1.6)], 2.0);
        // Play it again at 0.9 s: quiet before, loud after.
        let at = (0.9 * TEST_RATE as f64) as usize;
        rec.samples[(0.2 * TEST_RATE as f64) as usize..at]
            .iter_mut()
            .for_each(|v| *v *= 0.2);
        let t = transcribe(&rec).unwrap();
        assert_notes(&t, &[(62, 0.2), (62, 0.9)]);
        assert!(t.notes[0].velocity < t.notes[1].velocity, "{:?}", t.notes);
    }

    /// Any samples give notes or an error: random runs of tones (silent, very quiet, normal and
    /// clipping-loud) over a little noise, some with a NaN or an infinite sample, at four rates.
    /// Notes come in order, never overlap, last at least 60 ms and have velocities 1–127.
    #[test]
    fn any_samples_give_ordered_notes_or_an_error() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
        let (mut transcribed, mut refused) = (0, 0);
        for case in 0..40 {
            let rate = [8_000, 16_000, 22_050, 44_100][case % 4];
            let n = rng.random_range(rate / 4..rate * 3);
            let mut x = vec![0f32; n as usize];
            let mut i = 0;
            while i < x.len() {
                let len = rng.random_range(50..rate as usize / 2);
                let hz = rng.random_range(30.0..3000.0f64);
                let amp = [0.0, 1e-5, 0.1, 2.0][rng.random_range(0..4)];
                for (k, v) in x.iter_mut().skip(i).take(len).enumerate() {
                    let tone = (std::f64::consts::TAU * hz * k as f64 / rate as f64).sin();
                    *v = (amp * tone) as f32 + rng.random_range(-0.01..0.01f32);
                }
                i += len;
            }
            if case % 5 == 0 {
                let at = rng.random_range(0..x.len());
                x[at] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][case % 3];
            }
            let rec = Recording {
                samples: x,
                sample_rate: rate,
            };
            let Ok(t) = transcribe(&rec) else {
                refused += 1;
                continue;
            };
            transcribed += 1;
            for w in t.notes.windows(2) {
                assert!(w[0].end <= w[1].start + 1e-9, "case {case}: {w:?}");
            }
            for n in &t.notes {
                assert!(n.end - n.start >= 0.059, "case {case}: {n:?}");
                assert!((1..=127).contains(&n.velocity) && n.pitch <= 127, "{n:?}");
            }
        }
        eprintln!("{transcribed} transcribed, {refused} refused");
        assert!(
            transcribed >= 5 && refused >= 5,
            "{transcribed} / {refused}"
        );
    }

    #[test]
    fn silence_noise_and_two_tones_are_refused() {
        let silent = Recording {
            samples: vec![0.0; 44_100],
            sample_rate: TEST_RATE,
        };
        let err = transcribe(&silent).unwrap_err().to_string();
        assert!(err.contains("silent"), "{err}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let noise = Recording {
            samples: (0..88_200).map(|_| rng.random_range(-0.3..0.3)).collect(),
            sample_rate: TEST_RATE,
        };
        let err = transcribe(&noise).unwrap_err().to_string();
        assert!(
            err.contains("no steady pitch") && err.contains("--notes"),
            "{err}"
        );
        for (low, high) in [(57.0, 64.0), (60.0, 67.0), (60.0, 64.0)] {
            let chord = tones(&[(low, 0.2, 1.8), (high, 0.2, 1.8)], 2.0);
            let err = transcribe(&chord).unwrap_err().to_string();
            assert!(
                err.contains("several notes") || err.contains("no steady"),
                "{err}"
            );
        }
    }

    /// Share of `want` (pitch, onset) found with the same pitch within 50 ms.
    fn recall(t: &Transcription, want: &[(u8, f64)]) -> f64 {
        let found = want
            .iter()
            .filter(|(p, s)| {
                t.notes
                    .iter()
                    .any(|n| n.pitch == *p && (n.start - s).abs() < 0.05)
            })
            .count();
        found as f64 / want.len() as f64
    }

    #[test]
    fn soundfont_flute_and_clarinet_phrases_are_recovered() {
        use crate::synth::data::{render_phrase, FitNote};
        let sf = crate::audio::soundfont::load(None).unwrap();
        let keys = [72u8, 74, 76, 77, 79, 79, 77, 76, 74, 72, 67, 69, 71, 72];
        let notes: Vec<FitNote> = keys
            .iter()
            .enumerate()
            .map(|(i, &pitch)| FitNote {
                pitch,
                velocity: 70 + (i as u8 % 4) * 12,
                start: 0.2 + 0.35 * i as f64,
                held: 0.3,
            })
            .collect();
        let want: Vec<(u8, f64)> = notes.iter().map(|n| (n.pitch, n.start)).collect();
        for program in [73u8, 71] {
            let audio = render_phrase(&sf, program, &notes, 5.6).unwrap();
            let rec = Recording {
                samples: audio,
                sample_rate: super::super::ddsp::SAMPLE_RATE,
            };
            let t = transcribe(&rec).unwrap();
            let r = recall(&t, &want);
            assert!(r >= 0.9, "program {program}: recall {r}, {:?}", t.notes);
        }
    }

    #[test]
    fn the_shipped_oboe_recording_is_recovered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let rec = crate::audio::decode::decode_file(&root.join("recording-oboe.wav")).unwrap();
        let score = crate::midi::read_file(&root.join("recording-oboe.mid")).unwrap();
        let want: Vec<(u8, f64)> = score.notes.iter().map(|n| (n.pitch, n.start)).collect();
        let started = std::time::Instant::now();
        let t = transcribe(&rec).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let r = recall(&t, &want);
        eprintln!(
            "oboe: {} notes of {}, recall {r:.3}, confidence {:.3}, {seconds:.3} s for {:.1} s",
            t.notes.len(),
            want.len(),
            t.confidence,
            rec.seconds()
        );
        assert!(r >= 0.9, "recall {r}: {:?}", t.notes);
    }
}
