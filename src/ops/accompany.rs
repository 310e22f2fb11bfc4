//! Accompany a melody: pick the melody track, lay the bar grid, choose the chords (the user's
//! file or the harmonizer's), write a piano part per sample and build the scores.

use std::path::PathBuf;

use crate::accompany::chords::{chords_line, BeatChord};
use crate::accompany::generate::{
    accompanied_score, accompany as accompany_bars, chords_from_file, harmonize, load_harmonizer,
    pick_melody, AccompanyRequest,
};
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::theme_transformer::ThemeTransformer;

/// Where the chords come from.
#[derive(Debug, Clone)]
pub enum ChordSource {
    /// A chord file (`start end label` per line, seconds).
    File(PathBuf),
    /// The harmonizer model of this name or directory, for models that read chords.
    Harmonizer(String),
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
        ChordSource::File(file) => {
            if !model.config().chords {
                return Err(Error::Invalid(format!(
                    "the model in {} reads no chords, so a chord file cannot be used",
                    req.model_dir.display()
                )));
            }
            Ok((chords_from_file(file, &req.song, bars)?, None))
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
