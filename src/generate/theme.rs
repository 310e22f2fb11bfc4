//! Growing a piece from a theme with the Theme Transformer, and measuring how often the theme comes
//! back (the paper's melody-distance curve).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::guidance::{self, GuidedDecoder, Unconditioned};
use super::sampler::{Sampler, SamplerConfig};
use crate::error::{Error, Result};
use crate::midi::bar_starts;
use crate::midi::{Score, TrackRole};
use crate::model::theme_transformer::{ThemeCounter, ThemeTransformer};
use crate::theme::retrieval::{distance, melody, segments, SEGMENT_BARS};
use crate::tokens::remi::{self, RemiState};
use crate::tokens::{RemiVocab, Vocab, BOS};

/// The guidance strength `reprise theme` uses unless told otherwise.
pub const DEFAULT_GUIDANCE: f32 = 0.0;

/// Longest theme accepted, in bars.
pub const MAX_THEME_BARS: usize = 8;

/// How to compose.
#[derive(Debug, Clone)]
pub struct ComposeRequest {
    /// Bars of music to write.
    pub bars: usize,
    /// Tempo of the piece.
    pub bpm: f64,
    /// Sampling.
    pub sampler: SamplerConfig,
    /// False: the baseline: the theme is only a prompt, and the decoder never attends to it (gate 0,
    /// no theme regions).
    pub conditioned: bool,
    /// Set to stop early (`Error::Cancelled`).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Conditioned pieces: open a theme region (as long as the theme) every this many bars, from
    /// bar 1, instead of letting the model decide where regions open and close.
    pub theme_every: Option<usize>,
    /// Conditioned pieces: classifier-free guidance strength (see [`super::guidance`]); the
    /// unconditioned side hears no theme (gate 0, a silent theme). 0: plain sampling.
    pub guidance: f32,
}

/// The theme's melody as a one-track score from tick 0, and a note if it was cut.
pub fn theme_melody(theme: &Score) -> Result<(Score, Option<String>)> {
    let (mel, source) = melody(theme);
    if mel.is_empty() {
        return Err(Error::Invalid(
            "the theme has no melody (no pitched notes)".into(),
        ));
    }
    let end = mel.iter().map(|n| n.end).max().unwrap_or(0);
    let bars = bar_starts(theme, end);
    let mut note = None;
    let mut limit = u64::MAX;
    if bars.len() - 1 > MAX_THEME_BARS {
        limit = bars[MAX_THEME_BARS];
        note = Some(format!(
            "the theme is {} bars long: using its first {MAX_THEME_BARS}",
            bars.len() - 1
        ));
    }
    let mut out = Score::new(theme.ppq(), (60e6 / theme.tempo_map.bpm(0)).round() as u32)?;
    out.time_signatures = theme.time_signatures.clone();
    let t = out.add_track("MELODY", TrackRole::Melody);
    for n in mel.iter().filter(|n| n.start < limit) {
        out.push_note_ticks(t, 0, 0, n.pitch, n.velocity, n.start, n.end.min(limit));
    }
    out.sort();
    let note =
        note.or_else(|| (source != "the MELODY track").then(|| format!("theme melody: {source}")));
    Ok((out, note))
}

