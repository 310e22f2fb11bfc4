//! `reprise tokenize`: a corpus tokenised once into shards that `reprise train --data` reads.

use std::path::{Path, PathBuf};

use reprise::model::VocabKind;

use super::common::within;
use super::train::loading_reporter;

/// Tokenise a folder of MIDI files (or POP909) once into token shards with a manifest; `reprise
/// train --data SHARDS` then starts at once, and a distributed trainer reads the same shards.
#[derive(clap::Args)]
pub struct TokenizeArgs {
    /// The data: any folder of MIDI files (searched recursively), or the POP909 directory.
    data: PathBuf,
    /// The vocabulary to write, from a model (a name such as pop909-beat, or a folder), a model's
    /// config.json, or a training config.
    #[arg(long)]
    model_config: String,
    /// The new folder for the shards and their manifest.json.
    #[arg(short, long)]
    output: PathBuf,
    /// A plain folder of MIDI files: the share of its files held out for validation (as `train
    /// --valid-share`).
    #[arg(long, value_parser = within(0.0f64, 0.9))]
    valid_share: Option<f64>,
    /// List every skipped file and why.
    #[arg(long)]
    verbose: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Tokenises and reports the shards written.
pub fn run(a: TokenizeArgs) -> anyhow::Result<()> {
    let kind = vocab_of(&a.model_config)?;
    let share = a
        .valid_share
        .unwrap_or(reprise::train::folder::DEFAULT_VALID_SHARE);
    let report = loading_reporter(a.quiet, a.verbose, "tokenising");
    let m = reprise::train::dataset::tokenize(&a.data, kind, share, &a.output, &*report)?;
    if !a.quiet {
        for (name, s) in &m.splits {
            println!(
                "{name}: {} pieces, {} tokens, {:.2} h in {} shard(s)",
                s.pieces,
                s.tokens,
                s.seconds / 3600.0,
                s.shards.len()
            );
        }
        println!("{} ({} vocabulary)", a.output.display(), kind.name());
    }
    Ok(())
}

/// The vocabulary named by a model, a model's config.json, or a training config.
fn vocab_of(spec: &str) -> anyhow::Result<VocabKind> {
    let path = Path::new(spec);
    let file = if path.is_file() {
        path.to_path_buf()
    } else {
        reprise::model::resolve_model_dir(spec)?.join("config.json")
    };
    let text =
        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", file.display()))?;
    let vocab = json.get("model").unwrap_or(&json).get("vocab").cloned();
    vocab
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: names no Music Transformer vocabulary (grid, performance or remi)",
                file.display()
            )
        })
}
