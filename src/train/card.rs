//! The `MODEL_CARD.md` a run writes beside its exported best model: what it was trained on, how
//! (the command and schedule), for how long, and its validation NLL before and after — the facts a
//! musician needs to trust or discard a model they trained on their own music.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::{ModelConfig, RunState, Stop, TrainOptions};
use crate::error::{Error, Result};

/// The card's file name in a model folder.
pub const FILE: &str = "MODEL_CARD.md";

/// Writes the card of the run (`opts`, where it stands: `state`, its data: `data`) into the
/// model folder `dir` (all-or-nothing).
pub fn write(dir: &Path, opts: &TrainOptions, state: &RunState, data: &str) -> Result<()> {
    let text = render(opts, state, data);
    let path = dir.join(FILE);
    crate::atomic_file::write_atomic(&path, |w| {
        w.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, e))
    })
}

/// The card's text.
pub fn render(opts: &TrainOptions, state: &RunState, data: &str) -> String {
    let name = opts
        .out
        .file_name()
        .map_or("model".into(), |n| n.to_string_lossy().into_owned());
    let mut s = format!("# {name}\n\n");
    let what = match &opts.config.model {
        ModelConfig::Music(m) => format!(
            "A Music Transformer ({} vocabulary, {} layers, d_model {}, context {} tokens)",
            m.vocab.name(),
            m.n_layers,
            m.d_model,
            m.max_len
        ),
        ModelConfig::Theme(_) => "A Theme Transformer".into(),
        ModelConfig::Synth(_) => "A neural synth".into(),
        ModelConfig::Tagger(_) => "A chord tagger".into(),
        ModelConfig::Filler(_) => "A chorale voice filler".into(),
    };
    let origin = match &state.init {
        Some(init) => format!("fine-tuned from `{}`", init.display()),
        None => "trained from random weights".into(),
    };
    let _ = writeln!(s, "{what}, {origin} by `reprise train`.\n");
    let _ = writeln!(
        s,
        "## Data\n\n`{}`\n\n```\n{}\n```\n",
        opts.data.display(),
        data.trim()
    );
    let _ = writeln!(s, "## Training\n\n```sh\n{}\n```\n", opts.command.trim());
    s.push_str(&schedule(opts));
    s.push_str(&results(state));
    s
}

fn schedule(opts: &TrainOptions) -> String {
    let c = &opts.config;
    let patience = match c.patience {
        0 => "no early stopping".to_string(),
        p => format!("early stopping after {p} validations without a new best"),
    };
    let infill = match c.infill {
        x if x > 0.0 => format!(
            ", {:.0} % of the crops in fill-in-the-middle order (`train::infill`)",
            100.0 * x
        ),
        _ => String::new(),
    };
    format!(
        "AdamW, peak LR {:e} after {} warm-up steps, {}, batches of {} tokens, crops of {}{infill}, \
         transposition ±{}, validation every {} steps on up to {} tokens, {patience}; at most {} steps.\n\n",
        c.lr,
        c.warmup_steps,
        if c.min_lr_ratio >= 1.0 { "constant after".to_string() } else { format!("cosine to {:e}", c.lr * c.min_lr_ratio) },
        c.batch_tokens,
        c.crop_len,
        c.transpose,
        if c.valid_every > 0 { c.valid_every.to_string() } else { "epoch's end".into() },
        if c.valid_tokens > 0 { c.valid_tokens.to_string() } else { "all".into() },
        c.total_steps,
    )
}

fn results(state: &RunState) -> String {
    let nll = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.4}"));
    let stop = match state.stop {
        Stop::Finished => "ran all its steps",
        Stop::Running => "is still training (this is its best model so far)",
        Stop::EarlyStopped => "stopped early: validation had stopped improving",
        Stop::OutOfTime => "paused at its time limit (resumable with `--resume`)",
        Stop::Interrupted => "interrupted (resumable with `--resume`)",
    };
    let mut s = String::from("## Results\n\n| | |\n|---|---|\n");
    let _ = writeln!(
        s,
        "| steps run | {} (epoch {}); the run {stop} |",
        state.step, state.epoch
    );
    let _ = writeln!(s, "| wall time | {:.1} min |", state.elapsed_s / 60.0);
    if state.initial_valid_nll.is_some() {
        let _ = writeln!(
            s,
            "| validation NLL before (the `--init` model) | {} nats/token |",
            nll(state.initial_valid_nll)
        );
    }
    let _ = writeln!(
        s,
        "| validation NLL of this model (step {}) | {} nats/token |",
        state.best_step,
        nll(state.best_valid_nll)
    );
    s.push_str("\nThe NLL is the mean per predicted token on the validation split, the same windows before \
and after (`reprise eval --model DIR --data DATA` scores the whole split).\n");
    s
}
