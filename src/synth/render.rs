//! Offline rendering with the neural synthesizer: one voice per note (pitched notes; drums are left
//! to the SoundFont), each voice streamed frame by frame with its own copy of the timbre's initial
//! states, voices summed, resampled to the output rate, and limited.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::ddsp::{Voice, HOP, SAMPLE_RATE};
use super::model::{streaming_states, NeuralSynth, NoteFrame, StreamingSynth, SynthConfig, Timbre};
use crate::audio::Stereo;
use crate::error::{Error, Result};
use crate::midi::Score;
use crate::model::gla::GlaState;

/// Longest release tail rendered after a note ends, seconds.
const TAIL_SECONDS: f64 = 1.5;
/// A voice stops early once its controls stay this quiet for [`QUIET_FRAMES`] frames after release.
const QUIET: f32 = 1e-4;
const QUIET_FRAMES: usize = 8;
/// Output peak the limiter keeps under.
const CEILING: f32 = 0.98;

/// A loaded neural synthesizer with one timbre.
pub struct NeuralEngine {
    synth: StreamingSynth,
    states: Vec<GlaState>,
    /// The timbre's name (file stem).
    pub timbre: String,
}

/// The timbre file for `timbre`: a path to a `.safetensors` file, or a name in the model's
/// `timbres/` folder.
pub fn timbre_path(model_dir: &Path, timbre: &str) -> PathBuf {
    let p = Path::new(timbre);
    if p.extension().is_some_and(|e| e == "safetensors") || p.components().count() > 1 {
        p.to_path_buf()
    } else {
        model_dir
            .join("timbres")
            .join(format!("{timbre}.safetensors"))
    }
}

