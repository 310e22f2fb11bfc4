//! Themes: grow a piece from a theme with the Theme Transformer, find a song's theme, measure how
//! often a theme recurs in a piece, and the recurrence table over POP909's validation songs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::generate::theme::{
    compose as compose_piece, recurrence_row, recurrences, theme_distances, theme_melody,
    ComposeRequest, RecurrenceRequest, RecurrenceRow, LATE_FROM_BAR,
};
use crate::generate::SamplerConfig;
use crate::midi::Score;
use crate::model::theme_transformer::ThemeTransformer;
use crate::theme::{find_theme, retrieval::SEGMENT_BARS, Settings, Theme};

use super::models::{load, resolve, Action, Loaded};

/// Grow a piece from a theme.
#[derive(Debug, Clone)]
pub struct Compose {
    /// The theme (its melody is used; up to 8 bars).
    pub theme: Score,
    /// The theme model's name or folder.
    pub model: String,
    /// Bars to write, 1–512.
    pub bars: usize,
    /// Tempo, BPM (`None`: the theme's).
    pub tempo: Option<f64>,
    /// Sampling.
    pub sampler: SamplerConfig,
    /// The baseline: the theme only as a prompt.
    pub baseline: bool,
    /// Bring the theme back every this many bars instead of letting the model choose.
    pub theme_every: Option<usize>,
    /// Classifier-free guidance, 0–10.
    pub guidance: f32,
    /// Set to stop early.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A grown piece.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The piece.
    pub piece: Score,
    /// A note on how the theme was read (cut to 8 bars, melody taken from another track).
    pub note: Option<String>,
    /// Its tempo.
    pub bpm: f64,
}

/// Loads the theme model named in `req`.
pub fn load_theme_model(name: &str) -> Result<ThemeTransformer> {
    match load(&resolve(name, Action::Theme)?)? {
        Loaded::Theme(m) => Ok(m),
        _ => Err(Error::Internal(
            "a theme model that is not a Theme Transformer".into(),
        )),
    }
}

/// Grows `req.bars` bars from `req.theme`; `on_token` sees each token.
pub fn compose(req: &Compose, on_token: &mut dyn FnMut(u32)) -> Result<Composed> {
    let (melody, note) = theme_melody(&req.theme)?;
    let bpm = req.tempo.unwrap_or_else(|| req.theme.tempo_map.bpm(0));
    if !(17.0..=400.0).contains(&bpm) {
        return Err(Error::Invalid(format!(
            "a tempo of {bpm:.1} BPM: use 17–400"
        )));
    }
    let model = load_theme_model(&req.model)?;
    let r = ComposeRequest {
        bars: req.bars,
        bpm,
        sampler: req.sampler,
        conditioned: !req.baseline,
        cancel: req.cancel.clone(),
        theme_every: req.theme_every,
        guidance: req.guidance,
    };
    let piece = compose_piece(&model, &melody, &r, on_token)?;
    Ok(Composed { piece, note, bpm })
}

/// Find a song's theme.
#[derive(Debug, Clone)]
pub struct Extract {
    /// The song.
    pub song: Score,
    /// Its file: POP909's `beat_midi.txt` beside it gives the bars when there is one.
    pub origin: Option<PathBuf>,
    /// Clustering: the largest distance (0–1) within one cluster.
    pub eps: f64,
    /// Clustering: occurrences a segment needs to seed a theme (itself included), at least 2.
    pub min_points: usize,
}

/// A song's theme.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// Where it is and recurs.
    pub theme: Theme,
    /// The theme as a score of its own.
    pub score: Score,
    /// True when the bars came from annotated downbeats.
    pub annotated_bars: bool,
}

impl fmt::Display for Extracted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.theme;
        writeln!(
            f,
            "melody from {}, {} bars (bars from {})",
            t.melody_source,
            t.bars.len() - 1,
            if self.annotated_bars {
                "beat_midi.txt downbeats"
            } else {
                "the time signatures"
            }
        )?;
        write!(
            f,
            "theme: bars {}–{}, found {} times; theme regions: bars {}",
            t.bar + 1,
            t.bar + SEGMENT_BARS,
            t.occurrences,
            t.describe_regions()
        )
    }
}

