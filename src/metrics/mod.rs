//! Objective music metrics, to compare a generated continuation with real music.
//!
//! Most follow MusPy's definitions (Dong et al. 2020, muspy.readthedocs.io "Metrics"), computed on
//! notes in seconds and, for rhythm, a [`Grid`] of beats; keys use the Krumhansl–Kessler (1982)
//! profiles. Every function is pure and gives a finite value on empty input (documented per
//! function).

mod grid;
mod key;
pub mod voice_leading;

use std::collections::HashSet;

use serde::Serialize;

pub use grid::Grid;
pub use key::{find_key, key_relation, Key, KeyRelation, MAJOR_PROFILE, MINOR_PROFILE};

/// A note in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    /// MIDI pitch.
    pub pitch: u8,
    /// Onset in seconds.
    pub start: f64,
    /// Release in seconds.
    pub end: f64,
    /// MIDI velocity.
    pub velocity: u8,
}

/// The number of notes lasting at least `secs` seconds (`end - start >= secs`).
pub fn long_notes(notes: &[Note], secs: f64) -> usize {
    notes.iter().filter(|n| n.end - n.start >= secs).count()
}

/// A sweep over note starts and ends: (∫ sounding pitches dt, time with any pitch sounding, most
/// pitches sounding at once). A pitch held by overlapping notes counts once; notes with
/// `end <= start` are skipped.
fn sweep(notes: &[Note]) -> (f64, f64, usize) {
    // (time, +1 start / -1 end, pitch); ends sort before starts at one time.
    let mut events: Vec<(f64, i32, u8)> = Vec::with_capacity(2 * notes.len());
    for n in notes.iter().filter(|n| n.end > n.start) {
        events.push((n.start, 1, n.pitch));
        events.push((n.end, -1, n.pitch));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut held, mut sounding) = ([0u32; 256], 0usize);
    let (mut area, mut active, mut most, mut prev) = (0.0, 0.0, 0, 0.0);
    for (t, delta, pitch) in events {
        let dt = t - prev;
        area += sounding as f64 * dt;
        active += if sounding > 0 { dt } else { 0.0 };
        let count = &mut held[usize::from(pitch)];
        let was = *count > 0;
        *count = count.wrapping_add_signed(delta);
        sounding = sounding + usize::from(*count > 0) - usize::from(was);
        most = most.max(sounding);
        prev = t;
    }
    (area, active, most)
}

/// MusPy's polyphony: the mean number of pitches sounding at once over the time when at least one
/// sounds, computed exactly as ∫ count dt / ∫ [count > 0] dt. A pitch held by overlapping notes
/// counts once; notes with `end <= start` are skipped. 0.0 when nothing sounds.
pub fn polyphony(notes: &[Note]) -> f64 {
    let (area, active, _) = sweep(notes);
    if active > 0.0 {
        area / active
    } else {
        0.0
    }
}

/// The most pitches sounding at once (same counting as [`polyphony`]); 0 when nothing sounds.
pub fn max_polyphony(notes: &[Note]) -> usize {
    sweep(notes).2
}

/// The highest pitch minus the lowest; 0 when there are no notes.
pub fn pitch_range(notes: &[Note]) -> u8 {
    let hi = notes.iter().map(|n| n.pitch).max();
    let lo = notes.iter().map(|n| n.pitch).min();
    hi.zip(lo).map_or(0, |(h, l)| h - l)
}

/// Note counts per pitch class (0 = C).
fn pitch_class_counts(notes: &[Note]) -> [usize; 12] {
    let mut counts = [0; 12];
    for n in notes {
        counts[usize::from(n.pitch % 12)] += 1;
    }
    counts
}

/// The number of distinct pitch classes among the notes (0–12).
pub fn pitch_classes_used(notes: &[Note]) -> usize {
    pitch_class_counts(notes).iter().filter(|&&c| c > 0).count()
}

/// MusPy's pitch-class entropy: the Shannon entropy in bits, −Σ p log₂ p, of the pitch-class
/// histogram of note counts normalised to sum 1. 0.0 when there are no notes; at most log₂ 12.
pub fn pitch_class_entropy(notes: &[Note]) -> f64 {
    if notes.is_empty() {
        return 0.0;
    }
    let total = notes.len() as f64;
    let p = pitch_class_counts(notes).map(|c| c as f64 / total);
    p.iter().filter(|&&p| p > 0.0).map(|p| -p * p.log2()).sum()
}