/// Writes `req.bars` bars from `theme` (a melody score, see [`theme_melody`]). `on_token` sees each
/// new token.
pub fn compose(
    model: &ThemeTransformer,
    theme: &Score,
    req: &ComposeRequest,
    on_token: &mut dyn FnMut(u32),
) -> Result<Score> {
    validate_compose(req)?;
    let mut theme_ids = RemiVocab::default().encode(theme)?;
    theme_ids.truncate(model.config().max_theme);
    let mut decoder = theme_decoder(model, &theme_ids, req)?;
    let prompt = compose_prompt(&theme_ids, req);
    let mut state = RemiState::default();
    let (mut counter, mut gate) = (Vec::new(), Vec::new());
    let mut themes = ThemeCounter::new(model.config().time_aligned);
    let mut positions = |id: u32, counter: &mut Vec<u32>, gate: &mut Vec<f32>| {
        let c = themes.next(id);
        counter.push(c);
        gate.push(f32::from(c > 0 && req.conditioned));
    };
    for &id in &prompt {
        state.push(id);
        positions(id, &mut counter, &mut gate);
    }
    let mut row = decoder.step(&prompt, &counter, &gate)?;
    let mut sampler = Sampler::new(req.sampler)?;
    let mut out = prompt.clone();
    let mut plan = RegionPlan::new(req, &theme_ids);
    for _ in 0..req.bars * 400 {
        crate::generate::check_cancel(&req.cancel)?;
        let Some(id) = plan.next(&state, &mut sampler, &row, req) else {
            break;
        };
        on_token(id);
        state.push(id);
        out.push(id);
        let from = counter.len();
        positions(id, &mut counter, &mut gate);
        row = decoder.step(&[id], &counter[from..], &gate[from..])?;
    }
    RemiVocab::default().decode(&out)
}

/// Checks a compose request's bars, theme period and guidance.
fn validate_compose(req: &ComposeRequest) -> Result<()> {
    if req.bars == 0 || req.bars > 512 {
        return Err(Error::Invalid(format!("{} bars: ask for 1–512", req.bars)));
    }
    if req.theme_every == Some(0) {
        return Err(Error::Invalid(
            "a theme every 0 bars: ask for at least 1".into(),
        ));
    }
    guidance::validate(req.guidance)
}

/// The decoder over the encoded theme, with its unconditioned side (which hears no theme, encoded
/// only when guidance is on).
fn theme_decoder<'m>(
    model: &'m ThemeTransformer,
    theme_ids: &[u32],
    req: &ComposeRequest,
) -> Result<GuidedDecoder<'m>> {
    let time_aligned = model.config().time_aligned;
    let encode = |ids: &[u32]| {
        let positions = crate::tokens::remi::encoder_positions(ids, time_aligned);
        guidance::encode(model, ids, positions)
    };
    let uncond = if req.conditioned && req.guidance > 0.0 {
        Some(Unconditioned {
            strength: req.guidance,
            memory: encode(&guidance::silent(theme_ids))?,
            gate_off: true,
        })
    } else {
        None
    };
    Ok(GuidedDecoder::new(model, encode(theme_ids)?, uncond))
}

/// The decoder's prompt: a theme region opening at the requested tempo, or for the baseline the
/// theme itself as its opening bars.
fn compose_prompt(theme_ids: &[u32], req: &ComposeRequest) -> Vec<u32> {
    let tempo = remi::tempo_id(req.bpm);
    let mut prompt = vec![BOS];
    if req.conditioned {
        prompt.extend([remi::THEME_START, remi::BAR, remi::POSITION, tempo]);
    } else {
        // The baseline hears the theme as its opening bars, at the requested tempo.
        let mut theme_as_piece = theme_ids.to_vec();
        if let Some(t) = theme_as_piece
            .iter_mut()
            .find(|i| (remi::TEMPO..remi::THEME_START).contains(*i))
        {
            *t = tempo;
        }
        prompt.extend(theme_as_piece);
    }
    prompt
}

/// The next token's choice: sampled under the grammar, or forced when theme regions are planned
/// (`theme_every`).
struct RegionPlan {
    every: Option<usize>,
    theme_bars: usize,
    region_start: usize,
    forced: Vec<u32>,
}

impl RegionPlan {
    fn new(req: &ComposeRequest, theme_ids: &[u32]) -> Self {
        RegionPlan {
            every: req.theme_every.filter(|_| req.conditioned),
            theme_bars: theme_ids.iter().filter(|&&i| i == remi::BAR).count().max(1),
            region_start: 0,
            forced: Vec::new(),
        }
    }

