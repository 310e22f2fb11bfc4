//! `reprise train` and `reprise eval`: the training wing, which only the command line reaches.

use std::path::{Path, PathBuf};

use reprise::generate::tasks::{DEFAULT_BEAT_TOP_P, DEFAULT_KEY_GUIDE};
use reprise::generate::SamplerConfig;
use reprise::model::resolve_model_dir;
use reprise::ops::evaluate::{continuation, Continuation};
use reprise::train::dataset::{Loading, LoadingReporter};
use reprise::train::{ModelConfig, RunState, Stop, TrainConfig, TrainOptions};

use super::common::{above_zero, nucleus, step_bar, temperature, within};

/// Train a model from a JSON config on a data set, or fine-tune a model on a folder of MIDI files;
/// checkpoints, logs and the best model (with its MODEL_CARD.md) go to --out.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Training config (JSON): model hyper-parameters and the optimisation schedule. Not needed to
    /// fine-tune a Music Transformer (--init), which has a default schedule, nor to --resume.
    #[arg(long, required_unless_present_any = ["init", "resume"])]
    config: Option<PathBuf>,
    /// Data: the JSB Coconet JSON file for chorale models; for piano models the POP909 directory,
    /// any folder of MIDI files (.mid, .midi, .kar, searched recursively) or token shards written
    /// by `reprise tokenize`; the POP909 directory for theme, accompaniment and chord models; for
    /// the neural synth, the SF2 SoundFont it learns.
    #[arg(long)]
    data: PathBuf,
    /// Run directory: checkpoint.safetensors, log.csv, loss.png, and the best model in model/.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint (with its train_config.json unless
    /// --config is given).
    #[arg(long)]
    resume: bool,
    /// Stop after this many minutes (with a checkpoint), to be resumed later.
    #[arg(long, value_parser = above_zero(1e7))]
    max_minutes: Option<f64>,
    /// Start from a model's weights (a name such as pop909-beat, or a folder) instead of random
    /// ones: fine-tuning. Without --config a Music Transformer gets the default fine-tune schedule
    /// (LR 1e-4, validation every 25 steps, early stopping after 4 without a new best).
    #[arg(long, conflicts_with = "resume")]
    init: Option<String>,
    /// Also install the best model under this name in the user's model folder
    /// (~/.local/share/reprise/models), so `continue --model NAME` and the TUI find it.
    #[arg(long)]
    name: Option<String>,
    /// A plain folder of MIDI files as data: the share held out for validation, chosen by a hash
    /// of each file's path (stable when files are added).
    #[arg(long, value_parser = within(0.0f64, 0.9))]
    valid_share: Option<f64>,
    /// With a MIDI folder: list every skipped file and why.
    #[arg(long)]
    verbose: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Trains, with progress bars, the validation lines, and the model installed when --name is given.
pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    let init = a.init.as_deref().map(resolve_model_dir).transpose()?;
    let config = run_config(a.config.as_deref(), init.as_deref(), &a.out)?;
    let install = match &a.name {
        Some(name) => Some(reprise::ops::models::install_target(name, &a.out)?),
        None => None,
    };
    let mut opts = TrainOptions::new(config, a.data, a.out);
    opts.resume = a.resume;
    opts.max_minutes = a.max_minutes;
    opts.init = init;
    opts.valid_share = a.valid_share;
    opts.cancel = Some(reprise::console::cancel_on_interrupt());
    opts.command = command_line();
    opts.on_loading = Some(loading_reporter(a.quiet, a.verbose, "reading"));
    let state = run_with_bar(&opts, a.quiet)?;
    if !a.quiet {
        eprintln!("{}", stop_line(&state, &opts));
    }
    if let (Some(target), true) = (install, opts.out.join("model/config.json").is_file()) {
        reprise::ops::models::install(&opts.out.join("model"), &target, &opts.out)?;
        if !a.quiet {
            eprintln!("installed as {}", target.display());
        }
    }
    Ok(())
}

/// The training config: --config, else the run's own on --resume, else the fine-tune schedule of
/// the --init model.
fn run_config(
    config: Option<&Path>,
    init: Option<&Path>,
    out: &Path,
) -> anyhow::Result<TrainConfig> {
    if let Some(path) = config {
        return Ok(TrainConfig::load(path)?);
    }
    let Some(dir) = init else {
        return Ok(TrainConfig::load(&out.join("train_config.json"))?);
    };
    let entry = reprise::ops::models::inspect(dir)?;
    let reprise::ops::models::Architecture::MusicTransformer(_) = entry.architecture else {
        anyhow::bail!(
            "{}: is a {}; only Music Transformers have a default fine-tune schedule: give --config",
            dir.display(),
            entry.architecture.describe()
        );
    };
    let model = reprise::model::TransformerConfig::load(&dir.join("config.json"))?;
    Ok(reprise::train::finetune::schedule(&model))
}

