//! Accompany a melody: pick the melody track, lay the bar grid, choose the chords (the user's
//! file or the harmonizer's), write a piano part per sample and build the scores.

use std::path::PathBuf;

use crate::accompany::chords::{chords_line, BeatChord, BEATS_PER_BAR};
use crate::accompany::generate::{
    accompanied_score, accompany as accompany_bars, chords_from_file, harmonize, load_harmonizer,
    pick_melody, AccompanyRequest,
};
use crate::accompany::report::{table, ReportChords, ReportRequest, SongFit};
use crate::error::{Error, Result};

use super::models::{resolve, Action};
use crate::midi::Score;
use crate::model::theme_transformer::ThemeTransformer;

/// Where the chords come from.
#[derive(Debug, Clone)]
pub enum ChordSource {
    /// A chord file (`start end label` per line, seconds).
    File(PathBuf),
    /// The harmonizer model of this name or directory, for models that read chords.
    Harmonizer(String),
    /// One chord per beat of the melody's bars, as an earlier accompaniment returned them and the
    /// user edited them (`None`: no chord on that beat).
    Beats(Vec<Option<BeatChord>>),
}

/// What to accompany and how.
#[derive(Debug, Clone)]
pub struct Accompany {
    /// The song holding the melody.
    pub song: Score,
    /// Where the song came from, for messages.
    pub origin: PathBuf,
    /// The accompaniment model's directory.
    pub model_dir: PathBuf,
    /// The melody's track (`None`: the most melodic one).
    pub track: Option<usize>,
    /// The chords.
    pub chords: ChordSource,
    /// Independent accompaniments (seeds `seed`, `seed + 1`, …), 1–16.
    pub samples: usize,
    /// Sampling, guidance and cancellation.
    pub request: AccompanyRequest,
}

/// The accompaniments and what the user should hear about them.
#[derive(Debug, Clone)]
pub struct Accompanied {
    /// One song with its new piano part per sample.
    pub scores: Vec<Score>,
    /// Which melody was chosen.
    pub melody: String,
    /// The chords, one line, when the harmonizer chose them.
    pub harmonized: Option<String>,
    /// The chord of each beat the model read (empty for a model that reads none).
    pub chords: Vec<Option<BeatChord>>,
    /// Bars accompanied.
    pub bars: usize,
    /// Piano notes and seed of each sample.
    pub samples: Vec<(usize, u64)>,
}

/// What an accompaniment reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The melody was chosen (its description).
    Melody(String),
    /// Sample `sample` (0-based) finished `done` of `all` bars.
    Bar {
        /// The sample.
        sample: usize,
        /// Bars done.
        done: usize,
        /// Bars in all.
        all: usize,
    },
}

/// Accompanies `req.song`'s melody `req.samples` times.
pub fn accompany(req: &Accompany, progress: &mut dyn FnMut(Progress)) -> Result<Accompanied> {
    if !(1..=16).contains(&req.samples) {
        return Err(Error::Invalid(format!(
            "{} samples: ask for 1–16",
            req.samples
        )));
    }
    let melody = pick_melody(&req.song, req.track)
        .map_err(|e| Error::bad_file(&req.origin, e.to_string()))?;
    progress(Progress::Melody(melody.description.clone()));
    let end = melody.notes.iter().map(|n| n.end).max().unwrap_or(0);
    let bars = crate::midi::bar_starts(&req.song, end);
    let model = ThemeTransformer::load(&req.model_dir, &candle_core::Device::Cpu)?;
    let (chords, harmonized) = chords(&model, req, &melody.notes, &bars)?;
    let mut scores = Vec::with_capacity(req.samples);
    let mut samples = Vec::with_capacity(req.samples);
    let mut request = req.request.clone();
    for i in 0..req.samples {
        request.sampler.seed = req.request.sampler.seed.wrapping_add(i as u64);
        let piano = accompany_bars(
            &model,
            &melody.notes,
            &bars,
            &chords,
            &request,
            &mut |d, a| {
                progress(Progress::Bar {
                    sample: i,
                    done: d,
                    all: a,
                })
            },
        )?;
        samples.push((piano.len(), request.sampler.seed));
        scores.push(accompanied_score(&req.song, &melody, &piano, &bars)?);
    }
    Ok(Accompanied {
        scores,
        melody: melody.description,
        harmonized,
        chords,
        bars: bars.len() - 1,
        samples,
    })
}

