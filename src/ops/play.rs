//! Play music through an audio output with either engine. The caller drives the returned
//! [`Playing`] (the CLI's key loop, the TUI's transport) and stops it; every stop sends all notes off.

use std::path::PathBuf;

use crate::audio::device::open_output;
use crate::audio::playback::{PlayOptions, Playback, PlaybackStats, Player, StreamPlayer};
use crate::error::{Error, Result};
use crate::midi::Score;

use super::engine::{Engine, Voice};

/// What to play, with what, where.
#[derive(Debug, Clone)]
pub struct Play {
    /// The music.
    pub score: Score,
    /// Where it came from, for messages.
    pub origin: PathBuf,
    /// The engine.
    pub voice: Voice,
    /// The output device: part of a name, `null` for a silent clock, `None` for the default.
    pub device: Option<String>,
    /// Start this many seconds in (the SoundFont engine only: the neural synth renders as it plays).
    pub from: f64,
}

/// Music playing.
pub enum Playing {
    /// The SoundFont engine: sample-accurate, seekable.
    Sampled(Player),
    /// The neural engine: rendered while it plays; pauses, does not seek.
    Streamed(StreamPlayer),
}

impl Playing {
    /// The transport, for a key loop or a status line.
    pub fn playback(&self) -> &dyn Playback {
        match self {
            Playing::Sampled(p) => p,
            Playing::Streamed(p) => p,
        }
    }

    /// Stops (all notes off) and reports how playback went.
    pub fn stop(self) -> Result<PlaybackStats> {
        match self {
            Playing::Sampled(p) => Ok(p.stop()),
            Playing::Streamed(p) => p.stop(),
        }
    }
}

/// Starts playing `req.score`.
pub fn play(req: &Play) -> Result<Playing> {
    if !req.from.is_finite() || req.from < 0.0 {
        return Err(Error::Invalid(format!(
            "a start {} s in: it must be ≥ 0",
            req.from
        )));
    }
    req.voice.check_score(&req.score, &req.origin)?;
    match req.voice.engine {
        Engine::Soundfont => {
            let sf = req.voice.load_soundfont()?;
            let output = open_output(req.device.as_deref())?;
            let opts = PlayOptions {
                from_seconds: req.from,
                ..Default::default()
            };
            Ok(Playing::Sampled(Player::start(&req.score, &sf, output, opts)?))
        }
        Engine::Neural if req.from > 0.0 => Err(Error::Invalid(
            "starting part-way is not available with the neural synth (audio rendered while it plays cannot jump)".into(),
        )),
        Engine::Neural => {
            let engine = req.voice.load_neural()?;
            let output = open_output(req.device.as_deref())?;
            let score = req.score.clone();
            let player = StreamPlayer::start(output, 1.0, move |rate, push| {
                engine.stream(&score, rate, push)
            })?;
            Ok(Playing::Streamed(player))
        }
    }
}