/// Runs the training with a step bar (ETA) and the validation lines.
fn run_with_bar(opts: &TrainOptions, quiet: bool) -> anyhow::Result<RunState> {
    let mut shown: Option<indicatif::ProgressBar> = None;
    let (measure, unit, per) = match opts.config.model {
        ModelConfig::Synth(_) => ("STFT loss", "", "frames/s"),
        ModelConfig::Tagger(_) => ("NLL", " nats/beat", "beats/s"),
        _ => ("NLL", " nats/token", "tok/s"),
    };
    let state = reprise::train::train(opts, &mut |s| {
        // Made once the data is read, so it follows the reading bar.
        let bar = shown.get_or_insert_with(|| step_bar(quiet, "training", s.total_steps as u64));
        bar.set_position(s.step as u64);
        match s.valid_nll {
            Some(v) => {
                let line = format!(
                    "epoch {} step {}: valid {measure} {v:.4}{unit}",
                    s.epoch, s.step
                );
                if bar.is_hidden() {
                    if !quiet {
                        eprintln!("{line}");
                    }
                } else {
                    bar.println(line);
                }
            }
            None => bar.set_message(format!("loss {:.3} {:.0} {per}", s.loss, s.tokens_per_s)),
        }
    })?;
    if let Some(bar) = shown {
        bar.finish_and_clear();
    }
    Ok(state)
}

/// How the run ended, in one line.
fn stop_line(state: &RunState, opts: &TrainOptions) -> String {
    let best = state
        .best_valid_nll
        .map_or("n/a".into(), |v| format!("{v:.4}"));
    let before = state
        .initial_valid_nll
        .map_or(String::new(), |v| format!(" (before: {v:.4})"));
    let why = match state.stop {
        Stop::Finished | Stop::Running => "finished".to_string(),
        Stop::EarlyStopped => "stopped early (validation stopped improving)".into(),
        Stop::OutOfTime | Stop::Interrupted => format!(
            "paused; go on with: reprise train --resume --data {} --out {}",
            opts.data.display(),
            opts.out.display()
        ),
    };
    format!(
        "{why} at step {} (epoch {}), {:.0} s of training; best valid {best} at step {}{before}; model in {}",
        state.step,
        state.epoch,
        state.elapsed_s,
        state.best_step,
        opts.out.join("model").display()
    )
}

/// The command line as typed (arguments with spaces quoted), for the model card.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.contains([' ', '"', '\'']) {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reports reading data: a bar over files, then a MIDI folder's summary (and with `verbose` every
/// skipped file).
pub fn loading_reporter(quiet: bool, verbose: bool, what: &str) -> LoadingReporter {
    let bar = step_bar(quiet, what, 0);
    Box::new(move |l| match l {
        Loading::Files { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done == total {
                bar.finish_and_clear();
            }
        }
        Loading::Scanned(summary) if !quiet => {
            eprintln!("{summary}");
            if verbose {
                for (file, why) in &summary.skipped_files {
                    eprintln!("  skipped {file}: {why}");
                }
            }
        }
        Loading::Scanned(_) => {}
    })
}