/// The chords a chord-reading model gets (and their line when the harmonizer chose them); none for
/// a model that reads none.
fn chords(
    model: &ThemeTransformer,
    req: &Accompany,
    melody: &[crate::theme::retrieval::MelodyNote],
    bars: &[u64],
) -> Result<(Vec<Option<BeatChord>>, Option<String>)> {
    match &req.chords {
        ChordSource::File(_) | ChordSource::Beats(_) if !model.config().chords => {
            Err(Error::Invalid(format!(
                "the model in {} reads no chords, so chords cannot be given",
                req.model_dir.display()
            )))
        }
        ChordSource::File(file) => Ok((chords_from_file(file, &req.song, bars)?, None)),
        ChordSource::Beats(given) => {
            let mut beats = given.clone();
            beats.resize(BEATS_PER_BAR * (bars.len() - 1), None);
            Ok((beats, None))
        }
        ChordSource::Harmonizer(name) => Ok(match load_harmonizer(model, name)? {
            Some(h) => {
                let chords = harmonize(&h, melody, bars)?;
                let line = chords_line(&chords);
                (chords, Some(line))
            }
            None => (Vec::new(), None),
        }),
    }
}

/// The accompaniment report: chord-tone share and onset alignment on POP909's validation songs for
/// the original piano, Reprise and random notes in key.
#[derive(Debug, Clone)]
pub struct Report {
    /// The accompaniment model's name or folder.
    pub model: String,
    /// The POP909 folder.
    pub data: PathBuf,
    /// Only this many bars of each song from its first melody note (`None`: all of it).
    pub bars: Option<usize>,
    /// Songs measured at once.
    pub jobs: usize,
    /// Give the model POP909's annotated chords instead of the harmonizer's.
    pub annotated_chords: bool,
    /// The harmonizer's name or folder (for a model that reads chords).
    pub harmonizer: String,
    /// Sampling and guidance.
    pub request: AccompanyRequest,
}

/// The report's rows and what produced them.
#[derive(Debug, Clone)]
pub struct Reported {
    /// One per song.
    pub fits: Vec<SongFit>,
    /// Where the chords came from, in words.
    pub chords: &'static str,
    /// What was measured.
    pub request: Report,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs the report; `on_song` sees each song's numbers as they come.
pub fn report(req: &Report, on_song: &(dyn Fn(&SongFit) + Sync)) -> Result<Reported> {
    if !crate::pop909::is_pop909(&req.data) {
        return Err(Error::bad_file(&req.data, "is not a POP909 directory"));
    }
    if req.bars == Some(0) {
        return Err(Error::Invalid("0 bars per song: ask for at least 1".into()));
    }
    let songs = crate::pop909::songs(&req.data, "valid")?;
    let entry = resolve(&req.model, Action::Accompany)?;
    let model = ThemeTransformer::load(&entry.dir, &candle_core::Device::Cpu)?;
    let chords = match (model.config().chords, req.annotated_chords) {
        (false, true) => {
            return Err(Error::Invalid(format!(
                "the model in {} reads no chords, so it cannot be given the annotated ones",
                entry.dir.display()
            )))
        }
        (false, false) => ReportChords::None,
        (true, true) => ReportChords::Annotated,
        (true, false) => {
            let h = resolve(&req.harmonizer, Action::Harmonize)?;
            ReportChords::Harmonizer(crate::accompany::harmony::Harmonizer::load(&h.dir)?)
        }
    };
    let said = chords.describe();
    let r = ReportRequest {
        bars: req.bars,
        accompany: req.request.clone(),
        jobs: req.jobs,
        chords,
    };
    let started = std::time::Instant::now();
    let fits = crate::accompany::report::report(&model, &songs, &r, on_song)?;
    Ok(Reported {
        fits,
        chords: said,
        request: req.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One song's numbers as a line: "song 801: 64 bars; chord tones …".
pub fn fit_line(fit: &SongFit) -> String {
    let pct = |x: f64| 100.0 * x;
    format!(
        "song {:03}: {} bars; chord tones {:.1} / {:.1} / {:.1} %; aligned {:.0} / {:.0} / {:.0} % (original / Reprise / random)",
        fit.number,
        fit.bars,
        pct(fit.original.chord_tone_share()),
        pct(fit.reprise.chord_tone_share()),
        pct(fit.baseline.chord_tone_share()),
        pct(fit.original.onset_alignment()),
        pct(fit.reprise.onset_alignment()),
        pct(fit.baseline.onset_alignment()),
    )
}

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let req = &self.request;
        let s = &req.request.sampler;
        write!(f, "{}", table(&self.fits))?;
        write!(
            f,
            "(songs {:03}–{:03}, {}, {}, temperature {}, top-p {}, guidance {}, seed {}, {:.0} s)",
            self.fits.first().map_or(0, |s| s.number),
            self.fits.last().map_or(0, |s| s.number),
            match req.bars {
                Some(n) => format!("the first {n} bars from each song's first melody note"),
                None => "each song from its first melody note to its last".into(),
            },
            self.chords,
            s.temperature,
            s.top_p,
            req.request.guidance,
            s.seed,
            self.seconds
        )
    }
}
