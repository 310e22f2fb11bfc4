//! Writing a piano part for a melody, window by window: each window's decoder starts from the last
//! [`AccompanyRequest::overlap_bars`] bars already written (so there are no seams), the encoder reads
//! the melody of the window's bars and one more, and a grammar mask keeps the output well-formed
//! piano REMI.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use std::path::Path;

use super::bars::{
    chord_notes, encoder_bar_tokens, melody_window, notes_of, place, time_positions, GridNote,
    TimeCounter,
};
use super::chords::{beat_chords, read_chords, BeatChord, BEATS_PER_BAR};
use super::harmony::Harmonizer;
use crate::error::{Error, Result};
use crate::generate::guidance::{self, GuidedDecoder, Unconditioned};
use crate::generate::sampler::{Sampler, SamplerConfig};
use crate::midi::{Score, TrackRole};
use crate::model::theme_transformer::{ThemeTask, ThemeTransformer};
use crate::theme::retrieval::{monophonic as top_voice, MelodyNote};
use crate::tokens::remi::{self, Part, RemiState};
use crate::tokens::BOS;

/// The guidance strength `reprise accompany` (and the UI) use unless told otherwise: on the first 16
/// bars of songs 801–873 it raised the chord-tone share from 64.8 % to 65.9 % for the chord-reading
/// model (with fewer notes, closer to the original part's count), and from 45.7 % to 52.1 % for the
/// melody-only one.
pub const DEFAULT_GUIDANCE: f32 = 3.0;

/// How to accompany.
#[derive(Debug, Clone)]
pub struct AccompanyRequest {
    /// Sampling.
    pub sampler: SamplerConfig,
    /// New bars per window.
    pub window_bars: usize,
    /// Bars already written that start each later window.
    pub overlap_bars: usize,
    /// Set to stop early (`Error::Cancelled`).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Classifier-free guidance strength (see [`crate::generate::guidance`]): how much more the
    /// melody counts than the model learned; 0 samples from the model as it is.
    pub guidance: f32,
}

impl AccompanyRequest {
    /// Windows of 6 new bars after 2 written ones, with the default guidance.
    pub fn new(sampler: SamplerConfig) -> Self {
        AccompanyRequest {
            sampler,
            window_bars: 6,
            overlap_bars: 2,
            cancel: None,
            guidance: DEFAULT_GUIDANCE,
        }
    }
}

/// The melody chosen from a file.
#[derive(Debug, Clone)]
pub struct PickedMelody {
    /// Its notes.
    pub notes: Vec<MelodyNote>,
    /// What was chosen, for the user.
    pub description: String,
    /// The General MIDI program it is played with (0, piano, for the top voice of several tracks).
    pub program: u8,
}

fn melody_note(n: &crate::midi::Note) -> MelodyNote {
    MelodyNote {
        pitch: n.pitch,
        velocity: n.velocity,
        start: n.start_tick,
        end: n.end_tick,
    }
}

/// True if no two notes overlap by more than a 32nd note.
fn is_monophonic(notes: &[MelodyNote], ppq: u64) -> bool {
    let mut sorted = notes.to_vec();
    sorted.sort_by_key(|n| n.start);
    sorted.windows(2).all(|w| w[1].start + ppq / 8 >= w[0].end)
}