/// Finds the theme of `req.song`.
pub fn extract(req: &Extract) -> Result<Extracted> {
    if !(0.0..=1.0).contains(&req.eps) || req.min_points < 2 {
        return Err(Error::Invalid(format!(
            "clustering distance {} must be in [0, 1] and the occurrences needed ({}) at least 2",
            req.eps, req.min_points
        )));
    }
    let settings = Settings {
        eps: req.eps,
        min_points: req.min_points,
        ..Default::default()
    };
    let downbeats = req.origin.as_deref().and_then(crate::pop909::downbeats);
    let theme =
        find_theme(&req.song, downbeats.as_deref(), &settings).map_err(|e| match &req.origin {
            Some(o) => Error::bad_file(o, e.to_string()),
            None => e,
        })?;
    Ok(Extracted {
        score: theme.to_score(&req.song)?,
        theme,
        annotated_bars: downbeats.is_some(),
    })
}

/// How close each 2-bar window of a piece comes to a theme.
#[derive(Debug, Clone, PartialEq)]
pub struct ThemeReport {
    /// Distance (0–1) per window, by first bar (0-based).
    pub distances: Vec<f64>,
    /// At or under this a window counts as the theme.
    pub threshold: f64,
    /// Bars (0-based) where the theme recurs.
    pub all: Vec<usize>,
    /// The same, after bar 8.
    pub late: Vec<usize>,
}

/// Measures `piece` (from `origin`, whose POP909 downbeats are used if any) against `theme`.
pub fn report(
    piece: &Score,
    origin: Option<&Path>,
    theme: &Score,
    threshold: f64,
) -> Result<ThemeReport> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::Invalid(format!(
            "a theme threshold of {threshold}: it must be in [0, 1]"
        )));
    }
    let downbeats = origin.and_then(crate::pop909::downbeats);
    let distances = theme_distances(piece, theme, downbeats.as_deref());
    if distances.is_empty() {
        return Err(Error::Invalid(
            "no 2-bar melody windows to compare (is either file empty?)".into(),
        ));
    }
    Ok(ThemeReport {
        all: recurrences(&distances, 0, threshold),
        late: recurrences(&distances, LATE_FROM_BAR, threshold),
        distances,
        threshold,
    })
}

impl fmt::Display for ThemeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threshold = self.threshold;
        writeln!(
            f,
            "bar  distance to the theme (0 = the theme, 1 = unrelated; ≤ {threshold} counts)"
        )?;
        for (bar, &x) in self.distances.iter().enumerate() {
            let width = ((1.0 - x.clamp(0.0, 1.0)) * 40.0).round() as usize;
            let mark = if x <= threshold { " ◀ theme" } else { "" };
            writeln!(f, "{:>3}  {x:.3} {}{mark}", bar + 1, "█".repeat(width))?;
        }
        let bars = |v: &[usize]| {
            if v.is_empty() {
                return String::new();
            }
            let list: Vec<String> = v.iter().map(|b| (b + 1).to_string()).collect();
            format!(" (bars {})", list.join(", "))
        };
        write!(
            f,
            "theme recurs {} times{}; {} after bar {LATE_FROM_BAR}{}",
            self.all.len(),
            bars(&self.all),
            self.late.len(),
            bars(&self.late)
        )
    }
}

/// The recurrence table: themes of POP909's validation songs grown into pieces with and without
/// theme conditioning.
#[derive(Debug, Clone)]
pub struct Evaluate {
    /// The theme model's name or folder.
    pub model: String,
    /// The POP909 folder.
    pub data: PathBuf,
    /// How many validation songs (from 801 on).
    pub songs: usize,
    /// Pieces written at once.
    pub jobs: usize,
    /// Bars, sampling, threshold, regions, guidance.
    pub request: RecurrenceRequest,
}

