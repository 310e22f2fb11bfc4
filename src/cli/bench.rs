//! `reprise bench synth | decode | render`: speed, measured where the numbers are quoted from.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use reprise::bench::{decode_speed, render_speed, synth_speed};
use reprise::synth::render::{timbre_names, NeuralEngine};

use super::common::within;

/// What to measure.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Neural synth streaming speed on one core: real-time factor at 1 and at 16 simultaneous voices.
    Synth {
        /// Synth model name or directory (its first timbre is used).
        #[arg(long, default_value = "gla-synth", conflicts_with = "config")]
        model: String,
        /// Instead of a model: a training config, measured with untrained weights of its shape
        /// (the speed does not depend on the weights).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seconds of music per voice (0.5–60).
        #[arg(long, default_value_t = 4.0, value_parser = within(0.5f64, 60.0))]
        seconds: f64,
    },
    /// Generation speed: cached vs uncached tokens/s, and token 100 vs the last token of one long run.
    Decode {
        /// Model name (in models/) or directory.
        #[arg(long, default_value = "jsb-chorales")]
        model: String,
        /// Tokens in the cached run (at least 200).
        #[arg(long, default_value_t = 2000, value_parser = within(200usize, 100_000))]
        tokens: usize,
        /// Tokens in the uncached run.
        #[arg(long, default_value_t = 300, value_parser = within(1usize, 100_000))]
        uncached_tokens: usize,
    },
    /// Live answers on one core: how late each answer's first note sounds (scripted phrases played
    /// in real time, the answer drawn during the pause), and the time from a finished phrase to
    /// the first drawn note without that head start.
    Live {
        /// A beat-aware model's name or folder.
        #[arg(long, default_value = reprise::ops::live::DEFAULT_MODEL)]
        model: String,
        /// Phrases played in real time (about 12 s each).
        #[arg(long, default_value_t = 3, value_parser = within(1usize, 20))]
        phrases: usize,
        /// Answers timed without a head start.
        #[arg(long, default_value_t = 10, value_parser = within(1usize, 100))]
        cold: usize,
    },
    /// Rendering speed in multiples of real time, beside FluidSynth on the same MIDI and SF2 when installed.
    Render {
        /// MIDI file to render; default: a generated dense General MIDI arrangement.
        #[arg(long)]
        midi: Option<PathBuf>,
        /// Length of the generated arrangement in seconds (1–3600).
        #[arg(long, default_value_t = 60.0, value_parser = within(1.0f64, 3600.0))]
        seconds: f64,
        /// SF2 to use for both renderers; default: the built-in bank.
        #[arg(long)]
        soundfont: Option<PathBuf>,
        /// Runs per renderer; the best is reported.
        #[arg(long, default_value_t = 3, value_parser = within(1usize, 100))]
        repeats: usize,
        /// Do not run FluidSynth even if it is installed.
        #[arg(long)]
        no_fluidsynth: bool,
    },
}

/// Runs one benchmark and prints its numbers.
pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Synth {
            model,
            config,
            seconds,
        } => synth(&model, config.as_deref(), seconds),
        BenchCmd::Decode {
            model,
            tokens,
            uncached_tokens,
        } => {
            super::prefer_one_thread();
            decode(&model, tokens, uncached_tokens)
        }
        BenchCmd::Live {
            model,
            phrases,
            cold,
        } => {
            super::prefer_one_thread();
            live(&model, phrases, cold)
        }
        BenchCmd::Render {
            midi,
            seconds,
            soundfont,
            repeats,
            no_fluidsynth,
        } => render(
            midi.as_deref(),
            seconds,
            soundfont.as_deref(),
            repeats,
            !no_fluidsynth,
        ),
    }
}

