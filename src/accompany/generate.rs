//! Writing a piano part for a melody, window by window: each window's decoder starts from the last
//! [`AccompanyRequest::overlap_bars`] bars already written (so there are no seams), the encoder reads
//! the melody of the window's bars and one more, and a grammar mask keeps the output well-formed
//! piano REMI.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use super::bars::{
    bar_tokens, melody_window, notes_of, place, time_positions, GridNote, TimeCounter,
};
use crate::error::{Error, Result};
use crate::generate::sampler::{Sampler, SamplerConfig};
use crate::midi::{Score, TrackRole};
use crate::model::theme_transformer::{ThemeCache, ThemeTask, ThemeTransformer};
use crate::theme::retrieval::{monophonic as top_voice, MelodyNote};
use crate::tokens::remi::{self, Part, RemiState};
use crate::tokens::BOS;

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
}

impl AccompanyRequest {
    /// Windows of 6 new bars after 2 written ones.
    pub fn new(sampler: SamplerConfig) -> Self {
        AccompanyRequest {
            sampler,
            window_bars: 6,
            overlap_bars: 2,
            cancel: None,
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
    let ppq = score.ppq() as u64;
    let notes_of = |t: usize| -> Vec<MelodyNote> {
        score
            .track_notes(t)
            .filter(|n| !n.is_drum())
            .map(melody_note)
            .collect()
    };
    let name = |t: usize| {
        let n = &score.tracks[t].name;
        if n.is_empty() {
            format!("track {t}")
        } else {
            format!("track {t} ({n})")
        }
    };
    let from_track = |t: usize, why: &str| -> PickedMelody {
        let notes = notes_of(t);
        let program = score
            .track_notes(t)
            .find(|n| !n.is_drum())
            .map_or(0, |n| n.program);
        if is_monophonic(&notes, ppq) {
            PickedMelody {
                notes,
                description: format!("melody: {} {why}", name(t)),
                program,
            }
        } else {
            PickedMelody {
                notes: top_voice(notes),
                description: format!("melody: the top voice of {} {why} (it has chords)", name(t)),
                program,
            }
        }
    };
    if let Some(t) = track {
        if t >= score.tracks.len() {
            return Err(Error::Invalid(format!(
                "--track {t}: the file has {} tracks (0–{})",
                score.tracks.len(),
                score.tracks.len().saturating_sub(1)
            )));
        }
        if notes_of(t).is_empty() {
            return Err(Error::Invalid(format!(
                "--track {t}: {} has no pitched notes",
                name(t)
            )));
        }
        return Ok(from_track(t, "(--track)"));
    }
    let pitched: Vec<usize> = (0..score.tracks.len())
        .filter(|&t| !notes_of(t).is_empty())
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
        return Ok(from_track(t, "(the MELODY track)"));
    }
    let mean_pitch = |t: usize| {
        let n = notes_of(t);
        n.iter().map(|n| n.pitch as f64).sum::<f64>() / n.len() as f64
    };
    let mono = pitched
        .iter()
        .copied()
        .filter(|&t| is_monophonic(&notes_of(t), ppq))
        .max_by(|&a, &b| mean_pitch(a).total_cmp(&mean_pitch(b)));
    if let Some(t) = mono {
        let why = if pitched.len() == 1 {
            "(the only track)"
        } else {
            "(the highest one-voice track)"
        };
        return Ok(from_track(t, why));
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
            "no one-voice track: the melody is the top voice of all tracks (--track N picks one)"
                .into(),
        program: 0,
    })
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

/// The piano part (grid notes in the bars of `bars`) for `melody`. `on_bar` is told each bar as it
/// is finished (bars done, bars in all).
pub fn accompany(
    model: &ThemeTransformer,
    melody: &[MelodyNote],
    bars: &[u64],
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
    let melody_bars = bar_tokens(&notes, n_bars, Part::Melody);
    let mut written: Vec<Vec<u32>> = Vec::with_capacity(n_bars);
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
    let t = |e| Error::tensor(e);
    let dev = Device::Cpu;
    let max_len = model.config().max_len;
    let n = theme.len();
    let th = Tensor::from_vec(theme.to_vec(), (1, n), &dev).map_err(t)?;
    let mask = Tensor::ones((1, n), DType::F32, &dev).map_err(t)?;
    let pos = Tensor::from_vec(time_positions(theme), (1, n), &dev).map_err(t)?;
    let memory = model.encode(&th, &mask, &pos, false).map_err(t)?;
    prompt.push(remi::BAR);
    let mut state = RemiState::default();
    let mut time = TimeCounter::default();
    let counter: Vec<u32> = prompt.iter().map(|&id| time.next(id)).collect();
    prompt.iter().for_each(|&id| state.push(id));
    let mut cache = ThemeCache::default();
    let ids = Tensor::from_vec(prompt.clone(), (1, prompt.len()), &dev).map_err(t)?;
    let gate = vec![1f32; prompt.len()];
    let mut logits = model
        .decode_cached(&ids, &counter, &gate, &memory, &mut cache)
        .map_err(t)?;
    let mut len = prompt.len();
    let mut out: Vec<Vec<u32>> = vec![vec![remi::BAR]];
    loop {
        crate::generate::check_cancel(&req.cancel)?;
        let row = crate::generate::last_logits(&logits)?;
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
        let c = time.next(id);
        let x = Tensor::new(&[[id]], &dev).map_err(t)?;
        logits = model
            .decode_cached(&x, &[c], &[1.0], &memory, &mut cache)
            .map_err(t)?;
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
