//! `reprise theme compose | extract | report | evaluate`.

use std::path::PathBuf;

use clap::Subcommand;
use reprise::generate::theme::{RecurrenceRequest, DEFAULT_GUIDANCE};
use reprise::generate::SamplerConfig;
use reprise::midi::{read_file, write_file};
use reprise::ops::theme::{compose, evaluate, extract, report, Compose, Evaluate, Extract};

use super::common::{nucleus, progress_bar, temperature, within};

/// Themes: grow a piece from a theme, find a song's theme, measure recurrences.
#[derive(Subcommand)]
pub enum ThemeCmd {
    /// Grow a piece from THEME.mid (up to 8 bars; its melody is used) with the Theme Transformer.
    Compose(ComposeArgs),
    /// Find the theme of SONG.mid and where it recurs; write it with -o.
    Extract(ExtractArgs),
    /// Print the theme-distance curve of PIECE.mid against THEME.mid.
    Report(ReportArgs),
    /// The recurrence table: themes extracted from POP909's validation songs, a piece grown from
    /// each with and without theme conditioning, recurrences after bar 8 counted.
    Evaluate(EvaluateArgs),
}

/// Sampling and structure of a grown piece (compose and evaluate).
#[derive(clap::Args)]
pub struct GrowArgs {
    /// Theme model name (in models/) or directory.
    #[arg(long, default_value = "pop909-theme")]
    model: String,
    /// Bars to write (1–512).
    #[arg(long, default_value_t = 32, value_parser = within(1usize, 512))]
    bars: usize,
    /// Sampling temperature (> 0).
    #[arg(long, default_value_t = 1.0, value_parser = temperature)]
    temperature: f32,
    /// Nucleus sampling, in (0, 1].
    #[arg(long, default_value_t = 0.95, value_parser = nucleus)]
    top_p: f32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bring the theme back every N bars (theme regions from bar 1, each as long as the theme)
    /// instead of letting the model choose where.
    #[arg(long, value_parser = within(1usize, 512))]
    theme_every: Option<usize>,
    /// Classifier-free guidance, 0–10, for conditioned pieces: each step also asks the model
    /// without the theme and moves away from that answer (0: plain sampling, half the work).
    #[arg(long, default_value_t = DEFAULT_GUIDANCE, value_parser = within(0.0f32, 10.0))]
    guidance: f32,
}

impl GrowArgs {
    fn sampler(&self) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temperature,
            top_k: None,
            top_p: self.top_p,
            seed: self.seed,
        }
    }
}

/// `theme compose`.
#[derive(clap::Args)]
pub struct ComposeArgs {
    /// The theme (MIDI, up to 8 bars; its melody is used).
    theme: PathBuf,
    /// Where to write the piece.
    #[arg(short, long)]
    output: PathBuf,
    /// Tempo of the piece in BPM, 17–400 (default: the theme's).
    #[arg(long, value_parser = within(17.0f64, 400.0))]
    tempo: Option<f64>,
    /// The baseline: the theme only as a prompt (no theme attention).
    #[arg(long, conflicts_with = "theme_every")]
    baseline: bool,
    #[command(flatten)]
    grow: GrowArgs,
}

/// `theme extract`.
#[derive(clap::Args)]
pub struct ExtractArgs {
    /// The song.
    song: PathBuf,
    /// Where to write the theme.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Largest distance (0–1) between two segments of one cluster.
    #[arg(long, default_value_t = 0.2, value_parser = within(0.0f64, 1.0))]
    eps: f64,
    /// Occurrences a segment needs to seed a theme (itself included), at least 2.
    #[arg(long, default_value_t = 3, value_parser = within(2usize, 1000))]
    min_points: usize,
}

/// `theme report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The piece to measure.
    piece: PathBuf,
    /// The theme.
    theme: PathBuf,
    /// Also draw the curve as a PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Distance (0–1) at or under which a window counts as the theme.
    #[arg(long, default_value_t = 0.25, value_parser = within(0.0f64, 1.0))]
    threshold: f64,
}