/// Mean negative log-likelihood per token (nats) of a model on a data split, or the piano
/// continuation report.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model name (in models/) or directory.
    #[arg(long)]
    model: String,
    /// Data: the JSB Coconet JSON file for chorale models; the POP909 directory for the others, or
    /// for piano models any folder of MIDI files (its valid split: 10 % of the files by path hash).
    #[arg(long)]
    data: PathBuf,
    /// Split to score.
    #[arg(long, default_value = "valid")]
    split: String,
    /// Theme models: NLL inside theme regions with each song's own theme and with another song's
    /// theme (how much the model listens to its theme). Accompaniment models: NLL of the piano
    /// with each window's own melody and with the next window's.
    #[arg(long)]
    theme_ablation: bool,
    /// Beat-aware piano models: the NLL of real 4-bar spans (every 16 bars from bar 9) given the
    /// music before and after them, and given the music before only. With --continuation: the
    /// report on infilling instead, the compared seconds rewritten with the rest of each song
    /// after them as context.
    #[arg(long, conflicts_with = "theme_ablation")]
    infill: bool,
    /// Chorale models on the JSB file: the NLL of alto, tenor and bass given the soprano (a voice
    /// filler sees the whole soprano, a grid Music Transformer the soprano up to each step); for a
    /// voice filler also the part writing of one take per chorale against Bach's and the
    /// rule-based baseline's (chord tones, parallels, crossing, ranges).
    #[arg(long, conflicts_with_all = ["theme_ablation", "infill", "continuation"])]
    harmonize: bool,
    /// With --harmonize: only the first N chorales of the split.
    #[arg(long, requires = "harmonize", value_parser = within(1usize, 10_000))]
    pieces: Option<usize>,
    /// A plain folder of MIDI files as data: the share of its files in the valid split (as given
    /// to `train --valid-share`), for the NLL and for --continuation.
    #[arg(long, value_parser = within(0.0f64, 0.9))]
    valid_share: Option<f64>,
    /// Piano models: the continuation report on the validation songs of --data (POP909, on its
    /// annotated beats, or any folder of MIDI files, on each file's tempo map and time signatures):
    /// each song's first 20 s from its first note as the primer, the next 30 s of the model's
    /// continuation against the real next 30 s and against looping the primer's last 10 s.
    #[arg(long, conflicts_with = "theme_ablation")]
    continuation: bool,
    /// With --continuation: seconds of primer from each song's first note [default: 20].
    #[arg(long, requires = "continuation", value_parser = above_zero(600.0))]
    primer_seconds: Option<f64>,
    /// With --continuation: seconds of continuation compared with the real music [default: 30].
    #[arg(long, requires = "continuation", value_parser = above_zero(600.0))]
    seconds: Option<f64>,
    /// With --continuation: the baseline loops the primer's last this many seconds (at most the
    /// primer's) [default: 10].
    #[arg(long, requires = "continuation", value_parser = above_zero(600.0))]
    loop_seconds: Option<f64>,
    /// With --continuation: measure only the first N validation songs.
    #[arg(long, requires = "continuation", value_parser = within(1usize, 10_000))]
    songs: Option<usize>,
    /// With --continuation: the sampling seed (each song adds its number: POP909's, or its place
    /// from 1 in a MIDI folder's valid split). With --harmonize: chorale i (from 0) is filled with
    /// seed + i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// With --continuation or --harmonize: sampling temperature (as `continue --temperature`).
    #[arg(long, default_value_t = 1.0, value_parser = temperature)]
    temperature: f32,
    /// With --continuation or --harmonize: nucleus sampling (as `continue --top-p` or `harmonize
    /// --top-p`) [default: as those commands].
    #[arg(long, value_parser = nucleus)]
    top_p: Option<f32>,
    /// With --continuation: key guidance (as `continue --key-guide`).
    #[arg(long, default_value_t = DEFAULT_KEY_GUIDE, requires = "continuation", value_parser = within(0.0f32, 10.0))]
    key_guide: f32,
}

/// Scores the model, or runs the continuation report.
pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    if !a.continuation {
        let req = reprise::train::eval::Eval {
            model: a.model,
            data: a.data,
            split: a.split,
            ablation: a.theme_ablation,
            valid_share: a.valid_share,
            infill: a.infill,
            harmonize: a.harmonize,
            pieces: a.pieces,
            sampler: SamplerConfig {
                temperature: a.temperature,
                top_p: a.top_p.unwrap_or(reprise::ops::harmonize::DEFAULT_TOP_P),
                top_k: None,
                seed: a.seed,
            },
        };
        println!("{}", reprise::train::eval::evaluate(&req)?);
        return Ok(());
    }
    let req = Continuation {
        model: a.model,
        data: a.data,
        songs: a.songs,
        primer_seconds: a.primer_seconds,
        seconds: a.seconds,
        loop_seconds: a.loop_seconds,
        valid_share: a.valid_share,
        sampler: SamplerConfig {
            temperature: a.temperature,
            top_p: a.top_p.unwrap_or(DEFAULT_BEAT_TOP_P),
            top_k: None,
            seed: a.seed,
        },
        key_guide: a.key_guide,
        infill: a.infill,
    };
    let done = continuation(&req, &mut |row| {
        let key = |m: &reprise::generate::report::Measured| {
            m.profile.key.map_or("no key".into(), |k| k.name())
        };
        eprintln!(
            "song {}: {} notes (real {}), key {} (real {}, primer {}), groove {:.2}, offset {:.2}",
            row.name,
            row.model.notes,
            row.real.notes,
            key(&row.model),
            key(&row.real),
            row.primer_key.map_or("no key".into(), |k| k.name()),
            row.model.profile.groove,
            row.model.profile.onset_offset
        );
    })?;
    println!("{}", done.report.table());
    let s = &req.sampler;
    println!(
        "{}: continuation report, seed {}, temperature {}, top-p {}, key guide {}, in {:.1} s",
        done.model_dir.display(),
        s.seed,
        s.temperature,
        s.top_p,
        req.key_guide,
        done.seconds
    );
    Ok(())
}
