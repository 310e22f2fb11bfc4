//! `reprise continue` and `reprise generate`: new music from a Music Transformer, optionally played
//! while it is written.

use std::path::{Path, PathBuf};

use reprise::generate::tasks::{GenEvent, Length, DEFAULT_KEY_GUIDE};
use reprise::midi::Score;
use reprise::ops::generate::{
    generate, load_model, Generate, Generated, Primer, Sampling, MAX_TOKENS,
};
use reprise::tokens::NoteEvent;

use super::args::{AudioOutArgs, SamplingArgs};
use super::common::{clock_seed, nucleus, output_paths, progress_bar, within};

/// Continue a MIDI file with a model; the output holds the primer followed by the new music.
///
/// Chorale (grid) models read the primer as four voices. Piano (performance) models take any
/// General MIDI file: drums are left out, other parts are folded to piano for the prompt, and the
/// new music is a piano track on the primer's tempo map.
#[derive(clap::Args)]
pub struct ContinueArgs {
    /// The MIDI primer.
    primer: PathBuf,
    /// Continue from this many seconds into the primer instead of its end (later music is left
    /// out of the prompt and the output).
    #[arg(long, value_parser = within(0.001f64, 1e6))]
    at: Option<f64>,
    /// Piano models: prompt with at most this many seconds before the continuation point (less if
    /// they do not fit the model's context).
    #[arg(long, default_value_t = 20.0, value_parser = within(0.5f64, 3600.0))]
    primer_seconds: f64,
    /// Piano models: write only the new music (it keeps its place in time after the primer).
    #[arg(long)]
    only_new: bool,
    /// Piano models: print how the continuation sits against the primer (key, beat grid, groove,
    /// polyphony, notes held 8 s or more).
    #[arg(long)]
    report: bool,
    #[command(flatten)]
    gen: GenArgs,
}

/// Generate music from nothing with a model.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Tempo of the output in BPM (10–400).
    #[arg(long, default_value_t = 100.0, value_parser = within(10.0f64, 400.0))]
    tempo: f64,
    #[command(flatten)]
    gen: GenArgs,
}

