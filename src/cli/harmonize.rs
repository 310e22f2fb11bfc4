//! `reprise harmonize`: write alto, tenor and bass under a melody (or, with `--keep`, whichever
//! voices of a chorale are not kept).

use std::path::PathBuf;

use reprise::generate::harmonize::Kept;
use reprise::generate::SamplerConfig;
use reprise::ops::harmonize::{check, harmonize, load_model, Harmonize, Method};

use super::args::SamplingArgs;
use super::common::{clock_seed, nucleus, output_paths, progress_bar, within};

/// Harmonize a melody in four parts: the melody is the soprano, the voice filler writes alto,
/// tenor and bass seeing the whole melody, before and after each note. With `--keep soprano,bass`
/// (any voices) the others are rewritten around the kept ones.
#[derive(clap::Args)]
pub struct HarmonizeArgs {
    /// The MIDI file: a melody (one line: the soprano) or a four-part chorale.
    input: PathBuf,
    /// The voices to keep (soprano, alto, tenor, bass; comma-separated); the others are written.
    #[arg(long, default_value = "soprano", value_parser = keep)]
    keep: Kept,
    /// Read the given voices from this track only (0-based, as `reprise info` lists them); other
    /// tracks stay as they are.
    #[arg(long)]
    track: Option<usize>,
    /// Model name or folder (default jsb-voices).
    #[arg(long, conflicts_with = "rules")]
    model: Option<String>,
    /// Use the rule-based harmonizer (diatonic triads, nearest voicing) instead of the model.
    #[arg(long)]
    rules: bool,
    /// Output MIDI file; with --samples N > 1, NAME-1.mid … NAME-N.mid.
    #[arg(short, long)]
    output: PathBuf,
    /// Takes, generated together (1–64).
    #[arg(long, default_value_t = 1, value_parser = within(1usize, 64))]
    samples: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Nucleus sampling, in (0, 1] [default: 0.7].
    #[arg(long, value_parser = nucleus)]
    top_p: Option<f32>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

fn keep(s: &str) -> Result<Kept, String> {
    Kept::parse(s).map_err(|e| e.to_string())
}

/// `harmonize`.
pub fn run(a: HarmonizeArgs) -> anyhow::Result<()> {
    let score = reprise::midi::read_file(&a.input)?;
    let outputs = output_paths(&a.output, a.samples);
    for p in &outputs {
        reprise::atomic_file::check_output(p, &[a.input.as_path()])?;
    }
    let req = Harmonize {
        method: if a.rules {
            Method::Rules
        } else {
            Method::Model(a.model.clone())
        },
        track: a.track,
        kept: a.keep,
        samples: a.samples,
        sampler: SamplerConfig {
            temperature: a.sampling.temperature,
            top_k: None,
            top_p: a.top_p.unwrap_or(reprise::ops::harmonize::DEFAULT_TOP_P),
            seed: a.sampling.seed.unwrap_or_else(clock_seed),
        },
        ..Harmonize::new(score, 0)
    };
    check(&req)?;
    let model = match &req.method {
        Method::Model(name) => Some(load_model(name.as_deref())?),
        Method::Rules => None,
    };
    let bar = progress_bar(a.quiet, "harmonizing");
    let out = harmonize(&req, model.as_ref(), &mut |i, n| {
        bar.set_message(format!("harmonizing ({i}/{n})"));
    })?;
    bar.finish_and_clear();
    if !a.quiet {
        for n in &out.notes {
            eprintln!("{n}");
        }
    }
    reprise::midi::write_files(&out.scores, &outputs)?;
    if !a.quiet {
        for p in &outputs {
            eprintln!("wrote {} (seed {})", p.display(), req.sampler.seed);
        }
    }
    Ok(())
}
