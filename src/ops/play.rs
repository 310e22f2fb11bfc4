//! Play music through an audio output with either engine. The caller drives the returned
//! [`Playing`] (the CLI's key loop, the TUI's transport) and stops it; every stop sends all notes off.

use std::path::PathBuf;

use crate::audio::device::open_output;
use crate::audio::file_player::FilePlayer;
use crate::audio::playback::{PlayOptions, Playback, PlaybackStats, Player, StreamPlayer};
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::ports::player::MidiPlayer;
use crate::ports::system::{open_output as open_port, PortSpec};

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
    /// An audio file (decoded by rodio): seekable.
    File(FilePlayer),
    /// To a MIDI output port: seekable.
    Midi(MidiPlayer),
}

impl Playing {
    /// The transport, for a key loop or a status line.
    pub fn playback(&self) -> &dyn Playback {
        match self {
            Playing::Sampled(p) => p,
            Playing::Streamed(p) => p,
            Playing::File(p) => p,
            Playing::Midi(p) => p,
        }
    }

    /// The length in seconds, where the player knows it (audio files).
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Playing::File(p) => Some(p.seconds()),
            _ => None,
        }
    }

    /// Stops (all notes off) and reports how playback went.
    pub fn stop(self) -> Result<PlaybackStats> {
        match self {
            Playing::Sampled(p) => Ok(p.stop()),
            Playing::Streamed(p) => p.stop(),
            Playing::File(p) => Ok(p.stop()),
            Playing::Midi(p) => p.stop().map(|()| PlaybackStats::default()),
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

/// The extensions [`play_file`] takes.
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

/// True for a path whose extension names an audio file rather than MIDI.
pub fn is_audio_file(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Starts playing the audio file `path` (WAV, FLAC, MP3, Ogg Vorbis) on `device` from `from` s.
pub fn play_file(path: &std::path::Path, device: Option<&str>, from: f64) -> Result<Playing> {
    if !from.is_finite() || from < 0.0 {
        return Err(Error::Invalid(format!(
            "a start {from} s in: it must be ≥ 0"
        )));
    }
    let output = open_output(device)?;
    let player = FilePlayer::start(path, output, from)?;
    if from > player.seconds() {
        let length = player.seconds();
        player.stop();
        return Err(Error::bad_file(
            path,
            format!("lasts {length:.1} s: it cannot start {from} s in"),
        ));
    }
    Ok(Playing::File(player))
}

/// Starts playing `score` to the MIDI output `port` from `from` seconds (its programs first; all
/// notes off on every way out).
pub fn play_to_port(score: &Score, port: &PortSpec, from: f64) -> Result<Playing> {
    if !from.is_finite() || from < 0.0 {
        return Err(Error::Invalid(format!(
            "a start {from} s in: it must be ≥ 0"
        )));
    }
    let sink = open_port(port)?;
    Ok(Playing::Midi(MidiPlayer::start(score, sink, from)?))
}
