//! The harmonizer's training job: POP909 melodies with their annotated chord per beat. Each crop is
//! a run of beats of one song, rotated by a random number of semitones (0–11) when the config's
//! `transpose` is above 0; the loss is the NLL of the labelled beats' chord classes. Validation
//! scores the labelled beats of whole validation songs through the harmonizer itself (all twelve
//! rotations, overlapping windows).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::Rng;

use super::run::Job;
use super::{export_weights, masked_nll, TrainConfig, TrainOptions};
use crate::accompany::harmony::{
    agreement, argmax, beat_features, chord_class, class_chord, rotate_class, rotate_features,
    tone_share, BeatFeatures, Harmonizer, HarmonyExample, N_FEATURES,
};
use crate::error::{Error, Result};
use crate::model::chord_tagger::{ChordTagger, ChordTaggerConfig};

/// A song as the tagger reads it: features and the labelled class of each beat.
pub struct TaggedSong {
    /// One feature vector per beat.
    pub features: Vec<BeatFeatures>,
    /// The annotated chord's class per beat, `None` where unlabelled.
    pub labels: Vec<Option<usize>>,
}

impl TaggedSong {
    /// The features and classes of a labelled melody.
    pub fn new(example: &HarmonyExample) -> TaggedSong {
        TaggedSong {
            features: beat_features(&example.melody, example.chords.len()),
            labels: example.chords.iter().map(|c| c.map(chord_class)).collect(),
        }
    }

    /// Number of labelled beats.
    pub fn labelled(&self) -> usize {
        self.labels.iter().flatten().count()
    }
}

/// The songs of `split` that have at least one labelled beat.
fn load_split(root: &Path, split: &str) -> Result<Vec<TaggedSong>> {
    let songs: Vec<TaggedSong> = super::accomp::harmony_examples(root, split)?
        .iter()
        .map(TaggedSong::new)
        .filter(|s| s.labelled() > 0)
        .collect();
    if songs.is_empty() {
        return Err(Error::bad_file(
            root,
            format!("no song of split {split} has a melody with labelled chords"),
        ));
    }
    Ok(songs)
}

/// Mean NLL (nats) of the labelled beats of `songs` under `harmonizer`, and how many there were.
pub fn harmony_nll(harmonizer: &Harmonizer, songs: &[TaggedSong]) -> Result<(f64, usize)> {
    let (mut total, mut n) = (0.0, 0usize);
    for song in songs {
        let probs = harmonizer.probabilities(&song.features)?;
        for (p, label) in probs.iter().zip(&song.labels) {
            if let Some(c) = label {
                total -= f64::from(p[*c].max(1e-12)).ln();
                n += 1;
            }
        }
    }
    Ok((total / n.max(1) as f64, n))
}

/// How a harmonizer does on a split of POP909, over its labelled beats.
#[derive(Debug, Clone, Copy, Default)]
pub struct HarmonyScore {
    /// Mean NLL (nats) of the annotated chords' classes.
    pub nll: f64,
    /// Labelled beats.
    pub beats: usize,
    /// Songs scored.
    pub songs: usize,
    /// Share of beats whose annotated root the harmonizer names.
    pub roots: f64,
    /// Mean Jaccard overlap of the harmonizer's and the annotation's pitch classes.
    pub overlap: f64,
    /// Mean share of the named chord's tones that are in the annotated chord.
    pub tone_share: f64,
    /// The share of roots named by each beat's likeliest class instead (what the model gets
    /// exactly right most often).
    pub likeliest_roots: f64,
    /// The tone share of each beat's likeliest class.
    pub likeliest_tone_share: f64,
}

/// Scores `harmonizer` on the POP909 songs of `split` against their chord annotation.
pub fn evaluate_harmonizer(
    harmonizer: &Harmonizer,
    root: &Path,
    split: &str,
) -> Result<HarmonyScore> {
    let mut s = HarmonyScore::default();
    for example in &super::accomp::harmony_examples(root, split)? {
        let song = TaggedSong::new(example);
        if song.labelled() == 0 {
            continue;
        }
        let probabilities = harmonizer.probabilities(&song.features)?;
        let named = harmonizer.chords(&probabilities);
        let likeliest: Vec<_> = probabilities
            .iter()
            .map(|p| class_chord(argmax(p)))
            .collect();
        for (t, truth) in example.chords.iter().enumerate() {
            let (Some(truth), Some(label)) = (truth, song.labels[t]) else {
                continue;
            };
            let one = [Some(*truth)];
            s.nll -= f64::from(probabilities[t][label].max(1e-12)).ln();
            let (root, overlap) = agreement(&named[t..=t], &one);
            s.roots += root;
            s.overlap += overlap;
            s.tone_share += tone_share(named[t].pitch_classes, truth.pitch_classes);
            s.likeliest_roots += agreement(&likeliest[t..=t], &one).0;
            s.likeliest_tone_share += tone_share(likeliest[t].pitch_classes, truth.pitch_classes);
            s.beats += 1;
        }
        s.songs += 1;
    }
    let n = s.beats.max(1) as f64;
    Ok(HarmonyScore {
        nll: s.nll / n,
        roots: s.roots / n,
        overlap: s.overlap / n,
        tone_share: s.tone_share / n,
        likeliest_roots: s.likeliest_roots / n,
        likeliest_tone_share: s.likeliest_tone_share / n,
        ..s
    })
}

