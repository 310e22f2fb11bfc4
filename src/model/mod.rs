//! Neural models (candle): the relative-attention Music Transformer.

pub mod chord_tagger;
pub mod config;
pub mod dropout;
pub mod fused;
pub mod gla;
pub mod music_transformer;
pub mod norm;
pub mod optim;
pub mod place;
pub mod relative_attention;
pub mod theme_transformer;
pub mod voice_filler;
pub mod weights;

pub use config::{TransformerConfig, VocabKind};
pub use music_transformer::{Cache, MusicTransformer};
pub use place::resolve_model_dir;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    fn tiny(max_len: usize) -> (VarMap, MusicTransformer) {
        let cfg = TransformerConfig {
            vocab: VocabKind::Grid,
            vocab_size: VocabKind::Grid.size(),
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            max_len,
            dropout: 0.1,
            beat_embedding: false,
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = MusicTransformer::new(&cfg, vb).unwrap();
        (vm, m)
    }

    fn ids(b: usize, l: usize) -> Tensor {
        let data: Vec<u32> = (0..b * l).map(|i| ((i * 37 + 11) % 132) as u32).collect();
        Tensor::from_vec(data, (b, l), &Device::Cpu).unwrap()
    }

    use crate::test_util::max_diff;

    #[test]
    fn cached_decoding_equals_full_forward_at_every_position() {
        let (_vm, m) = tiny(32);
        let x = ids(2, 20);
        let full = m.forward(&x, None, false).unwrap();
        // Prefill 7 positions, then one at a time.
        let mut cache = Cache::default();
        let pre = m
            .forward_cached(&x.narrow(1, 0, 7).unwrap(), &mut cache)
            .unwrap();
        assert!(max_diff(&pre, &full.narrow(1, 0, 7).unwrap()) < 1e-4);
        for t in 7..20 {
            let step = m
                .forward_cached(&x.narrow(1, t, 1).unwrap(), &mut cache)
                .unwrap();
            let d = max_diff(&step, &full.narrow(1, t, 1).unwrap());
            assert!(d < 1e-4, "position {t}: {d}");
        }
        assert_eq!(cache.len(), 20);
    }

    #[test]
    fn the_window_slides_past_max_len() {
        let (_vm, m) = tiny(8);
        let x = ids(1, 40);
        let mut cache = Cache::default();
        for t in 0..40 {
            let out = m
                .forward_cached(&x.narrow(1, t, 1).unwrap(), &mut cache)
                .unwrap();
            assert_eq!(out.dims(), [1, 1, 132]);
            assert!(cache.len() <= 8);
        }
        // Within the first window the cached logits equal the full forward.
        let full = m.forward(&x.narrow(1, 0, 8).unwrap(), None, false).unwrap();
        let mut cache = Cache::default();
        let all = m
            .forward_cached(&x.narrow(1, 0, 8).unwrap(), &mut cache)
            .unwrap();
        assert!(max_diff(&all, &full) < 1e-4);
    }

    #[test]
    fn every_parameter_gets_a_gradient_and_train_mode_matches_inference() {
        let cfg = TransformerConfig {
            dropout: 0.0,
            ..tiny(16).1.config().clone()
        };
        let vm = VarMap::new();
        let m = MusicTransformer::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu))
            .unwrap();
        let x = ids(2, 12);
        let train = m.forward(&x, None, true).unwrap();
        let infer = m.forward(&x, None, false).unwrap();
        assert!(max_diff(&train, &infer) < 1e-4);
        let grads = train.sqr().unwrap().mean_all().unwrap().backward().unwrap();
        let data = vm.data().lock().unwrap();
        for (name, var) in data.iter() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "zero gradient for {name}");
        }
        assert_eq!(data.len(), 5 + 2 * 13);
    }

    /// A model of `cfg` with fresh random weights, and its variables.
    fn fresh(cfg: &TransformerConfig) -> (VarMap, MusicTransformer) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = MusicTransformer::new(cfg, vb).unwrap();
        (vm, m)
    }

    /// A tiny beat-aware model with a beat embedding, its table set to random values.
    fn tiny_beat() -> MusicTransformer {
        let cfg = TransformerConfig {
            vocab: VocabKind::Remi,
            vocab_size: VocabKind::Remi.size(),
            beat_embedding: true,
            ..tiny(32).1.config().clone()
        };
        let (vm, m) = fresh(&cfg);
        let data = vm.data().lock().unwrap();
        let table = &data["beat_embed.weight"];
        table
            .set(&Tensor::randn(0f32, 1.0, table.shape(), &Device::Cpu).unwrap())
            .unwrap();
        drop(data);
        m
    }

    /// Bars, positions and notes of the beat-aware vocabulary, two rows.
    fn remi_ids() -> Tensor {
        use crate::tokens::remi::{Part, BAR, POSITION};
        let note = |p: u8, d: u32| {
            [
                Part::Piano.velocity(20),
                Part::Piano.note_on(p),
                Part::Piano.duration(d),
            ]
        };
        let mut row = vec![BAR, POSITION];
        row.extend(note(60, 4));
        row.push(POSITION + 4);
        row.extend(note(64, 2));
        row.extend(note(67, 2));
        row.extend([POSITION + 12, BAR, POSITION + 2]);
        row.extend(note(62, 8));
        let mut other = row.clone();
        other.rotate_left(5);
        let l = row.len();
        Tensor::from_vec([row, other].concat(), (2, l), &Device::Cpu).unwrap()
    }

    #[test]
    fn beat_embedding_decodes_the_same_cached_and_depends_on_the_position() {
        let m = tiny_beat();
        let x = remi_ids();
        let l = x.dim(1).unwrap();
        let full = m.forward(&x, None, false).unwrap();
        let mut cache = Cache::default();
        let pre = m
            .forward_cached(&x.narrow(1, 0, 5).unwrap(), &mut cache)
            .unwrap();
        assert!(max_diff(&pre, &full.narrow(1, 0, 5).unwrap()) < 1e-4);
        for t in 5..l {
            let step = m
                .forward_cached(&x.narrow(1, t, 1).unwrap(), &mut cache)
                .unwrap();
            let d = max_diff(&step, &full.narrow(1, t, 1).unwrap());
            assert!(d < 1e-4, "position {t}: {d}");
        }
        // The same tokens after a different Position give different logits.
        use crate::tokens::remi::{Part, BAR, POSITION};
        let a = [BAR, POSITION, Part::Piano.velocity(20)];
        let b = [BAR, POSITION + 8, Part::Piano.velocity(20)];
        let run = |ids: &[u32]| {
            let t = Tensor::from_vec(ids.to_vec(), (1, 3), &Device::Cpu).unwrap();
            m.forward(&t, None, false).unwrap().narrow(1, 2, 1).unwrap()
        };
        assert!(max_diff(&run(&a), &run(&b)) > 1e-3);
    }

    #[test]
    fn a_zero_beat_embedding_computes_the_model_without_it() {
        let base = tiny(32).1.config().clone();
        let plain_cfg = TransformerConfig {
            vocab: VocabKind::Remi,
            vocab_size: VocabKind::Remi.size(),
            ..base
        };
        let (vm, plain) = fresh(&plain_cfg);
        let beat_cfg = TransformerConfig {
            beat_embedding: true,
            ..plain_cfg
        };
        let (vm2, beat) = fresh(&beat_cfg);
        let theirs = vm.data().lock().unwrap();
        for (name, var) in vm2.data().lock().unwrap().iter() {
            match theirs.get(name) {
                Some(t) => var.set(t.as_tensor()).unwrap(),
                None => var.set(&var.zeros_like().unwrap()).unwrap(),
            }
        }
        drop(theirs);
        let x = remi_ids();
        let d = max_diff(
            &plain.forward(&x, None, false).unwrap(),
            &beat.forward(&x, None, false).unwrap(),
        );
        assert!(d < 1e-6, "{d}");
        assert!(TransformerConfig {
            vocab: VocabKind::Grid,
            vocab_size: VocabKind::Grid.size(),
            ..beat_cfg
        }
        .validate()
        .is_err());
    }

    #[test]
    fn dropout_only_in_training() {
        let (_vm, m) = tiny(16);
        let x = ids(1, 10);
        let a = m.forward(&x, None, false).unwrap();
        let b = m.forward(&x, None, false).unwrap();
        assert_eq!(max_diff(&a, &b), 0.0);
        let c = m.forward(&x, None, true).unwrap();
        assert!(max_diff(&a, &c) > 0.0);
    }
}
