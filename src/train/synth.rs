//! Training the neural synthesizer: notes rendered from the SoundFont given as data, the network and
//! one timbre (GLA initial states) per trained instrument learned together, multi-resolution STFT
//! loss. Exported as `model.safetensors` (the network), `config.json` and `timbres/NAME.safetensors`.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::seq::SliceRandom;

use super::run::Job;
use super::{TrainConfig, TrainOptions};
use crate::error::{Error, Result};
use crate::synth::data::{make_notes, Instrument, NoteExample, CATALOGUE, TRAINED};
use crate::synth::ddsp::{multi_resolution_stft_loss, HOP};
use crate::synth::eval::shared_samples;
use crate::synth::loss::{note_batch, synth_loss};
use crate::synth::model::{NeuralSynth, SynthConfig, Timbre};

/// Notes per instrument when the config does not say.
const DEFAULT_NOTES: usize = 200;

/// One trained timbre: an instrument of one sample set.
#[derive(Debug, Clone)]
struct TrainedVoice {
    /// The sample set: 0 the data SoundFont, 1 the bundled one, then `synth_banks` (wide runs).
    bank: usize,
    /// Prefix of the timbre's name in this sample set (empty for the data SoundFont).
    prefix: String,
    instrument: Instrument,
}

impl TrainedVoice {
    /// The timbre's variable name: the instrument's, prefixed in every bank but the data one.
    fn name(&self) -> String {
        format!("{}{}", self.prefix, self.instrument.name)
    }

    /// Whether the timbre ships: a preset of the data SoundFont.
    fn ships(&self) -> bool {
        self.bank == 0 && TRAINED.contains(&self.instrument)
    }
}

/// A loaded sample set and the prefix of its timbres' names.
struct Bank {
    sf: std::sync::Arc<rustysynth::SoundFont>,
    prefix: String,
}

/// The sample sets a run renders from: the data SoundFont; for a wide run also the bundled one and
/// `synth_banks`.
fn load_banks(cfg: &TrainConfig, data: &Path) -> Result<Vec<Bank>> {
    let load = crate::audio::soundfont::load;
    let mut banks = vec![Bank {
        sf: load(Some(data))?,
        prefix: String::new(),
    }];
    if !cfg.synth_catalogue {
        return Ok(banks);
    }
    banks.push(Bank {
        sf: load(None)?,
        prefix: "bundled-".into(),
    });
    for path in &cfg.synth_banks {
        let stem = path
            .file_stem()
            .map_or("bank".into(), |s| s.to_string_lossy());
        banks.push(Bank {
            sf: load(Some(path))?,
            prefix: format!("{}-", stem.to_lowercase().replace(['_', ' '], "-")),
        });
    }
    Ok(banks)
}

/// The voices a run trains: the presets of the data SoundFont, or for a wide run
/// (`synth_catalogue`) the whole catalogue in every bank, except, in the `synth_banks`, programs
/// whose samples all come with the data SoundFont.
fn trained_voices(cfg: &TrainConfig, banks: &[Bank]) -> Vec<TrainedVoice> {
    let list: &[Instrument] = if cfg.synth_catalogue {
        &CATALOGUE
    } else {
        &TRAINED
    };
    let new_samples = |bank: usize, i: &Instrument| {
        bank < 2 || {
            let (shared, of) = shared_samples(&banks[bank].sf, &banks[0].sf, i.program);
            shared < of
        }
    };
    (0..banks.len())
        .flat_map(|bank| {
            list.iter()
                .filter(move |i| new_samples(bank, i))
                .map(move |&instrument| TrainedVoice {
                    bank,
                    prefix: banks[bank].prefix.clone(),
                    instrument,
                })
        })
        .collect()
}

