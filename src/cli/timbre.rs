//! `reprise clone-timbre` and `reprise synth-eval`: the neural synth's timbres.

use std::path::PathBuf;

use reprise::ops::timbre::{clone, CloneTimbre, Progress, MAX_STEPS};
use reprise::synth::clone::CloneSettings;
use reprise::synth::eval::{EvalSettings, SoundFontSettings};
use reprise::synth::transcribe::note_name;

use super::common::{above_zero, step_bar, within};

/// Learn a new timbre for the neural synth from a short recording and its notes (the network
/// stays frozen; only the timbre's initial states are tuned). Without `--notes`, a one-voice
/// recording is transcribed.
#[derive(clap::Args)]
pub struct CloneArgs {
    /// The recording (WAV, FLAC, MP3 or Ogg Vorbis), at least 1 s.
    recording: PathBuf,
    /// The notes played in it (MIDI); left out, a one-voice recording is transcribed.
    #[arg(long)]
    notes: Option<PathBuf>,
    /// Where to write the timbre (e.g. timbres/NAME.safetensors).
    #[arg(short, long)]
    output: PathBuf,
    /// The synth model name or directory.
    #[arg(long, default_value = "gla-synth")]
    model: String,
    /// The most Adam steps (1–100000); it stops earlier when the loss stops improving.
    #[arg(long, default_value_t = CloneSettings::default().max_steps, value_parser = within(1usize, MAX_STEPS))]
    steps: usize,
    /// Adam learning rate, in (0, 10].
    #[arg(long, default_value_t = CloneSettings::default().lr, value_parser = above_zero(10.0))]
    lr: f64,
    /// Stop after this many checks (one every 10 steps) without a new best; 0: run every step.
    #[arg(long, default_value_t = CloneSettings::default().patience, value_parser = within(0usize, 1000))]
    patience: usize,
    /// Also draw the loss curve into this PNG (grey: each step; blue: the checks on fixed crops).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Clones and reports the loss before and after.
pub fn clone_timbre(a: CloneArgs) -> anyhow::Result<()> {
    let req = CloneTimbre {
        recording: a.recording,
        notes: a.notes,
        output: a.output,
        model: a.model,
        settings: CloneSettings {
            max_steps: a.steps,
            lr: a.lr,
            patience: a.patience,
            ..CloneSettings::default()
        },
        plot: a.plot,
    };
    let bar = step_bar(a.quiet, "cloning", a.steps as u64);
    let quiet = a.quiet;
    let done = clone(&req, &mut |p| {
        match p {
        Progress::Transcribed {
            notes,
            range,
            confidence,
        } if !quiet => bar.suspend(|| {
            eprintln!(
                "transcribed {notes} notes, {}–{}, confidence {confidence:.2} (no --notes given)",
                note_name(range.0),
                note_name(range.1)
            )
        }),
        Progress::Candidate { name, loss } if !quiet => {
            bar.suspend(|| eprintln!("  trained timbre {name:<12} loss {loss:.4}"))
        }
        Progress::Ready {
            seconds,
            notes,
            offset,
            start,
        } if !quiet => bar.suspend(|| {
            eprintln!(
                "{seconds:.1} s of audio, {notes} notes, aligned by {offset:+.3} s; starting from {start}"
            )
        }),
        Progress::Step(s, loss) => {
            bar.set_position(s as u64 + 1);
            bar.set_message(format!("loss {loss:.4}"));
        }
        _ => {}
    }
    })?;
    bar.finish_and_clear();
    if !quiet {
        let c = &done.curve;
        let stop = if c.stopped_early {
            format!(
                "stopped at step {} (no gain in {} checks)",
                c.steps.len(),
                a.patience
            )
        } else {
            format!("{} steps", c.steps.len())
        };
        eprintln!(
            "STFT distance {:.4} (nearest shipped timbre, {}) → {:.4} (cloned, best at step {}); \
             {stop}, {:.0} s; wrote {}",
            done.before,
            done.nearest,
            done.after,
            c.best_step,
            done.seconds,
            req.output.display()
        );
        if let Some(p) = &req.plot {
            eprintln!("loss curve: {}", p.display());
        }
    }
    Ok(())
}

/// Measure the neural synth against the SoundFont: the STFT distance of every shipped timbre on
/// unseen notes of each program, and for the two held-out programs the nearest trained timbre
/// against a timbre cloned from a recording (with the cloning time).
#[derive(clap::Args)]
pub struct SynthEvalArgs {
    /// The synth model name or directory.
    #[arg(long, default_value = "gla-synth")]
    model: String,
    /// Unseen test notes per program.
    #[arg(long, default_value_t = 16, value_parser = within(1usize, 10_000))]
    notes: usize,
    /// Length of each held-out program's recording to clone from, seconds (2–600).
    #[arg(long, default_value_t = 30.0, value_parser = within(2.0f64, 600.0))]
    recording_seconds: f64,
    /// Adam steps of the cloning (as `clone-timbre --steps`).
    #[arg(long, default_value_t = CloneSettings::default().max_steps, value_parser = within(1usize, MAX_STEPS))]
    clone_steps: usize,
    /// Adam learning rate of the cloning (as `clone-timbre --lr`).
    #[arg(long, default_value_t = CloneSettings::default().lr, value_parser = above_zero(10.0))]
    clone_lr: f64,
    /// Also write the cloned timbres into this folder.
    #[arg(long)]
    save_clones: Option<PathBuf>,
    /// Instead: measure cloning on this SoundFont (SF2), one the synth never trained on (e.g.
    /// /usr/share/sounds/sf2/TimGM6mb.sf2 from scripts/soundfonts). Each program is cloned from one
    /// phrase and compared on another with the nearest shipped timbre and the bundled SoundFont.
    #[arg(long)]
    heldout_sf2: Option<PathBuf>,
    /// With --heldout-sf2: the General MIDI programs to clone, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "56,65,68",
        requires = "heldout_sf2"
    )]
    programs: Vec<u8>,
    /// With --heldout-sf2: length of the phrase cloned from and of the one measured, seconds (4–120).
    #[arg(long, default_value_t = 20.0, value_parser = within(4.0f64, 120.0), requires = "heldout_sf2")]
    phrase_seconds: f64,
    /// With --heldout-sf2: also clone from the phrase's transcribed notes (as clone-timbre without
    /// --notes; doubles the time).
    #[arg(long, requires = "heldout_sf2")]
    transcribed: bool,
}

/// Runs the measurement and prints its table.
pub fn synth_eval(a: SynthEvalArgs) -> anyhow::Result<()> {
    if let Some(sf2) = &a.heldout_sf2 {
        let settings = SoundFontSettings {
            programs: a.programs.clone(),
            phrase_seconds: a.phrase_seconds,
            clone_steps: a.clone_steps,
            clone_lr: a.clone_lr,
            transcribed: a.transcribed,
        };
        let started = std::time::Instant::now();
        let result = reprise::ops::evaluate::synth_soundfont(&a.model, sf2, &settings, &mut |m| {
            eprintln!("{m}")
        })?;
        let name = sf2.file_name().map_or(sf2.display().to_string(), |n| {
            n.to_string_lossy().into_owned()
        });
        print!("{}", result.report(&settings, &name));
        eprintln!("({:.0} s in all)", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let settings = EvalSettings {
        notes: a.notes,
        recording_seconds: a.recording_seconds,
        clone_steps: a.clone_steps,
        clone_lr: a.clone_lr,
    };
    let result =
        reprise::ops::evaluate::synth(&a.model, &settings, a.save_clones.as_deref(), &mut |m| {
            eprintln!("{m}")
        })?;
    print!("{}", result.report(&settings));
    Ok(())
}