/// MusPy's scale consistency: the largest share of notes whose pitch class lies in the scale, over
/// the 12 major and 12 natural minor scales. 0.0 when there are no notes.
pub fn scale_consistency(notes: &[Note]) -> f64 {
    const MAJOR: [usize; 7] = [0, 2, 4, 5, 7, 9, 11];
    const MINOR: [usize; 7] = [0, 2, 3, 5, 7, 8, 10];
    if notes.is_empty() {
        return 0.0;
    }
    let counts = pitch_class_counts(notes);
    let in_scale = |tonic: usize, steps: &[usize; 7]| -> usize {
        steps.iter().map(|s| counts[(tonic + s) % 12]).sum()
    };
    let best = (0..12)
        .flat_map(|t| [in_scale(t, &MAJOR), in_scale(t, &MINOR)])
        .max();
    best.unwrap_or(0) as f64 / notes.len() as f64
}

/// MusPy's groove consistency: 1 − the mean, over consecutive bar pairs, of
/// hamming(gᵢ, gᵢ₊₁) / `resolution`, where gᵢ is bar i's binary onset vector with `resolution`
/// equal slots per bar (an onset takes the slot its position rounds to; rounding up to the bar's
/// end makes it slot 0 of the next bar). Bars run from the first to the last bar holding an onset,
/// empty bars between included.
///
/// 1.0 when fewer than 2 bars hold or lie between onsets, or when `resolution` is 0.
pub fn groove_consistency(notes: &[Note], grid: &Grid, resolution: usize) -> f64 {
    if resolution == 0 {
        return 1.0;
    }
    let mut onsets: Vec<(i64, usize)> = notes
        .iter()
        .map(|n| onset_slot(grid, n.start, resolution))
        .collect();
    onsets.sort_unstable();
    onsets.dedup();
    let (Some(first), Some(last)) = (onsets.first(), onsets.last()) else {
        return 1.0;
    };
    let pairs = last.0.saturating_sub(first.0);
    if pairs < 1 {
        return 1.0;
    }
    // Bars with onsets, as (bar, sorted slots).
    let mut bars: Vec<(i64, Vec<usize>)> = Vec::new();
    for (bar, slot) in onsets {
        match bars.last_mut() {
            Some((b, slots)) if *b == bar => slots.push(slot),
            _ => bars.push((bar, vec![slot])),
        }
    }
    // Empty bars between two bars with onsets differ from each neighbour by its onsets, from each
    // other by nothing.
    let distance: usize = bars
        .windows(2)
        .map(|w| match w[1].0.saturating_sub(w[0].0) {
            1 => hamming(&w[0].1, &w[1].1),
            _ => w[0].1.len() + w[1].1.len(),
        })
        .sum();
    1.0 - distance as f64 / (pairs as f64 * resolution as f64)
}

/// The (bar, slot) of an onset at `t` seconds with `resolution` slots a bar.
fn onset_slot(grid: &Grid, t: f64, resolution: usize) -> (i64, usize) {
    let (bar, pos) = grid.bar_of(t);
    let slot = (pos / grid.bar_sixteenths(bar) * resolution as f64).round() as usize;
    if slot >= resolution {
        (bar.saturating_add(1), 0)
    } else {
        (bar, slot)
    }
}

/// The number of slots in one sorted slot list and not the other.
fn hamming(a: &[usize], b: &[usize]) -> usize {
    let shared = a.iter().filter(|s| b.binary_search(s).is_ok()).count();
    a.len() + b.len() - 2 * shared
}

/// The mean over notes of |onset in 16ths − the nearest whole 16th|: 0.0 when every onset lies on
/// the 16th grid, 0.5 at worst. 0.0 when there are no notes.
pub fn onset_offset(notes: &[Note], grid: &Grid) -> f64 {
    if notes.is_empty() {
        return 0.0;
    }
    let offset = |n: &Note| {
        let pos = grid.sixteenths(n.start);
        (pos - pos.round()).abs()
    };
    notes.iter().map(offset).sum::<f64>() / notes.len() as f64
}

/// Notes per second over an excerpt `seconds` long; 0.0 when `seconds` is not positive.
pub fn note_density(notes: &[Note], seconds: f64) -> f64 {
    if seconds > 0.0 {
        notes.len() as f64 / seconds
    } else {
        0.0
    }
}

/// A note n-gram: absolute pitches and onsets in whole 16ths relative to the gram's first note.
type Gram = (Vec<u8>, Vec<i64>);

