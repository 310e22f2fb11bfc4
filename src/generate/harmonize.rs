//! Voice infilling for chorales: write the voices a chorale lacks under (or around) the ones it has,
//! with the voice filler seeing the given voices whole — past and future. The hidden voices are
//! filled one (step, voice) at a time in step order (at each step in S, A, T, B order), each drawn
//! from the model given every given note in its window and every note filled before it; the NLL of
//! real voices under the same order is exact (`fill_nll`). Training shows the model the same
//! pattern at a random frontier (`frontier_tokens`).

use candle_core::{DType, Tensor};

use super::sampler::{Sampler, SamplerConfig};
use crate::error::{Error, Result};
use crate::model::voice_filler::{class_of, pitch_of, VoiceFiller, HIDDEN, VOICES};
use crate::tokens::Chorale;

/// Voice names as `--keep` reads them.
pub const VOICE_WORDS: [&str; VOICES] = ["soprano", "alto", "tenor", "bass"];

/// Which voices are given (kept); the others are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept(pub [bool; VOICES]);

impl Kept {
    /// Only the soprano: harmonize a melody.
    pub const SOPRANO: Kept = Kept([true, false, false, false]);

    /// Parses `soprano,bass` (also `s,b` or `S B`); at least one voice and not all four.
    pub fn parse(text: &str) -> Result<Kept> {
        let mut kept = [false; VOICES];
        for word in text.split([',', ' ']).filter(|w| !w.is_empty()) {
            let w = word.to_ascii_lowercase();
            let v = VOICE_WORDS
                .iter()
                .position(|name| *name == w || name[..1] == w)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "'{word}' is not a voice (soprano, alto, tenor, bass)"
                    ))
                })?;
            kept[v] = true;
        }
        let kept = Kept(kept);
        kept.check()?;
        Ok(kept)
    }

    /// At least one voice kept and at least one filled.
    pub fn check(&self) -> Result<()> {
        match self.0.iter().filter(|&&k| k).count() {
            0 => Err(Error::Invalid("keep at least one voice".into())),
            VOICES => Err(Error::Invalid(
                "all four voices kept: there is nothing to fill".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The voices to fill, in order.
    pub fn filled(&self) -> Vec<usize> {
        (0..VOICES).filter(|&v| !self.0[v]).collect()
    }

    /// The kept voices' names, comma-separated.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = (0..VOICES)
            .filter(|&v| self.0[v])
            .map(|v| VOICE_WORDS[v])
            .collect();
        names.join(",")
    }
}

/// The first step and the length of the window of at most `width` steps around step `t` of a
/// chorale of `len` steps: half the window before `t` where there is room.
pub fn window(t: usize, len: usize, width: usize) -> (usize, usize) {
    let n = len.min(width);
    let start = t.saturating_sub(width / 2).min(len - n);
    (start, n)
}

/// The model's input for the window `[start, start + n)` of `steps`: kept voices as they are,
/// filled voices as they are before the frontier (step `t`, voice `v`) in fill order and `HIDDEN`
/// from it on.
pub fn frontier_tokens(
    steps: &[[i16; VOICES]],
    kept: Kept,
    start: usize,
    n: usize,
    frontier: (usize, usize),
) -> Vec<u32> {
    let mut out = Vec::with_capacity(n * VOICES);
    for (s, step) in steps[start..start + n].iter().enumerate() {
        for (v, &p) in step.iter().enumerate() {
            let known = kept.0[v] || (start + s, v) < frontier;
            out.push(if known { class_of(p) } else { HIDDEN });
        }
    }
    out
}

/// Log-probabilities `[rows][CLASSES]` of voice `voices[r]` at window step `at[r]` for each row
/// of the batch `tokens` (rows of `n` steps).
fn row_log_probs(
    model: &VoiceFiller,
    tokens: Vec<u32>,
    n: usize,
    at: &[(usize, usize)],
) -> Result<Vec<Vec<f32>>> {
    let rows = at.len();
    let dev = model.device();
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let x = Tensor::from_vec(tokens, (rows, n, VOICES), dev)?;
        let mask = Tensor::ones((rows, n), DType::F32, dev)?;
        let logits = model.forward(&x, &mask, false)?;
        let logp = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
        at.iter()
            .enumerate()
            .map(|(r, &(s, v))| logp.get(r)?.get(s)?.get(v)?.to_vec1::<f32>())
            .collect()
    };
    run().map_err(Error::tensor)
}

/// The (step, voice) pairs to fill, in order.
fn fill_order(len: usize, kept: Kept) -> Vec<(usize, usize)> {
    let voices = kept.filled();
    (0..len)
        .flat_map(|t| voices.iter().map(move |&v| (t, v)))
        .collect()
}

/// Total NLL (nats) of `chorale`'s filled voices given its kept voices, in fill order, and how many
/// (step, voice) values that scored; `batch` windows per forward pass.
pub fn fill_nll(
    model: &VoiceFiller,
    chorale: &Chorale,
    kept: Kept,
    batch: usize,
) -> Result<(f64, usize)> {
    let steps = &chorale.steps;
    if steps.is_empty() {
        return Ok((0.0, 0));
    }
    let order = fill_order(steps.len(), kept);
    let mut total = 0.0;
    for chunk in order.chunks(batch.max(1)) {
        let mut tokens = Vec::new();
        let mut at = Vec::with_capacity(chunk.len());
        let mut n = 0;
        for &(t, v) in chunk {
            let (start, len) = window(t, steps.len(), model.config().max_len);
            n = len;
            tokens.extend(frontier_tokens(steps, kept, start, len, (t, v)));
            at.push((t - start, v));
        }
        let logp = row_log_probs(model, tokens, n, &at)?;
        for (&(t, v), row) in chunk.iter().zip(&logp) {
            total -= f64::from(row[class_of(steps[t][v]) as usize]);
        }
    }
    Ok((total, order.len()))
}

/// `samples` chorales with the voices `kept` says are given copied from `given` and the others
/// drawn by the model (seeded by `sampler`). `on_step(done, total)` sees the progress and may stop
/// the work by returning an error.
pub fn fill(
    model: &VoiceFiller,
    given: &Chorale,
    kept: Kept,
    samples: usize,
    sampler: SamplerConfig,
    on_step: &mut dyn FnMut(usize, usize) -> Result<()>,
) -> Result<Vec<Chorale>> {
    kept.check()?;
    if given.steps.is_empty() {
        return Err(Error::Invalid("the given voices hold no steps".into()));
    }
    let mut sampler = Sampler::new(sampler)?;
    let mut outs = vec![given.clone(); samples];
    let order = fill_order(given.steps.len(), kept);
    for (i, &(t, v)) in order.iter().enumerate() {
        on_step(i, order.len())?;
        let (start, n) = window(t, given.steps.len(), model.config().max_len);
        let mut tokens = Vec::with_capacity(samples * n * VOICES);
        for out in &outs {
            tokens.extend(frontier_tokens(&out.steps, kept, start, n, (t, v)));
        }
        let logp = row_log_probs(model, tokens, n, &vec![(t - start, v); samples])?;
        for (out, row) in outs.iter_mut().zip(&logp) {
            out.steps[t][v] = pitch_of(sampler.sample(row, None));
        }
    }
    on_step(order.len(), order.len())?;
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};

    fn tiny_model() -> VoiceFiller {
        let cfg = crate::model::voice_filler::VoiceFillerConfig {
            architecture: "voice-filler".into(),
            d_model: 16,
            n_heads: 2,
            d_ff: 32,
            layers: 1,
            max_len: 8,
            dropout: 0.0,
        };
        let varmap = VarMap::new();
        VoiceFiller::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )
        .unwrap()
    }

    fn chorale(len: usize) -> Chorale {
        Chorale {
            steps: (0..len)
                .map(|i| {
                    let i = i as i16;
                    [72 + i % 3, 64 + i % 2, 57 - i % 4, 48 + i % 5]
                })
                .collect(),
        }
    }

    #[test]
    fn keep_parses_names_and_refuses_none_or_all() {
        assert_eq!(Kept::parse("soprano").unwrap(), Kept::SOPRANO);
        assert_eq!(
            Kept::parse("S,b").unwrap(),
            Kept([true, false, false, true])
        );
        assert_eq!(Kept::parse("soprano,bass").unwrap().filled(), vec![1, 2]);
        assert!(Kept::parse("").is_err());
        assert!(Kept::parse("s,a,t,b").is_err());
        assert!(Kept::parse("piano").is_err());
    }

    #[test]
    fn windows_stay_inside_and_centre_the_step() {
        assert_eq!(window(0, 5, 8), (0, 5));
        assert_eq!(window(10, 100, 8), (6, 8));
        assert_eq!(window(99, 100, 8), (92, 8));
        for t in 0..100 {
            let (s, n) = window(t, 100, 8);
            assert!(s <= t && t < s + n && s + n <= 100);
        }
    }

    /// Kept voices are always visible; filled voices only before the frontier in step-major order.
    #[test]
    fn the_frontier_hides_exactly_what_comes_later() {
        let c = chorale(3);
        let kept = Kept([true, false, false, true]);
        let tokens = frontier_tokens(&c.steps, kept, 0, 3, (1, 2));
        let hidden: Vec<usize> = (0..12).filter(|&i| tokens[i] == HIDDEN).collect();
        // step 1 tenor (6), step 2 alto and tenor (9, 10)
        assert_eq!(hidden, vec![6, 9, 10]);
        assert_eq!(tokens[0], 72);
        assert_eq!(tokens[5], 65);
    }

    /// The batched NLL equals scoring each (step, voice) with its own forward pass, and the sum of
    /// its terms is a proper NLL: each term is a normalised distribution's log-probability.
    #[test]
    fn batched_nll_equals_one_value_at_a_time() {
        let m = tiny_model();
        let c = chorale(11);
        let (batched, n) = fill_nll(&m, &c, Kept::SOPRANO, 7).unwrap();
        let (single, n1) = fill_nll(&m, &c, Kept::SOPRANO, 1).unwrap();
        assert_eq!((n, n1), (33, 33));
        assert!((batched - single).abs() < 1e-3, "{batched} vs {single}");
        assert!(batched > 0.0);
    }

    /// Filling keeps the given voices exactly, fills every other value, and the same seed gives
    /// the same chorales.
    #[test]
    fn fill_keeps_the_given_voices_and_is_seeded() {
        let m = tiny_model();
        let mut given = chorale(10);
        for s in &mut given.steps {
            s[1] = -1;
            s[2] = -1;
        }
        let kept = Kept([true, false, false, true]);
        let cfg = SamplerConfig {
            seed: 5,
            ..SamplerConfig::default()
        };
        let a = fill(&m, &given, kept, 2, cfg, &mut |_, _| Ok(())).unwrap();
        let b = fill(&m, &given, kept, 2, cfg, &mut |_, _| Ok(())).unwrap();
        assert_eq!(a, b);
        for out in &a {
            for (o, g) in out.steps.iter().zip(&given.steps) {
                assert_eq!((o[0], o[3]), (g[0], g[3]));
            }
        }
        let mut calls = 0;
        let stopped = fill(&m, &given, kept, 1, cfg, &mut |i, _| {
            calls += 1;
            if i == 3 {
                Err(Error::Cancelled)
            } else {
                Ok(())
            }
        });
        assert!(matches!(stopped, Err(Error::Cancelled)));
        assert_eq!(calls, 4);
    }
}