/// One training crop: song, first beat, beats, rotation.
type Crop = (usize, usize, usize, usize);

/// The chord tagger with its data.
pub(crate) struct HarmonyJob {
    cfg: TrainConfig,
    model_cfg: ChordTaggerConfig,
    varmap: VarMap,
    harmonizer: Harmonizer,
    train: Vec<TaggedSong>,
    valid: Vec<TaggedSong>,
    batches: Vec<Vec<Crop>>,
}

impl HarmonyJob {
    /// Loads both splits, builds the model, writes `data.json`.
    pub(crate) fn new(
        cfg: &TrainConfig,
        model_cfg: &ChordTaggerConfig,
        opts: &TrainOptions,
    ) -> Result<Self> {
        let train = load_split(&opts.data, "train")?;
        let valid = load_split(&opts.data, "valid")?;
        let stats = |s: &[TaggedSong]| {
            serde_json::json!({
                "songs": s.len(),
                "beats": s.iter().map(|x| x.labels.len()).sum::<usize>(),
                "labelled_beats": s.iter().map(TaggedSong::labelled).sum::<usize>(),
            })
        };
        super::write_json(
            &opts.out.join("data.json"),
            &serde_json::json!({ "train": stats(&train), "valid": stats(&valid) }),
        )?;
        let job = HarmonyJob::from_songs(cfg, model_cfg, train, valid)?;
        if let (false, Some(dir)) = (opts.resume, &opts.init) {
            let keep = |_: &str, t: &Tensor| Ok(t.clone());
            super::set_vars_from(&job.varmap, dir, &Device::Cpu, keep, |_| false)?;
        }
        Ok(job)
    }

    /// A fresh model with its songs.
    fn from_songs(
        cfg: &TrainConfig,
        model_cfg: &ChordTaggerConfig,
        train: Vec<TaggedSong>,
        valid: Vec<TaggedSong>,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = super::seeded::var_builder(&varmap, cfg.seed, DType::F32, &Device::Cpu);
        let tagger = ChordTagger::new(model_cfg, vb).map_err(Error::tensor)?;
        Ok(HarmonyJob {
            cfg: cfg.clone(),
            model_cfg: model_cfg.clone(),
            varmap,
            harmonizer: Harmonizer::new(tagger)?,
            train,
            valid,
            batches: Vec::new(),
        })
    }

    /// The batch of `crops`: features `[B, L, F]`, real-beat mask `[B, L]`, targets `[B, L]` and
    /// the mask of labelled beats `[B, L]`.
    fn batch(&self, crops: &[Crop]) -> candle_core::Result<(Tensor, Tensor, Tensor, Tensor)> {
        let l = crops.iter().map(|c| c.2).max().unwrap_or(1);
        let b = crops.len();
        let mut x = vec![0f32; b * l * N_FEATURES];
        let mut real = vec![0f32; b * l];
        let mut target = vec![0u32; b * l];
        let mut scored = vec![0f32; b * l];
        for (r, &(song, start, len, k)) in crops.iter().enumerate() {
            let s = &self.train[song];
            for i in 0..len {
                let at = r * l + i;
                let f = rotate_features(&s.features[start + i], k);
                x[at * N_FEATURES..(at + 1) * N_FEATURES].copy_from_slice(&f);
                real[at] = 1.0;
                if let Some(c) = s.labels[start + i] {
                    target[at] = rotate_class(c, k) as u32;
                    scored[at] = 1.0;
                }
            }
        }
        let dev = &Device::Cpu;
        Ok((
            Tensor::from_vec(x, (b, l, N_FEATURES), dev)?,
            Tensor::from_vec(real, (b, l), dev)?,
            Tensor::from_vec(target, (b, l), dev)?,
            Tensor::from_vec(scored, (b, l), dev)?,
        ))
    }
}

