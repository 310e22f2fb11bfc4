//! The two synthesizers behind one choice: the SoundFont sampler (rustysynth) and the GLA neural
//! synth. Offline rendering (`ops::render`) and live playback (`ops::play`) both start here, so an
//! engine is chosen, checked and described in one place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audio::soundfont;
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::synth::render::{timbre_names, timbre_path, NeuralEngine};

/// Which synthesizer makes the sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// The SoundFont sampler (every General MIDI program and drums).
    #[default]
    Soundfont,
    /// The GLA neural synth (pitched notes only, drums are left out), in a trained or cloned timbre.
    Neural,
}

/// The longest piece the neural synth renders (in memory: about 350 MB of samples per hour at
/// 44.1 kHz stereo).
pub const MAX_NEURAL_SECONDS: f64 = 3600.0;

/// An engine and what it plays with.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// The synthesizer.
    pub engine: Engine,
    /// The SoundFont engine's SF2 (`None`: the built-in General MIDI bank).
    pub soundfont: Option<PathBuf>,
    /// The neural engine's model name or directory.
    pub synth_model: String,
    /// The neural engine's timbre: a name in the model's `timbres/` or a `.safetensors` file.
    pub timbre: String,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            engine: Engine::Soundfont,
            soundfont: None,
            synth_model: "gla-synth".into(),
            timbre: "piano".into(),
        }
    }
}

impl Voice {
    /// The files this voice reads (an output must not be one of them).
    pub fn inputs(&self) -> Vec<&Path> {
        match self.engine {
            Engine::Soundfont => self.soundfont.iter().map(PathBuf::as_path).collect(),
            Engine::Neural => Vec::new(),
        }
    }

    /// Checks that `score` has something this engine can sound; `origin` names it in errors.
    pub fn check_score(&self, score: &Score, origin: &Path) -> Result<()> {
        match self.engine {
            Engine::Soundfont if score.notes.is_empty() => {
                Err(Error::bad_file(origin, "has no notes"))
            }
            Engine::Neural if score.notes.iter().all(|n| n.is_drum()) => Err(Error::bad_file(
                origin,
                "has no pitched notes for the neural synth",
            )),
            _ => Ok(()),
        }
    }

    /// The SoundFont, loaded (`Engine::Soundfont`).
    pub fn load_soundfont(&self) -> Result<Arc<rustysynth::SoundFont>> {
        soundfont::load(self.soundfont.as_deref())
    }

    /// The neural engine with its timbre; a missing timbre is named with the ones the model has.
    pub fn load_neural(&self) -> Result<NeuralEngine> {
        let dir = crate::model::resolve_model_dir(&self.synth_model)?;
        let path = timbre_path(&dir, &self.timbre);
        if !path.is_file() {
            let names = timbre_names(&dir).join(", ");
            return Err(Error::bad_file(
                &path,
                format!("no such timbre (the model has: {names})"),
            ));
        }
        NeuralEngine::load(&dir, &self.timbre)
    }

    /// "SoundFont", or "neural synth, timbre NAME".
    pub fn describe(&self) -> String {
        match self.engine {
            Engine::Soundfont => "SoundFont".into(),
            Engine::Neural => format!("neural synth, timbre {}", self.timbre),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neural_engine_refuses_drums_only_and_the_soundfont_an_empty_score() {
        let mut s = Score::new(480, 500_000).unwrap();
        let neural = Voice {
            engine: Engine::Neural,
            ..Voice::default()
        };
        let origin = Path::new("x.mid");
        assert!(Voice::default().check_score(&s, origin).is_err());
        let t = s.add_track("drums", crate::midi::TrackRole::Drums);
        s.push_note_ticks(t, 9, 0, 36, 100, 0, 240);
        assert!(Voice::default().check_score(&s, origin).is_ok());
        let e = neural.check_score(&s, origin).unwrap_err().to_string();
        assert!(e.contains("no pitched notes"), "{e}");
    }

    #[test]
    fn a_missing_timbre_names_the_ones_there_are() {
        let v = Voice {
            engine: Engine::Neural,
            timbre: "kazoo".into(),
            ..Voice::default()
        };
        let e = v.load_neural().err().expect("no kazoo").to_string();
        assert!(e.contains("no such timbre") && e.contains("piano"), "{e}");
    }
}
