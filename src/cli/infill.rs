//! `reprise infill`: regenerate a span of a piano piece between what comes before and after it.

use std::path::PathBuf;

use reprise::generate::infill::SpanSpec;
use reprise::ops::generate::Sampling;
use reprise::ops::infill::{check, infill, load_model, Infill};

use super::args::SamplingArgs;
use super::common::{clock_seed, nucleus, output_paths, progress_bar, within};

/// Regenerate a span of a piano piece (`--bars 5-8`, or `--from 0:12.5 --to 0:20`): the new notes
/// lead from the music before the span into the music after it, and every note outside the span
/// is kept as it was.
#[derive(clap::Args)]
pub struct InfillArgs {
    /// The MIDI file.
    input: PathBuf,
    /// The bars to rewrite, counted from 1: `5-8`, or one bar `5`.
    #[arg(long, value_parser = bar_range, conflicts_with_all = ["from", "to"], required_unless_present = "from")]
    bars: Option<(usize, usize)>,
    /// Start of the span: seconds (`12.5`) or minutes:seconds (`0:12.5`).
    #[arg(long, value_parser = clock_time, requires = "to")]
    from: Option<f64>,
    /// End of the span, as `--from`.
    #[arg(long, value_parser = clock_time, requires = "from")]
    to: Option<f64>,
    /// Rewrite only this track's notes (0-based, as `reprise info` lists them); the other tracks
    /// stay as they are. Default: every pitched track.
    #[arg(long)]
    track: Option<usize>,
    /// Model name or folder (default pop909-infill).
    #[arg(long)]
    model: Option<String>,
    /// Output MIDI file; with --samples N > 1, NAME-1.mid … NAME-N.mid.
    #[arg(short, long)]
    output: PathBuf,
    /// Takes, generated together (1–64).
    #[arg(long, default_value_t = 1, value_parser = within(1usize, 64))]
    samples: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Nucleus sampling, in (0, 1] (default 0.9).
    #[arg(long, value_parser = nucleus)]
    top_p: Option<f32>,
    /// Key guidance, 0–10 nats taken off every note outside the piece's key.
    #[arg(long, default_value_t = reprise::generate::tasks::DEFAULT_KEY_GUIDE, value_parser = within(0.0f32, 10.0))]
    key_guide: f32,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// `5-8` or `5`.
fn bar_range(s: &str) -> Result<(usize, usize), String> {
    let number = |t: &str| {
        t.trim().parse::<usize>().map_err(|_| {
            format!("'{s}': give bars as whole numbers, FIRST-LAST (5-8) or one bar (5)")
        })
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((number(a)?, number(b)?)),
        None => number(s).map(|a| (a, a)),
    }
}

/// `12.5`, `0:12.5` or `1:02:03`.
fn clock_time(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}': give a time as seconds (12.5) or minutes:seconds (0:12.5)");
    let mut total = 0.0;
    for part in s.split(':') {
        let v: f64 = part.trim().parse().map_err(|_| bad())?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad());
        }
        total = total * 60.0 + v;
    }
    Ok(total)
}

/// `infill`.
pub fn run(a: InfillArgs) -> anyhow::Result<()> {
    let score = reprise::midi::read_file(&a.input)?;
    let span = match (a.bars, a.from, a.to) {
        (Some((first, last)), _, _) => SpanSpec::Bars { first, last },
        (None, Some(from), Some(to)) => SpanSpec::Seconds { from, to },
        _ => anyhow::bail!(reprise::Error::Invalid(
            "give the span: --bars or --from and --to".into()
        )),
    };
    let outputs = output_paths(&a.output, a.samples);
    for p in &outputs {
        reprise::atomic_file::check_output(p, &[a.input.as_path()])?;
    }
    let req = Infill {
        model: a.model.clone(),
        track: a.track,
        sampling: Sampling {
            temperature: a.sampling.temperature,
            top_k: None,
            top_p: a.top_p,
            seed: a.sampling.seed.unwrap_or_else(clock_seed),
        },
        samples: a.samples,
        key_guide: a.key_guide,
        ..Infill::new(score, span, 0)
    };
    check(&req)?;
    let (model, dir) = load_model(req.model.as_deref())?;
    let bar = progress_bar(a.quiet, "infilling");
    let mut drawn = 0u64;
    let out = infill(&req, &model, dir, &mut |_, e| {
        if let reprise::generate::tasks::GenEvent::Token(_) = e {
            drawn += 1;
            bar.set_message(format!("infilling ({drawn} tokens)"));
        }
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
            eprintln!("wrote {} (seed {})", p.display(), out.sampler.seed);
        }
    }
    Ok(())
}
