//! Offline rendering with the neural synthesizer: one voice per note (pitched notes; drums are left
//! to the SoundFont), each voice streamed frame by frame with its own copy of the timbre's initial
//! states, voices summed, resampled to the output rate, and limited.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

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
    let text = crate::input::read_text(&cfg_path, "neural synth config")?;
    let cfg: SynthConfig = serde_json::from_str(&text)
        .map_err(|e| Error::bad_file(&cfg_path, format!("not a neural synth config: {e}")))?;
    cfg.validate()
        .map_err(|e| Error::bad_file(&cfg_path, e.to_string()))?;
    let weights = model_dir.join("model.safetensors");
    let tensors = crate::model::music_transformer::load_safetensors(&weights, &Device::Cpu)?;
    crate::model::weights::build_checked(tensors, &weights, &Device::Cpu, |vb| {
        NeuralSynth::new(&cfg, vb)
    })
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

    /// Streams `voices` notes held together for `seconds` (released at three quarters), frame by
    /// frame as one batch on the calling thread, as the live path does; returns the mix.
    pub fn stream_voices(&self, voices: usize, seconds: f64) -> Vec<f32> {
        let notes: Vec<BankNote> = (0..voices)
            .map(|v| BankNote {
                start: 0,
                seed: v as u64 + 1,
                pitch: 48 + (v as u8 * 5) % 36,
                velocity: 90,
                held: seconds * 0.75,
            })
            .collect();
        let mut bank = VoiceBank::new(self);
        let mut mix = Vec::new();
        bank.run(&notes, |part| {
            mix.extend_from_slice(part);
            true
        });
        mix.truncate((seconds * SAMPLE_RATE as f64) as usize);
        mix
    }

    /// Renders one note (`held` seconds) at the synth's rate, with its release tail.
    pub fn render_note(&self, pitch: u8, velocity: u8, held: f64) -> Vec<f32> {
        let note = BankNote {
            start: 0,
            seed: 1,
            pitch,
            velocity,
            held,
        };
        let mut out = Vec::new();
        VoiceBank::new(self).run(&[note], |part| {
            out.extend_from_slice(part);
            true
        });
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
        let mut resampler = super::resample::StreamResampler::new(SAMPLE_RATE, sample_rate)?;
        let mut acc = Vec::new();
        let mut failed = None;
        let finished = VoiceBank::new(self).run(&bank_notes(score), |part| {
            acc.extend_from_slice(part);
            if acc.len() < SAMPLE_RATE as usize {
                return true;
            }
            match resampler.push(&acc) {
                Ok(mut out) => {
                    acc.clear();
                    out.iter_mut().for_each(|v| *v = v.clamp(-CEILING, CEILING));
                    push(&out)
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if finished {
            let mut out = resampler.push(&acc)?;
            out.extend(resampler.finish()?);
            out.iter_mut().for_each(|v| *v = v.clamp(-CEILING, CEILING));
            push(&out);
        }
        Ok(())
    }

    /// Renders the pitched notes of `score` at `sample_rate`, limited to a 0.98 peak; `progress`
    /// gets the fraction done.
    pub fn render(
        &self,
        score: &Score,
        sample_rate: u32,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<Stereo> {
        let notes = bank_notes(score);
        let end = notes
            .iter()
            .map(|n| n.start as f64 + (n.held + TAIL_SECONDS) * SAMPLE_RATE as f64)
            .fold(1.0, f64::max);
        let mut mix = Vec::new();
        VoiceBank::new(self).run(&notes, |part| {
            mix.extend_from_slice(part);
            if (mix.len() / HOP).is_multiple_of(1024) {
                progress((mix.len() as f64 / end).min(1.0) * 0.9);
            }
            true
        });
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

/// A note for the voice bank: its onset in samples at the synth's rate.
#[derive(Debug, Clone, Copy)]
struct BankNote {
    start: usize,
    /// The voice's noise seed.
    seed: u64,
    pitch: u8,
    velocity: u8,
    held: f64,
}

/// The pitched notes of `score` (drums are the SoundFont's), by onset.
fn bank_notes(score: &Score) -> Vec<BankNote> {
    let mut notes: Vec<BankNote> = score
        .notes
        .iter()
        .filter(|n| !n.is_drum())
        .enumerate()
        .map(|(i, n)| BankNote {
            start: (n.start * SAMPLE_RATE as f64).round() as usize,
            seed: i as u64 + 1,
            pitch: n.pitch,
            velocity: n.velocity,
            held: n.duration(),
        })
        .collect();
    notes.sort_by_key(|n| n.start);
    notes
}

/// One sounding note: its network states, its synthesizer, and where its next frame goes.
struct ActiveVoice {
    note: BankNote,
    states: Vec<GlaState>,
    synth: Voice,
    /// Frames stepped so far.
    frames: usize,
    /// Frames in a row that were quiet after the release.
    quiet: usize,
}

/// The voices sounding at once, stepped together frame by frame: one batched network step per
/// frame for all of them (the streaming path's speed comes from this), each voice's samples added
/// at its own onset, so onsets keep sample accuracy.
struct VoiceBank<'a> {
    engine: &'a NeuralEngine,
    active: Vec<ActiveVoice>,
    /// Mix of samples from `base` on.
    mix: Vec<f32>,
    base: usize,
}

impl<'a> VoiceBank<'a> {
    fn new(engine: &'a NeuralEngine) -> Self {
        VoiceBank {
            engine,
            active: Vec::new(),
            mix: Vec::new(),
            base: 0,
        }
    }

    /// Plays `notes` (sorted by onset) to the end of the last release, handing each finished
    /// frame of the mix to `emit`; returns false when `emit` stopped it.
    fn run(&mut self, notes: &[BankNote], mut emit: impl FnMut(&[f32]) -> bool) -> bool {
        let mut next = 0;
        let mut tick = 0usize;
        while next < notes.len() || !self.active.is_empty() {
            let tick_end = (tick + 1) * HOP;
            while next < notes.len() && notes[next].start < tick_end {
                self.start(notes[next]);
                next += 1;
            }
            self.step();
            // Voices write at or after (tick − 1)·HOP: everything before is final.
            let done = (tick * HOP).saturating_sub(HOP);
            if done > self.base {
                let n = done - self.base;
                if self.mix.len() < n {
                    self.mix.resize(n, 0.0);
                }
                let finished: Vec<f32> = self.mix.drain(..n).collect();
                self.base = done;
                if !emit(&finished) {
                    return false;
                }
            }
            tick += 1;
        }
        emit(&std::mem::take(&mut self.mix))
    }

    fn start(&mut self, note: BankNote) {
        self.active.push(ActiveVoice {
            note,
            states: self.engine.states.clone(),
            synth: Voice::new(note.seed),
            frames: 0,
            quiet: 0,
        });
    }

    /// One frame of every active voice; voices past their tail, or quiet after their release, end.
    fn step(&mut self) {
        let frame_rate = SAMPLE_RATE as f64 / HOP as f64;
        let frames: Vec<NoteFrame> = self
            .active
            .iter()
            .map(|v| {
                let t = v.frames as f64 / frame_rate;
                NoteFrame {
                    pitch: v.note.pitch,
                    velocity: v.note.velocity,
                    since_onset: t,
                    since_release: (t >= v.note.held).then_some(t - v.note.held),
                }
            })
            .collect();
        let mut states: Vec<&mut [GlaState]> = self
            .active
            .iter_mut()
            .map(|v| v.states.as_mut_slice())
            .collect();
        let controls = self.engine.synth.step_batch(&frames, &mut states);
        let mut noise = vec![0f32; HOP];
        for ((v, c), frame) in self.active.iter_mut().zip(controls).zip(&frames) {
            let loud = c.amplitude.max(c.noise.iter().fold(0f32, |m, x| m.max(*x)));
            v.synth.white(&mut noise);
            let out = v.synth.frame(c, &noise);
            if v.frames > 0 {
                // Frame f's call renders frame f − 1's samples.
                let at = v.note.start + (v.frames - 1) * HOP - self.base;
                if self.mix.len() < at + HOP {
                    self.mix.resize(at + HOP, 0.0);
                }
                for (m, o) in self.mix[at..at + HOP].iter_mut().zip(&out) {
                    *m += o;
                }
            }
            v.frames += 1;
            let released = frame.since_release.is_some();
            v.quiet = if released && loud < QUIET {
                v.quiet + 1
            } else {
                0
            };
        }
        let max_frames = |n: &BankNote| ((n.held + TAIL_SECONDS) * frame_rate).ceil() as usize + 1;
        self.active
            .retain(|v| v.frames < max_frames(&v.note) && v.quiet < QUIET_FRAMES);
    }
}

/// A held note's length until its release is known (seconds; finite, so frame counts stay finite).
const OPEN: f64 = 1e9;

/// The voice bank played as it goes (live): keys pressed and released as messages come, one frame
/// at a time. A note pressed at frame k and released at frame m sounds exactly as the offline bank
/// renders a note starting at k·HOP held (m − k) frames (tested).
pub struct LiveVoices<'a> {
    bank: VoiceBank<'a>,
    tick: usize,
    seed: u64,
}

impl<'a> LiveVoices<'a> {
    /// No voice sounding.
    pub fn new(engine: &'a NeuralEngine) -> Self {
        LiveVoices {
            bank: VoiceBank::new(engine),
            tick: 0,
            seed: 0,
        }
    }

    /// Starts a note now (at the next frame).
    pub fn press(&mut self, pitch: u8, velocity: u8) {
        self.seed += 1;
        self.bank.start(BankNote {
            start: self.tick * HOP,
            seed: self.seed,
            pitch,
            velocity,
            held: OPEN,
        });
    }

    /// Releases the held notes of `pitch` now.
    pub fn release(&mut self, pitch: u8) {
        let rate = SAMPLE_RATE as f64 / HOP as f64;
        for v in &mut self.bank.active {
            if v.note.pitch == pitch && v.note.held == OPEN {
                v.note.held = v.frames as f64 / rate;
            }
        }
    }

    /// Releases every held note.
    pub fn release_all(&mut self) {
        let held: Vec<u8> = self.bank.active.iter().map(|v| v.note.pitch).collect();
        held.into_iter().for_each(|p| self.release(p));
    }

    /// Steps one frame; returns the samples (at the synth's rate) that are now final: one frame's
    /// worth, the first call none.
    pub fn frame(&mut self) -> Vec<f32> {
        if !self.bank.active.is_empty() {
            self.bank.step();
        }
        let done = (self.tick * HOP).saturating_sub(HOP);
        self.tick += 1;
        let n = done.saturating_sub(self.bank.base);
        if self.bank.mix.len() < n {
            self.bank.mix.resize(n, 0.0);
        }
        self.bank.base = done.max(self.bank.base);
        self.bank.mix.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> NeuralEngine {
        NeuralEngine::untrained(&crate::test_util::tiny_synth_config()).unwrap()
    }

    fn play(engine: &NeuralEngine, notes: &[BankNote]) -> Vec<f32> {
        let mut out = Vec::new();
        VoiceBank::new(engine).run(notes, |part| {
            out.extend_from_slice(part);
            true
        });
        out
    }

    #[test]
    fn live_voices_sound_as_the_offline_bank_renders_the_same_notes() {
        let engine = engine();
        let frame_s = HOP as f64 / SAMPLE_RATE as f64;
        let mut live = LiveVoices::new(&engine);
        let mut out = Vec::new();
        for k in 0..200 {
            match k {
                3 => live.press(60, 100),
                10 => live.press(67, 70),
                40 => live.release(60),
                70 => live.release(67),
                _ => {}
            }
            out.extend(live.frame());
        }
        let notes = [
            BankNote {
                start: 3 * HOP,
                seed: 1,
                pitch: 60,
                velocity: 100,
                held: 37.0 * frame_s,
            },
            BankNote {
                start: 10 * HOP,
                seed: 2,
                pitch: 67,
                velocity: 70,
                held: 60.0 * frame_s,
            },
        ];
        let offline = play(&engine, &notes);
        let n = out.len().min(offline.len());
        assert!(n > 150 * HOP, "{n}");
        let diff = out[..n]
            .iter()
            .zip(&offline[..n])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 1e-6, "{diff}");
        assert!(out[3 * HOP..40 * HOP].iter().any(|v| v.abs() > 1e-4));
    }

    #[test]
    fn the_bank_mixes_each_voice_at_its_own_sample_onset() {
        let engine = engine();
        let a = BankNote {
            start: 0,
            seed: 1,
            pitch: 60,
            velocity: 100,
            held: 0.2,
        };
        let b = BankNote {
            start: 1000, // not on the frame grid
            seed: 2,
            pitch: 67,
            velocity: 80,
            held: 0.1,
        };
        let together = play(&engine, &[a, b]);
        let alone_a = play(&engine, &[a]);
        let alone_b = play(&engine, &[BankNote { start: 0, ..b }]);
        let mut expected = vec![0f32; together.len().max(alone_a.len()).max(1000 + alone_b.len())];
        for (e, x) in expected.iter_mut().zip(&alone_a) {
            *e += x;
        }
        for (e, x) in expected[1000..].iter_mut().zip(&alone_b) {
            *e += x;
        }
        let peak = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 1e-3, "the notes make sound");
        for (i, (x, e)) in together.iter().zip(&expected).enumerate() {
            assert!(
                (x - e).abs() < 1e-4 * peak.max(1.0),
                "sample {i}: {x} vs {e}"
            );
        }
        // A voice sounds from its onset, not one frame later.
        assert!(alone_b[..HOP].iter().any(|v| v.abs() > 0.0));
    }
}
