//! The model registry: every installed model (shipped in `models/`, or a user's folder such as a
//! training run's `model/`), what architecture its `config.json` names, what it can do, and loading
//! it into one enum. A folder that is not a model gets one clear error here, whatever asked for it.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::accompany::harmony::Harmonizer;
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};
use crate::model::chord_tagger::ChordTaggerConfig;
use crate::model::theme_transformer::{ThemeConfig, ThemeTask, ThemeTransformer};
use crate::model::voice_filler::{VoiceFiller, VoiceFillerConfig};
use crate::model::{MusicTransformer, TransformerConfig, VocabKind};
use crate::synth::model::{NeuralSynth, SynthConfig};

/// What a model is, from its config's architecture tag (Music Transformers, the oldest, have none:
/// they are known by their `vocab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// A decoder-only Music Transformer over this vocabulary.
    MusicTransformer(VocabKind),
    /// The encoder–decoder Theme Transformer, for themes or for accompaniment.
    ThemeTransformer(ThemeTask),
    /// The chord tagger behind the harmonizer.
    ChordTagger,
    /// The GLA neural synth.
    GlaSynth,
    /// The chorale voice filler.
    VoiceFiller,
}

/// A user action a model may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Continue a piece.
    Continue,
    /// Generate from nothing.
    Generate,
    /// Grow a piece from a theme.
    Theme,
    /// Write a piano part for a melody.
    Accompany,
    /// Name a melody's chords.
    Harmonize,
    /// Sound notes (render, play, clone a timbre).
    Synthesize,
    /// Write a chorale's missing voices.
    FillVoices,
}

impl Action {
    /// The action in words ("continue music").
    pub fn describe(self) -> &'static str {
        match self {
            Action::Continue => "continue music",
            Action::Generate => "generate music",
            Action::Theme => "grow a piece from a theme",
            Action::Accompany => "accompany a melody",
            Action::Harmonize => "name a melody's chords",
            Action::Synthesize => "synthesize audio",
            Action::FillVoices => "write a chorale's missing voices",
        }
    }
}

impl Architecture {
    /// The architecture in words.
    pub fn describe(self) -> &'static str {
        match self {
            Architecture::MusicTransformer(VocabKind::Grid) => "Music Transformer (chorale grid)",
            Architecture::MusicTransformer(VocabKind::Performance) => {
                "Music Transformer (piano performance)"
            }
            Architecture::MusicTransformer(VocabKind::Remi) => {
                "Music Transformer (beat-aware piano)"
            }
            Architecture::ThemeTransformer(ThemeTask::Theme) => "Theme Transformer (themes)",
            Architecture::ThemeTransformer(ThemeTask::Accompany) => {
                "Theme Transformer (accompaniment)"
            }
            Architecture::ChordTagger => "chord tagger (harmonizer)",
            Architecture::GlaSynth => "GLA neural synth",
            Architecture::VoiceFiller => "voice filler (chorale voices)",
        }
    }

    /// True if a model of this architecture serves `action`.
    pub fn can(self, action: Action) -> bool {
        matches!(
            (self, action),
            (
                Architecture::MusicTransformer(_),
                Action::Continue | Action::Generate
            ) | (
                Architecture::ThemeTransformer(ThemeTask::Theme),
                Action::Theme
            ) | (
                Architecture::ThemeTransformer(ThemeTask::Accompany),
                Action::Accompany
            ) | (Architecture::ChordTagger, Action::Harmonize)
                | (Architecture::GlaSynth, Action::Synthesize)
                | (Architecture::VoiceFiller, Action::FillVoices)
        )
    }
}

/// An installed model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// Its name: the folder's name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// What it is.
    pub architecture: Architecture,
}

impl ModelEntry {
    /// True if it serves `action`.
    pub fn can(&self, action: Action) -> bool {
        self.architecture.can(action)
    }
}

/// A loaded model, whatever its architecture.
pub enum Loaded {
    /// A Music Transformer.
    Music(MusicTransformer),
    /// A Theme Transformer.
    Theme(ThemeTransformer),
    /// The harmonizer around a chord tagger.
    Harmonizer(Harmonizer),
    /// The neural synth's network (timbres are loaded apart).
    Synth(NeuralSynth),
    /// The chorale voice filler.
    Filler(VoiceFiller),
}

