//! Regenerating a span of a piano piece with the beat-aware model trained to fill in the middle
//! (`tokens::infill`, `train::infill`): the bars before the span (the prefix) and after it (the
//! suffix) are the prompt, in the order `prefix, FILL_SUFFIX, suffix, FILL_MIDDLE`, and the model
//! writes the span's bars until it opens the bar where the suffix starts. Every note outside the
//! span is kept as it was; the new notes go into the regenerated track.

use super::beat::{
    encode_bars, new_notes, primer_key, BarGrid, BeatSteer, Placement, Prompt,
    MAX_TOKENS_PER_SECOND,
};
use super::piano::piano_reduction;
use super::request::{GenEvent, Output, Request};
use crate::error::{Error, Result};
use crate::midi::{Note, Score};
use crate::model::MusicTransformer;
use crate::tokens::infill;
use crate::tokens::remi::BAR;
use crate::tokens::BOS;

/// The span to regenerate, as the user names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpanSpec {
    /// Bars `first..=last`, counted from 1.
    Bars {
        /// First bar (1-based).
        first: usize,
        /// Last bar (1-based, inclusive).
        last: usize,
    },
    /// From `from` to `to` seconds.
    Seconds {
        /// Start, seconds.
        from: f64,
        /// End, seconds.
        to: f64,
    },
}

/// A span resolved on a piece's bar grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first bar the model writes (0-based).
    pub first_bar: usize,
    /// The bar after the span (0-based): where the suffix starts.
    pub end_bar: usize,
    /// Notes starting in `from..to` (ticks) are regenerated.
    pub from: u64,
    /// End of the span, ticks.
    pub to: u64,
}

impl Span {
    /// Resolves `spec` on `score`'s bar grid; a span that is empty, reversed or past the end of the
    /// piece is an error in words.
    pub fn resolve(score: &Score, spec: SpanSpec) -> Result<Span> {
        Span::resolve_on(score, &BarGrid::of_score(score), spec)
    }

    /// [`Span::resolve`] on the bars `grid` (a POP909 song's annotated bars, say).
    pub fn resolve_on(score: &Score, grid: &BarGrid, spec: SpanSpec) -> Result<Span> {
        let end = score.end_tick();
        let bars = grid.bar_of(end.saturating_sub(1)) + 1;
        let bad = |m: String| Err(Error::Invalid(m));
        match spec {
            SpanSpec::Bars { first, last } => {
                if first == 0 || last == 0 {
                    return bad("bars are counted from 1".into());
                }
                if last < first {
                    return bad(format!("bars {first}-{last} run backwards"));
                }
                if first > bars {
                    return bad(format!(
                        "bar {first} is past the end (the piece has {bars} bars)"
                    ));
                }
                Ok(Span {
                    first_bar: first - 1,
                    end_bar: last,
                    from: grid.start(first - 1),
                    to: grid.start(last),
                })
            }
            SpanSpec::Seconds { from, to } => {
                let tempo = &score.tempo_map;
                if !(from.is_finite() && to.is_finite() && from >= 0.0) {
                    return bad(format!("the span {from}–{to} s must be at or after 0"));
                }
                if to < from {
                    return bad(format!("the span {from}–{to} s runs backwards"));
                }
                let (a, b) = (tempo.tick(from), tempo.tick(to));
                if b <= a {
                    return bad(format!("the span {from}–{to} s is empty"));
                }
                if a >= end {
                    let length = tempo.seconds(end);
                    return bad(format!("{from} s is past the end ({length:.1} s)"));
                }
                Ok(Span {
                    first_bar: grid.bar_of(a),
                    end_bar: grid.bar_of(b - 1) + 1,
                    from: a,
                    to: b,
                })
            }
        }
    }

    /// True when `n` is one of the notes the span regenerates (of `track`, or of every pitched
    /// track).
    fn replaces(&self, n: &Note, track: Option<usize>) -> bool {
        !n.is_drum()
            && track.is_none_or(|t| n.track == t)
            && (self.from..self.to).contains(&n.start_tick)
    }
}