/// The timbre names shipped with a model.
pub fn timbre_names(model_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(model_dir.join("timbres"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let p = e.path();
                    if p.extension()? != "safetensors" {
                        return None;
                    }
                    Some(p.file_stem()?.to_string_lossy().into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Loads the network of `model_dir` (its `config.json` and `model.safetensors`).
pub fn load_network(model_dir: &Path) -> Result<NeuralSynth> {
    let cfg_path = model_dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
    let cfg: SynthConfig = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&cfg_path, format!("not a neural synth config: {e}")))?;
    cfg.validate()
        .map_err(|e| Error::bad_file(&cfg_path, e.to_string()))?;
    let weights = model_dir.join("model.safetensors");
    let tensors = crate::model::music_transformer::load_safetensors(&weights, &Device::Cpu)?;
    NeuralSynth::new(
        &cfg,
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
    )
    .map_err(|e| Error::bad_file(&weights, crate::error::first_line(&e.to_string())))
}

/// Loads a timbre file for the network's shape.
pub fn load_timbre(path: &Path, cfg: &SynthConfig) -> Result<Timbre> {
    if !path.is_file() {
        return Err(Error::bad_file(path, "no such timbre file"));
    }
    let tensors = crate::model::music_transformer::load_safetensors(path, &Device::Cpu)?;
    let dh = cfg.d_model / cfg.heads;
    let layers = (0..cfg.layers)
        .map(|i| {
            let get = |n: &str| -> Result<candle_core::Tensor> {
                let name = format!("layers.{i}.{n}");
                let t = tensors
                    .get(&name)
                    .ok_or_else(|| Error::bad_file(path, format!("missing tensor {name}")))?;
                if t.dims() != [cfg.heads, cfg.state_rank, dh] {
                    return Err(Error::bad_file(
                        path,
                        format!("tensor {name} has shape {:?}, not for this model", t.dims()),
                    ));
                }
                t.to_dtype(DType::F32).map_err(Error::tensor)
            };
            Ok((get("k")?, get("v")?))
        })
        .collect::<Result<_>>()?;
    Ok(Timbre { layers })
}

impl NeuralEngine {
    /// The model in `model_dir` with `timbre` (a name in its `timbres/`, or a file).
    pub fn load(model_dir: &Path, timbre: &str) -> Result<Self> {
        let net = load_network(model_dir)?;
        let path = timbre_path(model_dir, timbre);
        let t = load_timbre(&path, net.config())?;
        Ok(NeuralEngine {
            synth: net.streaming().map_err(Error::tensor)?,
            states: streaming_states(&t).map_err(Error::tensor)?,
            timbre: path
                .file_stem()
                .map_or(timbre.into(), |s| s.to_string_lossy().into_owned()),
        })
    }

    /// An engine with fresh random weights and timbre of `cfg`'s shape: for speed measurements only.
    pub fn untrained(cfg: &SynthConfig) -> Result<Self> {
        let vm = candle_nn::VarMap::new();
        let net = NeuralSynth::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
            .map_err(Error::tensor)?;
        let t = super::model::random_timbre(cfg, &Device::Cpu).map_err(Error::tensor)?;
        Ok(NeuralEngine {
            synth: net.streaming().map_err(Error::tensor)?,
            states: streaming_states(&t).map_err(Error::tensor)?,
            timbre: "random".into(),
        })
    }

    /// Streams `voices` notes at once for `seconds` frame by frame (each frame: every voice's network
    /// step and synthesis), on the calling thread; returns the audio mix.
    pub fn stream_voices(&self, voices: usize, seconds: f64) -> Vec<f32> {
        let frame_rate = SAMPLE_RATE as f64 / HOP as f64;
        let frames = (seconds * frame_rate).ceil() as usize;
        let mut states: Vec<Vec<GlaState>> = vec![self.states.clone(); voices];
        let mut synths: Vec<Voice> = (0..voices).map(|v| Voice::new(v as u64 + 1)).collect();
        let mut mix = vec![0f32; frames * HOP];
        let mut noise = vec![0f32; HOP];
        for f in 0..frames {
            let t = f as f64 / frame_rate;
            for v in 0..voices {
                let frame = NoteFrame {
                    pitch: 48 + (v as u8 * 5) % 36,
                    velocity: 90,
                    since_onset: t,
                    since_release: (t > seconds * 0.75).then_some(t - seconds * 0.75),
                };
                let c = self.synth.step(&frame, &mut states[v]);
                synths[v].white(&mut noise);
                let out = synths[v].frame(c, &noise);
                for (m, o) in mix[f * HOP..(f + 1) * HOP].iter_mut().zip(&out) {
                    *m += o;
                }
            }
        }
        mix
    }

    /// Renders one note (`held` seconds) at the synth's rate, with its release tail.
    pub fn render_note(&self, pitch: u8, velocity: u8, held: f64, seed: u64) -> Vec<f32> {
        let mut states = self.states.clone();
        let mut voice = Voice::new(seed);
        let frame_rate = SAMPLE_RATE as f64 / HOP as f64;
        let frames = ((held + TAIL_SECONDS) * frame_rate).ceil() as usize + 1;
        let mut out = Vec::with_capacity(frames * HOP);
        let mut noise = vec![0f32; HOP];
        let mut quiet = 0;
        for i in 0..frames {
            let t = i as f64 / frame_rate;
            let frame = NoteFrame {
                pitch,
                velocity,
                since_onset: t,
                since_release: (t >= held).then_some(t - held),
            };
            let c = self.synth.step(&frame, &mut states);
            let loud = c.amplitude.max(c.noise.iter().fold(0f32, |m, v| m.max(*v)));
            voice.white(&mut noise);
            out.extend(voice.frame(c, &noise));
            if t >= held && loud < QUIET {
                quiet += 1;
                if quiet >= QUIET_FRAMES {
                    break;
                }
            } else {
                quiet = 0;
            }
        }
        // The voice renders each frame one frame late; drop that first silent frame.
        out.drain(..HOP.min(out.len()));
        out
    }

    /// Renders the pitched notes of `score` second by second, handing each finished second (at
    /// `sample_rate`, clipped to ±0.98) to `push` as soon as no later note can change it; stops early
    /// when `push` returns false. The live player's producer.
    pub fn stream(
        &self,
        score: &Score,
        sample_rate: u32,
        push: crate::audio::playback::Push,
    ) -> Result<()> {
        let mut notes: Vec<_> = score.notes.iter().filter(|n| !n.is_drum()).collect();
        notes.sort_by(|a, b| a.start.total_cmp(&b.start));
        let at = |t: f64| (t * SAMPLE_RATE as f64).round() as usize;
        let window = SAMPLE_RATE as usize;
        let mut resampler = super::resample::StreamResampler::new(SAMPLE_RATE, sample_rate)?;
        let (mut acc, mut base, mut next, mut window_end) =
            (Vec::<f32>::new(), 0usize, 0usize, window);
        loop {
            let batch: Vec<_> = notes[next..]
                .iter()
                .take_while(|n| at(n.start) < window_end)
                .copied()
                .collect();
            let rendered: Vec<(usize, Vec<f32>)> = batch
                .par_iter()
                .enumerate()
                .map(|(i, n)| {
                    let seed = (next + i) as u64 + 1;
                    (
                        at(n.start),
                        self.render_note(n.pitch, n.velocity, n.duration(), seed),
                    )
                })
                .collect();
            next += batch.len();
            for (start, audio) in rendered {
                let offset = start.saturating_sub(base);
                if acc.len() < offset + audio.len() {
                    acc.resize(offset + audio.len(), 0.0);
                }
                for (m, a) in acc[offset..].iter_mut().zip(&audio) {
                    *m += a;
                }
            }
            let done = next == notes.len();
            let upto = if done { acc.len() } else { window_end - base };
            if acc.len() < upto {
                acc.resize(upto, 0.0);
            }
            let mut out = resampler.push(&acc[..upto])?;
            if done {
                out.extend(resampler.finish()?);
            }
            out.iter_mut().for_each(|v| *v = v.clamp(-CEILING, CEILING));
            if !push(&out) || done {
                return Ok(());
            }
            acc.drain(..upto);
            base += upto;
            window_end += window;
        }
    }

    /// Renders the pitched notes of `score` at `sample_rate`; `progress` gets the fraction done.
    pub fn render(
        &self,
        score: &Score,
        sample_rate: u32,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<Stereo> {
        let notes: Vec<_> = score.notes.iter().filter(|n| !n.is_drum()).collect();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let rendered: Vec<(usize, Vec<f32>)> = notes
            .par_iter()
            .enumerate()
            .map(|(i, n)| {
                let audio = self.render_note(n.pitch, n.velocity, n.duration(), i as u64 + 1);
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if d.is_multiple_of(64) {
                    progress(d as f64 / notes.len().max(1) as f64 * 0.9);
                }
                ((n.start * SAMPLE_RATE as f64).round() as usize, audio)
            })
            .collect();
        let len = rendered.iter().map(|(s, a)| s + a.len()).max().unwrap_or(0);
        let mut mix = vec![0f32; len];
        for (start, audio) in rendered {
            for (m, a) in mix[start..].iter_mut().zip(&audio) {
                *m += a;
            }
        }
        let mut mono = super::resample::resample(&mix, SAMPLE_RATE, sample_rate)?;
        let peak = mono.iter().fold(0f32, |m, v| m.max(v.abs()));
        if peak > CEILING {
            let g = CEILING / peak;
            mono.iter_mut().for_each(|v| *v *= g);
        }
        progress(1.0);
        Ok(Stereo {
            sample_rate,
            left: mono.clone(),
            right: mono,
        })
    }
}