/// Reads `dir/config.json` and names the architecture; anything else is one clear error.
pub fn inspect(dir: &Path) -> Result<ModelEntry> {
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::bad_file(
            dir,
            "is not a model folder (no config.json)",
        ));
    }
    let text = crate::input::read_text(&config, "model config")?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&config, format!("bad model config: {e}")))?;
    let tag = value.get("architecture").and_then(|v| v.as_str());
    let architecture = match tag {
        Some(ThemeConfig::ARCHITECTURE) => {
            Architecture::ThemeTransformer(ThemeConfig::load(&config)?.task)
        }
        Some(ChordTaggerConfig::ARCHITECTURE) => {
            ChordTaggerConfig::load(&config)?;
            Architecture::ChordTagger
        }
        Some(VoiceFillerConfig::ARCHITECTURE) => {
            VoiceFillerConfig::load(&config)?;
            Architecture::VoiceFiller
        }
        Some(SynthConfig::ARCHITECTURE) => {
            crate::model::config::read_config(&config, "neural synth config", SynthConfig::validate)?;
            Architecture::GlaSynth
        }
        None if value.get("vocab").is_some() => {
            Architecture::MusicTransformer(TransformerConfig::load(&config)?.vocab)
        }
        other => {
            return Err(Error::bad_file(
                &config,
                format!(
                    "names no architecture Reprise knows ({}; known: theme-transformer, chord-tagger, gla-synth, voice-filler, or a Music Transformer's vocab)",
                    other.map_or("none".into(), |t| format!("\"{t}\""))
                ),
            ))
        }
    };
    if !dir.join("model.safetensors").is_file() {
        return Err(Error::bad_file(
            dir,
            "has a config.json but no model.safetensors",
        ));
    }
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(ModelEntry {
        name,
        dir: dir.to_path_buf(),
        architecture,
    })
}

/// Finds `name_or_dir` (a folder, or a name in the model folders) and checks that it serves `action`.
pub fn resolve(name_or_dir: &str, action: Action) -> Result<ModelEntry> {
    let dir = crate::model::resolve_model_dir(name_or_dir)?;
    let entry = inspect(&dir)?;
    if entry.can(action) {
        Ok(entry)
    } else {
        Err(Error::bad_file(
            &dir,
            format!(
                "is a {}: it cannot {}",
                entry.architecture.describe(),
                action.describe()
            ),
        ))
    }
}

/// Loads the model in `entry`.
pub fn load(entry: &ModelEntry) -> Result<Loaded> {
    let cpu = Device::Cpu;
    Ok(match entry.architecture {
        Architecture::MusicTransformer(_) => {
            Loaded::Music(MusicTransformer::load(&entry.dir, &cpu)?)
        }
        Architecture::ThemeTransformer(_) => {
            Loaded::Theme(ThemeTransformer::load(&entry.dir, &cpu)?)
        }
        Architecture::ChordTagger => Loaded::Harmonizer(Harmonizer::load(&entry.dir)?),
        Architecture::GlaSynth => Loaded::Synth(crate::synth::render::load_network(&entry.dir)?),
        Architecture::VoiceFiller => Loaded::Filler(VoiceFiller::load(&entry.dir, &cpu)?),
    })
}

pub use crate::model::place::model_roots;

/// The file in an installed model that names the run that installed it.
const INSTALLED_BY: &str = ".reprise-run";

/// Where `reprise train --name NAME` installs a run's model: `NAME` in the user's model folder.
/// Refused when the name is not a plain folder name, when another model already answers to it, or
/// when the folder holds a model another run installed (nothing the user had is replaced).
pub fn install_target(name: &str, run_dir: &Path) -> Result<PathBuf> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']);
    if !plain {
        return Err(Error::Invalid(format!(
            "the model name {name:?} must be a plain folder name, such as my-songs"
        )));
    }
    let root = crate::model::place::user_models_dir().ok_or_else(|| {
        Error::Invalid("no home folder to install models in: set HOME or XDG_DATA_HOME".into())
    })?;
    let target = root.join(name);
    let run = installed_by(run_dir);
    let ours = target.is_dir() && std::fs::read_to_string(target.join(INSTALLED_BY)).ok() == run;
    if let Ok(existing) = crate::model::resolve_model_dir(name) {
        if !ours {
            return Err(Error::Invalid(format!(
                "a model named {name} already exists ({}): choose another name",
                existing.display()
            )));
        }
    }
    if target.exists() && !ours {
        return Err(Error::bad_file(
            &target,
            "already exists and was not installed by this run: choose another name",
        ));
    }
    Ok(target)
}

