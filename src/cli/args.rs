//! Argument groups several commands flatten in: the engine, the audio output, sampling.

use std::path::PathBuf;

use reprise::ops::engine::{Engine, Voice};

use super::common::temperature;

/// Which synthesizer renders or plays.
#[derive(clap::Args, Clone)]
pub struct EngineArgs {
    /// The synthesizer: the SoundFont sampler, or the GLA neural synth (pitched notes only, drums
    /// are left out; when playing it renders while it plays, so pause works and seeking does not).
    #[arg(long, value_enum, default_value_t = Engine::Soundfont)]
    pub engine: Engine,
    /// With `--engine neural`: a timbre name (see the model's timbres/) or a .safetensors file.
    #[arg(long, default_value = "piano")]
    pub timbre: String,
    /// With `--engine neural`: the synth model name or directory.
    #[arg(long, default_value = "gla-synth")]
    pub synth_model: String,
}

impl EngineArgs {
    /// The engine with `soundfont` for the SoundFont engine.
    pub fn voice(&self, soundfont: Option<PathBuf>) -> Voice {
        Voice {
            engine: self.engine,
            soundfont,
            synth_model: self.synth_model.clone(),
            timbre: self.timbre.clone(),
        }
    }
}

/// Where live audio goes.
#[derive(clap::Args, Clone)]
pub struct AudioOutArgs {
    /// SoundFont (SF2) to play with (default: the built-in General MIDI bank).
    #[arg(long)]
    pub soundfont: Option<PathBuf>,
    /// Output device: part of a name from `play --list-devices`, or `null` (a silent clock, for
    /// machines without audio).
    #[arg(long)]
    pub device: Option<String>,
}

/// Sampling settings of the commands that write music with a model.
#[derive(clap::Args, Clone, Copy)]
pub struct SamplingArgs {
    /// Sampling temperature (> 0).
    #[arg(long, default_value_t = 1.0, value_parser = temperature)]
    pub temperature: f32,
    /// Random seed (default: from the clock, printed so the run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
}