/// Renders `per` notes of each voice (bank by bank, instrument indices global).
fn voice_notes(
    banks: &[Bank],
    voices: &[TrainedVoice],
    per: usize,
    frames: usize,
    seed: u64,
) -> Result<Vec<NoteExample>> {
    let mut all = Vec::new();
    for (b, bank) in banks.iter().enumerate() {
        let first = voices.iter().position(|v| v.bank == b).unwrap_or(0);
        let insts: Vec<Instrument> = voices
            .iter()
            .filter(|v| v.bank == b)
            .map(|v| v.instrument)
            .collect();
        let mut notes = make_notes(&bank.sf, &insts, per, frames, seed ^ b as u64)?;
        notes.iter_mut().for_each(|n| n.instrument += first);
        all.extend(notes);
    }
    Ok(all)
}

/// Sets the network's variables (`net.*`) from the exported synth in `dir`, whose config must
/// equal the run's: a warm start, the timbres new.
fn init_network(varmap: &VarMap, cfg: &SynthConfig, dir: &Path) -> Result<()> {
    let their: SynthConfig = crate::model::config::read_config(
        &dir.join("config.json"),
        "neural synth config",
        SynthConfig::validate,
    )?;
    if &their != cfg {
        return Err(Error::bad_file(
            dir,
            "the synth to start from has a different architecture from the training config",
        ));
    }
    let weights = dir.join("model.safetensors");
    let tensors = crate::model::music_transformer::load_safetensors(&weights, &Device::Cpu)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    for (name, var) in data.iter() {
        let Some(net) = name.strip_prefix("net.") else {
            continue;
        };
        let t = tensors
            .get(net)
            .ok_or_else(|| Error::bad_file(&weights, format!("missing tensor {net}")))?;
        var.set(&t.to_dtype(DType::F32).map_err(Error::tensor)?)
            .map_err(|e| Error::bad_file(&weights, format!("tensor {net}: {e}")))?;
    }
    Ok(())
}

/// Sets the timbre variables of every voice that has a file in `dir/timbres/` (`NAME.safetensors`,
/// as `export_synth` writes them) from it: a warm start of the states as well. The others stay new.
fn init_timbres(varmap: &VarMap, voices: &[TrainedVoice], dir: &Path) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    for v in voices {
        let path = dir
            .join("timbres")
            .join(format!("{}.safetensors", v.name()));
        if !path.is_file() {
            continue;
        }
        let tensors = crate::model::music_transformer::load_safetensors(&path, &Device::Cpu)?;
        for (name, t) in &tensors {
            let key = format!("timbres.{}.{name}", v.name());
            let var = data
                .get(&key)
                .ok_or_else(|| Error::bad_file(&path, format!("unexpected tensor {name}")))?;
            var.set(&t.to_dtype(DType::F32).map_err(Error::tensor)?)
                .map_err(|e| Error::bad_file(&path, format!("tensor {name}: {e}")))?;
        }
    }
    Ok(())
}

/// The synth network, its timbres and its notes.
pub(crate) struct SynthJob {
    cfg: TrainConfig,
    model_cfg: SynthConfig,
    varmap: VarMap,
    synth: NeuralSynth,
    voices: Vec<TrainedVoice>,
    timbres: Vec<Timbre>,
    train: Vec<NoteExample>,
    valid: Vec<NoteExample>,
    batches: Vec<Vec<usize>>,
}

