//! What a generation task is asked and what it gives back, shared by the grid (chorale), piano
//! (performance) and beat-aware (REMI) paths, and the drawing of tokens they share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::decode::{generate, Steer};
use super::sampler::{Sampler, SamplerConfig};
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::MusicTransformer;
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
        Err(Error::Invalid(format!("key guidance {g} must be 0–10")))
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

/// One generation to run: the model, the primer it continues (none: from nothing), and the request.
#[derive(Clone, Copy)]
pub struct Task<'a> {
    /// The model, of any vocabulary.
    pub model: &'a MusicTransformer,
    /// The score to continue.
    pub primer: Option<&'a Score>,
    /// What to generate.
    pub req: &'a Request,
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

/// Draws up to `steps` tokens for each of `req.samples` samples after `prompt`, steered by `steer`,
/// with `req`'s sampler; `Err(Cancelled)` if the request was cancelled meanwhile.
pub(crate) fn draw(
    model: &MusicTransformer,
    prompt: &[u32],
    req: &Request,
    steps: usize,
    steer: &mut dyn Steer,
) -> Result<Vec<Vec<u32>>> {
    let mut sampler = Sampler::new(req.sampler)?;
    let generated = generate(model, prompt, req.samples, steps, &mut sampler, steer)?;
    if req.cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(generated)
}
