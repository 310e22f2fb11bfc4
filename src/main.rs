//! The `reprise` command line: parses arguments, dispatches, maps errors to exit codes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reprise::audio::{self, soundfont, RenderOptions};
use reprise::midi::{self, Score};

/// Continue, accompany and develop MIDI, and render it, from the terminal.
///
/// With no command on a terminal, opens the terminal UI (`reprise tui`).
#[derive(Parser)]
#[command(name = "reprise", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render a MIDI file to a stereo 16-bit WAV with a SoundFont (the built-in General MIDI bank by default).
    Render {
        /// The MIDI file to render.
        input: PathBuf,
        /// The WAV file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// An SF2 SoundFont (SF3 is not supported). Default: the built-in soundfonts/sf_GMbank.sf2.
        #[arg(long)]
        soundfont: Option<PathBuf>,
        /// Output sample rate in Hz (16000–192000).
        #[arg(long, default_value_t = 44_100)]
        sample_rate: u32,
        /// Linear gain applied to the mix (0–100).
        #[arg(long, default_value_t = 1.0)]
        gain: f32,
        /// Render threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[command(flatten)]
        synth: EngineArgs,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Learn a new timbre for the neural synth from a short recording and its notes (the network stays
    /// frozen; only the timbre's initial states are tuned).
    CloneTimbre {
        /// The recording (WAV, FLAC, MP3 or Ogg Vorbis), at least 1 s.
        recording: PathBuf,
        /// The notes played in it (MIDI).
        #[arg(long)]
        notes: PathBuf,
        /// Where to write the timbre (e.g. timbres/NAME.safetensors).
        #[arg(short, long)]
        output: PathBuf,
        /// The synth model name or directory.
        #[arg(long, default_value = "gla-synth")]
        model: String,
        /// Adam steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Adam learning rate.
        #[arg(long, default_value_t = 0.15)]
        lr: f64,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Measure the neural synth against the SoundFont: the STFT distance of every shipped timbre on
    /// unseen notes of each program, and for the two held-out programs the nearest trained timbre
    /// against a timbre cloned from a recording (with the cloning time).
    SynthEval {
        /// The synth model name or directory.
        #[arg(long, default_value = "gla-synth")]
        model: String,
        /// Unseen test notes per program.
        #[arg(long, default_value_t = 16)]
        notes: usize,
        /// Length of each held-out program's recording to clone from, seconds.
        #[arg(long, default_value_t = 30.0)]
        recording_seconds: f64,
        /// Adam steps of the cloning (as `clone-timbre --steps`).
        #[arg(long, default_value_t = 300)]
        clone_steps: usize,
        /// Adam learning rate of the cloning (as `clone-timbre --lr`).
        #[arg(long, default_value_t = 0.15)]
        clone_lr: f64,
        /// Also write the cloned timbres into this folder.
        #[arg(long)]
        save_clones: Option<PathBuf>,
    },
    /// Describe MIDI files: tracks, programs, notes, duration, tempo, time signatures.
    Info {
        /// One or more MIDI files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The terminal UI: piano roll, parameters, continue/generate with the models, play, render, save.
    ///
    /// Press ? inside for the keys.
    Tui {
        /// A MIDI file to open.
        file: Option<PathBuf>,
        /// Audio output for playback: part of a device name, or `null` (a silent clock).
        #[arg(long)]
        device: Option<String>,
    },
    /// Themes: grow a piece from THEME.mid with the Theme Transformer; find a song's theme
    /// (`--extract SONG.mid`); or measure how often a theme recurs in a piece (`--report PIECE.mid THEME.mid`).
    Theme {
        /// The theme (MIDI, up to 8 bars; its melody is used).
        theme: Option<PathBuf>,
        /// Find the theme of this song and where it recurs.
        #[arg(long, conflicts_with = "report")]
        extract: Option<PathBuf>,
        /// Print the theme-distance curve of this piece against THEME.
        #[arg(long)]
        report: Option<PathBuf>,
        /// With --report: also draw the curve as a PNG.
        #[arg(long, requires = "report")]
        plot: Option<PathBuf>,
        /// With --report: distance (0–1) at or under which a window counts as the theme.
        #[arg(long, default_value_t = 0.25)]
        threshold: f64,
        /// Where to write the piece (or, with --extract, the theme).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Theme model name (in models/) or directory.
        #[arg(long, default_value = "pop909-theme")]
        model: String,
        /// Bars to write.
        #[arg(long, default_value_t = 32)]
        bars: usize,
        /// Tempo of the piece in BPM (default: the theme's).
        #[arg(long)]
        tempo: Option<f64>,
        /// Sampling temperature (> 0).
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// Nucleus sampling, in (0, 1].
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The baseline: the theme only as a prompt (no theme attention).
        #[arg(long)]
        baseline: bool,
        /// Bring the theme back every N bars (theme regions from bar 1, each as long as the
        /// theme) instead of letting the model choose where.
        #[arg(long, conflicts_with = "baseline")]
        theme_every: Option<usize>,
        /// Classifier-free guidance, 0–10, for conditioned pieces: each step also asks the model
        /// without the theme and moves away from that answer (0: plain sampling, half the work).
        #[arg(long, default_value_t = reprise::generate::theme::DEFAULT_GUIDANCE)]
        guidance: f32,
        /// With --extract: largest distance (0–1) between two segments of one cluster.
        #[arg(long, default_value_t = 0.2)]
        eps: f64,
        /// With --extract: occurrences a segment needs to seed a theme (itself included).
        #[arg(long, default_value_t = 3)]
        min_points: usize,
        /// The recurrence table: themes extracted from POP909's validation songs (--data), a piece
        /// grown from each with and without theme conditioning, recurrences after bar 8 counted.
        #[arg(long, requires = "data", conflicts_with_all = ["extract", "report"])]
        evaluate: bool,
        /// With --evaluate: the POP909 directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// With --evaluate: how many validation songs (from 801 on; songs without a theme are skipped).
        #[arg(long, default_value_t = 20)]
        songs: usize,
        /// With --evaluate: pieces written at once, one thread each.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Accompany a melody: write a piano part that fits it, on the melody's tempo map; or measure
    /// the accompaniment model on POP909's validation songs (`--report --data DIR`).
    Accompany {
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
        /// Sampling temperature (> 0).
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// Nucleus sampling, in (0, 1].
        #[arg(long, default_value_t = 0.95)]
        top_p: f32,
        /// Random seed (default: from the clock, printed so the run can be repeated).
        #[arg(long)]
        seed: Option<u64>,
        /// Independent accompaniments to write.
        #[arg(long, default_value_t = 1)]
        samples: usize,
        /// The melody's chords (`start end label` lines in seconds, labels such as `C:maj`,
        /// `A:min7`, as POP909's `chord_midi.txt`), for a model that reads chords; without it the
        /// harmonizer (--harmonizer) chooses them.
        #[arg(long, conflicts_with = "report")]
        chords: Option<PathBuf>,
        /// The harmonizer that names the melody's chords for a model that reads chords, when
        /// --chords does not give them: a model name (in models/) or directory.
        #[arg(long, default_value = reprise::accompany::generate::DEFAULT_HARMONIZER)]
        harmonizer: String,
        /// With --report: give the model POP909's annotated chords instead of the harmonizer's
        /// (how well it follows chords it is given).
        #[arg(long, requires = "report")]
        annotated_chords: bool,
        /// Classifier-free guidance, 0–10: each step also asks the model with the melody's bars
        /// left silent and moves away from that answer (0: plain sampling, half the work).
        #[arg(long, default_value_t = reprise::accompany::generate::DEFAULT_GUIDANCE)]
        guidance: f32,
        /// Measure chord-tone share and onset alignment on POP909 801–873 (original piano, Reprise,
        /// random notes in key).
        #[arg(long, requires = "data", conflicts_with = "melody")]
        report: bool,
        /// With --report: the POP909 directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// With --report: only this many bars of each song, from its first melody note (default:
        /// the whole melody).
        #[arg(long)]
        bars: Option<usize>,
        /// With --report: songs measured at once, one thread each.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// With --report: print every song's numbers too.
        #[arg(long)]
        per_song: bool,
        /// Print nothing but errors (and the report).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Play a MIDI file through the system's audio with the SoundFont synthesizer.
    ///
    /// Keys: space pauses, ←/→ seek 5 s, q (or Esc, Ctrl-C) stops with all notes off.
    Play {
        /// The MIDI file.
        file: Option<PathBuf>,
        #[command(flatten)]
        out: AudioOutArgs,
        /// Start this many seconds in.
        #[arg(long, default_value_t = 0.0)]
        from: f64,
        /// List the output devices and exit.
        #[arg(long)]
        list_devices: bool,
        #[command(flatten)]
        synth: EngineArgs,
        /// No status line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Continue a MIDI file with a model; the output holds the primer followed by the new music.
    ///
    /// Chorale (grid) models read the primer as four voices. Piano (performance) models take any General
    /// MIDI file: drums are left out, other parts are folded to piano for the prompt, and the new music
    /// is a piano track on the primer's tempo map.
    Continue {
        /// The MIDI primer.
        primer: PathBuf,
        /// Piano models: prompt with at most this many seconds from the end of the primer (less if
        /// they do not fit the model's context).
        #[arg(long, default_value_t = 20.0)]
        primer_seconds: f64,
        /// Piano models: write only the new music (it keeps its place in time after the primer).
        #[arg(long)]
        only_new: bool,
        /// Piano models: print how the continuation sits against the primer (key, beat grid,
        /// groove, polyphony, notes held 8 s or more).
        #[arg(long)]
        report: bool,
        #[command(flatten)]
        gen: GenArgs,
    },
    /// Generate music from nothing with a model.
    Generate {
        /// Tempo of the output in BPM.
        #[arg(long, default_value_t = 100.0)]
        tempo: f64,
        #[command(flatten)]
        gen: GenArgs,
    },
    /// Train a model from a JSON config on a data set; checkpoints, logs and the best model go to --out.
    Train {
        /// Training config (JSON): model hyper-parameters and the optimisation schedule.
        #[arg(long)]
        config: PathBuf,
        /// Data: the JSB Coconet JSON file for grid models.
        #[arg(long)]
        data: PathBuf,
        /// Run directory: checkpoint.safetensors, log.csv, loss.png, and the best model in model/.
        #[arg(long)]
        out: PathBuf,
        /// Continue the run in --out from its last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Stop after this many minutes (with a checkpoint), to be resumed later.
        #[arg(long)]
        max_minutes: Option<f64>,
        /// Start from an exported model's weights (e.g. models/jsb-chorales) instead of random ones.
        #[arg(long, conflicts_with = "resume")]
        init: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Mean negative log-likelihood per token (nats) of a model on a data split.
    Eval {
        /// Model name (in models/) or directory.
        #[arg(long)]
        model: String,
        /// Data: the JSB Coconet JSON file for grid models.
        #[arg(long)]
        data: PathBuf,
        /// Split to score.
        #[arg(long, default_value = "valid")]
        split: String,
        /// Theme models: NLL inside theme regions with each song's own theme and with another
        /// song's theme (how much the model listens to its theme). Accompaniment models: NLL of
        /// the piano with each window's own melody and with the next window's.
        #[arg(long)]
        theme_ablation: bool,
        /// Piano models: the continuation report on POP909's validation songs (--data): each song's
        /// first 20 s from its first note as the primer, the next 30 s of the model's continuation
        /// against the real next 30 s and against looping the primer's last 10 s.
        #[arg(long, conflicts_with = "theme_ablation")]
        continuation: bool,
        /// With --continuation: measure only the first N validation songs.
        #[arg(long, requires = "continuation")]
        songs: Option<usize>,
        /// With --continuation: the sampling seed (each song adds its number).
        #[arg(long, default_value_t = 1, requires = "continuation")]
        seed: u64,
        /// With --continuation: sampling temperature (as `continue --temperature`).
        #[arg(long, default_value_t = 1.0, requires = "continuation")]
        temperature: f32,
        /// With --continuation: nucleus sampling (as `continue --top-p`).
        #[arg(long, default_value_t = reprise::generate::tasks::DEFAULT_BEAT_TOP_P, requires = "continuation")]
        top_p: f32,
        /// With --continuation: key guidance (as `continue --key-guide`).
        #[arg(long, default_value_t = reprise::generate::tasks::DEFAULT_KEY_GUIDE, requires = "continuation")]
        key_guide: f32,
    },
    /// Measure speed.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

/// Which synthesizer renders or plays.
#[derive(clap::Args, Clone)]
struct EngineArgs {
    /// `soundfont` (default) or `neural`: the GLA synthesizer (pitched notes only, drums are left
    /// out; when playing it renders while it plays, so pause works and seeking does not).
    #[arg(long, default_value = "soundfont")]
    engine: String,
    /// With `--engine neural`: a timbre name (see the model's timbres/) or a .safetensors file.
    #[arg(long, default_value = "piano")]
    timbre: String,
    /// With `--engine neural`: the synth model name or directory.
    #[arg(long, default_value = "gla-synth")]
    synth_model: String,
}

/// Where live audio goes.
#[derive(clap::Args, Clone)]
struct AudioOutArgs {
    /// SoundFont (SF2) to play with (default: the built-in General MIDI bank).
    #[arg(long)]
    soundfont: Option<PathBuf>,
    /// Output device: part of a name from --list-devices, or `null` (a silent clock, for machines
    /// without audio).
    #[arg(long)]
    device: Option<String>,
}

/// Options shared by `continue` and `generate`.
#[derive(clap::Args)]
struct GenArgs {
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
    /// Model tokens to generate (for the chorale grid, 4 per 16th note).
    #[arg(long, conflicts_with = "seconds")]
    steps: Option<usize>,
    /// Seconds of new music (default 20).
    #[arg(long)]
    seconds: Option<f64>,
    /// Sampling temperature (> 0).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Sample only from the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling: the smallest set of tokens with this much probability, in (0, 1]
    /// (default: 0.9 for the beat-aware piano models, 1 for the others).
    #[arg(long)]
    top_p: Option<f32>,
    /// Random seed (default: from the clock, printed so the run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Beat-aware piano models: key guidance, 0–10 nats taken off every note outside the
    /// primer's key before sampling (0: off).
    #[arg(long, default_value_t = reprise::generate::tasks::DEFAULT_KEY_GUIDE)]
    key_guide: f32,
    /// Independent samples, generated together.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Neural synth streaming speed on one core: real-time factor at 1 and at 16 simultaneous voices.
    Synth {
        /// Synth model name or directory (its first timbre is used).
        #[arg(long, default_value = "gla-synth", conflicts_with = "config")]
        model: String,
        /// Instead of a model: a training config, measured with untrained weights of its shape (the
        /// speed does not depend on the weights).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seconds of music per voice.
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
    },
    /// Generation speed: cached vs uncached tokens/s, and token 100 vs the last token of one long run.
    Decode {
        /// Model name (in models/) or directory.
        #[arg(long, default_value = "jsb-chorales")]
        model: String,
        /// Tokens in the cached run (at least 200).
        #[arg(long, default_value_t = 2000)]
        tokens: usize,
        /// Tokens in the uncached run.
        #[arg(long, default_value_t = 300)]
        uncached_tokens: usize,
    },
    /// Rendering speed in multiples of real time, beside FluidSynth on the same MIDI and SF2 when installed.
    Render {
        /// MIDI file to render; default: a generated dense General MIDI arrangement.
        #[arg(long)]
        midi: Option<PathBuf>,
        /// Length of the generated arrangement in seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// SF2 to use for both renderers; default: the built-in bank.
        #[arg(long)]
        soundfont: Option<PathBuf>,
        /// Runs per renderer; the best is reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Do not run FluidSynth even if it is installed.
        #[arg(long)]
        no_fluidsynth: bool,
    },
}

use reprise::error::printable;

fn main() -> ExitCode {
    reprise::guard::install_hook();
    reprise::error::set_warning_sink(|m| eprintln!("warning: {m}"));
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() => Cmd::Tui {
            file: None,
            device: None,
        },
        None => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(code) => code,
        Err(err) => {
            let ours = err.downcast_ref::<reprise::Error>();
            // Our errors' one line already names their cause; anyhow's `{:#}` would repeat it.
            match ours {
                Some(e) => eprintln!("reprise: {}", printable(&e.to_string())),
                None => eprintln!("reprise: {}", printable(&format!("{err:#}"))),
            }
            if matches!(ours, Some(reprise::Error::Cancelled)) {
                return ExitCode::from(130);
            }
            let user = ours.is_none_or(reprise::Error::is_user_error);
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

/// Token-by-token generation is made of small tensor ops, which candle runs faster on one thread than on
/// two here (`reprise bench decode`: 1468 vs 614 tokens/s). Generation therefore defaults to
/// `RAYON_NUM_THREADS=1` unless the user set it. Must run before any tensor work starts threads.
fn prefer_one_thread() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    if matches!(
        cmd,
        Cmd::Continue { .. }
            | Cmd::Generate { .. }
            | Cmd::Accompany { .. }
            | Cmd::Bench {
                what: BenchCmd::Decode { .. }
            }
    ) {
        prefer_one_thread();
    }
    match cmd {
        Cmd::Render {
            input,
            output,
            soundfont,
            sample_rate,
            gain,
            threads,
            synth,
            quiet,
        } => {
            let opts = RenderOptions {
                sample_rate,
                gain,
                threads,
                ..Default::default()
            };
            match synth.engine.as_str() {
                "soundfont" => render(&input, &output, soundfont.as_deref(), &opts, quiet)?,
                "neural" => render_neural(
                    &input,
                    &output,
                    &synth.synth_model,
                    &synth.timbre,
                    &opts,
                    quiet,
                )?,
                other => anyhow::bail!(reprise::Error::Invalid(format!(
                    "--engine {other}: use soundfont or neural"
                ))),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info { files } => Ok(info(&files)),
        Cmd::SynthEval {
            model,
            notes,
            recording_seconds,
            clone_steps,
            clone_lr,
            save_clones,
        } => {
            let settings = reprise::synth::eval::EvalSettings {
                notes,
                recording_seconds,
                clone_steps,
                clone_lr,
            };
            synth_eval_cmd(&model, &settings, save_clones.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::CloneTimbre {
            recording,
            notes,
            output,
            model,
            steps,
            lr,
            quiet,
        } => {
            clone_timbre_cmd(&recording, &notes, &output, &model, steps, lr, quiet)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Accompany {
            melody,
            track,
            output,
            model,
            temperature,
            top_p,
            seed,
            samples,
            chords,
            harmonizer,
            annotated_chords,
            guidance,
            report,
            data,
            bars,
            jobs,
            per_song,
            quiet,
        } => {
            let seed = seed.unwrap_or_else(clock_seed);
            let sampler = reprise::generate::SamplerConfig {
                temperature,
                top_k: None,
                top_p,
                seed,
            };
            sampler.validate()?;
            reprise::generate::guidance::validate(guidance)?;
            let req = reprise::accompany::AccompanyRequest {
                guidance,
                ..reprise::accompany::AccompanyRequest::new(sampler)
            };
            if report {
                let data = data.unwrap_or_default();
                let opts = ReportOptions {
                    bars,
                    jobs,
                    per_song,
                    annotated_chords,
                    harmonizer,
                };
                accompany_report(&model, &data, &opts, req)?;
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(melody), Some(output)) = (melody, output) else {
                anyhow::bail!(reprise::Error::Invalid(
                    "accompany needs MELODY.mid and -o OUT.mid (or --report --data POP909)".into()
                ));
            };
            let args = AccompanyArgs {
                track,
                samples,
                chords,
                harmonizer,
                quiet,
            };
            accompany_cmd(&melody, &model, &args, req, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Theme {
            theme,
            extract,
            report,
            plot,
            threshold,
            output,
            model,
            bars,
            tempo,
            temperature,
            top_p,
            seed,
            baseline,
            eps,
            min_points,
            evaluate,
            data,
            songs,
            jobs,
            theme_every,
            guidance,
        } => {
            if !(0.0..=1.0).contains(&threshold) {
                anyhow::bail!(reprise::Error::Invalid(format!(
                    "--threshold {threshold} must be in [0, 1]"
                )));
            }
            let sampler = || -> anyhow::Result<reprise::generate::SamplerConfig> {
                let s = reprise::generate::SamplerConfig {
                    temperature,
                    top_k: None,
                    top_p,
                    seed,
                };
                s.validate()?;
                Ok(s)
            };
            if evaluate {
                prefer_one_thread();
                let req = reprise::generate::theme::RecurrenceRequest {
                    bars,
                    sampler: sampler()?,
                    threshold,
                    theme_every,
                    guidance,
                };
                theme_evaluate(&model, &data.unwrap_or_default(), songs, jobs, &req)?;
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(song) = extract {
                theme_extract(&song, output.as_deref(), eps, min_points)?;
                return Ok(ExitCode::SUCCESS);
            }
            let Some(theme) = theme else {
                anyhow::bail!(reprise::Error::Invalid(
                    "theme needs THEME.mid (or --extract SONG.mid)".into()
                ));
            };
            if let Some(piece) = report {
                theme_report(&piece, &theme, threshold, plot.as_deref())?;
                return Ok(ExitCode::SUCCESS);
            }
            let Some(output) = output else {
                anyhow::bail!(reprise::Error::Invalid(
                    "theme THEME.mid needs -o PIECE.mid".into()
                ));
            };
            prefer_one_thread();
            let req = ThemeArgs {
                bars,
                tempo,
                sampler: sampler()?,
                baseline,
                theme_every,
                guidance,
            };
            theme_compose(&theme, &model, &req, &output)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Tui { file, device } => {
            if !std::io::stdout().is_terminal() {
                anyhow::bail!(reprise::Error::Invalid(
                    "the terminal UI needs a terminal (stdout is not one)".into()
                ));
            }
            reprise::tui::run(file, device)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Play {
            file,
            out,
            from,
            list_devices,
            synth,
            quiet,
        } => {
            if list_devices {
                return list_devices_cmd();
            }
            let Some(file) = file else {
                anyhow::bail!(reprise::Error::Invalid(
                    "play needs a MIDI file (or --list-devices)".into()
                ));
            };
            match synth.engine.as_str() {
                "soundfont" => play_cmd(&file, &out, from, quiet)?,
                "neural" if from > 0.0 => anyhow::bail!(reprise::Error::Invalid(
                    "--from is not available with --engine neural (audio rendered while it plays cannot jump)".into()
                )),
                "neural" => play_neural(&file, &out, &synth.synth_model, &synth.timbre, quiet)?,
                other => anyhow::bail!(reprise::Error::Invalid(format!(
                    "--engine {other}: use soundfont or neural"
                ))),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Continue {
            primer,
            primer_seconds,
            only_new,
            report,
            gen,
        } => {
            let score = midi::read_file(&primer)?;
            let primer = PrimerArgs {
                path: &primer,
                score: &score,
                seconds: primer_seconds,
                only_new,
                report,
            };
            generate_cmd(Some(primer), 100.0, &gen)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Generate { tempo, gen } => {
            generate_cmd(None, tempo, &gen)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Train {
            config,
            data,
            out,
            resume,
            max_minutes,
            init,
            quiet,
        } => {
            let config = reprise::train::TrainConfig::load(&config)?;
            let opts = reprise::train::TrainOptions {
                config,
                data,
                out,
                resume,
                max_minutes,
                init,
            };
            train(&opts, quiet)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Eval {
            model,
            data,
            split,
            theme_ablation,
            continuation,
            songs,
            seed,
            temperature,
            top_p,
            key_guide,
        } => {
            if continuation {
                let sampler = reprise::generate::SamplerConfig {
                    temperature,
                    top_p,
                    top_k: None,
                    seed,
                };
                eval_continuation(&model, &data, songs, sampler, key_guide)?;
            } else {
                eval(&model, &data, &split, theme_ablation)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what } => match what {
            BenchCmd::Synth {
                model,
                config,
                seconds,
            } => {
                bench_synth(&model, config.as_deref(), seconds)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Decode {
                model,
                tokens,
                uncached_tokens,
            } => {
                bench_decode(&model, tokens, uncached_tokens)?;
                Ok(ExitCode::SUCCESS)
            }
            BenchCmd::Render {
                midi,
                seconds,
                soundfont,
                repeats,
                no_fluidsynth,
            } => {
                bench_render(
                    midi.as_deref(),
                    seconds,
                    soundfont.as_deref(),
                    repeats,
                    !no_fluidsynth,
                )?;
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn synth_eval_cmd(
    model: &str,
    settings: &reprise::synth::eval::EvalSettings,
    save_clones: Option<&Path>,
) -> anyhow::Result<()> {
    use reprise::synth::{data::TRAINED, eval, render};
    let s = settings;
    if s.notes == 0
        || s.clone_steps == 0
        || !(2.0..=600.0).contains(&s.recording_seconds)
        || !(s.clone_lr > 0.0 && s.clone_lr < 10.0)
    {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--notes {} and --clone-steps {} must be > 0, --recording-seconds {} in 2…600, \
             --clone-lr {} in (0, 10)",
            s.notes, s.clone_steps, s.recording_seconds, s.clone_lr
        )));
    }
    let dir = reprise::model::resolve_model_dir(model)?;
    let net = render::load_network(&dir)?;
    let trained = TRAINED
        .iter()
        .map(|t| render::load_timbre(&render::timbre_path(&dir, t.name), net.config()))
        .collect::<reprise::Result<Vec<_>>>()?;
    let sf = reprise::audio::soundfont::load(None)?;
    let result = eval::evaluate(&net, &trained, &sf, settings, &mut |m| eprintln!("{m}"))?;
    if let Some(out) = save_clones {
        std::fs::create_dir_all(out).map_err(|e| reprise::Error::io(out, e))?;
        for h in &result.held_out {
            h.timbre
                .save(&out.join(format!("{}-cloned.safetensors", h.name)))?;
        }
    }
    print!("{}", result.report(settings));
    Ok(())
}

fn clone_timbre_cmd(
    recording: &Path,
    notes: &Path,
    output: &Path,
    model: &str,
    steps: usize,
    lr: f64,
    quiet: bool,
) -> anyhow::Result<()> {
    use reprise::synth::{clone, render};
    if !((1..=MAX_STEPS).contains(&steps) && lr > 0.0 && lr < 10.0) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--steps {steps} must be 1–{MAX_STEPS} and --lr {lr} in (0, 10)"
        )));
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| reprise::Error::io(parent, e))?;
    }
    reprise::atomic_file::check_output(output, &[recording, notes])?;
    let rec = reprise::audio::decode::decode_file(recording)?;
    let score = midi::read_file(notes)?;
    let (audio, fit, offset) = clone::prepare(&rec, &score)
        .map_err(|e| reprise::Error::bad_file(recording, e.to_string()))?;
    let dir = reprise::model::resolve_model_dir(model)?;
    let net = render::load_network(&dir)?;
    let mut nearest: Option<(String, f64, reprise::synth::model::Timbre)> = None;
    for name in render::timbre_names(&dir) {
        let t = render::load_timbre(&render::timbre_path(&dir, &name), net.config())?;
        let loss = clone::fit_loss(&net, &t, &audio, &fit)?;
        if !quiet {
            eprintln!("  trained timbre {name:<12} loss {loss:.4}");
        }
        if nearest.as_ref().is_none_or(|n| loss < n.1) {
            nearest = Some((name, loss, t));
        }
    }
    let Some((name, before, init)) = nearest else {
        anyhow::bail!(reprise::Error::bad_file(
            &dir,
            "has no trained timbres to start from"
        ));
    };
    if !quiet {
        eprintln!(
            "{:.1} s of audio, {} notes, aligned by {offset:+.3} s; starting from {name}",
            rec.seconds(),
            fit.len()
        );
    }
    let bar = step_bar(quiet, "cloning", steps as u64);
    let started = std::time::Instant::now();
    let timbre = clone::clone_timbre(&net, &init, &audio, &fit, steps, lr, &mut |s, l| {
        bar.set_position(s as u64 + 1);
        bar.set_message(format!("loss {l:.4}"));
    })?;
    bar.finish_and_clear();
    let after = clone::fit_loss(&net, &timbre, &audio, &fit)?;
    timbre.save(output)?;
    if !quiet {
        eprintln!(
            "loss {before:.4} (nearest trained timbre, {name}) → {after:.4} (cloned) in {:.0} s; wrote {}",
            started.elapsed().as_secs_f64(),
            output.display()
        );
    }
    Ok(())
}

fn render_neural(
    input: &Path,
    output: &Path,
    model: &str,
    timbre: &str,
    opts: &RenderOptions,
    quiet: bool,
) -> anyhow::Result<()> {
    opts.validate()?;
    let score = midi::read_file(input)?;
    reprise::atomic_file::check_output(output, &[input])?;
    if score.notes.iter().all(|n| n.is_drum()) {
        return Err(reprise::Error::bad_file(input, "has no pitched notes to render").into());
    }
    if score.duration() > MAX_NEURAL_SECONDS {
        return Err(reprise::Error::bad_file(
            input,
            format!(
                "lasts {:.1} h: the neural synth renders in memory, at most {} min (use the SoundFont engine, which streams)",
                score.duration() / 3600.0,
                MAX_NEURAL_SECONDS / 60.0
            ),
        )
        .into());
    }
    let dir = reprise::model::resolve_model_dir(model)?;
    let path = reprise::synth::render::timbre_path(&dir, timbre);
    if !path.is_file() {
        let names = reprise::synth::render::timbre_names(&dir).join(", ");
        anyhow::bail!(reprise::Error::bad_file(
            &path,
            format!("no such timbre (the model has: {names})")
        ));
    }
    let engine = reprise::synth::render::NeuralEngine::load(&dir, timbre)?;
    let bar = progress_bar(quiet, "rendering (neural)");
    let mut audio = engine.render(&score, opts.sample_rate, &|f| {
        bar.set_position((f * 1000.0) as u64)
    })?;
    bar.finish_and_clear();
    for ch in [&mut audio.left, &mut audio.right] {
        ch.iter_mut().for_each(|v| *v *= opts.gain);
    }
    let stats = audio::write_wav(&audio, output)?;
    if !quiet {
        let peak_db = 20.0 * stats.peak.max(1e-9).log10();
        eprintln!(
            "wrote {} ({:.1} s, {} Hz, neural synth, timbre {}, peak {peak_db:.1} dBFS)",
            output.display(),
            audio.seconds(),
            audio.sample_rate,
            engine.timbre
        );
    }
    Ok(())
}

fn render(
    input: &Path,
    output: &Path,
    sf2: Option<&Path>,
    opts: &RenderOptions,
    quiet: bool,
) -> anyhow::Result<()> {
    opts.validate()?;
    let score = midi::read_file(input)?;
    let mut inputs = vec![input];
    inputs.extend(sf2);
    reprise::atomic_file::check_output(output, &inputs)?;
    if score.notes.is_empty() {
        return Err(reprise::Error::bad_file(input, "has no notes to render").into());
    }
    let sf = soundfont::load(sf2)?;
    let bar = progress_bar(quiet, "rendering");
    if !quiet && bar.is_hidden() {
        eprintln!(
            "rendering {} ({:.1} s of music)",
            input.display(),
            score.duration()
        );
    }
    let (seconds, stats) = audio::render_wav(&score, &sf, opts, output, &mut |f| {
        bar.set_position((f * 1000.0) as u64)
    })?;
    bar.finish_and_clear();
    if !quiet {
        let peak_db = 20.0 * stats.peak.max(1e-9).log10();
        eprintln!(
            "wrote {} ({seconds:.1} s, {} Hz stereo, peak {peak_db:.1} dBFS)",
            output.display(),
            opts.sample_rate
        );
    }
    if stats.clipped > 0 {
        eprintln!(
            "warning: {} samples clipped; try --gain {:.2}",
            stats.clipped,
            opts.gain / stats.peak
        );
    }
    Ok(())
}

/// A progress bar on a TTY (0–1000), hidden otherwise or when quiet.
fn progress_bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn info(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for path in files {
        match midi::read_file(path) {
            Ok(score) => print!("{}", midi::summary::describe(path, &score)),
            Err(e) => {
                eprintln!("reprise: {e}");
                failed += 1;
            }
        }
    }
    if files.len() > 1 {
        eprintln!("{} of {} files read", files.len() - failed, files.len());
    }
    if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn bench_render(
    midi_path: Option<&Path>,
    seconds: f64,
    sf2: Option<&Path>,
    repeats: usize,
    fluidsynth: bool,
) -> anyhow::Result<()> {
    if !(1.0..=3600.0).contains(&seconds) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--seconds {seconds} is out of range 1–3600"
        )));
    }
    let (score, timings) =
        reprise::bench::render_speed(midi_path, seconds, sf2, repeats, fluidsynth)?;
    println!(
        "render benchmark: {:.1} s of music, {} notes, {} channels, best of {repeats}, {} cores",
        score.duration(),
        score.notes.len(),
        {
            let mut ch: Vec<u8> = score.notes.iter().map(|n| n.channel).collect();
            ch.sort_unstable();
            ch.dedup();
            ch.len()
        },
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

/// A progress bar over `len` steps (hidden when quiet or not on a terminal).
fn step_bar(quiet: bool, msg: &str, len: u64) -> ProgressBar {
    let bar = progress_bar(quiet, msg);
    bar.set_length(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn train(opts: &reprise::train::TrainOptions, quiet: bool) -> anyhow::Result<()> {
    let total = opts.config.total_steps as u64;
    let bar = step_bar(quiet, "training", total);
    let (measure, unit, per) = match opts.config.model {
        reprise::train::ModelConfig::Synth(_) => ("STFT loss", "", "frames/s"),
        reprise::train::ModelConfig::Tagger(_) => ("NLL", " nats/beat", "beats/s"),
        _ => ("NLL", " nats/token", "tok/s"),
    };
    let state = reprise::train::train(opts, &mut |s| {
        bar.set_position(s.step as u64);
        if let Some(v) = s.valid_nll {
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
        } else {
            bar.set_message(format!("loss {:.3} {:.0} {per}", s.loss, s.tokens_per_s));
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

/// `eval --continuation`: the continuation report, a line per song on stderr, the table on stdout.
fn eval_continuation(
    model: &str,
    data: &Path,
    songs: Option<usize>,
    sampler: reprise::generate::SamplerConfig,
    key_guide: f32,
) -> anyhow::Result<()> {
    use reprise::generate::report::{continuation_report, ReportRequest};
    let start = std::time::Instant::now();
    let dir = reprise::model::resolve_model_dir(model)?;
    let m = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu)?;
    sampler.validate()?;
    reprise::generate::tasks::validate_key_guide(key_guide)?;
    let req = ReportRequest {
        songs,
        sampler,
        key_guide,
        ..Default::default()
    };
    let report = continuation_report(&m, data, &req, &mut |row| {
        let key = |m: &reprise::generate::report::Measured| {
            m.profile.key.map_or("no key".into(), |k| k.name())
        };
        eprintln!(
            "song {:03}: {} notes (real {}), key {} (real {}, primer {}), groove {:.2}, offset {:.2}",
            row.song,
            row.model.notes,
            row.real.notes,
            key(&row.model),
            key(&row.real),
            row.primer_key.map_or("no key".into(), |k| k.name()),
            row.model.profile.groove,
            row.model.profile.onset_offset
        );
    })?;
    println!("{}", report.table());
    println!(
        "{}: continuation report, seed {}, temperature {}, top-p {}, key guide {}, in {:.1} s",
        dir.display(),
        sampler.seed,
        sampler.temperature,
        sampler.top_p,
        key_guide,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn eval(model: &str, data: &Path, split: &str, theme_ablation: bool) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let dir = reprise::model::resolve_model_dir(model)?;
    use reprise::model::theme_transformer::{ThemeConfig, ThemeTask, ThemeTransformer};
    let tagger = reprise::model::chord_tagger::ChordTaggerConfig::load(&dir.join("config.json"));
    if tagger.is_ok() {
        let h = reprise::accompany::harmony::Harmonizer::load(&dir)?;
        let s = reprise::train::harmony::evaluate_harmonizer(&h, data, split)?;
        println!(
            "{}: {split} NLL {:.4} nats/beat over {} labelled beats ({} songs); the chords it names: root right on {:.1} %, pitch-class overlap {:.3}, {:.1} % of their tones in the annotated chord; each beat's likeliest chord: root right on {:.1} %, {:.1} % of its tones in the annotated chord ({:.1} s)",
            dir.display(),
            s.nll,
            s.beats,
            s.songs,
            100.0 * s.roots,
            s.overlap,
            100.0 * s.tone_share,
            100.0 * s.likeliest_roots,
            100.0 * s.likeliest_tone_share,
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if ThemeConfig::load(&dir.join("config.json")).is_ok() {
        let m = ThemeTransformer::load(&dir, &candle_core::Device::Cpu)?;
        if theme_ablation {
            let ((own, n), (other, _)) =
                reprise::train::theme::theme_ablation(&m, data, split, Some(100_000))?;
            let (scope, own_input, other_input) = match m.config().task {
                ThemeTask::Theme => (
                    "inside theme regions",
                    "song's own theme",
                    "next song's theme",
                ),
                ThemeTask::Accompany => (
                    "of the piano",
                    "window's own melody",
                    "next window's melody",
                ),
            };
            println!(
                "{}: {split} NLL {scope} ({n} tokens, windows of about 100 000 tokens in all): {own:.4} with each {own_input}, {other:.4} with the {other_input} ({:.1} s)",
                dir.display(),
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        let (nll, tokens, pieces) = reprise::train::theme::evaluate_split(&m, data, split)?;
        println!(
            "{}: {split} NLL {nll:.4} nats/token over {tokens} tokens ({pieces} pieces) in {:.1} s",
            dir.display(),
            start.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let m = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let seqs = reprise::train::dataset::load_split(m.config().vocab, data, split)?;
    let (nll, tokens) =
        reprise::train::evaluate(&m, &seqs, 8192, None).map_err(reprise::Error::tensor)?;
    let total = nll * tokens as f64;
    let per_unit = match reprise::pop909::bar_count(data, split) {
        Some(bars) if bars > 0 => format!(
            ", {:.2} nats/bar over {bars} annotated bars, {:.3} nats/second of music",
            total / bars as f64,
            total / seqs.seconds.max(1e-9)
        ),
        _ if seqs.seconds > 0.0 => format!(", {:.3} nats/second of music", total / seqs.seconds),
        _ => String::new(),
    };
    println!(
        "{}: {split} NLL {nll:.4} nats/token over {tokens} tokens ({} pieces){per_unit} in {:.1} s",
        dir.display(),
        seqs.seqs.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn theme_extract(
    song: &Path,
    output: Option<&Path>,
    eps: f64,
    min_points: usize,
) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&eps) || min_points < 2 {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--eps {eps} must be in [0, 1] and --min-points {min_points} at least 2"
        )));
    }
    if let Some(o) = output {
        reprise::atomic_file::check_output(o, &[song])?;
    }
    let score = midi::read_file(song)?;
    let settings = reprise::theme::Settings {
        eps,
        min_points,
        ..Default::default()
    };
    let downbeats = reprise::pop909::downbeats(song);
    let theme = reprise::theme::find_theme(&score, downbeats.as_deref(), &settings)
        .map_err(|e| reprise::Error::bad_file(song, e.to_string()))?;
    println!(
        "melody from {}, {} bars (bars from {})",
        theme.melody_source,
        theme.bars.len() - 1,
        if downbeats.is_some() {
            "beat_midi.txt downbeats"
        } else {
            "the time signatures"
        }
    );
    println!(
        "theme: bars {}–{}, found {} times; theme regions: bars {}",
        theme.bar + 1,
        theme.bar + reprise::theme::retrieval::SEGMENT_BARS,
        theme.occurrences,
        theme.describe_regions()
    );
    if let Some(o) = output {
        let t = theme.to_score(&score)?;
        midi::write_file(&t, o)?;
        println!("wrote {} ({} notes)", o.display(), t.notes.len());
    }
    Ok(())
}

/// `theme THEME.mid -o PIECE.mid` settings.
struct ThemeArgs {
    bars: usize,
    tempo: Option<f64>,
    sampler: reprise::generate::SamplerConfig,
    baseline: bool,
    theme_every: Option<usize>,
    guidance: f32,
}

fn theme_compose(theme: &Path, model: &str, args: &ThemeArgs, output: &Path) -> anyhow::Result<()> {
    use reprise::generate::theme::{compose, theme_melody, ComposeRequest};
    reprise::atomic_file::check_output(output, &[theme])?;
    let score = midi::read_file(theme)?;
    let (melody, note) =
        theme_melody(&score).map_err(|e| reprise::Error::bad_file(theme, e.to_string()))?;
    if let Some(n) = note {
        eprintln!("{n}");
    }
    let bpm = args.tempo.unwrap_or_else(|| score.tempo_map.bpm(0));
    if !(17.0..=400.0).contains(&bpm) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--tempo {bpm} must be 17–400 BPM"
        )));
    }
    let dir = reprise::model::resolve_model_dir(model)?;
    let m =
        reprise::model::theme_transformer::ThemeTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let req = ComposeRequest {
        bars: args.bars,
        bpm,
        sampler: args.sampler,
        conditioned: !args.baseline,
        cancel: None,
        theme_every: args.theme_every,
        guidance: args.guidance,
    };
    let bar = progress_bar(false, "composing");
    let mut tokens = 0u64;
    let piece = compose(&m, &melody, &req, &mut |_| {
        tokens += 1;
        if tokens.is_multiple_of(32) {
            bar.set_message(format!("composing ({tokens} tokens)"));
        }
    })?;
    bar.finish_and_clear();
    midi::write_file(&piece, output)?;
    eprintln!(
        "wrote {} ({} bars, {} notes, {:.1} s, seed {})",
        output.display(),
        args.bars,
        piece.notes.len(),
        piece.duration(),
        args.sampler.seed
    );
    Ok(())
}

fn theme_evaluate(
    model: &str,
    data: &Path,
    songs: usize,
    jobs: usize,
    req: &reprise::generate::theme::RecurrenceRequest,
) -> anyhow::Result<()> {
    use reprise::generate::theme::{recurrence_row, LATE_FROM_BAR};
    if !reprise::pop909::is_pop909(data) {
        anyhow::bail!(reprise::Error::bad_file(data, "is not a POP909 directory"));
    }
    if req.bars <= LATE_FROM_BAR + 1 {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--bars {} leaves no bars after bar {LATE_FROM_BAR} to count",
            req.bars
        )));
    }
    let mut list = reprise::pop909::songs(data, "valid")?;
    list.truncate(songs);
    let dir = reprise::model::resolve_model_dir(model)?;
    let m =
        reprise::model::theme_transformer::ThemeTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let started = std::time::Instant::now();
    let rows = reprise::threads::map(&list, jobs, |song| {
        let r = recurrence_row(&m, song, req);
        eprint!(".");
        r
    });
    eprintln!();
    println!(
        "recurrences of the theme after bar {LATE_FROM_BAR} (2-bar windows at distance ≤ {})",
        req.threshold
    );
    println!("song  theme bars  conditioned  baseline   closest after bar {LATE_FROM_BAR}: conditioned  baseline");
    let (mut c, mut b, mut n, mut c_any, mut b_any) = (0, 0, 0, 0, 0);
    for row in rows {
        let Some(r) = row? else { continue };
        println!(
            "{:03}   {:>3}–{:<3}    {:>11}  {:>8}   {:>32.3}  {:>8.3}",
            r.song,
            r.theme_bars.0,
            r.theme_bars.1,
            r.conditioned,
            r.baseline,
            r.closest.0,
            r.closest.1
        );
        n += 1;
        c += r.conditioned;
        b += r.baseline;
        c_any += usize::from(r.conditioned > 0);
        b_any += usize::from(r.baseline > 0);
    }
    if n == 0 {
        anyhow::bail!(reprise::Error::Invalid(
            "no theme found in the songs asked for".into()
        ));
    }
    println!(
        "{n} themes, {} bars each, {}, guidance {}: mean recurrences after bar {LATE_FROM_BAR} {:.2} conditioned vs {:.2} baseline; pieces with one or more: {c_any} vs {b_any} (seed {}, {:.0} s)",
        req.bars,
        match req.theme_every {
            Some(k) => format!("theme regions every {k} bars"),
            None => "theme regions chosen by the model".into(),
        },
        req.guidance,
        c as f64 / n as f64,
        b as f64 / n as f64,
        req.sampler.seed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn theme_report(
    piece: &Path,
    theme: &Path,
    threshold: f64,
    plot: Option<&Path>,
) -> anyhow::Result<()> {
    use reprise::generate::theme::{recurrences, theme_distances};
    let p = midi::read_file(piece)?;
    let t = midi::read_file(theme)?;
    let downbeats = reprise::pop909::downbeats(piece);
    let d = theme_distances(&p, &t, downbeats.as_deref());
    if d.is_empty() {
        anyhow::bail!(reprise::Error::Invalid(
            "no 2-bar melody windows to compare (is either file empty?)".into()
        ));
    }
    println!("bar  distance to the theme (0 = the theme, 1 = unrelated; ≤ {threshold} counts)");
    for (bar, &x) in d.iter().enumerate() {
        let width = ((1.0 - x.clamp(0.0, 1.0)) * 40.0).round() as usize;
        let mark = if x <= threshold { " ◀ theme" } else { "" };
        println!("{:>3}  {x:.3} {}{mark}", bar + 1, "█".repeat(width));
    }
    let all = recurrences(&d, 0, threshold);
    let late = recurrences(&d, 8, threshold);
    let bars = |v: &[usize]| {
        if v.is_empty() {
            return String::new();
        }
        let list: Vec<String> = v.iter().map(|b| (b + 1).to_string()).collect();
        format!(" (bars {})", list.join(", "))
    };
    println!(
        "theme recurs {} times{}; {} after bar 8{}",
        all.len(),
        bars(&all),
        late.len(),
        bars(&late)
    );
    if let Some(png) = plot {
        let points: Vec<(f64, f64)> = d
            .iter()
            .enumerate()
            .map(|(i, &x)| ((i + 1) as f64, x))
            .collect();
        reprise::train::plot::line_chart(
            png,
            &[reprise::train::plot::Series {
                points: &points,
                rgb: [200, 60, 40],
            }],
        )?;
        println!("wrote {}", png.display());
    }
    Ok(())
}

/// A seed from the clock, for runs without --seed.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `accompany MELODY.mid -o OUT.mid` settings.
struct AccompanyArgs {
    track: Option<usize>,
    samples: usize,
    chords: Option<PathBuf>,
    harmonizer: String,
    quiet: bool,
}

fn accompany_cmd(
    melody_file: &Path,
    model: &str,
    args: &AccompanyArgs,
    req: reprise::accompany::AccompanyRequest,
    output: &Path,
) -> anyhow::Result<()> {
    use reprise::ops::accompany::{accompany, Accompany, ChordSource, Progress};
    if !(1..=16).contains(&args.samples) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--samples {} must be 1–16",
            args.samples
        )));
    }
    let outputs = output_paths(output, args.samples);
    let mut inputs = vec![melody_file];
    inputs.extend(args.chords.as_deref());
    for p in &outputs {
        reprise::atomic_file::check_output(p, &inputs)?;
    }
    let model_dir = reprise::model::resolve_model_dir(model)?;
    if args.chords.is_some() {
        let cfg =
            reprise::model::theme_transformer::ThemeConfig::load(&model_dir.join("config.json"))?;
        if !cfg.chords {
            anyhow::bail!(reprise::Error::Invalid(format!(
                "--chords: the model in {} reads no chords",
                model_dir.display()
            )));
        }
    }
    let action = Accompany {
        song: midi::read_file(melody_file)?,
        origin: melody_file.to_path_buf(),
        model_dir,
        track: args.track,
        chords: match &args.chords {
            Some(file) => ChordSource::File(file.clone()),
            None => ChordSource::Harmonizer(args.harmonizer.clone()),
        },
        samples: args.samples,
        request: req,
    };
    let bar = progress_bar(args.quiet, "accompanying");
    let out = accompany(&action, &mut |p| match p {
        Progress::Melody(_) => {}
        Progress::Bar { sample, done, all } => bar.set_message(format!(
            "accompanying (sample {} of {}, bar {done} of {all})",
            sample + 1,
            args.samples
        )),
    })?;
    bar.finish_and_clear();
    midi::write_files(&out.scores, &outputs)?;
    if args.quiet {
        return Ok(());
    }
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
    Ok(())
}

/// `accompany --report` settings besides generation.
struct ReportOptions {
    bars: Option<usize>,
    jobs: usize,
    per_song: bool,
    annotated_chords: bool,
    harmonizer: String,
}

fn accompany_report(
    model: &str,
    data: &Path,
    opts: &ReportOptions,
    accompany: reprise::accompany::AccompanyRequest,
) -> anyhow::Result<()> {
    let (bars, jobs, per_song) = (opts.bars, opts.jobs, opts.per_song);
    use reprise::accompany::report::{report, table, ReportChords, ReportRequest, SongFit};
    if !reprise::pop909::is_pop909(data) {
        anyhow::bail!(reprise::Error::bad_file(data, "is not a POP909 directory"));
    }
    if bars == Some(0) {
        anyhow::bail!(reprise::Error::Invalid("--bars must be at least 1".into()));
    }
    let songs = reprise::pop909::songs(data, "valid")?;
    let dir = reprise::model::resolve_model_dir(model)?;
    let m =
        reprise::model::theme_transformer::ThemeTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let chords = match (m.config().chords, opts.annotated_chords) {
        (false, true) => anyhow::bail!(reprise::Error::Invalid(format!(
            "--annotated-chords: the model in {} reads no chords",
            dir.display()
        ))),
        (false, false) => ReportChords::None,
        (true, true) => ReportChords::Annotated,
        (true, false) => {
            let h_dir = reprise::model::resolve_model_dir(&opts.harmonizer)?;
            ReportChords::Harmonizer(reprise::accompany::harmony::Harmonizer::load(&h_dir)?)
        }
    };
    let chords_said = chords.describe();
    let req = ReportRequest {
        bars,
        accompany,
        jobs,
        chords,
    };
    let started = std::time::Instant::now();
    let pct = |x: f64| 100.0 * x;
    let show = |f: &SongFit| {
        if per_song {
            println!(
                "song {:03}: {} bars; chord tones {:.1} / {:.1} / {:.1} %; aligned {:.0} / {:.0} / {:.0} % (original / Reprise / random)",
                f.number,
                f.bars,
                pct(f.original.chord_tone_share()),
                pct(f.reprise.chord_tone_share()),
                pct(f.baseline.chord_tone_share()),
                pct(f.original.onset_alignment()),
                pct(f.reprise.onset_alignment()),
                pct(f.baseline.onset_alignment()),
            );
        } else {
            eprint!(".");
        }
    };
    let fits = report(&m, &songs, &req, &show)?;
    eprintln!();
    print!("{}", table(&fits));
    println!(
        "(songs {:03}–{:03}, {}, {chords_said}, temperature {}, top-p {}, guidance {}, seed {}, {:.0} s)",
        songs.first().map_or(0, |s| s.number),
        songs.last().map_or(0, |s| s.number),
        match bars {
            Some(n) => format!("the first {n} bars from each song's first melody note"),
            None => "each song from its first melody note to its last".into(),
        },
        req.accompany.sampler.temperature,
        req.accompany.sampler.top_p,
        req.accompany.guidance,
        req.accompany.sampler.seed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn list_devices_cmd() -> anyhow::Result<ExitCode> {
    let names = reprise::audio::device::list();
    if names.is_empty() {
        anyhow::bail!(reprise::Error::Invalid(
            reprise::audio::device::NO_DEVICE.into()
        ));
    }
    for n in names {
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn play_cmd(file: &Path, out: &AudioOutArgs, from: f64, quiet: bool) -> anyhow::Result<()> {
    use reprise::audio::playback::{PlayOptions, Player};
    if !from.is_finite() || from < 0.0 {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--from {from} must be ≥ 0"
        )));
    }
    let score = midi::read_file(file)?;
    let sf = reprise::audio::soundfont::load(out.soundfont.as_deref())?;
    let output = reprise::audio::device::open_output(out.device.as_deref())?;
    let opts = PlayOptions {
        from_seconds: from,
        ..Default::default()
    };
    let player = Player::start(&score, &sf, output, opts)?;
    let length = score.duration();
    let stopped = reprise::console::run(&player, || length, quiet);
    let at = player.position();
    let stats = player.stop();
    if !quiet {
        eprintln!(
            "{} {} ({} messages, {} late, {} underruns)",
            if stopped { "stopped at" } else { "played" },
            reprise::console::clock(if stopped { at } else { length }),
            stats.delivered,
            stats.late_events,
            stats.underruns
        );
    }
    Ok(())
}

fn play_neural(
    file: &Path,
    out: &AudioOutArgs,
    model: &str,
    timbre: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    use reprise::audio::playback::StreamPlayer;
    let score = midi::read_file(file)?;
    if score.notes.iter().all(|n| n.is_drum()) {
        anyhow::bail!(reprise::Error::bad_file(
            file,
            "has no pitched notes to play"
        ));
    }
    let dir = reprise::model::resolve_model_dir(model)?;
    let engine = reprise::synth::render::NeuralEngine::load(&dir, timbre)?;
    let output = reprise::audio::device::open_output(out.device.as_deref())?;
    let length = score.duration();
    let player = StreamPlayer::start(output, 1.0, move |rate, push| {
        engine.stream(&score, rate, push)
    })?;
    let stopped = reprise::console::run(&player, || length, quiet);
    let at = player.transport().position();
    let stats = player.stop()?;
    if !quiet {
        eprintln!(
            "{} {} (neural synth, {} underruns)",
            if stopped { "stopped at" } else { "played" },
            reprise::console::clock(at),
            stats.underruns
        );
    }
    Ok(())
}

/// The primer of `continue` and how to use it.
/// The model `continue` (with a primer) or `generate` (without) uses when none is named: the chorale
/// model for four chorale voices, the beat-aware piano model for anything else.
fn default_model(primer: Option<&Score>) -> &'static str {
    let voices = |s: &Score| {
        s.tracks
            .iter()
            .filter(|t| matches!(t.role, reprise::midi::TrackRole::Voice(_)))
            .count()
    };
    match primer {
        Some(s) if voices(s) < 2 => "pop909-beat",
        _ => "jsb-chorales",
    }
}

/// The longest piece the neural synth renders (in memory: about 350 MB of samples per hour at
/// 44.1 kHz stereo).
const MAX_NEURAL_SECONDS: f64 = 3600.0;

/// The most tokens (`generate --steps`) or Adam steps (`clone-timbre --steps`) one command takes.
const MAX_STEPS: usize = 100_000;

struct PrimerArgs<'a> {
    path: &'a Path,
    score: &'a Score,
    seconds: f64,
    only_new: bool,
    report: bool,
}

fn generate_cmd(primer: Option<PrimerArgs>, bpm: f64, gen: &GenArgs) -> anyhow::Result<()> {
    use reprise::generate::tasks::{self, GenEvent, Length, Request};
    use reprise::generate::SamplerConfig;
    if !(10.0..=400.0).contains(&bpm) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--tempo {bpm} must be 10–400 BPM"
        )));
    }
    let seed = gen.seed.unwrap_or_else(clock_seed);
    let mut sampler = SamplerConfig {
        temperature: gen.temperature,
        top_k: gen.top_k,
        top_p: gen.top_p.unwrap_or(1.0),
        seed,
    };
    sampler.validate()?;
    reprise::generate::tasks::validate_key_guide(gen.key_guide)?;
    let length = match (gen.steps, gen.seconds) {
        (Some(n), _) if !(1..=MAX_STEPS).contains(&n) => {
            anyhow::bail!(reprise::Error::Invalid(format!(
                "--steps {n} must be 1–{MAX_STEPS}"
            )))
        }
        (Some(n), _) => Length::Tokens(n),
        (None, s) => Length::Seconds(s.unwrap_or(20.0)),
    };
    let outputs = output_paths(&gen.output, gen.samples);
    let inputs: Vec<&Path> = primer.iter().map(|p| p.path).collect();
    for p in &outputs {
        reprise::atomic_file::check_output(p, &inputs)?;
    }
    let name = gen
        .model
        .clone()
        .unwrap_or_else(|| default_model(primer.as_ref().map(|p| p.score)).into());
    let dir = reprise::model::resolve_model_dir(&name)?;
    let model = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu)?;
    if model.config().vocab == reprise::model::VocabKind::Remi {
        sampler.top_p = gen
            .top_p
            .unwrap_or(reprise::generate::tasks::DEFAULT_BEAT_TOP_P);
    }
    let report = primer
        .as_ref()
        .filter(|p| p.report)
        .map(|p| p.score.clone());
    if report.is_some() && model.config().vocab == reprise::model::VocabKind::Grid {
        anyhow::bail!(reprise::Error::Invalid(
            "--report is for piano models (pop909-beat, pop909-piano)".into()
        ));
    }
    let base = primer
        .as_ref()
        .map_or_else(|| Score::new(480, 500_000), |p| Ok(p.score.clone()))?;
    let player = if gen.play {
        Some(start_live(&base, &gen.audio)?)
    } else {
        None
    };
    let mut feed = player.as_ref().map(reprise::live::LiveFeed::new);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if gen.play {
        // Ctrl-C during generation: stop generating, then playback, cleanly.
        reprise::console::catch_interrupt();
        let c = cancel.clone();
        std::thread::spawn(move || loop {
            if reprise::console::was_interrupted() {
                c.store(true, std::sync::atomic::Ordering::Release);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
    }
    let req = Request {
        length,
        sampler,
        samples: gen.samples,
        bpm,
        primer_seconds: primer.as_ref().map_or(20.0, |p| p.seconds),
        only_new: primer.as_ref().is_some_and(|p| p.only_new),
        cancel: Some(cancel),
        key_guide: gen.key_guide,
    };
    let bar = progress_bar(gen.quiet, "generating");
    let (mut drawn, mut notes, mut latest) = (0u64, 0u64, 0f64);
    let out = tasks::run(&model, primer.map(|p| p.score), &req, &mut |i, e| {
        if let (0, Some(f)) = (i, feed.as_mut()) {
            f.on_event(e);
        }
        match e {
            GenEvent::Token(_) => drawn += 1,
            GenEvent::Note {
                event: reprise::tokens::NoteEvent::On { time, .. },
                ..
            } => {
                notes += 1;
                latest = latest.max(time);
            }
            GenEvent::Note { .. } => {}
        }
        if drawn.is_multiple_of(16) {
            let so_far = if notes > 0 {
                format!(", {notes} notes, up to {latest:.1} s")
            } else {
                String::new()
            };
            bar.set_message(format!("generating ({drawn} tokens{so_far})"));
        }
    })?;
    bar.finish_and_clear();
    if !gen.quiet {
        for n in &out.notes {
            eprintln!("{n}");
        }
    }
    midi::write_files(&out.scores, &outputs)?;
    for (score, path) in out.scores.iter().zip(&outputs) {
        if !gen.quiet {
            eprintln!(
                "wrote {} ({:.1} s, seed {seed})",
                path.display(),
                score.duration()
            );
        }
        if let Some(primer) = &report {
            let check = reprise::generate::report::check_continuation(primer, score)?;
            println!("{}", check.line());
        }
    }
    let streamed = feed.as_ref().map_or(0, |f| f.appended());
    drop(feed);
    if let Some(player) = player {
        finish_live(player, &base, &out.scores[0], streamed, gen.quiet);
    }
    Ok(())
}

/// Starts playing `base` (the primer) from two seconds before its end; the continuation is appended
/// as it is generated, and the playhead waits where the music does not exist yet.
fn start_live(
    base: &Score,
    audio: &AudioOutArgs,
) -> anyhow::Result<reprise::audio::playback::Player> {
    use reprise::audio::playback::{PlayOptions, Player};
    let sf = reprise::audio::soundfont::load(audio.soundfont.as_deref())?;
    let output = reprise::audio::device::open_output(audio.device.as_deref())?;
    let end = base.duration();
    let opts = PlayOptions {
        from_seconds: (end - 2.0).max(0.0),
        streaming: true,
        hold_seconds: end,
        gain: 1.0,
    };
    Ok(Player::start(base, &sf, output, opts)?)
}

/// After generation: notes that were not streamed (chorale models) are appended, then the music plays
/// to its end (or until the user stops it).
fn finish_live(
    player: reprise::audio::playback::Player,
    base: &Score,
    output: &Score,
    streamed: usize,
    quiet: bool,
) {
    if streamed == 0 {
        let end = base.duration();
        let mut rest = output.clone();
        rest.notes.retain(|n| n.start >= end - 1e-6);
        player.append(&rest, rest.duration());
    }
    player.complete();
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

/// `out.mid` for one sample; `out-1.mid` … `out-N.mid` for several.
fn output_paths(output: &Path, samples: usize) -> Vec<PathBuf> {
    if samples <= 1 {
        return vec![output.to_path_buf()];
    }
    let stem = output
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let ext = output
        .extension()
        .map_or("mid".into(), |e| e.to_string_lossy().into_owned());
    (1..=samples)
        .map(|i| output.with_file_name(format!("{stem}-{i}.{ext}")))
        .collect()
}

fn bench_synth(model: &str, config: Option<&Path>, seconds: f64) -> anyhow::Result<()> {
    if !(0.5..=60.0).contains(&seconds) {
        anyhow::bail!(reprise::Error::Invalid(format!(
            "--seconds {seconds} must be 0.5–60"
        )));
    }
    let (engine, what) = match config {
        Some(path) => {
            let cfg = reprise::train::TrainConfig::load(path)?;
            let reprise::train::ModelConfig::Synth(sc) = cfg.model else {
                anyhow::bail!(reprise::Error::bad_file(
                    path,
                    "is not a synth training config"
                ));
            };
            (
                reprise::synth::render::NeuralEngine::untrained(&sc)?,
                format!("{} (untrained weights of this shape)", path.display()),
            )
        }
        None => {
            let dir = reprise::model::resolve_model_dir(model)?;
            let names = reprise::synth::render::timbre_names(&dir);
            let Some(first) = names.first() else {
                anyhow::bail!(reprise::Error::bad_file(&dir, "has no timbres"));
            };
            (
                reprise::synth::render::NeuralEngine::load(&dir, first)?,
                format!("{} (timbre {first})", dir.display()),
            )
        }
    };
    println!("neural synth streaming speed, one core: {what}");
    for voices in [1usize, 16] {
        let rtf = reprise::bench::synth_speed(&engine, voices, seconds);
        println!("  {voices:>2} voice(s): {rtf:8.1}× real time");
    }
    Ok(())
}

fn bench_decode(model: &str, tokens: usize, uncached: usize) -> anyhow::Result<()> {
    if tokens < 200 || uncached == 0 {
        anyhow::bail!(reprise::Error::Invalid(
            "--tokens must be at least 200 and --uncached-tokens at least 1".into()
        ));
    }
    let dir = reprise::model::resolve_model_dir(model)?;
    let m = reprise::model::MusicTransformer::load(&dir, &candle_core::Device::Cpu)?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
    let s = reprise::bench::decode_speed(&m, tokens, uncached)?;
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
