//! How well an accompaniment fits its melody, measured on POP909's validation songs: the share of
//! the piano's sounding time (over labelled chords) made of chord tones of `chord_midi.txt`, and the
//! share of melody bars whose first beat has a piano onset within 50 ms, for the original PIANO
//! part, Reprise's accompaniment, and a naive baseline (random notes in the melody's key with the
//! original part's number of notes per bar). Each part's semitone clashes with the melody are
//! timed too, a measure that needs no chord annotation. For reference it also measures the song's
//! own melody against the annotated chords, and Reprise's part against the chords it was given.
//!
//! POP909's `chord_midi.txt` was extracted from each song's MIDI arrangement (the dataset's README:
//! "the extracted chord information from the raw … midi"), so the original part is measured against
//! chords read from itself; the melody row shows how much of the harmony a melody alone carries.

use rand::{Rng, SeedableRng};

use super::bars::{place, GridNote};
use super::chords::BeatChord;
use super::chords::{beat_spans, chord_tone_seconds, read_chords, ChordSpan};
use super::generate::{accompany, grid_ticks, harmonize, AccompanyRequest};
use super::harmony::{agreement, Harmonizer};
use crate::accompany::chords::annotated_chords;
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};
use crate::model::theme_transformer::ThemeTransformer;
use crate::pop909::Song;
use crate::theme::retrieval::MelodyNote;

/// Onsets this close to a bar start count as aligned, seconds.
pub const ALIGN_SECONDS: f64 = 0.05;

/// The measures of one piano part.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fit {
    /// Notes.
    pub notes: usize,
    /// Seconds of notes over labelled chords.
    pub labelled_s: f64,
    /// … of which chord tones.
    pub chord_tone_s: f64,
    /// Bars with a melody onset.
    pub melody_bars: usize,
    /// … whose start has a piano onset within [`ALIGN_SECONDS`].
    pub aligned_bars: usize,
    /// Seconds of notes that sound with a melody note.
    pub with_melody_s: f64,
    /// … of which a semitone (or a major seventh, minor ninth …) from it.
    pub clash_s: f64,
}

impl Fit {
    /// Chord-tone share of the sounding time, 0–1.
    pub fn chord_tone_share(&self) -> f64 {
        self.chord_tone_s / self.labelled_s.max(1e-9)
    }

    /// Share of the time sounding with the melody that is a semitone clash with it, 0–1.
    pub fn melody_clash_share(&self) -> f64 {
        self.clash_s / self.with_melody_s.max(1e-9)
    }

    /// Share of melody bars with an aligned onset, 0–1.
    pub fn onset_alignment(&self) -> f64 {
        self.aligned_bars as f64 / self.melody_bars.max(1) as f64
    }

    fn add(&mut self, o: &Fit) {
        self.notes += o.notes;
        self.labelled_s += o.labelled_s;
        self.chord_tone_s += o.chord_tone_s;
        self.melody_bars += o.melody_bars;
        self.aligned_bars += o.aligned_bars;
        self.with_melody_s += o.with_melody_s;
        self.clash_s += o.clash_s;
    }
}

/// One song's three parts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SongFit {
    /// POP909 number.
    pub number: u32,
    /// Bars measured.
    pub bars: usize,
    /// The original PIANO track.
    pub original: Fit,
    /// Reprise's accompaniment.
    pub reprise: Fit,
    /// Random notes in the melody's key.
    pub baseline: Fit,
    /// The song's own melody, for reference: how much of it the annotation's chords hold.
    pub melody: Fit,
    /// Reprise's accompaniment against the chords it was given (the harmonizer's, or the
    /// annotation's), when the model reads chords: how closely it follows them.
    pub against_given: Option<Fit>,
    /// With the harmonizer's chords: how they agree with the annotation (share of labelled beats
    /// with the annotated root, mean pitch-class overlap, labelled beats).
    pub harmony: Option<(f64, f64, usize)>,
}