fn render(
    midi: Option<&Path>,
    seconds: f64,
    sf2: Option<&Path>,
    repeats: usize,
    fluidsynth: bool,
) -> anyhow::Result<()> {
    let (score, timings) = render_speed(midi, seconds, sf2, repeats, fluidsynth)?;
    let mut channels: Vec<u8> = score.notes.iter().map(|n| n.channel).collect();
    channels.sort_unstable();
    channels.dedup();
    println!(
        "render benchmark: {:.1} s of music, {} notes, {} channels, best of {repeats}, {} cores",
        score.duration(),
        score.notes.len(),
        channels.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for t in &timings {
        let phases = t.phases.map_or(String::new(), |[load, synth, write]| {
            format!("  (load {load:.3} s, synthesis {synth:.3} s, WAV {write:.3} s)")
        });
        println!(
            "  {:<22} {:>7.3} s  {:>6.1}× real time{phases}",
            t.name, t.seconds, t.realtime
        );
    }
    if fluidsynth && timings.len() < 3 {
        println!(
            "  fluidsynth not found on PATH (apt-get install --no-install-recommends fluidsynth)"
        );
    }
    Ok(())
}

fn synth(model: &str, config: Option<&Path>, seconds: f64) -> anyhow::Result<()> {
    let (engine, what) = match config {
        Some(path) => {
            let cfg = reprise::train::TrainConfig::load(path)?;
            let reprise::train::ModelConfig::Synth(sc) = cfg.model else {
                anyhow::bail!(reprise::Error::bad_file(
                    path,
                    "is not a synth training config"
                ));
            };
            let what = format!("{} (untrained weights of this shape)", path.display());
            (NeuralEngine::untrained(&sc)?, what)
        }
        None => {
            let dir = reprise::model::resolve_model_dir(model)?;
            let Some(first) = timbre_names(&dir).into_iter().next() else {
                anyhow::bail!(reprise::Error::bad_file(&dir, "has no timbres"));
            };
            let what = format!("{} (timbre {first})", dir.display());
            (NeuralEngine::load(&dir, &first)?, what)
        }
    };
    println!("neural synth streaming speed, one core: {what}");
    for voices in [1usize, 16] {
        let rtf = synth_speed(&engine, voices, seconds);
        println!("  {voices:>2} voice(s): {rtf:8.1}× real time");
    }
    Ok(())
}

fn live(model: &str, phrases: usize, cold: usize) -> anyhow::Result<()> {
    use reprise::ops::live::{load_answerer, Live, LiveInput, LiveOutput};
    let settings = reprise::jam::Settings {
        tempo: reprise::jam::TempoSetting::Given(reprise::jam::latency::BPM),
        pause: reprise::jam::Pause::Bar,
        answer_bars: 1,
        channel: 1,
        thru: None,
        seed: 1,
        lockstep: false,
    };
    let output = LiveOutput::Audio {
        voice: Default::default(),
        device: Some("null".into()),
    };
    let req = Live::new(LiveInput::File("bench".into()), output, settings);
    let answerer = std::sync::Arc::new(load_answerer(model, &req)?);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
    println!(
        "live benchmark: {model}, {phrases} scripted phrases of 2 bars at {} BPM, 1-bar answers, threads: {threads}",
        reprise::jam::latency::BPM
    );
    let m = reprise::jam::latency::measure(answerer, phrases, 1, cold)?;
    let ms = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        match (v.get(v.len() / 2), v.last()) {
            (Some(mid), Some(max)) => {
                format!("median {:.1} ms, worst {:.1} ms", mid * 1e3, max * 1e3)
            }
            _ => "none".into(),
        }
    };
    println!(
        "  first note after its time (answer drawn during the pause, as `reprise live` plays): {} over {} answers",
        ms(&m.late),
        m.late.len()
    );
    println!(
        "  first note drawn after 6 bars of phrases, no head start: {} over {} answers (head start at this tempo: {:.0} ms)",
        ms(&m.cold),
        m.cold.len(),
        m.head_start * 1e3
    );
    Ok(())
}

fn decode(model: &str, tokens: usize, uncached: usize) -> anyhow::Result<()> {
    let dir = reprise::model::resolve_model_dir(model)?;
    let m = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
    let s = decode_speed(&m, tokens, uncached)?;
    println!(
        "decode benchmark: {} (context {}), threads: {threads}",
        dir.display(),
        m.config().max_len
    );
    println!(
        "  cached    {:>8.1} tokens/s over {} tokens",
        s.cached_tokens_per_s, s.tokens
    );
    println!(
        "  uncached  {:>8.1} tokens/s over {} tokens",
        s.uncached_tokens_per_s, s.uncached_tokens
    );
    println!(
        "  per token: {:.2} ms near token 100, {:.2} ms near token {} ({:.2}×)",
        s.ms_at_100,
        s.ms_at_end,
        s.tokens,
        s.ms_at_end / s.ms_at_100
    );
    if let (Some(music), Some(factor)) = (s.music_seconds, s.realtime_factor()) {
        println!(
            "  music: {music:.1} s in {} tokens ({:.1} events per second of music): {factor:.1}× real time",
            s.tokens,
            s.tokens as f64 / music.max(1e-9)
        );
    }
    if let Some(rss) = s.peak_rss {
        println!("  peak memory: {:.0} MB", rss as f64 / 1e6);
    }
    Ok(())
}