/// Options shared by `continue` and `generate`.
#[derive(clap::Args)]
pub struct GenArgs {
    /// Play the music while it is being generated (and to its end).
    #[arg(long)]
    play: bool,
    #[command(flatten)]
    audio: AudioOutArgs,
    /// Model name (in models/) or directory. Default: for `generate` jsb-chorales; for `continue`
    /// jsb-chorales when the primer's tracks are chorale voices (soprano, alto, tenor, bass),
    /// otherwise the beat-aware piano model pop909-beat.
    #[arg(long)]
    model: Option<String>,
    /// Output MIDI file; with --samples N > 1, NAME-1.mid … NAME-N.mid.
    #[arg(short, long)]
    output: PathBuf,
    /// Model tokens to generate (for the chorale grid, 4 per 16th note), 1–100000.
    #[arg(long, conflicts_with = "seconds", value_parser = within(1usize, MAX_TOKENS))]
    steps: Option<usize>,
    /// Seconds of new music (default 20), up to an hour.
    #[arg(long, value_parser = within(0.1f64, 3600.0))]
    seconds: Option<f64>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Sample only from the k most likely tokens.
    #[arg(long, value_parser = within(1usize, 100_000))]
    top_k: Option<usize>,
    /// Nucleus sampling: the smallest set of tokens with this much probability, in (0, 1]
    /// (default: 0.9 for the beat-aware piano models, 1 for the others).
    #[arg(long, value_parser = nucleus)]
    top_p: Option<f32>,
    /// Beat-aware piano models: key guidance, 0–10 nats taken off every note outside the primer's
    /// key before sampling (0: off).
    #[arg(long, default_value_t = DEFAULT_KEY_GUIDE, value_parser = within(0.0f32, 10.0))]
    key_guide: f32,
    /// Independent samples, generated together (1–64).
    #[arg(long, default_value_t = 1, value_parser = within(1usize, 64))]
    samples: usize,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// `continue`.
pub fn continue_cmd(a: ContinueArgs) -> anyhow::Result<()> {
    let score = reprise::midi::read_file(&a.primer)?;
    let primer = Primer {
        score,
        origin: Some(a.primer.clone()),
        from: a.at,
        seconds: a.primer_seconds,
        only_new: a.only_new,
        check: a.report,
    };
    run(Some(primer), 100.0, &a.gen)
}

/// `generate`.
pub fn generate_cmd(a: GenerateArgs) -> anyhow::Result<()> {
    run(None, a.tempo, &a.gen)
}

fn request(primer: Option<Primer>, bpm: f64, g: &GenArgs) -> Generate {
    Generate {
        model: g.model.clone(),
        primer,
        bpm,
        length: match g.steps {
            Some(n) => Length::Tokens(n),
            None => Length::Seconds(g.seconds.unwrap_or(20.0)),
        },
        sampling: Sampling {
            temperature: g.sampling.temperature,
            top_k: g.top_k,
            top_p: g.top_p,
            seed: g.sampling.seed.unwrap_or_else(clock_seed),
        },
        samples: g.samples,
        key_guide: g.key_guide,
        cancel: None,
    }
}

fn run(primer: Option<Primer>, bpm: f64, g: &GenArgs) -> anyhow::Result<()> {
    let mut req = request(primer, bpm, g);
    let outputs = output_paths(&g.output, g.samples);
    let inputs: Vec<&Path> = req
        .primer
        .iter()
        .filter_map(|p| p.origin.as_deref())
        .collect();
    for p in &outputs {
        reprise::atomic_file::check_output(p, &inputs)?;
    }
    let (model, dir) = load_model(&req)?;
    if req.primer.as_ref().is_some_and(|p| p.check)
        && model.config().vocab == reprise::model::VocabKind::Grid
    {
        anyhow::bail!(reprise::Error::Invalid(
            "--report is for piano models (pop909-beat, pop909-piano)".into()
        ));
    }
    let base = match &req.primer {
        Some(p) => p.from.map_or_else(|| p.score.clone(), |t| p.score.until(t)),
        None => Score::new(480, 500_000)?,
    };
    let player = if g.play {
        req.cancel = Some(reprise::console::cancel_on_interrupt());
        Some(start_playing(&base, &g.audio)?)
    } else {
        None
    };
    let mut feed = player.as_ref().map(reprise::live::LiveFeed::new);
    let bar = progress_bar(g.quiet, "generating");
    let mut status = Status::default();
    let out = generate(&req, &model, dir, &mut |i, e| {
        if let (0, Some(f)) = (i, feed.as_mut()) {
            f.on_event(e);
        }
        if let Some(line) = status.on_event(e) {
            bar.set_message(line);
        }
    })?;
    bar.finish_and_clear();
    write(&out, &outputs, g.quiet)?;
    let streamed = feed.as_ref().map_or(0, |f| f.appended());
    drop(feed);
    if let Some(player) = player {
        play_to_end(player, &base, &out.scores[0], streamed, g.quiet);
    }
    Ok(())
}

/// Starts playing the primer's last two seconds; the new music joins it as it comes.
fn start_playing(
    base: &Score,
    audio: &AudioOutArgs,
) -> anyhow::Result<reprise::audio::playback::Player> {
    let sf = reprise::audio::soundfont::load(audio.soundfont.as_deref())?;
    let out = reprise::audio::device::open_output(audio.device.as_deref())?;
    Ok(reprise::live::start(base, &sf, out)?)
}

/// Writes every sample and prints what was written (and the continuation checks).
fn write(out: &Generated, outputs: &[PathBuf], quiet: bool) -> anyhow::Result<()> {
    if !quiet {
        for n in &out.notes {
            eprintln!("{n}");
        }
    }
    reprise::midi::write_files(&out.scores, outputs)?;
    for (i, (score, path)) in out.scores.iter().zip(outputs).enumerate() {
        if !quiet {
            eprintln!(
                "wrote {} ({:.1} s, seed {})",
                path.display(),
                score.duration(),
                out.sampler.seed
            );
        }
        if let Some(check) = out.checks.get(i) {
            println!("{}", check.line());
        }
    }
    Ok(())
}

/// After generation: the music plays to its end, or until the user stops it.
fn play_to_end(
    player: reprise::audio::playback::Player,
    base: &Score,
    output: &Score,
    streamed: usize,
    quiet: bool,
) {
    reprise::live::complete(&player, base, output, streamed);
    let length = output.duration();
    reprise::console::run(&player, || length, quiet);
    let stats = player.stop();
    if !quiet {
        eprintln!(
            "played: {} messages, {} late, {} underruns; waited {} times for the generator",
            stats.delivered, stats.late_events, stats.underruns, stats.stalls
        );
    }
}

/// The progress line: tokens drawn, notes and how far the music has got.
#[derive(Default)]
struct Status {
    drawn: u64,
    notes: u64,
    latest: f64,
}

impl Status {
    fn on_event(&mut self, e: GenEvent) -> Option<String> {
        match e {
            GenEvent::Token(_) => self.drawn += 1,
            GenEvent::Note {
                event: NoteEvent::On { time, .. },
                ..
            } => {
                self.notes += 1;
                self.latest = self.latest.max(time);
            }
            GenEvent::Note { .. } => {}
        }
        if !self.drawn.is_multiple_of(16) {
            return None;
        }
        let so_far = if self.notes > 0 {
            format!(", {} notes, up to {:.1} s", self.notes, self.latest)
        } else {
            String::new()
        };
        Some(format!("generating ({} tokens{so_far})", self.drawn))
    }
}