/// The note n-grams of `notes`: sorted by (onset, pitch), every run of `n` consecutive notes,
/// each onset rounded to a whole 16th on `grid` and taken relative to the run's first note.
fn grams(notes: &[Note], grid: &Grid, n: usize) -> Vec<Gram> {
    let mut sorted: Vec<(f64, u8)> = notes.iter().map(|x| (x.start, x.pitch)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let steps: Vec<(i64, u8)> = sorted
        .iter()
        .map(|&(t, p)| (grid.sixteenths(t).round() as i64, p))
        .collect();
    if n == 0 {
        return Vec::new();
    }
    let gram = |w: &[(i64, u8)]| -> Gram {
        let pitches = w.iter().map(|s| s.1).collect();
        let onsets = w.iter().map(|s| s.0.saturating_sub(w[0].0)).collect();
        (pitches, onsets)
    };
    steps.windows(n).map(gram).collect()
}

/// The share of `output`'s note n-grams (see below) that also occur in `primer`: how much a
/// continuation copies its primer. A note n-gram is `n` consecutive notes in (onset, pitch)
/// order, described by their absolute pitches and their onsets in 16ths on `grid`, each rounded
/// to a whole 16th and taken relative to the gram's first note.
///
/// Looping the primer scores near 1.0; the real next 30 s of a song score lower. 0.0 when
/// `output` has fewer than `n` notes or `n` is 0.
pub fn copy_share(primer: &[Note], output: &[Note], grid: &Grid, n: usize) -> f64 {
    let seen: HashSet<Gram> = grams(primer, grid, n).into_iter().collect();
    let out = grams(output, grid, n);
    if out.is_empty() {
        return 0.0;
    }
    out.iter().filter(|g| seen.contains(*g)).count() as f64 / out.len() as f64
}

/// All the metrics of one excerpt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Notes lasting at least 8 s ([`long_notes`]).
    pub long_notes: usize,
    /// Mean pitches sounding while any sounds ([`polyphony`]).
    pub polyphony: f64,
    /// Most pitches sounding at once ([`max_polyphony`]).
    pub max_polyphony: usize,
    /// Highest minus lowest pitch ([`pitch_range`]).
    pub pitch_range: u8,
    /// Distinct pitch classes ([`pitch_classes_used`]).
    pub pitch_classes: usize,
    /// Pitch-class entropy in bits ([`pitch_class_entropy`]).
    pub pc_entropy: f64,
    /// Best share of notes in one major or minor scale ([`scale_consistency`]).
    pub scale_consistency: f64,
    /// Groove consistency at 16 slots a bar ([`groove_consistency`]).
    pub groove: f64,
    /// Mean distance of onsets from the 16th grid ([`onset_offset`]).
    pub onset_offset: f64,
    /// Notes per second ([`note_density`]).
    pub density: f64,
    /// The Krumhansl–Kessler key ([`find_key`]).
    pub key: Option<Key>,
}

impl Profile {
    /// Seconds from which a note counts as long.
    pub const LONG_NOTE_SECONDS: f64 = 8.0;
    /// Groove slots per bar.
    pub const GROOVE_RESOLUTION: usize = 16;