/// The melody of `score`: track `track` (as numbered by `reprise info`) when given; else the
/// MELODY track, else the highest monophonic track, else the top voice of all pitched notes.
/// Polyphony is reduced to the top voice, and the description says so.
pub fn pick_melody(score: &Score, track: Option<usize>) -> Result<PickedMelody> {
    let tracks = Tracks {
        score,
        ppq: score.ppq() as u64,
    };
    if let Some(t) = track {
        return tracks.asked(t);
    }
    let pitched: Vec<usize> = (0..score.tracks.len())
        .filter(|&t| !tracks.notes_of(t).is_empty())
        .collect();
    if pitched.is_empty() {
        return Err(Error::Invalid(
            "no pitched notes to accompany (empty, or drums only)".into(),
        ));
    }
    if let Some(&t) = pitched
        .iter()
        .find(|&&t| score.tracks[t].role == TrackRole::Melody)
    {
        return Ok(tracks.melody_of(t, "(the MELODY track)"));
    }
    if let Some(t) = tracks.highest_monophonic(&pitched) {
        let why = if pitched.len() == 1 {
            "(the only track)"
        } else {
            "(the highest one-voice track)"
        };
        return Ok(tracks.melody_of(t, why));
    }
    let all: Vec<MelodyNote> = score
        .notes
        .iter()
        .filter(|n| !n.is_drum())
        .map(melody_note)
        .collect();
    Ok(PickedMelody {
        notes: top_voice(all),
        description:
            "no one-voice track: the melody is the top voice of all tracks (ask for a track to pick one)"
                .into(),
        program: 0,
    })
}

/// The tracks of a score, as candidates for its melody.
struct Tracks<'a> {
    score: &'a Score,
    ppq: u64,
}

impl Tracks<'_> {
    /// The pitched notes of track `t`.
    fn notes_of(&self, t: usize) -> Vec<MelodyNote> {
        self.score
            .track_notes(t)
            .filter(|n| !n.is_drum())
            .map(melody_note)
            .collect()
    }

    /// Track `t` as the user knows it: its number, and its name if it has one.
    fn name(&self, t: usize) -> String {
        let n = &self.score.tracks[t].name;
        if n.is_empty() {
            format!("track {t}")
        } else {
            format!("track {t} ({n})")
        }
    }

    /// The melody of track `t` (its top voice if it has chords), described with `why` it was chosen.
    fn melody_of(&self, t: usize, why: &str) -> PickedMelody {
        let notes = self.notes_of(t);
        let program = self
            .score
            .track_notes(t)
            .find(|n| !n.is_drum())
            .map_or(0, |n| n.program);
        if is_monophonic(&notes, self.ppq) {
            PickedMelody {
                notes,
                description: format!("melody: {} {why}", self.name(t)),
                program,
            }
        } else {
            PickedMelody {
                notes: top_voice(notes),
                description: format!(
                    "melody: the top voice of {} {why} (it has chords)",
                    self.name(t)
                ),
                program,
            }
        }
    }

    /// Track `t`, which the user asked for: an error if there is no such track or it has no
    /// pitched notes.
    fn asked(&self, t: usize) -> Result<PickedMelody> {
        let count = self.score.tracks.len();
        if t >= count {
            return Err(Error::Invalid(format!(
                "track {t}: the file has {} tracks (0–{})",
                count,
                count.saturating_sub(1)
            )));
        }
        if self.notes_of(t).is_empty() {
            return Err(Error::Invalid(format!(
                "{} has no pitched notes",
                self.name(t)
            )));
        }
        Ok(self.melody_of(t, "(as asked)"))
    }

    /// Of the tracks `pitched`, the one-voice track with the highest mean pitch.
    fn highest_monophonic(&self, pitched: &[usize]) -> Option<usize> {
        let mean_pitch = |t: usize| {
            let n = self.notes_of(t);
            n.iter().map(|n| n.pitch as f64).sum::<f64>() / n.len() as f64
        };
        pitched
            .iter()
            .copied()
            .filter(|&t| is_monophonic(&self.notes_of(t), self.ppq))
            .max_by(|&a, &b| mean_pitch(a).total_cmp(&mean_pitch(b)))
    }
}

/// The grammar of the piano stream: REMI without Tempo, theme marks or melody notes.
fn piano_mask(state: &RemiState) -> Vec<bool> {
    let mut ok = state.allowed(false);
    for id in remi::TEMPO..remi::TRACKS {
        ok[id as usize] = false;
    }
    let melody = Part::Melody.velocity(1) as usize..Part::Piano.velocity(1) as usize;
    ok[melody].iter_mut().for_each(|x| *x = false);
    ok
}

/// Most tokens one bar may take before it is closed.
const MAX_BAR_TOKENS: usize = 240;