impl Job for HarmonyJob {
    fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn start_epoch(&mut self, epoch: usize) -> Result<usize> {
        let transpose = self.cfg.transpose > 0;
        self.batches = super::crop_batches(
            &mut super::epoch_rng(self.cfg.seed, epoch),
            self.train.iter().map(|song| song.labels.len()),
            self.cfg.crop_len,
            self.cfg.batch_tokens,
            |rng, n, len| {
                let start = rng.random_range(0..=n - len);
                let k = if transpose {
                    rng.random_range(0..12)
                } else {
                    0
                };
                (start, k)
            },
        );
        Ok(self.batches.len())
    }

    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)> {
        let (x, real, target, scored) = self.batch(&self.batches[i]).map_err(Error::tensor)?;
        let logits = self
            .harmonizer
            .tagger()
            .forward(&x, &real, true)
            .map_err(Error::tensor)?;
        let (sum, count) = masked_nll(&logits, &target, &scored).map_err(Error::tensor)?;
        let n = count.to_scalar::<f32>().map_err(Error::tensor)?;
        let loss = (sum / f64::from(n.max(1.0))).map_err(Error::tensor)?;
        Ok((loss, n as usize))
    }

    fn validate(&self) -> Result<f64> {
        harmony_nll(&self.harmonizer, &self.valid).map(|(nll, _)| nll)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        export_weights(&self.varmap, dir)?;
        self.model_cfg.save(&dir.join("config.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accompany::bars::GridNote;
    use crate::accompany::chords::BeatChord;
    use crate::accompany::harmony::N_CLASSES;
    use crate::model::optim::{AdamW, AdamWParams};

    /// A song in the major key of `key`: one triad per bar from `degrees` (minor on 2, 4 and 9),
    /// its root, third, fifth and third again as the bar's quarter notes (starting on `turn`).
    fn song(key: u8, degrees: &[u8], turn: usize) -> HarmonyExample {
        let (mut melody, mut chords) = (Vec::new(), Vec::new());
        for (bar, &degree) in degrees.iter().enumerate() {
            let minor = [2, 4, 9].contains(&degree);
            let root = (key + degree) % 12;
            let tones = [0u8, if minor { 3 } else { 4 }, 7, if minor { 3 } else { 4 }];
            let class = root as usize * (N_CLASSES / 12) + usize::from(minor);
            let chord: BeatChord = class_chord(class);
            for beat in 0..4 {
                melody.push(GridNote {
                    bar,
                    pos: 4 * beat as u32,
                    pitch: 60 + root + tones[(beat + turn) % 4],
                    bin: 16,
                    duration: 4,
                });
                chords.push(Some(chord));
            }
        }
        HarmonyExample { melody, chords }
    }

    const PROGRESSIONS: [[u8; 8]; 2] = [[0, 5, 7, 0, 9, 2, 7, 0], [0, 9, 5, 7, 0, 4, 5, 7]];

    /// Every (key, progression, first tone) of the training songs: keys C, G and Eb.
    fn training_songs() -> Vec<(u8, &'static [u8; 8], usize)> {
        let mut out = Vec::new();
        for key in [0u8, 7, 3] {
            for p in &PROGRESSIONS {
                for turn in 0..4 {
                    out.push((key, p, turn));
                }
            }
        }
        out
    }

    /// A tiny tagger trained on two progressions in three keys names the chords of a song in a
    /// key it never saw (the rotations make every key alike), and its validation NLL falls.
    #[test]
    fn learns_chords_from_melodies_and_names_them_in_a_new_key() {
        let mut train = Vec::new();
        for (key, progression, turn) in training_songs() {
            train.push(TaggedSong::new(&song(key, progression, turn)));
        }
        let test = song(4, &PROGRESSIONS[0], 1);
        let valid = vec![TaggedSong::new(&test)];
        let model_cfg = ChordTaggerConfig {
            architecture: ChordTaggerConfig::ARCHITECTURE.into(),
            n_features: N_FEATURES,
            n_classes: N_CLASSES,
            d_model: 32,
            n_heads: 4,
            d_ff: 64,
            layers: 2,
            max_len: 32,
            dropout: 0.0,
        };
        let cfg: TrainConfig = serde_json::from_value(serde_json::json!({
            "model": model_cfg, "crop_len": 32, "batch_tokens": 192, "lr": 0.003,
            "warmup_steps": 5, "total_steps": 400, "min_lr_ratio": 0.1, "weight_decay": 0.0,
            "clip_norm": 1.0, "transpose": 6, "checkpoint_every": 100, "seed": 1
        }))
        .unwrap();
        let mut job = HarmonyJob::from_songs(&cfg, &model_cfg, train, valid).unwrap();
        let before = job.validate().unwrap();
        let vars = job.varmap.data().lock().unwrap().clone();
        let mut opt = AdamW::new(vars, AdamWParams::default()).unwrap();
        let mut step = 0;
        for epoch in 0.. {
            for i in 0..job.start_epoch(epoch).unwrap() {
                let (loss, _) = job.loss(i).unwrap();
                super::super::run::optimise(&mut opt, &loss, cfg.lr_at(step), 1.0).unwrap();
                step += 1;
            }
            if step >= cfg.total_steps {
                break;
            }
        }
        let after = job.validate().unwrap();
        assert!(after < before / 4.0, "valid NLL {before} -> {after}");
        let named = job.harmonizer.harmonize(&test.melody, 8).unwrap();
        let (roots, _) = agreement(&named, &test.chords);
        assert!(roots > 0.9, "roots right on {roots}: {named:?}");
    }
}