/// The timbre variables of instrument `name` under `vb`.
pub fn timbre_vars(cfg: &SynthConfig, vb: VarBuilder) -> candle_core::Result<Timbre> {
    let dh = cfg.d_model / cfg.heads;
    let init = candle_nn::Init::Randn {
        mean: 0.0,
        stdev: 0.3,
    };
    let layers = (0..cfg.layers)
        .map(|i| {
            let vb = vb.pp(format!("layers.{i}"));
            Ok((
                vb.get_with_hints((cfg.heads, cfg.state_rank, dh), "k", init)?,
                vb.get_with_hints((cfg.heads, cfg.state_rank, dh), "v", init)?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    Ok(Timbre { layers })
}

impl SynthJob {
    /// Renders the notes from the SoundFont at `opts.data` and builds the network and timbres.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &SynthConfig,
        opts: &TrainOptions,
    ) -> Result<Self> {
        let banks = load_banks(cfg, &opts.data)?;
        let voices = trained_voices(cfg, &banks);
        let per = if cfg.notes_per_instrument > 0 {
            cfg.notes_per_instrument
        } else {
            DEFAULT_NOTES
        };
        let frames = cfg.crop_len;
        let train = voice_notes(&banks, &voices, per, frames, cfg.seed)?;
        let valid = voice_notes(&banks, &voices, per.div_ceil(10), frames, cfg.seed ^ 0xA5A5)?;
        let stats = serde_json::json!({
            "instruments": voices.iter().map(TrainedVoice::name).collect::<Vec<_>>(),
            "train_notes": train.len(),
            "valid_notes": valid.len(),
            "frames_per_note": frames,
            "seconds_per_note": frames as f64 * HOP as f64 / crate::synth::ddsp::SAMPLE_RATE as f64,
        });
        super::write_json(&opts.out.join("data.json"), &stats)?;
        let varmap = VarMap::new();
        let vb = super::seeded::var_builder(&varmap, cfg.seed, DType::F32, &Device::Cpu);
        let synth = NeuralSynth::new(model_cfg, vb.pp("net")).map_err(Error::tensor)?;
        let timbres = voices
            .iter()
            .map(|v| timbre_vars(model_cfg, vb.pp("timbres").pp(v.name())))
            .collect::<candle_core::Result<_>>()
            .map_err(Error::tensor)?;
        if let (false, Some(dir)) = (opts.resume, &opts.init) {
            init_network(&varmap, model_cfg, dir)?;
            init_timbres(&varmap, &voices, dir)?;
        }
        Ok(SynthJob {
            cfg: cfg.clone(),
            model_cfg: model_cfg.clone(),
            varmap,
            synth,
            voices,
            timbres,
            train,
            valid,
            batches: Vec::new(),
        })
    }

    fn batch_size(&self) -> usize {
        (self.cfg.batch_tokens / self.cfg.crop_len.max(1)).max(1)
    }
}

impl Job for SynthJob {
    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn start_epoch(&mut self, epoch: usize) -> Result<usize> {
        let mut rng = super::epoch_rng(self.cfg.seed, epoch);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        order.shuffle(&mut rng);
        self.batches = order
            .chunks(self.batch_size())
            .map(<[usize]>::to_vec)
            .collect();
        Ok(self.batches.len())
    }

    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)> {
        let dev = Device::Cpu;
        let notes: Vec<&NoteExample> = self.batches[i].iter().map(|&j| &self.train[j]).collect();
        let run = || -> candle_core::Result<(Tensor, usize)> {
            let (x, f0, target, states) = note_batch(&notes, &self.timbres, &dev)?;
            let noise = Tensor::rand(-1f32, 1.0, target.dims(), &dev)?;
            let audio = self.synth.render(&x, &f0, &noise, &states)?;
            Ok((
                multi_resolution_stft_loss(&audio, &target)?,
                x.dim(0)? * x.dim(1)?,
            ))
        };
        run().map_err(Error::tensor)
    }

    fn validate(&self) -> Result<f64> {
        synth_loss(&self.synth, &self.timbres, &self.valid, self.batch_size())
    }

    fn export(&self, dir: &Path) -> Result<()> {
        let shipped: Vec<(&str, &Timbre)> = self
            .voices
            .iter()
            .zip(&self.timbres)
            .filter(|(v, _)| v.ships())
            .map(|(v, t)| (v.instrument.name, t))
            .collect();
        export_synth(&self.varmap, &self.model_cfg, &shipped, dir)
    }
}

/// Writes the network (`model.safetensors`, f16 where it loses nothing measurable is left for the
/// card: f32 here, the model is small), `config.json` and one `timbres/NAME.safetensors` per shipped
/// timbre.
pub fn export_synth(
    varmap: &VarMap,
    cfg: &SynthConfig,
    timbres: &[(&str, &Timbre)],
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir.join("timbres")).map_err(|e| Error::io(dir, e))?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Internal("var map lock".into()))?;
    let net: std::collections::HashMap<String, Tensor> = data
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("net.")
                .map(|name| (name.to_string(), v.as_tensor().clone()))
        })
        .collect();
    drop(data);
    crate::model::weights::save_tensors(&dir.join("model.safetensors"), &net, None)?;
    for (name, t) in timbres {
        t.save(&dir.join("timbres").join(format!("{name}.safetensors")))?;
    }
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Internal(e.to_string()))?;
    let path = dir.join("config.json");
    crate::atomic_file::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide_config(banks: &[&Path]) -> TrainConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/gla-synth-wide.json");
        let mut cfg: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        cfg.synth_banks = banks.iter().map(|p| p.to_path_buf()).collect();
        cfg
    }

    fn bundled() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("soundfonts/sf_GMbank.sf2")
    }

    #[test]
    fn a_bank_adds_only_programs_with_samples_of_its_own() {
        // The bundled bank again as an extra bank of a run on the bundled bank: every program's
        // samples are already there, so it adds no voice; the bundled bank adds the catalogue.
        let sf2 = bundled();
        let cfg = wide_config(&[&sf2]);
        let banks = load_banks(&cfg, &sf2).unwrap();
        assert_eq!(banks.len(), 3);
        assert_eq!(banks[2].prefix, "sf-gmbank-");
        let voices = trained_voices(&cfg, &banks);
        assert_eq!(voices.len(), 2 * CATALOGUE.len());
        assert!(voices.iter().all(|v| v.bank < 2));
        assert_eq!(voices[CATALOGUE.len()].name(), "bundled-piano");
        let presets = wide_config(&[]);
        let narrow = TrainConfig {
            synth_catalogue: false,
            ..presets
        };
        let one = load_banks(&narrow, &sf2).unwrap();
        assert_eq!(trained_voices(&narrow, &one).len(), TRAINED.len());
    }

    #[test]
    fn init_takes_the_timbres_it_finds() {
        let cfg = SynthConfig {
            architecture: SynthConfig::ARCHITECTURE.into(),
            d_model: 16,
            heads: 2,
            layers: 2,
            state_rank: 2,
            d_ff: 32,
            chunk: 4,
        };
        let voice = |prefix: &str, i: usize| TrainedVoice {
            bank: usize::from(!prefix.is_empty()),
            prefix: prefix.into(),
            instrument: CATALOGUE[i],
        };
        let voices = [voice("", 0), voice("bundled-", 1)];
        let make = |seed| {
            let varmap = VarMap::new();
            let vb = crate::train::seeded::var_builder(&varmap, seed, DType::F32, &Device::Cpu);
            let t: Vec<Timbre> = voices
                .iter()
                .map(|v| timbre_vars(&cfg, vb.pp("timbres").pp(v.name())).unwrap())
                .collect();
            (varmap, t)
        };
        let (_, saved) = make(1);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("timbres")).unwrap();
        saved[0]
            .save(&dir.path().join("timbres/piano.safetensors"))
            .unwrap();
        let (varmap, fresh) = make(2);
        init_timbres(&varmap, &voices, dir.path()).unwrap();
        let flat = |t: &Timbre| -> Vec<f32> {
            t.layers
                .iter()
                .flat_map(|(k, v)| {
                    let mut x = k.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    x.extend(v.flatten_all().unwrap().to_vec1::<f32>().unwrap());
                    x
                })
                .collect()
        };
        assert_eq!(flat(&fresh[0]), flat(&saved[0]));
        assert_ne!(flat(&fresh[1]), flat(&saved[1]));
    }
}