    /// Measures an excerpt of `notes`, `seconds` long, on `grid`.
    pub fn measure(notes: &[Note], grid: &Grid, seconds: f64) -> Profile {
        Profile {
            long_notes: long_notes(notes, Self::LONG_NOTE_SECONDS),
            polyphony: polyphony(notes),
            max_polyphony: max_polyphony(notes),
            pitch_range: pitch_range(notes),
            pitch_classes: pitch_classes_used(notes),
            pc_entropy: pitch_class_entropy(notes),
            scale_consistency: scale_consistency(notes),
            groove: groove_consistency(notes, grid, Self::GROOVE_RESOLUTION),
            onset_offset: onset_offset(notes, grid),
            density: note_density(notes, seconds),
            key: find_key(notes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn note(pitch: u8, start: f64, end: f64) -> Note {
        Note {
            pitch,
            start,
            end,
            velocity: 80,
        }
    }

    /// 120 BPM in 4/4 from 0 s: a 16th lasts 0.125 s, a bar 2 s.
    fn grid() -> Grid {
        Grid::uniform(120.0, 4, 0.0, 60.0).unwrap()
    }

    /// Notes at 120 BPM, as (pitch, start 16th, length in 16ths).
    fn at_120(notes: &[(u8, u32, u32)]) -> Vec<Note> {
        let secs = |s: u32| f64::from(s) * 0.125;
        notes
            .iter()
            .map(|&(p, s, l)| note(p, secs(s), secs(s + l)))
            .collect()
    }

    /// A C major scale, C4 to C5, in quarter notes at 120 BPM.
    fn c_major_scale() -> Vec<Note> {
        let pitches = [60, 62, 64, 65, 67, 69, 71, 72];
        at_120(
            &pitches
                .iter()
                .zip(0..)
                .map(|(&p, i)| (p, 4 * i, 4))
                .collect::<Vec<_>>(),
        )
    }

    /// One note on each listed 16th slot of each bar, as bars of slot lists.
    fn rhythm(bars: &[&[u32]]) -> Vec<Note> {
        let notes = bars
            .iter()
            .zip(0..)
            .flat_map(|(slots, bar)| slots.iter().map(move |&s| (60, 16 * bar + s, 1)));
        at_120(&notes.collect::<Vec<_>>())
    }

    #[test]
    fn c_major_scale_metrics() {
        let notes = c_major_scale();
        assert_eq!(scale_consistency(&notes), 1.0);
        assert_eq!(pitch_classes_used(&notes), 7);
        assert_eq!(pitch_range(&notes), 12);
        // C twice (p = 1/4), six others once (p = 1/8): 1/4·2 + 6·(1/8·3) = 2.75 bits.
        assert!(close(pitch_class_entropy(&notes), 2.75));
        assert_eq!(
            find_key(&notes),
            Some(Key {
                tonic: 0,
                minor: false
            })
        );
        assert!(close(polyphony(&notes), 1.0));
        assert_eq!(max_polyphony(&notes), 1);
        assert!(close(note_density(&notes, 4.0), 2.0));
        assert_eq!(long_notes(&notes, 0.5), 8);
        assert_eq!(long_notes(&notes, 0.6), 0);
    }

    #[test]
    fn scale_consistency_counts_out_of_scale_notes() {
        // C, E, G, C# : at best 3 of 4 in one scale.
        let notes = [60, 64, 67, 61].map(|p| note(p, 0.0, 1.0));
        assert!(close(scale_consistency(&notes), 0.75));
    }

    #[test]
    fn held_triad_with_silence_has_polyphony_three() {
        let triad = |t: f64| [60, 64, 67].map(|p| note(p, t, t + 2.0));
        let notes: Vec<Note> = triad(0.0).into_iter().chain(triad(4.0)).collect();
        assert!(close(polyphony(&notes), 3.0));
        assert_eq!(max_polyphony(&notes), 3);
    }

    #[test]
    fn overlapping_notes_have_polyphony_four_thirds() {
        let notes = [note(60, 0.0, 2.0), note(64, 1.0, 3.0)];
        assert!(close(polyphony(&notes), 4.0 / 3.0));
        assert_eq!(max_polyphony(&notes), 2);
    }

    #[test]
    fn one_pitch_held_twice_counts_once_and_touching_notes_do_not_overlap() {
        let notes = [note(60, 0.0, 2.0), note(60, 1.0, 3.0), note(62, 3.0, 4.0)];
        assert!(close(polyphony(&notes), 1.0));
        assert_eq!(max_polyphony(&notes), 1);
    }

    #[test]
    fn repeated_rhythm_has_groove_one() {
        let bar: &[u32] = &[0, 3, 6, 8, 12];
        assert!(close(
            groove_consistency(&rhythm(&[bar; 4]), &grid(), 16),
            1.0
        ));
    }

    #[test]
    fn alternating_rhythms_four_slots_apart_have_groove_three_quarters() {
        let a: &[u32] = &[0, 4, 8, 12];
        let b: &[u32] = &[0, 2, 4, 6, 8, 10, 12, 14];
        assert!(close(
            groove_consistency(&rhythm(&[a, b, a, b]), &grid(), 16),
            0.75
        ));
    }

    #[test]
    fn groove_counts_empty_bars_between_onsets() {
        let a: &[u32] = &[0, 4, 8, 12];
        // (a, ∅) and (∅, a) each differ in 4 slots: 1 − 8 / (2·16).
        assert!(close(
            groove_consistency(&rhythm(&[a, &[], a]), &grid(), 16),
            0.75
        ));
        // Leading empty bars are not counted.
        assert!(close(
            groove_consistency(&rhythm(&[&[], &[], a, a]), &grid(), 16),
            1.0
        ));
    }

    #[test]
    fn groove_is_one_for_one_bar() {
        assert_eq!(groove_consistency(&rhythm(&[&[0, 5, 9]]), &grid(), 16), 1.0);
        assert_eq!(groove_consistency(&[], &grid(), 16), 1.0);
        assert_eq!(groove_consistency(&rhythm(&[&[0], &[0]]), &grid(), 0), 1.0);
    }

    #[test]
    fn onset_rounding_up_to_the_bar_end_goes_to_the_next_bar() {
        // An onset a 64th before bar 1 rounds to slot 0 of bar 1: bars 0 and 1 equal.
        let notes = [
            note(60, 0.0, 0.1),
            note(60, 2.0 - 0.03, 2.1),
            note(60, 4.0, 4.1),
        ];
        assert!(close(groove_consistency(&notes, &grid(), 16), 1.0));
    }

    #[test]
    fn onset_offset_on_and_off_the_grid() {
        let on = c_major_scale();
        assert!(close(onset_offset(&on, &grid()), 0.0));
        let late: Vec<Note> = on
            .iter()
            .map(|n| note(n.pitch, n.start + 0.0625, n.end))
            .collect();
        assert!(close(onset_offset(&late, &grid()), 0.5));
    }

    #[test]
    fn copy_share_of_a_copy_and_of_a_transposition() {
        let primer = c_major_scale();
        assert_eq!(copy_share(&primer, &primer, &grid(), 4), 1.0);
        // The same notes two bars later: positions are relative, so still copied.
        let later: Vec<Note> = primer
            .iter()
            .map(|n| note(n.pitch, n.start + 4.0, n.end))
            .collect();
        assert_eq!(copy_share(&primer, &later, &grid(), 4), 1.0);
        let up: Vec<Note> = primer
            .iter()
            .map(|n| note(n.pitch + 2, n.start, n.end))
            .collect();
        assert_eq!(copy_share(&primer, &up, &grid(), 4), 0.0);
    }

    #[test]
    fn copy_share_counts_partly_copied_output() {
        let primer = c_major_scale();
        // The first half of the scale, then a new run: 1 of the 5 trigrams (60 62 64) copied…
        let out = at_120(&[
            (60, 0, 4),
            (62, 4, 4),
            (64, 8, 4),
            (63, 12, 4),
            (61, 16, 4),
            (59, 20, 4),
            (57, 24, 4),
        ]);
        assert!(close(copy_share(&primer, &out, &grid(), 3), 1.0 / 5.0));
        // …and rhythm matters: the same pitches in eighths are new.
        let fast = at_120(&[(60, 0, 2), (62, 2, 2), (64, 4, 2)]);
        assert_eq!(copy_share(&primer, &fast, &grid(), 3), 0.0);
    }

    #[test]
    fn copy_share_of_short_output_is_zero() {
        let primer = c_major_scale();
        assert_eq!(copy_share(&primer, &primer[..2], &grid(), 3), 0.0);
        assert_eq!(copy_share(&primer, &primer, &grid(), 0), 0.0);
        assert_eq!(copy_share(&[], &primer, &grid(), 3), 0.0);
    }

    #[test]
    fn empty_input_gives_finite_values() {
        let p = Profile::measure(&[], &grid(), 0.0);
        assert_eq!(p.long_notes, 0);
        assert_eq!(p.polyphony, 0.0);
        assert_eq!(p.max_polyphony, 0);
        assert_eq!(p.pitch_range, 0);
        assert_eq!(p.pitch_classes, 0);
        assert_eq!(p.pc_entropy, 0.0);
        assert_eq!(p.scale_consistency, 0.0);
        assert_eq!(p.groove, 1.0);
        assert_eq!(p.onset_offset, 0.0);
        assert_eq!(p.density, 0.0);
        assert_eq!(p.key, None);
    }

    #[test]
    fn degenerate_notes_do_not_panic() {
        let odd = [
            note(60, 1.0, 1.0),
            note(255, 2.0, 1.0),
            note(0, f64::NAN, f64::NAN),
            note(61, -1e300, 1e300),
        ];
        let p = Profile::measure(&odd, &grid(), 10.0);
        assert_eq!(p.pitch_range, 255);
        assert!(p.groove.is_finite() && p.polyphony.is_finite());
        assert!(copy_share(&odd, &odd, &grid(), 2).is_finite());
    }

    #[test]
    fn profile_of_the_c_major_scale() {
        let p = Profile::measure(&c_major_scale(), &grid(), 4.0);
        assert_eq!(p.key.map(|k| k.name()), Some("C major".to_string()));
        assert_eq!(p.pitch_classes, 7);
        assert!(close(p.groove, 1.0));
        assert!(close(p.density, 2.0));
    }
}
