//! Generation tasks over MIDI: continue a primer, or generate from nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::{MusicTransformer, VocabKind};
use crate::tokens::grid::{self, VOICES};
use crate::tokens::{Chorale, GridVocab, BOS};

use super::decode::{generate, FixedMask};
use super::sampler::{Sampler, SamplerConfig};
use crate::tokens::NoteEvent;

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// Model tokens (for the grid, 4 per 16th note).
    Tokens(usize),
    /// Seconds of music at the output tempo.
    Seconds(f64),
}

/// A generation request.
#[derive(Debug, Clone)]
pub struct Request {
    /// How much new music.
    pub length: Length,
    /// Sampling settings (the seed included).
    pub sampler: SamplerConfig,
    /// Independent samples, generated as one batch.
    pub samples: usize,
    /// Tempo of the output in BPM when there is no primer.
    pub bpm: f64,
    /// Performance models: prompt with at most this many seconds from the end of the primer.
    pub primer_seconds: f64,
    /// Leave the primer out of the output (the new music keeps its place in time).
    pub only_new: bool,
    /// Set from another thread (or a signal handler) to stop early: the result is `Error::Cancelled`.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Beat-aware models: key guidance, in nats taken off the logit of every note outside the
    /// primer's key (Krumhansl–Kessler) before sampling; 0 turns it off.
    pub key_guide: f32,
}

/// The key guidance `continue` uses unless told otherwise (measured in the pop909-beat card).
pub const DEFAULT_KEY_GUIDE: f32 = 1.0;

/// The nucleus `continue` samples beat-aware models with unless told otherwise (measured in the
/// pop909-beat card; the whole distribution writes stray notes from its long tail).
pub const DEFAULT_BEAT_TOP_P: f32 = 0.9;

/// Checks a key guidance strength: finite, 0–10 nats.
pub fn validate_key_guide(g: f32) -> Result<()> {
    if g.is_finite() && (0.0..=10.0).contains(&g) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("--key-guide {g} must be 0–10")))
    }
}

impl Request {
    /// True once the caller asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Acquire))
    }
}

/// What a running generation reports, per sample, as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GenEvent {
    /// A token was drawn.
    Token(u32),
    /// A note starts or ends, in seconds of the output score, on the channel and with the program it
    /// has in the output.
    Note {
        /// MIDI channel.
        channel: u8,
        /// General MIDI program.
        program: u8,
        /// The key and time.
        event: NoteEvent,
    },
}

/// The result: one score per sample and notes for the user (e.g. how the primer was read).
pub struct Output {
    /// Primer (if any) followed by the new music, one per sample.
    pub scores: Vec<Score>,
    /// Lines worth telling the user.
    pub notes: Vec<String>,
}