/// `theme evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// The POP909 directory.
    #[arg(long)]
    data: PathBuf,
    /// How many validation songs (from 801 on; songs without a theme are skipped).
    #[arg(long, default_value_t = 20, value_parser = within(1usize, 1000))]
    songs: usize,
    /// Pieces written at once, one thread each.
    #[arg(long, default_value_t = 2, value_parser = within(1usize, 256))]
    jobs: usize,
    /// Distance (0–1) at or under which a window counts as the theme.
    #[arg(long, default_value_t = 0.25, value_parser = within(0.0f64, 1.0))]
    threshold: f64,
    #[command(flatten)]
    grow: GrowArgs,
}

/// Runs one theme subcommand.
pub fn run(cmd: ThemeCmd) -> anyhow::Result<()> {
    match cmd {
        ThemeCmd::Compose(a) => compose_cmd(a),
        ThemeCmd::Extract(a) => extract_cmd(a),
        ThemeCmd::Report(a) => report_cmd(a),
        ThemeCmd::Evaluate(a) => evaluate_cmd(a),
    }
}

fn compose_cmd(a: ComposeArgs) -> anyhow::Result<()> {
    super::prefer_one_thread();
    reprise::atomic_file::check_output(&a.output, &[&a.theme])?;
    let theme = read_file(&a.theme)?;
    let req = Compose {
        theme,
        model: a.grow.model.clone(),
        bars: a.grow.bars,
        tempo: a.tempo,
        sampler: a.grow.sampler(),
        baseline: a.baseline,
        theme_every: a.grow.theme_every,
        guidance: a.grow.guidance,
        cancel: None,
    };
    let bar = progress_bar(false, "composing");
    let mut tokens = 0u64;
    let done = compose(&req, &mut |_| {
        tokens += 1;
        if tokens.is_multiple_of(32) {
            bar.set_message(format!("composing ({tokens} tokens)"));
        }
    })
    .map_err(|e| match e {
        reprise::Error::Invalid(m) if m.contains("no melody") => {
            reprise::Error::bad_file(&a.theme, m)
        }
        e => e,
    })?;
    bar.finish_and_clear();
    if let Some(n) = &done.note {
        eprintln!("{n}");
    }
    write_file(&done.piece, &a.output)?;
    eprintln!(
        "wrote {} ({} bars, {} notes, {:.1} s, seed {})",
        a.output.display(),
        a.grow.bars,
        done.piece.notes.len(),
        done.piece.duration(),
        a.grow.seed
    );
    Ok(())
}

fn extract_cmd(a: ExtractArgs) -> anyhow::Result<()> {
    if let Some(o) = &a.output {
        reprise::atomic_file::check_output(o, &[&a.song])?;
    }
    let found = extract(&Extract {
        song: read_file(&a.song)?,
        origin: Some(a.song.clone()),
        eps: a.eps,
        min_points: a.min_points,
    })?;
    println!("{found}");
    if let Some(o) = &a.output {
        write_file(&found.score, o)?;
        println!("wrote {} ({} notes)", o.display(), found.score.notes.len());
    }
    Ok(())
}

fn report_cmd(a: ReportArgs) -> anyhow::Result<()> {
    let piece = read_file(&a.piece)?;
    let theme = read_file(&a.theme)?;
    let r = report(&piece, Some(&a.piece), &theme, a.threshold)?;
    println!("{r}");
    if let Some(png) = &a.plot {
        let points: Vec<(f64, f64)> = r
            .distances
            .iter()
            .enumerate()
            .map(|(i, &x)| ((i + 1) as f64, x))
            .collect();
        let series = reprise::plot::Series {
            points: &points,
            rgb: [200, 60, 40],
        };
        reprise::plot::line_chart(png, &[series])?;
        println!("wrote {}", png.display());
    }
    Ok(())
}

fn evaluate_cmd(a: EvaluateArgs) -> anyhow::Result<()> {
    super::prefer_one_thread();
    if a.grow.bars <= reprise::generate::theme::LATE_FROM_BAR + 1 {
        return Err(super::common::bad_flag(
            "--bars",
            a.grow.bars,
            "leaves no bars after bar 8 to count",
        ));
    }
    let req = Evaluate {
        model: a.grow.model.clone(),
        data: a.data,
        songs: a.songs,
        jobs: a.jobs,
        request: RecurrenceRequest {
            bars: a.grow.bars,
            sampler: a.grow.sampler(),
            threshold: a.threshold,
            theme_every: a.grow.theme_every,
            guidance: a.grow.guidance,
        },
    };
    let table = evaluate(&req, &|| eprint!("."))?;
    eprintln!();
    println!("{table}");
    Ok(())
}
