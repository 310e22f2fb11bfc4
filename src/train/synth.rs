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
use crate::synth::data::{make_notes, NoteExample, TRAINED};
use crate::synth::ddsp::{multi_resolution_stft_loss, HOP};
use crate::synth::loss::{note_batch, synth_loss};
use crate::synth::model::{NeuralSynth, SynthConfig, Timbre};

/// Notes per instrument when the config does not say.
const DEFAULT_NOTES: usize = 200;

/// The synth network, its timbres and its notes.
pub(crate) struct SynthJob {
    cfg: TrainConfig,
    model_cfg: SynthConfig,
    varmap: VarMap,
    synth: NeuralSynth,
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
        let sf = crate::audio::soundfont::load(Some(&opts.data))?;
        let per = if cfg.notes_per_instrument > 0 {
            cfg.notes_per_instrument
        } else {
            DEFAULT_NOTES
        };
        let frames = cfg.crop_len;
        let train = make_notes(&sf, &TRAINED, per, frames, cfg.seed)?;
        let valid = make_notes(&sf, &TRAINED, per.div_ceil(10), frames, cfg.seed ^ 0xA5A5)?;
        let stats = serde_json::json!({
            "instruments": TRAINED.iter().map(|i| i.name).collect::<Vec<_>>(),
            "train_notes": train.len(),
            "valid_notes": valid.len(),
            "frames_per_note": frames,
            "seconds_per_note": frames as f64 * HOP as f64 / crate::synth::ddsp::SAMPLE_RATE as f64,
        });
        super::write_json(&opts.out.join("data.json"), &stats)?;
        if opts.init.is_some() {
            return Err(Error::Invalid(
                "a neural synth run cannot start from an exported model's weights".into(),
            ));
        }
        let varmap = VarMap::new();
        let vb = super::seeded::var_builder(&varmap, cfg.seed, DType::F32, &Device::Cpu);
        let synth = NeuralSynth::new(model_cfg, vb.pp("net")).map_err(Error::tensor)?;
        let timbres = TRAINED
            .iter()
            .map(|i| timbre_vars(model_cfg, vb.pp("timbres").pp(i.name)))
            .collect::<candle_core::Result<_>>()
            .map_err(Error::tensor)?;
        Ok(SynthJob {
            cfg: cfg.clone(),
            model_cfg: model_cfg.clone(),
            varmap,
            synth,
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
        export_synth(&self.varmap, &self.model_cfg, &self.timbres, dir)
    }
}

/// Writes the network (`model.safetensors`, f16 where it loses nothing measurable is left for the
/// card: f32 here, the model is small), `config.json` and one `timbres/NAME.safetensors` per trained
/// instrument.
pub fn export_synth(
    varmap: &VarMap,
    cfg: &SynthConfig,
    timbres: &[Timbre],
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
    for (inst, t) in TRAINED.iter().zip(timbres) {
        t.save(
            &dir.join("timbres")
                .join(format!("{}.safetensors", inst.name)),
        )?;
    }
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Internal(e.to_string()))?;
    let path = dir.join("config.json");
    crate::atomic_file::write_atomic(&path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}