/// Continues `primer` (or starts from nothing) with `model`, whatever its vocabulary; `on_event(sample,
/// event)` sees the generation as it happens.
pub fn run(
    model: &MusicTransformer,
    primer: Option<&Score>,
    req: &Request,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Output> {
    if req.samples == 0 || req.samples > 64 {
        return Err(Error::Invalid(format!(
            "--samples {} must be 1–64",
            req.samples
        )));
    }
    match model.config().vocab {
        VocabKind::Grid => run_grid(model, primer, req, on_event),
        VocabKind::Performance => super::piano::run(model, primer, req, on_event),
        VocabKind::Remi => super::beat::run(model, primer, req, on_event),
    }
}

/// Generates with a grid (chorale) model. With a primer, its voices are read into the grid (see
/// `GridVocab::voice_source`), the part that fits the context is the prompt, and each output is the whole
/// primer followed by the continuation, at the primer's tempo.
fn run_grid(
    model: &MusicTransformer,
    primer: Option<&Score>,
    req: &Request,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Output> {
    if req.only_new {
        return Err(Error::Invalid(
            "--only-new is for performance (piano) models; chorale outputs hold the primer".into(),
        ));
    }
    let mut notes = Vec::new();
    let mut vocab = GridVocab {
        bpm: req.bpm,
        ..GridVocab::default()
    };
    let mut head = Chorale::default();
    if let Some(score) = primer {
        head = vocab.score_to_chorale(score)?;
        while head.steps.last().is_some_and(|s| s.iter().all(|&p| p < 0)) {
            head.steps.pop();
        }
        if head.steps.is_empty() {
            return Err(Error::Invalid("the primer has no pitched notes".into()));
        }
        vocab.bpm = score.tempo_map.bpm(0).clamp(10.0, 400.0);
        vocab.program = score
            .notes
            .iter()
            .find(|n| !n.is_drum())
            .map_or(0, |n| n.program);
        notes.push(format!(
            "primer: {} sixteenths, {}",
            head.steps.len(),
            vocab.voice_source(score)
        ));
    }
    let max_steps = (model.config().max_len - 1) / VOICES;
    let mut prompt = vec![BOS];
    let kept = &head.steps[head.steps.len().saturating_sub(max_steps)..];
    if kept.len() < head.steps.len() {
        prompt.clear();
        notes.push(format!(
            "primer is longer than the model's context: prompting with its last {} sixteenths",
            kept.len()
        ));
    }
    prompt.extend(vocab.encode_chorale(&Chorale {
        steps: kept.to_vec(),
    }));
    let tokens = match req.length {
        Length::Tokens(n) => n.div_ceil(VOICES) * VOICES,
        Length::Seconds(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => {
            ((s * vocab.bpm / 60.0 * 4.0).round() as usize).max(1) * VOICES
        }
        Length::Seconds(s) => {
            return Err(Error::Invalid(format!(
                "--seconds {s} must be in (0, 3600]"
            )))
        }
    };
    let mut sampler = Sampler::new(req.sampler)?;
    let step_seconds = 60.0 / vocab.bpm / 4.0;
    let mut streams =
        vec![GridStream::new(head.steps.len() as f64 * step_seconds, step_seconds); req.samples];
    let generated = generate(
        model,
        &prompt,
        req.samples,
        tokens,
        &mut sampler,
        &mut FixedMask {
            mask: Some(grid_grammar()),
            on_token: Some(&mut |i, id| {
                on_event(i, GenEvent::Token(id));
                streams[i].push(id, &mut |channel, event| {
                    on_event(
                        i,
                        GenEvent::Note {
                            channel,
                            program: vocab.program,
                            event,
                        },
                    )
                });
                !req.cancelled()
            }),
        },
    )?;
    if req.cancelled() {
        return Err(Error::Cancelled);
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        stream.finish(&mut |channel, event| {
            on_event(
                i,
                GenEvent::Note {
                    channel,
                    program: vocab.program,
                    event,
                },
            )
        });
    }
    let mut scores = Vec::with_capacity(generated.len());
    for ids in generated {
        let mut chorale = head.clone();
        chorale.steps.extend(vocab.decode_chorale(&ids)?.steps);
        scores.push(vocab.chorale_to_score(&chorale)?);
    }
    Ok(Output { scores, notes })
}

/// Draws up to `steps` tokens for each of `req.samples` samples after `prompt`, steered by `steer`,
/// with `req`'s sampler; `Err(Cancelled)` if the request was cancelled meanwhile.
pub(crate) fn draw(
    model: &MusicTransformer,
    prompt: &[u32],
    req: &Request,
    steps: usize,
    steer: &mut dyn super::decode::Steer,
) -> Result<Vec<Vec<u32>>> {
    let mut sampler = Sampler::new(req.sampler)?;
    let generated = generate(model, prompt, req.samples, steps, &mut sampler, steer)?;
    if req.cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(generated)
}

/// The grid grammar: only a rest or a pitch, never PAD/BOS/EOS, so the SATB order cannot break.
pub fn grid_grammar() -> Vec<bool> {
    (0..grid::SIZE).map(|id| id >= grid::REST).collect()
}

/// Grid tokens as note events while they are generated: voice v is channel v, and a note lasts as
/// long as its voice repeats the pitch (as in `GridVocab::chorale_to_score`).
#[derive(Debug, Clone)]
struct GridStream {
    offset: f64,
    step_seconds: f64,
    step: usize,
    voice: usize,
    sounding: [i16; VOICES],
}

impl GridStream {
    fn new(offset: f64, step_seconds: f64) -> Self {
        GridStream {
            offset,
            step_seconds,
            step: 0,
            voice: 0,
            sounding: [-1; VOICES],
        }
    }

    fn now(&self) -> f64 {
        self.offset + self.step as f64 * self.step_seconds
    }

    fn push(&mut self, id: u32, emit: &mut dyn FnMut(u8, NoteEvent)) {
        let pitch = if (grid::PITCH..grid::SIZE).contains(&id) {
            (id - grid::PITCH) as i16
        } else {
            -1
        };
        let (v, time) = (self.voice, self.now());
        if self.sounding[v] != pitch {
            self.release(v, time, emit);
            if pitch >= 0 {
                let event = NoteEvent::On {
                    pitch: pitch as u8,
                    velocity: GRID_VELOCITY,
                    time,
                };
                emit(v as u8, event);
            }
            self.sounding[v] = pitch;
        }
        self.voice += 1;
        if self.voice == VOICES {
            self.voice = 0;
            self.step += 1;
        }
    }

    fn release(&mut self, v: usize, time: f64, emit: &mut dyn FnMut(u8, NoteEvent)) {
        if self.sounding[v] >= 0 {
            let pitch = self.sounding[v] as u8;
            emit(v as u8, NoteEvent::Off { pitch, time });
            self.sounding[v] = -1;
        }
    }

    fn finish(&mut self, emit: &mut dyn FnMut(u8, NoteEvent)) {
        let time = self.now();
        for v in 0..VOICES {
            self.release(v, time, emit);
        }
    }
}

/// Velocity of decoded grid notes.
const GRID_VELOCITY: u8 = 80;