    /// The next token after `state`, from the logits `row`; `None` once the piece has its bars.
    fn next(
        &mut self,
        state: &RemiState,
        sampler: &mut Sampler,
        row: &[f32],
        req: &ComposeRequest,
    ) -> Option<u32> {
        let id = match self.forced.pop() {
            Some(id) => id,
            None => {
                let allowed = state.allowed(req.conditioned);
                let mut id = sampler.sample(row, Some(&allowed));
                // With planned regions a region mark the model asks for means "end the bar":
                // the plan decides where regions go. (Masking the marks instead leaves a model
                // that wants to close its region piling notes onto the bar's last position.)
                if self.every.is_some() && (id == remi::THEME_START || id == remi::THEME_END) {
                    id = remi::BAR;
                }
                if id == remi::BAR && state.bars >= req.bars {
                    return None;
                }
                match self.every {
                    Some(n) if id == remi::BAR => {
                        self.forced = planned_regions(state, self.region_start, self.theme_bars, n);
                        self.forced.pop().unwrap_or(id)
                    }
                    _ => id,
                }
            }
        };
        if id == remi::THEME_START {
            self.region_start = state.bars;
        }
        Some(id)
    }
}

/// The tokens (in reverse order) that start the next bar when regions are planned: Theme_End if
/// the open region has run `theme_bars` bars, Theme_Start if the new bar is a multiple of `every`,
/// then Bar.
fn planned_regions(
    state: &RemiState,
    region_start: usize,
    theme_bars: usize,
    every: usize,
) -> Vec<u32> {
    let mut seq = Vec::new();
    let mut open = state.in_theme;
    if open && state.bars - region_start >= theme_bars {
        seq.push(remi::THEME_END);
        open = false;
    }
    if !open && state.bars.is_multiple_of(every.max(1)) {
        seq.push(remi::THEME_START);
    }
    seq.push(remi::BAR);
    seq.reverse();
    seq
}

/// The melody distance (0–1) of every 2-bar window of `piece` (its MELODY track, else its top
/// voice) to the first two bars of `theme`, by the retrieval's segment distance; index = first bar.
/// The piece's bars come from `downbeats` (seconds) when known, else from its time signatures.
pub fn theme_distances(piece: &Score, theme: &Score, downbeats: Option<&[f64]>) -> Vec<f64> {
    let (tm, _) = melody(theme);
    let t_end = tm.iter().map(|n| n.end).max().unwrap_or(0);
    let t_bars = bar_starts(theme, t_end.max(1));
    let Some(reference) = segments(&tm, &t_bars).into_iter().next() else {
        return Vec::new();
    };
    let (pm, _) = melody(piece);
    let p_end = pm.iter().map(|n| n.end).max().unwrap_or(0);
    let p_bars = match downbeats {
        Some(d) => crate::midi::bars_from_downbeats(piece, d, p_end.max(1)),
        None => bar_starts(piece, p_end.max(1)),
    };
    segments(&pm, &p_bars)
        .iter()
        .map(|s| distance(s, &reference))
        .collect()
}

/// Bars (0-based window starts) at or after `from_bar` where the theme recurs: distance ≤
/// `threshold`, counting each occurrence once (windows that overlap a counted one are skipped).
pub fn recurrences(distances: &[f64], from_bar: usize, threshold: f64) -> Vec<usize> {
    let mut found: Vec<usize> = Vec::new();
    for (bar, &d) in distances.iter().enumerate().skip(from_bar) {
        if d <= threshold && found.last().is_none_or(|&l| bar >= l + SEGMENT_BARS) {
            found.push(bar);
        }
    }
    found
}

/// Bars before this one do not count as recurrences in the table: the theme is written there.
pub const LATE_FROM_BAR: usize = 8;

/// One theme's row of the recurrence table.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrenceRow {
    /// POP909 number of the song the theme came from.
    pub song: u32,
    /// The theme's bars in its song (1-based, inclusive).
    pub theme_bars: (usize, usize),
    /// Recurrences at or after bar 9, theme-conditioned.
    pub conditioned: usize,
    /// Recurrences at or after bar 9, prompt-only baseline.
    pub baseline: usize,
    /// Smallest distance to the theme at or after bar 9, conditioned and baseline.
    pub closest: (f64, f64),
}

