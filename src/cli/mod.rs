//! The command line: one file per command, each mapping its arguments to a typed request of the
//! use-case layer (`reprise::ops`) and printing the result. Nothing here decides anything about
//! music; it names flags in messages and draws progress bars.

mod accompany;
mod args;
mod bench;
pub mod common;
mod generate;
mod harmonize;
mod infill;
mod live;
mod play;
mod record;
mod render;
mod theme;
mod timbre;
mod tokenize;
mod train;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Continue, accompany and develop MIDI, and render it, from the terminal.
///
/// With no command on a terminal, opens the terminal UI (`reprise tui`).
#[derive(Parser)]
#[command(name = "reprise", version)]
pub struct Cli {
    /// The command (none: the terminal UI).
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Every command.
#[derive(Subcommand)]
pub enum Cmd {
    /// Render a MIDI file to a stereo 16-bit WAV with a SoundFont (the built-in General MIDI bank
    /// by default) or the neural synth.
    Render(render::RenderArgs),
    /// Learn a new timbre for the neural synth from a short recording (its notes given with
    /// --notes, or transcribed from a one-voice recording); the network stays frozen, only the
    /// timbre's initial states are tuned.
    CloneTimbre(timbre::CloneArgs),
    /// Measure the neural synth against the SoundFont: the STFT distance of every shipped timbre on
    /// unseen notes of each program, and for the two held-out programs the nearest trained timbre
    /// against a timbre cloned from a recording (with the cloning time).
    SynthEval(timbre::SynthEvalArgs),
    /// Describe MIDI files: tracks, programs, notes, duration, tempo, time signatures.
    Info {
        /// One or more MIDI files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the installed models: name, architecture, folder.
    Models,
    /// List the MIDI input and output ports (keyboards, synths, DAWs), with the index and name
    /// `--input` and `--midi-out` take.
    Ports,
    /// The terminal UI: piano roll, parameters, continue/generate/accompany/theme with the models,
    /// play, render, save.
    ///
    /// Press ? inside for the keys.
    Tui {
        /// A MIDI file to open.
        file: Option<PathBuf>,
        /// Audio output for playback: part of a device name, or `null` (a silent clock).
        #[arg(long)]
        device: Option<String>,
        /// The keyboard `r` records from: a MIDI input (index, part of a name, `virtual:NAME`) or a
        /// MIDI file played as one.
        #[arg(long)]
        midi_in: Option<String>,
        /// The MIDI output "play to: MIDI" sends to (index, part of a name, `virtual:NAME`).
        #[arg(long)]
        midi_out: Option<String>,
    },
    /// Themes: grow a piece from a theme (`compose`), find a song's theme (`extract`), measure how
    /// often a theme recurs in a piece (`report`) or over POP909's validation songs (`evaluate`).
    #[command(subcommand)]
    Theme(theme::ThemeCmd),
    /// Accompany a melody: write a piano part that fits it, on the melody's tempo map; or measure
    /// the accompaniment model on POP909's validation songs (`--report --data DIR`).
    Accompany(accompany::AccompanyArgs),
    /// Play a MIDI file through the system's audio.
    ///
    /// Keys: space pauses, ←/→ seek 5 s, q (or Esc, Ctrl-C) stops with all notes off.
    Play(play::PlayArgs),
    /// Call and response: play a phrase on a MIDI keyboard, pause, and Reprise answers in your key
    /// and tempo (through the synthesizer or a MIDI output); play again to interrupt it.
    Live(live::LiveArgs),
    /// Record a phrase from a MIDI keyboard to a MIDI file, to a count-in and a metronome.
    Record(record::RecordArgs),
    /// Continue a MIDI file with a model; the output holds the primer followed by the new music.
    ///
    /// Chorale (grid) models read the primer as four voices. Piano (performance) models take any
    /// General MIDI file: drums are left out, other parts are folded to piano for the prompt, and
    /// the new music is a piano track on the primer's tempo map.
    Continue(generate::ContinueArgs),
    /// Generate music from nothing with a model.
    Generate(generate::GenerateArgs),
    /// Regenerate a span of a piano piece (--bars 5-8, or --from/--to): new notes that lead from
    /// the music before the span into the music after it; every note outside it is kept.
    Infill(infill::InfillArgs),
    /// Harmonize a melody in four parts (alto, tenor, bass under it), or rewrite the voices of a
    /// chorale that --keep does not name; the given voices are kept as they are.
    Harmonize(harmonize::HarmonizeArgs),
    /// Train a model from a JSON config on a data set, or fine-tune one (--init) on a folder of
    /// MIDI files; checkpoints, logs and the best model with its card go to --out.
    Train(train::TrainArgs),
    /// Tokenise a folder of MIDI files (or POP909) once into token shards that `train --data`
    /// reads.
    Tokenize(tokenize::TokenizeArgs),
    /// Mean negative log-likelihood per token (nats) of a model on a data split, or the piano
    /// continuation report.
    Eval(train::EvalArgs),
    /// Measure speed.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (reprise.1 and one per command) into a folder.
    Man {
        /// The folder.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// The command to run when none is given: the TUI on a terminal, else `None` (print help).
pub fn default_command() -> Option<Cmd> {
    (std::io::stdout().is_terminal() && std::io::stdin().is_terminal()).then_some(Cmd::Tui {
        file: None,
        device: None,
        midi_in: None,
        midi_out: None,
    })
}

/// Token-by-token generation is made of small tensor ops, which candle runs faster on one thread
/// than on two here (`reprise bench decode`: 1468 vs 614 tokens/s). Generation therefore defaults
/// to `RAYON_NUM_THREADS=1` unless the user set it. Must run before any tensor work starts threads.
pub fn prefer_one_thread() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// Runs one command.
pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Render(a) => render::run(a)?,
        Cmd::CloneTimbre(a) => timbre::clone_timbre(a)?,
        Cmd::SynthEval(a) => timbre::synth_eval(a)?,
        Cmd::Info { files } => return Ok(info(&files)),
        Cmd::Models => models(),
        Cmd::Ports => ports()?,
        Cmd::Tui {
            file,
            device,
            midi_in,
            midi_out,
        } => tui(
            file,
            device,
            reprise::tui::types::Ports { midi_in, midi_out },
        )?,
        Cmd::Theme(t) => theme::run(t)?,
        Cmd::Accompany(a) => {
            prefer_one_thread();
            accompany::run(a)?
        }
        Cmd::Play(a) => return play::run(a),
        Cmd::Record(a) => record::run(a)?,
        Cmd::Live(a) => {
            prefer_one_thread();
            live::run(a)?
        }
        Cmd::Continue(a) => {
            prefer_one_thread();
            generate::continue_cmd(a)?
        }
        Cmd::Generate(a) => {
            prefer_one_thread();
            generate::generate_cmd(a)?
        }
        Cmd::Infill(a) => {
            prefer_one_thread();
            infill::run(a)?
        }
        Cmd::Harmonize(a) => {
            prefer_one_thread();
            harmonize::run(a)?
        }
        Cmd::Train(a) => train::train(a)?,
        Cmd::Tokenize(a) => tokenize::run(a)?,
        Cmd::Eval(a) => train::eval(a)?,
        Cmd::Bench(b) => bench::run(b)?,
        Cmd::Completions { shell } => clap_complete::generate(
            shell,
            &mut Cli::command(),
            "reprise",
            &mut std::io::stdout(),
        ),
        Cmd::Man { output } => man(&output)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn info(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for path in files {
        match reprise::midi::read_file(path) {
            Ok(score) => print!("{}", reprise::midi::summary::describe(path, &score)),
            Err(e) => {
                eprintln!("reprise: {e}");
                failed += 1;
            }
        }
    }
    if files.len() > 1 {
        eprintln!("{} of {} files read", files.len() - failed, files.len());
    }
    ExitCode::from(if failed > 0 { 2 } else { 0 })
}

fn models() {
    for m in reprise::ops::models::discover() {
        println!(
            "{:<16} {:<40} {}",
            m.name,
            m.architecture.describe(),
            m.dir.display()
        );
    }
}

/// `ports`: the MIDI inputs and outputs, numbered.
fn ports() -> anyhow::Result<()> {
    let list = reprise::ports::system::list()?;
    for (title, names) in [
        ("MIDI inputs", &list.inputs),
        ("MIDI outputs", &list.outputs),
    ] {
        println!("{title}:");
        if names.is_empty() {
            println!("  (none)");
        }
        for (i, name) in names.iter().enumerate() {
            println!("  {i:>2}  {name}");
        }
    }
    Ok(())
}

fn tui(
    file: Option<PathBuf>,
    device: Option<String>,
    ports: reprise::tui::types::Ports,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(reprise::Error::Invalid(
            "the terminal UI needs a terminal (stdout is not one)".into()
        ));
    }
    Ok(reprise::tui::run(file, device, ports)?)
}

/// `reprise.1` and `reprise-COMMAND.1` for every command, from the same definitions as `--help`.
fn man(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| reprise::Error::io(dir, e))?;
    let cmd = Cli::command();
    let mut pages = vec![("reprise".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("reprise-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .map_err(|e| reprise::Error::io(&path, e))?;
        reprise::atomic_file::write_atomic(&path, |w| {
            std::io::Write::write_all(w, &text).map_err(|e| reprise::Error::io(&path, e))
        })?;
    }
    eprintln!("wrote the man pages to {}", dir.display());
    Ok(())
}