/// Measures `piano` (`start`, `end` seconds, pitch) against the chords and the melody's bar starts.
pub fn fit(piano: &[(f64, f64, u8)], chords: &[ChordSpan], melody_bar_starts: &[f64]) -> Fit {
    let (chord_tone_s, labelled_s) = chord_tone_seconds(piano, chords);
    let mut onsets: Vec<f64> = piano.iter().map(|n| n.0).collect();
    onsets.sort_by(f64::total_cmp);
    let aligned_bars = melody_bar_starts
        .iter()
        .filter(|&&t| {
            let i = onsets.partition_point(|&o| o < t - ALIGN_SECONDS);
            onsets.get(i).is_some_and(|&o| o <= t + ALIGN_SECONDS)
        })
        .count();
    Fit {
        notes: piano.len(),
        labelled_s,
        chord_tone_s,
        melody_bars: melody_bar_starts.len(),
        aligned_bars,
        ..Fit::default()
    }
}

/// Seconds of `piano` (`start`, `end` seconds, pitch) that sound with a note of `melody` (the same,
/// sorted by start), and how many of those are one pitch class away from it (a minor second, major
/// seventh or minor ninth): a clash measured without any chord annotation, so it does not prefer
/// one harmonization of the melody over another.
pub fn melody_clash_seconds(piano: &[(f64, f64, u8)], melody: &[(f64, f64, u8)]) -> (f64, f64) {
    let (mut clash, mut with) = (0.0, 0.0);
    for &(start, end, pitch) in piano {
        for m in melody.iter().take_while(|m| m.0 < end) {
            let overlap = end.min(m.1) - start.max(m.0);
            if overlap > 0.0 {
                with += overlap;
                let d = (i32::from(pitch) - i32::from(m.2)).rem_euclid(12);
                if d == 1 || d == 11 {
                    clash += overlap;
                }
            }
        }
    }
    (clash, with)
}

/// Krumhansl–Kessler key profiles (major, minor), tonic first.
const MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// The scale (pitch classes of the major or natural minor key) that best fits the melody's
/// duration-weighted pitch classes (Krumhansl–Schmuckler).
pub fn melody_scale(melody: &[MelodyNote]) -> [bool; 12] {
    let mut hist = [0f64; 12];
    for n in melody {
        hist[n.pitch as usize % 12] += (n.end - n.start) as f64;
    }
    let score = |profile: &[f64; 12], tonic: usize| -> f64 {
        (0..12).map(|k| hist[(tonic + k) % 12] * profile[k]).sum()
    };
    let (mut best, mut best_score) = ((0, true), f64::MIN);
    for tonic in 0..12 {
        for (major, profile) in [(true, &MAJOR), (false, &MINOR)] {
            let s = score(profile, tonic);
            if s > best_score {
                (best, best_score) = ((tonic, major), s);
            }
        }
    }
    let steps: [usize; 7] = if best.1 {
        [0, 2, 4, 5, 7, 9, 11]
    } else {
        [0, 2, 3, 5, 7, 8, 10]
    };
    let mut scale = [false; 12];
    for s in steps {
        scale[(best.0 + s) % 12] = true;
    }
    scale
}

/// The baseline: in each bar as many notes as `counts[bar]`, at random sixteenths, 2, 4 or 8
/// sixteenths long, pitches drawn from `scale` in C3–C5.
pub fn random_in_key(counts: &[usize], scale: &[bool; 12], seed: u64) -> Vec<GridNote> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let pitches: Vec<u8> = (48..=72u8).filter(|p| scale[*p as usize % 12]).collect();
    let mut out = Vec::new();
    for (bar, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            out.push(GridNote {
                bar,
                pos: rng.random_range(0..16),
                pitch: pitches[rng.random_range(0..pitches.len())],
                bin: 20,
                duration: [2, 4, 8][rng.random_range(0..3)],
            });
        }
    }
    out.sort();
    out
}

/// The chords a chord-reading model gets in the report.
#[derive(Debug, Clone)]
pub enum ReportChords {
    /// The model reads no chords.
    None,
    /// Its harmonizer's, from the melody alone (what a user gets).
    Harmonizer(Harmonizer),
    /// POP909's annotation (how well the model follows chords it is given).
    Annotated,
}

