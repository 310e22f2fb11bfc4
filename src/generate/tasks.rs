//! Generation tasks over MIDI: continue a primer, or generate from nothing.

use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::{MusicTransformer, VocabKind};
use crate::tokens::grid::{self, VOICES};
use crate::tokens::{Chorale, GridVocab, BOS};

use super::decode::{generate, FixedMask};
use super::sampler::Sampler;
use crate::tokens::NoteEvent;

pub use super::request::{
    validate_key_guide, GenEvent, Length, Output, Request, Task, DEFAULT_BEAT_TOP_P,
    DEFAULT_KEY_GUIDE,
};

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
            "{} samples: ask for 1–64",
            req.samples
        )));
    }
    let task = Task { model, primer, req };
    match model.config().vocab {
        VocabKind::Grid => run_grid(task, on_event),
        VocabKind::Performance => super::piano::run(task, on_event),
        VocabKind::Remi => super::beat::run(task, on_event),
    }
}

/// Generates with a grid (chorale) model. With a primer, its voices are read into the grid (see
/// `GridVocab::voice_source`), the part that fits the context is the prompt, and each output is the whole
/// primer followed by the continuation, at the primer's tempo.
fn run_grid(task: Task, on_event: &mut dyn FnMut(usize, GenEvent)) -> Result<Output> {
    let Task { model, primer, req } = task;
    if req.only_new {
        return Err(Error::Invalid(
            "leaving the primer out is for performance (piano) models; chorale outputs hold the primer"
                .into(),
        ));
    }
    let mut notes = Vec::new();
    let mut vocab = GridVocab {
        bpm: req.bpm,
        ..GridVocab::default()
    };
    let head = match primer {
        Some(score) => grid_primer(&mut vocab, score, &mut notes)?,
        None => Chorale::default(),
    };
    let max_steps = (model.config().max_len - 1) / VOICES;
    let prompt = grid_prompt(&vocab, &head, max_steps, &mut notes);
    let tokens = grid_tokens(req.length, vocab.bpm)?;
    let mut sampler = Sampler::new(req.sampler)?;
    let step_seconds = 60.0 / vocab.bpm / 4.0;
    let mut streams =
        vec![GridStream::new(head.steps.len() as f64 * step_seconds, step_seconds); req.samples];
    let program = vocab.program;
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
                            program,
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
                    program,
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

/// The primer read into the grid, trailing rests dropped; `vocab` takes its tempo and program, and
/// `notes` says how its voices were read.
fn grid_primer(vocab: &mut GridVocab, score: &Score, notes: &mut Vec<String>) -> Result<Chorale> {
    let mut head = vocab.score_to_chorale(score)?;
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
    Ok(head)
}

/// The prompt: BOS and the primer, or only its last `max_steps` sixteenths (without BOS) when it is
/// longer than the context, which `notes` then says.
fn grid_prompt(
    vocab: &GridVocab,
    head: &Chorale,
    max_steps: usize,
    notes: &mut Vec<String>,
) -> Vec<u32> {
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
    prompt
}

/// Grid tokens to generate for `length` at `bpm` (whole sixteenths of all voices).
fn grid_tokens(length: Length, bpm: f64) -> Result<usize> {
    Ok(match length {
        Length::Tokens(n) => n.div_ceil(VOICES) * VOICES,
        Length::Seconds(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => {
            ((s * bpm / 60.0 * 4.0).round() as usize).max(1) * VOICES
        }
        Length::Seconds(s) => {
            return Err(Error::Invalid(format!(
                "the length {s} s must be in (0, 3600]"
            )))
        }
    })
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
