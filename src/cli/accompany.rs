//! `reprise accompany`: a piano part for a melody, or the accompaniment report.

use std::path::PathBuf;

use reprise::accompany::generate::{DEFAULT_GUIDANCE, DEFAULT_HARMONIZER};
use reprise::accompany::AccompanyRequest;
use reprise::generate::SamplerConfig;
use reprise::ops::accompany::{
    accompany, fit_line, report, Accompany, ChordSource, Progress, Report,
};

use super::args::SamplingArgs;
use super::common::{bad_flag, clock_seed, nucleus, output_paths, progress_bar, within};

/// Accompany a melody: write a piano part that fits it, on the melody's tempo map; or measure the
/// accompaniment model on POP909's validation songs (`--report --data DIR`).
#[derive(clap::Args)]
pub struct AccompanyArgs {
    /// The melody (MIDI): its MELODY track, the track given by --track, the highest one-voice
    /// track, or else the top voice of everything.
    melody: Option<PathBuf>,
    /// The track that holds the melody (numbered as `reprise info` shows them).
    #[arg(long)]
    track: Option<usize>,
    /// Output MIDI file (melody and piano tracks); with --samples N > 1, NAME-1.mid … NAME-N.mid.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Accompaniment model name (in models/) or directory.
    #[arg(long, default_value = "pop909-accomp")]
    model: String,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Nucleus sampling, in (0, 1].
    #[arg(long, default_value_t = 0.95, value_parser = nucleus)]
    top_p: f32,
    /// Independent accompaniments to write (1–16).
    #[arg(long, default_value_t = 1, value_parser = within(1usize, 16))]
    samples: usize,
    /// The melody's chords (`start end label` lines in seconds, labels such as `C:maj`, `A:min7`,
    /// as POP909's `chord_midi.txt`), for a model that reads chords; without it the harmonizer
    /// (--harmonizer) chooses them.
    #[arg(long, conflicts_with = "report")]
    chords: Option<PathBuf>,
    /// The harmonizer that names the melody's chords for a model that reads chords, when --chords
    /// does not give them: a model name (in models/) or directory.
    #[arg(long, default_value = DEFAULT_HARMONIZER)]
    harmonizer: String,
    /// With --report: give the model POP909's annotated chords instead of the harmonizer's (how
    /// well it follows chords it is given).
    #[arg(long, requires = "report")]
    annotated_chords: bool,
    /// Classifier-free guidance, 0–10: each step also asks the model with the melody's bars left
    /// silent and moves away from that answer (0: plain sampling, half the work).
    #[arg(long, default_value_t = DEFAULT_GUIDANCE, value_parser = within(0.0f32, 10.0))]
    guidance: f32,
    /// Measure chord-tone share and onset alignment on POP909 801–873 (original piano, Reprise,
    /// random notes in key).
    #[arg(long, requires = "data", conflicts_with = "melody")]
    report: bool,
    /// With --report: the POP909 directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --report: only this many bars of each song, from its first melody note (default: the
    /// whole melody).
    #[arg(long, value_parser = within(1usize, 100_000))]
    bars: Option<usize>,
    /// With --report: songs measured at once, one thread each.
    #[arg(long, default_value_t = 2, value_parser = within(1usize, 256))]
    jobs: usize,
    /// With --report: print every song's numbers too.
    #[arg(long)]
    per_song: bool,
    /// Print nothing but errors (and the report).
    #[arg(short, long)]
    quiet: bool,
}