/// What [`INSTALLED_BY`] holds for a run: its folder, absolute.
fn installed_by(run_dir: &Path) -> Option<String> {
    std::fs::canonicalize(run_dir)
        .ok()
        .map(|p| p.display().to_string())
}

/// Copies the exported model `model` to `target` (from [`install_target`]) as a whole: written
/// beside it, then renamed over the previous install of the same run.
pub fn install(model: &Path, target: &Path, run_dir: &Path) -> Result<()> {
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
    let entries = std::fs::read_dir(model).map_err(|e| Error::io(model, e))?;
    for entry in entries.flatten().filter(|e| e.path().is_file()) {
        let to = partial.join(entry.file_name());
        std::fs::copy(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
    }
    let by = partial.join(INSTALLED_BY);
    std::fs::write(&by, installed_by(run_dir).unwrap_or_default())
        .map_err(|e| Error::io(&by, e))?;
    if target.exists() {
        std::fs::remove_dir_all(target).map_err(|e| Error::io(target, e))?;
    }
    std::fs::rename(&partial, target).map_err(|e| Error::io(target, e))
}

/// Every model in the model folders, by name (the first folder holding a name wins), skipping
/// folders that are not models.
pub fn discover() -> Vec<ModelEntry> {
    let mut found: Vec<ModelEntry> = Vec::new();
    for root in model_roots() {
        let Ok(rd) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut here: Vec<ModelEntry> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| inspect(&e.path()).ok())
            .filter(|m| found.iter().all(|f| f.name != m.name))
            .collect();
        found.append(&mut here);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Every installed model that serves `action`.
pub fn for_action(action: Action) -> Vec<ModelEntry> {
    discover().into_iter().filter(|m| m.can(action)).collect()
}

/// The model `continue` (with a primer) or `generate` (without) uses when none is named: the chorale
/// model for four chorale voices, the beat-aware piano model for anything else.
pub fn default_for(primer: Option<&Score>) -> &'static str {
    let voices = |s: &Score| {
        s.tracks
            .iter()
            .filter(|t| matches!(t.role, TrackRole::Voice(_)))
            .count()
    };
    match primer {
        Some(s) if voices(s) < 2 => "pop909-beat",
        _ => "jsb-chorales",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_are_found_with_their_architectures() {
        let all = discover();
        let arch = |n: &str| all.iter().find(|m| m.name == n).map(|m| m.architecture);
        assert_eq!(
            arch("jsb-chorales"),
            Some(Architecture::MusicTransformer(VocabKind::Grid))
        );
        assert_eq!(
            arch("pop909-beat"),
            Some(Architecture::MusicTransformer(VocabKind::Remi))
        );
        assert_eq!(
            arch("pop909-theme"),
            Some(Architecture::ThemeTransformer(ThemeTask::Theme))
        );
        assert_eq!(
            arch("pop909-accomp"),
            Some(Architecture::ThemeTransformer(ThemeTask::Accompany))
        );
        assert_eq!(arch("pop909-chords"), Some(Architecture::ChordTagger));
        assert_eq!(arch("gla-synth"), Some(Architecture::GlaSynth));
        assert!(for_action(Action::Continue).len() >= 3);
    }

    #[test]
    fn a_folder_that_is_not_a_model_gets_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = inspect(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a model folder"), "{e}");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"architecture": "wavenet"}"#,
        )
        .unwrap();
        let e = inspect(dir.path()).unwrap_err().to_string();
        assert!(e.contains("\"wavenet\"") && e.contains("known"), "{e}");
    }

    #[test]
    fn a_model_asked_for_what_it_cannot_do_says_what_it_is() {
        let e = resolve("pop909-theme", Action::Continue)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Theme Transformer (themes): it cannot continue music"),
            "{e}"
        );
        assert!(resolve("pop909-chords", Action::Harmonize).is_ok());
    }
}
