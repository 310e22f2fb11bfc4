//! `reprise render`: a MIDI file to a WAV with either engine.

use std::path::PathBuf;

use reprise::audio::RenderOptions;
use reprise::ops::render::{check, render, Render};

use super::args::EngineArgs;
use super::common::{progress_bar, within};

/// Render a MIDI file to a stereo 16-bit WAV with a SoundFont (the built-in General MIDI bank by
/// default) or the neural synth.
#[derive(clap::Args)]
pub struct RenderArgs {
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
    #[arg(long, default_value_t = 1.0, value_parser = within(0.0f32, 100.0))]
    gain: f32,
    /// Render threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_parser = within(0usize, 1024))]
    threads: usize,
    #[command(flatten)]
    synth: EngineArgs,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Renders and reports the file, its level and any clipping.
pub fn run(a: RenderArgs) -> anyhow::Result<()> {
    let req = Render {
        score: reprise::midi::read_file(&a.input)?,
        origin: Some(a.input.clone()),
        output: a.output.clone(),
        voice: a.synth.voice(a.soundfont.clone()),
        options: RenderOptions {
            sample_rate: a.sample_rate,
            gain: a.gain,
            threads: a.threads,
            ..Default::default()
        },
    };
    check(&req)?;
    let bar = progress_bar(a.quiet, &format!("rendering ({})", req.voice.describe()));
    // Said once the engine has loaded and the first block is on its way, so a bad SoundFont or
    // timbre still gets its one-line error alone.
    let mut announce = (!a.quiet && bar.is_hidden()).then(|| {
        format!(
            "rendering {} ({:.1} s of music)",
            a.input.display(),
            req.score.duration()
        )
    });
    let done = render(&req, &mut |f| {
        if let Some(line) = announce.take() {
            eprintln!("{line}");
        }
        bar.set_position((f * 1000.0) as u64)
    })?;
    bar.finish_and_clear();
    if !a.quiet {
        eprintln!(
            "wrote {} ({:.1} s, {} Hz stereo, {}, peak {:.1} dBFS)",
            done.path.display(),
            done.seconds,
            done.sample_rate,
            done.engine,
            done.peak_db
        );
    }
    if let Some(gain) = done.fitting_gain {
        eprintln!(
            "warning: {} samples clipped; try --gain {gain:.2}",
            done.clipped
        );
    }
    Ok(())
}
