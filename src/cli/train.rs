//! `reprise train` and `reprise eval`: the training wing, which only the command line reaches.

use std::path::PathBuf;

use reprise::generate::tasks::{DEFAULT_BEAT_TOP_P, DEFAULT_KEY_GUIDE};
use reprise::generate::SamplerConfig;
use reprise::ops::evaluate::{continuation, Continuation};
use reprise::train::{ModelConfig, TrainConfig, TrainOptions};

use super::common::{above_zero, nucleus, step_bar, temperature, within};

/// Train a model from a JSON config on a data set; checkpoints, logs and the best model go to --out.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Training config (JSON): model hyper-parameters and the optimisation schedule.
    #[arg(long)]
    config: PathBuf,
    /// Data: the JSB Coconet JSON file for chorale models; for piano models the POP909 directory or
    /// any folder of MIDI files (.mid, .midi, .kar, searched recursively); the POP909 directory for
    /// theme, accompaniment and chord models; for the neural synth, the SF2 SoundFont it learns.
    #[arg(long)]
    data: PathBuf,
    /// Run directory: checkpoint.safetensors, log.csv, loss.png, and the best model in model/.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many minutes (with a checkpoint), to be resumed later.
    #[arg(long, value_parser = above_zero(1e7))]
    max_minutes: Option<f64>,
    /// Start from an exported model's weights (e.g. models/jsb-chorales) instead of random ones.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
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

/// Trains, with a progress bar and the validation lines.
pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    let opts = TrainOptions {
        config: TrainConfig::load(&a.config)?,
        data: a.data,
        out: a.out,
        resume: a.resume,
        max_minutes: a.max_minutes,
        init: a.init,
        valid_share: a.valid_share,
    };
    let quiet = a.quiet;
    if !quiet {
        scan_summary(&opts, a.verbose)?;
    }
    let bar = step_bar(quiet, "training", opts.config.total_steps as u64);
    let (measure, unit, per) = match opts.config.model {
        ModelConfig::Synth(_) => ("STFT loss", "", "frames/s"),
        ModelConfig::Tagger(_) => ("NLL", " nats/beat", "beats/s"),
        _ => ("NLL", " nats/token", "tok/s"),
    };
    let state = reprise::train::train(&opts, &mut |s| {
        bar.set_position(s.step as u64);
        match s.valid_nll {
            Some(v) if bar.is_hidden() && !quiet => {
                eprintln!(
                    "epoch {} step {}: valid {measure} {v:.4}{unit}",
                    s.epoch, s.step
                )
            }
            Some(v) => bar.println(format!(
                "epoch {} step {}: valid {measure} {v:.4}{unit}",
                s.epoch, s.step
            )),
            None => bar.set_message(format!("loss {:.3} {:.0} {per}", s.loss, s.tokens_per_s)),
        }
    })?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!(
            "stopped at step {} (epoch {}), {:.0} s of training; best valid {measure} {}",
            state.step,
            state.epoch,
            state.elapsed_s,
            state
                .best_valid_nll
                .map_or("n/a".into(), |v| format!("{v:.4}"))
        );
    }
    Ok(())
}

/// Before training on a plain MIDI folder: what was found, read and skipped, and the splits.
fn scan_summary(opts: &TrainOptions, verbose: bool) -> anyhow::Result<()> {
    use reprise::train::{dataset::is_midi_folder, folder};
    let ModelConfig::Music(t) = &opts.config.model else {
        return Ok(());
    };
    if !is_midi_folder(&opts.data) || t.vocab == reprise::model::VocabKind::Grid {
        return Ok(());
    }
    let share = opts.valid_share.unwrap_or(folder::DEFAULT_VALID_SHARE);
    let (_, summary) = folder::load(t.vocab, &opts.data, "train", share)?;
    eprintln!("{summary}");
    if verbose {
        for (file, why) in &summary.skipped_files {
            eprintln!("  skipped {file}: {why}");
        }
    }
    Ok(())
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
    /// from 1 in a MIDI folder's valid split).
    #[arg(long, default_value_t = 1, requires = "continuation")]
    seed: u64,
    /// With --continuation: sampling temperature (as `continue --temperature`).
    #[arg(long, default_value_t = 1.0, requires = "continuation", value_parser = temperature)]
    temperature: f32,
    /// With --continuation: nucleus sampling (as `continue --top-p`).
    #[arg(long, default_value_t = DEFAULT_BEAT_TOP_P, requires = "continuation", value_parser = nucleus)]
    top_p: f32,
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
            top_p: a.top_p,
            top_k: None,
            seed: a.seed,
        },
        key_guide: a.key_guide,
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
