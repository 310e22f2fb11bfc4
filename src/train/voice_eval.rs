//! Measuring chorale voice writing on JSB: the NLL of the voices not given (alto, tenor, bass
//! given the soprano) for the voice filler, which sees the soprano whole, and for the grid Music
//! Transformer, which sees it only up to the current step; and the part writing of the filler's
//! takes, of Bach's own voices and of the rule-based baseline under the same sopranos.

use std::path::Path;

use crate::error::{Error, Result};
use crate::generate::harmonize::{fill, fill_nll, Kept};
use crate::generate::rule_harmony;
use crate::generate::SamplerConfig;
use crate::metrics::voice_leading::{measure, VoiceLeading};
use crate::model::voice_filler::VoiceFiller;
use crate::model::{MusicTransformer, VocabKind};
use crate::tokens::grid::JsbData;
use crate::tokens::Chorale;

/// Windows per forward pass when scoring.
const BATCH: usize = 64;

/// The chorales of `split` (the first `pieces` when given).
pub fn chorales(data: &Path, split: &str, pieces: Option<usize>) -> Result<Vec<Chorale>> {
    let all = JsbData::load(data)?;
    let mut c = all.split(split)?.to_vec();
    c.truncate(pieces.unwrap_or(usize::MAX));
    Ok(c)
}

/// Mean NLL (nats per voice and 16th) of the voices `kept` does not name, given the kept ones, and
/// how many values that scored.
pub fn filler_nll(model: &VoiceFiller, chorales: &[Chorale], kept: Kept) -> Result<(f64, usize)> {
    let (mut total, mut n) = (0.0, 0);
    for c in chorales {
        let (t, k) = fill_nll(model, c, kept, BATCH)?;
        total += t;
        n += k;
    }
    Ok((total / n.max(1) as f64, n))
}

/// Mean NLL (nats per token) of the alto, tenor and bass tokens of `chorales` under a grid Music
/// Transformer (each token given everything before it: the soprano up to its step), and how many.
pub fn grid_voice_nll(model: &MusicTransformer, chorales: &[Chorale]) -> Result<(f64, usize)> {
    if model.config().vocab != VocabKind::Grid {
        return Err(Error::Invalid(
            "--harmonize scores chorale models (grid vocabulary or a voice filler)".into(),
        ));
    }
    let vocab = crate::tokens::GridVocab::default();
    let seqs = chorales
        .iter()
        .map(|c| {
            let mut s = vec![crate::tokens::BOS];
            s.extend(vocab.encode_chorale(c));
            s
        })
        .collect();
    let data = super::dataset::Sequences {
        seqs,
        ..Default::default()
    };
    // Windows start on multiples of max_len / 2; target j of a window is voice j mod 4 when that
    // is a whole number of steps.
    let stride = (model.config().max_len / 2).max(1);
    if !stride.is_multiple_of(crate::tokens::grid::VOICES) {
        return Err(Error::Invalid(format!(
            "the model's context ({}) does not split into whole steps",
            model.config().max_len
        )));
    }
    super::evaluate_where(model, &data, 8192, &|j| j % 4 != 0).map_err(Error::tensor)
}

/// Part writing under the same sopranos: the filler's takes, Bach's voices and the rules', each
/// measured against Bach's harmony and against its own (the chords its four voices make).
#[derive(Debug, Clone, Copy, Default)]
pub struct PartWriting {
    /// The voice filler's takes (one per chorale).
    pub reprise: VoiceLeading,
    /// Bach's alto, tenor and bass.
    pub bach: VoiceLeading,
    /// The rule-based baseline's.
    pub rules: VoiceLeading,
    /// The same three against their own harmony (chord tones only).
    pub own: [VoiceLeading; 3],
}

/// Harmonizes each chorale's soprano with `model` (drawn by `sampler`, its seed plus `i` for
/// chorale `i`) and with the rules, and measures the three against Bach's harmony (alto, tenor and bass for chord tones and
/// ranges, all voices for parallels and crossing).
pub fn part_writing(
    model: &VoiceFiller,
    chorales: &[Chorale],
    sampler: SamplerConfig,
    on_chorale: &mut dyn FnMut(usize),
) -> Result<PartWriting> {
    let mut out = PartWriting::default();
    let atb = [1, 2, 3];
    for (i, c) in chorales.iter().enumerate() {
        on_chorale(i);
        if c.steps.iter().all(|s| s[0] < 0) {
            continue;
        }
        let mut given = c.clone();
        for s in &mut given.steps {
            s[1..].fill(-1);
        }
        let sampler = SamplerConfig {
            seed: sampler.seed + i as u64,
            ..sampler
        };
        let take = fill(model, &given, Kept::SOPRANO, 1, sampler, &mut |_, _| Ok(()))?;
        let rules = rule_harmony::harmonize(&given)?;
        for (k, steps) in [&take[0].steps, &c.steps, &rules.steps]
            .into_iter()
            .enumerate()
        {
            let against_bach = measure(steps, &c.steps, &atb);
            [&mut out.reprise, &mut out.bach, &mut out.rules][k].add(&against_bach);
            out.own[k].add(&measure(steps, steps, &atb));
        }
    }
    Ok(out)
}

/// The table of `p` in Markdown.
pub fn part_writing_table(p: &PartWriting) -> String {
    let mut s = String::from(
        "| | chord tones of Bach's harmony (A/T/B) | chord tones of its own harmony | parallel 5ths/8ves per 100 steps | steps with crossed voices | A/T/B notes out of range |\n|---|---|---|---|---|---|\n",
    );
    let rows = [
        ("Reprise (jsb-voices)", &p.reprise, &p.own[0]),
        ("Bach", &p.bach, &p.own[1]),
        ("rule-based baseline", &p.rules, &p.own[2]),
    ];
    for (name, m, own) in rows {
        s.push_str(&format!(
            "| {name} | {:.1} % | {:.1} % | {:.2} | {:.1} % | {:.1} % |\n",
            100.0 * m.chord_tone_share(),
            100.0 * own.chord_tone_share(),
            m.parallels_per_100(),
            100.0 * m.crossing_share(),
            100.0 * m.out_of_range_share()
        ));
    }
    s
}