/// What the recurrence table measures.
#[derive(Debug, Clone, Copy)]
pub struct RecurrenceRequest {
    /// Bars per piece.
    pub bars: usize,
    /// Sampling (each song's seed is this seed plus its number, the same for both pieces).
    pub sampler: SamplerConfig,
    /// Distance at or under which a 2-bar window is the theme.
    pub threshold: f64,
    /// Conditioned pieces: theme regions every this many bars (see [`ComposeRequest`]).
    pub theme_every: Option<usize>,
    /// Conditioned pieces: guidance strength (see [`ComposeRequest`]).
    pub guidance: f32,
}

/// Extracts the theme of `song`, grows a piece from it with and without theme conditioning, and
/// counts the theme's recurrences after bar 8 in each. `None` if retrieval finds no theme.
pub fn recurrence_row(
    model: &ThemeTransformer,
    song: &crate::pop909::Song,
    req: &RecurrenceRequest,
) -> Result<Option<RecurrenceRow>> {
    let score = song.score()?;
    let downbeats = crate::pop909::downbeats(&song.midi_path());
    let Ok(theme) = crate::theme::find_theme(&score, downbeats.as_deref(), &Default::default())
    else {
        return Ok(None);
    };
    let (melody, _) = theme_melody(&theme.to_score(&score)?)?;
    let mut sampler = req.sampler;
    sampler.seed = sampler.seed.wrapping_add(song.number as u64);
    let piece = |conditioned| -> Result<(usize, f64)> {
        let r = ComposeRequest {
            bars: req.bars,
            bpm: melody.tempo_map.bpm(0).clamp(17.0, 194.0),
            sampler,
            conditioned,
            cancel: None,
            theme_every: req.theme_every,
            guidance: req.guidance,
        };
        let piece = compose(model, &melody, &r, &mut |_| {})?;
        let d = theme_distances(&piece, &melody, None);
        let closest = d.iter().skip(LATE_FROM_BAR).copied().fold(1.0, f64::min);
        Ok((recurrences(&d, LATE_FROM_BAR, req.threshold).len(), closest))
    };
    let (conditioned, c_min) = piece(true)?;
    let (baseline, b_min) = piece(false)?;
    Ok(Some(RecurrenceRow {
        song: song.number,
        theme_bars: (theme.bar + 1, theme.bar + SEGMENT_BARS),
        conditioned,
        baseline,
        closest: (c_min, b_min),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::melody_bars as melody_score;

    #[test]
    fn distance_curve_finds_the_theme_again() {
        let a1: &[(u8, u64, u64)] = &[(60, 0, 4), (62, 4, 4), (64, 8, 4), (67, 12, 4)];
        let a2: &[(u8, u64, u64)] = &[(65, 0, 8), (64, 8, 8)];
        let b: &[(u8, u64, u64)] = &[(70, 0, 2), (69, 2, 2), (67, 4, 12)];
        let theme = melody_score(&[a1, a2]);
        let piece = melody_score(&[a1, a2, b, b, b, b, b, b, b, b, a1, a2, b, b]);
        let d = theme_distances(&piece, &theme, None);
        assert_eq!(d.len(), 13);
        assert_eq!(d[0], 0.0);
        assert_eq!(d[10], 0.0);
        assert!(d[4] > 0.5);
        assert_eq!(recurrences(&d, 0, 0.25), [0, 10]);
        assert_eq!(recurrences(&d, 8, 0.25), [10]);
    }

    #[test]
    fn long_or_empty_themes() {
        let bar: &[(u8, u64, u64)] = &[(60, 0, 16)];
        let long = melody_score(&[bar; 12]);
        let (m, note) = theme_melody(&long).unwrap();
        assert_eq!(m.notes.len(), 8);
        assert!(note.unwrap().contains("first 8"));
        let empty = Score::new(480, 500_000).unwrap();
        assert!(theme_melody(&empty)
            .unwrap_err()
            .to_string()
            .contains("no melody"));
    }
}