/// The harmonizer Reprise ships (`models/pop909-chords`).
pub const DEFAULT_HARMONIZER: &str = "pop909-chords";

/// For a model that reads chords, the harmonizer `name` (a model directory, or a name under
/// `models/`); `None` for a model that reads none.
pub fn load_harmonizer(model: &ThemeTransformer, name: &str) -> Result<Option<Harmonizer>> {
    if !model.config().chords {
        return Ok(None);
    }
    Harmonizer::load(&crate::model::resolve_model_dir(name)?).map(Some)
}

/// The harmonizer's chord for each beat of `bars` under `melody`.
pub fn harmonize(
    harmonizer: &Harmonizer,
    melody: &[MelodyNote],
    bars: &[u64],
) -> Result<Vec<Option<BeatChord>>> {
    let n_bars = bars.len().saturating_sub(1);
    let notes = place(
        melody.iter().map(|n| (n.start, n.end, n.pitch, n.velocity)),
        bars,
    );
    Ok(harmonizer
        .harmonize(&notes, n_bars)?
        .into_iter()
        .map(Some)
        .collect())
}

/// The chords of a chord file (`start end label` lines in seconds, as POP909's `chord_midi.txt`),
/// one per beat of `bars` of `score`.
pub fn chords_from_file(
    path: &Path,
    score: &Score,
    bars: &[u64],
) -> Result<Vec<Option<BeatChord>>> {
    let spans = read_chords(path)?;
    if spans.is_empty() {
        return Err(Error::bad_file(path, "holds no chord Reprise can read"));
    }
    Ok(beat_chords(&spans, bars, |t| score.tempo_map.seconds(t)))
}

/// The piano part (grid notes in the bars of `bars`) for `melody`, with `chords` (one per beat of
/// `bars`) when the model reads chords. `on_bar` is told each bar as it is finished (bars done, bars
/// in all).
pub fn accompany(
    model: &ThemeTransformer,
    melody: &[MelodyNote],
    bars: &[u64],
    chords: &[Option<BeatChord>],
    req: &AccompanyRequest,
    on_bar: &mut dyn FnMut(usize, usize),
) -> Result<Vec<GridNote>> {
    let cfg = model.config();
    if cfg.task != ThemeTask::Accompany {
        return Err(Error::Invalid(
            "this model is not an accompaniment model (its task is \"theme\")".into(),
        ));
    }
    if req.window_bars == 0 {
        return Err(Error::Invalid("a window needs at least one new bar".into()));
    }
    let n_bars = bars.len().saturating_sub(1);
    let notes = place(
        melody.iter().map(|n| (n.start, n.end, n.pitch, n.velocity)),
        bars,
    );
    if cfg.chords && chords.len() < n_bars * BEATS_PER_BAR {
        return Err(Error::Invalid(format!(
            "this model reads chords: {} beats given for {n_bars} bars",
            chords.len()
        )));
    }
    let chords = if cfg.chords {
        chord_notes(chords)
    } else {
        Vec::new()
    };
    let melody_bars = encoder_bar_tokens(&notes, &chords, n_bars);
    let mut written: Vec<Vec<u32>> = Vec::with_capacity(n_bars);
    guidance::validate(req.guidance)?;
    let mut sampler = Sampler::new(req.sampler)?;
    // The prompt leaves at least a quarter of the context for new bars.
    let room = cfg.max_len - cfg.max_len / 4;
    while written.len() < n_bars {
        let mut first = written.len().saturating_sub(req.overlap_bars);
        while first < written.len()
            && 1 + written[first..].iter().map(Vec::len).sum::<usize>() > room
        {
            first += 1;
        }
        let end = (written.len() + req.window_bars).min(n_bars);
        let theme = melody_window(&melody_bars, first, end, cfg.max_theme);
        let mut prompt = vec![BOS];
        for bar in &written[first..] {
            prompt.extend(bar);
        }
        let new = window(
            model,
            &theme,
            prompt,
            end - written.len(),
            req,
            &mut sampler,
        )?;
        for bar in new {
            written.push(bar);
            on_bar(written.len(), n_bars);
        }
    }
    Ok(notes_of(&written.concat(), 0, Part::Piano))
}