/// Regenerates `span` of `score` (the notes of `track`, or of every pitched track): `req.samples`
/// takes, each the whole piece with the span rewritten.
pub fn infill(
    model: &MusicTransformer,
    score: &Score,
    span: Span,
    track: Option<usize>,
    req: &Request,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Output> {
    let grid = BarGrid::of_score(score);
    infill_on(model, score, &grid, span, track, req, on_event)
}

/// [`infill`] on the bars `grid`.
pub fn infill_on(
    model: &MusicTransformer,
    score: &Score,
    grid: &BarGrid,
    span: Span,
    track: Option<usize>,
    req: &Request,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Output> {
    super::request::validate_key_guide(req.key_guide)?;
    if let Some(t) = track {
        if t >= score.tracks.len() {
            return Err(Error::Invalid(format!(
                "track {t}: the piece has tracks 0–{}",
                score.tracks.len().saturating_sub(1)
            )));
        }
    }
    let mut notes = Vec::new();
    let mut context = score.clone();
    context.notes.retain(|n| !span.replaces(n, track));
    let piano = piano_reduction(&context, false, &mut notes);
    let prompt = fill_prompt(&piano, grid, span, model.config().max_len, &mut notes)?;
    let tempo = &score.tempo_map;
    let until = tempo.seconds(span.to);
    let seconds = until - tempo.seconds(span.from);
    let steps = ((seconds * MAX_TOKENS_PER_SECOND) as usize).max(256);
    let place = Placement {
        grid: grid.clone(),
        from: span.from,
    };
    let (target, channel, program) = target_track(score, span, track);
    let mut steer = BeatSteer::new(&prompt, &place, tempo, req, channel, until, on_event);
    let generated = super::request::draw(model, &prompt.ids, req, steps, &mut steer)?;
    let scores = generated
        .iter()
        .map(|ids| {
            let mut out = context.clone();
            let target = target
                .unwrap_or_else(|| out.add_track("Reprise infill", crate::midi::TrackRole::Other));
            for (start, end, pitch, velocity) in new_notes(&prompt, grid, tempo, ids, until) {
                if start >= span.from {
                    out.push_note_ticks(target, channel, program, pitch, velocity, start, end);
                }
            }
            out.sort();
            out
        })
        .collect();
    Ok(Output { scores, notes })
}

/// The track new notes go to (an existing one, or `None`: a new track), with its channel and
/// program: the given track, else the pitched track with most notes in the span, else the first
/// pitched track.
fn target_track(score: &Score, span: Span, track: Option<usize>) -> (Option<usize>, u8, u8) {
    let pitched = |n: &&Note| !n.is_drum();
    let mut counts = vec![0usize; score.tracks.len()];
    for n in score.notes.iter().filter(pitched) {
        counts[n.track] += usize::from(span.replaces(n, None)) * 1000 + 1;
    }
    let chosen = track.or_else(|| {
        (0..counts.len())
            .filter(|&t| counts[t] > 0)
            .max_by_key(|&t| (counts[t], usize::MAX - t))
    });
    let like = chosen.and_then(|t| score.notes.iter().filter(pitched).find(|n| n.track == t));
    match like {
        Some(n) => (chosen, n.channel, n.program),
        None => (chosen, super::piano::free_channel(score), 0),
    }
}

/// The infilling prompt for `span`: as many bars before it and after it as fit the context beside
/// room for the span itself (about 64 tokens a bar).
fn fill_prompt(
    piano: &Score,
    grid: &BarGrid,
    span: Span,
    max_len: usize,
    notes: &mut Vec<String>,
) -> Result<Prompt> {
    let bars = span.end_bar - span.first_bar;
    let room = max_len.saturating_sub((64 * bars + 32).min(max_len / 2) + 2);
    let suffix = suffix_tokens(piano, grid, span.end_bar, room / 3)?;
    let (prefix, first) = prefix_tokens(piano, grid, span.first_bar, room - suffix.len())?;
    notes.push(format!(
        "infill: bars {}–{} written between {} bars before ({} tokens) and {} after ({} tokens)",
        span.first_bar + 1,
        span.end_bar,
        span.first_bar - first,
        prefix.len(),
        suffix.iter().filter(|&&t| t == BAR).count(),
        suffix.len()
    ));
    let ids = infill::prompt(&prefix, &suffix);
    Ok(Prompt {
        cursor_from: ids.len(),
        ids,
        key: primer_key(piano),
        first_bar: span.first_bar,
        from: grid.ceil(span.from),
    })
}

/// Bars from `first` on, cut at a Bar so that at most `budget` tokens remain (one Bar at least).
fn suffix_tokens(piano: &Score, grid: &BarGrid, first: usize, budget: usize) -> Result<Vec<u32>> {
    const MOST_BARS: usize = 16;
    let mut part = piano.clone();
    part.notes
        .retain(|n| n.start_tick < grid.start(first + MOST_BARS));
    let ids = encode_bars(&part, grid, first, first + MOST_BARS - 1)?;
    let cut = infill::bars(&ids)
        .into_iter()
        .rfind(|&i| i > 0 && i <= budget)
        .unwrap_or(ids.len().min(budget.max(1)));
    Ok(if cut >= ids.len() {
        ids
    } else {
        ids[..cut].to_vec()
    })
}

/// Bars `first..end` for the latest `first` whose tokens fit `budget` (BOS first when they start
/// the piece), and that `first`.
fn prefix_tokens(
    piano: &Score,
    grid: &BarGrid,
    end: usize,
    budget: usize,
) -> Result<(Vec<u32>, usize)> {
    if end == 0 {
        return Ok((vec![BOS], 0));
    }
    let mut part = piano.clone();
    part.notes.retain(|n| n.start_tick < grid.start(end));
    let mut first = end.saturating_sub(64);
    loop {
        let mut ids = encode_bars(&part, grid, first, end - 1)?;
        let opened = infill::bars(&ids);
        if let Some(&cut) = opened.get(end - first) {
            ids.truncate(cut); // a note rounded onto the span's downbeat
        }
        while infill::bars(&ids).len() < end - first {
            ids.push(BAR);
        }
        if first == 0 {
            ids.insert(0, BOS);
        }
        if ids.len() <= budget || first + 1 >= end {
            return Ok((ids, first));
        }
        first += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::decode::{generate, generate_uncached, unsteered};
    use crate::generate::request::Length;
    use crate::generate::sampler::{Sampler, SamplerConfig};
    use crate::midi::TrackRole;
    use crate::model::{TransformerConfig, VocabKind};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    fn tiny() -> (VarMap, MusicTransformer) {
        let cfg = TransformerConfig {
            vocab: VocabKind::Remi,
            vocab_size: crate::tokens::remi::SIZE as usize,
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            max_len: 256,
            dropout: 0.0,
            beat_embedding: true,
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        (vm.clone(), MusicTransformer::new(&cfg, vb).unwrap())
    }

    /// Eight bars of 4/4 at 120 BPM, a chord on each downbeat and a melody note on each beat,
    /// in two tracks.
    fn song() -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let m = s.add_track("Melody", TrackRole::Other);
        let p = s.add_track("Piano", TrackRole::Other);
        for bar in 0..8u64 {
            for beat in 0..4u64 {
                let t = bar * 1920 + beat * 480;
                s.push_note_ticks(m, 0, 0, 72 + (bar + beat) as u8 % 5, 90, t, t + 400);
            }
            for k in [48u8, 55, 64] {
                s.push_note_ticks(p, 1, 0, k, 70, bar * 1920, bar * 1920 + 1800);
            }
        }
        s.sort();
        s
    }

    fn request(seed: u64, samples: usize) -> Request {
        Request {
            length: Length::Seconds(1.0),
            sampler: SamplerConfig {
                seed,
                ..Default::default()
            },
            samples,
            bpm: 120.0,
            primer_seconds: 20.0,
            only_new: false,
            cancel: None,
            key_guide: 0.0,
        }
    }

    #[test]
    fn spans_resolve_on_bars_and_bad_ones_are_refused_in_words() {
        let s = song();
        let span = Span::resolve(&s, SpanSpec::Bars { first: 3, last: 4 }).unwrap();
        assert_eq!(
            (span.first_bar, span.end_bar, span.from, span.to),
            (2, 4, 3840, 7680)
        );
        let secs = Span::resolve(&s, SpanSpec::Seconds { from: 4.5, to: 7.0 }).unwrap();
        assert_eq!((secs.first_bar, secs.end_bar), (2, 4));
        assert_eq!((secs.from, secs.to), (4320, 6720));
        let err = |spec| Span::resolve(&s, spec).unwrap_err().to_string();
        assert!(err(SpanSpec::Bars { first: 5, last: 4 }).contains("backwards"));
        assert!(err(SpanSpec::Bars { first: 9, last: 9 }).contains("past the end"));
        assert!(err(SpanSpec::Bars { first: 0, last: 2 }).contains("from 1"));
        assert!(err(SpanSpec::Seconds { from: 3.0, to: 3.0 }).contains("empty"));
        assert!(err(SpanSpec::Seconds { from: 5.0, to: 3.0 }).contains("backwards"));
        assert!(err(SpanSpec::Seconds {
            from: 40.0,
            to: 50.0
        })
        .contains("past the end"));
    }

    #[test]
    fn notes_outside_the_span_are_kept_exactly_and_new_ones_stay_inside() {
        let (_vm, m) = tiny();
        let s = song();
        let span = Span::resolve(&s, SpanSpec::Bars { first: 3, last: 5 }).unwrap();
        let out = infill(&m, &s, span, Some(1), &request(3, 3), &mut |_, _| {}).unwrap();
        assert_eq!(out.scores.len(), 3);
        for take in &out.scores {
            let outside = |sc: &Score| -> Vec<Note> {
                sc.notes
                    .iter()
                    .filter(|n| !span.replaces(n, Some(1)))
                    .cloned()
                    .collect()
            };
            // Kept: the melody everywhere, and the piano outside bars 3–5.
            let kept: Vec<Note> = outside(take)
                .into_iter()
                .filter(|n| n.track == 0 || !(span.from..span.to).contains(&n.start_tick))
                .collect();
            assert_eq!(kept, outside(&s));
            for n in take.notes.iter().filter(|n| n.track == 1) {
                let inside = (span.from..span.to).contains(&n.start_tick);
                assert!(inside || s.notes.contains(n), "{n:?}");
            }
        }
    }

    #[test]
    fn the_kv_cache_is_exact_on_an_infilling_prompt() {
        let (_vm, m) = tiny();
        let s = song();
        let span = Span::resolve(&s, SpanSpec::Bars { first: 4, last: 5 }).unwrap();
        let grid = BarGrid::of_score(&s);
        let prompt = fill_prompt(&s, &grid, span, 256, &mut Vec::new()).unwrap();
        assert!(prompt.ids.contains(&infill::FILL_SUFFIX));
        assert_eq!(*prompt.ids.last().unwrap(), infill::FILL_MIDDLE);
        let cfg = SamplerConfig {
            seed: 5,
            ..Default::default()
        };
        let (mut a, mut b) = (Sampler::new(cfg).unwrap(), Sampler::new(cfg).unwrap());
        let room = 256 - prompt.ids.len();
        let cached = generate(&m, &prompt.ids, 1, room, &mut a, &mut unsteered()).unwrap();
        let full = generate_uncached(&m, &prompt.ids, room, &mut b, &mut unsteered()).unwrap();
        assert_eq!(cached[0], full);
    }
}