/// The table's rows (songs with a theme) and its settings.
#[derive(Debug, Clone)]
pub struct RecurrenceTable {
    /// One per song with a theme.
    pub rows: Vec<RecurrenceRow>,
    /// What was measured.
    pub request: RecurrenceRequest,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Builds the table; `tick` is called once per song done.
pub fn evaluate(req: &Evaluate, tick: &(dyn Fn() + Sync)) -> Result<RecurrenceTable> {
    if !crate::pop909::is_pop909(&req.data) {
        return Err(Error::bad_file(&req.data, "is not a POP909 directory"));
    }
    if req.request.bars <= LATE_FROM_BAR + 1 {
        return Err(Error::Invalid(format!(
            "{} bars leave none after bar {LATE_FROM_BAR} to count",
            req.request.bars
        )));
    }
    let mut list = crate::pop909::songs(&req.data, "valid")?;
    list.truncate(req.songs);
    let model = load_theme_model(&req.model)?;
    let started = std::time::Instant::now();
    let rows = crate::threads::map(&list, req.jobs, |song| {
        let r = recurrence_row(&model, song, &req.request);
        tick();
        r
    });
    let rows: Vec<RecurrenceRow> = rows
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if rows.is_empty() {
        return Err(Error::Invalid(
            "no theme found in the songs asked for".into(),
        ));
    }
    Ok(RecurrenceTable {
        rows,
        request: req.request,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl fmt::Display for RecurrenceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let req = &self.request;
        writeln!(
            f,
            "recurrences of the theme after bar {LATE_FROM_BAR} (2-bar windows at distance ≤ {})",
            req.threshold
        )?;
        writeln!(f, "song  theme bars  conditioned  baseline   closest after bar {LATE_FROM_BAR}: conditioned  baseline")?;
        for r in &self.rows {
            writeln!(
                f,
                "{:03}   {:>3}–{:<3}    {:>11}  {:>8}   {:>32.3}  {:>8.3}",
                r.song,
                r.theme_bars.0,
                r.theme_bars.1,
                r.conditioned,
                r.baseline,
                r.closest.0,
                r.closest.1
            )?;
        }
        let n = self.rows.len();
        let sum = |g: fn(&RecurrenceRow) -> usize| self.rows.iter().map(g).sum::<usize>();
        let (c, b) = (sum(|r| r.conditioned), sum(|r| r.baseline));
        let (c_any, b_any) = (
            sum(|r| usize::from(r.conditioned > 0)),
            sum(|r| usize::from(r.baseline > 0)),
        );
        write!(
            f,
            "{n} themes, {} bars each, {}, guidance {}: mean recurrences after bar {LATE_FROM_BAR} {:.2} conditioned vs {:.2} baseline; pieces with one or more: {c_any} vs {b_any} (seed {}, {:.0} s)",
            req.bars,
            match req.theme_every {
                Some(k) => format!("theme regions every {k} bars"),
                None => "theme regions chosen by the model".into(),
            },
            req.guidance,
            c as f64 / n as f64,
            b as f64 / n as f64,
            req.sampler.seed,
            self.seconds
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::melody_bars;

    #[test]
    fn a_piece_that_is_its_theme_twice_reports_two_recurrences() {
        let motif: &[(u8, u64, u64)] = &[(60, 0, 4), (64, 4, 4), (67, 8, 4), (72, 12, 4)];
        let other: &[(u8, u64, u64)] = &[(50, 0, 16)];
        let theme = melody_bars(&[motif, motif]);
        let piece = melody_bars(&[motif, motif, other, other, motif, motif]);
        let r = report(&piece, None, &theme, 0.25).unwrap();
        assert_eq!(r.all, vec![0, 4]);
        assert!(r.late.is_empty());
        let table = r.to_string();
        assert!(
            table.contains("theme recurs 2 times (bars 1, 5)"),
            "{table}"
        );
        assert!(report(&piece, None, &theme, 1.5).is_err());
    }

    #[test]
    fn an_excerpt_starts_at_zero_with_the_selected_notes() {
        let song = melody_bars(&[&[(60, 0, 4)], &[(62, 0, 4), (64, 8, 4)], &[(65, 0, 4)]]);
        let ex = song.excerpt(2.0, 4.0).unwrap();
        let pitches: Vec<u8> = ex.notes.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, vec![62, 64]);
        assert_eq!(ex.notes[0].start_tick, 0);
        assert_eq!(ex.notes[1].start_tick, 960);
    }
}