/// Accompanies, or runs the report.
pub fn run(a: AccompanyArgs) -> anyhow::Result<()> {
    let sampler = SamplerConfig {
        temperature: a.sampling.temperature,
        top_k: None,
        top_p: a.top_p,
        seed: a.sampling.seed.unwrap_or_else(clock_seed),
    };
    let request = AccompanyRequest {
        guidance: a.guidance,
        ..AccompanyRequest::new(sampler)
    };
    if a.report {
        return report_cmd(&a, request);
    }
    let (Some(melody), Some(output)) = (&a.melody, &a.output) else {
        anyhow::bail!(reprise::Error::Invalid(
            "accompany needs MELODY.mid and -o OUT.mid (or --report --data POP909)".into()
        ));
    };
    let outputs = output_paths(output, a.samples);
    let mut inputs = vec![melody.as_path()];
    inputs.extend(a.chords.as_deref());
    for p in &outputs {
        reprise::atomic_file::check_output(p, &inputs)?;
    }
    let model_dir = reprise::model::resolve_model_dir(&a.model)?;
    check_flags(&a, &model_dir)?;
    let song = reprise::midi::read_file(melody)?;
    if let Some(t) = a.track.filter(|&t| t >= song.tracks.len()) {
        return Err(bad_flag(
            "--track",
            t,
            &format!(
                "is not a track of {} (it has {})",
                melody.display(),
                song.tracks.len()
            ),
        ));
    }
    let action = Accompany {
        song,
        origin: melody.clone(),
        model_dir,
        track: a.track,
        chords: match &a.chords {
            Some(file) => ChordSource::File(file.clone()),
            None => ChordSource::Harmonizer(a.harmonizer.clone()),
        },
        samples: a.samples,
        request,
    };
    let bar = progress_bar(a.quiet, "accompanying");
    let out = accompany(&action, &mut |p| {
        if let Progress::Bar { sample, done, all } = p {
            bar.set_message(format!(
                "accompanying (sample {} of {}, bar {done} of {all})",
                sample + 1,
                a.samples
            ))
        }
    })
    .map_err(|e| with_track_flag(e, a.track))?;
    bar.finish_and_clear();
    reprise::midi::write_files(&out.scores, &outputs)?;
    if !a.quiet {
        say(&out, &outputs);
    }
    Ok(())
}

/// What was chosen and written.
fn say(out: &reprise::ops::accompany::Accompanied, outputs: &[PathBuf]) {
    eprintln!("{}", out.melody);
    if let Some(line) = &out.harmonized {
        eprintln!("chords: the harmonizer's (--chords FILE gives your own)\n{line}");
    }
    for ((path, score), (notes, seed)) in outputs.iter().zip(&out.scores).zip(&out.samples) {
        eprintln!(
            "wrote {} ({} bars, {notes} piano notes, {:.1} s, seed {seed})",
            path.display(),
            out.bars,
            score.duration(),
        );
    }
}

/// `--chords` needs a model that reads chords: said with the flag's name.
fn check_flags(a: &AccompanyArgs, model_dir: &std::path::Path) -> anyhow::Result<()> {
    if a.chords.is_some() {
        let cfg =
            reprise::model::theme_transformer::ThemeConfig::load(&model_dir.join("config.json"))?;
        if !cfg.chords {
            anyhow::bail!(reprise::Error::Invalid(format!(
                "--chords: the model in {} reads no chords",
                model_dir.display()
            )));
        }
    }
    Ok(())
}

/// The library speaks of "track N"; on the command line that is `--track N`.
fn with_track_flag(e: reprise::Error, track: Option<usize>) -> anyhow::Error {
    match (e, track) {
        (reprise::Error::BadFile { path, msg }, Some(t)) if !msg.contains("--track") => {
            let msg = msg.replace(&format!("track {t}"), &format!("--track {t}"));
            reprise::Error::BadFile { path, msg }.into()
        }
        (e, _) => e.into(),
    }
}

fn report_cmd(a: &AccompanyArgs, request: AccompanyRequest) -> anyhow::Result<()> {
    let req = Report {
        model: a.model.clone(),
        data: a.data.clone().unwrap_or_default(),
        bars: a.bars,
        jobs: a.jobs,
        annotated_chords: a.annotated_chords,
        harmonizer: a.harmonizer.clone(),
        request,
    };
    let per_song = a.per_song;
    let done = report(&req, &|f| {
        if per_song {
            println!("{}", fit_line(f));
        } else {
            eprint!(".");
        }
    })
    .map_err(|e| match e {
        reprise::Error::Invalid(m) if m.contains("annotated") => {
            reprise::Error::Invalid(format!("--annotated-chords: {m}"))
        }
        e => e,
    })?;
    eprintln!();
    println!("{done}");
    Ok(())
}