/// Writes up to `bars` new bars after `prompt` (which ends at a bar's end); returns each new bar's
/// tokens (at least one, even if the context fills first).
fn window(
    model: &ThemeTransformer,
    theme: &[u32],
    mut prompt: Vec<u32>,
    bars: usize,
    req: &AccompanyRequest,
    sampler: &mut Sampler,
) -> Result<Vec<Vec<u32>>> {
    let max_len = model.config().max_len;
    let memory = guidance::encode(model, theme, time_positions(theme))?;
    // Guidance contrasts the melody with the same bars left silent (encoded only when it is on).
    let uncond = if req.guidance > 0.0 {
        let silent = guidance::silent(theme);
        Some(Unconditioned {
            strength: req.guidance,
            memory: guidance::encode(model, &silent, time_positions(&silent))?,
            gate_off: false,
        })
    } else {
        None
    };
    let mut decoder = GuidedDecoder::new(model, memory, uncond);
    prompt.push(remi::BAR);
    let mut state = RemiState::default();
    let mut time = TimeCounter::default();
    let counter: Vec<u32> = prompt.iter().map(|&id| time.next(id)).collect();
    prompt.iter().for_each(|&id| state.push(id));
    let mut row = decoder.step(&prompt, &counter, &vec![1f32; prompt.len()])?;
    let mut len = prompt.len();
    let mut out: Vec<Vec<u32>> = vec![vec![remi::BAR]];
    loop {
        crate::generate::check_cancel(&req.cancel)?;
        let full = len >= max_len || out.last().is_some_and(|b| b.len() >= MAX_BAR_TOKENS);
        let id = if full {
            remi::BAR
        } else {
            sampler.sample(&row, Some(&piano_mask(&state)))
        };
        if id == remi::BAR && (out.len() == bars || len >= max_len) {
            return Ok(out);
        }
        if id == remi::BAR {
            out.push(vec![remi::BAR]);
        } else if let Some(bar) = out.last_mut() {
            bar.push(id);
        }
        state.push(id);
        len += 1;
        row = decoder.step(&[id], &[time.next(id)], &[1.0])?;
    }
}

/// The output file: the melody (with its program) on track MELODY and the piano part on track PIANO,
/// on `song`'s tempo map, time signatures and resolution; grid notes land in the bars of `bars`.
pub fn accompanied_score(
    song: &Score,
    melody: &PickedMelody,
    piano: &[GridNote],
    bars: &[u64],
) -> Result<Score> {
    let mut out = Score::new(song.ppq(), 500_000)?;
    out.tempo_map = song.tempo_map.clone();
    out.time_signatures = song.time_signatures.clone();
    let m = out.add_track("MELODY", TrackRole::Melody);
    let p = out.add_track("PIANO", TrackRole::Accompaniment);
    for n in &melody.notes {
        out.push_note_ticks(m, 0, melody.program, n.pitch, n.velocity, n.start, n.end);
    }
    for (start, end, n) in grid_ticks(piano, bars) {
        let velocity = crate::tokens::performance::bin_velocity(n.bin);
        let end = crate::generate::cap_end(&out.tempo_map, start, end);
        out.push_note_ticks(p, 1, 0, n.pitch, velocity, start, end);
    }
    out.sort();
    Ok(out)
}

/// Start and end ticks of grid notes in `bars` (a note's sixteenths are those of the bar it starts in).
pub fn grid_ticks<'a>(
    notes: &'a [GridNote],
    bars: &'a [u64],
) -> impl Iterator<Item = (u64, u64, &'a GridNote)> {
    notes
        .iter()
        .filter(|n| n.bar + 1 < bars.len())
        .map(move |n| {
            let len = bars[n.bar + 1] - bars[n.bar];
            let start = bars[n.bar] + len * n.pos as u64 / remi::POSITIONS as u64;
            let end = start + (len * n.duration as u64 / remi::POSITIONS as u64).max(1);
            (start, end, n)
        })
}