impl ReportChords {
    /// A few words for the report's footer.
    pub fn describe(&self) -> &'static str {
        match self {
            ReportChords::None => "melody only",
            ReportChords::Harmonizer(_) => "chords from the harmonizer",
            ReportChords::Annotated => "POP909's annotated chords",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Bars per song, from the bar of the first melody note (`None`: through the melody's last
    /// bar).
    pub bars: Option<usize>,
    /// Generation settings (each song's seed is this seed plus its number).
    pub accompany: AccompanyRequest,
    /// Songs measured at once (each on one thread).
    pub jobs: usize,
    /// Where the model's chords come from.
    pub chords: ReportChords,
}

/// Measures one song.
pub fn song_fit(model: &ThemeTransformer, song: &Song, req: &ReportRequest) -> Result<SongFit> {
    let score = song.score()?;
    let chords = read_chords(&song.dir.join("chord_midi.txt"))?;
    let all_bars = song.bars(&score);
    let melody_all = melody_notes(&score);
    let Some((m0, m1)) = measured_bars(&all_bars, &melody_all, req.bars) else {
        return Err(Error::bad_file(&song.midi_path(), "has no MELODY notes"));
    };
    let bars = &all_bars[m0..=m1];
    let to = bars[bars.len() - 1];
    let inside = |s: u64| (bars[0]..to).contains(&s);
    let melody: Vec<MelodyNote> = melody_all
        .into_iter()
        .filter(|n| inside(n.start))
        .map(|n| MelodyNote {
            end: n.end.min(to),
            ..n
        })
        .collect();
    let secs = |t: u64| score.tempo_map.seconds(t);
    let as_seconds = |notes: &[GridNote]| -> Vec<(f64, f64, u8)> {
        grid_ticks(notes, bars)
            .map(|(s, e, n)| (secs(s), secs(e.min(to)), n.pitch))
            .collect()
    };
    let original_notes: Vec<(u64, u64, u8, u8)> = score
        .role_notes(TrackRole::Accompaniment)
        .into_iter()
        .filter(|n| inside(n.0))
        .collect();
    let original: Vec<(f64, f64, u8)> = original_notes
        .iter()
        .map(|n| (secs(n.0), secs(n.1.min(to)), n.2))
        .collect();
    let mut accompany_req = req.accompany.clone();
    accompany_req.sampler.seed = req.accompany.sampler.seed.wrapping_add(song.number as u64);
    let (beat_chords, harmony) = song_chords(&req.chords, song, &score, &melody, bars)?;
    let reprise = accompany(
        model,
        &melody,
        bars,
        &beat_chords,
        &accompany_req,
        &mut |_, _| {},
    )?;
    let baseline = baseline_notes(&original_notes, &melody, bars, accompany_req.sampler.seed);
    let ruler = MelodyRuler::new(&melody, bars, secs);
    let reprise_seconds = as_seconds(&reprise);
    let against_given = (!beat_chords.is_empty())
        .then(|| ruler.measure(&reprise_seconds, &beat_spans(&beat_chords, bars, secs)));
    Ok(SongFit {
        number: song.number,
        bars: bars.len() - 1,
        original: ruler.measure(&original, &chords),
        reprise: ruler.measure(&reprise_seconds, &chords),
        baseline: ruler.measure(&as_seconds(&baseline), &chords),
        melody: fit(&ruler.melody_seconds, &chords, &ruler.melody_bar_starts),
        against_given,
        harmony,
    })
}

/// The song's MELODY notes, in ticks.
fn melody_notes(score: &Score) -> Vec<MelodyNote> {
    score
        .role_notes(TrackRole::Melody)
        .into_iter()
        .map(|(start, end, pitch, velocity)| MelodyNote {
            pitch,
            velocity,
            start,
            end,
        })
        .collect()
}

/// The first and last bar line measured (indices into `all_bars`): from the bar of the first melody
/// note, `bars` bars or through the melody's last bar; `None` without melody notes.
fn measured_bars(
    all_bars: &[u64],
    melody: &[MelodyNote],
    bars: Option<usize>,
) -> Option<(usize, usize)> {
    let first_onset = melody.iter().map(|n| n.start).min()?;
    let m0 = all_bars
        .partition_point(|&t| t <= first_onset)
        .saturating_sub(1);
    let last_bar = all_bars.len() - 1;
    let m1 = match bars {
        Some(n) => (m0 + n).min(last_bar),
        None => {
            let melody_end = melody.iter().map(|n| n.end).max().unwrap_or(first_onset);
            all_bars
                .partition_point(|&t| t < melody_end)
                .max(m0 + 1)
                .min(last_bar)
        }
    };
    Some((m0, m1))
}

/// The chords the model gets per beat, and with the harmonizer's how they agree with the annotation
/// (root share, pitch-class overlap, labelled beats).
type SongChords = (Vec<Option<BeatChord>>, Option<(f64, f64, usize)>);

/// The chords `chords` asks for, over `bars` of the song.
fn song_chords(
    chords: &ReportChords,
    song: &Song,
    score: &Score,
    melody: &[MelodyNote],
    bars: &[u64],
) -> Result<SongChords> {
    Ok(match chords {
        ReportChords::None => (Vec::new(), None),
        ReportChords::Harmonizer(h) => {
            let ours = harmonize(h, melody, bars)?;
            let truth = annotated_chords(&song.dir, score, bars)?;
            let ours_all: Vec<BeatChord> = ours.iter().flatten().copied().collect();
            let (root, overlap) = agreement(&ours_all, &truth);
            (ours, Some((root, overlap, truth.iter().flatten().count())))
        }
        ReportChords::Annotated => (annotated_chords(&song.dir, score, bars)?, None),
    })
}

/// The baseline part: random notes in the melody's key, as many per bar as the original part has.
fn baseline_notes(
    original: &[(u64, u64, u8, u8)],
    melody: &[MelodyNote],
    bars: &[u64],
    seed: u64,
) -> Vec<GridNote> {
    let mut counts = vec![0usize; bars.len() - 1];
    for n in place(original.iter().copied(), bars) {
        counts[n.bar] += 1;
    }
    random_in_key(&counts, &melody_scale(melody), seed)
}

/// The melody a part is measured against, in seconds: its notes sorted by start, and the start of
/// each bar with a melody onset.
struct MelodyRuler {
    melody_seconds: Vec<(f64, f64, u8)>,
    melody_bar_starts: Vec<f64>,
}

impl MelodyRuler {
    fn new(melody: &[MelodyNote], bars: &[u64], secs: impl Fn(u64) -> f64) -> Self {
        let mut melody_bar_starts: Vec<f64> = melody
            .iter()
            .map(|n| bars.partition_point(|&t| t <= n.start) - 1)
            .map(|b| secs(bars[b]))
            .collect();
        melody_bar_starts.dedup();
        let mut melody_seconds: Vec<(f64, f64, u8)> = melody
            .iter()
            .map(|n| (secs(n.start), secs(n.end), n.pitch))
            .collect();
        melody_seconds.sort_by(|a, b| a.0.total_cmp(&b.0));
        MelodyRuler {
            melody_seconds,
            melody_bar_starts,
        }
    }

    /// `piano`'s fit to `chords` and the melody, its clashes with the melody included.
    fn measure(&self, piano: &[(f64, f64, u8)], chords: &[ChordSpan]) -> Fit {
        let (clash_s, with_melody_s) = melody_clash_seconds(piano, &self.melody_seconds);
        Fit {
            clash_s,
            with_melody_s,
            ..fit(piano, chords, &self.melody_bar_starts)
        }
    }
}

/// Measures `songs` on `req.jobs` threads; `on_song` sees each result as it comes.
pub fn report(
    model: &ThemeTransformer,
    songs: &[Song],
    req: &ReportRequest,
    on_song: &(dyn Fn(&SongFit) + Sync),
) -> Result<Vec<SongFit>> {
    crate::threads::map(songs, req.jobs, |song| {
        let r = song_fit(model, song, req);
        if let Ok(f) = &r {
            on_song(f);
        }
        r
    })
    .into_iter()
    .collect()
}

/// The totals over songs (time-weighted shares), as (original, reprise, baseline).
pub fn totals(fits: &[SongFit]) -> (Fit, Fit, Fit) {
    (
        sum(fits.iter().map(|f| &f.original)),
        sum(fits.iter().map(|f| &f.reprise)),
        sum(fits.iter().map(|f| &f.baseline)),
    )
}

/// The sum of some fits.
fn sum<'a>(fits: impl IntoIterator<Item = &'a Fit>) -> Fit {
    let mut total = Fit::default();
    fits.into_iter().for_each(|f| total.add(f));
    total
}

/// The table printed by `reprise accompany --report`.
pub fn table(fits: &[SongFit]) -> String {
    let (a, b, c) = totals(fits);
    let bars: usize = fits.iter().map(|f| f.bars).sum();
    let mut out = format!(
        "{} songs, {bars} bars\npart                       notes  chord-tone share  semitone clashes with the melody  onsets on melody bar starts (±50 ms)\n",
        fits.len()
    );
    for (name, f) in [
        ("(a) original PIANO", a),
        ("(b) Reprise", b),
        ("(c) random notes in key", c),
    ] {
        out.push_str(&format!(
            "{name:<26} {:>6}  {:>14.1} %  {:>30.1} %  {:>6.1} % ({} of {})\n",
            f.notes,
            100.0 * f.chord_tone_share(),
            100.0 * f.melody_clash_share(),
            100.0 * f.onset_alignment(),
            f.aligned_bars,
            f.melody_bars
        ));
    }
    let melody = sum(fits.iter().map(|f| &f.melody));
    out.push_str(&format!(
        "{:<26} {:>6}  {:>14.1} %  (the song's own melody, for reference)\n",
        "melody",
        melody.notes,
        100.0 * melody.chord_tone_share()
    ));
    let given: Vec<&Fit> = fits
        .iter()
        .filter_map(|f| f.against_given.as_ref())
        .collect();
    if !given.is_empty() {
        let given = sum(given);
        out.push_str(&format!(
            "(b) against the chords it was given: {:.1} % chord tones\n",
            100.0 * given.chord_tone_share()
        ));
    }
    let (mut root, mut overlap, mut beats) = (0.0, 0.0, 0);
    for (r, o, n) in fits.iter().filter_map(|f| f.harmony) {
        root += r * n as f64;
        overlap += o * n as f64;
        beats += n;
    }
    if beats > 0 {
        out.push_str(&format!(
            "harmonizer against the annotation: root on {:.1} % of {beats} labelled beats, pitch-class overlap {:.2}\n",
            100.0 * root / beats as f64,
            overlap / beats as f64
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accompany::chords::ChordSpan;

    #[test]
    fn fit_counts_chord_tones_and_aligned_bars() {
        let c_major = ChordSpan {
            start: 0.0,
            end: 4.0,
            pitch_classes: 1 | 1 << 4 | 1 << 7,
            root: 0,
        };
        let piano = [(0.01, 1.0, 48), (1.0, 2.0, 50), (2.2, 4.0, 55)];
        let f = fit(&piano, &[c_major], &[0.0, 2.0]);
        assert_eq!(f.notes, 3);
        assert!((f.chord_tone_share() - 2.79 / 3.79).abs() < 1e-9);
        assert_eq!((f.aligned_bars, f.melody_bars), (1, 2));
    }

    #[test]
    fn semitone_clashes_with_the_melody_are_timed() {
        // Melody E4 for 2 s then F4 for 2 s; piano F3 (clashes with E, not with F), C4 throughout.
        let melody = [(0.0, 2.0, 64), (2.0, 4.0, 65)];
        let piano = [(1.0, 3.0, 53), (0.0, 4.0, 60), (4.0, 5.0, 63)];
        let (clash, with) = melody_clash_seconds(&piano, &melody);
        assert!((with - 6.0).abs() < 1e-9, "{with}");
        assert!((clash - 1.0).abs() < 1e-9, "{clash}");
        // B against C a ninth above clashes too; a tritone does not.
        let (clash, _) = melody_clash_seconds(&[(0.0, 1.0, 59), (1.0, 2.0, 66)], &[(0.0, 2.0, 72)]);
        assert!((clash - 1.0).abs() < 1e-9, "{clash}");
    }

    #[test]
    fn key_finding_and_the_random_baseline() {
        // A C-major melody: C E G C over four bars.
        let m = |pitch, start| MelodyNote {
            pitch,
            velocity: 90,
            start,
            end: start + 480,
        };
        let scale = melody_scale(&[m(60, 0), m(64, 480), m(67, 960), m(72, 1440), m(65, 1920)]);
        let pcs: Vec<usize> = (0..12).filter(|&k| scale[k]).collect();
        assert_eq!(pcs, [0, 2, 4, 5, 7, 9, 11]);
        let notes = random_in_key(&[3, 0, 5], &scale, 7);
        assert_eq!(notes.len(), 8);
        assert!(notes
            .iter()
            .all(|n| scale[n.pitch as usize % 12] && (48..=72).contains(&n.pitch)));
        assert_eq!(notes.iter().filter(|n| n.bar == 2).count(), 5);
        assert_eq!(random_in_key(&[3, 0, 5], &scale, 7), notes);
    }
}
